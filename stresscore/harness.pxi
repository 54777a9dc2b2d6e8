# harness.pxi: torture and test harnesses of the native primitives, for
# tests/test_primitives.py: rcutorture, callback order and nesting, the
# per-cpu counter, percpu_ref, the MPSC queue and the lock checks.  Each
# runs nogil loops on threads started by _run_threads (wrappers.pxi) and
# returns what it saw.


# ---------------------------------------------------------------------------
# rcutorture: publish / retire / poison, readers check for poison
# ---------------------------------------------------------------------------

cdef struct torture_obj:
    rcu_head rh             # first field; rh.owner unused
    long magic              # ALIVE or POISON: WRITE_ONCE by the updater / callback, READ_ONCE by readers
    long gen                # generation, same access rules
    long payload[4]         # gen copies, poisoned too
    int state               # FREE/LIVE/RETIRED: RETIRED->FREE by the callback (release), read by the writer (acquire)

cdef struct torture_state:
    void *current           # the published object: rcu_assign_pointer / rcu_dereference
    torture_obj *pool
    long npool
    int stop                # lock-free flag set by the writer at the deadline
    int started             # start barrier
    int nthreads
    int nreaders
    int hold_spins
    int use_call_rcu
    int lists               # call_rcu spread over the callback lists of cpus 0..lists-1
    unsigned long long duration_ns
    long updates
    long skipped
    long reads[TORTURE_MAX_READERS]
    long poison[TORTURE_MAX_READERS]
    long reused[TORTURE_MAX_READERS]
    long nested[TORTURE_MAX_READERS]


cdef inline void _torture_poison(torture_obj *o) noexcept nogil:
    cdef int j
    WRITE_ONCE_L(&o.magic, TORTURE_POISON)
    for j in range(4):
        WRITE_ONCE_L(&o.payload[j], TORTURE_POISON)


cdef void _torture_cb(rcu_head *h) noexcept nogil:
    cdef torture_obj *o = <torture_obj *>h
    _torture_poison(o)
    smp_store_release_I(&o.state, TORTURE_FREE)  # poison before reuse; pairs with the writer's acquire


cdef void _torture_writer(torture_state *st, int cpu) noexcept nogil:
    cdef unsigned long long deadline
    cdef long i = 0, g = 1
    cdef int j, tries, saved
    cdef torture_obj *o
    cdef torture_obj *old
    ms_thread_register(cpu)
    _start_barrier(&st.started, st.nthreads)
    deadline = ms_now_ns() + st.duration_ns
    while ms_now_ns() < deadline:
        o = &st.pool[i % st.npool]
        i += 1
        if smp_load_acquire_I(&o.state) != TORTURE_FREE:   # pairs with _torture_cb's release
            st.skipped += 1
            sched_yield()
            continue
        g += 1
        WRITE_ONCE_L(&o.magic, TORTURE_ALIVE)
        WRITE_ONCE_L(&o.gen, g)
        for j in range(4):
            WRITE_ONCE_L(&o.payload[j], g)
        o.state = TORTURE_LIVE
        old = <torture_obj *>READ_ONCE_P(&st.current)
        smp_store_release_P(&st.current, o)   # rcu_assign_pointer: init before publish; pairs with readers' acquire
        st.updates += 1
        if old == NULL:
            continue
        if st.use_call_rcu and (g & 1):
            WRITE_ONCE_I(&old.state, TORTURE_RETIRED)
            saved = ms_exec_cpu_swap(<int>((g >> 1) % st.lists))    # queued as if from that CPU
            call_rcu(&old.rh, _torture_cb)
            ms_exec_cpu_swap(saved)
        else:
            synchronize_rcu()
            _torture_poison(old)
            WRITE_ONCE_I(&old.state, TORTURE_FREE)
    WRITE_ONCE_I(&st.stop, 1)
    ms_thread_unregister()


