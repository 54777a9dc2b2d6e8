"""One test per seed: run a short scenario and fail with the violation.

Each instance (ids like ``test_seed[seed-17]``) runs the model for the
--stress-duration (default 1 s, 2 workers) with the --stress-mode,
--stress-mutant and --stress-scenario options, and fails with the first
violation (invariant and message), a flight-recorder excerpt (the last
events of every thread) and the exact commands that replay the seed: the
run folder under results/hunt-<timestamp>/seed-N for `memcg-stress replay`,
and the pytest line that reruns this one seed.
"""
import pytest


def test_seed(stress_run, stress_seed):
    result = stress_run(seed=stress_seed)
    if not result.clean:
        pytest.fail(stress_run.explain(result), pytrace=False)
