"""Stop-the-world (stresscore/stw.pxi): a stop holds every participant,
also one requested right after a resume, while the parked threads are still
waking from the previous stop."""
from stresscore import _core


def test_a_stop_right_after_a_resume_holds_the_parker():
    assert _core.stw_probe(rounds=2000) == 0
