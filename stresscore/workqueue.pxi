# workqueue.pxi: the workqueue, memcg_kmem_cache_wq (ordered, one consumer;
# kernel/workqueue.c; docs/DESIGN.md, workqueue).
#
# Work items are work_struct (_core.pxd) queued on a lock-free MPSC queue.
# In a run the engine's workqueue thread consumes it (wq_threaded); in the
# single-threaded Model, flush_workqueue() and run_work() run the items on
# the calling thread.

cdef mpsc_queue workqueue           # memcg_kmem_cache_wq (ordered; one consumer)
cdef long wq_threaded = 0           # the engine's workqueue thread consumes it

cdef inline void queue_work(work_struct *w) noexcept nogil:
    mpsc_push(&workqueue, &w.node)

cdef int wq_run_one() noexcept nogil:
    """Run the oldest queued work item; 0 when none is (visibly) queued."""
    cdef work_struct *w = <work_struct *>mpsc_pop(&workqueue)
    if w == NULL:
        return 0
    w.func(w)
    return 1

cdef void barrier_work_fn(work_struct *w) noexcept nogil:
    smp_store_release_L(&w.done, 1)    # pairs with the acquire in flush_workqueue

cdef void flush_workqueue() noexcept nogil:
    """Wait until every work item queued before the call has run."""
    cdef work_struct b
    cdef timespec ts
    b.func = barrier_work_fn
    b.owner = NULL
    b.kind = WK_BARRIER
    b.done = 0
    queue_work(&b)
    if READ_ONCE_L(&wq_threaded):
        ts.tv_sec = 0
        ts.tv_nsec = 20000
        while not smp_load_acquire_L(&b.done):
            nanosleep(&ts, NULL)
    else:
        while not b.done:
            if not wq_run_one():
                break
