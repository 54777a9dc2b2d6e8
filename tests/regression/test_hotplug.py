"""CPU hotplug (stresscore/hotplug.pxi): the actor takes CPUs down and up,
the threads of a CPU going down move to a free one, and the dead callbacks
fold what the CPU held, as 5.4's CPUHP_*_DEAD states do.  README finding 9
(5.4's memcg_hotplug_cpu_dead and the online-only flush at free) and
finding 10 (the shrink write's kn->count -> cpu_hotplug_lock)."""
import pytest

from stress import Config, run
from stresscore._core import Model

DENTRY = 0


def _residues_on(m, w, n=12):
    """Worker w's memcg gets stat residues on its CPU (fewer pages than
    the batch, so nothing spills into the hierarchical counters); the
    first allocation queues the creation of the memcg's cache, which runs
    before the rest."""
    assert m.alloc(w, DENTRY)
    m.settle()
    for _ in range(n * 21):
        assert m.alloc(w, DENTRY)
    assert any(m.snapshot()["memcgs"][m.snapshot()["workers"][w]["memcg"]]["pcpu_stat"][w])


def _emptied_child(fix_fold, fix_flush, back_to):
    """A model where worker 0 left stat residues in a child b of a, freed
    every object and moved to back_to; returns (model, b)."""
    m = Model(workers=2, fix_root_drift=True, fix_hotplug_fold=fix_fold, fix_flush_offline=fix_flush)
    a = m.mkdir(0)
    b = m.mkdir(a)
    m.migrate(0, b)
    _residues_on(m, 0)
    while m.held(0):
        m.free(0, m.held(0) - 1)
    m.migrate(0, a if back_to == "parent" else 0)
    m.rmdir(b)
    return m, b


def test_hotplug_moves_threads_and_runs_clean():
    """With both parts of finding 9 fixed (the suite's default), CPUs go
    down and up, workers move, and every checkpoint stays exact."""
    r = run(Config(duration=2.0, workers=2, seed=3, stat_interval=0))
    assert r.clean, r.violations[:2]
    g = r.stats["global"]
    assert g["cpus_down"] > 0 and g["cpus_up"] > 0
    assert g["cpu_migrations"] > 0              # a worker's CPU went down under it
    total = len(r.stats["roles"]) + Config().hotplug_spares    # the threads' CPUs and the spare
    assert all(1 <= s["cpus_online"] <= total for s in r.samples)
    assert r.stats["cpus_online"] >= total - 1  # one down at most when the actor stopped


def test_no_hotplug_actor_keeps_every_cpu_online():
    r = run(Config(duration=0.5, workers=2, seed=3, hotplug_actor=False, stat_interval=0))
    assert r.clean, r.violations[:2]
    assert r.stats["global"]["cpus_down"] == 0
    assert "hotplug" not in r.stats["roles"]
    assert r.stats["cpus_online"] == len(r.stats["roles"])       # no spare without the actor


@pytest.mark.parametrize("fold, flush", [(False, True), (True, False)])
def test_each_part_of_finding_9_is_caught_by_the_stats_check(fold, flush):
    """5.4's fold (this_cpu_xchg of the control CPU, added to the memcg once
    per level), or the fixed fold with 5.4's online-only flush at free:
    either loses residues, and the stats check names it."""
    r = run(Config(duration=20.0, workers=2, seed=1, fix_hotplug_fold=fold, fix_flush_offline=flush,
                   stat_interval=0))
    assert not r.clean
    assert r.violations[0]["invariant"] == "stats", r.violations[0]
    assert r.stats["global"]["cpus_down"] > 0


def test_the_5_4_fold_step_by_step():
    """The offline of a memcg whose worker freed its objects discards its
    empty slabs on the control CPU (the deactivation's shrink), leaving
    that CPU residues of the memcg's chain; then a CPU goes down.  The fix
    folds the dead CPU's residues into each ancestor (the checks hold);
    5.4 folds the control CPU's (this_cpu_xchg) into each memcg alone, once
    per level: the stats check fires."""
    for fix in (True, False):
        m, _ = _emptied_child(fix, fix, "parent")
        try:
            m.settle()
            assert m.check() == []
            m.cpu_down(1)
            assert m.snapshot()["cpus_online"][1] is False
            with pytest.raises(RuntimeError, match="offline"):
                m.alloc(1, DENTRY)
            found = [v["invariant"] for v in m.check()]
            assert (found == []) if fix else ("stats" in found), found
            m.cpu_up(1)
            assert m.alloc(1, DENTRY)
        finally:
            m.settle(1000)
            m.close()


def test_a_memcg_released_before_its_cpu_died_loses_residues_in_5_4():
    """for_each_mem_cgroup skips a released memcg, and its free flushes
    online CPUs only: the dead CPU's residues of that memcg never reach the
    ancestors (finding 9, second part).  fix_flush_offline keeps them."""
    for flush in (True, False):
        m, b = _emptied_child(True, flush, "root")
        try:
            for _ in range(200):
                if m.snapshot()["memcgs"].get(b, {}).get("state") == "released":
                    break
                if not m.run_work(1) and not m.run_stock_drains():
                    m.grace_period()
            else:
                raise AssertionError("memcg b was never released")
            m.cpu_down(0)
            m.settle()
            assert b not in m.memcg_ids()           # freed while CPU 0 is down
            found = [v["invariant"] for v in m.check()]
            assert (found == []) if flush else ("stats" in found), found
        finally:
            m.settle(1000)
            m.close()


def test_owner_check_fires_on_a_write_from_an_offline_cpu():
    m = Model(workers=2)
    try:
        m.cpu_down(0)
        assert m.check() == []
        m.corrupt("offline-cpu-write")
        msgs = [v["message"] for v in m.violations() if v["invariant"] == "percpu-owner"]
        assert any("while that CPU is offline" in s for s in msgs), m.violations()
    finally:
        m.close()


def test_finding_10_lockdep_reports_the_shrink_write_against_kmemcg_workfn():
    """With lockdep recording the shrink write's get_online_cpus, the run
    reports kn->count -> cpu_hotplug_lock against kmemcg_workfn's
    cpu_hotplug_lock -> slab_mutex -> kn->count (kobject_del)."""
    r = run(Config(duration=20.0, workers=2, seed=2, lockdep_shrink_hotplug=True, stat_interval=0))
    assert not r.clean
    v = r.violations[0]
    assert v["invariant"] == "lock-order", v
    assert "cpu_hotplug_lock" in v["message"] and "kn->active" in v["message"], v["message"]
