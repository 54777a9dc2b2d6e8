"""memcg-stress: the command line.

    memcg-stress soak [options]          a soak run (see `memcg-stress soak --help`)
    memcg-stress replay DIR [--times N]  rerun a recorded run's configuration and seed
    memcg-stress bench [--quick] [--json PATH]
    memcg-stress mutants ...             the detection matrix (stress.mutants)
    memcg-stress report DIR ...          the performance-counters report (stress.report)

Exit codes: 0 clean, 1 violation found, 2 bad usage or configuration (one
line on stderr), 130 interrupted by SIGINT or SIGTERM.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys

PROG = "memcg-stress"
EXIT_USAGE = 2
PASSTHROUGH = {"mutants": "stress.mutants", "report": "stress.report"}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def fail(message: object) -> int:
    """Print one error line and return the usage exit code."""
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr, flush=True)
    return EXIT_USAGE


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exits 2."""

    def error(self, message: str):
        fail(message)
        raise SystemExit(EXIT_USAGE)


def _soak_arguments(p: argparse.ArgumentParser) -> None:
    from .config import DELAY_POINTS, MAX_WORKERS, MODES, PRESETS

    g = p.add_argument_group("run")
    g.add_argument("--duration", "-d", metavar="D",
                   help="running time: 30s, 5m, 2h, 1.5 (seconds); 0 runs until interrupted (default 30s)")
    g.add_argument("--workers", "-w", metavar="N",
                   help=f"worker threads, 1 to {MAX_WORKERS} (default: one per core)")
    g.add_argument("--mode", metavar="MODE", help=f"{' | '.join(MODES)} (default reparent)")
    g.add_argument("--mutant", metavar="NAME", help="inject a known bug (see `memcg-stress mutants`); none: off")
    g.add_argument("--seed", metavar="N", help="random seed (default: random, always printed and recorded)")
    g.add_argument("--preset", metavar="NAME", help=f"start from a preset: {' | '.join(PRESETS)}")
    g.add_argument("--config", "-c", metavar="FILE",
                   help="TOML file with keys named like these options (or a run's config.json); "
                        "command-line options override it")
    stop = g.add_mutually_exclusive_group()
    stop.add_argument("--stop-on-violation", dest="stop_on_violation", action="store_const", const=True,
                      default=None, help="stop at the first violation (default)")
    stop.add_argument("--keep-going", dest="stop_on_violation", action="store_const", const=False,
                      help="go on after violations and count them")

    g = p.add_argument_group("model")
    g.add_argument("--max-memcgs", "--max-cgroups", dest="max_memcgs", metavar="N",
                   help="cgroups alive at most, 0 to 255 (default 16)")
    g.add_argument("--max-depth", metavar="N", help="cgroup tree depth, 1 to 64 (default 3)")
    g.add_argument("--max-held", metavar="N", help="objects one worker holds at most (default 4096)")
    g.add_argument("--alloc-pct", metavar="PCT", help="share of worker operations that allocate (default 50)")
    g.add_argument("--send-pct", metavar="PCT", help="share that hand an object to another worker (default 10)")
    g.add_argument("--controller-interval-us", metavar="US", help="pause between controller actions (default 200)")
    g.add_argument("--no-controller", action="store_true", help="no mkdir/rmdir/migrate controller thread")

    g = p.add_argument_group("delay injection")
    g.add_argument("--delay", metavar="POINT=PROB:MAX_US", action="append",
                   help=f"delay injection at one point (repeatable); points: {', '.join(DELAY_POINTS)}")
    g.add_argument("--no-delays", action="store_true", help="no delay injection at all")

    g = p.add_argument_group("checks and output")
    g.add_argument("--checkpoint-interval", metavar="D",
                   help="time between stop-the-world checkpoints (default 50ms; 0: only the final check)")
    g.add_argument("--stat-interval", metavar="D", help="time between stat lines (default 1s)")
    g.add_argument("--out", "--output", "-o", dest="out", metavar="DIR",
                   help="run folder (default: results/run-YYYYmmdd-HHMMSS-SEED)")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bar or stat lines")
    g.add_argument("--no-report", dest="report", action="store_false",
                   help="do not write the performance-counters report (report.md, PNGs) at the end")


