"""--steer coverage: the steering rules, against a recording stand-in for
the native hooks (a steered run of the engine: tests/regression/test_engine.py;
the unit tier runs no engine, which leaves it done, not idle)."""
import pytest

from stress.config import Config, ConfigError
from stress.steer import MAX_LEVEL, CoverageSteering, level_setting

WINDOWS = [{"name": "entry-vs-grow", "opened at": "get_cache_entry"},
           {"name": "entry-vs-offline", "opened at": "get_cache_entry"},
           {"name": "grow-vs-offline", "opened at": "array_grow"},
           {"name": "deactivate-vs-root-destroy", "opened at": "deactivate_dying"},
           {"name": "kill-vs-page-free", "opened at": "cache_kill"}]


class Core:
    """Records what steering asks of the native model."""
    def __init__(self):
        self.delays = {"get_cache_entry": (0.02, 500.0), "array_grow": (1.0, 2000.0),
                       "deactivate_dying": (0.0, 0.0), "cache_kill": (0.3, 500.0)}
        self.max_memcgs = None
        self.module_us = None

    def delay_setting(self, p):
        return self.delays[p]

    def steer_delay(self, p, prob, max_us):
        self.delays[p] = (prob, max_us)

    def steer_max_memcgs(self, n):
        self.max_memcgs = n

    def steer_module_interval(self, us):
        self.module_us = us


def counts(**raced):
    """Every window opened; raced as given (default 0)."""
    return {w["name"]: {"opened": 10, "raced": raced.get(w["name"].replace("-", "_"), 0)} for w in WINDOWS}


def test_a_window_opened_but_never_raced_gets_longer_likelier_delays_until_it_races():
    core = Core()
    s = CoverageSteering(core, 16, 1000, WINDOWS)
    s.step(0.25, counts(entry_vs_offline=3, kill_vs_page_free=1))
    # entry-vs-grow (same point as entry-vs-offline) has not raced: the point is boosted
    assert core.delays["get_cache_entry"] == level_setting((0.02, 500.0), 1)
    assert core.delays["cache_kill"] == (0.3, 500.0)            # every window of it raced
    assert core.delays["array_grow"] == (1.0, 2000.0)           # grow-vs-offline cannot race: never steered
    assert core.max_memcgs == 24 and core.module_us == 500      # growth and root destroy not raced yet
    for i in range(MAX_LEVEL + 3):
        s.step(0.5 + i, counts(entry_vs_offline=3, kill_vs_page_free=1))
    assert s.level["get_cache_entry"] == MAX_LEVEL
    p, m = core.delays["get_cache_entry"]
    assert p == 1.0 and m == level_setting((0.02, 500.0), MAX_LEVEL)[1]
    # once they race, everything goes back to the configuration
    s.step(20.0, counts(entry_vs_grow=1, entry_vs_offline=3, kill_vs_page_free=1, deactivate_vs_root_destroy=2))
    assert core.delays["get_cache_entry"] == (0.02, 500.0) and core.module_us == 1000
    assert s.summary()["changes"] == len(s.log) > 0 and s.log[-1]["what"] == "module_interval_us"


def test_a_window_never_opened_is_not_steered_for():
    core = Core()
    s = CoverageSteering(core, 16, 1000, WINDOWS)
    c = counts()
    c["kill-vs-page-free"]["opened"] = 0
    s.step(0.25, c)
    assert core.delays["cache_kill"] == (0.3, 500.0)


def test_legacy_mode_does_not_steer_for_the_reparenting_windows():
    core = Core()
    wins = WINDOWS + [{"name": "offline-vs-charge", "opened at": "offline_kmem"}]
    core.delays["offline_kmem"] = (0.1, 300.0)
    c = counts(entry_vs_grow=1, entry_vs_offline=1, kill_vs_page_free=1, deactivate_vs_root_destroy=1)
    c["offline-vs-charge"] = {"opened": 5, "raced": 0}
    CoverageSteering(core, 16, 1000, wins, "legacy").step(0.25, c)
    assert core.delays["offline_kmem"] == (0.1, 300.0)
    CoverageSteering(core, 16, 1000, wins, "reparent").step(0.25, c)
    assert core.delays["offline_kmem"] == level_setting((0.1, 300.0), 1)


def test_steer_is_checked():
    with pytest.raises(ConfigError, match="steer"):
        Config(steer="sometimes").validate()
