"""memcg-stress benchmarks: ``memcg-stress bench [--quick] [--json PATH] [--only NAME...]``.

A registry, so that later benchmarks only add a key::

    @benchmark("my_bench")
    def _my_bench(quick: bool) -> dict[str, float]: ...

Each benchmark returns flat ``metric -> value`` pairs; numbers are medians of
repeated runs.  ``run()`` collects them with machine information; ``main()``
prints a table (rich, or plain text) and optionally writes JSON.

The engine benchmarks (stress/bench_engine.py, registered from here):
``ops_per_s`` (1 and 2 workers, interleaved, and the scaling),
``ops_per_s_1t_vs_reference``, ``checkpoint_pause_1m`` (pause, RSS and bytes
per object with one million live objects), ``counters_overhead`` (full mode or
``--only``: builds the core with and without counters) and ``mutant_detect``
(time to detection with and without delay injection).  Without ``--json`` a
full run writes results/bench-<date>.json and prints a Markdown table.  The
machine information includes the load average at start and end and the
other processes busy at those times.

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
# engine benchmarks (ops/s and scaling, checkpoint pause at 1M objects,
# counters overhead, mutant detection): stress/bench_engine.py registers them
# ---------------------------------------------------------------------------

#: the ``only`` list of the run in progress (None: all)
ONLY: list[str] | None = None

from . import bench_engine as _bench_engine  # noqa: E402  (registers after the above)

# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _busy_processes(interval: float = 0.5, threshold: float = 10.0) -> list[dict]:
    """Other processes using more than ``threshold`` % of a core now (who
    shares the machine with the benchmark)."""
    try:
        import psutil
    except ImportError:
        return []
    me = os.getpid()
    procs = []
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        if p.pid == me:
            continue
        try:
            p.cpu_percent(None)
            procs.append(p)
        except psutil.Error:
            pass
    import time
    time.sleep(interval)
    out = []
    for p in procs:
        try:
            pct = p.cpu_percent(None)
        except psutil.Error:
            continue
        if pct >= threshold:
            cmd = " ".join(p.info.get("cmdline") or [p.info.get("name") or "?"])
            out.append({"pid": p.pid, "cpu_pct": round(pct, 1), "cmd": cmd[:160]})
    return sorted(out, key=lambda d: -d["cpu_pct"])


def machine_info() -> dict:
    info = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
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
    global ONLY
    SKIPPED.clear()
    ONLY = list(only) if only else None
    machine = machine_info()
    machine["loadavg_start"] = _loadavg()
    machine["busy_processes_start"] = _busy_processes()
    result: dict = {"machine": machine, "quick": bool(quick)}
    _bench_engine.CURRENT.clear()
    errors: dict[str, str] = {}
    import time
    started = time.time()
    result["started_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    try:
        for name in names:
            try:
                result.update(BENCHMARKS[name](quick))
            except BenchSkipped as e:
                SKIPPED[name] = str(e)
            except Exception as e:             # one failing benchmark does not lose the others
                errors[name] = f"{type(e).__name__}: {e}"[:600]
                print(f"memcg-stress bench: {name} failed: {errors[name]}", file=sys.stderr)
            _bench_engine.CURRENT.update(result)
    finally:
        ONLY = None
    machine["loadavg_end"] = _loadavg()
    machine["busy_processes_end"] = _busy_processes()
    result["wall_s"] = round(time.time() - started, 1)
    if "ops_per_s_1t" in result and "reference_ops_per_s" in result:
        result["ops_per_s_1t_vs_reference"] = result["ops_per_s_1t"] / result["reference_ops_per_s"]
    if "rcu_read_pair_ns" in result and "liburcu_read_pair_ns" in result:
        result["read_pair_ratio_vs_liburcu"] = result["rcu_read_pair_ns"] / result["liburcu_read_pair_ns"]
    if "synchronize_rcu_us" in result and "liburcu_synchronize_us" in result:
        result["synchronize_ratio_vs_liburcu"] = result["synchronize_rcu_us"] / result["liburcu_synchronize_us"]
    result["skipped"] = dict(SKIPPED)
    result["errors"] = errors
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
    for name, reason in result.get("errors", {}).items():
        print(f"FAILED {name}: {reason}", file=file)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("bench")
    g.add_argument("--quick", action="store_true", help="fewer iterations (seconds instead of a minute)")
    g.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    g.add_argument("--only", metavar="NAME", nargs="+", action="extend",
                   help=f"run only these benchmarks ({', '.join(BENCHMARKS)})")


def markdown_table(result: dict) -> str:
    """The numeric figures as a Markdown table (per-mutant times included)."""
    lines = ["| metric | value |", "|---|---:|"]
    for k, v in _metrics(result):
        lines.append(f"| {k} | {v:.4g} |")
    for key in ("mutant_detect_s_with_delays", "mutant_detect_s_without_delays"):
        for name, t in (result.get(key) or {}).items():
            lines.append(f"| {key}[{name}] | {'not caught' if t is None else f'{t:.3g}'} |")
    for name, reason in result.get("skipped", {}).items():
        lines.append(f"| skipped: {name} | {reason} |")
    for name, reason in result.get("errors", {}).items():
        lines.append(f"| FAILED: {name} | {reason} |")
    return "\n".join(lines)


def default_json_path() -> str:
    import time
    return os.path.join("results", f"bench-{time.strftime('%Y-%m-%d')}.json")


def run_cli(args: argparse.Namespace) -> int:
    """Exit status: 0 ok, 1 a benchmark failed (the others are still
    reported, the failure under "errors"), 2 bad usage (unknown benchmark name).

    Without --json, a full (non-quick) run writes results/bench-<date>.json
    and prints a Markdown table."""
    try:
        result = run(quick=args.quick, only=args.only)
    except ValueError as e:
        print(f"memcg-stress bench: {e}", file=sys.stderr)
        return 2
    path = args.json
    if not path and not args.quick:
        path = default_json_path()
        print(markdown_table(result))
    else:
        print_table(result)
    rc = 1 if result.get("errors") else 0
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"wrote {path}")
    return rc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="memcg-stress bench", description="Benchmarks of the native primitives.")
    add_arguments(parser)
    return run_cli(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
