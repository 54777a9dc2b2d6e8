"""`memcg-stress soak`: its options, the configuration file, the run with
its live display and signal handling, and the run folder.

Configuration is resolved in layers, later ones winning:
Config() defaults < --preset < --config FILE (TOML, or a run's config.json)
< command-line options (stress.config.resolve_layers owns the rules).
Every error is a ConfigError with one line that names the option (or the
file and key) and what is allowed.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import threading
import time
import tomllib
from pathlib import Path

from ..config import LONG_LIVED_MAX, MAX_WORKERS, MODES, PRESETS, Config, ConfigError, one_line, resolve_layers
from ..runfolder import RunFolder, config_object, summary_for, total_violations
from .common import EXIT_CLEAN, EXIT_INTERRUPTED, EXIT_VIOLATION, JSON_HELP, JsonOutput, check_output_file
from ..words import count_by_invariant, new_table
from .display import Display, fmt_s, human
from .signals import Signals

#: violations recorded in full (with the flight-recorder dump) in events.jsonl;
#: later ones without the dump, and past MAX_VIOLATION_EVENTS only counted.
MAX_FULL_VIOLATIONS = 100
MAX_VIOLATION_EVENTS = 10_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    """soak's options (each a Config field or a layer of resolve_layers)."""

    g = p.add_argument_group("run")
    g.add_argument("--duration", "-d", metavar="D",
                   help="running time: 30s, 5m, 2h, 1.5 (seconds); 0 runs until interrupted (default 30s)")
    g.add_argument("--rule-out", dest="rule_out", metavar="RATE",
                   help="run as long as it takes for a clean run to rule out RATE failures per hour "
                        "at --confidence: -ln(1 - c) / RATE hours (default: --duration)")
    g.add_argument("--steer", metavar="HOW",
                   help="none | coverage: raise the delays of windows opened but never raced, the cgroups alive "
                        "for id-space growth and the module actor's pace for root destroys, as the run goes "
                        "(default none)")
    g.add_argument("--confidence", metavar="C",
                   help="confidence of the verdict's failure-rate bound, between 0 and 1 (default 0.95)")
    g.add_argument("--workers", "-w", metavar="N",
                   help=f"worker threads, 0 to {MAX_WORKERS}; 0: one per core (default 0)")
    g.add_argument("--mode", metavar="MODE", help=f"{' | '.join(MODES)} (default reparent)")
    g.add_argument("--mutant", metavar="NAME",
                   help="inject a known bug (`memcg-stress list mutants`); none: off (default none)")
    g.add_argument("--seed", metavar="N", help="random seed (default: random, always printed and recorded)")
    g.add_argument("--preset", metavar="NAME",
                   help=f"start from a preset: {' | '.join(PRESETS)} (`memcg-stress list presets`; default none)")
    g.add_argument("--config", "-c", metavar="FILE",
                   help="TOML file with keys named like these options (or a run's config.json); "
                        "command-line options override it (default none; examples/ has one per preset)")
    stop = g.add_mutually_exclusive_group()
    stop.add_argument("--stop-on-violation", dest="stop_on_violation", action="store_const", const=True,
                      default=None, help="stop at the first violation (default)")
    stop.add_argument("--keep-going", dest="stop_on_violation", action="store_const", const=False,
                      help="go on after violations and count them (default: stop at the first)")

    g = p.add_argument_group("model")
    g.add_argument("--max-memcgs", "--max-cgroups", dest="max_memcgs", metavar="N",
                   help="cgroups alive at most, 0 to 255 (default 16)")
    g.add_argument("--max-depth", metavar="N", help="cgroup tree depth, 1 to 64 (default 3)")
    g.add_argument("--max-held", metavar="N",
                   help="objects one worker holds at most, 1 to 50000000 (default 4096)")
    g.add_argument("--long-lived", metavar="N",
                   help=f"objects one worker keeps long, so they outlive the cgroup they were charged to and are "
                        f"freed into reparented or dead caches, 0 to {LONG_LIVED_MAX} (default 1024)")
    g.add_argument("--long-lived-ppm", metavar="PPM",
                   help="of a worker's allocations, per million, those it keeps long, 0 to 1000000 (default 2000)")
    g.add_argument("--alloc-pct", metavar="PCT",
                   help="percent of worker operations that allocate, 0 to 100 (default 50)")
    g.add_argument("--send-pct", metavar="PCT",
                   help="percent that hand an object to another worker, 0 to 100 (default 10)")
    g.add_argument("--controller-interval-us", metavar="US",
                   help="pause between controller actions in microseconds, 0 to 10000000 (default 200)")
    g.add_argument("--no-controller", action="store_true",
                   help="no mkdir/rmdir/migrate controller thread (default: a controller)")
    g.add_argument("--fix-root-drift", action="store_true",
                   help="uncharge a slab page from the root by what its charge did, not by the memcg its cache "
                        "names at free time: 5.4's root drift (README finding 8) fixed, so a run can hunt past it "
                        "(default: 5.4 as it is)")
    g.add_argument("--fix-hotplug-fold", action="store_true",
                   help="fold a dead CPU's stat residues into each of the memcg's ancestors, as the fix of 5.4's "
                        "memcg_hotplug_cpu_dead does, and flush a freed memcg's residues from every possible CPU, "
                        "offline ones too (README finding 9 fixed; default: 5.4 as it is)")

    g = p.add_argument_group("actors and kernel threads")
    d = Config()
    g.add_argument("--kworkers", metavar="N",
                   help=f"kworker threads serving the per-CPU workqueues, 1 to 8 (default {d.kworkers})")
    g.add_argument("--rcu-threads", metavar="N",
                   help=f"RCU callback threads serving the per-CPU callback lists, 1 to 8 (default {d.rcu_threads})")
    for actor, what in (("module", "module caches: kmem_cache_create with merging, kmem_cache_destroy"),
                        ("active-memcg", "a memalloc_use_memcg() user allocating for a memcg it holds a css reference on"),
                        ("cgroup", "mkdir and rmdir"),
                        ("sysfs", "a /sys/kernel/slab user: reads objects and slabs, writes shrink"),
                        ("hotplug", "CPU hotplug: takes CPUs offline and online, moving their threads")):
        field = actor.replace("-", "_")
        g.add_argument(f"--no-{actor}-actor", dest=f"no_{field}_actor", action="store_true",
                       help=f"no {actor} actor thread ({what}) (default: on)")
        g.add_argument(f"--{actor}-interval-us", metavar="US",
                       help=f"pause between the {actor} actor's actions in microseconds, 0 to 10000000 "
                            f"(default {getattr(d, field + '_interval_us')})")
    g.add_argument("--hotplug-spares", metavar="N",
                   help=f"CPUs beyond the threads' own, online and idle at the start, where the hotplug actor "
                        f"moves the threads of a CPU it takes down, 0 to 8 (default {d.hotplug_spares})")

    g = p.add_argument_group("delay injection")
    g.add_argument("--delay", metavar="POINT=PROB:MAX_US", action="append",
                   help="delay injection at one point: probability 0 to 1, longest delay in microseconds "
                        "(repeatable; `memcg-stress list delays` shows the points and their defaults)")
    g.add_argument("--no-delays", action="store_true", help="no delay injection at all (default: on)")

    g = p.add_argument_group("checks and output")
    g.add_argument("--checkpoint-interval", metavar="D",
                   help="time between stop-the-world checkpoints, like 50ms or 0.05 (seconds); "
                        "0: only the final check (default 50ms)")
    g.add_argument("--stat-interval", metavar="D", help="time between stat lines, like 1s (default 1s)")
    g.add_argument("--out", "--output", "-o", dest="out", metavar="DIR",
                   help="run folder (default: results/run-YYYYmmdd-HHMMSS-SEED)")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar or stat lines (default: shown)")
    g.add_argument("--no-report", dest="report", action="store_false",
                   help="do not write the performance-counters report (report.md, PNGs) at the end "
                        "(default: written)")
    g.add_argument("--json", metavar="PATH", help=JSON_HELP)


