# engine.pxi: the threads of a run, stop-the-world checkpoints, the checkers,
# and the Python-facing wrappers (the engine for stress.run and the
# single-threaded Model for tests).
#
# Threads of a run, one per-cpu slot each: workers 0..n-1, then the
# controller, the workqueue thread and the RCU callback thread.  Python
# starts them (threading.Thread -> engine_thread(cpu) -> `with nogil`) and
# joins them; native loops return status codes, never raise.

cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass
    ctypedef struct pthread_cond_t:
        pass
    int pthread_mutex_init(pthread_mutex_t *m, void *attr)
    int pthread_mutex_lock(pthread_mutex_t *m)
    int pthread_mutex_unlock(pthread_mutex_t *m)
    int pthread_cond_init(pthread_cond_t *c, void *attr)
    int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
    int pthread_cond_broadcast(pthread_cond_t *c)

cdef enum:
    ROLE_NONE = 0
    ROLE_WORKER = 1
    ROLE_CONTROLLER = 2
    ROLE_WORKQUEUE = 3
    ROLE_RCU = 4

    RUN_IDLE = 0
    RUN_RUNNING = 1
    RUN_DRAINING = 2            # workers free everything and leave
    RUN_DONE = 3                # the controller finished the drain and the final checks

    MAX_CTL_MEMCGS = 256
    MAX_MODULES = 8
    CP_RING = 4096              # checkpoint pauses kept for medians
    FULL_CHECK_EVERY = 8        # every 8th checkpoint visits every object
    PICK = 100                  # root pick table size

# ---------------------------------------------------------------------------
# Configuration of a run (written by Python before the threads start,
# read-only while they run).
cdef struct run_config:
    int nr_workers
    int max_memcgs
    int max_depth
    long max_held               # objects a worker holds at most
    int alloc_pct               # of worker ops: allocate (when below max_held)
    int send_pct                # of worker ops: hand an object to another worker
    long ctl_interval_ns        # controller pacing
    int w_mkdir
    int w_rmdir
    int w_migrate
    int w_module
    int w_limit
    long checkpoint_ns          # 0: no periodic checkpoints
    int controller_on
    unsigned long long seed

cdef run_config cfg
cdef int pick_table[PICK]       # root index per pick slot (read-only during a run)

cdef struct ms_worker:
    mem_cgroup *memcg           # the task's memcg: WRITE_ONCE by the controller, READ_ONCE under RCU by the worker
    ms_object **held            # owner only
    long n_held                 # owner only (read by checkpoints)
    long live_by_root[MAX_ROOTS]   # owner: allocations minus frees per root index
    long sent_to[64]            # owner: objects handed to each worker
    int blocked[64]             # owner: sends to that worker held back for this many tries
    char _pad1[64]
    long recv_from[64]          # owner writes (WRITE_ONCE), senders read: objects received from each worker
    int cpu
    int exited                  # WRITE_ONCE by the worker when it left the drain
    long stopped_sending        # WRITE_ONCE by the worker in the drain
    char _pad0[64]
    mpsc_queue mailbox          # lock-free MPSC: any worker pushes, the owner pops

cdef ms_worker *workers = NULL
cdef int nr_workers = 0
cdef int run_state = RUN_IDLE          # WRITE_ONCE by Python / the controller; polled by every thread
cdef long stopped_sending_count = 0    # atomic

# ---- stop-the-world ----
cdef pthread_mutex_t stw_mutex
cdef pthread_cond_t stw_cond
cdef long stw_requested = 0     # lock-free flag polled at safe points; written under stw_mutex
cdef long stw_gen = 0           # stw_mutex
cdef int stw_parked = 0         # stw_mutex
cdef int stw_participants = 0   # stw_mutex: threads of the run that have not left (set before they start)

cdef void stw_leave() noexcept nogil:
    global stw_participants
    pthread_mutex_lock(&stw_mutex)
    stw_participants -= 1
    pthread_cond_broadcast(&stw_cond)
    pthread_mutex_unlock(&stw_mutex)

cdef void stw_park() noexcept nogil:
    """A safe point with a stop requested: wait here until it is over."""
    global stw_parked
    cdef long g
    pthread_mutex_lock(&stw_mutex)
    if stw_requested:
        g = stw_gen
        stw_parked += 1
        pthread_cond_broadcast(&stw_cond)
        while stw_gen == g:
            pthread_cond_wait(&stw_cond, &stw_mutex)
        stw_parked -= 1
    pthread_mutex_unlock(&stw_mutex)

cdef inline void stw_poll() noexcept nogil:
    if READ_ONCE_L(&stw_requested):
        stw_park()

cdef void stw_stop() noexcept nogil:
    """Stop every other thread of the run at a safe point (the caller is a
    participant too)."""
    pthread_mutex_lock(&stw_mutex)
    WRITE_ONCE_L(&stw_requested, 1)
    while stw_parked < stw_participants - 1:
        pthread_cond_wait(&stw_cond, &stw_mutex)
    pthread_mutex_unlock(&stw_mutex)
    smp_mb()        # the parked threads' writes before the checkers' reads

cdef void stw_resume() noexcept nogil:
    global stw_gen
    pthread_mutex_lock(&stw_mutex)
    WRITE_ONCE_L(&stw_requested, 0)
    stw_gen += 1
    pthread_cond_broadcast(&stw_cond)
    pthread_mutex_unlock(&stw_mutex)

# ---- checkpoint statistics (controller only; read racily by Python) ----
cdef long cp_count = 0
cdef long cp_ring[CP_RING]      # pause ns
cdef long cp_max_ns = 0
cdef long cp_total_ns = 0
cdef long last_lockdep = 0
cdef long last_underflows = 0
cdef long checker_epoch = 0

# ---------------------------------------------------------------------------
# The checkers (DESIGN.md section 4).  World stopped (or single-threaded).

cdef inline void fmt_memcg(char *buf, int n, mem_cgroup *m) noexcept nogil:
    snprintf(buf, n, "memcg %ld (state %d, kmem_state %d, kmemcg_id %d, css %ld, memory %ld, stat %ld/%ld, parent %ld)",
             m.id, m.state, m.kmem_state, m.kmemcg_id, percpu_ref_count(&m.css),
             m.memory, m.stat[0], m.stat[1], m.parent.id if m.parent != NULL else -1)

