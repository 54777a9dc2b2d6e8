# harness_queues.pxi: harnesses of the per-CPU workqueues and RCU callback
# lists, for tests/unit/test_queues.py: per-CPU FIFO order, max_active 1,
# no order between CPUs, flush_workqueue and rcu_barrier over every CPU.

cdef enum:
    PROBE_MAX_WORKS = 4096

cdef struct probe_work:
    work_struct work        # first: queued as a work item
    int cpu                 # the pool it was queued on
    long seq                # its rank among the works of its pool
    long spins

cdef struct wq_probe_state:
    long log_cpu[PROBE_MAX_WORKS]   # cpu of the k-th work that ran (fetch_add slot)
    long log_seq[PROBE_MAX_WORKS]
    long pos                        # atomic: next log slot
    long active[MS_MAX_CPUS]        # atomic: works of a pool running now
    long max_active                 # most works of one pool seen running at once
    long running                    # atomic: works of any pool running now
    long max_running                # most works running at once, all pools
    int stop


cdef wq_probe_state *probe_st = NULL


cdef void _probe_work_fn(work_struct *w) noexcept nogil:
    cdef probe_work *p = <probe_work *>w
    cdef long a, r, k, i
    a = fetch_add_L(&probe_st.active[p.cpu], 1) + 1
    r = fetch_add_L(&probe_st.running, 1) + 1
    if a > READ_ONCE_L(&probe_st.max_active):
        WRITE_ONCE_L(&probe_st.max_active, a)
    if r > READ_ONCE_L(&probe_st.max_running):
        WRITE_ONCE_L(&probe_st.max_running, r)
    if ms_exec_cpu != p.cpu:
        WRITE_ONCE_L(&probe_st.max_active, 1000)    # ran for another CPU than it was queued on
    for i in range(p.spins):
        cpu_relax()
    k = fetch_add_L(&probe_st.pos, 1)
    probe_st.log_cpu[k] = p.cpu
    probe_st.log_seq[k] = p.seq
    fetch_add_L(&probe_st.running, -1)
    fetch_add_L(&probe_st.active[p.cpu], -1)


cdef void _probe_kworker(int cpu, unsigned long long seed) noexcept nogil:
    cdef ms_rng rng
    cdef int k, start, n
    ms_rng_seed(&rng, seed, cpu)
    ms_thread_register(cpu)
    while not READ_ONCE_I(&probe_st.stop):
        n = wq_nr_pools()
        start = ms_rng_below(&rng, n)
        for k in range(n):
            wq_run_pool(WQ_TEST, (start + k) % n)
        sched_yield()
    ms_thread_unregister()


def _probe_kworker_entry(int cpu, unsigned long long seed):
    with nogil:
        _probe_kworker(cpu, seed)


def workqueue_probe(int cpus=4, int per_cpu=200, int kworkers=2, long spins=2000,
                    unsigned long long seed=1, int first_cpu=0):
    """Queue per_cpu works on each of `cpus` pools of a private per-CPU
    workqueue (max_active 1) served by `kworkers` threads, then
    flush_workqueue() from this thread.  Returns what flush saw and the
    order the works ran in."""
    global probe_st, wq_threaded
    import threading
    cdef probe_work *ws
    cdef int c, i, n = cpus * per_cpu
    cdef long ran_at_flush
    if READ_ONCE_I(&run_state) in (RUN_RUNNING, RUN_DRAINING):
        raise RuntimeError("workqueue_probe needs an idle engine")
    if n > PROBE_MAX_WORKS or cpus > ms_nr_cpu_ids or first_cpu + kworkers > ms_nr_cpu_ids:
        raise ValueError("too many works or cpus")
    probe_st = <wq_probe_state *>calloc(1, sizeof(wq_probe_state))
    ws = <probe_work *>calloc(n, sizeof(probe_work))
    for c in range(MS_MAX_CPUS):
        mpsc_init(&wqs[WQ_TEST].pools[c].q)
        wqs[WQ_TEST].pools[c].busy = 0
    for i in range(n):
        ws[i].work.func = _probe_work_fn
        ws[i].work.kind = WK_BARRIER + 100
        ws[i].cpu = i % cpus
        ws[i].seq = i // cpus
        ws[i].spins = spins
    threads = [threading.Thread(target=_probe_kworker_entry, args=(first_cpu + k, seed), daemon=True)
               for k in range(kworkers)]
    wq_threaded = 1
    with nogil:
        for i in range(n):
            queue_work_on(ws[i].cpu, WQ_TEST, &ws[i].work)
    for t in threads:
        t.start()
    with nogil:
        flush_workqueue(WQ_TEST)
        ran_at_flush = READ_ONCE_L(&probe_st.pos)
        WRITE_ONCE_I(&probe_st.stop, 1)
    for t in threads:
        t.join()
    wq_threaded = 0
    out = {
        "queued": n,
        "ran_at_flush": ran_at_flush,
        "order": [(probe_st.log_cpu[i], probe_st.log_seq[i]) for i in range(probe_st.pos)],
        "max_active": probe_st.max_active,
        "max_running": probe_st.max_running,
    }
    free(ws)
    free(probe_st)
    probe_st = NULL
    return out


cdef struct _lcb:
    rcu_head rh             # first field
    int cpu
    long seq
    long *log_cpu
    long *log_seq
    long *pos


cdef void _lcb_fn(rcu_head *h) noexcept nogil:
    cdef _lcb *r = <_lcb *>h
    cdef long k = r.pos[0]
    r.log_cpu[k] = r.cpu if ms_exec_cpu == r.cpu else -1 - r.cpu
    r.log_seq[k] = r.seq
    r.pos[0] = k + 1


def call_rcu_lists_order(int cpus=4, int per_cpu=50, unsigned long long seed=1, int rounds=4):
    """Manual mode: queue per_cpu callbacks on each of `cpus` lists (as if
    from that CPU), then end grace periods list by list in a seeded random
    order, `rounds` times adding callbacks in between, then rcu_barrier().
    Returns the invocation log [(cpu, seq)] (cpu < 0: it ran for another
    CPU than it was queued on) and the callbacks pending after the barrier."""
    cdef int n = cpus * per_cpu * rounds
    cdef _lcb *recs = <_lcb *>calloc(n, sizeof(_lcb))
    cdef long *lc = <long *>calloc(n + 1, sizeof(long))
    cdef long *ls = <long *>calloc(n + 1, sizeof(long))
    cdef long pos = 0
    cdef int i, r, c, saved, k = 0, j
    cdef ms_rng rng
    if cpus > ms_nr_cpu_ids:
        raise ValueError("more lists than cpu slots")
    ms_rng_seed(&rng, seed, 0)
    with nogil:
        for r in range(rounds):
            for i in range(cpus * per_cpu):
                c = i % cpus
                recs[k].cpu = c
                recs[k].seq = r * per_cpu + i // cpus
                recs[k].log_cpu = lc
                recs[k].log_seq = ls
                recs[k].pos = &pos
                saved = ms_exec_cpu_swap(c)
                call_rcu(&recs[k].rh, _lcb_fn)
                ms_exec_cpu_swap(saved)
                k += 1
            for j in range(cpus):
                c = ms_rng_below(&rng, cpus)
                rcu_process_callbacks_set(&c, 1)
        rcu_barrier()
    out = [(lc[i], ls[i]) for i in range(pos)]
    pending = rcu_pending_callbacks()
    free(recs)
    free(lc)
    free(ls)
    return out, pending
