"""Benchmarks of the native primitives (RCU, per-cpu counters), the
reference model against the native one, and liburcu side by side when its
headers are installed."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from .registry import BenchSkipped, benchmark, median, native_core


# ---------------------------------------------------------------------------
# our primitives
# ---------------------------------------------------------------------------


@benchmark("rcu_read_pair_ns")
def _rcu_read_pair(quick: bool) -> dict[str, float]:
    c = native_core()
    iters, reps = (2_000_000, 3) if quick else (20_000_000, 7)
    return {"rcu_read_pair_ns": c.rcu_read_pair_ns(iters, reps)}


@benchmark("synchronize_rcu_us")
def _synchronize_rcu(quick: bool) -> dict[str, float]:
    c = native_core()
    iters, reps = (300, 3) if quick else (2000, 5)
    runs = [c.synchronize_rcu_stats(iters) for _ in range(reps)]
    return {
        "synchronize_rcu_us": median([r["median_us"] for r in runs]),
        "synchronize_rcu_p99_us": median([r["p99_us"] for r in runs]),
    }


@benchmark("call_rcu_per_s")
def _call_rcu(quick: bool) -> dict[str, float]:
    c = native_core()
    n, reps = (50_000, 3) if quick else (500_000, 5)
    return {"call_rcu_per_s": median([c.call_rcu_throughput(n) for _ in range(reps)])}


@benchmark("percpu_counter_add_ns")
def _percpu_counter_add(quick: bool) -> dict[str, float]:
    c = native_core()
    iters, reps = (2_000_000, 3) if quick else (20_000_000, 5)
    return {"percpu_counter_add_ns": median([c.percpu_counter_add_ns(iters) for _ in range(reps)])}


@benchmark("model_vs_reference")
def _model_vs_reference(quick: bool) -> dict[str, float]:
    from .model import bench_reference
    return bench_reference(quick)

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
