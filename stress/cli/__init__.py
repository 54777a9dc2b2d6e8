"""memcg-stress: the command line.

    memcg-stress soak [options]          a soak run (see `memcg-stress soak --help`)
    memcg-stress replay DIR [--times N]  rerun a recorded run's configuration and seed
    memcg-stress bench [--quick] [--json PATH] [--tests]
    memcg-stress mutants ...             the detection matrix (stress.mutants)
    memcg-stress report DIR ...          the performance-counters report (stress.report)
    memcg-stress list mutants|presets|delays   what a run can use (--json: as JSON)

One module per command (soak.py, replay.py, bench.py, mutants.py,
report.py, listing.py); common.py holds the parser class, the exit codes and the
one-line error they share.

Exit codes: 0 clean, 1 violation found, 2 bad usage or configuration (one
line on stderr), 130 interrupted by SIGINT or SIGTERM.
"""
from __future__ import annotations

import importlib
import re
import sys

from .common import EXIT_INTERRUPTED, PROG, Parser, fail

#: commands that parse their own arguments: name -> module with main(argv)
PASSTHROUGH = {"mutants": "stress.cli.mutants", "report": "stress.cli.report"}
PASSTHROUGH_HELP = {"mutants": "the detection matrix (stress.mutants)",
                    "report": "the performance-counters report of a run (stress.report)"}


def build_parser() -> Parser:
    from .. import __version__
    from . import listing, replay, soak

    parser = Parser(prog=PROG, description="Concurrent stress tester for the Linux 5.3 memcg slab "
                                           "reparenting protocol.",
                    epilog="exit codes: 0 clean, 1 violation, 2 bad usage, 130 interrupted")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("soak", command="soak", help="a soak run: progress, stat lines and a run folder",
                       description="Run the stress engine; write config.json, events.jsonl and "
                                   "summary.json to the run folder.",
                       epilog="exit codes: 0 clean, 1 violation, 2 bad usage, 130 interrupted")
    soak.add_arguments(p)

    p = sub.add_parser("replay", command="replay", help="rerun a recorded run's configuration and seed",
                       description="Rerun the configuration and seed recorded in DIR; report how many "
                                   "reruns reproduced its violation.",
                       epilog="exit codes: 0 original clean and all reruns clean, 1 a violation "
                              "(reproduced or new), 2 bad DIR or usage, 130 interrupted")
    replay.add_arguments(p)

    p = sub.add_parser("list", command="list", help="list mutants, presets or delay points",
                       description="List what a run can use: mutants (--mutant), presets (--preset, with "
                                   "what they set), delay points (--delay, with their defaults).")
    listing.add_arguments(p)

    p = sub.add_parser("bench", command="bench", help="benchmarks of the native primitives",
                       description="Benchmarks of the native primitives.")
    try:
        from . import bench
        bench.add_arguments(p)
    except ImportError as e:                 # pragma: no cover - bench is part of the package
        p.set_defaults(bench_error=str(e))

    for name in PASSTHROUGH:
        sub.add_parser(name, help=PASSTHROUGH_HELP[name], add_help=False)
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

    from ..config import ConfigError

    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(_join_negative_values(argv))
    except SystemExit as e:                  # --help, --version, or a usage error (already printed)
        return e.code if isinstance(e.code, int) else 0
    if extra:                                # named with the command they were given to
        return fail(f"unrecognized arguments: {' '.join(extra)}", args.command)
    if args.command is None:
        parser.print_usage(sys.stderr)
        return fail(f"choose a command: soak, replay, list, bench, {', '.join(PASSTHROUGH)}")

    try:
        if args.command == "soak":
            from . import soak
            return soak.run_soak(soak.resolve(args))
        if args.command == "replay":
            from . import replay
            return replay.run_replay(args.dir, args.times, args.duration, args.out, args.quiet, args.json)
        if args.command == "list":
            from . import listing
            return listing.run_cli(args)
        if args.command == "bench":
            if getattr(args, "bench_error", None):
                return fail(f"bench: not available ({args.bench_error})")
            from . import bench
            return int(bench.run_cli(args) or 0)
    except ConfigError as e:
        return fail(e, args.command)
    except KeyboardInterrupt:                # a signal before the handlers were installed
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return fail(f"unknown command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
