"""The layout of the native core: _core.pyx includes its rooms lowest
first, no room uses a name defined in a room included after it (the
forward declarations in _core.pxd excepted), every extern is in a .pxd,
and no source file is much over 800 lines."""
import re
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "stresscore"
MAX_LINES = 820

DEF = re.compile(r"^(?:cdef|cpdef|def)\s+(?:class\s+|struct\s+|inline\s+|enum\s+)?"
                 r"(?:[A-Za-z_][\w ]*?[\s*]+)?\**(\w+)\s*(?:\(|=|\[|:|$)", re.M)
ENUM_ITEM = re.compile(r"^    ([A-Z][A-Z0-9_]+)\b", re.M)
PY_GLOBAL = re.compile(r"^([A-Za-z_]\w*)\s*=", re.M)


def _includes():
    text = (CORE / "_core.pyx").read_text()
    return re.findall(r'^include "([\w.]+)"', text, re.M)


def _code(text):
    """Text without docstrings, comments and string literals (roughly:
    enough for names)."""
    text = re.sub(r'"""[\s\S]*?"""', "", text)
    text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    return re.sub(r'"[^"\n]*"', '""', text)


def _uses(text):
    """Code that can use names: without struct field declarations."""
    return re.sub(r"^cdef struct \w+:\n(?:    .*\n|\n)+", "", _code(text) + "\n", flags=re.M)


def _defined(text):
    code = _code(text)
    names = set(DEF.findall(code)) | set(PY_GLOBAL.findall(code))
    for block in re.findall(r"^cdef enum:\n((?:    .*\n|\n)+)", code + "\n", re.M):
        names |= set(ENUM_ITEM.findall(block))
    return names


def test_every_room_is_included_in_order():
    rooms = _includes()
    assert rooms == ["diag.pxi", "smp.pxi", "quarantine.pxi", "workqueue.pxi", "memcontrol.pxi",
                     "memcontrol_charge.pxi", "slab_common.pxi", "page_pool.pxi", "slub.pxi", "sysfs.pxi", "stw.pxi", "checkers.pxi", "worker.pxi",
                     "hotplug.pxi", "controller.pxi", "run.pxi", "model_api.pxi", "wrappers.pxi",
                     "harness.pxi", "harness_queues.pxi", "benchmarks.pxi"]
    assert sorted(rooms) == sorted(p.name for p in CORE.glob("*.pxi"))
    header = (CORE / "_core.pyx").read_text().split('"""')[1]
    listed = [w for w in re.findall(r"^    (\w+)\s", header, re.M)]
    assert [r[:-4] for r in rooms] == listed


def test_no_room_uses_a_later_room():
    forward = _defined((CORE / "_core.pxd").read_text())
    rooms = _includes()
    defined = {r: _defined((CORE / r).read_text()) - forward for r in rooms}
    bad = []
    for i, room in enumerate(rooms):
        code = _uses((CORE / room).read_text())
        for later in rooms[i + 1:]:
            for name in defined[later] - defined[room]:
                if re.search(r"(?<![\w.])" + re.escape(name) + r"\b", code):
                    bad.append(f"{room} uses {name} of {later}")
    assert not bad, "\n".join(bad)


def test_every_extern_is_in_a_pxd():
    for p in list(CORE.glob("*.pxi")) + [CORE / "_core.pyx"]:
        assert "cdef extern" not in p.read_text(), p.name


def test_no_source_file_is_too_long():
    for p in CORE.iterdir():
        if p.suffix in (".pxi", ".pyx", ".pxd", ".c", ".h") and p.name != "_core.c":  # generated
            n = len(p.read_text().splitlines())
            assert n <= MAX_LINES, f"{p.name}: {n} lines"
