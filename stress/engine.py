"""stress.run(config) -> Result: one run of the native engine.

Python starts the native threads (workers, controller, kworkers, RCU
callbacks), samples their counters while they run, hands every stat sample
and violation to `on_event` as it happens, and asks for the drain when the
duration is over, a violation was found (stop_on_violation), or `stop_event`
is set.  Everything that can go wrong in native code comes back as data.
"""
from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import psutil

from stresscore import _core

from . import perfcounters
from .config import Config

DRAIN_TIMEOUT_S = 120.0     # Config.drain_timeout's default
DRAIN_GRACE_S = 30.0        # after a drain stall was reported: how long the threads still have to leave


@dataclass
class Result:
    verdict: str                      # "clean", "violation" or "interrupted"
    seed: int
    config: dict
    duration_s: float                 # running phase
    ops: int                          # allocations + frees by workers
    ops_per_s: float
    violations: list[dict]
    violations_by_invariant: dict[str, int]
    first_violation_s: float | None   # time from start to the first violation
    stats: dict                       # final counters (stresscore._core.live_stats())
    samples: list[dict] = field(default_factory=list)
    drain_s: float = 0.0
    hung: bool = False                # the drain did not finish
    # per-thread perf_event counters (stress.perfcounters.PerfCounters.stop())
    perf: dict = field(default_factory=dict)
    # each native thread: {"cpu", "role", "native_id", "name"}
    threads: list[dict] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.verdict == "clean"

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict, "seed": self.seed, "config": self.config,
            "duration_s": self.duration_s, "ops": self.ops, "ops_per_s": self.ops_per_s,
            "violations": len(self.violations) if self.violations else 0,
            "violations_by_invariant": self.violations_by_invariant,
            "first_violation_s": self.first_violation_s, "drain_s": self.drain_s,
            "hung": self.hung,
        }


MAX_SAMPLES = 256           # timeline points kept in memory at most

_lock = threading.Lock()     # one run per process: the model's state is global


def worker_ops(stats: dict) -> int:
    return sum(t["alloc"] + t["free"] for t, role in zip(stats["threads"], stats["roles"])
               if role == "worker")


def sample(stats: dict, t: float, proc: psutil.Process | None) -> dict:
    """One point of the timeline (what the stat lines and the report use)."""
    s = {
        "t": round(t, 4),
        "ops": worker_ops(stats),
        "per_thread_ops": [th["alloc"] + th["free"] for th, role in zip(stats["threads"], stats["roles"])
                           if role == "worker"],
        "memcgs_online": stats["memcgs_online"],
        "memcgs_dying": stats["memcgs_dying"],
        "child_caches": stats["child_caches"],
        "grace_periods": stats["grace_periods"],
        "rcu_pending": stats["rcu_pending"],
        "slab_pages_reserved": stats["slab_pages_reserved"],
        "slab_pages": sum(th.get("page_alloc", 0) - th.get("page_free", 0) for th in stats["threads"]),
        "objects_held": stats["objects_held"],
        "objects_in_flight": stats["objects_in_flight"],
        "root_memory": stats["root_memory"],       # the root's page counter (pages)
        "stock_pages": stats["stock_pages"],       # precharged pages in every cpu's memcg_stock
        "partial_pages": stats["partial_pages"],   # pages on the caches' node partial lists
        "cpu_partial_pages": stats["cpu_partial_pages"],   # pages on the cpu partial lists (as slabs_cpu_partial reads them)
        "cpus_online": stats["cpus_online"],       # CPU slots online (the hotplug actor takes them down and up)
        "checkpoints": stats["checkpoints"],
        "violations": stats["violations"],
    }
    win = stats.get("windows")
    if win:
        # race-window coverage over time (the report's plot, the stat line)
        s["windows_raced"] = sum(1 for w in win.values() if w["raced"])
        s["windows_opened"] = sum(1 for w in win.values() if w["opened"])
        s["windows_total"] = len(win)
    if proc is not None:
        try:
            with proc.oneshot():
                ct = proc.cpu_times()
                s["rss"] = proc.memory_info().rss
                s["cpu_s"] = ct.user + ct.system
                cs = proc.num_ctx_switches()
                s["ctx_switches"] = cs.voluntary + cs.involuntary
        except psutil.Error:
            pass
    return s


def run(config: Config, *, on_event: Callable[[dict], None] | None = None,
        stop_event: threading.Event | None = None) -> Result:
    """Run the engine with `config` (validated here).  Blocks until the
    threads have drained and the end-of-run checks ran."""
    config.validate()
    seed = config.seed if config.seed is not None else random.SystemRandom().randrange(2**63)
    native = config.native(seed)
    emit = on_event or (lambda ev: None)
    if not _lock.acquire(blocking=False):
        raise RuntimeError("another run is in progress in this process")
    try:
        return _run(config, seed, native, emit, stop_event)
    finally:
        _lock.release()


