"""Mutants: deliberately broken variants of protocol steps (rcutorture's
"busted" ops), and the detection matrix that measures the tester by how fast
it catches each one and by catching nothing in the correct model.

Each mutant is a deliberate bug for testing purposes only.  The native core
selects it by name and checks it at the step it breaks; the names and ids
are declared once, in stresscore/mutants.h, and reach Python through
`stresscore._core.mutant_table()`.  This table says what each bug is and
which invariant should fire.

The command line, `memcg-stress mutants [--json PATH] [--seeds N] [--budget
SECONDS] [--only NAME...]`, is stress.cli.mutants.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from .config import Config


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str                  # what the broken step does
    breaks: str               # the invariant that should fire
    expected: bool = True     # expected to be detected
    reason: str = ""          # why not, when not expected


MUTANTS: tuple[Mutant, ...] = (
    Mutant("rcu-busted",
           "synchronize_rcu and call_rcu do not wait for readers",
           "use-after-free"),
    Mutant("memcg-read-unprotected",
           "memcg_uncharge_slab reads cache->memcg outside an RCU read section",
           "use-after-free"),
    Mutant("dying-flag-unlocked",
           "the root cache's dying flag is tested and set without memcg_kmem_wq_lock",
           "use-after-free"),
    Mutant("reparent-without-slab-mutex",
           "the kmem_caches splice and the memcg pointer swap run without slab_mutex",
           "lockdep"),
    Mutant("no-parent-css-get",
           "reparenting does not take the parent's css references for the caches it moves",
           "references"),
    Mutant("no-child-css-put",
           "reparenting does not drop the child's css references for the caches it moves",
           "references"),
    Mutant("entries-not-cleared",
           "deactivation leaves the cache in memcg_caches",
           "use-after-free"),
    Mutant("kill-without-grace-period",
           "the child cache is killed at deactivation, without waiting for a grace period",
           "alloc-from-killed-cache", expected=False,
           reason="memcg_offline_kmem runs only after the css kill is confirmed, a grace period "
                  "after the last task that could read this memcg's memcg_caches entries left "
                  "its read section; the kill's own grace period is redundant (the review asked "
                  "whether the RCU delay in the cache destructor is needed: in this model it is not). "
                  "An allocation that got the cache before the css died may still charge after it; "
                  "that charge walks up to the parent, so the parent stays exact"),
    Mutant("array-free-without-grace-period",
           "the old memcg_caches array is freed at once when it grows",
           "use-after-free"),
    Mutant("charge-offline-memcg",
           "memcg_charge_slab charges the cache's memcg even when it is offline",
           "charge", expected=False,
           reason="a dying memcg is still in its parent's subtree and page counters are "
                  "hierarchical: the parent's charge and stats stay exact, only the dying "
                  "memcg's own counter is off, which the series stops caring about"),
    Mutant("cache-put-before-uncharge",
           "__free_slab drops the page's cache references before the uncharge reads cache->memcg",
           "use-after-free"),
    Mutant("no-flush-on-free",
           "a freed memcg's per-cpu stat residues are dropped instead of flushed to its ancestors",
           "stats"),
    Mutant("create-after-offline",
           "memcg_create_kmem_cache does not check kmem_state and creates caches for offline memcgs",
           "lists", expected=False,
           reason="here creation works and the offline share one ordered workqueue and a creation "
                  "work is always queued before the kill confirmation that queues the offline, so "
                  "it runs first; in the kernel the offline runs from cgroup_destroy_wq, where the "
                  "check is needed"),
)

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
