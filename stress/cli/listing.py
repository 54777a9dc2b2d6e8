"""`memcg-stress list mutants|presets|delays`: what a run can be told to
use, plain (a table) or as one JSON document (`--json`).  Race windows are
listed too once the native core defines them (`_core.RACE_WINDOWS`)."""
from __future__ import annotations

import json
import sys

from stresscore import _core

from ..config import DEFAULT_DELAYS, PRESETS, Config
from ..mutants import MUTANTS
from ..words import DELAY_POINT_WHERE, new_table
from .common import Parser

COMMAND = "list"


def _windows() -> list[dict] | None:
    w = getattr(_core, "RACE_WINDOWS", None)
    if w is None:
        return None
    return [dict(x) if isinstance(x, dict) else {"name": str(x)} for x in w]


def kinds() -> list[str]:
    return ["mutants", "presets", "delays"] + (["windows"] if _windows() is not None else [])


def mutants() -> list[dict]:
    return [{"name": m.name, "bug": m.bug, "breaks": m.breaks, "expected": m.expected, "reason": m.reason}
            for m in MUTANTS]


def _value(v):
    return list(v) if isinstance(v, tuple) else v


def presets() -> list[dict]:
    """Each preset with the values it sets (the others are Config's defaults)."""
    base = Config().to_dict()
    out = []
    for name, d in PRESETS.items():
        sets = {k: _value(v) for k, v in d.items() if k != "delays"}
        delays = {p: list(pm) for p, pm in (d.get("delays") or {}).items() if tuple(pm) != DEFAULT_DELAYS.get(p)}
        out.append({"name": name, "sets": sets, "delays": delays,
                    "defaults_kept": sorted(k for k in base if k not in d)})
    return out


def delays() -> list[dict]:
    return [{"name": p, "probability": pm[0], "max_us": pm[1], "where": DELAY_POINT_WHERE.get(p, "")}
            for p, pm in DEFAULT_DELAYS.items()]


def _preset_text(p: dict) -> str:
    parts = [f"{k} {v}" for k, v in p["sets"].items()]
    if p["delays"]:
        parts.append("delays " + ", ".join(f"{k}={pm[0]:g}:{pm[1]:g}" for k, pm in p["delays"].items()))
    return ", ".join(parts) or "Config's defaults"


def show(kind: str, console=None) -> None:
    from rich.console import Console
    console = console or Console(highlight=False, markup=False)
    if kind == "mutants":
        t = new_table("mutants (memcg-stress soak --mutant NAME)")
        t.add_column("name", no_wrap=True)
        t.add_column("bug, and the invariant that catches it", overflow="fold")
        for m in mutants():
            caught = f"caught by {m['breaks']}" if m["expected"] else \
                f"breaks {m['breaks']}, not expected to be caught: {m['reason']}"
            t.add_row(m["name"], f"{m['bug']}; {caught}")
    elif kind == "presets":
        t = new_table("presets (memcg-stress soak --preset NAME; examples/NAME.toml)")
        t.add_column("name", no_wrap=True)
        t.add_column("what it sets", overflow="fold")
        for p in presets():
            t.add_row(p["name"], _preset_text(p))
    elif kind == "delays":
        t = new_table("delay points (memcg-stress soak --delay POINT=PROB:MAX_US)")
        for col, just in (("point", "left"), ("prob", "right"), ("max us", "right")):
            t.add_column(col, justify=just, no_wrap=True)
        t.add_column("where", overflow="fold")
        for d in delays():
            t.add_row(d["name"], f"{d['probability']:g}", f"{d['max_us']:,.0f}", d["where"])
    else:
        t = new_table("race windows")
        rows = _windows() or []
        cols = list(dict.fromkeys(k for r in rows for k in r))
        for col in cols:
            t.add_column(col, overflow="fold")
        for r in rows:
            t.add_row(*(str(r.get(c, "")) for c in cols))
    console.print(t)


def data(kind: str) -> list[dict]:
    return {"mutants": mutants, "presets": presets, "delays": delays}.get(kind, _windows)() or []


def add_arguments(p) -> None:
    p.add_argument("what", metavar="WHAT", choices=kinds(), help=f"what to list: {' | '.join(kinds())}")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table "
                                                       "(default: the table)")


def run_cli(args) -> int:
    if args.json:
        json.dump({args.what: data(args.what)}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        show(args.what)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = Parser(prog="memcg-stress list", command=COMMAND, description="List what a run can use.")
    add_arguments(p)
    return run_cli(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