def build_parser() -> Parser:
    from . import __version__

    parser = Parser(prog=PROG, description="Concurrent stress tester for the Linux 5.3 memcg slab "
                                           "reparenting protocol.",
                    epilog="exit codes: 0 clean, 1 violation, 2 bad usage, 130 interrupted")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("soak", help="a soak run: progress, stat lines and a run folder",
                       description="Run the stress engine; write config.json, events.jsonl and "
                                   "summary.json to the run folder.",
                       epilog="exit codes: 0 clean, 1 violation, 2 bad usage, 130 interrupted")
    _soak_arguments(p)

    p = sub.add_parser("replay", help="rerun a recorded run's configuration and seed",
                       description="Rerun the configuration and seed recorded in DIR; report how many "
                                   "reruns reproduced its violation.",
                       epilog="exit codes: 0 original clean and all reruns clean, 1 a violation "
                              "(reproduced or new), 2 bad DIR or usage, 130 interrupted")
    p.add_argument("dir", metavar="DIR", help="a run folder (holds config.json)")
    p.add_argument("--times", "-n", metavar="N", default="1", help="reruns (default 1)")
    p.add_argument("--duration", "-d", metavar="D", help="running time of each rerun (default: the original's)")
    p.add_argument("--out", "-o", metavar="DIR", help="where the reruns' folders go (default DIR/replay-...)")
    p.add_argument("--quiet", "-q", action="store_true", help="only the final line")

    p = sub.add_parser("bench", help="benchmarks of the native primitives",
                       description="Benchmarks of the native primitives.")
    try:
        from . import bench
        bench.add_arguments(p)
    except ImportError as e:                 # pragma: no cover - bench is part of the package
        p.set_defaults(bench_error=str(e))

    for name, mod in PASSTHROUGH.items():
        helptext = {"mutants": "the detection matrix", "report": "the performance-counters report of a run"}[name]
        sub.add_parser(name, help=f"{helptext} ({mod})", add_help=False)
    return parser


def _passthrough(name: str, argv: list[str]) -> int:
    modname = PASSTHROUGH[name]
    try:
        mod = importlib.import_module(modname)
    except ModuleNotFoundError as e:
        if e.name in (modname, modname.rpartition(".")[0]):
            return fail(f"{name}: not available in this version ({modname} is missing)")
        raise
    fn = getattr(mod, "main", None)
    if fn is None:
        return fail(f"{name}: {modname} has no main()")
    rc = fn(argv)
    return int(rc or 0)


_NEGATIVE = re.compile(r"^-\d")


def _join_negative_values(argv: list[str]) -> list[str]:
    """`--duration -5s` -> `--duration=-5s`, so that a negative value gets a
    message about the value rather than argparse's 'expected one argument'."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--") and "=" not in a and i + 1 < len(argv) and _NEGATIVE.match(argv[i + 1]):
            out.append(f"{a}={argv[i + 1]}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASSTHROUGH:
        try:
            return _passthrough(argv[0], argv[1:])
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else (0 if e.code is None else fail(e.code))

    from .config import ConfigError

    parser = build_parser()
    try:
        args = parser.parse_args(_join_negative_values(argv))
    except SystemExit as e:                  # --help, --version, or a usage error (already printed)
        return e.code if isinstance(e.code, int) else 0
    if args.command is None:
        parser.print_usage(sys.stderr)
        return fail(f"choose a command: soak, replay, bench, {', '.join(PASSTHROUGH)}")

    try:
        if args.command == "soak":
            from . import soak
            return soak.run_soak(soak.resolve(args))
        if args.command == "replay":
            from . import soak
            return soak.run_replay(args.dir, args.times, args.duration, args.out, args.quiet)
        if args.command == "bench":
            if getattr(args, "bench_error", None):
                return fail(f"bench: not available ({args.bench_error})")
            from . import bench
            return int(bench.run_cli(args) or 0)
    except ConfigError as e:
        return fail(e)
    except KeyboardInterrupt:                # a signal before the handlers were installed
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return fail(f"unknown command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
