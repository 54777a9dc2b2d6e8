# benchmarks.pxi: micro-benchmarks of the native primitives (used by
# stress/bench.py).


def _median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def rcu_read_pair_ns(long iters=10000000, int reps=5):
    """Median over ``reps`` of the cost of one rcu_read_lock()+unlock() pair
    (outermost, on the calling thread), in ns."""
    cdef long i
    cdef unsigned long long t0, t1
    rcu_read_lock()          # registers the calling thread lazily
    rcu_read_unlock()
    out = []
    for _ in range(reps):
        with nogil:
            t0 = ms_now_ns()
            for i in range(iters):
                rcu_read_lock()
                rcu_read_unlock()
            t1 = ms_now_ns()
        out.append((t1 - t0) / <double>iters)
    return _median(out)


cdef struct sync_bench_state:
    int stop
    int started


cdef void _sync_bench_reader(sync_bench_state *st, int cpu) noexcept nogil:
    cdef int k
    ms_thread_register(cpu)
    _start_barrier(&st.started, 2)
    while not READ_ONCE_I(&st.stop):
        rcu_read_lock()
        for k in range(10):
            cpu_relax()
        rcu_read_unlock()
    ms_thread_unregister()


def _sync_bench_entry(size_t a, int cpu):
    with nogil:
        _sync_bench_reader(<sync_bench_state *>a, cpu)


def synchronize_rcu_stats(long iters=2000, int first_cpu=0):
    """One reader thread loops in short read sections while the calling
    thread runs ``iters`` synchronize_rcu(); per-call latencies in us."""
    cdef sync_bench_state st
    cdef long i
    cdef unsigned long long t0
    cdef double *lat = <double *>malloc(iters * sizeof(double))
    if lat == NULL:
        raise MemoryError()
    memset(&st, 0, sizeof(st))
    cdef size_t a = <size_t>&st
    t = _threading.Thread(target=_sync_bench_entry, args=(a, first_cpu), daemon=True)
    t.start()
    with nogil:
        _start_barrier(&st.started, 2)
        for i in range(iters):
            t0 = ms_now_ns()
            synchronize_rcu()
            lat[i] = (ms_now_ns() - t0) / 1000.0
        WRITE_ONCE_I(&st.stop, 1)
    t.join()
    xs = sorted(lat[i] for i in range(iters))
    free(lat)
    return {
        "median_us": _median(xs),
        "p90_us": xs[int(0.9 * (len(xs) - 1))],
        "p99_us": xs[int(0.99 * (len(xs) - 1))],
        "max_us": xs[len(xs) - 1],
    }


def synchronize_rcu_us(long iters=2000, int reps=3, int first_cpu=0):
    """Median synchronize_rcu() latency (us) with one reader thread looping,
    median over ``reps`` runs."""
    return _median([synchronize_rcu_stats(iters, first_cpu)["median_us"] for _ in range(reps)])


def call_rcu_throughput(long n=200000):
    """Manual mode: queue n callbacks, then process; returns callbacks/s."""
    cdef _cb_rec *recs = <_cb_rec *>calloc(n, sizeof(_cb_rec))
    cdef long *log = <long *>calloc(n + 1, sizeof(long))
    cdef long pos = 0, i
    cdef unsigned long long t0, t1
    if recs == NULL or log == NULL:
        free(recs); free(log)
        raise MemoryError()
    for i in range(n):
        recs[i].seq = i
        recs[i].log = log
        recs[i].pos = &pos
    with nogil:
        t0 = ms_now_ns()
        for i in range(n):
            call_rcu(&recs[i].rh, _record_cb)
        rcu_barrier()
        t1 = ms_now_ns()
    free(recs)
    free(log)
    return n / ((t1 - t0) / 1e9)


def percpu_counter_add_ns(long iters=10000000):
    """Single-thread cost of percpu_counter_add() on a registered thread (ns)."""
    cdef percpu_counter c
    cdef long i
    cdef unsigned long long t0, t1
    if percpu_counter_init(&c, 32) != 0:
        raise MemoryError()
    cdef int cpu0 = smp_processor_id()
    if cpu0 < 0:
        ms_thread_register(MS_MAX_CPUS - 1)
    with nogil:
        t0 = ms_now_ns()
        for i in range(iters):
            percpu_counter_add(&c, 1)
        t1 = ms_now_ns()
    if cpu0 < 0:
        ms_thread_unregister()
    total = percpu_counter_sum(&c)
    percpu_counter_destroy(&c)
    if total != iters:
        raise AssertionError(f"percpu_counter lost counts: {total} != {iters}")
    return (t1 - t0) / <double>iters
