"""The Poisson bound and the coverage classes (stress/coverage.py)."""
import math

import pytest

from stress.config import ConfigError
from stress.coverage import (check_confidence, check_rate, coverage, coverage_text,
                             duration_to_rule_out, rate_ruled_out, rate_verdict)


def test_rule_of_three_at_95_percent():
    # -ln(0.05) = 2.9957: one clean hour rules out about 3 failures per hour
    assert rate_ruled_out(3600, 0.95) == pytest.approx(2.995732, rel=1e-6)
    assert rate_ruled_out(7200, 0.95) == pytest.approx(1.497866, rel=1e-6)


def test_known_values_other_confidences():
    assert rate_ruled_out(3600, 0.99) == pytest.approx(4.605170, rel=1e-6)       # -ln(0.01)
    assert rate_ruled_out(3600, 1 - 1 / math.e) == pytest.approx(1.0, rel=1e-12)
    assert rate_ruled_out(600, 0.90) == pytest.approx(6 * 2.302585, rel=1e-6)      # 10 min, -ln(0.1)


def test_duration_inverts_the_bound():
    assert duration_to_rule_out(1.0, 0.95) == pytest.approx(10784.64, rel=1e-5)   # 2.9957 h
    for rate in (0.01, 0.5, 3.0, 100.0):
        assert rate_ruled_out(duration_to_rule_out(rate, 0.9), 0.9) == pytest.approx(rate, rel=1e-12)


def test_no_time_rules_out_nothing():
    assert math.isinf(rate_ruled_out(0))
    assert rate_verdict(0)["rate_per_hour"] is None


def test_verdict_text():
    v = rate_verdict(3600, 0.95)
    assert v["text"] == "no violation in 3600.0s; rate below 3 per hour at 95 % confidence"


@pytest.mark.parametrize("bad", ["0", "1", "1.5", "-0.1", "x", None])
def test_bad_confidence(bad):
    with pytest.raises(ConfigError, match="confidence"):
        check_confidence(bad)


@pytest.mark.parametrize("bad", ["0", "-1", "inf", "nan", "fast"])
def test_bad_rate(bad):
    with pytest.raises(ConfigError, match="rule-out"):
        check_rate(bad)


def test_coverage_classes():
    cov = coverage({"a": {"opened": 5, "raced": 2}, "b": {"opened": 3, "raced": 0},
                    "c": {"opened": 0, "raced": 0}})
    assert cov["raced"] == ["a"] and cov["opened_not_raced"] == ["b"] and cov["never_opened"] == ["c"]
    assert coverage_text(cov) == "windows 1/3 raced, 1 opened never raced (b), 1 never opened (c)"
    assert coverage_text(coverage({})) .startswith("windows not counted")
