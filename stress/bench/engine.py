"""Engine benchmarks for ``memcg-stress bench`` (registered in stress.bench.registry).

Every figure is measured by running the engine (``stress.run``); nothing is
typed in.  Runs that are compared are taken side by side in one invocation,
interleaved (A, B, A, B, ...), so that a noisy neighbour hits both, and the
median of the repeats is kept.

- ``ops_per_s``: allocations + frees per second, summed over the workers, in
  the default scenario (controller and checkpoints on) with delay injection
  off, for 1 and 2 workers (and 4, 8, ... up to the cores when there are more
  than 2), 3 runs each (1 s each when quick, 3 s otherwise), interleaved;
  ``scaling_<n>t_over_1t`` is the ratio of the medians.
- ``checkpoint_pause_1m``: a fresh subprocess runs first an (almost) empty
  run for the RSS baseline, then 2 workers x 500 000 held objects, allocation
  only, no controller, a checkpoint every 0.2 s.  A side thread polls the
  native counters: once the live count (allocations - frees) reaches one
  million, the checkpoints completed after that point are the ones whose
  pauses count (``checkpoint_pause_ms_1m`` is their median), and the RSS at
  that point gives ``rss_mb_1m`` and ``bytes_per_object``.
- ``ops_per_s_1t_vs_reference``: ops_per_s_1t over the reference model's
  ops/s (stress.bench.model), both from the same invocation.
- ``counters_overhead``: the native core built twice from one snapshot of
  the source, with and without per-thread counters (MEMCG_STRESS_NO_COUNTERS=1),
  each run in a subprocess on the 1-worker scenario, alternating, median of 3.
- ``inline_checks_overhead``: the same for the inline checks (RCU lockdep,
  lock order, write-after-free images; MEMCG_STRESS_NO_INLINE_CHECKS=1),
  median of 5.
- ``vs_base`` (``memcg-stress bench --base TREE``): the 1-worker ops/s of
  this build and of another built checkout, alternating, median of 5.
- ``mutant_detect``: time to the first violation of every mutant expected
  to be caught, with the default delays and without, per mutant, side by side.

``pause_1m(quick)`` is what the checkpoint benchmark's subprocess runs.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from ..config import one_line
from . import registry
from .registry import BenchSkipped, benchmark, median as _median

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REPEATS = 3


def _ops_config(workers: int, duration: float, seed: int):
    from ..config import Config
    # default scenario, delay injection off; keep going after a violation so
    # that every run lasts the same time (violations are reported beside)
    return Config(duration=duration, workers=workers, delay_injection=False, seed=seed,
                  stat_interval=0, stop_on_violation=False)


def _worker_counts() -> list[int]:
    from ..config import MAX_WORKERS
    cores = os.cpu_count() or 2
    counts = [1, 2]
    n = 4
    while cores > 2 and n <= min(cores, MAX_WORKERS):
        counts.append(n)
        n *= 2
    return counts


def _ops_runs(counts: list[int], duration: float, repeats: int = REPEATS) -> dict:
    from ..engine import run
    per: dict[int, list[float]] = {n: [] for n in counts}
    verdicts: dict[int, list[str]] = {n: [] for n in counts}
    for rep in range(repeats):
        for n in counts:                       # interleaved: 1t, 2t, 1t, 2t, ...
            r = run(_ops_config(n, duration, seed=1000 + rep))
            per[n].append(r.ops_per_s)
            verdicts[n].append(r.verdict)
    out: dict = {}
    for n in counts:
        out[f"ops_per_s_{n}t"] = _median(per[n])
    for n in counts[1:]:
        out[f"scaling_{n}t_over_1t"] = out[f"ops_per_s_{n}t"] / out["ops_per_s_1t"]
    out["ops_per_s_runs"] = {f"{n}t": per[n] for n in counts}
    out["ops_per_s_verdicts"] = {f"{n}t": verdicts[n] for n in counts}
    out["ops_run_s"] = duration
    return out


@benchmark("ops_per_s")
def _ops_per_s(quick: bool) -> dict:
    return _ops_runs(_worker_counts(), 1.0 if quick else 3.0)


@benchmark("ops_per_s_1t_vs_reference")
def _vs_reference(quick: bool) -> dict:
    out: dict = {}
    ops = registry.CURRENT.get("ops_per_s_1t")
    if ops is None:
        ops = _ops_runs([1], 1.0 if quick else 3.0)["ops_per_s_1t"]
        out["ops_per_s_1t"] = ops
    ref = registry.CURRENT.get("reference_ops_per_s")
    if ref is None:
        from .model import bench_reference
        r = bench_reference(quick)
        out.update(r)
        ref = r["reference_ops_per_s"]
    out["ops_per_s_1t_vs_reference"] = ops / ref
    return out


# ---------------------------------------------------------------------------
# checkpoint pause with one million live objects

LIVE_TARGET = 1_000_000


def _live(stats: dict) -> int:
    return sum(t["alloc"] - t["free"] for t, role in zip(stats["threads"], stats["roles"]) if role == "worker")


def _multiset_minus(after: list[int], before: list[int]) -> list[int]:
    from collections import Counter
    c = Counter(after)
    c.subtract(Counter(before))
    return sorted(c.elements())


def pause_1m(quick: bool) -> dict:
    """Run in a fresh process (see module doc).  Returns the figures."""
    import psutil

    from stresscore import _core

    from ..config import Config
    from ..engine import run
    proc = psutil.Process()
    # baseline: the same scenario with (almost) nothing held
    base_cfg = Config(duration=0.5, workers=2, max_held=1, alloc_pct=100, send_pct=0,
                      delay_injection=False, controller=False, checkpoint_interval=0.2,
                      seed=7, stat_interval=0)
    base = run(base_cfg)
    rss_base = max(s.get("rss", 0) for s in base.samples)

    cfg = Config(duration=2.5 if quick else 5.0, workers=2, max_held=LIVE_TARGET // 2, alloc_pct=100,
                 send_pct=0, delay_injection=False, controller=False, checkpoint_interval=0.2,
                 seed=7, stat_interval=0)
    state: dict = {}
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            try:
                st = _core.live_stats()
            except Exception:                  # not set up yet
                stop.wait(0.01)
                continue
            live = _live(st) if st.get("roles") else 0
            if "fill_t" not in state and live >= LIVE_TARGET * 0.999:
                state["fill_t"] = time.monotonic() - state["t0"]
                state["ncp0"] = st["checkpoints"]
                state["pauses0"] = list(st["checkpoint_pause_ns"])
                state["stops0"] = list(st["checkpoint_stop_ns"])
                state["rss_fill"] = proc.memory_info().rss
                state["live_fill"] = live
            if "fill_t" in state:
                state["live_min_after"] = min(state.get("live_min_after", live), live)
            stop.wait(0.02)

    state["t0"] = time.monotonic()
    th = threading.Thread(target=poll, daemon=True)
    th.start()
    try:
        r = run(cfg)
    finally:
        stop.set()
        th.join()
    if "fill_t" not in state:
        raise RuntimeError("the live count never reached one million objects")
    final = r.stats
    ncp = final["checkpoints"]
    pauses_all = list(final["checkpoint_pause_ns"])
    stops_all = list(final["checkpoint_stop_ns"])
    if ncp - state["ncp0"] >= len(pauses_all):      # the ring wrapped: all of it is after the fill
        after, stops = pauses_all, stops_all
    else:
        after = _multiset_minus(pauses_all, state["pauses0"])
        stops = _multiset_minus(stops_all, state["stops0"])
    rss_end = max((s.get("rss", 0) for s in r.samples), default=0)
    out = {
        "checkpoint_pause_ms_1m": _median(after) / 1e6 if after else None,
        "checkpoint_pause_ms_1m_max": max(after) / 1e6 if after else None,
        "checkpoint_pauses_1m": len(after),
        "checkpoint_stop_ms_1m": _median(stops) / 1e6 if stops else None,   # of the pause: stopping the world
        "checkpoint_pause_ms_1m_all": [p / 1e6 for p in after],
        "checkpoint_1m_fill_s": state["fill_t"],
        "rss_mb_1m": state["rss_fill"] / 2**20,
        "rss_mb_1m_peak": rss_end / 2**20,
        "rss_mb_empty": rss_base / 2**20,
        "bytes_per_object": (state["rss_fill"] - rss_base) / state["live_fill"],
        "live_objects_1m": state["live_fill"],
        "checkpoint_1m_verdict": r.verdict,
    }
    return out


@benchmark("checkpoint_pause_1m")
def _checkpoint_pause_1m(quick: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = ("import json, os; from stress.bench.engine import pause_1m; "
            "print(json.dumps(pause_1m(%r)), flush=True); os._exit(0)" % bool(quick))
    cmd = [sys.executable, "-c", code]
    crashes = []
    for _ in range(2):
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=_ROOT, env=env, timeout=600)
        if p.returncode == 0:
            out = json.loads(p.stdout.strip().splitlines()[-1])
            out["checkpoint_1m_child_crashes"] = crashes
            return out
        crashes.append(f"rc {p.returncode}: {p.stderr.strip()[-200:]}")
    raise RuntimeError(f"checkpoint_pause_1m subprocess failed twice: {crashes}")


# ---------------------------------------------------------------------------
# the cost of the per-thread counters

_CHILD = r"""
import json, sys
from stress import Config, run
import stresscore._core as c
cfg = Config(duration=float(sys.argv[1]), workers=1, delay_injection=False, seed=int(sys.argv[2]),
             stat_interval=0, stop_on_violation=False)