cdef inline void fmt_cache(char *buf, int n, kmem_cache *c) noexcept nogil:
    snprintf(buf, n, "cache %ld (root %d, memcg %ld, refcnt %ld, dying %d, deactivated %d, shut_down %d, pages %ld)",
             c.id, c.root_index, c.memcg.id if c.memcg != NULL else -1,
             percpu_ref_count(&c.refcnt), percpu_ref_is_dying(&c.refcnt),
             c.deactivated, c.shut_down, c.nr_pages)

cdef long walk_cache_pages(kmem_cache *s, long *node_truth, bint full) noexcept nogil:
    """Ground truth of one cache: its pages, their objects and charges.
    Returns the number of allocated objects found: counted object by object
    in a full check, else taken from each page's inuse word (which the full
    checks verify against the objects)."""
    cdef ms_list *n
    cdef ms_page *page
    cdef int cpu, i, typ = stat_idx(s)
    cdef long *slot
    cdef long nr = 1 << s.order
    cdef long alloc, total = 0, npages = 0, inuse, expect, refs, bad = 0
    cdef mem_cgroup *a
    cdef char buf[VMSG]
    cdef char cb[160]
    # frozen pages: the objects on their cpu's private freelist (one pass
    # over the cpu slots, tagged with the epoch, instead of a reset pass)
    for cpu in range(ms_nr_cpu_ids):
        slot = per_cpu_ptr_L(s.cpu_slab, cpu)
        if slot[0] != 0:
            (<ms_page *>slot[0]).ck_free = slot[2]
            (<ms_page *>slot[0]).ck_epoch = checker_epoch
    n = s.pages.next
    while n != &s.pages:
        page = <ms_page *>n.owner
        npages += 1
        node_truth[typ] += nr
        if page.ck_epoch != checker_epoch:
            page.ck_free = 0
        inuse = page.state >> 1
        if full:
            alloc = 0
            for i in range(s.objects):
                if page.objs[i].state == OBJ_ALLOCATED:
                    alloc += 1
        else:
            alloc = inuse - (page.ck_free if (page.state & 1) else 0)
        expect = alloc + (page.ck_free if (page.state & 1) else 0)
        if (inuse != expect or alloc < 0 or alloc > s.objects) and not bad:
            bad = 1
            snprintf(buf, VMSG, "slab page of cache %ld: inuse %ld but %ld objects allocated and %ld on the cpu freelist",
                     s.id, inuse, alloc, page.ck_free if (page.state & 1) else 0)
            report_violation(V_OBJECTS, s.id, inuse, buf)
        total += alloc
        if not s.is_root:
            a = s.memcg
            while a != NULL and a.magic == MEMCG_MAGIC:
                a.ck_charge += nr
                a.ck_stat[typ] += nr
                a = a.parent
        n = n.next
    if npages != s.nr_pages:
        snprintf(buf, VMSG, "cache %ld: %ld pages on its list but nr_pages %ld", s.id, npages, s.nr_pages)
        report_violation(V_LISTS, s.id, npages, buf)
    if not s.is_root:
        # base (until killed) + pages + the switch's own reference while
        # the kill waits for its grace period
        refs = (0 if percpu_ref_is_dying(&s.refcnt) else 1) + npages * nr \
            + percpu_ref_switch_pending(&s.refcnt)
        if percpu_ref_count(&s.refcnt) != refs:
            fmt_cache(cb, 160, s)
            snprintf(buf, VMSG, "%s: refcount %ld but %ld holders (base + pages)", cb,
                     percpu_ref_count(&s.refcnt), refs)
            report_violation(V_REFS, s.id, refs, buf)
        if s.memcg == NULL or s.memcg.magic != MEMCG_MAGIC:
            snprintf(buf, VMSG, "cache %ld names a freed memcg", s.id)
            report_violation(V_REFS, s.id, 0, buf)
        else:
            s.memcg.ck_holders += 1
    return total

cdef long count_object(ms_object *o, long epoch) noexcept nogil:
    cdef char buf[VMSG]
    if o.state != OBJ_ALLOCATED:
        snprintf(buf, VMSG, "object %lx held by a worker is not allocated (state %lx)", <long>o, o.state)
        report_violation(V_OBJECTS, <long>o, o.state, buf)
        return 0
    if o.mark == epoch:
        snprintf(buf, VMSG, "object %lx (cache %ld) is in two places", <long>o, o.page.cache.id)
        report_violation(V_OBJECTS, <long>o, 0, buf)
        return 0
    o.mark = epoch
    return 1

