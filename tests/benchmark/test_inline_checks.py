"""The inline checks (RCU lockdep, lock order, write-after-free images) cost
less than 10 % of the 1-worker ops/s, against a build that compiles them
out (MEMCG_STRESS_NO_INLINE_CHECKS=1), side by side, median of 5."""
from stress.bench.engine import inline_checks_overhead


def test_inline_checks_cost_under_10_pct():
    d = inline_checks_overhead(quick=True, repeats=5)
    assert all(v == "clean" for vs in d["inline_checks_verdicts"].values() for v in vs), d
    assert d["inline_checks_overhead_pct"] < 10.0, d
