"""bench counters_overhead's build of the no-counters variant where Cython
is not importable (a venv after `pip install -e .`): a pip wheel with build
isolation, the core taken out of it; a failure says how to get the figure.
(The whole path, pip reaching its index, was run by hand in such a venv:
`memcg-stress bench --only counters_overhead --quick`.)"""
import subprocess
import zipfile

import pytest

from stress.bench import engine
from stress.bench.registry import BenchSkipped


class FakePopen:
    def __init__(self, cmd, **kw):
        self.cmd, self.env = cmd, kw["env"]


def test_without_cython_the_build_is_a_pip_wheel(monkeypatch, tmp_path):
    monkeypatch.setattr(engine, "_cython_importable", lambda: False)
    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    p, wheels = engine._build(str(tmp_path), no_counters=True)
    assert p.cmd[1:4] == ["-m", "pip", "wheel"] and "--no-deps" in p.cmd and p.cmd[-1] == str(tmp_path)
    assert wheels == str(tmp_path / ".wheel") and p.env["MEMCG_STRESS_NO_COUNTERS"] == "1"
    monkeypatch.setattr(engine, "_cython_importable", lambda: True)
    p, wheels = engine._build(str(tmp_path), no_counters=False)
    assert p.cmd[1:] == ["setup.py", "-q", "build_ext", "--inplace"] and wheels is None
    assert "MEMCG_STRESS_NO_COUNTERS" not in p.env


def test_the_core_comes_out_of_the_wheel(tmp_path):
    wheels = tmp_path / ".wheel"
    wheels.mkdir()
    (tmp_path / "stresscore").mkdir()
    with zipfile.ZipFile(wheels / "memcg_stress-0.1.0-cp311-cp311-linux_x86_64.whl", "w") as z:
        z.writestr("stresscore/_core.cpython-311-x86_64-linux-gnu.so", b"\x7fELF core")
        z.writestr("stress/__init__.py", "")
    engine._unpack_wheel(str(wheels), str(tmp_path))
    assert (tmp_path / "stresscore" / "_core.cpython-311-x86_64-linux-gnu.so").read_bytes() == b"\x7fELF core"
    assert not (tmp_path / "stress").exists()


def test_no_wheel_says_how_to_get_the_figure(tmp_path):
    (tmp_path / ".wheel").mkdir()
    with pytest.raises(BenchSkipped) as e:
        engine._unpack_wheel(str(tmp_path / ".wheel"), str(tmp_path))
    assert "\n" not in str(e.value) and "pip install 'Cython>=3.0'" in str(e.value)
