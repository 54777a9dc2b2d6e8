# wrappers.pxi: thin Python wrappers of the native primitives
# (primitives.pxd): the per-cpu slot registry, RCU statistics and manual
# mode, error counters, the RCU callback thread for tests, the PRNG and the
# build switches.  Native loops run nogil on real threads started from
# Python (threading.Thread whose target enters ``with nogil:``); they return
# counts, and Python turns bad results into exceptions.  harness.pxi and
# benchmarks.pxi start their threads with _run_threads and _start_barrier.

import threading as _threading


# ---------------------------------------------------------------------------
# thread helpers
# ---------------------------------------------------------------------------

cdef inline void _start_barrier(int *started, int nthreads) noexcept nogil:
    """Count this thread in, then wait (spin, yield) for the others."""
    cdef int spins = 0
    fetch_add_I(started, 1)       # fully ordered: our setup before the others start
    while READ_ONCE_I(started) < nthreads:
        spins += 1
        if spins < 64:
            cpu_relax()
        else:
            sched_yield()


def _run_threads(list targets):
    """Start one threading.Thread per (callable, args) and join them all."""
    threads = [_threading.Thread(target=fn, args=args, daemon=True) for fn, args in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def thread_register(int cpu):
    """Claim per-cpu slot ``cpu`` for the calling thread (and make it an RCU reader)."""
    if cpu < 0 or cpu >= ms_nr_cpu_ids:
        raise ValueError(f"cpu {cpu} out of [0, {ms_nr_cpu_ids})")
    ms_thread_register(cpu)


def thread_unregister():
    """Release the calling thread's per-cpu slot and RCU reader registration."""
    ms_thread_unregister()


def this_cpu():
    """The calling thread's per-cpu slot, -1 when unregistered."""
    return smp_processor_id()


def thread_id():
    """The calling thread's small unique id (ms_thread_id())."""
    return ms_thread_id()


def set_nr_cpus(int n):
    """Per-cpu slots in use (between runs only: no per-cpu residues may be
    live).  Runs and Models set it themselves; tests of the primitives reset
    it to every slot."""
    if n < 1 or n > MS_MAX_CPUS:
        raise ValueError(f"nr_cpus must be in [1, {MS_MAX_CPUS}]")
    ms_set_nr_cpus(n)


def max_cpus():
    return MS_MAX_CPUS


def rcu_membarrier():
    """True when readers use compiler barriers and updaters sys_membarrier."""
    return bool(rcu_has_membarrier())


def rcu_stats():
    """Grace-period statistics since the last reset."""
    cdef unsigned long hist[32]
    rcu_gp_histogram(hist)
    return {
        "gp_count": rcu_gp_count(),
        "gp_histogram_us_log2": [hist[i] for i in range(32)],
        "callbacks_invoked": rcu_cb_invoked_count(),
        "pending_callbacks": rcu_pending_callbacks(),
    }


def rcu_reset_stats():
    rcu_stats_reset()


def counters():
    """Global error counters of the primitives."""
    return {
        "lockdep_violations": READ_ONCE_L(&lockdep_violations),
        "percpu_ref_underflows": READ_ONCE_L(&percpu_ref_underflows),
        "percpu_ref_warnings": READ_ONCE_L(&percpu_ref_warnings),
    }


# ---------------------------------------------------------------------------
# RCU callback thread (tests; the engine owns its own)
# ---------------------------------------------------------------------------

cdef void _cb_thread_loop(int *stop, int cpu, int index, int nr, unsigned long long seed) noexcept nogil:
    """Serve the callback lists c with c % nr == index (every list when nr
    is 1), all batches under one grace period, invoked list by list in a
    seeded random order (no order between lists, as the kernel gives none)."""
    cdef ms_rng rng
    ms_rng_seed(&rng, seed, cpu)
    ms_thread_register(cpu)
    while not READ_ONCE_I(stop):
        if rcu_process_callbacks_share(index, nr, &rng) == 0:
            rcu_wait_for_callbacks(1000000)
    ms_thread_unregister()


def _cb_thread_entry(size_t stop_addr, int cpu, int index, int nr, unsigned long long seed):
    with nogil:
        _cb_thread_loop(<int *>stop_addr, cpu, index, nr, seed)


cdef class CallbackThread:
    """A thread invoking RCU callbacks; ``with CallbackThread(cpu):``.
    CallbackThread(cpu, index, nr, seed) serves the lists c % nr == index
    in a seeded random order (nr threads together serve every list).

    On exit: rcu_barrier() (served by the thread), detach, stop, join.
    """
    cdef int stop
    cdef int cpu
    cdef int index
    cdef int nr
    cdef unsigned long long seed
    cdef object thread

    def __cinit__(self, int cpu, int index=0, int nr=1, unsigned long long seed=1):
        if nr < 1 or index < 0 or index >= nr:
            raise ValueError("index must be in [0, nr)")
        self.stop = 0
        self.cpu = cpu
        self.index = index
        self.nr = nr
        self.seed = seed
        self.thread = None

    def start(self):
        self.stop = 0
        rcu_set_callback_thread_active(1)
        self.thread = _threading.Thread(
            target=_cb_thread_entry, args=(<size_t>&self.stop, self.cpu, self.index, self.nr, self.seed),
            daemon=True)
        self.thread.start()

    def close(self):
        if self.thread is None:
            return
        with nogil:
            rcu_barrier()
        rcu_set_callback_thread_active(0)
        WRITE_ONCE_I(&self.stop, 1)
        self.thread.join()
        self.thread = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---------------------------------------------------------------------------
# manual-mode RCU (single-threaded tests)
# ---------------------------------------------------------------------------

def rcu_process_callbacks_py():
    """rcu_process_callbacks() from Python (manual mode)."""
    cdef int n
    with nogil:
        n = rcu_process_callbacks()
    return n


def rcu_barrier_py():
    with nogil:
        rcu_barrier()


def synchronize_rcu_py():
    with nogil:
        synchronize_rcu()

# ---------------------------------------------------------------------------
# PRNG
# ---------------------------------------------------------------------------

def rng_sequence(unsigned long long seed, unsigned long long stream, int n):
    """First n outputs of ms_rng_next() for (seed, stream)."""
    cdef ms_rng r
    ms_rng_seed(&r, seed, stream)
    return [ms_rng_next(&r) for _ in range(n)]


def rng_below_counts(unsigned long long seed, unsigned int n, long draws):
    """Histogram of ms_rng_below(n) over ``draws`` draws."""
    cdef ms_rng r
    cdef long i
    cdef long *h = <long *>calloc(n if n else 1, sizeof(long))
    if h == NULL:
        raise MemoryError()
    ms_rng_seed(&r, seed, 0)
    with nogil:
        for i in range(draws):
            h[ms_rng_below(&r, n)] += 1
    out = [h[i] for i in range(n)]
    free(h)
    return out


def rng_doubles(unsigned long long seed, int n):
    cdef ms_rng r
    ms_rng_seed(&r, seed, 0)
    return [ms_rng_double(&r) for _ in range(n)]


# ---------------------------------------------------------------------------
# locks / lockdep
# ---------------------------------------------------------------------------


def debug_build():
    """True when built with MEMCG_STRESS_DEBUG=1 (lockdep asserts abort)."""
    return bool(MS_DEBUG_BUILD)
