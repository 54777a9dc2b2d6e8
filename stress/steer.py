"""`--steer coverage`: weight a run toward the race windows it has not raced.

Every STEER_INTERVAL seconds the engine hands the window counters
(`_core.window_counts()`) to CoverageSteering.step, which:

- raises the probability and the length of the delay at the point that
  opens a window that was opened but never raced (doubling the probability
  per step, from at least 0.5 %, up to MAX_LEVEL steps), and puts the
  point back to its configured setting once every window it opens has
  raced: the delay is what holds a thread inside the window while the
  conflicting step runs (docs/DESIGN.md, race windows);
- raises the cgroups alive at most (8 more per step, up to 255) while
  `entry-vs-grow` has not raced: the id space grows only when more
  memcgs are alive than ever before;
- halves the module actor's pause (down to 50 us) while a root destroy
  has not raced an offline (`deactivate-vs-root-destroy`,
  `root-destroy-vs-deactivate`), and restores it after.

Windows that cannot race (`grow-vs-offline`: both steps hold
`cgroup_mutex`) or whose conflicting step the mode never runs (the
reparenting paths, in legacy mode: LEGACY_NEVER_RACES) are not steered
for, nor are windows never opened (a delay cannot open one).  Every change is logged with its time;
the log is the run's `steering` in summary.json.
"""
from __future__ import annotations

STEER_MODES = ("none", "coverage")
STEER_INTERVAL = 0.25
MAX_LEVEL = 6
NEVER_RACES = {"grow-vs-offline"}
#: legacy mode never reparents: these conflicting steps are on the reparenting paths
LEGACY_NEVER_RACES = {"charge-vs-reparent", "uncharge-vs-reparent", "swap-vs-page-free", "offline-vs-charge"}
GROWTH = "entry-vs-grow"
ROOT_DESTROY = ("deactivate-vs-root-destroy", "root-destroy-vs-deactivate")
MEMCG_STEP, MEMCG_MAX = 8, 255
MODULE_MIN_US = 50


def level_setting(base: tuple[float, float], level: int) -> tuple[float, float]:
    """The delay (probability, max_us) at a steering level; level 0 is the
    configured one."""
    prob, max_us = base
    if level <= 0:
        return prob, max_us
    return min(1.0, max(prob, 0.005) * 2 ** level), min(100_000.0, max(max_us, 100.0) * (1 + level))


class CoverageSteering:
    def __init__(self, core, max_memcgs: int, module_interval_us: int, windows: list[dict],
                 mode: str = "reparent"):
        """The configured delays are read back from the run (core.delay_setting)."""
        self.core = core
        self.skip = NEVER_RACES | (LEGACY_NEVER_RACES if mode == "legacy" else set())
        self.point_of = {w["name"]: w["opened at"] for w in windows}
        self.base = {p: core.delay_setting(p) for p in set(self.point_of.values())}
        self.level = dict.fromkeys(self.base, 0)
        self.max_memcgs = self.base_memcgs = max_memcgs
        self.module_us = self.base_module_us = module_interval_us
        self.log: list[dict] = []

    def _set(self, t: float, what: str, **kw) -> None:
        self.log.append({"t": round(t, 3), "what": what, **kw})

    def step(self, t: float, counts: dict) -> None:
        starving: dict[str, bool] = {}
        for name, c in counts.items():
            p = self.point_of.get(name)
            if p is None or name in self.skip or not c["opened"]:
                continue
            starving[p] = starving.get(p, False) or c["raced"] == 0
        for p in self.level:
            want = min(MAX_LEVEL, self.level[p] + 1) if starving.get(p) else 0
            if want != self.level[p]:
                self.level[p] = want
                prob, max_us = level_setting(self.base[p], want)
                self.core.steer_delay(p, prob, max_us)
                self._set(t, "delay", point=p, level=want, probability=round(prob, 6), max_us=max_us)
        grow = counts.get(GROWTH)
        if grow is not None and grow["raced"] == 0 and self.max_memcgs < MEMCG_MAX:
            self.max_memcgs = min(MEMCG_MAX, self.max_memcgs + MEMCG_STEP)
            self.core.steer_max_memcgs(self.max_memcgs)
            self._set(t, "max_memcgs", value=self.max_memcgs)
        rd = [counts[w] for w in ROOT_DESTROY if w in counts]
        if rd:
            want = max(MODULE_MIN_US, self.module_us // 2) if any(c["raced"] == 0 for c in rd) \
                else self.base_module_us
            if want != self.module_us:
                self.module_us = want
                self.core.steer_module_interval(want)
                self._set(t, "module_interval_us", value=want)

    def summary(self) -> dict:
        return {"mode": "coverage", "interval_s": STEER_INTERVAL, "changes": len(self.log),
                "max_memcgs": self.max_memcgs, "log": self.log[-200:]}