r = run(cfg)
print(json.dumps({"ops_per_s": r.ops_per_s, "verdict": r.verdict, "core": c.__file__}), flush=True)
import os; os._exit(0)    # the figure is out: skip the interpreter's teardown
"""


def _copy_tree(dst: str) -> None:
    ignore = shutil.ignore_patterns("*.so", "__pycache__", "*.pyc", ".hypothesis", "_core.c", "*.egg-info")
    for name in ("setup.py", "pyproject.toml", "README.md"):     # what a pip build of the copy reads
        if os.path.exists(os.path.join(_ROOT, name)):
            shutil.copy2(os.path.join(_ROOT, name), dst)
    for d in ("stresscore", "stress"):
        shutil.copytree(os.path.join(_ROOT, d), os.path.join(dst, d), ignore=ignore)


def _cython_importable() -> bool:
    """Whether this interpreter can run setup.py itself (a checkout's
    environment); after `pip install -e .` in a venv the build ran in
    pip's isolated environment and Cython is not here."""
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in ("Cython", "setuptools"))


#: how to get the counters figure when no build of the variant can be made
COUNTERS_HINT = ("to get the figure, make Cython importable here (python3 -m pip install 'Cython>=3.0' "
                 "setuptools) or let pip reach its index, and rerun")


def _build(src: str, no_counters: bool,
           switch: str = "MEMCG_STRESS_NO_COUNTERS") -> tuple[subprocess.Popen, str | None]:
    """Start building the core in the copy ``src`` (with ``switch`` set when
    ``no_counters``): in place with setup.py where Cython is importable,
    else as the install does, a wheel built by
    pip with build isolation (its build requirements from pyproject.toml)
    into ``src/.wheel`` (then _unpack_wheel).  Returns (process, wheel
    folder or None)."""
    env = dict(os.environ)
    env.pop("MEMCG_STRESS_DEBUG", None)
    for var in ("MEMCG_STRESS_NO_COUNTERS", "MEMCG_STRESS_NO_INLINE_CHECKS", "MEMCG_STRESS_NO_WINDOWS"):
        env.pop(var, None)
    if no_counters:
        env[switch] = "1"
    if _cython_importable():
        cmd, wheels = [sys.executable, "setup.py", "-q", "build_ext", "--inplace"], None
    else:
        wheels = os.path.join(src, ".wheel")
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-q", "-w", wheels, src]
    return subprocess.Popen(cmd, cwd=src, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True), wheels