cdef long run_checkers(bint final, bint full) noexcept nogil:
    """Every invariant of DESIGN.md section 4 against the page walk.  Returns
    the number of violations it reported.  A full check also visits every
    object (each page's objects and every held one, marking them to find an
    object in two places); the others take object counts from the pages'
    inuse words and the workers' ledgers, so their pause depends on pages,
    caches and memcgs, not on live objects."""
    global checker_epoch, last_lockdep, last_underflows
    cdef long before = READ_ONCE_L(&nr_violations)
    cdef long node_truth[2]
    cdef long node_sum, held_total = 0, found = 0, allocs = 0, frees = 0
    cdef long r0, r1, bound, v
    cdef ms_list *n
    cdef ms_list *n2
    cdef mem_cgroup *m
    cdef mem_cgroup *a
    cdef kmem_cache *s
    cdef kmem_cache *c
    cdef memcg_cache_array *arr
    cdef ms_worker *w
    cdef mpsc_node *q
    cdef work_struct *wk
    cdef int i, t, cpu
    cdef long *p
    cdef char buf[VMSG]
    cdef char mb[200]
    cdef long nmemcg = 0, nchildcaches = 0
    checker_epoch += 1
    node_truth[0] = 0
    node_truth[1] = 0
    # scratch reset, residues and subtree sizes
    n = memcg_all.next
    while n != &memcg_all:
        m = <mem_cgroup *>n.owner
        m.ck_charge = 0
        m.ck_stat[0] = 0
        m.ck_stat[1] = 0
        m.ck_resid[0] = 0
        m.ck_resid[1] = 0
        m.ck_nsub = 0
        m.ck_holders = 0
        n = n.next
    n = memcg_all.next
    while n != &memcg_all:
        m = <mem_cgroup *>n.owner
        nmemcg += 1
        r0 = 0
        r1 = 0
        for cpu in range(ms_nr_cpu_ids):
            p = per_cpu_ptr_L(m.pcpu, cpu)
            r0 += p[0]
            r1 += p[1]
        a = m
        while a != NULL:
            a.ck_resid[0] += r0
            a.ck_resid[1] += r1
            a.ck_nsub += 1
            a = a.parent
        # holders that are memcgs themselves
        if m.state == MEMCG_ONLINE:
            m.ck_holders += 1
        if m.offline_pending:
            m.ck_holders += 1
        m.ck_holders += percpu_ref_switch_pending(&m.css)
        if m.parent != NULL:
            m.parent.ck_holders += 1
        n = n.next
    # the page walk (ground truth)
    for i in range(MAX_ROOTS):
        s = roots[i]
        if s == NULL:
            continue
        found += walk_cache_pages(s, node_truth, full)
        n = s.children.next
        while n != &s.children:
            c = <kmem_cache *>n.owner
            nchildcaches += 1
            c.ck_on_list = 0
            if c.root != s:
                snprintf(buf, VMSG, "cache %ld is on the children list of root %d but names root %d",
                         c.id, s.root_index, c.root_index)
                report_violation(V_LISTS, c.id, 0, buf)
            found += walk_cache_pages(c, node_truth, full)
            n = n.next
    spin_lock(&release_lock)
    n = caches_releasing.next
    while n != &caches_releasing:
        c = <kmem_cache *>n.owner
        nchildcaches += 1
        if c.memcg != NULL and c.memcg.magic == MEMCG_MAGIC:
            c.memcg.ck_holders += 1
        n = n.next
    spin_unlock(&release_lock)
    # workers: task memcgs, held objects, mailboxes
    for i in range(nr_workers):
        w = &workers[i]
        if w.memcg != NULL:
            if w.memcg.magic != MEMCG_MAGIC or w.memcg.state != MEMCG_ONLINE:
                snprintf(buf, VMSG, "worker %d is attached to memcg %ld which is not online (state %d)",
                         i, w.memcg.id, w.memcg.state)
                report_violation(V_REFS, i, w.memcg.id, buf)
            else:
                w.memcg.ck_holders += 1
        if full:
            for v in range(w.n_held):
                held_total += count_object(w.held[v], checker_epoch)
            q = w.mailbox.tail
            while q != NULL:
                if q != &w.mailbox.stub:
                    held_total += count_object(<ms_object *>q, checker_epoch)
                q = q.next
        else:
            held_total += w.n_held
            for v in range(nr_workers):     # in flight to w: sent by v, not yet received
                held_total += workers[v].sent_to[i] - w.recv_from[v]
    # creation works hold a css reference on their memcg
    q = workqueue.tail
    while q != NULL:
        if q != &workqueue.stub:
            wk = <work_struct *>q
            if wk.kind == WK_CREATE:
                m = (<create_work *>wk).memcg
                if m.magic == MEMCG_MAGIC:
                    m.ck_holders += 1
        q = q.next
    # 1. charge, 2. memcg stats, 3. css references
    n = memcg_all.next
    while n != &memcg_all:
        m = <mem_cgroup *>n.owner
        if m.state == MEMCG_ONLINE:
            if m.memory != m.ck_charge:
                fmt_memcg(mb, 200, m)
                snprintf(buf, VMSG, "%s: charged %ld pages, live slab pages in its subtree: %ld",
                         mb, m.memory, m.ck_charge)
                report_violation(V_CHARGE, m.id, m.memory - m.ck_charge, buf)
            bound = BATCH * ms_nr_cpu_ids * m.ck_nsub
            for t in range(2):
                if m.stat[t] + m.ck_resid[t] != m.ck_stat[t]:
                    fmt_memcg(mb, 200, m)
                    snprintf(buf, VMSG, "%s: stat[%d] %ld + residues %ld != %ld live slab pages",
                             mb, t, m.stat[t], m.ck_resid[t], m.ck_stat[t])
                    report_violation(V_STATS, m.id, t, buf)
                elif m.stat[t] - m.ck_stat[t] > bound or m.ck_stat[t] - m.stat[t] > bound:
                    fmt_memcg(mb, 200, m)
                    snprintf(buf, VMSG, "%s: visible stat[%d] %ld is more than %ld from %ld",
                             mb, t, m.stat[t], bound, m.ck_stat[t])
                    report_violation(V_STATS, m.id, t, buf)
        if m.memory < 0 and m.state == MEMCG_ONLINE:
            snprintf(buf, VMSG, "memcg %ld: page counter negative (%ld)", m.id, m.memory)
            report_violation(V_CHARGE, m.id, m.memory, buf)
        if percpu_ref_count(&m.css) != m.ck_holders:
            fmt_memcg(mb, 200, m)
            snprintf(buf, VMSG, "%s: css refcount %ld but %ld holders", mb,
                     percpu_ref_count(&m.css), m.ck_holders)
            report_violation(V_REFS, m.id, percpu_ref_count(&m.css) - m.ck_holders, buf)
        # 4. lists: every cache on this memcg's kmem_caches names this memcg
        n2 = m.kmem_caches.next
        while n2 != &m.kmem_caches:
            c = <kmem_cache *>n2.owner
            c.ck_on_list += 1
            if c.memcg != m:
                snprintf(buf, VMSG, "cache %ld is on the kmem_caches list of memcg %ld but names memcg %ld",
                         c.id, m.id, c.memcg.id if c.memcg != NULL else -1)
                report_violation(V_LISTS, c.id, m.id, buf)
            n2 = n2.next
        n = n.next
    # node stats
    for t in range(2):
        node_sum = percpu_counter_sum(&node_stat[t])
        if node_sum != node_truth[t]:
            snprintf(buf, VMSG, "node NR_SLAB_%s %ld != %ld live slab pages",
                     "RECLAIMABLE" if t == 0 else "UNRECLAIMABLE", node_sum, node_truth[t])
            report_violation(V_STATS, -1, t, buf)
    # 4. lists (cont.): each child cache on exactly its memcg's list; entries
    for i in range(MAX_ROOTS):
        s = roots[i]
        if s == NULL:
            continue
        n = s.children.next
        while n != &s.children:
            c = <kmem_cache *>n.owner
            if c.ck_on_list != 1:
                fmt_cache(mb, 200, c)
                snprintf(buf, VMSG, "%s is on %ld kmem_caches lists, must be on exactly its memcg's",
                         mb, c.ck_on_list)
                report_violation(V_LISTS, c.id, c.ck_on_list, buf)
            n = n.next
        arr = s.memcg_caches
        if arr.magic != ARRAY_MAGIC:
            snprintf(buf, VMSG, "root %d: memcg_caches array is freed", i)
            report_violation(V_REFS, i, 0, buf)
            continue
        for v in range(arr.size):
            c = arr.entries[v]
            if c == NULL:
                continue
            if c.magic != CACHE_MAGIC or c.shut_down or percpu_ref_is_dying(&c.refcnt):
                snprintf(buf, VMSG, "root %d memcg_caches[%ld] names cache %ld that is killed or freed",
                         i, v, c.id)
                report_violation(V_REFS, c.id, v, buf)
    # 5. objects
    for i in range(MS_MAX_CPUS):
        allocs += ms_threads[i].counters[CNT_ALLOC]
        frees += ms_threads[i].counters[CNT_FREE]
    if allocs - frees != held_total or found != held_total:
        snprintf(buf, VMSG, "objects: %ld allocated - %ld freed = %ld, held by workers %ld, allocated in slab pages %ld",
                 allocs, frees, allocs - frees, held_total, found)
        report_violation(V_OBJECTS, allocs - frees, held_total, buf)
    # inline counters kept by the primitives
    v = READ_ONCE_L(&percpu_ref_underflows)
    if v != last_underflows:
        snprintf(buf, VMSG, "%ld percpu_ref puts drove a count below zero", v - last_underflows)
        report_violation(V_REF_NEGATIVE, v, 0, buf)
        last_underflows = v
    v = READ_ONCE_L(&lockdep_violations)
    if v != last_lockdep:
        snprintf(buf, VMSG, "%ld lock rule violations (lockdep_assert_held failed)", v - last_lockdep)
        report_violation(V_LOCKDEP, v, 0, buf)
        last_lockdep = v
    if final:
        if nmemcg != 1 or nchildcaches != 0:
            snprintf(buf, VMSG, "after the drain: %ld memcgs (only root may remain) and %ld child caches",
                     nmemcg, nchildcaches)
            report_violation(V_LEAK, nmemcg, nchildcaches, buf)
        m = root_mem_cgroup
        if m.nr_dying_descendants != 0 or m.memory != 0 or node_truth[0] + node_truth[1] != 0 \
                or percpu_counter_sum(&node_stat[0]) != 0 or percpu_counter_sum(&node_stat[1]) != 0:
            snprintf(buf, VMSG, "after the drain: nr_dying_descendants %ld, root charge %ld, node slab pages %ld",
                     m.nr_dying_descendants, m.memory, node_truth[0] + node_truth[1])
            report_violation(V_LEAK, m.nr_dying_descendants, m.memory, buf)
    return READ_ONCE_L(&nr_violations) - before

