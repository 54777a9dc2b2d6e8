"""`memcg-stress mutants`: the detection matrix (stress.mutants) on the
command line: each mutant with N seeds until its first violation or the
budget, and the correct model for as long."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict

from ..config import Config, ConfigError
from ..mutants import BY_NAME, CORRECT, MUTANTS, matrix, verdict
from .common import Parser


def _fmt(x):
    return "-" if x is None else f"{x:.3f}"


def _table(rows: list[dict]):
    from rich.table import Table
    t = Table(title="mutant detection matrix")
    for col in ("mutant", "expected", "detected", "median s", "max s", "invariant"):
        t.add_column(col)
    for r in rows:
        exp = "clean" if r["name"] == CORRECT else ("yes" if r["expected"] else "no")
        ok = (r["detected"] == 0) if r["name"] == CORRECT or not r["expected"] else r["detected"] == r["seeds"]
        style = "green" if ok else "red"
        t.add_row(r["name"], exp, f"[{style}]{r['detected']}/{r['seeds']}[/{style}]",
                  _fmt(r["median_detect_s"]), _fmt(r["max_detect_s"]), r["invariant"] or "-")
    return t


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="memcg-stress mutants",
               description="Run each mutant with N seeds until its first violation or the "
                           "budget, and the correct model for as long; print the matrix.")
    p.add_argument("--json", metavar="PATH", help="write the matrix as JSON")
    p.add_argument("--seeds", type=int, default=3, help="seeds per mutant (default 3)")
    p.add_argument("--seed-start", type=int, default=1)
    p.add_argument("--budget", type=float, default=10.0, help="seconds per run at most (default 10)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these mutants (and 'correct')")
    p.add_argument("--no-correct", action="store_true", help="skip the correct-model row")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    a = p.parse_args(argv)
    if a.list:
        for m in MUTANTS:
            print(f"{m.name:34} {'' if m.expected else '(expected not detected) '}{m.bug}; breaks {m.breaks}")
        return 0
    if a.seeds < 1 or a.seeds > 1000:
        p.error("--seeds: must be from 1 to 1000")
    if not 0 < a.budget <= 3600:
        p.error("--budget: must be more than 0 and at most 3600 seconds")
    names = a.only or [m.name for m in MUTANTS]
    for n in names:
        if n != CORRECT and n not in BY_NAME:
            p.error(f"--only: unknown mutant {n!r}; valid: {', '.join(BY_NAME)}")
    if not a.no_correct and CORRECT not in names:
        names = names + [CORRECT]
    try:
        base = Config(workers=a.workers).validate()
    except ConfigError as e:
        p.error(str(e))
    from rich.console import Console
    con = Console()

    def row(r):
        con.print(f"{r['name']:34} {r['detected']}/{r['seeds']} detected"
                  f"  median {_fmt(r['median_detect_s'])} s  max {_fmt(r['max_detect_s'])} s"
                  f"  {r['invariant'] or ''}")
    rows = matrix(names, a.seeds, a.budget, a.seed_start, base, on_row=row)
    con.print(_table(rows))
    ok = verdict(rows)
    if a.json:
        out = [{k: v for k, v in r.items()} for r in rows]
        with open(a.json, "w") as f:
            json.dump({"ok": ok, "mutants": out, "table": [asdict(m) for m in MUTANTS]}, f, indent=1)
    con.print("every expected mutant caught with every seed, nothing in the correct model"
              if ok else "[red]some expected mutant escaped, or the correct model raised an alarm[/red]")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
