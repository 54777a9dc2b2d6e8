"""memcontrol as 5.4 accounts it, on fixed scenarios run by the native Model
and the reference alike: the root's page counter and stats (the
mem_cgroup_is_root() branches of memcg_charge_slab/memcg_uncharge_slab)."""
import pytest

from stress.reference import Model as Reference
from stresscore._core import Model as Native


def _fill(m, w, n=80):
    """n allocations from root 0 by worker w, the creation works run between
    two halves so that the second half comes from the child cache."""
    for _ in range(n // 2):
        assert m.alloc(w, 0)
    m.settle()
    for _ in range(n // 2):
        assert m.alloc(w, 0)


@pytest.mark.parametrize("impl", [Native, Reference], ids=["native", "reference"])
def test_root_counter_is_its_childrens_sum_and_never_charged_directly(impl):
    m = impl(workers=2)
    a = m.mkdir(0)
    b = m.mkdir(a)
    m.migrate(0, b)
    _fill(m, 0)
    _fill(m, 1)                     # worker 1 stays in root: root cache only
    snap = m.snapshot()["memcgs"]
    assert snap[b]["memory"] > 0
    assert snap[a]["memory"] == snap[b]["memory"]
    assert snap[0]["memory"] == snap[a]["memory"]     # nothing of worker 1's
    assert snap[0]["stat"] == snap[a]["stat"]         # spills reach root through a only
    assert all(c == [0, 0] for c in snap[0]["pcpu_stat"]) and snap[0]["local"] == [0, 0]
    if impl is Native:
        assert m.check() == []


@pytest.mark.parametrize("impl", [Native, Reference], ids=["native", "reference"])
def test_charge_freed_after_reparenting_to_root_stays_in_roots_counter(impl):
    """A page charged to top-level memcg a and freed once a's caches name
    the root takes memcg_uncharge_slab's root branch: node stats only, so
    a's counter and the root's keep it (5.4 behaviour, reported in the
    README).  The root's check holds it exact through the ledger."""
    m = impl(workers=1)
    a = m.mkdir(0)
    m.migrate(0, a)
    _fill(m, 0)
    charged = m.snapshot()["memcgs"][a]["memory"]
    assert charged > 0
    m.migrate(0, 0)
    assert m.rmdir(a)
    m.settle()                      # offline: a's caches now name the root
    while m.held(0):
        m.free(0, 0)
    m.drain()
    snap = m.snapshot()
    assert list(snap["memcgs"]) == [0]
    assert snap["node_stat"] == [0, 0]
    assert snap["memcgs"][0]["memory"] == charged
    if impl is Native:
        assert m.check(final=True) == []
        assert m.violations() == []


@pytest.mark.parametrize("what,words", [("root-charge", "root page counter"),
                                        ("root-stats", "root stat[0]")])
def test_root_checks_fire_by_message(what, words):
    m = Native(workers=2)
    a = m.mkdir(0)
    m.migrate(0, a)
    m.migrate(1, a)
    _fill(m, 0)
    m.corrupt(what)
    msgs = [v["message"] for v in m.check()]
    assert any(words in s for s in msgs), msgs