cdef void checkpoint() noexcept nogil:
    global cp_count, cp_max_ns, cp_total_ns
    cdef unsigned long long t0 = ms_now_ns()
    cdef long dt
    stw_stop()
    fr_record(EV_CHECKPOINT, cp_count, 0)
    run_checkers(False, cp_count % FULL_CHECK_EVERY == 0)
    stw_resume()
    dt = <long>(ms_now_ns() - t0)
    cp_ring[cp_count % CP_RING] = dt
    if dt > cp_max_ns:
        cp_max_ns = dt
    cp_total_ns += dt
    WRITE_ONCE_L(&cp_count, cp_count + 1)

# ---------------------------------------------------------------------------
# Workers.

cdef inline kmem_cache *pick_root(ms_rng *rng) noexcept nogil:
    cdef int idx = pick_table[ms_rng_below(rng, PICK)]
    cdef kmem_cache *s = <kmem_cache *>READ_ONCE_P(<void **>&roots[idx])
    if s == NULL or READ_ONCE_I(&s.unloading):
        s = <kmem_cache *>READ_ONCE_P(<void **>&roots[0])
    return s

cdef void worker_free_held(ms_worker *w, long i) noexcept nogil:
    cdef ms_object *o = w.held[i]
    w.n_held -= 1
    w.held[i] = w.held[w.n_held]
    w.live_by_root[o.page.cache.root_index] -= 1
    kmem_cache_free(o)

cdef void worker_kick(ms_worker *w) noexcept nogil:
    """Answer a kick: free what we hold of unloading roots, then flush our
    slabs of killed and unloading caches (poll_kick)."""
    cdef long i = 0
    cdef kmem_cache *r
    while i < w.n_held:
        r = w.held[i].page.cache
        if not r.is_root:
            r = r.root
        if READ_ONCE_I(&r.unloading):
            worker_free_held(w, i)
        else:
            i += 1
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

cdef void worker_loop(ms_worker *w) noexcept nogil:
    cdef ms_thread *t = this_thread()
    cdef unsigned long long r
    cdef unsigned int op
    cdef int to
    cdef timespec ts
    while True:
        if READ_ONCE_L(&stw_requested):
            stw_park()
        if READ_ONCE_I(&run_state) != RUN_RUNNING:
            break
        if READ_ONCE_L(&kick_gen) != t.kick_seen:
            worker_kick(w)
        worker_receive(w)
        r = ms_rng_next(&t.rng)
        if t.digest_left:
            # FNV-1a over the raw choices: equal seeds, equal digests
            t.digest_left -= 1
            t.choice_digest = (t.choice_digest ^ r) * 1099511628211ULL
        op = <unsigned int>(r % 100)
        r >>= 8
        if w.n_held == 0 or (op < <unsigned int>cfg.alloc_pct and w.n_held < cfg.max_held):
            worker_alloc(w, pick_root(&t.rng))
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
        nanosleep(&ts, NULL)
    while w.n_held:
        worker_free_held(w, w.n_held - 1)
    while not mpsc_empty(&w.mailbox):
        worker_receive(w)
    flush_cpu_slabs(True)

# ---------------------------------------------------------------------------
# The controller.

cdef mem_cgroup *ctl_online[MAX_CTL_MEMCGS]     # controller only: online memcgs but root
cdef int ctl_nr_online = 0
cdef int ctl_modules[MAX_MODULES]               # controller only: root index per module handle
cdef int ctl_nr_modules = 0
cdef int ctl_unload_index = -1                  # controller only: the root being unloaded
cdef long ctl_unload_gen = 0

