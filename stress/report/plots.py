"""The report's PNG plots (matplotlib, Agg, no pyplot state)."""
from __future__ import annotations

from pathlib import Path

from .analysis import NOT_RECORDED, _num

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


def _plot_timeline_pair(rep: dict, path: Path, main: tuple, other: tuple, ylabel: str,
                        title: str, what: str) -> None:
    """Two timeline series as steps: main = (key, label, color), drawn
    where recorded; other = (key, label, color), drawn when recorded at
    every such point."""
    fig, ax = _figure()
    tl = rep["timeline"]
    pts = [(t, a, b) for t, a, b in zip(tl["t"], tl.get(main[0]) or [], tl.get(other[0]) or [])
           if _num(a)]
    if pts:
        t = [p[0] for p in pts]
        ax.step(t, [p[1] for p in pts], where="post", label=main[1], linewidth=2, color=main[2])
        if all(_num(p[2]) for p in pts):
            ax.step(t, [p[2] for p in pts], where="post", label=other[1], linewidth=1, color=other[2],
                    alpha=0.7)
        ax.set_xlabel("time (s)")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    else:
        _no_data(ax, what)
    ax.set_title(title + "\n" + _title(rep), fontsize=10)
    fig.tight_layout()
    fig.savefig(path)


def plot_dying(rep: dict, path: Path) -> None:
    _plot_timeline_pair(rep, path, ("memcgs_dying", "dying (offline, not freed)", "tab:red"),
                        ("memcgs_online", "online", "tab:blue"), "memory cgroups",
                        "Dying memcgs over time", "dying memcgs")


def plot_stock(rep: dict, path: Path) -> None:
    """The pages precharged in every cpu's memcg_stock, and the root's page
    counter (its children's charges, stock included), over time."""
    _plot_timeline_pair(rep, path, ("stock_pages", "stock (all cpus)", "tab:green"),
                        ("root_memory", "root page counter", "tab:gray"), "pages",
                        "Charge stock over time", "charge stock")


def plot_partial(rep: dict, path: Path) -> None:
    """SLUB's partial lists over time: pages on the caches' node lists and
    on the cpu partial lists."""
    _plot_timeline_pair(rep, path, ("partial_pages", "node partial lists", "tab:orange"),
                        ("cpu_partial_pages", "cpu partial lists", "tab:brown"), "slab pages",
                        "Partial pages over time", "partial pages")


def plot_windows(rep: dict, path: Path) -> None:
    """Race-window coverage: windows raced against time, and per window
    how often it was opened and raced (log scale)."""
    fig = _new_figure(10.0, 4.5)
    ax_t, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    tl = rep["timeline"]
    ys = tl.get("windows_raced") or []
    pts = [(t, y) for t, y in zip(tl["t"], ys) if isinstance(y, (int, float))]
    win = rep.get("windows")
    if pts:
        ax_t.step([p[0] for p in pts], [p[1] for p in pts], where="post", color="tab:purple")
        ax_t.set_xlabel("time (s)")
        ax_t.set_ylabel("windows raced")
        ax_t.set_ylim(0, (len(win) if isinstance(win, dict) else max(p[1] for p in pts)) + 0.5)
        ax_t.grid(alpha=0.3)
    else:
        _no_data(ax_t, "coverage over time")
    ax_t.set_title("Windows raced over time", fontsize=10)
    if isinstance(win, dict) and win:
        names = list(win)
        idx = list(range(len(names)))
        ax_b.barh([i + 0.2 for i in idx], [max(win[n].get("opened", 0), 0.5) for n in names], height=0.4,
                  color="tab:gray", label="opened")
        ax_b.barh([i - 0.2 for i in idx], [max(win[n].get("raced", 0), 0.5) for n in names], height=0.4,
                  color="tab:red", label="raced")
        ax_b.set_yticks(idx)
        ax_b.set_yticklabels(names, fontsize=7)
        ax_b.set_xscale("log")
        ax_b.set_xlabel("count (log; 0 drawn at 0.5)")
        ax_b.legend(fontsize=8, loc="lower right")
        ax_b.grid(alpha=0.3, axis="x")
    else:
        _no_data(ax_b, "race windows")
    ax_b.set_title("Per window\n" + _title(rep), fontsize=9)
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
