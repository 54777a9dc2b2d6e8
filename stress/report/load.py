"""Loading a run folder for the report (through stress.runfolder, the only
code that knows its file names)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import runfolder

class ReportError(Exception):
    """A run folder that cannot be reported on (one line)."""


# ---------------------------------------------------------------- loading --

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
    is still being written (a partial last line) or was cut short.  What
    could not be read is listed, per file, under "problems"; a folder with
    nothing usable left raises ReportError."""
    d = Path(run_dir)
    if not d.is_dir():
        what = "a file, not a folder" if d.exists() else "no such directory"
        raise ReportError(f"{d}: not a run folder ({what})")
    config, p_config = runfolder.inspect_json(d, runfolder.CONFIG_FILE)
    summary, p_summary = runfolder.inspect_json(d, runfolder.SUMMARY_FILE)
    events, p_events = runfolder.inspect_events(d)
    problems = [p for p in (p_config, p_summary) if p] + p_events
    samples: list[dict] = []
    violations: list[dict] = []
    kinds = set()
    for ev in events:
        kind = ev.get("type")
        kinds.add(kind)
        if kind == "stat":
            samples.append({k: v for k, v in ev.items() if k != "type"})
        elif kind == "violation":
            violations.append({k: v for k, v in ev.items() if k != "type"})
    if sum(p.endswith(": missing") for p in problems) == 3:
        raise ReportError(f"{d}: {runfolder.NOT_A_RUN}")
    if summary is None and not samples and not violations:
        raise ReportError(f"{d}: nothing usable to report on: " + "; ".join(problems))
    # a run killed before it wrote summary.json: the verdict from its events
    killed = summary is None and bool(events) and "end" not in kinds
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
            "perf": perf, "threads": threads, "problems": problems, "killed": killed,
            "has_summary": summary is not None}


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