cdef int memcg_online_children(mem_cgroup *m) noexcept nogil:
    cdef int i, n = 0
    for i in range(ctl_nr_online):
        if ctl_online[i].parent == m:
            n += 1
    return n

cdef int memcg_nr_workers(mem_cgroup *m) noexcept nogil:
    cdef int i, n = 0
    for i in range(nr_workers):
        if workers[i].memcg == m:
            n += 1
    return n

cdef mem_cgroup *ctl_random_memcg(ms_rng *rng, bint with_root) noexcept nogil:
    cdef unsigned int k
    if with_root:
        k = ms_rng_below(rng, ctl_nr_online + 1)
        if k == <unsigned int>ctl_nr_online:
            return root_mem_cgroup
        return ctl_online[k]
    if ctl_nr_online == 0:
        return NULL
    return ctl_online[ms_rng_below(rng, ctl_nr_online)]

cdef void ctl_mkdir(ms_rng *rng) noexcept nogil:
    global ctl_nr_online
    cdef mem_cgroup *parent
    cdef mem_cgroup *m
    if ctl_nr_online >= cfg.max_memcgs or ctl_nr_online >= MAX_CTL_MEMCGS:
        return
    parent = ctl_random_memcg(rng, True)
    if parent.depth >= cfg.max_depth:
        parent = root_mem_cgroup
    m = mem_cgroup_create(parent)
    if m != NULL:
        ctl_online[ctl_nr_online] = m
        ctl_nr_online += 1

cdef bint ctl_rmdir_one(mem_cgroup *m) noexcept nogil:
    global ctl_nr_online
    cdef int i
    if memcg_online_children(m) or memcg_nr_workers(m):
        return False
    if mem_cgroup_rmdir(m) != 0:
        return False
    for i in range(ctl_nr_online):
        if ctl_online[i] == m:
            ctl_nr_online -= 1
            ctl_online[i] = ctl_online[ctl_nr_online]
            break
    return True

cdef void ctl_migrate(ms_rng *rng) noexcept nogil:
    cdef ms_worker *w
    cdef mem_cgroup *m
    if nr_workers == 0:
        return
    w = &workers[ms_rng_below(rng, nr_workers)]
    m = ctl_random_memcg(rng, True)
    if m != w.memcg:
        fr_record(EV_MIGRATE, w.cpu, m.id)
        mem_cgroup_migrate(&w.memcg, m)

cdef long root_live_objects(int index) noexcept nogil:
    cdef long n = 0
    cdef int i
    for i in range(nr_workers):
        n += READ_ONCE_L(&workers[i].live_by_root[index])
    return n

cdef bint workers_saw(long gen) noexcept nogil:
    cdef int i
    for i in range(nr_workers):
        if smp_load_acquire_L(&ms_threads[workers[i].cpu].kick_seen) < gen \
                and not READ_ONCE_I(&workers[i].exited):
            return False
    return True

cdef void ctl_rmdir_user_of(kmem_cache *root) noexcept nogil:
    """rmdir one removable memcg that has a child cache of `root`."""
    cdef int i, id
    cdef memcg_cache_array *arr = root.memcg_caches
    for i in range(ctl_nr_online):
        id = READ_ONCE_I(&ctl_online[i].kmemcg_id)
        if 0 <= id < arr.size and READ_ONCE_P(<void **>&arr.entries[id]) != NULL:
            if ctl_rmdir_one(ctl_online[i]):
                return

cdef void ctl_finish_unload() noexcept nogil:
    """Destroy the root being unloaded once every worker let go of it."""
    global ctl_unload_index
    if ctl_unload_index >= 0 and workers_saw(ctl_unload_gen) \
            and root_live_objects(ctl_unload_index) == 0:
        # A service stops: its cgroup goes away as its module unloads, so
        # the offline's deactivation races with kmem_cache_destroy.
        ctl_rmdir_user_of(roots[ctl_unload_index])
        kmem_cache_destroy(ctl_unload_index)
        ctl_unload_index = -1

cdef void ctl_module(ms_rng *rng) noexcept nogil:
    """Module caches: create (some merge), destroy; the last reference of a
    root goes through unloading: workers stop using it and free their objects
    of it, then kmem_cache_destroy."""
    global ctl_nr_modules, ctl_unload_index, ctl_unload_gen
    cdef int idx, k
    cdef kmem_cache *s
    if ctl_unload_index >= 0:
        return
    if ctl_nr_modules < MAX_MODULES and ms_rng_below(rng, 2) == 0:
        k = ms_rng_below(rng, 3)
        if k == 0:
            idx = kmem_cache_create(256, 16, 0, 0, 0)      # merges with its twin
        elif k == 1:
            idx = kmem_cache_create(512, 8, 0, 1, 0)
        else:
            idx = kmem_cache_create(1024, 16, 2, 0, 1)     # TYPESAFE_BY_RCU: never merges
        if idx >= 0:
            ctl_modules[ctl_nr_modules] = idx
            ctl_nr_modules += 1
        return
    if ctl_nr_modules == 0:
        return
    k = ms_rng_below(rng, ctl_nr_modules)
    idx = ctl_modules[k]
    ctl_nr_modules -= 1
    ctl_modules[k] = ctl_modules[ctl_nr_modules]
    s = roots[idx]
    if s.refcount > 1:
        kmem_cache_destroy(idx)
        return
    WRITE_ONCE_I(&s.unloading, 1)
    ctl_unload_index = idx
    ctl_unload_gen = fetch_add_L(&kick_gen, 1) + 1

cdef void ctl_limit(ms_rng *rng) noexcept nogil:
    cdef mem_cgroup *m = ctl_random_memcg(rng, False)
    if m == NULL:
        return
    if ms_rng_below(rng, 2) == 0:
        mem_cgroup_set_limit(m, 0x7fffffffffffffff)
    else:
        mem_cgroup_set_limit(m, READ_ONCE_L(&m.memory) + ms_rng_below(rng, 64))

