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

The command line (`memcg-stress report`) is stress.cli.report.  Inside:
load.py reads the run folder (through stress.runfolder), analysis.py makes
the figures, plots.py the PNGs, render.py the tables and the Markdown,
write.py writes them.

The final counters (stresscore._core.live_stats()) are read from
summary.json key "stats"; without them the report falls back to the last
stat event (thread-level counters and histograms are then "not recorded")."""
from .analysis import NOT_RECORDED, THREAD_COUNTERS, analyze, checkpoint_summary, gp_summary, throughput
from .load import ReportError, load_run
from .plots import (plot_checkpoint_pauses, plot_compare_dying, plot_dying, plot_gp_histogram,
                    plot_throughput)
from .render import render_markdown, render_terminal
from .write import COMPARE_PLOT, PLOTS, build_report, write_comparison, write_report

__all__ = ["COMPARE_PLOT", "NOT_RECORDED", "PLOTS", "THREAD_COUNTERS", "ReportError", "analyze", "build_report",
           "checkpoint_summary", "gp_summary", "load_run", "plot_checkpoint_pauses", "plot_compare_dying",
           "plot_dying", "plot_gp_histogram", "plot_throughput", "render_markdown", "render_terminal",
           "throughput", "write_comparison", "write_report"]
