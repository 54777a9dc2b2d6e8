"""Mutants: deliberately broken variants of protocol steps (rcutorture's
"busted" ops), and the detection matrix that measures the tester by how fast
it catches each one and by catching nothing in the correct model.

Each mutant is a deliberate bug for testing purposes only.  The native side
selects it by name (stresscore/mutants.h, `M_*`, checked at the step it
breaks); the table there says what the bug is and which invariant should
fire, and MUTANTS below is built from it.

The command line, `memcg-stress mutants [--json PATH] [--seeds N] [--budget
SECONDS] [--only NAME...]`, is stress.cli.mutants.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from stresscore import _core

from .config import Config


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

# The matrix measures the checkers against deliberate bugs, so its model has
# 5.4's own findings fixed (README findings 8 and 9): unfixed, the correct
# row would report them and every mutant row would be "caught" by them.
FIXED_FINDINGS = {"fix_root_drift": True, "fix_hotplug_fold": True, "fix_flush_offline": True}


def matrix_base(**kw) -> Config:
    """The matrix's default configuration: 5.4 with findings 8 and 9 fixed."""
    return Config(**{**FIXED_FINDINGS, **kw})


def detect(name: str | None, seed: int, budget: float, base: Config | None = None) -> dict:
    """One run of `name` (None: the correct model) until its first violation
    or the budget."""
    from .engine import run
    base = base or matrix_base()
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
