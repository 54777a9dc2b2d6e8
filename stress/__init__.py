"""memcg-stress: a concurrent stress tester for the Linux memory-cgroup slab
reparenting protocol (Linux 5.3).

    from stress import Config, run
    result = run(Config(duration=10, mode="reparent"))
    assert result.clean, result.violations
"""
from .config import Config, ConfigError, PRESETS
from .engine import Result, run

__all__ = ["Config", "ConfigError", "PRESETS", "Result", "run"]
__version__ = "0.1.0"
