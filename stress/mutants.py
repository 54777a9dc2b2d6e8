"""Mutants: deliberately broken variants of protocol steps (rcutorture's
"busted" ops), and the detection matrix that measures the tester by how fast
it catches each one and by catching nothing in the correct model.

Each mutant is a deliberate bug for testing purposes only.  The native side
selects it by name (stresscore/mutants.h, `M_*`, checked at the step it
breaks); the table there says what the bug is and which invariant should
fire, and MUTANTS below is built from it.

    memcg-stress mutants [--json PATH] [--seeds N] [--budget SECONDS] [--only NAME...]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass

from stresscore import _core

from .config import Config, ConfigError


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str                  # what the broken step does
    breaks: str               # the invariant that should fire
    expected: bool = True     # expected to be detected
    reason: str = ""          # why not, when not expected


# The table itself is stresscore/mutants.h, the one source of truth of the
# native ids and of these texts.
MUTANTS: tuple[Mutant, ...] = tuple(
    Mutant(m["name"], m["bug"], m["breaks"], m["expected"], m["reason"])
    for m in _core.mutant_table())

BY_NAME = {m.name: m for m in MUTANTS}
CORRECT = "correct"


def detect(name: str | None, seed: int, budget: float, base: Config | None = None) -> dict:
    """One run of `name` (None: the correct model) until its first violation
    or the budget."""
    from .engine import run
    base = base or Config()
    cfg = Config(**{**base.__dict__, "mutant": name, "seed": seed, "duration": budget,
                    "stop_on_violation": True, "stat_interval": 0})
    r = run(cfg)
    first = r.violations[0]["invariant"] if r.violations else None
    return {"seed": seed, "detected": bool(r.violations), "time_s": r.first_violation_s,
            "invariant": first, "invariants": sorted(r.violations_by_invariant),
            "ops_per_s": r.ops_per_s}


def matrix(names: list[str], seeds: int, budget: float, seed_start: int = 1,
           base: Config | None = None, on_row=None) -> list[dict]:
    rows = []
    for name in names:
        m = BY_NAME.get(name)
        runs = [detect(None if name == CORRECT else name, s, budget, base)
                for s in range(seed_start, seed_start + seeds)]
        times = [r["time_s"] for r in runs if r["detected"]]
        invs = {}
        for r in runs:
            if r["invariant"]:
                invs[r["invariant"]] = invs.get(r["invariant"], 0) + 1
        row = {
            "name": name,
            "bug": m.bug if m else "the correct model",
            "breaks": m.breaks if m else None,
            "expected": m.expected if m else False,
            "reason": m.reason if m else "",
            "detected": sum(r["detected"] for r in runs),
            "seeds": seeds,
            "budget_s": budget,
            "median_detect_s": statistics.median(times) if times else None,
            "max_detect_s": max(times) if times else None,
            "invariant": max(invs, key=invs.get) if invs else None,
            "invariants": invs,
            "runs": runs,
        }
        rows.append(row)
        if on_row:
            on_row(row)
    return rows


def verdict(rows: list[dict]) -> bool:
    """Every expected mutant caught with every seed, nothing in the correct model."""
    for r in rows:
        if r["name"] == CORRECT and r["detected"]:
            return False
        if r["expected"] and r["detected"] < r["seeds"]:
            return False
    return True


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
    from .cli import Parser
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