cdef void controller_step(ms_rng *rng) noexcept nogil:
    cdef int total = cfg.w_mkdir + cfg.w_rmdir + cfg.w_migrate + cfg.w_module + cfg.w_limit
    cdef int x
    cdef mem_cgroup *m
    ctl_finish_unload()
    if total <= 0:
        return
    x = ms_rng_below(rng, total)
    if x < cfg.w_mkdir:
        ctl_mkdir(rng)
        return
    x -= cfg.w_mkdir
    if x < cfg.w_rmdir:
        m = ctl_random_memcg(rng, False)
        if m != NULL:
            ctl_rmdir_one(m)
        return
    x -= cfg.w_rmdir
    if x < cfg.w_migrate:
        ctl_migrate(rng)
        return
    x -= cfg.w_migrate
    if x < cfg.w_module:
        ctl_module(rng)
        return
    ctl_limit(rng)

cdef void quiesce(int rounds) noexcept nogil:
    """Flush the workqueue and the RCU callbacks until nothing is pending or
    `rounds` rounds went by."""
    cdef int i
    for i in range(rounds):
        flush_workqueue()
        rcu_barrier()
        flush_workqueue()
        if mpsc_empty(&workqueue) and rcu_pending_callbacks() == 0 \
                and list_count(&memcg_all) == 1:
            break

cdef void controller_drain() noexcept nogil:
    """End of run: workers leave having freed everything; remove every
    cgroup, destroy the module caches, flush, check the end invariants."""
    global ctl_nr_modules, ctl_unload_index
    cdef timespec ts
    cdef int i, progress
    ts.tv_sec = 0
    ts.tv_nsec = 100000
    while True:
        progress = 0
        for i in range(nr_workers):
            if not READ_ONCE_I(&workers[i].exited):
                progress = 1
        if not progress:
            break
        nanosleep(&ts, NULL)
    for i in range(nr_workers):
        if workers[i].memcg != root_mem_cgroup:
            mem_cgroup_migrate(&workers[i].memcg, root_mem_cgroup)
    while ctl_nr_online:
        progress = 0
        for i in range(ctl_nr_online - 1, -1, -1):
            if i < ctl_nr_online and ctl_rmdir_one(ctl_online[i]):
                progress = 1
        if not progress:
            break
    if ctl_unload_index >= 0:
        kmem_cache_destroy(ctl_unload_index)
        ctl_unload_index = -1
    while ctl_nr_modules:
        ctl_nr_modules -= 1
        kmem_cache_destroy(ctl_modules[ctl_nr_modules])
    quiesce(2000)
    run_checkers(True, True)

cdef void controller_loop() noexcept nogil:
    cdef ms_thread *t = this_thread()
    cdef unsigned long long now, next_cp = ms_now_ns() + cfg.checkpoint_ns
    cdef timespec ts
    ts.tv_sec = cfg.ctl_interval_ns // 1000000000
    ts.tv_nsec = cfg.ctl_interval_ns % 1000000000
    while READ_ONCE_I(&run_state) == RUN_RUNNING:
        if cfg.controller_on:
            controller_step(&t.rng)
            t.counters[CNT_OPS] += 1
        if cfg.checkpoint_ns:
            now = ms_now_ns()
            if now >= next_cp:
                checkpoint()
                next_cp = ms_now_ns() + cfg.checkpoint_ns
        if cfg.ctl_interval_ns:
            nanosleep(&ts, NULL)
    controller_drain()
    WRITE_ONCE_I(&run_state, RUN_DONE)

cdef void workqueue_loop() noexcept nogil:
    cdef timespec ts
    ts.tv_sec = 0
    ts.tv_nsec = 50000
    while True:
        stw_poll()
        if wq_run_one():
            continue
        if READ_ONCE_I(&run_state) == RUN_DONE and mpsc_empty(&workqueue):
            break
        nanosleep(&ts, NULL)

cdef void rcu_thread_loop() noexcept nogil:
    while True:
        stw_poll()
        if rcu_process_callbacks() == 0:
            if READ_ONCE_I(&run_state) == RUN_DONE:
                break
            rcu_wait_for_callbacks(200000)

# ---------------------------------------------------------------------------
# Python-facing: set-up, the threads of a run, live figures.

import time as _time

cdef void reset_diagnostics() noexcept nogil:
    global nr_violations, violation_dumps_left, cp_count, cp_max_ns, cp_total_ns
    global last_lockdep, last_underflows, checker_epoch, stopped_sending_count
    global stw_requested, stw_parked, stw_gen
    cdef int i
    for i in range(MAX_VIOLATIONS):
        if violations[i].dump != NULL:
            free(violations[i].dump)
            violations[i].dump = NULL
    memset(violations_by_code, 0, sizeof(violations_by_code))
    nr_violations = 0
    violation_dumps_left = 4
    for i in range(MS_MAX_CPUS):
        memset(ms_threads[i].counters, 0, sizeof(ms_threads[i].counters))
        memset(ms_threads[i].fr, 0, sizeof(fr_event) * FR_SIZE)
        ms_threads[i].fr_head = 0
        ms_threads[i].nr_active = 0
        ms_threads[i].kick_seen = 0
        ms_threads[i].choice_digest = 14695981039346656037ULL
        ms_threads[i].digest_left = DIGEST_OPS
        ms_threads[i].delay_start_ns = 0
        ms_threads[i].delay_spent_ns = 0
    memset(dp_taken, 0, sizeof(dp_taken))
    cp_count = 0
    cp_max_ns = 0
    cp_total_ns = 0
    last_lockdep = READ_ONCE_L(&lockdep_violations)
    last_underflows = READ_ONCE_L(&percpu_ref_underflows)
    checker_epoch = 0
    stopped_sending_count = 0
    stw_requested = 0
    stw_parked = 0
    stw_gen = 0

cdef void _init_threads_storage():
    global ms_threads
    cdef int i
    if ms_threads != NULL:
        return
    ms_threads = <ms_thread *>aligned_alloc(64, sizeof(ms_thread) * MS_MAX_CPUS)
    memset(ms_threads, 0, sizeof(ms_thread) * MS_MAX_CPUS)
    for i in range(MS_MAX_CPUS):
        ms_threads[i].fr = <fr_event *>calloc(FR_SIZE, sizeof(fr_event))
    pthread_mutex_init(&stw_mutex, NULL)
    pthread_cond_init(&stw_cond, NULL)
    spin_lock_init(&violation_lock)

_init_threads_storage()