cdef void _torture_reader(torture_state *st, int idx, int cpu) noexcept nogil:
    cdef long reads = 0, poison = 0, reused = 0, nested = 0
    cdef torture_obj *p
    cdef torture_obj *q
    cdef long m, g
    cdef int k, j
    ms_thread_register(cpu)
    _start_barrier(&st.started, st.nthreads)
    while not READ_ONCE_I(&st.stop):
        rcu_read_lock()
        p = <torture_obj *>smp_load_acquire_P(&st.current)   # rcu_dereference; pairs with the writer's release
        if p != NULL:
            m = READ_ONCE_L(&p.magic)
            g = READ_ONCE_L(&p.gen)
            if m != TORTURE_ALIVE:
                poison += 1
            else:
                if (reads & 3) == 0:
                    # nested section: inner unlock must not end the outer one
                    rcu_read_lock()
                    q = <torture_obj *>smp_load_acquire_P(&st.current)
                    if READ_ONCE_L(&q.magic) != TORTURE_ALIVE:
                        poison += 1
                    rcu_read_unlock()
                    nested += 1
                for k in range(st.hold_spins):   # hold the pointer across a delay
                    cpu_relax()
                if READ_ONCE_L(&p.magic) != TORTURE_ALIVE:
                    poison += 1
                elif READ_ONCE_L(&p.gen) != g:
                    reused += 1
                else:
                    for j in range(4):
                        if READ_ONCE_L(&p.payload[j]) != g:
                            poison += 1
                            break
        rcu_read_unlock()
        reads += 1
    st.reads[idx] = reads
    st.poison[idx] = poison
    st.reused[idx] = reused
    st.nested[idx] = nested
    ms_thread_unregister()


def _torture_writer_entry(size_t addr, int cpu):
    with nogil:
        _torture_writer(<torture_state *>addr, cpu)


def _torture_reader_entry(size_t addr, int idx, int cpu):
    with nogil:
        _torture_reader(<torture_state *>addr, idx, cpu)


def rcu_torture(int readers=2, double duration_s=1.0, bint busted=False,
                bint use_call_rcu=True, int hold_spins=200, int first_cpu=0,
                int lists=1, int cb_threads=1, unsigned long long seed=1):
    """rcutorture-style run: returns a dict of counts (``poison`` must be 0
    unless ``busted``).  Threads: ``readers`` readers, one writer and
    ``cb_threads`` callback threads (each serving its share of the lists in
    a seeded random order), on cpus first_cpu.. first_cpu+readers+cb_threads.
    The writer's call_rcu goes round the lists of cpus 0..lists-1."""
    if readers < 1 or readers > TORTURE_MAX_READERS:
        raise ValueError(f"readers must be in [1, {TORTURE_MAX_READERS}]")
    if first_cpu < 0 or first_cpu + readers + 1 + cb_threads > ms_nr_cpu_ids \
            or lists < 1 or lists > ms_nr_cpu_ids or cb_threads < 1:
        raise ValueError("not enough cpu slots")
    cdef torture_state *st = <torture_state *>calloc(1, sizeof(torture_state))
    if st == NULL:
        raise MemoryError()
    st.npool = 4096
    st.pool = <torture_obj *>calloc(st.npool, sizeof(torture_obj))
    if st.pool == NULL:
        free(st)
        raise MemoryError()
    st.nreaders = readers
    st.nthreads = readers + 1
    st.hold_spins = hold_spins
    st.use_call_rcu = use_call_rcu
    st.lists = lists
    st.duration_ns = <unsigned long long>(duration_s * 1e9)
    cdef unsigned long gp0 = rcu_gp_count()
    cdef unsigned long cb0 = rcu_cb_invoked_count()
    cdef size_t addr = <size_t>st
    cbs = [CallbackThread(first_cpu + readers + 1 + k, k, cb_threads, seed) for k in range(cb_threads)]
    rcu_set_busted(busted)
    try:
        for cb in cbs:
            cb.start()
        try:
            targets = [(_torture_writer_entry, (addr, first_cpu + readers))]
            targets += [(_torture_reader_entry, (addr, i, first_cpu + i)) for i in range(readers)]
            _run_threads(targets)
        finally:
            for cb in cbs:
                cb.close()      # rcu_barrier(): every retired object poisoned
    finally:
        rcu_set_busted(False)
    res = {
        "reads": sum(st.reads[i] for i in range(readers)),
        "poison": sum(st.poison[i] for i in range(readers)),
        "reused": sum(st.reused[i] for i in range(readers)),
        "nested": sum(st.nested[i] for i in range(readers)),
        "updates": st.updates,
        "skipped": st.skipped,
        "grace_periods": rcu_gp_count() - gp0,
        "callbacks": rcu_cb_invoked_count() - cb0,
        "busted": bool(busted),
        "membarrier": bool(rcu_has_membarrier()),
    }
    free(st.pool)
    free(st)
    return res


