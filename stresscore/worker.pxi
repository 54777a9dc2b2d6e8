# worker.pxi: the workers of a run (docs/DESIGN.md, worker).
#
# Each worker is a task in a memcg: it allocates from the root caches
# (kmem_cache_alloc picks its memcg's child cache), frees, and hands objects
# to other workers through their lock-free mailboxes; it answers kicks
# (poll_kick) and parks at stop-the-world safe points.
#
# Besides the objects it holds (`held`, a short life: a random one is freed
# at every free op), a worker keeps a long-lived set (`keep`): a small share
# of its allocations (cfg.long_lived_thresh of 2**20) go there and stay
# until a later one evicts them, long enough to outlive the cgroup they were
# charged to, as a dentry outlives the task that made it.  Their frees land
# in reparented caches (5.4) or in the dead memcg's caches (legacy), and
# their pages keep killed caches alive, which is what the protocol's
# deactivation, reparenting and release paths exist for.

cdef enum:
    PICK = 100                  # root pick table size

cdef int pick_table[PICK]       # root index per pick slot (read-only during a run)

cdef inline kmem_cache *pick_root(ms_rng *rng) noexcept nogil:
    cdef int idx = pick_table[ms_rng_below(rng, PICK)]
    cdef kmem_cache *s = <kmem_cache *>READ_ONCE_P(<void **>&roots[idx])
    if s == NULL or READ_ONCE_I(&s.unloading):
        s = <kmem_cache *>READ_ONCE_P(<void **>&roots[0])
    return s

cdef inline void worker_free_slot(ms_worker *w, ms_object **set, long *n, long i) noexcept nogil:
    """Free set[i] of one of the worker's sets (held or long-lived)."""
    cdef ms_object *o = set[i]
    n[0] -= 1
    set[i] = set[n[0]]
    w.live_by_root[o.page.cache.root_index] -= 1
    kmem_cache_free(o)

cdef void worker_free_held(ms_worker *w, long i) noexcept nogil:
    worker_free_slot(w, w.held, &w.n_held, i)

cdef void worker_free_keep(ms_worker *w, long i) noexcept nogil:
    worker_free_slot(w, w.keep, &w.n_keep, i)

cdef void free_of_unloading_roots(ms_worker *w, ms_object **set, long *n) noexcept nogil:
    cdef long i = 0
    cdef kmem_cache *r
    while i < n[0]:
        r = set[i].page.cache
        if not r.is_root:
            r = r.root
        if READ_ONCE_I(&r.unloading):
            worker_free_slot(w, set, n, i)
        else:
            i += 1

cdef void worker_kick(ms_worker *w) noexcept nogil:
    """Answer a kick: free what we hold of unloading roots, in both sets,
    then say so (poll_kick)."""
    free_of_unloading_roots(w, w.held, &w.n_held)
    free_of_unloading_roots(w, w.keep, &w.n_keep)
    poll_kick()

cdef enum:
    RECEIVE_BATCH = 1024        # mailbox objects freed per worker op at most
    MAILBOX_MAX = 1024          # objects in flight to one worker before senders hold back

cdef inline bint worker_receive_one(ms_worker *w) noexcept nogil:
    """Free one object another worker handed us; False when none is there."""
    cdef ms_object *o = <ms_object *>mpsc_pop(&w.mailbox)
    if o == NULL:
        return False
    WRITE_ONCE_L(&w.recv_from[o.from_cpu], w.recv_from[o.from_cpu] + 1)
    w.live_by_root[o.page.cache.root_index] -= 1
    kmem_cache_free(o)
    return True

cdef inline void worker_receive(ms_worker *w) noexcept nogil:
    """Up to RECEIVE_BATCH objects per op, so a worker that was descheduled
    catches up instead of letting its mailbox grow without bound."""
    cdef int i
    for i in range(RECEIVE_BATCH):
        if not worker_receive_one(w):
            return

cdef bint worker_alloc(ms_worker *w, kmem_cache *root) noexcept nogil:
    cdef ms_object *o = kmem_cache_alloc(root, &w.memcg)
    if o == NULL:
        return False
    w.held[w.n_held] = o
    w.n_held += 1
    w.live_by_root[root.root_index] += 1
    return True

cdef void worker_keep(ms_worker *w, unsigned long long r) noexcept nogil:
    """Move the object just allocated (held's last) into the long-lived set;
    when the set is full, a random member leaves it first (freed)."""
    cdef ms_object *o = w.held[w.n_held - 1]
    w.n_held -= 1
    if w.n_keep >= cfg.long_lived:
        worker_free_keep(w, <long>(r % <unsigned long long>w.n_keep))
    w.keep[w.n_keep] = o
    w.n_keep += 1

