"""The benchmark registry: name -> callable(quick) -> {metric: value}."""
from __future__ import annotations

from typing import Callable


BenchFn = Callable[[bool], dict[str, float]]

#: name -> callable(quick) -> {metric: value}
BENCHMARKS: dict[str, BenchFn] = {}

#: why a benchmark was skipped during the last run() (name -> reason)
SKIPPED: dict[str, str] = {}


class BenchSkipped(Exception):
    """Raised by a benchmark that cannot run here (missing tool or library)."""


def benchmark(name: str) -> Callable[[BenchFn], BenchFn]:
    """Register ``fn`` under ``name`` in BENCHMARKS."""

    def deco(fn: BenchFn) -> BenchFn:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} registered twice")
        BENCHMARKS[name] = fn
        return fn

    return deco



#: the ``only`` list of the run in progress (None: all), set by driver.run
ONLY: list[str] | None = None

#: results of the benchmarks already run in this invocation (set by driver.run)
CURRENT: dict = {}


def native_core():
    from stresscore import _core  # deferred: the CLI parses args without the extension

    return _core


def median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])
