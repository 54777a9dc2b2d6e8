"""`memcg-stress report DIR [DIR_B]`: the performance-counters report of a run.

From a run folder (config.json, events.jsonl with {"type": "stat", ...} and
{"type": "violation", ...} lines, summary.json) it renders

- a terminal table (rich),
- report.md and report.json,
- PNG plots (matplotlib, Agg, no pyplot state): per-thread throughput over
  time (from per_thread_ops deltas between stat samples), dying memcgs over
  time, the grace-period latency histogram and the checkpoint pause
  histogram.

With two folders (typically legacy against reparent) it writes compare.md,
compare.json and compare_dying_memcgs.png: both runs' dying memcgs over time
on one plot, and their figures side by side.

    write_report(run_dir, out=None) -> dict      # what the soak calls at the end
    write_comparison(dir_a, dir_b, out=None) -> dict
    main(argv) -> int                            # the CLI entry

The final counters (stresscore._core.live_stats()) are read from
summary.json key "stats"; without them the report falls back to the last
stat event (thread-level counters and histograms are then "not recorded").
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from .perfcounters import EVENT_NAMES, NOT_SUPPORTED

NOT_RECORDED = "not recorded"

THREAD_COUNTERS = ("alloc", "free", "remote_free", "mail_sent", "page_alloc", "page_free",
                   "tryget_fail", "root_fallback", "create_queued", "charge_fail", "delays",
                   "rcu_read")

PLOTS = {
    "throughput": "throughput.png",
    "dying_memcgs": "dying_memcgs.png",
    "gp_histogram": "gp_histogram.png",
    "checkpoint_pauses": "checkpoint_pauses.png",
}
COMPARE_PLOT = "compare_dying_memcgs.png"


class ReportError(Exception):
    """A run folder that cannot be reported on (one line)."""


# ---------------------------------------------------------------- loading --

def _read_json(path: Path) -> dict | None:
    try:
        with open(path) as f:
            d = json.load(f)
        return d if isinstance(d, dict) else None
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ReportError(f"{path}: cannot read ({e})") from None


def _find(d: dict | None, key: str, *nests: str) -> Any:
    """d[key], or d[n][key] for the nested dicts `nests` (e.g. "result")."""
    if not isinstance(d, dict):
        return None
    if key in d:
        return d[key]
    for n in nests:
        sub = d.get(n)
        if isinstance(sub, dict) and key in sub:
            return sub[key]
    return None


def load_run(run_dir: str | os.PathLike) -> dict:
    """Everything the report needs from a run folder, tolerant of a run that
    is still being written (a partial last line) or was cut short."""
    d = Path(run_dir)
    if not d.is_dir():
        raise ReportError(f"{d}: not a run folder (no such directory)")
    config = _read_json(d / "config.json")
    summary = _read_json(d / "summary.json")
    samples: list[dict] = []
    violations: list[dict] = []
    ev_path = d / "events.jsonl"
    if ev_path.exists():
        with open(ev_path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue            # a partial line of a run being written
                if not isinstance(ev, dict):
                    continue
                kind = ev.get("type")
                if kind == "stat":
                    samples.append({k: v for k, v in ev.items() if k != "type"})
                elif kind == "violation":
                    violations.append({k: v for k, v in ev.items() if k != "type"})
    if config is None and summary is None and not samples:
        raise ReportError(f"{d}: not a run folder (no config.json, summary.json or events.jsonl)")
    nests = ("result",)
    # a complete timeline in the summary (if the soak stores one) beats the stat lines
    s_samples = _find(summary, "samples", *nests)
    if isinstance(s_samples, list) and len(s_samples) > len(samples):
        samples = [s for s in s_samples if isinstance(s, dict)]
    final = _find(summary, "final_sample", *nests)
    if isinstance(final, dict):
        samples.append(final)
    samples = _clean_samples(samples)
    if config is None:
        config = _find(summary, "config", *nests) if isinstance(_find(summary, "config", *nests), dict) else {}
    stats = _find(summary, "stats", *nests)
    stats_source = "summary.json"
    if not isinstance(stats, dict) or not stats.get("threads"):
        last = samples[-1] if samples else None
        if isinstance(last, dict) and isinstance(last.get("stats"), dict):
            stats, stats_source = last["stats"], "last stat event (stats)"
        else:
            stats, stats_source = _stats_from_sample(last), "last stat event"
    perf = _find(summary, "perf", *nests)
    if not isinstance(perf, dict):
        perf = stats.get("perf") if isinstance(stats.get("perf"), dict) else None
    if not isinstance(perf, dict):
        perf = next((s["perf"] for s in reversed(samples) if isinstance(s.get("perf"), dict)), None)
    threads = _find(summary, "threads", *nests)
    if not (isinstance(threads, list) and all(isinstance(t, dict) for t in threads)):
        threads = None
    s_viol = _find(summary, "violations", *nests)
    if isinstance(s_viol, list) and len(s_viol) > len(violations):
        violations = [v for v in s_viol if isinstance(v, dict)]
    return {"dir": str(d), "name": d.resolve().name, "config": config or {}, "summary": summary or {},
            "samples": samples, "violations": violations, "stats": stats, "stats_source": stats_source,
            "perf": perf, "threads": threads}


def _clean_samples(samples: list[dict]) -> list[dict]:
    out = []
    seen = set()
    for s in samples:
        t = s.get("t")
        if not isinstance(t, (int, float)):
            continue
        key = (t, s.get("ops"))
        if key in seen:
            continue
        seen.add(key)
        out.append(s)
    out.sort(key=lambda s: s["t"])
    return out


def _stats_from_sample(s: dict | None) -> dict:
    """The final counters when summary.json has no "stats": what a stat line
    carries (worker ops, memcg counts, grace periods, checkpoints)."""
    if not s:
        return {"threads": [], "roles": [], "global": {}}
    per = s.get("per_thread_ops") or []
    return {
        "threads": [{"ops_alloc_free": int(x)} for x in per],
        "roles": ["worker"] * len(per),
        "global": {},
        "memcgs_online": s.get("memcgs_online"),
        "memcgs_dying": s.get("memcgs_dying"),
        "child_caches": s.get("child_caches"),
        "grace_periods": s.get("grace_periods"),
        "checkpoints": s.get("checkpoints"),
        "violations": s.get("violations"),
    }


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
        row["perf"] = {ev: counters.get(ev, NOT_SUPPORTED if perf else NOT_RECORDED) for ev in EVENT_NAMES}
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
        n_viol = len(run["violations"])

    return {
        "run": {
            "dir": run["dir"], "name": run["name"],
            "verdict": _find(summary, "verdict", *nests) or NOT_RECORDED,
            "mode": config.get("mode", NOT_RECORDED), "mutant": config.get("mutant"),
            "seed": _find(summary, "seed", *nests) if _find(summary, "seed", *nests) is not None
            else config.get("seed"),
            "workers": config.get("workers") or len(worker_rows) or NOT_RECORDED,
            "duration_s": duration, "drain_s": _find(summary, "drain_s", *nests),
            "ops": ops, "ops_per_s": ops_per_s,
            "violations": n_viol, "violations_by_invariant": by_inv,
            "stats_source": run["stats_source"], "samples": len(samples),
        },
        "threads": threads,
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
        "process": process,
        "perf": perf_out,
        "timeline": {
            "t": _series(samples, "t"),
            "ops": _series(samples, "ops"),
            "per_thread_ops": _series(samples, "per_thread_ops"),
            "memcgs_online": _series(samples, "memcgs_online"),
            "memcgs_dying": dying,
            "child_caches": _series(samples, "child_caches"),
            "grace_periods": _series(samples, "grace_periods"),
            "checkpoints": _series(samples, "checkpoints"),
            "rss": _series(samples, "rss"),
            "cpu_s": _series(samples, "cpu_s"),
            "ctx_switches": _series(samples, "ctx_switches"),
        },
        "throughput": throughput(samples),
    }


# ---------------------------------------------------------------- plots --

def _new_figure(w: float, h: float):
    """A Figure on the Agg canvas, without pyplot or the global backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _figure(w=8.0, h=4.5):
    fig = _new_figure(w, h)
    return fig, fig.subplots()