cdef void worker_send(ms_worker *w, long i, int to) noexcept nogil:
    """Hand held[i] to worker `to` (a dentry used by another application)."""
    cdef ms_object *o = w.held[i]
    w.n_held -= 1
    w.held[i] = w.held[w.n_held]
    o.from_cpu = w.cpu
    w.sent_to[to] += 1
    # live_by_root is allocations minus frees per worker: the receiver
    # accounts the free, the sum over workers stays exact.
    mpsc_push(&workers[to].mailbox, &o.node)
    count_event(CNT_MAIL_SENT)

cdef void worker_migrate(ms_worker *w) noexcept nogil:
    """migrate_tasks (sched_cpu_dying): the hotplug actor takes our CPU
    down and chose a free online CPU for us; we move at this safe point
    (no lock held, no read section).  A stock drain queued on the old CPU
    ran there before it went down, or is left to the unbound pool
    (hotplug.pxi), by the clock's parity.  What the old CPU's slabs, stock
    and residues hold stays there for the dead callbacks."""
    cdef int to = READ_ONCE_I(&w.migrate_to)
    if ms_now_ns() & 1024:
        poll_stock()
    cpu_leave()                     # off: callers serve the old CPU's IPIs
    if ms_cpu_migrate(to) != 0:
        violationf(V_PCPU_OWNER, to, w.cpu,
                   "migrate_tasks: CPU %ld chosen for worker %ld is not free", to, w.cpu)
        ms_cpu_migrate(READ_ONCE_I(&w.slot))
    cpu_start()
    WRITE_ONCE_I(&w.slot, ms_cpu)
    smp_store_release_I(&w.migrate_to, -1)      # pairs with the actor's wait

cdef void worker_loop(ms_worker *w) noexcept nogil:
    cdef ms_thread *t = this_thread()
    cdef unsigned long long r
    cdef unsigned int op
    cdef int to
    cdef timespec ts
    while True:
        stw_poll()                      # a stop of the world; flush_all's IPIs
        if READ_ONCE_I(&run_state) != RUN_RUNNING:
            break
        if READ_ONCE_I(&w.migrate_to) >= 0:
            worker_migrate(w)
        if READ_ONCE_L(&kick_gen) != t.kick_seen:
            worker_kick(w)
        poll_stock()
        worker_receive(w)
        r = ms_rng_next(&t.rng)
        if t.digest_left:
            # FNV-1a over the raw choices: equal seeds, equal digests
            t.digest_left -= 1
            t.choice_digest = (t.choice_digest ^ r) * 1099511628211ULL
        op = <unsigned int>(r % 100)
        r >>= 8
        if w.n_held == 0 or (op < <unsigned int>cfg.alloc_pct and w.n_held < cfg.max_held):
            if worker_alloc(w, pick_root(&t.rng)) and \
                    <unsigned int>((r >> 32) & 0xFFFFF) < cfg.long_lived_thresh:
                worker_keep(w, ms_rng_next(&t.rng))
        elif op < <unsigned int>cfg.alloc_pct:
            worker_free_held(w, <long>(r % <unsigned long long>w.n_held))   # full: make room
        elif op < <unsigned int>(cfg.alloc_pct + cfg.send_pct) and nr_workers > 1:
            to = <int>((r >> 24) % <unsigned long long>(nr_workers - 1))
            if to >= w.cpu:
                to += 1
            if w.blocked[to]:
                # the receiver is behind: free it ourselves for a while,
                # and send again only once it has caught up
                w.blocked[to] -= 1
                worker_free_held(w, <long>(r % <unsigned long long>w.n_held))
                if w.blocked[to] == 0 and \
                        w.sent_to[to] - READ_ONCE_L(&workers[to].recv_from[w.cpu]) > MAILBOX_MAX:
                    w.blocked[to] = 1024
            else:
                worker_send(w, <long>(r % <unsigned long long>w.n_held), to)
                if (w.sent_to[to] & 63) == 0 and \
                        w.sent_to[to] - READ_ONCE_L(&workers[to].recv_from[w.cpu]) > MAILBOX_MAX:
                    w.blocked[to] = 1024
        else:
            worker_free_held(w, <long>(r % <unsigned long long>w.n_held))
        if MS_COUNTERS_ON:
            t.counters[CNT_OPS] += 1
    # ---- drain ----
    WRITE_ONCE_L(&w.stopped_sending, 1)
    fetch_add_L(&stopped_sending_count, 1)
    ts.tv_sec = 0
    ts.tv_nsec = 50000
    while READ_ONCE_L(&stopped_sending_count) < nr_workers:
        stw_poll()
        worker_receive(w)
        cpu_nanosleep(&ts)
    while w.n_held:
        worker_free_held(w, w.n_held - 1)
    while w.n_keep:
        worker_free_keep(w, w.n_keep - 1)
    while not mpsc_empty(&w.mailbox):
        worker_receive(w)
    # no flush of this cpu's slabs: what they hold stays (the kernel keeps
    # a cpu's slabs until an IPI flushes them); the drain's pinned check
    # reports what a killed cache keeps that way
    # this cpu stops charging: its stock goes back as the dead-cpu
    # callback's drain_stock would return it (memcg_hotplug_cpu_dead)
    drain_local_stock()
