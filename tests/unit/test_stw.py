"""Stop-the-world (stresscore/stw.pxi): a stop holds every participant,
also one requested right after a resume, while the parked threads are still
waking from the previous stop."""
from stresscore import _core


def test_a_stop_right_after_a_resume_holds_the_parker():
    assert _core.stw_probe(rounds=2000) == 0


def test_a_stop_does_not_wait_for_a_nap_and_the_napper_parks_when_it_wakes():
    """stw_nap (an actor between steps, an idle kworker) counts as parked:
    the stop returns while the napper sleeps (300 ms), and the napper,
    waking inside the stop, parks before its next step."""
    asleep, moved = _core.stw_nap_probe(nap_us=300000)
    assert asleep == 1
    assert moved == 0
