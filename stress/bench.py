"""memcg-stress benchmarks: ``memcg-stress bench [--quick] [--json PATH] [--only NAME...]``.

A registry, so that later benchmarks only add a key::

    @benchmark("my_bench")
    def _my_bench(quick: bool) -> dict[str, float]: ...

Each benchmark returns flat ``metric -> value`` pairs; numbers are medians of
repeated runs.  ``run()`` collects them with machine information; ``main()``
prints a table (rich, or plain text) and optionally writes JSON.

If liburcu's headers are installed (Debian: liburcu-dev), the ``liburcu``
benchmark compiles a small C program at bench time (urcu-memb, the same
design as ours) and reports its read-side pair and synchronize_rcu() latency
beside ours; otherwise it is skipped with a one-line message.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
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


def _core():
    from stresscore import _core  # deferred: the CLI parses args without the extension

    return _core


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


# ---------------------------------------------------------------------------
# our primitives
# ---------------------------------------------------------------------------


@benchmark("rcu_read_pair_ns")
def _rcu_read_pair(quick: bool) -> dict[str, float]:
    c = _core()
    iters, reps = (2_000_000, 3) if quick else (20_000_000, 7)
    return {"rcu_read_pair_ns": c.rcu_read_pair_ns(iters, reps)}


@benchmark("synchronize_rcu_us")
def _synchronize_rcu(quick: bool) -> dict[str, float]:
    c = _core()
    iters, reps = (300, 3) if quick else (2000, 5)
    runs = [c.synchronize_rcu_stats(iters) for _ in range(reps)]
    return {
        "synchronize_rcu_us": _median([r["median_us"] for r in runs]),
        "synchronize_rcu_p99_us": _median([r["p99_us"] for r in runs]),
    }


@benchmark("call_rcu_per_s")
def _call_rcu(quick: bool) -> dict[str, float]:
    c = _core()
    n, reps = (50_000, 3) if quick else (500_000, 5)
    return {"call_rcu_per_s": _median([c.call_rcu_throughput(n) for _ in range(reps)])}


@benchmark("percpu_counter_add_ns")
def _percpu_counter_add(quick: bool) -> dict[str, float]:
    c = _core()
    iters, reps = (2_000_000, 3) if quick else (20_000_000, 5)
    return {"percpu_counter_add_ns": _median([c.percpu_counter_add_ns(iters) for _ in range(reps)])}


benchmark("model_vs_reference")(lambda quick: __import__("stress.bench_model", fromlist=["bench_reference"]).bench_reference(quick))

# ---------------------------------------------------------------------------
# liburcu side by side (optional)
# ---------------------------------------------------------------------------

_LIBURCU_PROGRAM = r"""
#define _LGPL_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <urcu/urcu-memb.h>

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(double), cmp);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static volatile int stop, started;

static void *reader(void *arg)
{
	int k;
	(void)arg;
	urcu_memb_register_thread();
	__atomic_store_n(&started, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		urcu_memb_read_lock();
		for (k = 0; k < 10; k++)
			caa_cpu_relax();
		urcu_memb_read_unlock();
	}
	urcu_memb_unregister_thread();
	return NULL;
}

