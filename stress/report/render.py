"""The report as terminal tables (rich) and as Markdown."""
from __future__ import annotations

from typing import Any

from ..perfcounters import EVENT_NAMES, NOT_SUPPORTED
from ..words import new_table
from .analysis import NOT_RECORDED, _num
from .plots import _title, _us_label

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
    ] + [("could not read", pr) for pr in rep.get("problems") or []]


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


def _missing_caption(rep: dict, missing: list[str]) -> str | None:
    """Which perf events have no figure, and why: not supported here, or
    not recorded (a run killed before its final sample)."""
    if not missing:
        return None
    support = rep["perf"].get("support") or {}
    unsupported = [ev for ev in missing if str(support.get(ev, "")).startswith(NOT_SUPPORTED)]
    unrecorded = [ev for ev in missing if ev not in unsupported]
    parts = []
    if unsupported:
        parts.append("not supported here: " + ", ".join(unsupported))
    if unrecorded:
        parts.append(f"{NOT_RECORDED}: " + ", ".join(unrecorded))
    return "; ".join(parts)


_ROLE_TERM_COLS = ("ops", "alloc", "free", "page_alloc", "page_free", "delays")
_ROLE_SHORT = {"page_alloc": "pg+", "page_free": "pg-"}


def _role_rows(rep: dict, cols) -> list[list[str]]:
    return [[r["role"], str(r["threads"]), ", ".join(str(c) for c in r["cpus"])]
            + [_fmt(r["counters"].get(k, 0), "short" if cols is _ROLE_TERM_COLS else "") for k in cols]
            for r in rep.get("roles") or []]


def _role_md_cols(rep: dict) -> list[str]:
    cols: list[str] = []
    for r in rep.get("roles") or []:
        cols += [k for k in r["counters"] if k not in cols]
    return cols


def render_terminal(rep: dict, console=None) -> None:
    from rich.console import Console
    console = console or Console()
    t = new_table(f"memcg-stress report: {_title(rep)}", show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value")
    for k, v in _summary_rows(rep):
        t.add_row(k, v)
    console.print(t)
    th = new_table("Per-thread model counters",
                   caption="rfree: frees of objects other threads sent; pg+/pg-: slab pages allocated/freed; "
                           "fallbk: allocations from the root cache")
    ids = _ID_COLS[:2]
    cols = [c for c in _THREAD_COLS if c[1] != "delays"]      # in report.md and report.json
    for label, _, _ in ids + cols:
        label = _SHORT.get(label, label)
        th.add_column(label, justify="left" if label == "role" else "right", no_wrap=True,
                      min_width=10 if label == "role" else None)
    for row in rep["threads"]:
        th.add_row(*[_thread_cell(row, k, kind or "short") for _, k, kind in ids + cols])
    console.print(th)
    if rep.get("roles"):
        rt = new_table("Per-role counters", caption="ops: each thread's loop iterations (a kworker's works, "
                                                    "an RCU thread's callbacks, an actor's steps)")
        for label in ["role", "threads", "cpus"] + [_ROLE_SHORT.get(k, k) for k in _ROLE_TERM_COLS]:
            rt.add_column(label, justify="left" if label in ("role", "cpus") else "right", no_wrap=True)
        for row in _role_rows(rep, _ROLE_TERM_COLS):
            rt.add_row(*row)
        console.print(rt)
    cols, missing = _perf_cols(rep)
    ph = new_table("Per-thread perf_event counters", caption=_missing_caption(rep, missing))
    for label, _, _ in _ID_COLS + cols:
        ph.add_column(label, justify="left" if label == "role" else "right")
    for row in rep["threads"]:
        ph.add_row(*[_thread_cell(row, k, kind) for _, k, kind in _ID_COLS + cols])
    console.print(ph)
    pt = new_table("perf_event counters (per-thread, summed)")
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
             "## Per-role counters", "",
             _md_table(["role", "threads", "cpus"] + _role_md_cols(rep),
                       _role_rows(rep, _role_md_cols(rep))), "",
             "ops is each thread's loop iterations: a worker's operations, a kworker's works, "
             "an RCU callback thread's callbacks, an actor's steps.", "",
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
    if isinstance(rep.get("windows"), dict):
        from ..coverage import coverage, coverage_text
        parts += ["## Race windows", "", coverage_text(coverage(rep["windows"])), "",
                  _md_table(["window", "opened", "raced"],
                            [[k, _fmt(w.get("opened")), _fmt(w.get("raced"))] for k, w in rep["windows"].items()]), ""]
    plots = rep.get("plots") or {}
    if plots:
        parts += ["## Plots", ""]
        for name, fn in plots.items():
            parts += [f"![{name}]({fn})", ""]
    return "\n".join(parts)
