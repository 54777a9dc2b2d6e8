"""`memcg-stress mutants`: the detection matrix (stress.mutants) on the
command line: each mutant with N seeds until its first violation or the
budget, and the correct model for as long."""
from __future__ import annotations

import sys
from dataclasses import asdict

from ..config import MAX_SEED, MAX_WORKERS, Config, ConfigError, option_duration, whole_number
from ..mutants import BY_NAME, CORRECT, MUTANTS, matrix, matrix_base, verdict
from ..words import new_table
from .common import JSON_HELP, JsonOutput, Parser, check_output_file, fail

COMMAND = "mutants"


def _fmt(x):
    return "-" if x is None else f"{x:.3f}"


def _table(rows: list[dict]):
    t = new_table("mutant detection matrix")
    for col in ("mutant", "expected", "detected", "median s", "max s", "invariant"):
        t.add_column(col)
    for r in rows:
        exp = "clean" if r["name"] == CORRECT else ("yes" if r["expected"] else "no")
        ok = (r["detected"] == 0) if r["name"] == CORRECT or not r["expected"] else r["detected"] == r["seeds"]
        style = "green" if ok else "red"
        t.add_row(r["name"], exp, f"[{style}]{r['detected']}/{r['seeds']}[/{style}]",
                  _fmt(r["median_detect_s"]), _fmt(r["max_detect_s"]), r["invariant"] or "-")
    return t


def build_parser() -> Parser:
    p = Parser(prog="memcg-stress mutants", command=COMMAND,
               description="Run each mutant with N seeds until its first violation or the "
                           "budget, and the correct model for as long; print the matrix.",
               epilog="exit codes: 0 every expected mutant caught and the correct model clean, "
                      "1 otherwise, 2 bad usage")
    p.add_argument("--json", metavar="PATH", help=JSON_HELP)
    p.add_argument("--seeds", metavar="N", default="3", help="seeds per mutant, 1 to 1000 (default 3)")
    p.add_argument("--seed-start", metavar="S", default="1",
                   help="the first seed; mutant runs use S, S+1, ... (default 1)")
    p.add_argument("--budget", metavar="D", default="10",
                   help="running time of each run at most, like 10s or 10 (seconds), up to 1h (default 10s)")
    p.add_argument("--workers", metavar="N", default="2",
                   help=f"worker threads per run, 0 to {MAX_WORKERS}; 0: one per core (default 2)")
    p.add_argument("--steer", metavar="HOW", default="none",
                   help="none | coverage: each run steered toward windows not yet raced (default none)")
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help="only these mutants (and 'correct'); `memcg-stress list mutants` names them "
                        "(default: all)")
    p.add_argument("--no-correct", action="store_true", help="skip the correct-model row (default: run it)")
    p.add_argument("--unfixed", action="store_true",
                   help="run 5.4 as it is: findings 8 and 9 unfixed, so the correct model reports them "
                        "(default: both fixed, as --fix-root-drift --fix-hotplug-fold)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no per-row lines or table, only the final line (default: shown)")
    p.add_argument("--list", action="store_true", help="list the mutants and exit, as `memcg-stress list mutants` (default: run the matrix)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    a = p.parse_args(argv)
    if a.list:
        from .listing import main as list_main
        return list_main(["mutants"])
    try:
        seeds = whole_number("--seeds", a.seeds)
        seed_start = whole_number("--seed-start", a.seed_start)
        budget = option_duration("--budget", a.budget)
        workers = whole_number("--workers", a.workers)
        if not 1 <= seeds <= 1000:
            raise ConfigError(f"--seeds: must be from 1 to 1000, got {seeds}")
        if not 0 <= seed_start < MAX_SEED - seeds:
            raise ConfigError(f"--seed-start: must be a whole number from 0 to 2**64-1, got {seed_start}")
        if not 0 < budget <= 3600:
            raise ConfigError("--budget: must be more than 0 and at most 3600 seconds")
        names = a.only or [m.name for m in MUTANTS]
        for n in names:
            if n != CORRECT and n not in BY_NAME:
                raise ConfigError(f"--only: unknown mutant {n!r}; valid: {', '.join(BY_NAME)}")
        kw = {"workers": workers, "steer": a.steer}
        base = (Config(fix_root_drift=False, fix_hotplug_fold=False, fix_flush_offline=False, **kw)
                if a.unfixed else matrix_base(**kw)).validate()
        check_output_file(a.json, "--json")
    except ConfigError as e:
        return fail(str(e), COMMAND)
    if not a.no_correct and CORRECT not in names:
        names = names + [CORRECT]
    with JsonOutput(a.json) as out:
        from rich.console import Console
        con = Console(highlight=False)

        def row(r):
            if not a.quiet:
                con.print(f"{r['name']:34} {r['detected']}/{r['seeds']} detected"
                          f"  median {_fmt(r['median_detect_s'])} s  max {_fmt(r['max_detect_s'])} s"
                          f"  {r['invariant'] or ''}")
        rows = matrix(names, seeds, budget, seed_start, base, on_row=row)
        if not a.quiet:
            con.print(_table(rows))
        ok = verdict(rows)
        out.write({"ok": ok, "mutants": [dict(r) for r in rows], "table": [asdict(m) for m in MUTANTS]})
        con.print("every expected mutant caught with every seed, nothing in the correct model"
                  if ok else "[red]some expected mutant escaped, or the correct model raised an alarm[/red]")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
