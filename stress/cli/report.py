"""`memcg-stress report DIR [DIR_B]`: the performance-counters report of a
run folder, or the comparison of two (stress.report does the work)."""
from __future__ import annotations

import sys

from ..config import ConfigError
from .common import EXIT_USAGE, JSON_HELP, PROG, JsonOutput, Parser, check_output_file, fail

COMMAND = "report"


def build_parser() -> Parser:
    p = Parser(
        prog="memcg-stress report", command=COMMAND,
        description="Performance-counters report of a run folder; with two folders, a comparison "
                    "(e.g. legacy against reparent).")
    p.add_argument("dir", metavar="DIR", help="run folder (config.json, events.jsonl, summary.json)")
    p.add_argument("dir_b", metavar="DIR_B", nargs="?", help="second run folder to compare with DIR")
    p.add_argument("--out", metavar="DIR", help="where to write the outputs (default: DIR)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots (single run; default: drawn)")
    p.add_argument("--quiet", "-q", action="store_true", help="no terminal table (default: shown)")
    p.add_argument("--json", metavar="PATH", help=JSON_HELP + "; report.json is written either way")
    return p


def warn(message: str) -> None:
    print(f"{PROG}: warning: {COMMAND}: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """`memcg-stress report DIR [DIR_B] [--out DIR]`: 0 written (a warning
    on standard error for each file that could not be read), 2 bad usage, not
    a run folder, or nothing usable in it."""
    from ..report import ReportError, write_comparison, write_report

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:            # --help (0) or a usage error (2)
        return int(e.code) if isinstance(e.code, int) else EXIT_USAGE
    try:
        check_output_file(args.json, "json")
    except ConfigError as e:
        return fail(e, COMMAND)
    from rich.console import Console
    with JsonOutput(args.json) as out:
        console = None if args.quiet else Console()
        try:
            if args.dir_b:
                result = write_comparison(args.dir, args.dir_b, args.out, console=console)
                problems = [f"{r['dir']}: {p}" for r in result["runs"] for p in r.get("problems") or []]
            else:
                result = write_report(args.dir, args.out, console=console, plots=not args.no_plots)
                problems = [f"{args.dir}: {p}" for p in result.get("problems") or []]
        except (ReportError, OSError) as e:
            return fail(e, COMMAND)
        for p in problems:
            warn(p)
        out.write(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
