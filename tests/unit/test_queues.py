"""The per-CPU workqueues and RCU callback lists (stresscore/workqueue.pxi,
urcu.c): each CPU's pool or list is FIFO, a per-CPU workqueue with
max_active 1 runs at most one work of a CPU at a time and each for the CPU
that queued it, there is no order between CPUs, and flush_workqueue() and
rcu_barrier() wait for everything queued before them on every CPU.  The
RCU torture covers several lists served by several callback threads."""
import pytest

from stresscore import _core as c


@pytest.fixture(autouse=True)
def all_cpu_slots():
    c.thread_unregister()
    c.set_nr_cpus(c.max_cpus())
    yield


def _per_cpu(order):
    out = {}
    for cpu, seq in order:
        out.setdefault(cpu, []).append(seq)
    return out


def test_flush_waits_for_every_work_on_every_cpu():
    r = c.workqueue_probe(cpus=4, per_cpu=200, kworkers=2, spins=500, seed=3, first_cpu=60)
    assert r["ran_at_flush"] == r["queued"] == 800
    per = _per_cpu(r["order"])
    assert sorted(per) == [0, 1, 2, 3]
    for cpu, seqs in per.items():
        assert seqs == list(range(200)), f"cpu {cpu}'s pool ran out of order"
    assert r["max_active"] == 1     # max_active 1 per CPU, each work for its own CPU


def test_no_order_between_cpus_and_cpus_run_concurrently():
    seen_interleavings = set()
    max_running = 0
    for seed in (1, 2, 3):
        r = c.workqueue_probe(cpus=3, per_cpu=100, kworkers=2, spins=20000, seed=seed, first_cpu=60)
        assert r["ran_at_flush"] == r["queued"]
        cpus = [cpu for cpu, _ in r["order"]]
        seen_interleavings.add(tuple(cpus[:30]))
        max_running = max(max_running, r["max_running"])
        # not CPU by CPU: some work of a later CPU ran before one of an earlier CPU
        assert any(cpus[i] > cpus[j] for i in range(len(cpus)) for j in range(i + 1, min(len(cpus), i + 20))), \
            "the pools ran in CPU order"
    assert max_running == 2          # two kworkers: works of different CPUs at once
    assert len(seen_interleavings) > 1


def test_callback_lists_are_fifo_per_cpu_and_barrier_covers_all():
    log, pending = c.call_rcu_lists_order(cpus=4, per_cpu=50, seed=7, rounds=4)
    assert pending == 0
    assert len(log) == 4 * 50 * 4
    assert all(cpu >= 0 for cpu, _ in log), "a callback ran for another CPU than it was queued on"
    per = _per_cpu(log)
    for cpu, seqs in per.items():
        assert seqs == list(range(200)), f"cpu {cpu}'s list ran out of order"
    # the lists ended their grace periods in a random order, not cpu by cpu
    firsts = [cpu for cpu, seq in log if seq == 0]
    assert firsts != sorted(firsts) or len(set(firsts)) < 4


def test_rcu_barrier_waits_on_several_callback_threads():
    threads = [c.CallbackThread(58 + k, k, 2, 5) for k in range(2)]
    for t in threads:
        t.start()
    try:
        log, pending = c.call_rcu_lists_order(cpus=4, per_cpu=30, seed=2, rounds=2)
        assert pending == 0 and len(log) == 240
        for cpu, seqs in _per_cpu(log).items():
            assert cpu >= 0 and seqs == list(range(60))
    finally:
        for t in threads:
            t.close()


def test_rcu_torture_over_several_lists_and_callback_threads():
    """Callbacks queued on four CPUs' lists, two callback threads serving
    them in a seeded random order (no order between lists, which the kernel
    does not give either): never a poisoned object seen by a reader."""
    r = c.rcu_torture(readers=2, duration_s=1.0, lists=4, cb_threads=2, seed=9, first_cpu=40)
    assert r["reads"] > 0 and r["callbacks"] > 0
    assert r["poison"] == 0, r


def test_rcu_torture_busted_over_several_lists_sees_poison():
    r = c.rcu_torture(readers=2, duration_s=1.0, busted=True, lists=4, cb_threads=2, seed=9,
                      first_cpu=40, hold_spins=2000)
    assert r["poison"] + r["reused"] > 0, r