MUTANT_IDS = {
    "rcu-busted": M_RCU_BUSTED,
    "memcg-read-unprotected": M_MEMCG_READ_UNPROTECTED,
    "dying-flag-unlocked": M_DYING_FLAG_UNLOCKED,
    "reparent-without-slab-mutex": M_REPARENT_WITHOUT_SLAB_MUTEX,
    "no-parent-css-get": M_NO_PARENT_CSS_GET,
    "no-child-css-put": M_NO_CHILD_CSS_PUT,
    "entries-not-cleared": M_ENTRIES_NOT_CLEARED,
    "kill-without-grace-period": M_KILL_WITHOUT_GRACE_PERIOD,
    "array-free-without-grace-period": M_ARRAY_FREE_WITHOUT_GRACE_PERIOD,
    "charge-offline-memcg": M_CHARGE_OFFLINE_MEMCG,
    "cache-put-before-uncharge": M_CACHE_PUT_BEFORE_UNCHARGE,
    "no-flush-on-free": M_NO_FLUSH_ON_FREE,
    "create-after-offline": M_CREATE_AFTER_OFFLINE,
}

# The built-in root caches: name, object size, objects per slab, order,
# reclaimable, TYPESAFE_BY_RCU.
BUILTIN_ROOTS = [
    ("dentry", 192, 21, 0, 1, 0),
    ("inode_cache", 600, 13, 1, 1, 0),
    ("kmalloc-64", 64, 64, 0, 0, 0),
    ("sighand_cache", 2112, 15, 3, 0, 1),
]

cdef int _setup(int n_workers, int mode, int mut, long max_held, unsigned long long seed,
                int extra_cpus) except -1:
    global workers, nr_workers, run_state
    cdef int i
    cdef bint borrowed
    if READ_ONCE_I(&run_state) in (RUN_RUNNING, RUN_DRAINING):
        raise RuntimeError("a run is in progress in this process")
    if n_workers < 0 or n_workers + extra_cpus > MS_MAX_CPUS:
        raise ValueError(f"workers must be in [0, {MS_MAX_CPUS - extra_cpus}]")
    if model_ready:
        # Whatever the last run left queued runs against the state it was
        # queued for, before that state is dropped.
        with nogil:
            borrowed = ms_cpu < 0
            if borrowed:
                ms_thread_register(0)
            for i in range(1000):
                while wq_run_one():
                    pass
                if rcu_process_callbacks() == 0 and mpsc_empty(&workqueue):
                    break
            if borrowed:
                ms_thread_unregister()
    if ms_cpu >= 0:
        ms_thread_unregister()      # a Model used this thread; the run's threads take the slots
    ms_set_nr_cpus(n_workers + extra_cpus)
    reset_diagnostics()
    rcu_set_busted(1 if mut == M_RCU_BUSTED else 0)
    rcu_set_callback_thread_active(0)
    if model_init(mode, mut) != 0:
        raise MemoryError("model_init failed")
    for name, size, objs, order, recl, tsafe in BUILTIN_ROOTS:
        if kmem_cache_create(size, objs, order, recl, tsafe) < 0:
            raise MemoryError("kmem_cache_create failed")
    if workers != NULL:
        for i in range(nr_workers):
            free(workers[i].held)
        free(workers)
        workers = NULL
    nr_workers = n_workers
    if n_workers:
        workers = <ms_worker *>aligned_alloc(64, sizeof(ms_worker) * n_workers)
        memset(workers, 0, sizeof(ms_worker) * n_workers)
    for i in range(n_workers):
        workers[i].cpu = i
        workers[i].memcg = root_mem_cgroup
        css_get(root_mem_cgroup)
        workers[i].held = <ms_object **>malloc(sizeof(ms_object *) * (max_held + 1))
        if workers[i].held == NULL:
            raise MemoryError("worker object table")
        mpsc_init(&workers[i].mailbox)
    for i in range(n_workers + extra_cpus):
        ms_rng_seed(&ms_threads[i].rng, seed, i)
        ms_rng_seed(&ms_threads[i].rng_delay, seed, 1000 + i)
    run_state = RUN_IDLE
    return 0

DELAY_POINTS = list(DP_NAMES)
EVENT_NAMES = list(EV_NAMES)
INVARIANTS = list(V_NAMES)
COUNTER_NAMES = list(CNT_NAMES)
GLOBAL_COUNTER_NAMES = list(G_NAMES)
MAX_CPUS = MS_MAX_CPUS


def engine_setup(dict c):
    """Prepare a run from a plain dict (stress.engine builds it).  The
    threads are then started with engine_thread(cpu) for every cpu in
    range(workers + 3): workers, controller, workqueue, RCU callbacks."""
    global cfg, ctl_nr_online, ctl_nr_modules, ctl_unload_index, stw_participants
    cdef int n = c["workers"]
    cdef int i, k, slot
    _setup(n, 1 if c["mode"] == "legacy" else 0, MUTANT_IDS.get(c.get("mutant") or "", 0),
           c["max_held"], c["seed"], 3)
    cfg.nr_workers = n
    cfg.max_memcgs = c["max_memcgs"]
    cfg.max_depth = c["max_depth"]
    cfg.max_held = c["max_held"]
    cfg.alloc_pct = c["alloc_pct"]
    cfg.send_pct = c["send_pct"]
    cfg.ctl_interval_ns = c["controller_interval_us"] * 1000
    cfg.w_mkdir, cfg.w_rmdir, cfg.w_migrate, cfg.w_module, cfg.w_limit = c["controller_weights"]
    cfg.checkpoint_ns = int(c["checkpoint_interval"] * 1e9)
    cfg.controller_on = 1 if c["controller"] else 0
    cfg.seed = c["seed"]
    weights = list(c["root_weights"])
    total = float(sum(weights))
    slot = 0
    for k, wgt in enumerate(weights):
        for i in range(int(round(PICK * wgt / total))):
            if slot < PICK:
                pick_table[slot] = k
                slot += 1
    while slot < PICK:
        pick_table[slot] = 0
        slot += 1
    for i in range(DP_NR):
        dp_threshold[i] = 0
        dp_max_ns[i] = 0
    for name, (prob, max_us) in (c.get("delays") or {}).items():
        i = DP_NAMES.index(name)
        dp_threshold[i] = <unsigned int>min(4294967295.0, prob * 4294967296.0)
        dp_max_ns[i] = int(max_us * 1000)
    ctl_nr_online = 0
    ctl_nr_modules = 0
    ctl_unload_index = -1
    # Tasks start in cgroups of their own (one per worker, as services do),
    # so the first id-space growths already race with allocations.
    cdef mem_cgroup *m
    if cfg.controller_on:
        for i in range(min(n, cfg.max_memcgs)):
            m = mem_cgroup_create(root_mem_cgroup)
            if m == NULL:
                break
            ctl_online[ctl_nr_online] = m
            ctl_nr_online += 1
            mem_cgroup_migrate(&workers[i].memcg, m)
    stw_participants = n + 3
    rcu_set_callback_thread_active(1)
    WRITE_ONCE_L(&wq_threaded, 1)
    WRITE_ONCE_I(&run_state, RUN_RUNNING)


