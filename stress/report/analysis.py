"""The report's figures: report.json's content for one loaded run."""
from __future__ import annotations

import math
from typing import Any

from ..perfcounters import EVENT_NAMES, NOT_SUPPORTED
from .load import _find

NOT_RECORDED = "not recorded"

THREAD_COUNTERS = ("alloc", "free", "remote_free", "mail_sent", "page_alloc", "page_free",
                   "tryget_fail", "root_fallback", "create_queued", "charge_fail", "delays",
                   "rcu_read")

# ---------------------------------------------------------------- analysis --

def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _pct(sorted_vals: list[float], q: float) -> float | None:
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(math.ceil(q * len(sorted_vals))) - 1))
    return sorted_vals[k]


def gp_summary(hist: list[int] | None) -> dict:
    """Grace-period latency from the log2 histogram: bucket i = [2^i, 2^(i+1)) us.
    Percentiles are given as the bucket that holds them."""
    if not isinstance(hist, list) or not hist:
        return {"count": NOT_RECORDED, "histogram_us_log2": NOT_RECORDED}
    hist = [int(x) for x in hist]
    n = sum(hist)
    out: dict[str, Any] = {"count": n, "histogram_us_log2": hist}
    if n == 0:
        return out
    cum = 0
    marks = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
    got: dict[str, list[int]] = {}
    for i, c in enumerate(hist):
        cum += c
        for name, q in marks.items():
            if name not in got and cum >= q * n:
                got[name] = [2 ** i, 2 ** (i + 1)]
    out.update({f"{k}_us_bucket": v for k, v in got.items()})
    top = max(i for i, c in enumerate(hist) if c)
    out["max_us_bucket"] = [2 ** top, 2 ** (top + 1)]
    out["mean_us_approx"] = sum(c * 1.5 * 2 ** i for i, c in enumerate(hist)) / n   # bucket midpoints
    return out


def checkpoint_summary(stats: dict) -> dict:
    pauses = stats.get("checkpoint_pause_ns")
    out: dict[str, Any] = {"count": stats.get("checkpoints", NOT_RECORDED),
                           "max_ns": stats.get("checkpoint_max_ns", NOT_RECORDED)}
    if not isinstance(pauses, list):
        out["recent_pauses"] = NOT_RECORDED
        return out
    p = sorted(int(x) for x in pauses if _num(x))
    out["recent_pauses"] = len(p)
    if p:
        out.update({"min_ns": p[0], "p50_ns": _pct(p, 0.5), "p90_ns": _pct(p, 0.9),
                    "p99_ns": _pct(p, 0.99), "max_recent_ns": p[-1],
                    "mean_ns": sum(p) / len(p)})
    return out


def throughput(samples: list[dict]) -> dict:
    """Per-thread ops/s between consecutive stat samples (the first interval
    starts at t=0 with zero ops).  x is the end of each interval."""
    t_prev, prev = 0.0, None
    ts, per, total, dts, deltas = [], [], [], [], []
    for s in samples:
        pt = s.get("per_thread_ops")
        t = s.get("t")
        if not isinstance(pt, list) or not _num(t):
            continue
        if prev is None:
            prev = [0] * len(pt)
        if len(prev) != len(pt):
            prev = (prev + [0] * len(pt))[:len(pt)]
        dt = t - t_prev
        if dt <= 0:
            continue
        d = [int(a) - int(b) for a, b in zip(pt, prev)]
        ts.append(t)
        dts.append(dt)
        deltas.append(d)
        per.append([x / dt for x in d])
        total.append(sum(d) / dt)
        t_prev, prev = t, [int(x) for x in pt]
    return {"t": ts, "dt": dts, "per_thread_delta_ops": deltas, "per_thread_ops_per_s": per,
            "total_ops_per_s": total}


def _series(samples: list[dict], key: str) -> list:
    return [s.get(key) for s in samples]


def _missing_perf(perf: dict | None, ev: str) -> str:
    """What a thread without a count of `ev` says: "not recorded" when the
    run recorded no perf counters (or the event worked but this thread has
    no figure), the reason when the event is not supported here."""
    if not isinstance(perf, dict):
        return NOT_RECORDED
    status = (perf.get("support") or {}).get(ev)
    return status if isinstance(status, str) and status.startswith(NOT_SUPPORTED) else NOT_RECORDED


def rebuilt_verdict(run: dict, n_viol) -> str:
    """The verdict of a run folder without a summary.json, from its events."""
    how = ("killed: no summary.json, rebuilt from events.jsonl" if run.get("killed")
           else "no summary.json, rebuilt from events.jsonl")
    if not run.get("samples") and not run.get("violations"):
        return NOT_RECORDED
    return f"{'violation' if _num(n_viol) and n_viol > 0 else 'no violation recorded'} ({how})"


#: the per-role table's columns first (the rest of a role's counters follow, by name)
ROLE_COUNTERS = ("ops", "alloc", "free", "remote_free", "mail_sent", "page_alloc", "page_free",
                 "root_fallback", "charge_fail", "rcu_read", "delays")
