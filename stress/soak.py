"""`memcg-stress soak` and `memcg-stress replay`: configuration layers, live
display, signal handling and the run folder.

Configuration is resolved in layers, later ones winning:
Config() defaults < --preset < --config FILE (TOML, or a run's config.json)
< command-line options.  Every error is a ConfigError with one line that
names the option (or the file and key) and what is allowed.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import random
import shlex
import signal
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

from .config import (DEFAULT_DELAYS, DELAY_POINTS, MAX_WORKERS, MODES, MUTANTS_ALL, PRESETS, Config,
                     ConfigError, parse_duration)
from .runfolder import RunFolder, config_object, load_config, load_summary, read_events, summary_for, total_violations

EXIT_CLEAN, EXIT_VIOLATION, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: violations recorded in full (with the flight-recorder dump) in events.jsonl;
#: later ones without the dump, and past MAX_VIOLATION_EVENTS only counted.
MAX_FULL_VIOLATIONS = 100
MAX_VIOLATION_EVENTS = 10_000

FIELDS = {f.name for f in dataclasses.fields(Config)}
#: keys a --config file may hold beside Config's fields (the soak options that are not fields)
FILE_ONLY = {"preset", "out", "output", "quiet", "keep_going", "no_delays", "delay"}
ALIASES = {"max_cgroups": "max_memcgs", "output": "out"}
DURATION_KEYS = ("duration", "checkpoint_interval", "stat_interval")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


# ---------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------


def _dur(name: str, value) -> float:
    try:
        return parse_duration(value)
    except ConfigError as e:
        msg = str(e)
        if msg.startswith("duration: "):
            msg = msg[len("duration: "):]
        raise ConfigError(f"{name.replace('_', '-')}: {msg}") from None


def _int(name: str, text) -> int:
    if isinstance(text, bool):
        raise ConfigError(f"{name}: expected a whole number, got {text!r}")
    if isinstance(text, int):
        return text
    try:
        return int(str(text).strip(), 0)
    except ValueError:
        raise ConfigError(f"{name}: {text!r} is not a whole number") from None


def parse_delay(text: str, current: dict[str, tuple[float, float]]) -> tuple[str, tuple[float, float]]:
    """'POINT=PROB:MAX_US' (or 'POINT=PROB', keeping the point's maximum)."""
    form = "POINT=PROB:MAX_US, e.g. reparent_swap=0.3:200"
    if not isinstance(text, str) or "=" not in text:
        raise ConfigError(f"delay: {text!r} is not {form}")
    point, _, spec = text.partition("=")
    point = point.strip().replace("-", "_")
    if point not in DELAY_POINTS:
        raise ConfigError(f"delay: unknown delay point {point!r}; valid: {', '.join(DELAY_POINTS)}")
    prob_s, sep, max_s = spec.partition(":")
    try:
        prob = float(prob_s)
        max_us = float(max_s) if sep else current.get(point, DEFAULT_DELAYS[point])[1]
    except ValueError:
        raise ConfigError(f"delay: {text!r} is not {form}") from None
    if not (0 <= prob <= 1) or not (0 <= max_us <= 1_000_000) or math.isnan(prob) or math.isnan(max_us):
        raise ConfigError(f"delay: {point}: probability must be in [0, 1] and max delay in [0, 1000000] us")
    return point, (prob, max_us)


def _delay_table(where: str, table) -> dict[str, tuple[float, float]]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: delays must be a table of point = [probability, max_us]")
    out = {}
    for p, x in table.items():
        key = p.replace("-", "_")
        if key not in DELAY_POINTS:
            raise ConfigError(f"{where}: delays: unknown delay point {p!r}; valid: {', '.join(DELAY_POINTS)}")
        try:
            out[key] = (float(x[0]), float(x[1]))
        except (TypeError, ValueError, IndexError, KeyError):
            raise ConfigError(f"{where}: delays.{p} must be [probability, max_us]") from None
    return out


def load_file(path: str) -> dict:
    """A --config file: TOML, or JSON when it ends in .json (a run's config.json)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except IsADirectoryError:
        raise ConfigError(f"config: {path!r} is a folder; give a TOML file (or a run's config.json)") from None
    except OSError as e:
        raise ConfigError(f"config: cannot read {path!r}: {e.strerror or _one_line(e)}") from None
    if path.endswith(".json"):
        return config_object(raw, f"config: {path!r}")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config: {path!r} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config: {path!r} is not valid TOML: {_one_line(e)}") from None


@dataclasses.dataclass
class SoakOptions:
    config: Config                    # validated, seed and workers resolved
    out: str | None
    quiet: bool
    preset: str | None
    report: bool = True               # write the performance-counters report at the end


def _check_preset(name) -> str:
    if not isinstance(name, str) or name not in PRESETS:
        raise ConfigError(f"preset: unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return name


def resolve(args) -> SoakOptions:
    """Command-line namespace (soak's options, None where not given) -> SoakOptions."""
    file_name = args.config
    file_data = load_file(file_name) if file_name else {}
    norm: dict = {}
    for k, v in file_data.items():
        key = ALIASES.get(k.replace("-", "_"), k.replace("-", "_"))
        if key not in FIELDS and key not in FILE_ONLY:
            valid = sorted((FIELDS | FILE_ONLY) - {"output"})
            raise ConfigError(f"{file_name}: unknown key {k!r}; valid: {', '.join(valid)}")
        norm[key] = v

    preset = args.preset if args.preset is not None else norm.pop("preset", None)
    norm.pop("preset", None)
    if preset is not None:
        try:
            _check_preset(preset)
        except ConfigError as e:
            raise ConfigError(f"{file_name}: {e}" if args.preset is None else str(e)) from None
    d: dict = copy.deepcopy(PRESETS[preset]) if preset else {}
    delays = dict(DEFAULT_DELAYS)
    delays.update(d.pop("delays", {}))

    # the file's layer
    out = quiet = None
    try:
        for key in DURATION_KEYS:
            if key in norm:
                norm[key] = _dur(key, norm[key])
        out = norm.pop("out", None)
        if out is not None and not isinstance(out, str):
            raise ConfigError(f"out: expected a folder name, got {out!r}")
        quiet = norm.pop("quiet", None)
        keep_going = norm.pop("keep_going", None)
        no_delays = norm.pop("no_delays", None)
        for name, val in (("quiet", quiet), ("keep_going", keep_going), ("no_delays", no_delays)):
            if val is not None and not isinstance(val, bool):
                raise ConfigError(f"{name.replace('_', '-')}: expected true or false, got {val!r}")
        if keep_going is not None:
            norm["stop_on_violation"] = not keep_going
        if no_delays:
            norm["delay_injection"] = False
        if "delays" in norm:
            delays.update(_delay_table("delays", norm.pop("delays")))
        dl = norm.pop("delay", [])
        for item in [dl] if isinstance(dl, str) else dl if isinstance(dl, list) else [dl]:
            p, pm = parse_delay(item, delays)
            delays[p] = pm
        if "mutant" in norm and isinstance(norm["mutant"], str) and norm["mutant"].lower() == "none":
            norm["mutant"] = None
        d.update(norm)
        if file_name:
            Config.from_dict({**d, "delays": delays}, where=file_name)
    except ConfigError as e:
        if file_name and not str(e).startswith(file_name):
            raise ConfigError(f"{file_name}: {e}") from None
        raise

    # the command line's layer
    if args.duration is not None:
        d["duration"] = _dur("duration", args.duration)
    if args.checkpoint_interval is not None:
        d["checkpoint_interval"] = _dur("checkpoint_interval", args.checkpoint_interval)
    if args.stat_interval is not None:
        d["stat_interval"] = _dur("stat_interval", args.stat_interval)
    if args.workers is not None:
        n = _int("workers", args.workers)
        if not 1 <= n <= MAX_WORKERS:
            raise ConfigError(f"workers: must be a whole number from 1 to {MAX_WORKERS} "
                              f"(leave it out for one per core), got {n}")
        d["workers"] = n
    for opt in ("max_memcgs", "max_depth", "max_held", "alloc_pct", "send_pct", "controller_interval_us"):
        val = getattr(args, opt, None)
        if val is not None:
            d[opt] = _int(opt.replace("_", "-"), val)
    if args.mode is not None:
        if args.mode not in MODES:
            raise ConfigError(f"mode: unknown mode {args.mode!r}; valid: {', '.join(MODES)}")
        d["mode"] = args.mode
    if args.mutant is not None:
        m = None if args.mutant.lower() == "none" else args.mutant
        if m is not None and m not in MUTANTS_ALL:
            raise ConfigError(f"mutant: unknown mutant {m!r}; valid: none, {', '.join(MUTANTS_ALL)}")
        d["mutant"] = m
    if args.seed is not None:
        d["seed"] = _int("seed", args.seed)
    if args.no_controller:
        d["controller"] = False
    for item in args.delay or []:
        p, pm = parse_delay(item, delays)
        delays[p] = pm
    if args.no_delays:
        d["delay_injection"] = False
    if args.stop_on_violation is not None:
        d["stop_on_violation"] = args.stop_on_violation
    if args.out is not None:
        out = args.out
    if args.quiet:
        quiet = True
    d["delays"] = delays

    config = Config.from_dict(d, where="config")
    if config.seed is None:
        config.seed = random.SystemRandom().randrange(2**63)
    config.workers = config.resolved_workers()
    config.validate()
    return SoakOptions(config=config, out=out, quiet=bool(quiet), preset=preset,
                       report=getattr(args, "report", True) is not False)


# ---------------------------------------------------------------------------
# display
# ---------------------------------------------------------------------------


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
    return f"VIOLATION [{ev.get('invariant', '?')}] at {ev.get('t', 0):.3f}s{where}: {_one_line(ev.get('message', ''))}"


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

    def stopping(self, why: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description="draining")
        self.line(f"memcg-stress: {why}; stopping the threads")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


# ---------------------------------------------------------------------------
# signals
# ---------------------------------------------------------------------------


class Signals:
    """SIGINT/SIGTERM set stop_event (and call on_signal); a third one exits at once."""

    def __init__(self, stop_event: threading.Event, on_signal=None):
        self.stop_event = stop_event
        self.on_signal = on_signal
        self.received: list[str] = []
        self._old = {}

    def _handler(self, signum, frame):
        self.received.append(signal.Signals(signum).name)
        self.stop_event.set()
        if self.on_signal is not None:
            try:
                self.on_signal(signum)
            except Exception:
                pass
        if len(self.received) >= 3:
            os.write(2, b"memcg-stress: third signal; exiting without waiting for the threads\n")
            os._exit(EXIT_INTERRUPTED)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()

    @property
    def interrupted(self) -> bool:
        return bool(self.received)


# ---------------------------------------------------------------------------
# soak
# ---------------------------------------------------------------------------


def describe(c: Config) -> str:
    dur = "until interrupted" if not c.duration else fmt_s(c.duration)
    return (f"seed {c.seed}, {c.workers} workers, mode {c.mode}, mutant {c.mutant or 'none'}, "
            f"duration {dur}, max-memcgs {c.max_memcgs}, max-depth {c.max_depth}, "
            f"delays {'on' if c.delay_injection else 'off'}, "
            f"{'stop on violation' if c.stop_on_violation else 'keep going'}")


def replay_command(folder: Path) -> str:
    return f"memcg-stress replay {shlex.quote(str(folder))}"


def run_soak(opts: SoakOptions, console=None) -> int:
    import stress

    config = opts.config
    folder = RunFolder.create(opts.out, config.seed)
    display = Display(config.duration, opts.quiet, console)
    stop_event = threading.Event()
    state = {"violation_events": 0}
    try:
        folder.write_config(config.to_dict())
        folder.event({"type": "start", "t": 0.0, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      "seed": config.seed, "workers": config.workers, "pid": os.getpid(),
                      "argv": sys.argv, "preset": opts.preset})
        print(f"memcg-stress soak: {describe(config)}", flush=True)
        if not opts.quiet:
            print(f"memcg-stress soak: writing {folder.path}", flush=True)

        def on_event(ev: dict) -> None:
            kind = ev.get("type")
            if kind == "stat":
                folder.event(ev)
                display.stat(ev)
            elif kind == "violation":
                state["violation_events"] += 1
                n = state["violation_events"]
                if n <= MAX_VIOLATION_EVENTS:
                    if n > MAX_FULL_VIOLATIONS and "flight_recorder" in ev:
                        ev = {k: v for k, v in ev.items() if k != "flight_recorder"}
                        ev["flight_recorder_omitted"] = True
                    folder.event(ev)
                elif n == MAX_VIOLATION_EVENTS + 1:
                    folder.event({"type": "note", "t": ev.get("t"),
                                  "message": f"more than {MAX_VIOLATION_EVENTS} violations: "
                                             "further ones are counted in the stat lines, not recorded"})
                display.violation(ev)
            else:
                folder.event(ev)

        def on_signal(signum):
            pass

        with Signals(stop_event, on_signal) as sigs:
            display.start()
            t_start = time.monotonic()
            try:
                result = stress.run(config, on_event=on_event, stop_event=stop_event)
            except BaseException as e:
                display.stop()
                err = f"{type(e).__name__}: {_one_line(e)}"
                folder.event({"type": "error", "t": round(time.monotonic() - t_start, 4), "error": err})
                folder.write_summary({"verdict": "error", "error": err, "seed": config.seed,
                                      "config": config.to_dict()})
                raise
            finally:
                display.stop()
        if sigs.interrupted:
            folder.event({"type": "signal", "signals": sigs.received, "t": round(result.duration_s, 4)})
        summary = summary_for(result, {"interrupted": sigs.interrupted, "signals": sigs.received,
                                       "run_folder": str(folder.path), "preset": opts.preset})
        folder.event({"type": "end", "t": round(result.duration_s + result.drain_s, 4),
                      "verdict": result.verdict, "ops": result.ops,
                      "violations": total_violations(result)})
        folder.write_summary(summary)
    finally:
        folder.close()
    if opts.report:
        try:
            from .report import write_report
            write_report(folder.path)
        except Exception as e:          # the report never changes the verdict
            print(f"memcg-stress soak: report not written: {_one_line(e)}", file=sys.stderr, flush=True)

    if result.verdict == "violation":
        code = EXIT_VIOLATION
    elif sigs.interrupted:
        code = EXIT_INTERRUPTED
    else:
        code = EXIT_CLEAN
    print_result(result, folder.path, opts.quiet, sigs.received, display.console)
    return code


def print_result(result, path: Path, quiet: bool, signals_received: list[str], console) -> None:
    verdict = result.verdict
    if signals_received and verdict == "violation":
        verdict = "violation (interrupted)"
    by_inv = ", ".join(f"{k} {v}" for k, v in sorted(result.violations_by_invariant.items())) or "-"
    if quiet:
        print(f"memcg-stress soak: {verdict}: seed {result.seed}, {result.ops} ops in {result.duration_s:.1f}s "
              f"({human(result.ops_per_s)} ops/s), violations {total_violations(result)} ({by_inv}), "
              f"folder {path}", flush=True)
    else:
        from rich.markup import escape
        from rich.table import Table
        st = result.stats or {}
        table = Table(title="memcg-stress soak", show_header=False, title_justify="left")
        table.add_column("", style="bold")
        table.add_column("")
        style = "green" if verdict == "clean" else "red" if verdict.startswith("violation") else "yellow"
        table.add_row("verdict", f"[{style}]{verdict}[/{style}]")
        table.add_row("seed", str(result.seed))
        table.add_row("running / drain", f"{result.duration_s:.2f}s / {result.drain_s:.3f}s")
        table.add_row("ops", f"{result.ops:,} ({human(result.ops_per_s)} ops/s)")
        table.add_row("grace periods", f"{st.get('grace_periods', 0):,}")
        table.add_row("checkpoints", f"{st.get('checkpoints', 0):,}")
        g = st.get("global") or {}
        table.add_row("memcgs created / freed", f"{g.get('memcgs_created', 0):,} / {g.get('memcgs_freed', 0):,}")
        table.add_row("caches reparented", f"{g.get('reparented', 0):,}")
        table.add_row("violations", f"{total_violations(result)} ({by_inv})")
        if result.violations:
            v = result.violations[0]
            table.add_row("first violation", escape(_one_line(f"[{v.get('invariant')}] {v.get('message', '')}")[:300]))
        if result.hung:
            table.add_row("hung", "[red]the drain did not finish[/red]")
        table.add_row("folder", escape(str(path)))
        console.print(table)
    if result.verdict == "violation":
        print(f"memcg-stress soak: to replay: {replay_command(path)}", flush=True)
    if signals_received:
        print(f"memcg-stress soak: interrupted by {signals_received[0]}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# replay
# ---------------------------------------------------------------------------


def original_outcome(dir: Path) -> tuple[str, set[str]]:
    """(verdict, invariants violated) of a recorded run: summary.json, or
    its events when the run was killed before writing one."""
    s = load_summary(dir)
    if s is not None and "verdict" in s:
        inv = set((s.get("violations_by_invariant") or {}).keys())
        return str(s["verdict"]), inv
    inv = {ev.get("invariant") for ev in read_events(dir) if ev.get("type") == "violation"}
    inv.discard(None)
    return ("violation" if inv else "unknown"), inv


def run_replay(dir: str, times: int, duration: str | None, out: str | None, quiet: bool) -> int:
    src = Path(dir)
    config = load_config(src)                         # ConfigError on a bad DIR
    times = _int("times", times)
    if not 1 <= times <= 100_000:
        raise ConfigError(f"times: must be a whole number from 1 to 100000, got {times}")
    orig_verdict, orig_inv = original_outcome(src)
    if duration is not None:
        dur = _dur("duration", duration)
    elif config.duration:
        dur = config.duration
    else:
        s = load_summary(src) or {}
        dur = math.ceil(float(s.get("duration_s") or 0))
        if dur <= 0:
            raise ConfigError("duration: the recorded run ran until interrupted; give --duration (e.g. 30s)")
    if dur == 0:
        raise ConfigError("duration: a replay needs a finite duration, e.g. --duration 30s")
    base = Path(out) if out else src / time.strftime("replay-%Y%m%d-%H%M%S")
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"out: cannot create folder {str(base)!r}: {e.strerror or _one_line(e)}") from None

    inv_txt = ", ".join(sorted(orig_inv)) or "-"
    print(f"memcg-stress replay: {src}: original {orig_verdict} ({inv_txt}); "
          f"{times} rerun{'s' if times != 1 else ''} of {fmt_s(dur)} with seed {config.seed}, "
          f"{config.workers} workers, mode {config.mode}, mutant {config.mutant or 'none'}; writing {base}",
          flush=True)

    stop = threading.Event()
    current: dict = {}

    def on_signal(signum):
        p = current.get("proc")
        if p is not None and p.poll() is None:
            try:
                p.send_signal(signal.SIGINT)
            except OSError:
                pass

    rows = []
    reproduced = new = crashed = 0
    with Signals(stop, on_signal) as sigs:
        for i in range(1, times + 1):
            if sigs.interrupted:
                break
            run_dir = base / str(i)
            cmd = [sys.executable, "-m", "stress", "soak", "--config", str(src / "config.json"),
                   "--out", str(run_dir), "--duration", repr(float(dur)), "--stop-on-violation", "--quiet"]
            current["proc"] = p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                                   text=True, start_new_session=True)
            _, err = p.communicate()
            current["proc"] = None
            rc = p.returncode
            s = load_summary(run_dir) or {}
            inv = set((s.get("violations_by_invariant") or {}).keys())
            if rc == EXIT_USAGE:
                print(f"memcg-stress: error: replay: rerun {i} refused its configuration: "
                      f"{_one_line(err) or 'exit 2'}", file=sys.stderr)
                return EXIT_USAGE
            if rc < 0 or rc not in (EXIT_CLEAN, EXIT_VIOLATION, EXIT_INTERRUPTED):
                crashed += 1
                what = f"crashed ({signal.Signals(-rc).name})" if rc < 0 else f"failed (exit {rc})"
                outcome = what
            elif rc == EXIT_INTERRUPTED and not inv:
                outcome = "interrupted"
            elif inv:
                if inv & orig_inv:
                    reproduced += 1
                    outcome = "reproduced"
                else:
                    new += 1
                    outcome = "new violation"
            else:
                outcome = "clean"
            fv = s.get("first_violation_s")
            rows.append((i, outcome, ", ".join(sorted(inv)) or "-",
                         f"{fv:.3f}s" if isinstance(fv, (int, float)) else "-",
                         human(float(s.get("ops_per_s") or 0)), str(run_dir)))
            if not quiet:
                print(f"memcg-stress replay: run {i}/{times}: {outcome}"
                      f"{' [' + ', '.join(sorted(inv)) + ']' if inv else ''}"
                      f"{' after ' + rows[-1][3] if inv else ''}, {rows[-1][4]} ops/s", flush=True)
            if rc == EXIT_INTERRUPTED or sigs.interrupted:
                break

    if not quiet and rows:
        from rich.console import Console
        from rich.table import Table
        table = Table(title="memcg-stress replay", title_justify="left")
        from rich.markup import escape
        for col in ("run", "outcome", "invariants", "first violation", "ops/s"):
            table.add_column(col)
        table.add_column("folder", overflow="fold")
        for r in rows:
            table.add_row(*(escape(str(x)) for x in r))
        Console(highlight=False).print(table)
    done = len(rows)
    if orig_inv:
        print(f"memcg-stress replay: reproduced {reproduced} of {done} runs ({inv_txt})"
              f"{f'; {new} found other invariants' if new else ''}"
              f"{f'; {crashed} crashed' if crashed else ''}", flush=True)
    else:
        print(f"memcg-stress replay: original {orig_verdict}; {done - new - crashed} of {done} reruns clean"
              f"{f'; {new} found violations' if new else ''}{f'; {crashed} crashed' if crashed else ''}",
              flush=True)
    if sigs.interrupted:
        print(f"memcg-stress replay: interrupted by {sigs.received[0]}", file=sys.stderr, flush=True)
    if reproduced or new or crashed:
        return EXIT_VIOLATION
    if sigs.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_CLEAN
