"""`memcg-stress report DIR [DIR_B]`: the performance-counters report of a
run folder, or the comparison of two (stress.report does the work)."""
from __future__ import annotations

import sys

from .common import EXIT_USAGE, Parser, fail

COMMAND = "report"


def build_parser() -> Parser:
    p = Parser(
        prog="memcg-stress report", command=COMMAND,
        description="Performance-counters report of a run folder; with two folders, a comparison "
                    "(e.g. legacy against reparent).")
    p.add_argument("dir", metavar="DIR", help="run folder (config.json, events.jsonl, summary.json)")
    p.add_argument("dir_b", metavar="DIR_B", nargs="?", help="second run folder to compare with DIR")
    p.add_argument("--out", metavar="DIR", help="where to write the outputs (default: DIR)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots (single run)")
    p.add_argument("--quiet", "-q", action="store_true", help="no terminal table")
    return p


def main(argv: list[str] | None = None) -> int:
    """`memcg-stress report DIR [DIR_B] [--out DIR]`: 0 written, 2 bad usage
    or not a run folder."""
    from ..report import ReportError, write_comparison, write_report

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:            # --help (0) or a usage error (2)
        return int(e.code) if isinstance(e.code, int) else EXIT_USAGE
    from rich.console import Console
    console = None if args.quiet else Console()
    try:
        if args.dir_b:
            write_comparison(args.dir, args.dir_b, args.out, console=console)
        else:
            write_report(args.dir, args.out, console=console, plots=not args.no_plots)
    except (ReportError, OSError) as e:
        return fail(e, COMMAND)
    return 0


if __name__ == "__main__":
    sys.exit(main())