#: roles in the order the engine lays its threads out
ROLE_ORDER = ("worker", "controller", "workqueue", "rcu", "cgroup", "module", "active_memcg", "sysfs")


def roles_table(by_role, threads: list[dict]) -> list[dict]:
    """One row per role: its threads (cpu slots) and each counter summed
    over them, from summary.json's threads_by_role; without it (a killed
    run), from the per-thread rows.  ops is each loop's iterations (a
    worker's alloc, free or send; a kworker's works run; an RCU callback
    thread's callbacks invoked; an actor's steps)."""
    if not isinstance(by_role, dict) or not by_role:
        by_role = {}
        for r in threads:
            if r.get("role") in (None, "none"):
                continue
            row = {"cpu": r["cpu"], "ops": r.get("iterations")}
            row.update({k: r.get(k) for k in THREAD_COUNTERS})
            by_role.setdefault(r["role"], []).append({k: v for k, v in row.items() if _num(v) and v})
    out = []
    for role in sorted(by_role, key=lambda x: (ROLE_ORDER.index(x) if x in ROLE_ORDER else len(ROLE_ORDER), x)):
        rows = [r for r in by_role[role] if isinstance(r, dict)]
        counters: dict[str, int] = {}
        for r in rows:
            for k, v in r.items():
                if k != "cpu" and _num(v):
                    counters[k] = counters.get(k, 0) + v
        ordered = {k: counters.get(k, 0) for k in ROLE_COUNTERS}
        ordered.update({k: counters[k] for k in sorted(counters) if k not in ROLE_COUNTERS})
        out.append({"role": role, "threads": len(rows), "cpus": [r.get("cpu") for r in rows],
                    "counters": ordered})
    return out


