# workqueue.pxi: the workqueues as 5.4 declares them (kernel/workqueue.c;
# docs/DESIGN.md, workqueue).
#
#   memcg_kmem_cache_wq = alloc_workqueue("memcg_kmem_cache", 0, 1)
#       (mm/memcontrol.c, memcg_init): cache creation, deactivation after
#       RCU, shutdown;
#   cgroup_destroy_wq = alloc_workqueue("cgroup_destroy", 0, 1)
#       (kernel/cgroup/cgroup.c, cgroup_wq_init): css offline, release, free;
#   system_wq ("events", kernel/workqueue.c, workqueue_init_early):
#       slab_caches_to_rcu_destroy_work (mm/slab_common.c), by schedule_work.
#
# All are per-CPU (not WQ_UNBOUND); the first two have max_active 1, system_wq
# 256, which the model does not need (its one work is one work_struct, and a
# work is never run twice at once).  Each CPU has its own
# pool_workqueue, a FIFO of which at most one work is active at a time;
# works of different CPUs have no order between them.  __queue_work puts a
# work on the pool of the CPU that queues it (ms_queue_cpu: the thread's
# slot, or the CPU of the work or RCU callback it is running).  Pools are
# lock-free MPSC queues; the consumer of a pool is whichever kworker claims
# its `busy` word, held while the work runs (max_active 1).  In a run the
# engine's kworker threads serve every pool (wq_threaded); in the
# single-threaded Model, flush_workqueue() and run_work() run the works on
# the calling thread, pool by pool as asked.

cdef enum:
    WQ_KMEM_CACHE = 0           # memcg_kmem_cache_wq
    WQ_CGROUP_DESTROY = 1       # cgroup_destroy_wq
    WQ_SYSTEM = 2               # system_wq
    WQ_NR = 3
    WQ_TEST = 3                 # a private workqueue for tests (harness_queues.pxi); no kworker of a run serves it

cdef struct wq_pool:            # one CPU's pool_workqueue of one workqueue
    mpsc_queue q                # lock-free producers; the claimer pops
    int busy                    # cmpxchg_I 0 -> 1 by the kworker running its one active work
    char _pad[60]

cdef struct workqueue_struct:
    wq_pool pools[MS_MAX_CPUS]

cdef workqueue_struct wqs[WQ_NR + 1]
WORKQUEUE_NAMES = ("memcg_kmem_cache", "cgroup_destroy", "events")     # by WQ_* index
cdef long wq_threaded = 0           # the engine's kworker threads serve the pools
ctypedef void (*wq_hook_t)() noexcept nogil
cdef wq_hook_t wq_wait_hook = NULL  # the engine's safe point while flush_workqueue waits

cdef void wq_init() noexcept nogil:
    cdef int i, c
    for i in range(WQ_NR + 1):
        for c in range(MS_MAX_CPUS):
            mpsc_init(&wqs[i].pools[c].q)
            wqs[i].pools[c].busy = 0

cdef inline int wq_nr_pools() noexcept nogil:
    cdef int n = READ_ONCE_I(&ms_nr_cpu_ids)
    return 1 if n < 1 else (MS_MAX_CPUS if n > MS_MAX_CPUS else n)

cdef inline void queue_work_on(int cpu, int wq, work_struct *w) noexcept nogil:
    mpsc_push(&wqs[wq].pools[cpu].q, &w.node)

cdef inline void queue_work(int wq, work_struct *w) noexcept nogil:
    """queue_work (kernel/workqueue.c, __queue_work): on this CPU's pool."""
    queue_work_on(ms_queue_cpu(), wq, w)

cdef inline bint schedule_work(work_struct *w) noexcept nogil:
    """schedule_work (include/linux/workqueue.h): queue on system_wq unless
    already pending (WORK_STRUCT_PENDING, cleared when the work starts)."""
    if cmpxchg_L(&w.pending, 0, 1) != 0:
        return False
    queue_work(WQ_SYSTEM, w)
    return True

cdef int wq_run_pool(int wq, int cpu) noexcept nogil:
    """Run the oldest work of one pool if no other work of it is active;
    0 when none ran (empty, or busy)."""
    cdef wq_pool *p = &wqs[wq].pools[cpu]
    cdef work_struct *w
    cdef int saved
    if mpsc_empty(&p.q) or cmpxchg_I(&p.busy, 0, 1) != 0:
        return 0
    w = <work_struct *>mpsc_pop(&p.q)
    if w == NULL:
        smp_store_release_I(&p.busy, 0)
        return 0
    saved = ms_exec_cpu_swap(cpu)   # the work runs for the CPU that queued it
    WRITE_ONCE_L(&w.pending, 0)     # set_work_pool_and_clear_pending, then smp_mb (process_one_work)
    smp_mb()
    w.func(w)
    ms_exec_cpu_swap(saved)
    smp_store_release_I(&p.busy, 0)     # the work's effects before the next claimer's
    return 1

cdef int wq_run_one() noexcept nogil:
    """Run one work from the first pool that has one (workqueue, then cpu
    order); 0 when none is (visibly) queued."""
    cdef int i, c, n = wq_nr_pools()
    for i in range(WQ_NR):
        for c in range(n):
            if wq_run_pool(i, c):
                return 1
    return 0

cdef bint wq_all_empty() noexcept nogil:
    cdef int i, c, n = wq_nr_pools()
    for i in range(WQ_NR):
        for c in range(n):
            if not mpsc_empty(&wqs[i].pools[c].q):
                return False
    return True

cdef void barrier_work_fn(work_struct *w) noexcept nogil:
    smp_store_release_L(&w.done, 1)    # pairs with the acquire in flush_workqueue

cdef void flush_workqueue(int wq) noexcept nogil:
    """flush_workqueue (kernel/workqueue.c): wait until every work queued on
    `wq` before the call, on every CPU, has run.  A barrier goes on each
    pool (each is FIFO with one active work: when its barrier ran, the works
    before it did)."""
    cdef work_struct b[MS_MAX_CPUS]
    cdef timespec ts
    cdef int c, left, n = wq_nr_pools()
    for c in range(n):
        b[c].func = barrier_work_fn
        b[c].owner = NULL
        b[c].kind = WK_BARRIER
        b[c].done = 0
        queue_work_on(c, wq, &b[c])
    if READ_ONCE_L(&wq_threaded):
        ts.tv_sec = 0
        ts.tv_nsec = 20000
        while True:
            left = 0
            for c in range(n):
                if not smp_load_acquire_L(&b[c].done):
                    left += 1
            if left == 0:
                break
            if wq_wait_hook != NULL:
                wq_wait_hook()          # a safe point: a stop of the world may park us here
            cpu_nanosleep(&ts)
    else:
        for c in range(n):
            while not b[c].done:
                if not wq_run_pool(wq, c):
                    break