def _unpack_wheel(wheels: str, src: str) -> None:
    """The built core out of the wheel pip made, into ``src/stresscore``."""
    import zipfile
    found = [f for f in os.listdir(wheels) if f.endswith(".whl")]
    if not found:
        raise BenchSkipped(f"counters build: pip made no wheel; {COUNTERS_HINT}")
    with zipfile.ZipFile(os.path.join(wheels, found[0])) as z:
        cores = [n for n in z.namelist() if n.startswith("stresscore/_core") and n.endswith((".so", ".pyd"))]
        if not cores:
            raise BenchSkipped(f"counters build: the wheel holds no stresscore/_core; {COUNTERS_HINT}")
        for n in cores:
            with z.open(n) as f_in, open(os.path.join(src, n), "wb") as f_out:
                shutil.copyfileobj(f_in, f_out)


def _child_run(tree: str, duration: float, seed: int, crashes: list[str]) -> dict:
    """One run in a subprocess on the build in ``tree``.  A child that dies
    (a crash of the core) is recorded in ``crashes`` and retried, twice at most."""
    env = dict(os.environ, PYTHONPATH=tree)
    for attempt in range(3):
        p = subprocess.run([sys.executable, "-c", _CHILD, str(duration), str(seed + 100 * attempt)], cwd=tree,
                           env=env, capture_output=True, text=True, timeout=300)
        if p.returncode == 0:
            break
        crashes.append(f"{os.path.basename(tree)} seed {seed + 100 * attempt}: rc {p.returncode}: "
                       f"{p.stderr.strip()[-200:]}")
    else:
        raise RuntimeError(f"counters child failed 3 times: {crashes[-1]}")
    d = json.loads(p.stdout.strip().splitlines()[-1])
    if not os.path.realpath(d["core"]).startswith(os.path.realpath(tree)):
        raise RuntimeError(f"counters child imported {d['core']}, not the build in {tree}")
    return d


