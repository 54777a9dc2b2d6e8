"""Unit and stress tests of the native primitives (stresscore/*.h, urcu.c).

Real threads run nogil loops; waits are native barriers and joins, never
sleeps.  Thread counts are small (2 cores) and the whole file runs in a few
seconds.  Each test uses its own per-cpu slots and restores global state.
"""
import pytest

from stresscore import _core as c

MAIN_CPU = c.max_cpus() - 1  # the test thread's slot when a test registers it


@pytest.fixture(autouse=True)
def all_cpu_slots():
    """Runs and Models of other tests in this process narrow the slots in
    use; these tests use the last slot."""
    c.thread_unregister()
    c.set_nr_cpus(c.max_cpus())
    yield


@pytest.fixture
def registered():
    c.thread_register(MAIN_CPU)
    try:
        yield MAIN_CPU
    finally:
        c.thread_unregister()


# ---------------------------------------------------------------- RCU ------

MEMBARRIER_SYSCALL = {"x86_64": 324, "aarch64": 283, "riscv64": 283, "ppc64le": 365, "s390x": 356}
MEMBARRIER_CMD_QUERY, MEMBARRIER_CMD_PRIVATE_EXPEDITED = 0, 1 << 3


def test_membarrier_is_used_exactly_when_the_kernel_offers_it():
    """Grace periods use sys_membarrier(PRIVATE_EXPEDITED) when the kernel
    offers it (MEMBARRIER_CMD_QUERY) and smp_mb() readers otherwise; the
    core must have chosen the way this kernel allows."""
    import ctypes
    import platform
    nr = MEMBARRIER_SYSCALL.get(platform.machine())
    if nr is None:
        pytest.skip(f"membarrier syscall number unknown for {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    q = libc.syscall(ctypes.c_long(nr), ctypes.c_int(MEMBARRIER_CMD_QUERY), ctypes.c_int(0))
    offered = q > 0 and bool(q & MEMBARRIER_CMD_PRIVATE_EXPEDITED)
    assert c.rcu_membarrier() is offered
    assert c.rcu_torture(readers=1, duration_s=0.1)["membarrier"] is offered


def test_rcu_torture_correct_sees_no_poison():
    r = c.rcu_torture(readers=2, duration_s=1.0)
    assert r["poison"] == 0, r
    assert r["reused"] == 0, r
    assert r["reads"] > 1000, r
    assert r["nested"] > 0, r
    assert r["updates"] > 20, r
    assert r["grace_periods"] > 0, r
    assert r["callbacks"] > 0, r


def test_rcu_torture_busted_sees_poison():
    # "a deliberate bug for testing purposes only": no grace period at all
    r = c.rcu_torture(readers=2, duration_s=1.0, busted=True)
    assert r["poison"] + r["reused"] > 0, r
    assert r["grace_periods"] == 0, r
    # the mutant is switched off again: a short correct run is clean
    r2 = c.rcu_torture(readers=1, duration_s=0.2)
    assert r2["poison"] == 0 and r2["reused"] == 0, r2


def test_nested_read_sections_are_counted():
    assert c.rcu_nesting_probe() == [1, 1, 1, 0]


def test_inner_unlock_does_not_end_the_outer_section():
    assert c.rcu_nested_gp_check()


def test_call_rcu_is_fifo_and_barrier_drains():
    first, log, pending = c.call_rcu_order(1000)
    assert first == 1000
    assert log == list(range(1000))
    assert pending == 0
    assert c.rcu_process_callbacks_py() == 0  # nothing queued: no grace period


def test_callbacks_queued_from_callbacks_wait_for_the_next_batch():
    first, log, pending = c.call_rcu_order(100, requeue_every=10)
    assert first == 100
    assert log[:100] == list(range(100))
    assert log[100:] == [1_000_000 + i for i in range(0, 100, 10)]
    assert pending == 0


def test_rcu_barrier_waits_on_callback_thread():
    with c.CallbackThread(MAIN_CPU - 1):
        first, log, pending = c.call_rcu_order(500)
        assert log == list(range(500))
        assert pending == 0


def test_gp_statistics():
    c.rcu_reset_stats()
    for _ in range(5):
        c.synchronize_rcu_py()
    s = c.rcu_stats()
    assert s["gp_count"] == 5
    assert sum(s["gp_histogram_us_log2"]) == 5
    assert len(s["gp_histogram_us_log2"]) == 32


# ---------------------------------------------------------- per-cpu --------

def test_percpu_counter_exact_sum_two_writers():
    r = c.percpu_counter_stress(writers=2, iters=200_000, batch=32, seed=7)
    assert r["sum"] == r["expected"], r
    assert abs(r["sum"] - r["read"]) <= r["bound"], r


def test_register_rejects_bad_cpu():
    with pytest.raises(ValueError):
        c.thread_register(c.max_cpus())
    assert c.this_cpu() == -1


def test_thread_ids_are_small_and_nonzero():
    assert c.thread_id() > 0
    assert c.thread_id() == c.thread_id()


# -------------------------------------------------------- percpu_ref -------

@pytest.mark.parametrize("with_slot", [False, True], ids=["atomic-fallback", "percpu-slot"])
def test_percpu_ref_kill_confirm_release(with_slot, request):
    if with_slot:
        request.getfixturevalue("registered")
    under0 = c.counters()["percpu_ref_underflows"]
    p = c.PercpuRefProbe()
    assert p.count == 1 and not p.dying and not p.zero
    p.get(3)
    p.put(2)
    assert p.count == 2
    assert p.tryget() and p.tryget_live()
    assert p.count == 4
    p.kill(confirm=True)
    assert p.dying and p.switch_pending
    assert p.count == 4            # base ref dropped, switch ref taken
    assert not p.tryget_live()     # fails once killed
    assert p.tryget()              # still works while the count is not zero
    assert p.count == 5
    assert p.confirmed == 0
    p.process()                    # grace period, fold, confirm, drop switch ref
    assert not p.switch_pending
    assert p.confirmed == 1
    assert p.count == 4 and p.released == 0 and not p.zero
    p.put(3)
    assert p.released == 0
    p.put()
    assert p.released == 1 and p.zero and p.count == 0
    assert not p.tryget() and not p.tryget_live()
    assert c.counters()["percpu_ref_underflows"] == under0


def test_percpu_ref_release_from_switch_when_last():
    p = c.PercpuRefProbe()
    p.kill()
    assert p.released == 0         # the switch still holds a reference
    p.process()
    assert p.released == 1 and p.zero


def test_percpu_ref_underflow_is_counted_not_fatal():  # prints (no abort) in a debug build
    under0 = c.counters()["percpu_ref_underflows"]
    p = c.PercpuRefProbe()
    p.kill()
    p.process()
    assert p.released == 1
    p.put()                        # one put too many
    assert c.counters()["percpu_ref_underflows"] == under0 + 1


def test_percpu_ref_double_kill_warns():
    w0 = c.counters()["percpu_ref_warnings"]
    p = c.PercpuRefProbe()
    p.get()
    p.kill()
    p.kill()                       # kernel: WARN "called more than once" (and an extra put)
    p.process()
    assert c.counters()["percpu_ref_warnings"] == w0 + 1
    assert p.released == 1


def test_percpu_ref_concurrent_kill():
    r = c.percpu_ref_stress(threads=2, iters=100_000, seed=3)
    assert r["released"] == 1, r
    assert r["confirmed"] == 1, r
    assert r["zero"] and r["count"] == 0, r
    assert r["live_after_dying"] == 0 and r["live_after_kill"] == 0, r
    assert r["underflows"] == 0, r


# --------------------------------------------------------------- MPSC ------

def test_mpsc_three_producers_exactly_once_in_order():
    r = c.mpsc_stress(producers=3, items_each=100_000)
    assert r["popped"] == 300_000, r
    assert r["duplicates"] == 0 and r["missing"] == 0 and r["extra"] == 0, r
    assert r["order_violations"] == 0, r
    assert r["empty_after"], r


# --------------------------------------------------------------- PRNG ------

def test_prng_deterministic_per_seed_and_stream():
    a = c.rng_sequence(42, 0, 100)
    assert a == c.rng_sequence(42, 0, 100)
    assert a != c.rng_sequence(42, 1, 100)
    assert a != c.rng_sequence(43, 0, 100)
    assert len(set(a)) == 100


def test_prng_below_is_in_range_and_roughly_uniform():
    h = c.rng_below_counts(1, 7, 700_000)
    assert sum(h) == 700_000
    assert all(abs(x - 100_000) < 3_000 for x in h), h
    assert c.rng_below_counts(1, 1, 100) == [100]


def test_prng_doubles_in_unit_interval():
    xs = c.rng_doubles(5, 10_000)
    assert all(0.0 <= x < 1.0 for x in xs)
    assert 0.45 < sum(xs) / len(xs) < 0.55


# ------------------------------------------------------------ lockdep ------

def test_lockdep_helpers():
    violate = not c.debug_build()  # a debug build aborts on a violation
    v0 = c.counters()["lockdep_violations"]
    r = c.lockdep_probe(violate)
    assert r["spin_unlocked_held"] == 0 and r["spin_unlocked_assert"] == -1
    assert r["spin_is_locked"] == 1 and r["spin_held"] == 1 and r["spin_assert"] == 0
    assert r["spin_trylock_while_held"] == 0 and r["spin_trylock_free"] == 1
    assert r["mutex_unlocked_assert"] == -1
    assert r["mutex_held"] == 1 and r["mutex_assert"] == 0
    assert r["mutex_trylock"] == 1 and r["mutex_held_after_trylock"] == 1
    assert r["mutex_held_after_unlock"] == 0
    assert r["violations"] == (2 if violate else 0)
    assert c.counters()["lockdep_violations"] == v0 + r["violations"]


def test_lockdep_held_is_per_thread():
    assert c.lockdep_cross_thread() == (0, 0)


def test_spinlock_mutual_exclusion():
    assert c.spinlock_counter(100_000) == 200_000
