"""memcg-stress: a concurrent stress tester for the Linux memory-cgroup slab
reparenting protocol (Linux 5.3).

    from stress import Config, run
    result = run(Config(duration=10, mode="reparent"))
    assert result.clean, result.violations

Submodules load lazily, so that importing the pytest plugin stays cheap.
"""
__version__ = "0.1.0"
__all__ = ["Config", "ConfigError", "PRESETS", "Result", "run"]

_LAZY = {"Config": "config", "ConfigError": "config", "PRESETS": "config",
         "Result": "engine", "run": "engine"}


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'stress' has no attribute {name!r}")
    import importlib
    return getattr(importlib.import_module(f"stress.{mod}"), name)
