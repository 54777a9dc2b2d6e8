"""Configuration of a run: one dataclass, its presets, validation and TOML.

Every option of `memcg-stress soak` is a field here, named the same (with
dashes for underscores on the command line, and as-is in a TOML file).
Validation raises ConfigError with a one-line message that names the option
and what is allowed; the CLI turns it into exit code 2.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field

from stresscore import _core

MODES = ("reparent", "legacy")
DELAY_POINTS = tuple(_core.DELAY_POINTS)
MAX_WORKERS = _core.MAX_CPUS - 3          # + controller, workqueue, RCU thread
MUTANTS_ALL = tuple(_core.MUTANT_IDS)

# Default delay injection: (probability, maximum delay in microseconds) per
# point.  get_cache_entry, charge_memcg and uncharge_memcg fire only while
# their race window is open (an array growing; a dying memcg, a deactivated or
# killed cache), so they can be likely and long without slowing the fast path.
DEFAULT_DELAYS: dict[str, tuple[float, float]] = {
    "get_cache_entry": (0.5, 300.0),
    "charge_memcg": (0.3, 500.0),
    "uncharge_memcg": (0.1, 2000.0),
    "reparent_swap": (0.3, 200.0),
    "reparent_splice": (0.3, 200.0),
    "deactivate_dying": (1.0, 5000.0),
    "create_publish": (0.2, 100.0),
    "array_grow": (0.5, 200.0),
    "flush_stats": (0.3, 100.0),
    "cache_kill": (0.3, 100.0),
    "page_free_put": (0.1, 500.0),
    "offline_kmem": (0.3, 200.0),
    "destroy_dying": (1.0, 5000.0),
}


class ConfigError(ValueError):
    """A bad option or configuration key (one line, names what is allowed)."""


@dataclass
class Config:
    duration: float = 30.0               # seconds of the running phase; 0: until interrupted
    workers: int = 0                     # 0: one per core
    mode: str = "reparent"
    mutant: str | None = None
    seed: int | None = None              # None: random, always recorded
    max_memcgs: int = 16
    max_depth: int = 3
    max_held: int = 4096                 # objects one worker holds at most
    alloc_pct: int = 50
    send_pct: int = 10
    controller: bool = True
    controller_interval_us: int = 200
    controller_weights: tuple[int, int, int, int, int] = (20, 20, 40, 6, 4)  # mkdir rmdir migrate module limit
    root_weights: tuple[float, ...] = (30, 15, 35, 10, 2.5, 2.5, 2.5, 2.5)
    checkpoint_interval: float = 0.05    # seconds; 0: only the final check
    delay_injection: bool = True
    delays: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_DELAYS))
    stop_on_violation: bool = True
    stat_interval: float = 1.0

    def resolved_workers(self) -> int:
        return self.workers or max(1, min(os.cpu_count() or 2, MAX_WORKERS))

    def validate(self) -> "Config":
        def bad(opt, what):
            raise ConfigError(f"{opt}: {what}")
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) or not 0 <= self.workers <= MAX_WORKERS:
            bad("workers", f"must be a whole number from 1 to {MAX_WORKERS} (0: one per core), got {self.workers!r}")
        if self.mode not in MODES:
            bad("mode", f"unknown mode {self.mode!r}; valid: {', '.join(MODES)}")
        if self.mutant is not None and self.mutant not in MUTANTS_ALL:
            bad("mutant", f"unknown mutant {self.mutant!r}; valid: {', '.join(MUTANTS_ALL)}")
        if not isinstance(self.duration, (int, float)) or self.duration < 0 or self.duration > 7 * 86400:
            bad("duration", f"must be from 0 (until interrupted) to 7 days, got {self.duration!r}")
        if self.seed is not None and (not isinstance(self.seed, int) or not 0 <= self.seed < 2**64):
            bad("seed", f"must be a whole number from 0 to 2**64-1, got {self.seed!r}")
        for name, lo, hi in (("max_memcgs", 0, 255), ("max_depth", 1, 64), ("max_held", 1, 50_000_000),
                             ("alloc_pct", 0, 100), ("send_pct", 0, 100),
                             ("controller_interval_us", 0, 10_000_000)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                bad(name.replace("_", "-"), f"must be a whole number from {lo} to {hi}, got {v!r}")
        if self.alloc_pct + self.send_pct > 100:
            bad("send-pct", "alloc-pct + send-pct must be at most 100")
        if len(self.controller_weights) != 5 or any(w < 0 for w in self.controller_weights):
            bad("controller-weights", "five weights >= 0: mkdir rmdir migrate module limit")
        if not 1 <= len(self.root_weights) <= 16 or any(w < 0 for w in self.root_weights) or sum(self.root_weights) <= 0:
            bad("root-weights", "1 to 16 weights >= 0, not all zero")
        for name in ("checkpoint_interval", "stat_interval"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0 or v > 3600:
                bad(name.replace("_", "-"), f"must be from 0 to 3600 seconds, got {v!r}")
        for point, pm in self.delays.items():
            if point not in DELAY_POINTS:
                bad("delay", f"unknown delay point {point!r}; valid: {', '.join(DELAY_POINTS)}")
            prob, max_us = pm
            if not 0 <= prob <= 1 or not 0 <= max_us <= 1_000_000:
                bad("delay", f"{point}: probability must be in [0, 1] and max delay in [0, 1000000] us")
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["controller_weights"] = list(self.controller_weights)
        d["root_weights"] = list(self.root_weights)
        d["delays"] = {k: list(v) for k, v in self.delays.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict, *, where: str = "config") -> "Config":
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {}
        for k, v in d.items():
            key = k.replace("-", "_")
            if key not in names:
                raise ConfigError(f"{where}: unknown key {k!r}; valid: {', '.join(sorted(names))}")
            if key in ("controller_weights", "root_weights") and isinstance(v, list):
                v = tuple(v)
            if key == "delays":
                if not isinstance(v, dict):
                    raise ConfigError(f"{where}: delays must be a table of point = [probability, max_us]")
                try:
                    v = {p: (float(x[0]), float(x[1])) for p, x in v.items()}
                except (TypeError, ValueError, IndexError):
                    raise ConfigError(f"{where}: delays must map each point to [probability, max_us]") from None
            kw[key] = v
        try:
            return cls(**kw).validate()
        except TypeError as e:
            raise ConfigError(f"{where}: {e}") from None

    def native(self, seed: int) -> dict:
        """The dict stresscore._core.engine_setup takes."""
        return {
            "workers": self.resolved_workers(),
            "mode": self.mode,
            "mutant": self.mutant,
            "seed": seed,
            "max_memcgs": self.max_memcgs,
            "max_depth": self.max_depth,
            "max_held": self.max_held,
            "alloc_pct": self.alloc_pct,
            "send_pct": self.send_pct,
            "controller": self.controller,
            "controller_interval_us": self.controller_interval_us,
            "controller_weights": tuple(self.controller_weights),
            "root_weights": tuple(self.root_weights),
            "checkpoint_interval": self.checkpoint_interval,
            "delays": self.delays if self.delay_injection else {},
        }


PRESETS: dict[str, dict] = {
    # a quick look: a few seconds, everything on
    "smoke": {"duration": 5.0, "max_memcgs": 8},
    # the default scenario
    "default": {},
    # harder: more cgroups, deeper, faster controller, heavier delays
    "tough": {"duration": 300.0, "max_memcgs": 48, "max_depth": 5, "controller_interval_us": 50,
              "checkpoint_interval": 0.02,
              "delays": {k: (min(1.0, p * 3), m * 2) for k, (p, m) in DEFAULT_DELAYS.items()}},
}


_DUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(text: str | float | int) -> float:
    """'30s', '5m', '2h', '1.5', 0 -> seconds.  ConfigError otherwise."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text < 0:
            raise ConfigError(f"duration: must not be negative, got {text!r}")
        return float(text)
    m = _DUR.match(str(text))
    if not m:
        raise ConfigError(f"duration: {text!r} is not a duration like 30s, 5m, 2h or 0 (until interrupted)")
    mult = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    return float(m.group(1)) * mult
