# checkers.pxi: the checkers and the checkpoints (docs/DESIGN.md, checkers).
#
# Every invariant against the page walk (ground truth), with the world
# stopped (stw.pxi) or single-threaded (the Model).

cdef enum:
    CP_RING = 4096              # checkpoint pauses kept for medians
    FULL_CHECK_EVERY = 8        # every 8th checkpoint visits every object

# ---- checkpoint statistics (controller only; read racily by Python) ----
cdef long cp_count = 0
cdef long cp_ring[CP_RING]      # pause ns
cdef long cp_max_ns = 0
cdef long cp_total_ns = 0
cdef long last_lockdep = 0
cdef long last_underflows = 0
cdef long checker_epoch = 0

# ---------------------------------------------------------------------------
# The checkers.  World stopped (or single-threaded).

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
    """Every invariant (docs/DESIGN.md, checkers) against the page walk.  Returns
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
    # the active_memcg user's css reference (it may be offline: that is its point)
    if active_memcg_held != NULL and active_memcg_held.magic == MEMCG_MAGIC:
        active_memcg_held.ck_holders += 1
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
    # creation works hold a css reference on their memcg (every CPU's pool)
    for i in range(MS_MAX_CPUS):
        q = wqs[WQ_KMEM_CACHE].pools[i].q.tail
        while q != NULL:
            if q != &wqs[WQ_KMEM_CACHE].pools[i].q.stub:
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
