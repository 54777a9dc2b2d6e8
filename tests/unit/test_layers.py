"""The import graph of the stress package: every module imports, the graph
of imports inside the package has no cycle, and no module imports one of a
higher layer.

The graph is read from the source (ast), every import counted, those inside
functions too, except the ones under ``if TYPE_CHECKING:`` (annotations
only).  ``from pkg import name`` is an edge to ``pkg.name`` when that is a
module, else to ``pkg``.
"""
import ast
import importlib
import pkgutil
import tomllib
from pathlib import Path

import pytest

import stress

ROOT = Path(stress.__file__).resolve().parents[1]

#: lowest first; a module belongs to the longest name it starts with
LAYERS = [
    "stress",               # the package itself: the version and the lazy API
    "stress.config",        # Config, presets and every rule on them
    "stress.coverage",      # race-window coverage and the clean verdict's Poisson bound
    "stress.words",         # violations and flight-recorder events in words
    "stress.runfolder",     # the only code that knows a run folder's files
    "stress.perfcounters",
    "stress.engine",        # run(config) -> Result
    "stress.mutants",       # the table and the detection matrix
    "stress.reference",     # the plain-Python specification
    "stress.report",
    "stress.bench",
    "stress.cli",           # the command line (and python -m stress)
    "stress.__main__",
    "stress.plugin",        # the pytest plugin
    "stress.hunt",          # the race hunt the plugin runs
]


def modules() -> dict[str, Path]:
    """Every module of the package: name -> file."""
    out = {"stress": Path(stress.__file__)}
    for info in pkgutil.walk_packages(stress.__path__, "stress."):
        spec = importlib.util.find_spec(info.name)
        out[info.name] = Path(spec.origin)
    return out


def layer(name: str) -> int:
    best = max((i for i, prefix in enumerate(LAYERS) if name == prefix or name.startswith(prefix + ".")),
               key=lambda i: len(LAYERS[i]), default=None)
    if best is None:
        raise AssertionError(f"{name} is in no layer: add it to LAYERS")
    return best


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING"))


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of the package that `name` (at `path`) imports."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                found.add(sub if sub in known else mod)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def upward_edges(g: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, deps in g.items() for b in deps if layer(b) > layer(a))


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One cycle of g as a path that ends where it starts, or None."""
    state: dict[str, int] = {}          # 1: on the current path, 2: done
    path: list[str] = []

    def dfs(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state:
                cycle = dfs(m)
                if cycle:
                    return cycle
        path.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state:
            cycle = dfs(n)
            if cycle:
                return cycle
    return None


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_imports(name):
    importlib.import_module(name)


def test_every_module_has_a_layer():
    for name in modules():
        layer(name)


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle)


def test_nothing_lower_imports_anything_higher():
    assert upward_edges(graph()) == []


def test_the_checks_catch_what_they_are_for():
    g = {"stress.mutants": {"stress.cli"}, "stress.cli": {"stress.bench"}, "stress.bench": {"stress.cli"}}
    assert upward_edges(g) == ["stress.bench -> stress.cli", "stress.mutants -> stress.cli"]
    assert find_cycle(g) == ["stress.bench", "stress.cli", "stress.bench"]
    assert find_cycle({"stress.cli": {"stress.config"}, "stress.config": set()}) is None


def test_pyproject_lists_every_package():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {name for name, path in modules().items() if path.name == "__init__.py"}
    assert packages <= listed, sorted(packages - listed)