def _switch_side_by_side(quick: bool, repeats: int, switch: str, label: str, seed0: int) -> dict:
    """The core built twice from one snapshot, with and without the build
    switch ``switch`` (set to 1 for "off"), each run in a subprocess on the
    1-worker scenario, alternating who goes first; per-build ops/s lists."""
    duration = 1.0 if quick else 3.0
    with tempfile.TemporaryDirectory(prefix=f"memcg-stress-{label}-") as tmp:
        trees = {"on": os.path.join(tmp, label), "off": os.path.join(tmp, f"no-{label}")}
        for t in trees.values():
            os.makedirs(t)
            _copy_tree(t)
        t0 = time.monotonic()
        builds = {k: _build(t, k == "off", switch) for k, t in trees.items()}   # both at once, one snapshot
        for k, (b, wheels) in builds.items():
            out, _ = b.communicate(timeout=900)
            if b.returncode != 0:
                raise BenchSkipped(f"{label} build ({k}) failed ({one_line(out)[-200:]}); {COUNTERS_HINT}")
            if wheels is not None:
                _unpack_wheel(wheels, trees[k])
        build_s = time.monotonic() - t0
        ops: dict[str, list[float]] = {"on": [], "off": []}
        verdicts: dict[str, list[str]] = {"on": [], "off": []}
        crashes: list[str] = []
        for rep in range(repeats):
            order = ("on", "off") if rep % 2 == 0 else ("off", "on")     # alternate who goes first
            for k in order:
                d = _child_run(trees[k], duration, seed0 + rep, crashes)
                ops[k].append(d["ops_per_s"])
                verdicts[k].append(d["verdict"])
    return {"ops": ops, "verdicts": verdicts, "crashes": crashes, "build_s": build_s,
            "on": _median(ops["on"]), "off": _median(ops["off"])}


def _overhead(quick: bool, repeats: int, switch: str, prefix: str, label: str, seed0: int) -> dict:
    """A compile-out switch's cost: ``<prefix>_overhead_pct`` and the runs
    behind it, from _switch_side_by_side."""
    r = _switch_side_by_side(quick, repeats, switch, label, seed0)
    on, off = r["on"], r["off"]
    return {
        f"{prefix}_overhead_pct": (off - on) / off * 100.0,
        f"ops_per_s_1t_{prefix}": on,
        f"ops_per_s_1t_no_{prefix}": off,
        f"{prefix}_runs": r["ops"],
        f"{prefix}_verdicts": r["verdicts"],
        f"{prefix}_build_s": r["build_s"],
        f"{prefix}_child_crashes": r["crashes"],
    }


def counters_overhead(quick: bool, repeats: int = REPEATS) -> dict:
    """The per-thread counters: a build with MEMCG_STRESS_NO_COUNTERS=1
    against the default one."""
    return _overhead(quick, repeats, "MEMCG_STRESS_NO_COUNTERS", "counters", "counters", 2000)


def inline_checks_overhead(quick: bool, repeats: int = REPEATS) -> dict:
    """The same side by side for the inline checks (RCU lockdep, lock
    order, write-after-free images): a build with
    MEMCG_STRESS_NO_INLINE_CHECKS=1 against the default one."""
    return _overhead(quick, repeats, "MEMCG_STRESS_NO_INLINE_CHECKS", "inline_checks", "inline-checks", 4000)


def windows_overhead(quick: bool, repeats: int = REPEATS) -> dict:
    """The same side by side for the race-window coverage counters: a
    build with MEMCG_STRESS_NO_WINDOWS=1 against the default one."""
    return _overhead(quick, repeats, "MEMCG_STRESS_NO_WINDOWS", "windows", "windows", 6000)