int main(int argc, char **argv)
{
	long iters = atol(argv[1]), sync_iters = atol(argv[2]), i;
	int reps = atoi(argv[3]), r;
	double *pair = calloc(reps, sizeof(double)), *sync = calloc(reps, sizeof(double));
	double *lat = calloc(sync_iters, sizeof(double));
	pthread_t t;

	urcu_memb_register_thread();
	for (r = 0; r < reps; r++) {
		unsigned long long t0 = now_ns();
		for (i = 0; i < iters; i++) {
			urcu_memb_read_lock();
			urcu_memb_read_unlock();
		}
		pair[r] = (double)(now_ns() - t0) / iters;
	}
	urcu_memb_unregister_thread();
	for (r = 0; r < reps; r++) {
		stop = 0;
		started = 0;
		pthread_create(&t, NULL, reader, NULL);
		while (!__atomic_load_n(&started, __ATOMIC_ACQUIRE))
			sched_yield();
		for (i = 0; i < sync_iters; i++) {
			unsigned long long t0 = now_ns();
			urcu_memb_synchronize_rcu();
			lat[i] = (now_ns() - t0) / 1000.0;
		}
		__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
		pthread_join(t, NULL);
		sync[r] = median(lat, sync_iters);
	}
	printf("read_pair_ns %.4f\nsynchronize_us %.4f\n", median(pair, reps), median(sync, reps));
	return 0;
}
"""


def _find_liburcu_header() -> str | None:
    for cand in ("/usr/include/urcu.h", "/usr/local/include/urcu.h"):
        if os.path.exists(cand):
            return cand
    try:
        multiarch = subprocess.run(
            ["gcc", "-print-multiarch"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        multiarch = ""
    if multiarch and os.path.exists(f"/usr/include/{multiarch}/urcu.h"):
        return f"/usr/include/{multiarch}/urcu.h"
    return None


@benchmark("liburcu")
def _liburcu(quick: bool) -> dict[str, float]:
    if _find_liburcu_header() is None:
        raise BenchSkipped("liburcu headers not found (install liburcu-dev to compare)")
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise BenchSkipped("no C compiler to build the liburcu comparison")
    iters, sync_iters, reps = (2_000_000, 300, 3) if quick else (20_000_000, 2000, 5)
    with tempfile.TemporaryDirectory(prefix="memcg-stress-liburcu-") as tmp:
        src = os.path.join(tmp, "urcu_bench.c")
        exe = os.path.join(tmp, "urcu_bench")
        with open(src, "w") as f:
            f.write(_LIBURCU_PROGRAM)
        build = subprocess.run(
            [cc, "-O2", "-o", exe, src, "-lurcu-memb", "-lurcu-common", "-lpthread"],
            capture_output=True, text=True,
        )
        if build.returncode != 0:
            raise BenchSkipped("liburcu comparison did not build: " + build.stderr.strip().splitlines()[-1:][0]
                               if build.stderr.strip() else "liburcu comparison did not build")
        out = subprocess.run([exe, str(iters), str(sync_iters), str(reps)],
                             capture_output=True, text=True, timeout=300, check=True).stdout
    vals = dict(line.split() for line in out.strip().splitlines())
    return {
        "liburcu_read_pair_ns": float(vals["read_pair_ns"]),
        "liburcu_synchronize_us": float(vals["synchronize_us"]),
    }


# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------


def machine_info() -> dict:
    info = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["rcu_membarrier"] = _core().rcu_membarrier()
    except ImportError:
        pass
    return info


def run(quick: bool = False, only: list[str] | None = None) -> dict:
    """Run the selected benchmarks (all when ``only`` is None).

    Returns ``{"machine": {...}, "quick": bool, "skipped": {name: reason},
    <metric>: value, ...}`` with ratios ours/liburcu when both are present.
    Unknown names raise ValueError listing the valid ones."""
    names = list(BENCHMARKS) if not only else list(only)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; valid: {', '.join(BENCHMARKS)}")
    SKIPPED.clear()
    result: dict = {"machine": machine_info(), "quick": bool(quick)}
    for name in names:
        try:
            result.update(BENCHMARKS[name](quick))
        except BenchSkipped as e:
            SKIPPED[name] = str(e)
    if "rcu_read_pair_ns" in result and "liburcu_read_pair_ns" in result:
        result["read_pair_ratio_vs_liburcu"] = result["rcu_read_pair_ns"] / result["liburcu_read_pair_ns"]
    if "synchronize_rcu_us" in result and "liburcu_synchronize_us" in result:
        result["synchronize_ratio_vs_liburcu"] = result["synchronize_rcu_us"] / result["liburcu_synchronize_us"]
    result["skipped"] = dict(SKIPPED)
    return result


def _metrics(result: dict) -> list[tuple[str, float]]:
    return [(k, v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]


def print_table(result: dict, file=None) -> None:
    file = file or sys.stdout
    rows = [(k, f"{v:.4g}") for k, v in _metrics(result)]
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="memcg-stress bench" + (" (quick)" if result.get("quick") else ""))
        table.add_column("metric")
        table.add_column("value", justify="right")
        for k, v in rows:
            table.add_row(k, v)
        Console(file=file).print(table)
    except ImportError:
        width = max((len(k) for k, _ in rows), default=10)
        for k, v in rows:
            print(f"{k:<{width}}  {v:>12}", file=file)
    for name, reason in result.get("skipped", {}).items():
        print(f"skipped {name}: {reason}", file=file)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("bench")
    g.add_argument("--quick", action="store_true", help="fewer iterations (seconds instead of a minute)")
    g.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    g.add_argument("--only", metavar="NAME", nargs="+", action="extend",
                   help=f"run only these benchmarks ({', '.join(BENCHMARKS)})")


def run_cli(args: argparse.Namespace) -> int:
    """Exit status: 0 ok, 2 bad usage (unknown benchmark name)."""
    try:
        result = run(quick=args.quick, only=args.only)
    except ValueError as e:
        print(f"memcg-stress bench: {e}", file=sys.stderr)
        return 2
    print_table(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
            f.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="memcg-stress bench", description="Benchmarks of the native primitives.")
    add_arguments(parser)
    return run_cli(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
