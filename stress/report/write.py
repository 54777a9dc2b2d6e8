"""Writing a report (report.md, report.json, the PNGs) and a comparison
of two runs (compare.md, compare.json, compare_dying_memcgs.png)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .analysis import _num, analyze
from .load import load_run
from .plots import (plot_checkpoint_pauses, plot_compare_dying, plot_dying, plot_gp_histogram, plot_partial,
                    plot_stock, plot_throughput, plot_windows)
from .render import _fmt, _md_table, render_markdown, render_terminal

PLOTS = {
    "throughput": "throughput.png",
    "dying_memcgs": "dying_memcgs.png",
    "gp_histogram": "gp_histogram.png",
    "checkpoint_pauses": "checkpoint_pauses.png",
    "stock": "memcg_stock.png",
    "partial": "partial_pages.png",
    "windows": "race_windows.png",
}
COMPARE_PLOT = "compare_dying_memcgs.png"


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
                elif name == "stock":
                    plot_stock(rep, path)
                elif name == "partial":
                    plot_partial(rep, path)
                elif name == "windows":
                    plot_windows(rep, path)
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
                  "problems": r.get("problems") or [],
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
        from ..words import new_table
        t = new_table(f"memcg-stress comparison: A = {names[0]}, B = {names[1]}")
        t.add_column("")
        t.add_column(names[0], justify="right")
        t.add_column(names[1], justify="right")
        t.add_column("B / A", justify="right")
        for lbl, cells, ratio in rows:
            t.add_row(lbl, *cells, ratio)
        console.print(t)
        console.print("written: " + ", ".join(result["files"]))
    return result