def base_tree_error(tree: str) -> str | None:
    """Why ``tree`` cannot serve as --base (None when it can): it must be a
    checkout with its native core built in place."""
    core = os.path.join(tree, "stresscore")
    if not os.path.isdir(core):
        return f"--base {tree}: no stresscore/ folder there"
    if not any(n.startswith("_core") and n.endswith(".so") for n in os.listdir(core)):
        return f"--base {tree}: its native core is not built (python3 setup.py build_ext --inplace there)"
    return None


def vs_base(base: str, quick: bool, repeats: int = 5) -> dict:
    """ops/s of the 1-worker scenario on this checkout's build and on the
    build in ``base``, each run in a subprocess, alternating which goes
    first, ``repeats`` each; medians and their ratio."""
    duration = 1.0 if quick else 3.0
    trees = {"here": _ROOT, "base": os.path.abspath(base)}
    ops: dict[str, list[float]] = {"here": [], "base": []}
    verdicts: dict[str, list[str]] = {"here": [], "base": []}
    crashes: list[str] = []
    for rep in range(repeats):
        for k in (("here", "base") if rep % 2 == 0 else ("base", "here")):
            d = _child_run(trees[k], duration, 3000 + rep, crashes)
            ops[k].append(d["ops_per_s"])
            verdicts[k].append(d["verdict"])
    here, there = _median(ops["here"]), _median(ops["base"])
    return {"ops_per_s_1t_here": here, "ops_per_s_1t_base": there, "here_over_base": here / there,
            "vs_base_runs": ops, "vs_base_verdicts": verdicts, "vs_base_tree": trees["base"],
            "vs_base_child_crashes": crashes}


@benchmark("counters_overhead")
def _counters_overhead(quick: bool) -> dict:
    if quick and "counters_overhead" not in (registry.ONLY or ()):
        raise BenchSkipped("full mode only (or --only counters_overhead): it builds the core twice")
    return counters_overhead(quick)


@benchmark("inline_checks_overhead")
def _inline_checks_overhead(quick: bool) -> dict:
    if quick and "inline_checks_overhead" not in (registry.ONLY or ()):
        raise BenchSkipped("full mode only (or --only inline_checks_overhead): it builds the core twice")
    return inline_checks_overhead(quick, repeats=5)


# ---------------------------------------------------------------------------
# mutant detection, with and without delay injection

QUICK_MUTANTS = ("rcu-busted", "no-parent-css-get", "no-flush-on-free")


def mutant_detect(quick: bool) -> dict:
    from ..config import Config
    from ..mutants import MUTANTS, detect
    names = [m.name for m in MUTANTS if m.expected]
    if quick:
        names = [n for n in names if n in QUICK_MUTANTS] or names[:3]
    budget = 5.0 if quick else 10.0
    bases = {"with_delays": Config(workers=2), "without_delays": Config(workers=2, delay_injection=False)}
    times: dict[str, dict[str, float | None]] = {k: {} for k in bases}
    invariants: dict[str, dict[str, str | None]] = {k: {} for k in bases}
    for i, name in enumerate(names):
        order = list(bases) if i % 2 == 0 else list(reversed(bases))
        for k in order:
            d = detect(name, 1, budget, bases[k])
            times[k][name] = d["time_s"] if d["detected"] else None
            invariants[k][name] = d["invariant"]
    out: dict = {"mutant_budget_s": budget, "mutants_expected": len(names)}
    for k in bases:
        # caught = a violation while running, within the budget; a violation
        # found only by the end-of-run check (after the drain) is listed apart
        caught = [t for t in times[k].values() if t is not None and t <= budget]
        out[f"mutant_detect_s_{k}"] = times[k]
        out[f"mutant_invariant_{k}"] = invariants[k]
        out[f"mutants_caught_{k}"] = len(caught)
        out[f"mutant_detect_median_s_{k}"] = _median(caught) if caught else None
        out[f"mutant_detect_max_s_{k}"] = max(caught) if caught else None
        # caught only by the end-of-run check (after the drain), not while running
        out[f"mutants_caught_after_budget_{k}"] = sorted(n for n, t in times[k].items()
                                                        if t is not None and t > budget)
    return out


benchmark("mutant_detect")(mutant_detect)


@benchmark("windows_overhead")
def _windows_overhead(quick: bool) -> dict:
    if quick and "windows_overhead" not in (registry.ONLY or ()):
        raise BenchSkipped("full mode only (or --only windows_overhead): it builds the core twice")
    return windows_overhead(quick)