# ---------------------------------------------------------------------------
# manual-mode RCU helpers (single-threaded tests)
# ---------------------------------------------------------------------------
cdef struct _cb_rec:
    rcu_head rh             # first field
    long seq
    long *log               # shared log array
    long *pos               # next index in log (callbacks run serially)
    int requeue             # callback queues a follow-up (seq + 1000000)


cdef void _record_cb(rcu_head *h) noexcept nogil:
    cdef _cb_rec *r = <_cb_rec *>h
    r.log[r.pos[0]] = r.seq
    r.pos[0] += 1
    if r.requeue:
        r.requeue = 0
        r.seq += 1000000
        call_rcu(&r.rh, _record_cb)


def call_rcu_order(int n, int requeue_every=0):
    """Manual mode: queue n callbacks (every requeue_every-th re-queues itself
    from inside the callback), process one batch, then rcu_barrier().
    Returns (first_batch_count, log of invocation order, pending_after)."""
    cdef _cb_rec *recs = <_cb_rec *>calloc(n, sizeof(_cb_rec))
    cdef long *log = <long *>calloc(2 * n + 1, sizeof(long))
    cdef long pos = 0
    cdef int i, first
    if recs == NULL or log == NULL:
        free(recs); free(log)
        raise MemoryError()
    for i in range(n):
        recs[i].seq = i
        recs[i].log = log
        recs[i].pos = &pos
        recs[i].requeue = 1 if (requeue_every and i % requeue_every == 0) else 0
    with nogil:
        for i in range(n):
            call_rcu(&recs[i].rh, _record_cb)
        first = rcu_process_callbacks()
        rcu_barrier()
    out = [log[i] for i in range(pos)]
    pending = rcu_pending_callbacks()
    free(recs)
    free(log)
    return first, out, pending

def rcu_nesting_probe():
    """Nested read sections on the calling thread: returns the sequence of
    rcu_read_lock_held() after lock, lock, unlock, unlock."""
    cdef int a, b, c, d
    with nogil:
        rcu_read_lock()
        a = rcu_read_lock_held()
        rcu_read_lock()
        b = rcu_read_lock_held()
        rcu_read_unlock()
        c = rcu_read_lock_held()
        rcu_read_unlock()
        d = rcu_read_lock_held()
    return [a, b, c, d]


cdef struct _nest_state:
    int stop
    int started
    int phase               # 0 start; 2 reader out of the nested section, still in the outer one;
                            # 3 reader left the outer section with the writer still waiting (correct);
                            # 4 the writer returned first (a broken grace period)
    int writer_done         # set when synchronize_rcu() returned


cdef void _nest_reader(_nest_state *st, int cpu) noexcept nogil:
    cdef int k
    ms_thread_register(cpu)
    _start_barrier(&st.started, 2)
    rcu_read_lock()
    rcu_read_lock()
    rcu_read_unlock()            # inner unlock: still inside the outer section
    smp_store_release_I(&st.phase, 2)
    for k in range(2000):        # the writer must still be waiting for us
        if smp_load_acquire_I(&st.writer_done):
            break
        sched_yield()
    smp_store_release_I(&st.phase, 3 if not smp_load_acquire_I(&st.writer_done) else 4)
    rcu_read_unlock()
    ms_thread_unregister()


cdef void _nest_writer(_nest_state *st, int cpu) noexcept nogil:
    ms_thread_register(cpu)
    _start_barrier(&st.started, 2)
    while smp_load_acquire_I(&st.phase) < 2:
        sched_yield()
    synchronize_rcu()
    smp_store_release_I(&st.writer_done, 1)
    ms_thread_unregister()


def _nest_reader_entry(size_t a, int cpu):
    with nogil:
        _nest_reader(<_nest_state *>a, cpu)


def _nest_writer_entry(size_t a, int cpu):
    with nogil:
        _nest_writer(<_nest_state *>a, cpu)


def rcu_nested_gp_check(int first_cpu=0):
    """A reader does lock, lock, unlock and then stays in the outer section
    for 2000 yields; a concurrent synchronize_rcu() must not return before
    the outer unlock.  Returns True when it did not (correct)."""
    cdef _nest_state st
    memset(&st, 0, sizeof(st))
    cdef size_t a = <size_t>&st
    _run_threads([(_nest_reader_entry, (a, first_cpu)), (_nest_writer_entry, (a, first_cpu + 1))])
    return st.phase == 3 and st.writer_done == 1