def _run(config, seed, native, emit, stop_event) -> Result:
    n = native["workers"]
    proc = psutil.Process(os.getpid())
    roles = _core.engine_setup(native)      # the threads of the run, by cpu
    _core.stall_setup(config.stall_gp, config.stall_work, config.stall_offline)
    threads = [threading.Thread(target=_core.engine_thread, args=(cpu,), daemon=True,
                                name=f"memcg-stress-{cpu}") for cpu in range(len(roles))]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    perf, thread_info = _perf_start(threads)
    tick = threading.Event()          # never set: the monitor's clock
    samples: list[dict] = []
    seen = 0
    first_violation = None
    interrupted = False
    drain_at = None
    stalled_at = None               # when the drain outlived drain_timeout (its stall was reported)
    next_stat = t0 + config.stat_interval if config.stat_interval else float("inf")
    sample_every = min(config.stat_interval or 1.0, max(0.05, (config.duration or 60) / 200))
    next_sample = t0 + sample_every
    poll = min(0.02, sample_every)
    steering = None
    if config.steer == "coverage":
        from .steer import STEER_INTERVAL, CoverageSteering
        steering = CoverageSteering(_core, config.max_memcgs,
                                    config.module_interval_us, _core.RACE_WINDOWS, config.mode)
        next_steer = t0 + STEER_INTERVAL
    while True:
        tick.wait(poll)
        now = time.monotonic()
        _core.stall_poll()
        nv = _core.violation_count()
        if nv > seen:
            if first_violation is None:
                first_violation = now - t0
            for v in _core.violations_since(seen):
                v["t"] = round(now - t0, 4)
                emit({"type": "violation", **v})
            seen = nv
            if config.stop_on_violation and drain_at is None:
                drain_at = now
                _core.engine_request_drain()
        if drain_at is None:
            if stop_event is not None and stop_event.is_set():
                interrupted = True
                drain_at = now
            elif config.duration and now - t0 >= config.duration:
                drain_at = now
            if drain_at is not None:
                _core.engine_request_drain()
        if steering is not None and drain_at is None and now >= next_steer:
            steering.step(now - t0, _core.window_counts())
            next_steer = now + STEER_INTERVAL
        if now >= next_sample or now >= next_stat:
            s = sample(_core.live_stats(), now - t0, proc)
            if now >= next_sample:
                samples.append(s)
                next_sample = now + sample_every
                if len(samples) >= MAX_SAMPLES:
                    # a long or endless run: halve the timeline's resolution
                    # rather than let it grow (the stat lines keep theirs)
                    del samples[1::2]
                    sample_every *= 2
            if now >= next_stat:
                emit({"type": "stat", **s})
                next_stat = now + config.stat_interval
        if drain_at is not None and not any(th.is_alive() for th in threads):
            break
        if drain_at is not None and stalled_at is None and now - drain_at > config.drain_timeout:
            # name every thread that has not left; then keep waiting a
            # while, so that a slow drain still ends and the next run can start
            stalled_at = now
            _core.drain_stall_report([cpu for cpu, th in enumerate(threads) if th.is_alive()],
                                     config.drain_timeout)
        if stalled_at is not None and now - stalled_at > DRAIN_GRACE_S:
            break
    hung = any(th.is_alive() for th in threads)
    end = time.monotonic()
    if not hung:
        _core.engine_finish()
    stats = _core.live_stats()
    if steering is not None:
        stats["steering"] = steering.summary()
    nv = _core.violation_count()
    if nv > seen:
        for v in _core.violations_since(seen):
            v["t"] = round(end - t0, 4)
            if first_violation is None:
                first_violation = end - t0
            emit({"type": "violation", **v})
    violations = _core.violations_since(0)
    running = (drain_at or end) - t0
    ops = worker_ops(stats)
    final = sample(stats, end - t0, proc)
    perf_data = _perf_stop(perf)
    final["perf"] = perf_data
    samples.append(final)
    if hung:
        verdict = "violation"
        violations.append({"invariant": "liveness",
                           "message": f"the drain did not finish within {config.drain_timeout:g} s "
                                      f"and {DRAIN_GRACE_S:.0f} s more; no other run can start in this process",
                           "t": round(end - t0, 4)})
    elif nv:
        verdict = "violation"
    elif interrupted:
        verdict = "interrupted"
    else:
        verdict = "clean"
    by_inv = dict(_core.violations_by_invariant())
    if hung:
        by_inv["liveness"] = 1
    return Result(
        verdict=verdict, seed=seed, config={**config.to_dict(), "seed": seed, "workers": n},
        duration_s=running, ops=ops, ops_per_s=ops / running if running > 0 else 0.0,
        violations=violations, violations_by_invariant=by_inv,
        first_violation_s=first_violation, stats=stats, samples=samples,
        drain_s=end - (drain_at or end), hung=hung, perf=perf_data, threads=thread_info,
    )


def _perf_start(threads):
    """Per-thread perf counters on every native thread (never raises)."""
    try:
        roles = list(_core.live_stats().get("roles", []))
    except Exception:
        roles = []
    info = [{"cpu": cpu, "role": roles[cpu] if cpu < len(roles) else None,
             "native_id": th.native_id, "name": th.name} for cpu, th in enumerate(threads)]
    try:
        pc = perfcounters.PerfCounters()
        for ti in info:
            pc.add_thread(ti["native_id"], role=ti["role"], cpu=ti["cpu"], name=ti["name"])
        pc.start()
    except Exception as e:
        pc = f"{type(e).__name__}: {e}"
    return pc, info


def _perf_stop(pc) -> dict:
    if isinstance(pc, perfcounters.PerfCounters):
        return pc.stop()
    return perfcounters.unsupported(pc)