def _no_data(ax, what: str):
    ax.text(0.5, 0.5, f"{what}: {NOT_RECORDED}", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _title(rep: dict) -> str:
    r = rep["run"]
    m = f", mutant {r['mutant']}" if r.get("mutant") else ""
    return f"{r['name']} ({r['mode']}{m}, {r['workers']} workers, seed {r['seed']})"


def plot_throughput(rep: dict, path: Path) -> None:
    fig, ax = _figure()
    tp = rep["throughput"]
    if tp["t"]:
        x = [0.0] + tp["t"]
        nthreads = max(len(p) for p in tp["per_thread_ops_per_s"])
        for i in range(nthreads):
            y = [p[i] if i < len(p) else 0 for p in tp["per_thread_ops_per_s"]]
            ax.stairs([v / 1e6 for v in y], x, label=f"worker {i}", linewidth=1.4)
        ax.stairs([v / 1e6 for v in tp["total_ops_per_s"]], x, label="total", color="black",
                  linestyle="--", linewidth=1.2)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("ops/s (millions, alloc + free)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2 if nthreads > 6 else 1, loc="best")
    else:
        _no_data(ax, "throughput")
    ax.set_title("Throughput per worker thread\n" + _title(rep), fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def plot_dying(rep: dict, path: Path) -> None:
    fig, ax = _figure()
    tl = rep["timeline"]
    pts = [(t, d, o) for t, d, o in zip(tl["t"], tl["memcgs_dying"], tl["memcgs_online"]) if _num(d)]
    if pts:
        t = [p[0] for p in pts]
        ax.step(t, [p[1] for p in pts], where="post", label="dying (offline, not freed)", linewidth=2,
                color="tab:red")
        if all(_num(p[2]) for p in pts):
            ax.step(t, [p[2] for p in pts], where="post", label="online", linewidth=1, color="tab:blue",
                    alpha=0.7)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("memory cgroups")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    else:
        _no_data(ax, "dying memcgs")
    ax.set_title("Dying memcgs over time\n" + _title(rep), fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def _us_label(us: int) -> str:
    if us >= 1_000_000:
        return f"{us // 1_000_000}s"
    if us >= 1000:
        return f"{us // 1000}ms"
    return f"{us}us"


def plot_gp_histogram(rep: dict, path: Path) -> None:
    fig, ax = _figure()
    hist = rep["grace_periods"].get("histogram_us_log2")
    if isinstance(hist, list) and sum(hist) > 0:
        nz = [i for i, c in enumerate(hist) if c]
        lo, hi = nz[0], nz[-1]
        idx = list(range(lo, hi + 1))
        ax.bar(idx, [hist[i] for i in idx], width=0.85, color="tab:green", align="center")
        ax.set_xticks(idx)
        ax.set_xticklabels([_us_label(2 ** i) for i in idx], rotation=45, ha="right", fontsize=8)
        ax.set_xlabel("grace-period latency (bucket lower bound, log2 buckets)")
        ax.set_ylabel("grace periods")
        ax.grid(alpha=0.3, axis="y")
    else:
        _no_data(ax, "grace-period histogram")
    g = rep["grace_periods"]
    ax.set_title(f"Grace-period latency ({g.get('count')} grace periods)\n" + _title(rep), fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def plot_checkpoint_pauses(rep: dict, path: Path, pauses_ns: list | None) -> None:
    fig, ax = _figure()
    vals = sorted(x / 1000.0 for x in (pauses_ns or []) if _num(x) and x > 0)
    if vals:
        lo, hi = vals[0], vals[-1]
        if hi / lo < 1.5:
            bins = 10
            ax.hist(vals, bins=bins, color="tab:purple")
        else:
            n = 30
            edges = [lo * (hi / lo) ** (i / n) for i in range(n + 1)]
            edges[-1] *= 1.0001
            ax.hist(vals, bins=edges, color="tab:purple")
            ax.set_xscale("log")
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("checkpoint pause (us, stop-the-world)")
        ax.set_ylabel("checkpoints")
        mx = rep["checkpoints"].get("max_ns")
        if _num(mx) and mx > 0:
            ax.axvline(mx / 1000.0, color="black", linestyle=":", label=f"max {mx / 1e6:.2f} ms")
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    else:
        _no_data(ax, "checkpoint pauses")
    c = rep["checkpoints"]
    ax.set_title(f"Checkpoint pauses ({len(vals)} recent of {c.get('count')})\n" + _title(rep), fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def plot_compare_dying(reps: list[dict], path: Path) -> None:
    fig = _new_figure(12, 4.8)
    ax, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    colors = ["tab:red", "tab:blue", "tab:orange", "tab:green"]
    any_data = False
    for i, rep in enumerate(reps):
        tl = rep["timeline"]
        pts = [(t, d) for t, d in zip(tl["t"], tl["memcgs_dying"]) if _num(d) and _num(t)]
        if not pts:
            continue
        any_data = True
        r = rep["run"]
        ax.step([p[0] for p in pts], [p[1] for p in pts], where="post", linewidth=2,
                color=colors[i % len(colors)],
                label=r["mode"] if r["name"] == r["mode"] else f"{r['mode']} ({r['name']})")
    if any_data:
        ax.set_xlabel("time (s)")
        ax.set_ylabel("dying memcgs (offline, not freed)")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    else:
        _no_data(ax, "dying memcgs")
    ax.set_title("Dying memcgs over time", fontsize=11)
    # side by side: the figures that tell the story
    labels = ["peak dying", "mean dying", "Mops/s"]
    width = 0.8 / max(1, len(reps))
    for i, rep in enumerate(reps):
        m = rep["memcgs"]
        vals = [m["dying_max"], m["dying_mean"], (rep["run"]["ops_per_s"] or 0) / 1e6]
        vals = [v if _num(v) else 0 for v in vals]
        xs = [j + (i - (len(reps) - 1) / 2) * width for j in range(len(labels))]
        bars = ax2.bar(xs, vals, width=width, color=colors[i % len(colors)], label=rep["run"]["mode"])
        for b, v in zip(bars, vals):
            ax2.annotate(f"{v:.3g}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                         va="bottom", fontsize=8)
    ax2.set_xticks(range(len(labels)))
    ax2.set_xticklabels(labels)
    ax2.grid(alpha=0.3, axis="y")
    ax2.legend(fontsize=9)
    ax2.set_title("Side by side", fontsize=11)
    fig.suptitle(" vs ".join(f"{r['run']['mode']}" for r in reps)
                 + ": removed cgroups pinned by their slab caches", fontsize=12)
    fig.tight_layout()
    fig.savefig(path)


# ---------------------------------------------------------------- rendering --

def _fmt(v: Any, kind: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, list):
        if len(v) == 2 and all(_num(x) for x in v) and kind == "us_bucket":
            return f"[{_us_label(int(v[0]))}, {_us_label(int(v[1]))})"
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items()) or "-"
    if not _num(v):
        return str(v)
    if kind == "short":
        for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(v) >= div:
                return f"{v / div:.3g}{suf}"
        return f"{v:.3g}" if isinstance(v, float) else str(int(v))
    if kind == "ns":
        if v >= 1e9:
            return f"{v / 1e9:.3f} s"
        return f"{v / 1e6:.3f} ms" if v >= 1e5 else f"{v / 1e3:.1f} us"
    if kind == "bytes":
        return f"{v / 2 ** 20:.1f} MiB"
    if kind == "pct":
        return f"{100 * v:.1f}%"
    if kind == "s":
        return f"{v:.3f} s"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}" if abs(v) < 1e6 else f"{v:,.0f}"
    return f"{int(v):,}"


def _summary_rows(rep: dict) -> list[tuple[str, str]]:
    r, g, c, p, m = rep["run"], rep["grace_periods"], rep["checkpoints"], rep["process"], rep["memcgs"]
    return [
        ("verdict", _fmt(r["verdict"])),
        ("mode", _fmt(r["mode"]) + (f" (mutant {r['mutant']})" if r.get("mutant") else "")),
        ("seed", _fmt(r["seed"]) if not _num(r["seed"]) else str(r["seed"])),
        ("workers", _fmt(r["workers"])),
        ("running phase", _fmt(r["duration_s"], "s")),
        ("drain", _fmt(r["drain_s"], "s")),
        ("ops (alloc + free)", _fmt(r["ops"])),
        ("ops/s", _fmt(r["ops_per_s"])),
        ("violations", _fmt(r["violations"]) + (f" ({_fmt(r['violations_by_invariant'])})"
                                                if r["violations_by_invariant"] else "")),
        ("dying memcgs: peak / mean / final", f"{_fmt(m['dying_max'])} / {_fmt(m['dying_mean'])} / "
                                              f"{_fmt(m['dying_final'])}"),
        ("grace periods", _fmt(g.get("total"))),
        ("GP latency p50 / p99 / max (bucket)",
         " / ".join(_fmt(g.get(k), "us_bucket") for k in ("p50_us_bucket", "p99_us_bucket", "max_us_bucket"))),
        ("checkpoints", _fmt(c.get("count"))),
        ("checkpoint pause p50 / p99 / max",
         " / ".join(_fmt(c.get(k), "ns") for k in ("p50_ns", "p99_ns", "max_ns"))),
        ("process CPU time", _fmt(p["cpu_s"], "s")),
        ("process cores busy", _fmt(p["cpu_cores_busy"])),
        ("process RSS max", _fmt(p["rss_max"], "bytes")),
        ("context switches (psutil: main thread only)", _fmt(p["ctx_switches"])),
        ("context switches (perf: run threads)",
         _fmt((rep["perf"].get("totals") or {}).get("context_switches", NOT_RECORDED))),
        ("counters from", r["stats_source"]),
    ]


_ID_COLS = [("cpu", "cpu", ""), ("role", "role", ""), ("tid", "native_id", "raw")]
_THREAD_COLS = [("alloc", "alloc", ""), ("free", "free", ""), ("remote free", "remote_free", ""),
                ("sent", "mail_sent", ""), ("pages alloc", "page_alloc", ""), ("pages free", "page_free", ""),
                ("root fallbk", "root_fallback", ""), ("charge fail", "charge_fail", ""),
                ("delays", "delays", ""), ("ops/s", "ops_per_s", "")]
# terminal headers (one word each, so that the table fits 80 columns)
_SHORT = {"remote free": "rfree", "pages alloc": "pg+", "pages free": "pg-", "root fallbk": "fallbk",
          "charge fail": "chgfail"}
_PERF_COLS = [("task-clock", "task_clock_ns", "ns"), ("CPU", "cpu_util", "pct"),
              ("ctx sw", "context_switches", ""), ("migr", "cpu_migrations", ""),
              ("faults", "page_faults", ""), ("cycles", "cycles", ""), ("instr", "instructions", ""),
              ("IPC", "ipc", ""), ("cache miss", "cache_misses", "")]


def _perf_cols(rep: dict) -> tuple[list, list[str]]:
    """The perf columns some thread has a number for, and the events none has."""
    have = {ev for row in rep["threads"] for ev, v in row["perf"].items() if _num(v)}
    cols, missing = [], []
    for label, key, kind in _PERF_COLS:
        dep = {"cpu_util": "task_clock_ns", "ipc": "instructions"}.get(key, key)
        if dep in have or (key == "ipc" and "cycles" in have and dep in have):
            cols.append((label, key, kind))
        elif key not in ("cpu_util", "ipc"):
            missing.append(key)
    return cols, missing


def _thread_cell(row: dict, key: str, kind: str) -> str:
    if key in row:
        v = row[key]
        if key == "ipc":
            return f"{v:.2f}" if _num(v) else "-"
        if kind == "raw":
            return "-" if v is None else str(v)
        return _fmt(v, kind)
    return _fmt(row["perf"].get(key), kind)


def _perf_support_rows(rep: dict) -> list[tuple[str, str]]:
    perf = rep["perf"]
    rows = []
    for ev in EVENT_NAMES:
        st = perf["support"].get(ev, NOT_RECORDED)
        scope = (perf.get("scope") or {}).get(ev)
        if st == "ok" and scope == "user":
            st = "ok (user space only: perf_event_paranoid)"
        tot = (perf.get("totals") or {}).get(ev)
        rows.append((ev, st, _fmt(tot, "ns" if ev == "task_clock_ns" else "")))
    return rows


def render_terminal(rep: dict, console=None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    console = console or Console()
    t = Table(title=f"memcg-stress report: {_title(rep)}", show_header=False, title_justify="left")
    t.add_column("what", style="bold")
    t.add_column("value")
    for k, v in _summary_rows(rep):
        t.add_row(k, v)
    console.print(t)
    th = Table(title="Per-thread model counters", title_justify="left", box=box.SIMPLE_HEAD,
               caption="rfree: frees of objects other threads sent; pg+/pg-: slab pages allocated/freed; "
                       "fallbk: allocations from the root cache", caption_justify="left",
               pad_edge=False, padding=(0, 1), collapse_padding=True, show_edge=False)
    ids = _ID_COLS[:2]
    cols = [c for c in _THREAD_COLS if c[1] != "delays"]      # in report.md and report.json
    for label, _, _ in ids + cols:
        label = _SHORT.get(label, label)
        th.add_column(label, justify="left" if label == "role" else "right", no_wrap=True,
                      min_width=10 if label == "role" else None)
    for row in rep["threads"]:
        th.add_row(*[_thread_cell(row, k, kind or "short") for _, k, kind in ids + cols])
    console.print(th)
    cols, missing = _perf_cols(rep)
    ph = Table(title="Per-thread perf_event counters", title_justify="left", box=box.SIMPLE_HEAD,
               pad_edge=False, padding=(0, 1), collapse_padding=True, show_edge=False,
               caption=("not supported here: " + ", ".join(missing)) if missing else None,
               caption_justify="left")
    for label, _, _ in _ID_COLS + cols:
        ph.add_column(label, justify="left" if label == "role" else "right")
    for row in rep["threads"]:
        ph.add_row(*[_thread_cell(row, k, kind) for _, k, kind in _ID_COLS + cols])
    console.print(ph)
    pt = Table(title="perf_event counters (per-thread, summed)", title_justify="left")
    pt.add_column("event")
    pt.add_column("status")
    pt.add_column("total", justify="right")
    for ev, st, tot in _perf_support_rows(rep):
        pt.add_row(ev, st, tot)
    console.print(pt)
    if rep.get("files"):
        console.print("written: " + ", ".join(rep["files"]))


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|")
    out = ["| " + " | ".join(esc(h) for h in header) + " |",
           "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def render_markdown(rep: dict) -> str:
    parts = [f"# memcg-stress report: {rep['run']['name']}", "",
             f"{_title(rep)}", "", "## Summary", "",
             _md_table(["", "value"], [list(r) for r in _summary_rows(rep)]), "",
             "## Per-thread model counters", "",
             _md_table([c[0] for c in _ID_COLS + _THREAD_COLS],
                       [[_thread_cell(row, k, kind) for _, k, kind in _ID_COLS + _THREAD_COLS]
                        for row in rep["threads"]]), "",
             "ops/s is alloc + free over the running phase.", "",
             "## Per-thread perf_event counters", "",
             _md_table([c[0] for c in _ID_COLS + _PERF_COLS],
                       [[_thread_cell(row, k, kind) for _, k, kind in _ID_COLS + _PERF_COLS]
                        for row in rep["threads"]]), "",
             "From perf_event_open(2) on each thread; CPU is task-clock over the running phase.", "",
             "## perf_event counters", "",
             f"perf_event_paranoid: {_fmt(rep['perf'].get('paranoid'))}", "",
             _md_table(["event", "status", "total"], [list(r) for r in _perf_support_rows(rep)]), ""]
    tot = rep["totals"]
    parts += ["## Totals (all threads)", "",
              _md_table(["counter", "total"], [[k, _fmt(v)] for k, v in tot.items()]), ""]
    if isinstance(rep["global"], dict):
        parts += ["## Model counters", "",
                  _md_table(["counter", "value"], [[k, _fmt(v)] for k, v in rep["global"].items()]), ""]
    if isinstance(rep["delays_taken"], dict):
        parts += ["## Delays taken per injection point", "",
                  _md_table(["point", "delays"], [[k, _fmt(v)] for k, v in rep["delays_taken"].items()]), ""]
    plots = rep.get("plots") or {}
    if plots:
        parts += ["## Plots", ""]
        for name, fn in plots.items():
            parts += [f"![{name}]({fn})", ""]
    return "\n".join(parts)


# ---------------------------------------------------------------- writing --

def _json_default(o):
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=_json_default)
        f.write("\n")
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def build_report(run_dir: str | os.PathLike) -> tuple[dict, dict]:
    """(report dict, loaded run) without writing anything."""
    run = load_run(run_dir)
    return analyze(run), run


def write_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None, *,
                 console=None, plots: bool = True) -> dict:
    """Write report.json, report.md and the PNG plots for one run folder into
    `out` (default: the run folder) and return the report dict (its "files"
    lists what was written).  Prints the terminal table when `console` (a
    rich Console) is given.  Raises ReportError for a folder that is not a run."""
    rep, run = build_report(run_dir)
    out_dir = Path(out) if out is not None else Path(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    rep["plots"] = {}
    if plots:
        for name, fn in PLOTS.items():
            path = out_dir / fn
            try:
                if name == "throughput":
                    plot_throughput(rep, path)
                elif name == "dying_memcgs":
                    plot_dying(rep, path)
                elif name == "gp_histogram":
                    plot_gp_histogram(rep, path)
                else:
                    plot_checkpoint_pauses(rep, path, run["stats"].get("checkpoint_pause_ns"))
            except Exception as e:      # a plot must not lose the rest of the report
                rep.setdefault("plot_errors", {})[name] = f"{type(e).__name__}: {e}"
                continue
            rep["plots"][name] = fn
            files.append(str(path))
    md = out_dir / "report.md"
    js = out_dir / "report.json"
    files += [str(md), str(js)]
    rep["files"] = files
    _write_text(md, render_markdown(rep))
    _write_json(js, rep)
    if console is not None:
        render_terminal(rep, console)
    return rep


def _compare_rows(reps: list[dict]) -> list[tuple[str, list[str], str]]:
    def g(rep, path):
        v = rep
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        return v

    spec = [
        ("mode", ("run", "mode"), ""), ("mutant", ("run", "mutant"), ""), ("verdict", ("run", "verdict"), ""),
        ("seed", ("run", "seed"), "raw"), ("workers", ("run", "workers"), ""),
        ("running phase", ("run", "duration_s"), "s"), ("ops/s", ("run", "ops_per_s"), "num"),
        ("ops", ("run", "ops"), "num"),
        ("dying memcgs: peak", ("memcgs", "dying_max"), "num"),
        ("dying memcgs: mean", ("memcgs", "dying_mean"), "num"),
        ("dying memcgs: final", ("memcgs", "dying_final"), "num"),
        ("memcgs created", ("global", "memcgs_created"), "num"),
        ("memcgs offlined", ("global", "memcgs_offlined"), "num"),
        ("memcgs freed", ("global", "memcgs_freed"), "num"),
        ("caches reparented", ("global", "reparented"), "num"),
        ("child caches created", ("global", "caches_created"), "num"),
        ("child caches shut down", ("global", "caches_shutdown"), "num"),
        ("grace periods", ("grace_periods", "total"), "num"),
        ("GP latency p50 bucket", ("grace_periods", "p50_us_bucket"), "us_bucket"),
        ("GP latency p99 bucket", ("grace_periods", "p99_us_bucket"), "us_bucket"),
        ("checkpoints", ("checkpoints", "count"), "num"),
        ("checkpoint pause p50", ("checkpoints", "p50_ns"), "ns"),
        ("checkpoint pause max", ("checkpoints", "max_ns"), "ns"),
        ("process CPU time", ("process", "cpu_s"), "s"),
        ("process RSS max", ("process", "rss_max"), "bytes"),
        ("violations", ("run", "violations"), "num"),
    ]
    rows = []
    for label, path, kind in spec:
        vals = [g(r, path) for r in reps]
        cells = [str(v) if kind == "raw" and v is not None else _fmt(v, kind if kind not in ("num", "raw") else "")
                 for v in vals]
        ratio = ""
        if kind in ("num", "s", "ns", "bytes") and len(vals) == 2 and _num(vals[0]) and _num(vals[1]):
            ratio = f"{vals[1] / vals[0]:.2f}x" if vals[0] else ("=" if vals[1] == 0 else "inf")
        rows.append((label, cells, ratio))
    return rows


def write_comparison(dir_a: str | os.PathLike, dir_b: str | os.PathLike,
                     out: str | os.PathLike | None = None, *, console=None) -> dict:
    """Compare two runs (typically legacy against reparent): compare.json,
    compare.md and compare_dying_memcgs.png in `out` (default: dir_a)."""
    rep_a, _ = build_report(dir_a)
    rep_b, _ = build_report(dir_b)
    out_dir = Path(out) if out is not None else Path(dir_a)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot = out_dir / COMPARE_PLOT
    plot_compare_dying([rep_a, rep_b], plot)
    rows = _compare_rows([rep_a, rep_b])
    names = [rep_a["run"]["name"], rep_b["run"]["name"]]
    if names[0] == names[1]:
        names = [f"A: {names[0]}", f"B: {names[1]}"]
    md = ["# memcg-stress comparison", "",
          f"A = {rep_a['run']['dir']} ({rep_a['run']['mode']}), B = {rep_b['run']['dir']} ({rep_b['run']['mode']})", "",
          _md_table(["", names[0], names[1], "B / A"], [[lbl, *cells, ratio] for lbl, cells, ratio in rows]), "",
          f"![dying memcgs]({COMPARE_PLOT})", ""]
    md_path = out_dir / "compare.md"
    js_path = out_dir / "compare.json"
    result = {
        "runs": [{"name": r["run"]["name"], "dir": r["run"]["dir"], "run": r["run"], "memcgs": r["memcgs"],
                  "global": r["global"], "grace_periods": {k: v for k, v in r["grace_periods"].items()
                                                           if k != "histogram_us_log2"},
                  "checkpoints": r["checkpoints"], "process": r["process"],
                  "timeline": {"t": r["timeline"]["t"], "memcgs_dying": r["timeline"]["memcgs_dying"],
                               "memcgs_online": r["timeline"]["memcgs_online"]}}
                 for r in (rep_a, rep_b)],
        "table": [{"figure": lbl, "a": cells[0], "b": cells[1], "b_over_a": ratio} for lbl, cells, ratio in rows],
        "plots": {"dying_memcgs": COMPARE_PLOT},
        "files": [str(plot), str(md_path), str(js_path)],
    }
    _write_text(md_path, "\n".join(md))
    _write_json(js_path, result)
    if console is not None:
        from rich.table import Table
        t = Table(title=f"memcg-stress comparison: A = {names[0]}, B = {names[1]}", title_justify="left")
        t.add_column("")
        t.add_column(names[0], justify="right")
        t.add_column(names[1], justify="right")
        t.add_column("B / A", justify="right")
        for lbl, cells, ratio in rows:
            t.add_row(lbl, *cells, ratio)
        console.print(t)
        console.print("written: " + ", ".join(result["files"]))
    return result


# ---------------------------------------------------------------- CLI --

def _error_line(message: object) -> int:
    print(f"memcg-stress: error: report: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
    return 2


class _Parser(argparse.ArgumentParser):
    """A usage error is one line on stderr and exit code 2 (as the rest of the CLI)."""

    def error(self, message: str):
        _error_line(message)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="memcg-stress report",
        description="Performance-counters report of a run folder; with two folders, a comparison "
                    "(e.g. legacy against reparent).")
    p.add_argument("dir", metavar="DIR", help="run folder (config.json, events.jsonl, summary.json)")
    p.add_argument("dir_b", metavar="DIR_B", nargs="?", help="second run folder to compare with DIR")
    p.add_argument("--out", metavar="DIR", help="where to write the outputs (default: DIR)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots (single run)")
    p.add_argument("--quiet", "-q", action="store_true", help="no terminal table")
    return p


def main(argv: list[str] | None = None) -> int:
    """`memcg-stress report DIR [DIR_B] [--out DIR]`: 0 written, 2 bad usage
    or not a run folder."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:            # --help (0) or a usage error (2)
        return int(e.code) if isinstance(e.code, int) else 2
    from rich.console import Console
    console = None if args.quiet else Console()
    try:
        if args.dir_b:
            write_comparison(args.dir, args.dir_b, args.out, console=console)
        else:
            write_report(args.dir, args.out, console=console, plots=not args.no_plots)
    except (ReportError, OSError) as e:
        return _error_line(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