# ---------------------------------------------------------------------------
# percpu_counter
# ---------------------------------------------------------------------------

cdef struct pcc_state:
    percpu_counter c
    int started
    int nthreads
    long iters
    long batch
    unsigned long long seed
    long expected[MS_MAX_CPUS]


cdef void _pcc_writer(pcc_state *st, int idx, int cpu) noexcept nogil:
    cdef ms_rng rng
    cdef long i, v, total = 0
    ms_rng_seed(&rng, st.seed, idx)
    ms_thread_register(cpu)
    _start_barrier(&st.started, st.nthreads)
    for i in range(st.iters):
        v = <long>ms_rng_below(&rng, <unsigned int>(4 * st.batch + 1)) - 2 * st.batch
        percpu_counter_add(&st.c, v)
        total += v
    st.expected[idx] = total
    ms_thread_unregister()


def _pcc_entry(size_t a, int idx, int cpu):
    with nogil:
        _pcc_writer(<pcc_state *>a, idx, cpu)


def percpu_counter_stress(int writers=2, long iters=200000, long batch=32,
                          unsigned long long seed=1, int first_cpu=0):
    """``writers`` threads add random values in [-2*batch, 2*batch]; returns
    the exact sum, the expected total, and the atomic part (read)."""
    if writers < 1 or first_cpu + writers > ms_nr_cpu_ids:
        raise ValueError("bad writer count")
    cdef pcc_state *st = <pcc_state *>aligned_alloc(64, ((sizeof(pcc_state) + 63) // 64) * 64)
    if st == NULL:
        raise MemoryError()
    memset(st, 0, sizeof(pcc_state))
    if percpu_counter_init(&st.c, batch) != 0:
        free(st)
        raise MemoryError()
    st.nthreads = writers
    st.iters = iters
    st.batch = batch
    st.seed = seed
    cdef size_t a = <size_t>st
    _run_threads([(_pcc_entry, (a, i, first_cpu + i)) for i in range(writers)])
    res = {
        "sum": percpu_counter_sum(&st.c),
        "read": percpu_counter_read(&st.c),
        "expected": sum(st.expected[i] for i in range(writers)),
        "bound": batch * writers,
    }
    percpu_counter_destroy(&st.c)
    free(st)
    return res


# ---------------------------------------------------------------------------
# percpu_ref
# ---------------------------------------------------------------------------

cdef struct pref_box:
    percpu_ref ref
    long released           # atomic
    long confirmed          # atomic
    int release_tid         # thread that ran release()


cdef void _pref_release(percpu_ref *ref) noexcept nogil:
    cdef pref_box *b = <pref_box *>ref.owner
    WRITE_ONCE_I(&b.release_tid, ms_thread_id())
    fetch_add_L(&b.released, 1)


cdef void _pref_confirm(percpu_ref *ref) noexcept nogil:
    cdef pref_box *b = <pref_box *>ref.owner
    fetch_add_L(&b.confirmed, 1)


cdef class PercpuRefProbe:
    """One percpu_ref driven step by step from Python (single-threaded tests).

    The switch to atomic mode runs in manual mode: call ``process()``
    (rcu_barrier) to run it."""
    cdef pref_box *b
    cdef bint alive

    def __cinit__(self):
        self.b = <pref_box *>calloc(1, sizeof(pref_box))
        if self.b == NULL:
            raise MemoryError()
        if percpu_ref_init(&self.b.ref, _pref_release, self.b) != 0:
            free(self.b)
            self.b = NULL
            raise MemoryError()
        self.alive = True

    def __dealloc__(self):
        if self.b != NULL:
            if percpu_ref_switch_pending(&self.b.ref):
                with nogil:
                    rcu_barrier()
            percpu_ref_exit(&self.b.ref)
            free(self.b)
            self.b = NULL

    def get(self, long n=1):
        percpu_ref_get_many(&self.b.ref, n)

    def put(self, long n=1):
        percpu_ref_put_many(&self.b.ref, n)

    def tryget(self):
        return bool(percpu_ref_tryget(&self.b.ref))

    def tryget_live(self):
        return bool(percpu_ref_tryget_live(&self.b.ref))

    def kill(self, bint confirm=False):
        if confirm:
            percpu_ref_kill_and_confirm(&self.b.ref, _pref_confirm)
        else:
            percpu_ref_kill(&self.b.ref)

    def process(self):
        """Run queued RCU callbacks (the mode switch) in this thread."""
        with nogil:
            rcu_barrier()

    @property
    def dying(self):
        return bool(percpu_ref_is_dying(&self.b.ref))

    @property
    def zero(self):
        return bool(percpu_ref_is_zero(&self.b.ref))

    @property
    def switch_pending(self):
        return bool(percpu_ref_switch_pending(&self.b.ref))

    @property
    def count(self):
        return percpu_ref_count(&self.b.ref)

    @property
    def released(self):
        return READ_ONCE_L(&self.b.released)

    @property
    def confirmed(self):
        return READ_ONCE_L(&self.b.confirmed)

    @property
    def atomic_count(self):
        return READ_ONCE_L(&self.b.ref.count)


cdef struct pref_stress:
    pref_box box
    int started
    int nthreads
    long iters
    unsigned long long seed
    long live_after_dying[MS_MAX_CPUS]   # tryget_live succeeded after is_dying() said so
    long live_after_kill[MS_MAX_CPUS]    # tryget_live succeeded after this thread's own kill
    long gets[MS_MAX_CPUS]


cdef void _pref_worker(pref_stress *st, int idx, int cpu) noexcept nogil:
    cdef ms_rng rng
    cdef long it, held = 0, gets = 0, bad_dying = 0, bad_kill = 0
    cdef int killed = 0, dying, r
    cdef percpu_ref *ref = &st.box.ref
    ms_rng_seed(&rng, st.seed, idx)
    ms_thread_register(cpu)
    _start_barrier(&st.started, st.nthreads)
    for it in range(st.iters):
        if idx == 0 and it == st.iters // 2:
            percpu_ref_kill_and_confirm(ref, _pref_confirm)
            killed = 1
        r = ms_rng_below(&rng, 4)
        if r == 0:
            dying = percpu_ref_is_dying(ref)
            if percpu_ref_tryget_live(ref):
                held += 1
                gets += 1
                if dying:
                    bad_dying += 1
                if killed:
                    bad_kill += 1
        elif r == 1:
            if percpu_ref_tryget(ref):
                held += 1
                gets += 1
        elif r == 2:
            if held > 0:
                percpu_ref_get(ref)
                held += 1
                gets += 1
        else:
            if held > 0:
                percpu_ref_put(ref)
                held -= 1
    if held > 0:
        percpu_ref_put_many(ref, held)
    st.live_after_dying[idx] = bad_dying
    st.live_after_kill[idx] = bad_kill
    st.gets[idx] = gets
    ms_thread_unregister()


def _pref_entry(size_t a, int idx, int cpu):
    with nogil:
        _pref_worker(<pref_stress *>a, idx, cpu)


def percpu_ref_stress(int threads=2, long iters=200000, unsigned long long seed=1,
                      int first_cpu=0):
    """``threads`` threads tryget/get/put one percpu_ref while thread 0 kills
    it half way; a callback thread performs the switch.  Returns counts; a
    correct run has released == confirmed == 1, zero == True, count == 0 and
    no live tryget after dying."""
    if threads < 1 or first_cpu + threads + 1 > ms_nr_cpu_ids:
        raise ValueError("bad thread count")
    cdef pref_stress *st = <pref_stress *>calloc(1, sizeof(pref_stress))
    if st == NULL:
        raise MemoryError()
    if percpu_ref_init(&st.box.ref, _pref_release, &st.box) != 0:
        free(st)
        raise MemoryError()
    st.nthreads = threads
    st.iters = iters
    st.seed = seed
    cdef long under0 = READ_ONCE_L(&percpu_ref_underflows)
    cdef size_t a = <size_t>st
    with CallbackThread(first_cpu + threads):
        _run_threads([(_pref_entry, (a, i, first_cpu + i)) for i in range(threads)])
    res = {
        "released": st.box.released,
        "confirmed": st.box.confirmed,
        "zero": bool(percpu_ref_is_zero(&st.box.ref)),
        "count": percpu_ref_count(&st.box.ref),
        "live_after_dying": sum(st.live_after_dying[i] for i in range(threads)),
        "live_after_kill": sum(st.live_after_kill[i] for i in range(threads)),
        "gets": sum(st.gets[i] for i in range(threads)),
        "underflows": READ_ONCE_L(&percpu_ref_underflows) - under0,
    }
    percpu_ref_exit(&st.box.ref)
    free(st)
    return res


# ---------------------------------------------------------------------------
# MPSC queue
# ---------------------------------------------------------------------------

cdef struct mpsc_item:
    mpsc_node node          # first field
    int producer
    long seq

cdef struct mpsc_state:
    mpsc_queue q            # 64-byte aligned members: state comes from aligned_alloc
    mpsc_item *items
    int started
    int nthreads
    long items_each


cdef void _mpsc_producer(mpsc_state *st, int p) noexcept nogil:
    cdef long i
    cdef mpsc_item *base = st.items + p * st.items_each
    _start_barrier(&st.started, st.nthreads)
    for i in range(st.items_each):
        base[i].producer = p
        base[i].seq = i
        mpsc_push(&st.q, &base[i].node)
        if (i & 255) == 0:
            sched_yield()   # let the other producers interleave on 2 cores


def _mpsc_entry(size_t a, int p):
    with nogil:
        _mpsc_producer(<mpsc_state *>a, p)


def mpsc_stress(int producers=3, long items_each=100000):
    """``producers`` threads push items_each items each; the calling thread
    consumes.  Returns counts: each item must come out exactly once and in
    per-producer order."""
    if producers < 1 or producers > 64:
        raise ValueError("producers must be in [1, 64]")
    cdef long total = producers * items_each
    cdef mpsc_state *st = <mpsc_state *>aligned_alloc(64, ((sizeof(mpsc_state) + 63) // 64) * 64)
    if st == NULL:
        raise MemoryError()
    memset(st, 0, sizeof(mpsc_state))
    st.items = <mpsc_item *>calloc(total, sizeof(mpsc_item))
    cdef unsigned char *seen = <unsigned char *>calloc(total, 1)
    cdef long *last = <long *>malloc(producers * sizeof(long))
    if st.items == NULL or seen == NULL or last == NULL:
        free(st.items); free(seen); free(last); free(st)
        raise MemoryError()
    mpsc_init(&st.q)
    st.nthreads = producers
    st.items_each = items_each
    cdef long popped = 0, dup = 0, order = 0, nulls_in_progress = 0, nulls_empty = 0, missing = 0
    cdef long i, k
    cdef mpsc_item *it
    cdef int p
    for p in range(producers):
        last[p] = -1
    threads = [_threading.Thread(target=_mpsc_entry, args=(<size_t>st, p), daemon=True)
               for p in range(producers)]
    for t in threads:
        t.start()
    with nogil:
        while popped < total:
            it = <mpsc_item *>mpsc_pop(&st.q)
            if it == NULL:
                if mpsc_empty(&st.q):
                    nulls_empty += 1
                else:
                    nulls_in_progress += 1
                cpu_relax()
                continue
            k = it.producer * items_each + it.seq
            if k < 0 or k >= total:
                dup += 1
                continue
            if seen[k]:
                dup += 1
            seen[k] = 1
            if it.seq <= last[it.producer]:
                order += 1
            last[it.producer] = it.seq
            popped += 1
    for t in threads:
        t.join()
    for i in range(total):
        if not seen[i]:
            missing += 1
    extra = 0
    while mpsc_pop(&st.q) != NULL:
        extra += 1
    res = {
        "popped": popped, "duplicates": dup, "missing": missing, "order_violations": order,
        "extra": extra, "empty_after": bool(mpsc_empty(&st.q)),
        "nulls_in_progress": nulls_in_progress, "nulls_empty": nulls_empty,
    }
    free(st.items); free(seen); free(last); free(st)
    return res

# ---------------------------------------------------------------------------
# locks / lockdep
# ---------------------------------------------------------------------------

def lockdep_probe(bint violate=True):
    """Lock-contract checks on the calling thread.  Returns a dict of what
    the helpers reported.  With ``violate`` (refused in a debug build, where
    it would abort) two asserts are made on purpose without the lock and
    lockdep_violations grows by 2."""
    cdef ms_spinlock sl
    cdef ms_mutex mx
    if violate and MS_DEBUG_BUILD:
        raise RuntimeError("lockdep_probe(violate=True) aborts in a debug build")
    out = {}
    spin_lock_init(&sl)
    ms_mutex_init(&mx)
    cdef long v0 = READ_ONCE_L(&lockdep_violations)
    out["spin_unlocked_held"] = lockdep_spin_held(&sl)
    out["spin_unlocked_assert"] = lockdep_assert_held_spin(&sl) if violate else -1
    spin_lock(&sl)
    out["spin_is_locked"] = spin_is_locked(&sl)
    out["spin_held"] = lockdep_spin_held(&sl)
    out["spin_assert"] = lockdep_assert_held_spin(&sl)
    out["spin_trylock_while_held"] = spin_trylock(&sl)
    spin_unlock(&sl)
    out["spin_trylock_free"] = spin_trylock(&sl)
    spin_unlock(&sl)
    out["mutex_unlocked_assert"] = lockdep_assert_held_mutex(&mx) if violate else -1
    ms_mutex_lock(&mx)
    out["mutex_held"] = lockdep_mutex_held(&mx)
    out["mutex_assert"] = lockdep_assert_held_mutex(&mx)
    ms_mutex_unlock(&mx)
    out["mutex_trylock"] = ms_mutex_trylock(&mx)
    out["mutex_held_after_trylock"] = lockdep_mutex_held(&mx)
    ms_mutex_unlock(&mx)
    out["mutex_held_after_unlock"] = lockdep_mutex_held(&mx)
    ms_mutex_destroy(&mx)
    out["violations"] = READ_ONCE_L(&lockdep_violations) - v0
    return out


cdef struct lock_xstate:
    ms_spinlock sl
    ms_mutex mx
    int started
    int phase               # 1: owner holds both locks; 2: checker done
    int other_spin_held     # what the other thread saw
    int other_mutex_held
    long counter            # protected by sl
    long iters


cdef void _lock_owner(lock_xstate *st) noexcept nogil:
    _start_barrier(&st.started, 2)
    spin_lock(&st.sl)
    ms_mutex_lock(&st.mx)
    smp_store_release_I(&st.phase, 1)
    while smp_load_acquire_I(&st.phase) != 2:
        sched_yield()
    ms_mutex_unlock(&st.mx)
    spin_unlock(&st.sl)


cdef void _lock_checker(lock_xstate *st) noexcept nogil:
    _start_barrier(&st.started, 2)
    while smp_load_acquire_I(&st.phase) != 1:
        sched_yield()
    st.other_spin_held = lockdep_spin_held(&st.sl)
    st.other_mutex_held = lockdep_mutex_held(&st.mx)
    smp_store_release_I(&st.phase, 2)


cdef void _lock_counter(lock_xstate *st) noexcept nogil:
    cdef long i
    _start_barrier(&st.started, 2)
    for i in range(st.iters):
        spin_lock(&st.sl)
        st.counter += 1     # protected by sl
        spin_unlock(&st.sl)


def _lock_entry(size_t a, int role):
    cdef lock_xstate *st = <lock_xstate *>a
    with nogil:
        if role == 0:
            _lock_owner(st)
        elif role == 1:
            _lock_checker(st)
        else:
            _lock_counter(st)


def lockdep_cross_thread():
    """Thread A holds a spinlock and a mutex; thread B asks lockdep whether
    *it* holds them (it must not).  Returns (spin_held_seen_by_B, mutex_held_seen_by_B)."""
    cdef lock_xstate st
    memset(&st, 0, sizeof(st))
    spin_lock_init(&st.sl)
    ms_mutex_init(&st.mx)
    cdef size_t a = <size_t>&st
    _run_threads([(_lock_entry, (a, 0)), (_lock_entry, (a, 1))])
    ms_mutex_destroy(&st.mx)
    return st.other_spin_held, st.other_mutex_held


def spinlock_counter(long iters=100000):
    """Two threads increment a spinlock-protected counter; returns the total."""
    cdef lock_xstate st
    memset(&st, 0, sizeof(st))
    spin_lock_init(&st.sl)
    ms_mutex_init(&st.mx)
    st.iters = iters
    cdef size_t a = <size_t>&st
    _run_threads([(_lock_entry, (a, 2)), (_lock_entry, (a, 2))])
    ms_mutex_destroy(&st.mx)
    return st.counter
