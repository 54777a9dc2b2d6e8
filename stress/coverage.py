"""Know what was tested: race-window coverage and the failure rate a clean
run rules out (docs/DESIGN.md, "Race windows and the verdict").

Windows come from the native core (`_core.RACE_WINDOWS`; per run, the stats'
"windows": {name: {"opened", "raced"}}).  The rate bound is the Poisson
one: a run of T seconds with no violation rules out, at confidence c, any
failure rate R with exp(-R * T) <= 1 - c, so R = -ln(1 - c) / T
(about 3 / T at 95 %).
"""
from __future__ import annotations

import math

from .config import ConfigError

DEFAULT_CONFIDENCE = 0.95


def check_confidence(c) -> float:
    """--confidence: a probability strictly between 0 and 1 (ConfigError)."""
    try:
        v = float(c)
    except (TypeError, ValueError):
        raise ConfigError(f"confidence: must be a number between 0 and 1 (exclusive), got {c!r}") from None
    if not (0.0 < v < 1.0):
        raise ConfigError(f"confidence: must be between 0 and 1 (exclusive), like 0.95, got {c!r}")
    return v


def check_rate(r) -> float:
    """--rule-out: a failure rate per hour, positive and finite (ConfigError)."""
    try:
        v = float(r)
    except (TypeError, ValueError):
        raise ConfigError(f"rule-out: must be a failure rate per hour, like 0.5, got {r!r}") from None
    if not (v > 0.0 and math.isfinite(v)):
        raise ConfigError(f"rule-out: must be a positive failure rate per hour, got {r!r}")
    return v


def rate_ruled_out(seconds: float, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """Failures per hour that `seconds` of clean running rule out at
    `confidence`: -ln(1 - c) / T (T in hours); inf for no time."""
    if seconds <= 0:
        return math.inf
    return -math.log1p(-confidence) / (seconds / 3600.0)


def duration_to_rule_out(rate_per_h: float, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """Seconds of clean running that rule out `rate_per_h` at `confidence`."""
    return -math.log1p(-confidence) / rate_per_h * 3600.0


def fmt_rate(r: float) -> str:
    if math.isinf(r):
        return "inf"
    return f"{r:.3g}"


def rate_verdict(seconds: float, confidence: float = DEFAULT_CONFIDENCE) -> dict:
    """The clean verdict's bound, for summary.json and the lines."""
    r = rate_ruled_out(seconds, confidence)
    return {"seconds": round(seconds, 3), "confidence": confidence,
            "rate_per_hour": None if math.isinf(r) else r,
            "text": f"no violation in {seconds:.1f}s; rate below {fmt_rate(r)} per hour "
                    f"at {confidence * 100:g} % confidence"}


def coverage(windows: dict | None) -> dict:
    """Stats' windows -> which were raced, opened but never raced, never opened."""
    windows = windows or {}
    hit = sorted(n for n, w in windows.items() if w.get("raced", 0) > 0)
    opened = sorted(n for n, w in windows.items() if w.get("raced", 0) == 0 and w.get("opened", 0) > 0)
    never = sorted(n for n, w in windows.items() if w.get("opened", 0) == 0)
    return {"total": len(windows), "raced": hit, "opened_not_raced": opened, "never_opened": never,
            "counts": {n: dict(w) for n, w in windows.items()}}


def coverage_text(cov: dict) -> str:
    """One line: 'windows 12/14 raced, 1 opened never raced (x), 1 never opened (y)'."""
    if not cov.get("total"):
        return "windows not counted (a build without them)"
    parts = [f"windows {len(cov['raced'])}/{cov['total']} raced"]
    if cov["opened_not_raced"]:
        parts.append(f"{len(cov['opened_not_raced'])} opened never raced ({', '.join(cov['opened_not_raced'])})")
    if cov["never_opened"]:
        parts.append(f"{len(cov['never_opened'])} never opened ({', '.join(cov['never_opened'])})")
    return ", ".join(parts)