def load_file(path: str) -> dict:
    """A --config file: TOML, or JSON when it ends in .json (a run's config.json)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except IsADirectoryError:
        raise ConfigError(f"config: {path!r} is a folder; give a TOML file (or a run's config.json)") from None
    except OSError as e:
        raise ConfigError(f"config: cannot read {path!r}: {e.strerror or one_line(e)}") from None
    if path.endswith(".json"):
        return config_object(raw, f"config: {path!r}")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config: {path!r} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config: {path!r} is not valid TOML: {one_line(e)}") from None


@dataclasses.dataclass
class SoakOptions:
    config: Config                    # validated, seed and workers resolved
    out: str | None
    quiet: bool
    preset: str | None
    report: bool = True               # write the performance-counters report at the end
    json: str | None = None           # --json PATH ("-": standard output)
    confidence: float = 0.95          # --confidence: of the clean verdict's rate bound



def resolve(args) -> SoakOptions:
    """Command-line namespace (soak's options, None where not given) -> SoakOptions."""
    check_output_file(getattr(args, "json", None))
    file_name = args.config
    file_data = load_file(file_name) if file_name else {}
    from ..coverage import DEFAULT_CONFIDENCE, check_confidence, check_rate, duration_to_rule_out
    conf = getattr(args, "confidence", None)
    confidence = DEFAULT_CONFIDENCE if conf is None else check_confidence(conf)
    rule_out = getattr(args, "rule_out", None)
    if rule_out is not None:
        rate = check_rate(rule_out)
        if getattr(args, "duration", None) is not None:
            raise ConfigError("rule-out: sets the duration; give --rule-out or --duration, not both")
    layers = resolve_layers(args, file_data, file_name)
    config = layers.config
    if rule_out is not None:
        config = dataclasses.replace(config, duration=duration_to_rule_out(rate, confidence))
        config.validate()
    return SoakOptions(config=config, out=layers.out, quiet=layers.quiet, preset=layers.preset,
                       report=getattr(args, "report", True) is not False, json=getattr(args, "json", None),
                       confidence=confidence)


def describe(c: Config) -> str:
    dur = "until interrupted" if not c.duration else fmt_s(c.duration)
    return (f"seed {c.seed}, {c.workers} workers, mode {c.mode}, mutant {c.mutant or 'none'}, "
            f"duration {dur}, max-memcgs {c.max_memcgs}, max-depth {c.max_depth}, "
            f"delays {'on' if c.delay_injection else 'off'}, "
            f"{'root drift fixed, ' if c.fix_root_drift else ''}"
            f"{'hotplug fold fixed, ' if c.fix_hotplug_fold else ''}"
            f"{'stop on violation' if c.stop_on_violation else 'keep going'}")


def replay_command(folder: Path) -> str:
    return f"memcg-stress replay {shlex.quote(str(folder))}"


def run_soak(opts: SoakOptions, console=None) -> int:
    """The soak; with --json, its summary.json as one JSON document."""
    with JsonOutput(opts.json) as out:
        code, summary = _soak(opts, console)
        out.write(summary)
    return code


def _roles() -> list[str]:
    """Each native thread's role (for the flight recorder's lines)."""
    try:
        from stresscore import _core
        return list(_core.live_stats().get("roles") or [])
    except Exception:
        return []


def _soak(opts: SoakOptions, console=None) -> tuple[int, dict]:
    from ..engine import run

    config = opts.config
    folder = RunFolder.create(opts.out, config.seed)
    display = Display(config.duration, opts.quiet, console, stop_on_violation=config.stop_on_violation)
    stop_event = threading.Event()
    state = {"violation_events": 0, "roles": None}
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
                if n == 1:
                    state["roles"] = _roles()
                display.violation(ev, state["roles"])
            else:
                folder.event(ev)

        with Signals(stop_event) as sigs:
            display.start()
            t_start = time.monotonic()
            try:
                result = run(config, on_event=on_event, stop_event=stop_event)
            except BaseException as e:
                display.stop()
                err = f"{type(e).__name__}: {one_line(e)}"
                folder.event({"type": "error", "t": round(time.monotonic() - t_start, 4), "error": err})
                folder.write_summary({"verdict": "error", "error": err, "seed": config.seed,
                                      "config": config.to_dict()})
                raise
            finally:
                display.stop()
        display.finish()
        if sigs.interrupted:
            folder.event({"type": "signal", "signals": sigs.received, "t": round(result.duration_s, 4)})
        summary = summary_for(result, {"interrupted": sigs.interrupted, "signals": sigs.received,
                                       "run_folder": str(folder.path), "preset": opts.preset},
                              confidence=opts.confidence)
        folder.event({"type": "end", "t": round(result.duration_s + result.drain_s, 4),
                      "verdict": result.verdict, "ops": result.ops,
                      "violations": total_violations(result)})
        folder.write_summary(summary)
    finally:
        folder.close()
    if opts.report:
        try:
            from ..report import write_report
            write_report(folder.path)
        except Exception as e:          # the report never changes the verdict
            print(f"memcg-stress soak: report not written: {one_line(e)}", file=sys.stderr, flush=True)

    if result.verdict == "violation":
        code = EXIT_VIOLATION
    elif sigs.interrupted:
        code = EXIT_INTERRUPTED
    else:
        code = EXIT_CLEAN
    print_result(result, folder.path, opts.quiet, sigs.received, display.console, summary)
    return code, summary


def print_result(result, path: Path, quiet: bool, signals_received: list[str], console,
                 summary: dict | None = None) -> None:
    from ..coverage import coverage_text
    verdict = result.verdict
    if signals_received and verdict == "violation":
        verdict = "violation (interrupted)"
    by_inv = count_by_invariant(result.violations_by_invariant)
    if quiet:
        print(f"memcg-stress soak: {verdict}: seed {result.seed}, {result.ops:,} ops in {result.duration_s:.1f}s "
              f"({human(result.ops_per_s)} ops/s), violations {total_violations(result):,} ({by_inv}), "
              f"folder {path}"
              + (f"; {coverage_text(summary['coverage'])}" if summary and summary.get("coverage") else "")
              + (f"; {summary['rate_bound']['text']}" if summary and summary.get("rate_bound") else ""),
              flush=True)
    else:
        from rich.markup import escape
        st = result.stats or {}
        table = new_table("memcg-stress soak", show_header=False)
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
        table.add_row("violations", f"{total_violations(result):,} ({by_inv})")
        if summary and summary.get("coverage"):
            table.add_row("race windows", escape(coverage_text(summary["coverage"])))
        if summary and summary.get("rate_bound"):
            table.add_row("rules out", escape(summary["rate_bound"]["text"]))
        if result.violations:
            v = result.violations[0]
            table.add_row("first violation", escape(one_line(f"[{v.get('invariant')}] {v.get('message', '')}")[:300]))
        if result.hung:
            table.add_row("hung", "[red]the drain did not finish[/red]")
        table.add_row("folder", escape(str(path)))
        console.print(table)
    if result.verdict == "violation":
        print(f"memcg-stress soak: to replay: {replay_command(path)}", flush=True)
    if signals_received:
        print(f"memcg-stress soak: interrupted by {signals_received[0]}", file=sys.stderr, flush=True)