def analyze(run: dict) -> dict:
    """report.json's content for one loaded run."""
    stats = run["stats"]
    summary = run["summary"]
    config = run["config"]
    samples = run["samples"]
    nests = ("result",)
    roles = list(stats.get("roles") or [])
    th_stats = list(stats.get("threads") or [])
    perf = run.get("perf")
    perf_threads = {}
    if isinstance(perf, dict):
        for pt in perf.get("threads") or []:
            if isinstance(pt, dict) and pt.get("cpu") is not None:
                perf_threads[pt["cpu"]] = pt
    info = {t.get("cpu"): t for t in (run.get("threads") or []) if isinstance(t, dict)}

    last = samples[-1] if samples else {}
    duration = _find(summary, "duration_s", *nests)
    if not _num(duration) or duration <= 0:
        duration = last.get("t") if _num(last.get("t")) else config.get("duration")
    duration = float(duration) if _num(duration) and duration > 0 else None

    threads = []
    totals: dict[str, Any] = {k: 0 for k in THREAD_COUNTERS}
    totals["iterations"] = 0
    fallback = bool(th_stats) and "alloc" not in th_stats[0]
    for cpu, ts in enumerate(th_stats):
        role = roles[cpu] if cpu < len(roles) else None
        row: dict[str, Any] = {"cpu": cpu, "role": role}
        pinfo = perf_threads.get(cpu, {})
        row["native_id"] = info.get(cpu, {}).get("native_id", pinfo.get("tid"))
        if fallback:
            for k in THREAD_COUNTERS:
                row[k] = NOT_RECORDED
            row["ops"] = ts.get("ops_alloc_free", 0)
            row["iterations"] = NOT_RECORDED
        else:
            for k in THREAD_COUNTERS:
                row[k] = int(ts.get(k, 0))
                totals[k] += row[k]
            row["ops"] = row["alloc"] + row["free"]
            row["iterations"] = int(ts.get("ops", 0))
            totals["iterations"] += row["iterations"]
        row["ops_per_s"] = row["ops"] / duration if duration else None
        counters = pinfo.get("counters") if isinstance(pinfo.get("counters"), dict) else {}
        row["perf"] = {ev: counters.get(ev, _missing_perf(perf, ev)) for ev in EVENT_NAMES}
        tc = counters.get("task_clock_ns")
        row["cpu_util"] = tc / 1e9 / duration if _num(tc) and duration else None
        cyc, ins = counters.get("cycles"), counters.get("instructions")
        row["ipc"] = ins / cyc if _num(cyc) and _num(ins) and cyc > 0 else None
        threads.append(row)
    if fallback:
        totals = {k: NOT_RECORDED for k in totals}
    worker_rows = [r for r in threads if r["role"] == "worker"]
    totals["worker_ops"] = sum(r["ops"] for r in worker_rows)
    totals["worker_alloc"] = sum(r["alloc"] for r in worker_rows) if not fallback else NOT_RECORDED
    totals["worker_free"] = sum(r["free"] for r in worker_rows) if not fallback else NOT_RECORDED

    ops = _find(summary, "ops", *nests)
    if not _num(ops):
        ops = totals["worker_ops"]
    ops_per_s = _find(summary, "ops_per_s", *nests)
    if not _num(ops_per_s):
        ops_per_s = ops / duration if duration else None

    perf_out: dict[str, Any]
    if isinstance(perf, dict):
        perf_out = {"support": perf.get("support", {}), "scope": perf.get("scope", {}),
                    "paranoid": perf.get("paranoid"), "totals": perf.get("totals", {}),
                    "threads": perf.get("threads", [])}
    else:
        perf_out = {"support": {ev: NOT_RECORDED for ev in EVENT_NAMES}, "scope": {}, "paranoid": None,
                    "totals": {ev: NOT_RECORDED for ev in EVENT_NAMES}, "threads": []}

    rss = [s["rss"] for s in samples if _num(s.get("rss"))]
    cpu_s = [s["cpu_s"] for s in samples if _num(s.get("cpu_s"))]
    ctx = [s["ctx_switches"] for s in samples if _num(s.get("ctx_switches"))]
    t_last = last.get("t") if _num(last.get("t")) else None
    process = {
        "cpu_s": cpu_s[-1] if cpu_s else NOT_RECORDED,
        "cpu_cores_busy": (cpu_s[-1] / t_last) if cpu_s and t_last else NOT_RECORDED,
        "rss_max": max(rss) if rss else NOT_RECORDED,
        "rss_last": rss[-1] if rss else NOT_RECORDED,
        "ctx_switches": ctx[-1] if ctx else NOT_RECORDED,
    }
    dying = _series(samples, "memcgs_dying")
    dying_nums = [x for x in dying if _num(x)]
    by_inv = _find(summary, "violations_by_invariant", *nests)
    if not isinstance(by_inv, dict):
        by_inv = {}
        for v in run["violations"]:
            by_inv[v.get("invariant", "?")] = by_inv.get(v.get("invariant", "?"), 0) + 1
    n_viol = _find(summary, "violations", *nests)
    if isinstance(n_viol, list):
        n_viol = len(n_viol)
    if not _num(n_viol):
        # no summary: the events give at least the violations recorded in
        # full and the last stat line's count (the engine counts them all)
        counted = [s["violations"] for s in samples if _num(s.get("violations"))]
        n_viol = max([len(run["violations"])] + counted)
    verdict = _find(summary, "verdict", *nests)
    if not run.get("has_summary", True) or not verdict:
        verdict = rebuilt_verdict(run, n_viol)

    return {
        "run": {
            "dir": run["dir"], "name": run["name"],
            "verdict": verdict, "killed": bool(run.get("killed")),
            "mode": config.get("mode", NOT_RECORDED), "mutant": config.get("mutant"),
            "seed": _find(summary, "seed", *nests) if _find(summary, "seed", *nests) is not None
            else config.get("seed"),
            "workers": config.get("workers") or len(worker_rows) or NOT_RECORDED,
            "duration_s": duration, "drain_s": _find(summary, "drain_s", *nests),
            "ops": ops, "ops_per_s": ops_per_s,
            "violations": n_viol, "violations_by_invariant": by_inv,
            "stats_source": run["stats_source"], "samples": len(samples),
        },
        "problems": list(run.get("problems") or []),
        "threads": threads,
        "roles": roles_table(_find(summary, "threads_by_role", *nests), threads),
        "totals": totals,
        "global": stats.get("global") or NOT_RECORDED,
        "memcgs": {"dying_max": max(dying_nums) if dying_nums else NOT_RECORDED,
                   "dying_mean": (sum(dying_nums) / len(dying_nums)) if dying_nums else NOT_RECORDED,
                   "dying_final": dying_nums[-1] if dying_nums else NOT_RECORDED,
                   "online_final": stats.get("memcgs_online", NOT_RECORDED)},
        "grace_periods": {"total": stats.get("grace_periods", NOT_RECORDED),
                          **gp_summary(stats.get("gp_histogram_us_log2"))},
        "checkpoints": checkpoint_summary(stats),
        "delays_taken": stats.get("delays_taken") or NOT_RECORDED,
        "windows": stats.get("windows") or NOT_RECORDED,
        "process": process,
        "perf": perf_out,
        "timeline": {
            "t": _series(samples, "t"),
            "ops": _series(samples, "ops"),
            "per_thread_ops": _series(samples, "per_thread_ops"),
            "memcgs_online": _series(samples, "memcgs_online"),
            "memcgs_dying": dying,
            "child_caches": _series(samples, "child_caches"),
            "stock_pages": _series(samples, "stock_pages"),
            "root_memory": _series(samples, "root_memory"),
            "partial_pages": _series(samples, "partial_pages"),
            "cpu_partial_pages": _series(samples, "cpu_partial_pages"),
            "cpus_online": _series(samples, "cpus_online"),
            "grace_periods": _series(samples, "grace_periods"),
            "checkpoints": _series(samples, "checkpoints"),
            "windows_raced": _series(samples, "windows_raced"),
            "rss": _series(samples, "rss"),
            "cpu_s": _series(samples, "cpu_s"),
            "ctx_switches": _series(samples, "ctx_switches"),
        },
        "throughput": throughput(samples),
    }
