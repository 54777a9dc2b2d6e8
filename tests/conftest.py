"""Make the checkout importable (stress/, stresscore/) without installing it,
and keep the benchmark tier out of an ordinary run.

The tests are in three tiers, as liburcu keeps them:

- unit/: fast, single-threaded, and the native primitives;
- regression/: real-thread runs, checkers firing, mutants, the CLI and the
  plugin end to end;
- benchmark/: whatever asserts a ratio or a time.  `pytest tests` leaves it
  out; `memcg-stress bench --tests` runs it (it sets
  MEMCG_STRESS_BENCHMARK_TESTS=1), and so does naming it:
  `python3 -m pytest tests/benchmark`.
"""
import os
import sys

# Clean-run tests of the default (reparent) mode would otherwise meet README
# finding 8, 5.4's root drift, by design and at random (the long-lived set
# makes it a matter of seconds): the suite runs with the model's fix unless
# a test asks for 5.4's accounting (fix_root_drift=False), which the
# finding's own tests do.  Subprocesses (the CLI and plugin tests) inherit it.
os.environ.setdefault("MEMCG_STRESS_FIX_ROOT_DRIFT", "1")
# Likewise finding 9 (5.4's memcg_hotplug_cpu_dead and the online-only
# flush at free lose stat residues of CPUs the hotplug actor takes down,
# within a checkpoint or two): the suite runs with both fixed
# (fix_hotplug_fold, fix_flush_offline) unless a test asks for 5.4's.
os.environ.setdefault("MEMCG_STRESS_FIX_HOTPLUG_FOLD", "1")

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

# the variable stress.cli.bench.BENCHMARK_TESTS_ENV names
collect_ignore = [] if os.environ.get("MEMCG_STRESS_BENCHMARK_TESTS") == "1" else ["benchmark"]
