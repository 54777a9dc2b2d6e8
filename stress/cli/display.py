"""What a soak shows while it runs: the progress bar on a terminal, the
rcutorture-style stat lines, the violation lines."""
from __future__ import annotations

import math

from ..words import count_by_invariant, flight_recorder_text, violation_text


def human(n: float) -> str:
    for unit, div in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
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


#: the widest stat line (an 80-column terminal; the full sample is in events.jsonl)
STAT_WIDTH = 79


def stat_line(ev: dict, rate: float, width: int = STAT_WIDTH) -> str:
    """One rcutorture-style stat line, short: time, ops, ops/s, memcgs,
    violations and RSS always; checkpoints, grace periods, caches and slab
    pages while they fit in `width` columns.  Counts have thousands
    separators; where even the short form would not fit (days of running),
    the largest counts are shortened (12.35G)."""
    g = lambda k: int(ev.get(k) or 0)
    t = float(ev.get("t", 0))

    def build(short: bool) -> tuple[list[str], list[str], list[str]]:
        num = (lambda n: human(n) if n >= 10**6 else f"{n:,}") if short else (lambda n: f"{n:,}")
        head = [f"t {t:.1f}s" if t < 60 else f"t {fmt_s(t)}", f"ops {num(g('ops'))}", f"{human(rate)}/s",
                f"memcgs {g('memcgs_online'):,}", f"dying {num(g('memcgs_dying'))}"]
        tail = [f"viol {num(g('violations'))}"]
        if "rss" in ev:
            tail.append(f"rss {ev['rss'] / 2**20:,.0f}MiB" if not short else f"rss {ev['rss'] / 2**30:,.1f}GiB")
        extra = ([f"win {g('windows_raced')}/{g('windows_total')}"] if "windows_total" in ev else []) + \
            [f"ckpts {num(g('checkpoints'))}", f"gps {num(g('grace_periods'))}",
                 f"caches {g('child_caches'):,}"]
        if "slab_pages" in ev:
            extra.append(f"pages {num(g('slab_pages'))}")
        return head, tail, extra

    head, tail, extra = build(False)
    if len(" ".join(head + tail)) > width:
        head, tail, extra = build(True)
    parts = head + tail
    for i in range(len(extra)):
        trial = head + extra[:i + 1] + tail
        if len(" ".join(trial)) > width:
            break
        parts = trial
    return " ".join(parts)


def violation_line(ev: dict) -> str:
    return violation_text(ev)


class Display:
    """Progress bar on a terminal; plain lines otherwise; nothing with --quiet."""

    MAX_SHOWN = 20          # violations shown one per line when going on after them

    def __init__(self, duration: float, quiet: bool, console=None, stop_on_violation: bool = False):
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
        self.stop_on_violation = stop_on_violation
        self.others: dict[str, int] = {}

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

    def violation(self, ev: dict, roles: list[str] | None = None) -> None:
        """A violation as it is found.  Stopping at the first one: that one
        in full (with the flight recorder's last events in words), the
        others found with it only counted (see finish()).  Going on: the
        first MAX_SHOWN, each on one line."""
        self.shown_violations += 1
        inv = str(ev.get("invariant", "?"))
        if self.stop_on_violation:
            if self.shown_violations == 1:
                self.line(violation_line(ev), style="bold red")
                for ln in flight_recorder_text(ev, roles):
                    self.line("  " + ln)
            else:
                self.others[inv] = self.others.get(inv, 0) + 1
        elif self.shown_violations <= self.MAX_SHOWN:
            self.line(violation_line(ev), style="bold red")
        elif self.shown_violations == self.MAX_SHOWN + 1:
            self.line("(further violations are in events.jsonl)")
        if self.progress is not None:
            self.progress.update(self.task, viol=f"[red]{max(self.viol, self.shown_violations)} violations")

    def finish(self) -> None:
        """After the run: the one-line count of the violations found with the first."""
        n = sum(self.others.values())
        if n:
            self.line(f"and {n:,} more violation{'s' if n != 1 else ''} found with it "
                      f"({count_by_invariant(self.others)}; all in events.jsonl)")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
