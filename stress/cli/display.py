"""What a soak shows while it runs: the progress bar on a terminal, the
rcutorture-style stat lines, the violation lines."""
from __future__ import annotations

import math

from ..config import one_line


def human(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def fmt_s(s: float) -> str:
    s = float(s)
    if s == 0:
        return "0s"
    if s < 60:
        return f"{s:g}s"
    h, rem = divmod(int(round(s)), 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s"


def stat_line(ev: dict, rate: float) -> str:
    """One rcutorture-style stat line."""
    return (f"memcg-stress: t: {ev.get('t', 0):8.1f}s ops: {ev.get('ops', 0)} ops/s: {human(rate)} "
            f"online: {ev.get('memcgs_online', 0)} dying: {ev.get('memcgs_dying', 0)} "
            f"caches: {ev.get('child_caches', 0)} gps: {ev.get('grace_periods', 0)} "
            f"ckpts: {ev.get('checkpoints', 0)} violations: {ev.get('violations', 0)}"
            + (f" pages: {ev['slab_pages']} rss: {ev['rss'] / 2**20:.1f}MiB" if "rss" in ev and "slab_pages" in ev else ""))


def violation_line(ev: dict) -> str:
    where = f" cpu {ev['cpu']}" if ev.get("cpu") is not None else ""
    return f"VIOLATION [{ev.get('invariant', '?')}] at {ev.get('t', 0):.3f}s{where}: {one_line(ev.get('message', ''))}"


class Display:
    """Progress bar on a terminal; plain lines otherwise; nothing with --quiet."""

    def __init__(self, duration: float, quiet: bool, console=None):
        from rich.console import Console
        self.console = console or Console(highlight=False)
        self.quiet = quiet
        self.duration = duration
        self.tty = self.console.is_terminal and not quiet
        self.progress = None
        self.task = None
        self.last = (0.0, 0)
        self.rate = 0.0
        self.viol = 0
        self.shown_violations = 0

    def line(self, text: str, style: str | None = None) -> None:
        if self.quiet:
            return
        if self.progress is not None:
            self.progress.console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)
        else:
            print(text, flush=True)

    def start(self) -> None:
        if not self.tty:
            return
        from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        duration = self.duration

        class Remaining(ProgressColumn):
            def render(self, task):
                if not task.total:
                    return Text("until interrupted", style="progress.remaining")
                left = math.ceil(max(0.0, task.total - (task.elapsed or 0.0)))
                return Text(f"{int(left) // 3600}:{int(left) % 3600 // 60:02d}:{int(left) % 60:02d} left",
                            style="progress.remaining")

        class SoakProgress(Progress):
            def get_renderables(self):
                for t in self.tasks:
                    if t.total and t.elapsed is not None:
                        t.completed = min(t.total, t.elapsed)
                        if t.elapsed >= t.total and t.description == "soak":
                            t.description = "draining"
                return super().get_renderables()

        self.progress = SoakProgress(
            TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(), Remaining(),
            TextColumn("{task.fields[rate]} ops/s"), TextColumn("{task.fields[viol]}"),
            console=self.console, refresh_per_second=4)
        self.task = self.progress.add_task("soak", total=duration or None, rate="-", viol="no violations")
        self.progress.start()

    def stat(self, ev: dict) -> None:
        t, ops = float(ev.get("t", 0.0)), int(ev.get("ops", 0))
        t0, ops0 = self.last
        self.rate = (ops - ops0) / (t - t0) if t > t0 else 0.0
        self.last = (t, ops)
        self.viol = int(ev.get("violations", self.viol))
        if self.progress is not None:
            self.progress.update(self.task, rate=human(self.rate),
                                 viol=f"[red]{self.viol} violations" if self.viol else "no violations")
        self.line(stat_line(ev, self.rate))

    def violation(self, ev: dict) -> None:
        self.shown_violations += 1
        if self.shown_violations <= 20:
            self.line(violation_line(ev), style="bold red")
        elif self.shown_violations == 21:
            self.line("(further violations are in events.jsonl)")
        if self.progress is not None:
            self.progress.update(self.task, viol=f"[red]{max(self.viol, self.shown_violations)} violations")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