def engine_thread(int cpu):
    """Body of one thread of the run (called in a threading.Thread)."""
    cdef int role
    if cpu < nr_workers:
        role = ROLE_WORKER
    else:
        role = (ROLE_CONTROLLER, ROLE_WORKQUEUE, ROLE_RCU)[cpu - nr_workers]
    ms_thread_register(cpu)
    ms_threads[cpu].role = role
    with nogil:
        if role == ROLE_WORKER:
            worker_loop(&workers[cpu])
            WRITE_ONCE_I(&workers[cpu].exited, 1)
        elif role == ROLE_CONTROLLER:
            controller_loop()
        elif role == ROLE_WORKQUEUE:
            workqueue_loop()
        else:
            rcu_thread_loop()
        stw_leave()
    ms_thread_unregister()


def engine_request_drain():
    """End the running phase: the controller drains and checks the end."""
    if READ_ONCE_I(&run_state) == RUN_RUNNING:
        WRITE_ONCE_I(&run_state, RUN_DRAINING)


def engine_finish():
    """After every thread was joined."""
    global wq_threaded
    rcu_set_callback_thread_active(0)
    wq_threaded = 0


def engine_state():
    return ("idle", "running", "draining", "done")[READ_ONCE_I(&run_state)]


def violation_count():
    return READ_ONCE_L(&nr_violations)


cdef list _dump_events(fr_event *dump, long *heads, int ncpu):
    out = []
    cdef int c, j
    cdef long h, start
    cdef fr_event *e
    for c in range(ncpu):
        h = heads[c]
        start = h - FR_SIZE if h > FR_SIZE else 0
        evs = []
        for j in range(start, h):
            e = &dump[c * FR_SIZE + (j & (FR_SIZE - 1))]
            evs.append((e.ts, EV_NAMES[e.ev] if 0 <= e.ev < EV_NR else str(e.ev), e.a, e.b))
        out.append(evs)
    return out


def violations_since(long first):
    """Recorded violations from index `first` on, as dicts."""
    out = []
    cdef long n = READ_ONCE_L(&nr_violations)
    cdef long i
    cdef violation_rec *v
    if n > MAX_VIOLATIONS:
        n = MAX_VIOLATIONS
    for i in range(first, n):
        v = &violations[i]
        d = {
            "index": i,
            "invariant": V_NAMES[v.code],
            "cpu": v.cpu,
            "ts_ns": v.ts,
            "a": v.a,
            "b": v.b,
            "message": v.msg.decode("utf-8", "replace"),
        }
        if v.dump != NULL:
            d["flight_recorder"] = _dump_events(v.dump, v.dump_heads, ms_nr_cpu_ids)
        out.append(d)
    return out


def violations_by_invariant():
    return {V_NAMES[i]: violations_by_code[i] for i in range(1, V_NR) if violations_by_code[i]}


def live_stats():
    """Counters of the run so far (read racily; exact once it is over)."""
    cdef int i, c, online = 0, dying = 0, caches = 0
    cdef ms_list *n
    cdef mem_cgroup *m
    cdef unsigned long hist[32]
    cdef long held = 0, in_flight = 0
    threads = []
    for c in range(ms_nr_cpu_ids):
        d = {CNT_NAMES[i]: ms_threads[c].counters[i] for i in range(CNT_NR)}
        d["choice_digest"] = ms_threads[c].choice_digest
        threads.append(d)
    if workers != NULL:
        for i in range(nr_workers):
            held += READ_ONCE_L(&workers[i].n_held)
            for c in range(nr_workers):
                in_flight += READ_ONCE_L(&workers[i].sent_to[c]) - READ_ONCE_L(&workers[c].recv_from[i])
    with nogil:
        if model_ready:
            ms_mutex_lock(&cgroup_mutex)
            n = memcg_all.next
            while n != &memcg_all:
                m = <mem_cgroup *>n.owner
                if m != root_mem_cgroup:
                    if m.state == MEMCG_ONLINE:
                        online += 1
                    else:
                        dying += 1
                n = n.next
            ms_mutex_unlock(&cgroup_mutex)
            ms_mutex_lock(&slab_mutex)
            for i in range(MAX_ROOTS):
                if roots[i] != NULL:
                    caches += list_count(&roots[i].children)
            ms_mutex_unlock(&slab_mutex)
    rcu_gp_histogram(hist)
    ncp = READ_ONCE_L(&cp_count)
    pauses = sorted(cp_ring[i] for i in range(min(ncp, CP_RING)))
    roles = []
    for c in range(ms_nr_cpu_ids):
        roles.append(("none", "worker", "controller", "workqueue", "rcu")[ms_threads[c].role])
    return {
        "threads": threads,
        "roles": roles,
        "global": {G_NAMES[i]: gstats[i] for i in range(G_NR)},
        "memcgs_online": online,
        "memcgs_dying": dying,
        "child_caches": caches,
        "objects_held": held,
        "objects_in_flight": in_flight,
        "grace_periods": rcu_gp_count(),
        "rcu_pending": rcu_pending_callbacks(),
        "slab_pages_reserved": READ_ONCE_L(&nr_pages_reserved),
        "gp_histogram_us_log2": [hist[i] for i in range(32)],
        "checkpoints": ncp,
        "checkpoint_pause_ns": pauses,
        "checkpoint_max_ns": cp_max_ns,
        "violations": READ_ONCE_L(&nr_violations),
        "delays_taken": {DP_NAMES[i]: dp_taken[i] for i in range(DP_NR)},
        "lockdep_violations": READ_ONCE_L(&lockdep_violations),
    }
