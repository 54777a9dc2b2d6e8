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
cdef long cp_stop_ring[CP_RING] # of which stopping the world (stw_stop) ns
cdef long cp_max_ns = 0
cdef long cp_total_ns = 0
cdef long last_lockdep = 0
cdef long last_underflows = 0
cdef long checker_epoch = 0
# fix_root_drift's root check: pages of child caches whose charge went to a
# child's chain (not the root branch), and the stock, as the root's counter
# must hold them; [1 + t] the same pages by stat item (world stopped)
cdef long ck_root_live[3]

# ---------------------------------------------------------------------------
# Lock classes of the order graph (locks.h), given after the locks' init
# (model_init); each cache's list_lock gets LC_LIST_LOCK where it is made.

cdef void lockdep_classes_init() noexcept nogil:
    lockdep_set_class_mutex(&cgroup_mutex, LC_CGROUP_MUTEX)
    lockdep_set_class_mutex(&slab_mutex, LC_SLAB_MUTEX)
    lockdep_set_class_spin(&memcg_kmem_wq_lock, LC_MEMCG_KMEM_WQ_LOCK)
    lockdep_set_class_spin(&release_lock, LC_RELEASE_LOCK)
    lockdep_set_class_spin(&quarantine_lock, LC_QUARANTINE_LOCK)
    lockdep_set_class_spin(&page_pool_lock, LC_PAGE_POOL_LOCK)

# ---------------------------------------------------------------------------
# The checkers.  World stopped (or single-threaded).

cdef inline void fmt_memcg(char *buf, int n, mem_cgroup *m) noexcept nogil:
    cdef char parent[32]
    if m.parent != NULL:
        snprintf(parent, 32, "parent %ld", m.parent.id)
    else:
        snprintf(parent, 32, "no parent: the root")
    snprintf(buf, n, "memcg %ld (%s, kmem %s, kmemcg_id %d, css %ld, memory %ld pages, stat %ld/%ld, %s)",
             m.id, memcg_state_word(m.state), kmem_state_word(m.kmem_state), m.kmemcg_id,
             percpu_ref_count(&m.css), m.memory, m.stat[0], m.stat[1], parent)

cdef inline void fmt_cache(char *buf, int n, kmem_cache *c) noexcept nogil:
    snprintf(buf, n, "cache %ld (root %d, memcg %ld, refcnt %ld, %s%s%s, %ld pages)",
             c.id, c.root_index, c.memcg.id if c.memcg != NULL else -1,
             percpu_ref_count(&c.refcnt), "killed" if percpu_ref_is_dying(&c.refcnt) else "live",
             ", deactivated" if c.deactivated else "", ", shut down" if c.shut_down else "",
             c.nr_pages)

cdef long walk_freelist(ms_object *o, ms_page *page, long limit, const char *what, long cache_id) noexcept nogil:
    """Length of a freelist (cpu freelist or free_remote) of one page, each
    object checked free and of that page; -1 after reporting a bad list."""
    cdef long k = 0
    cdef char buf[VMSG]
    while o != NULL:
        if k >= limit or o.page != page or o.state != OBJ_FREE:
            snprintf(buf, VMSG, "%s of a slab page of cache %ld: object %lx %s (state %lx) after %ld objects",
                     what, cache_id, <long>o,
                     "is past the page's object count (a cycle?)" if k >= limit else
                     ("belongs to another page" if o.page != page else "is not free"), o.state, k)
            report_violation(V_OBJECTS, cache_id, k, buf)
            return -1
        k += 1
        o = o.next_free
    return k

cdef bint page_owner_ok(ms_page *page, mem_cgroup *c) noexcept nogil:
    """Checker 3, ownership: the memcg a page was charged to lies under its
    cache's memcg (the cache was reparented up from it), or is its cache's
    memcg's first online ancestor (the charge walked up past memcgs that
    were already offline, which they stay).  A charged memcg since freed
    was reparented from: nothing left to compare."""
    cdef mem_cgroup *p = page.charged
    cdef mem_cgroup *a
    if p == NULL or p.magic != MEMCG_MAGIC or p.id != page.charged_id:
        return True
    a = p
    while a != NULL:
        if a == c:
            return True
        a = a.parent
    a = c
    while a != NULL and a != p:
        if a.state == MEMCG_ONLINE:
            return False
        a = a.parent
    return a == p

cdef long walk_cache_pages(kmem_cache *s, long *node_truth, bint full) noexcept nogil:
    """Ground truth of one cache: its pages, their objects and charges.
    Returns the number of allocated objects found: counted object by object
    in a full check, else taken from each page's inuse word less its cpu
    freelist count (slot[2]), both of which the full checks verify against
    the objects, the walked cpu freelists and the free_remote lists."""
    cdef ms_list *n
    cdef ms_page *page
    cdef int cpu, i, typ = stat_idx(s)
    cdef long *slot
    cdef long nr
    cdef long alloc, total = 0, npages = 0, inuse, expect, refs, bad = 0, k, remote, cpufree, page_refs = 0
    cdef slub_lists_walk lw
    cdef bint bad_owner = False
    cdef mem_cgroup *a
    cdef char buf[VMSG]
    cdef char cb[160]
    check_slub_lists(s, &lw)
    # frozen pages: the objects on their cpu's private freelist (one pass
    # over the cpu slots, tagged with the epoch, instead of a reset pass);
    # a full check walks each freelist and verifies its count
    for cpu in range(ms_nr_cpu_ids):
        slot = per_cpu_ptr_L(s.cpu_slab, cpu)
        if slot[0] != 0:
            page = <ms_page *>slot[0]
            page.ck_free = slot[2] if 0 <= slot[2] <= page.objects else -1     # -1: reported below
            page.ck_epoch = <unsigned int>checker_epoch
            if full:
                k = walk_freelist(<ms_object *>slot[1], page, page.objects, "cpu freelist", s.id)
                if k >= 0 and k != slot[2]:
                    snprintf(buf, VMSG, "cpu %d freelist of cache %ld holds %ld objects but its count (slot[2]) says %ld",
                             cpu, s.id, k, slot[2])
                    report_violation(V_OBJECTS, s.id, slot[2] - k, buf)
                if k >= 0:
                    page.ck_free = k
        elif full and (slot[1] != 0 or slot[2] != 0):
            snprintf(buf, VMSG, "cpu %d of cache %ld has no slab but a freelist (%lx, count %ld)",
                     cpu, s.id, slot[1], slot[2])
            report_violation(V_OBJECTS, s.id, cpu, buf)
    n = s.pages.next
    while n != &s.pages:
        page = <ms_page *>n.owner
        npages += 1
        nr = 1 << page.order
        page_refs += nr
        node_truth[typ] += nr
        inuse = page.state >> 1
        # ck_free counts only when this walk set it (the page's cpu slot above)
        cpufree = page.ck_free if (page.state & 1) and page.ck_epoch == <unsigned int>checker_epoch else 0
        check_slub_page(s, &lw, page, inuse)
        if full:
            alloc = 0
            for i in range(page.objects):
                if page.objs[i].state == OBJ_ALLOCATED:
                    alloc += 1
            remote = walk_freelist(page.free_remote, page, page.objects, "free_remote list", s.id)
            expect = alloc + cpufree
            if remote >= 0 and alloc + cpufree + remote != page.objects and not bad:
                bad = 1
                snprintf(buf, VMSG, "slab page of cache %ld: %ld objects allocated, %ld on the cpu freelist and %ld on free_remote, of %d",
                         s.id, alloc, cpufree, remote, page.objects)
                report_violation(V_OBJECTS, s.id, alloc, buf)
        else:
            alloc = inuse - cpufree
            expect = inuse
        if (inuse != expect or alloc < 0 or alloc > page.objects or cpufree < 0 or cpufree > page.objects) and not bad:
            bad = 1
            snprintf(buf, VMSG, "slab page of cache %ld: inuse %ld but %ld objects allocated and %ld on the cpu freelist",
                     s.id, inuse, alloc, cpufree)
            report_violation(V_OBJECTS, s.id, inuse, buf)
        total += alloc
        if not s.is_root:
            if page.charged != root_mem_cgroup:
                ck_root_live[0] += nr
                ck_root_live[1 + typ] += nr
            a = s.memcg
            while a != NULL and a.magic == MEMCG_MAGIC:
                a.ck_charge += nr
                a.ck_stat[typ] += nr
                a = a.parent
            if a == NULL and not bad_owner and not page_owner_ok(page, s.memcg):
                bad_owner = True
                snprintf(buf, VMSG, "slab page of cache %ld (memcg %ld) was charged to memcg %ld, "
                         "which is neither under it nor its first online ancestor",
                         s.id, s.memcg.id, page.charged_id)
                report_violation(V_REFS, s.id, page.charged_id, buf)
        n = n.next
    check_slub_lists_end(s, &lw)
    if npages != s.nr_pages:
        snprintf(buf, VMSG, "cache %ld: %ld pages on its list but nr_pages %ld", s.id, npages, s.nr_pages)
        report_violation(V_LISTS, s.id, npages, buf)
    if not s.is_root:
        # base (until killed) + pages + the switch's own reference while
        # the kill waits for its grace period
        refs = (0 if percpu_ref_is_dying(&s.refcnt) else 1) + page_refs \
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

cdef void root_memcg_check(mem_cgroup *m, long child_mem, long *child_stat) noexcept nogil:
    """The root as 5.4 accounts it: nothing charges it directly (try_charge
    and memcg_charge_slab/memcg_uncharge_slab short-cut mem_cgroup_is_root),
    so its page counter and hierarchical stats are exactly its children's
    (page_counter_try_charge and the stat spill walk up to the root), with
    what freed children held (the ledger); its own per-cpu residues and
    local stats stay zero.  It is not compared with live pages: 5.4's
    uncharge strands and over-uncharges it (README finding 8).  With
    fix_root_drift the root's own branch is symmetric, and the root is held
    to what it must hold: its counter to the live pages charged to a child's
    chain plus every stock, its stats with the subtree's residues and its
    subtree's local stats to those pages."""
    cdef char buf[VMSG]
    cdef char mb[200]
    cdef long *p
    cdef int cpu, t
    if fix_root_drift:
        if m.memory != ck_root_live[0]:
            fmt_memcg(mb, 200, m)
            snprintf(buf, VMSG, "%s: root page counter %ld != %ld live pages charged to its children's chains and stock",
                     mb, m.memory, ck_root_live[0])
            report_violation(V_CHARGE, m.id, m.memory - ck_root_live[0], buf)
        for t in range(2):
            if m.stat[t] + m.ck_resid[t] != ck_root_live[1 + t]:
                fmt_memcg(mb, 200, m)
                snprintf(buf, VMSG, "%s: root stat[%d] %ld + residues %ld != %ld live pages charged to its children's chains",
                         mb, t, m.stat[t], m.ck_resid[t], ck_root_live[1 + t])
                report_violation(V_STATS, m.id, t, buf)
            if m.ck_local[t] != ck_root_live[1 + t]:
                fmt_memcg(mb, 200, m)
                snprintf(buf, VMSG, "%s: local stat[%d] summed over the tree %ld != %ld live pages charged to children's chains",
                         mb, t, m.ck_local[t], ck_root_live[1 + t])
                report_violation(V_STATS, m.id, t, buf)
        return
    if m.memory != child_mem + m.lost_memory:
        fmt_memcg(mb, 200, m)
        snprintf(buf, VMSG, "%s: root page counter %ld != its children's %ld + freed children's %ld",
                 mb, m.memory, child_mem, m.lost_memory)
        report_violation(V_CHARGE, m.id, m.memory - child_mem - m.lost_memory, buf)
    for t in range(2):
        if m.stat[t] != child_stat[t] + m.lost_stat[t]:
            fmt_memcg(mb, 200, m)
            snprintf(buf, VMSG, "%s: root stat[%d] %ld != its children's %ld + freed children's %ld",
                     mb, t, m.stat[t], child_stat[t], m.lost_stat[t])
            report_violation(V_STATS, m.id, t, buf)
    for cpu in range(ms_nr_cpu_ids):
        p = per_cpu_ptr_L(m.pcpu, cpu)
        if p[0] != 0 or p[1] != 0 or p[2] != 0 or p[3] != 0:
            snprintf(buf, VMSG, "root memcg: per-cpu stats of cpu %d are not zero (%ld %ld %ld %ld)",
                     cpu, p[0], p[1], p[2], p[3])
            report_violation(V_STATS, m.id, cpu, buf)
            break

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
    cdef long nmemcg = 0, nchildcaches = 0, l0, l1
    cdef long child_mem = 0
    cdef long child_stat[2]
    cdef mem_cgroup *id_owner[MEMCG_CACHES_MAX_SIZE]
    checker_epoch += 1
    memset(id_owner, 0, sizeof(id_owner))
    node_truth[0] = 0
    node_truth[1] = 0
    child_stat[0] = 0
    child_stat[1] = 0
    ck_root_live[0] = 0
    ck_root_live[1] = 0
    ck_root_live[2] = 0
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
        m.ck_local[0] = 0
        m.ck_local[1] = 0
        n = n.next
    n = memcg_all.next
    while n != &memcg_all:
        m = <mem_cgroup *>n.owner
        nmemcg += 1
        r0 = 0
        r1 = 0
        l0 = m.local_lost[0]
        l1 = m.local_lost[1]
        for cpu in range(ms_nr_cpu_ids):
            p = per_cpu_ptr_L(m.pcpu, cpu)
            r0 += p[0]
            r1 += p[1]
            l0 += p[2]
            l1 += p[3]
        if m.parent != NULL and m.parent == root_mem_cgroup:
            child_mem += m.memory
            child_stat[0] += m.stat[0]
            child_stat[1] += m.stat[1]
        a = m
        while a != NULL:
            a.ck_resid[0] += r0
            a.ck_resid[1] += r1
            a.ck_local[0] += l0
            a.ck_local[1] += l1
            a.ck_nsub += 1
            a = a.parent
        # the memcg that owns each kmemcg id: the topmost memcg carrying it
        # (an offlined memcg's subtree takes its parent's id)
        if m.kmemcg_id >= 0 and m.kmemcg_id < MEMCG_CACHES_MAX_SIZE and \
                (m.parent == NULL or m.parent.kmemcg_id != m.kmemcg_id):
            id_owner[m.kmemcg_id] = m
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
        # a TYPESAFE_BY_RCU cache shut down with pages waiting for
        # rcu_free_slab (a destroyed root, or a child flushed by its root's
        # destroy): the walk counts them, and the child's memcg reference
        found += walk_cache_pages(c, node_truth, full)
        n = n.next
    # shut down and unlinked from sysfs, released when a queued
    # sysfs_slab_remove_workfn drops its kobject reference (those still
    # waiting for their grace period were counted above)
    spin_lock(&sysfs_lock)
    n = sysfs_unlinked.next
    while n != &sysfs_unlinked:
        c = <kmem_cache *>n.owner
        if not c.is_root and list_empty(&c.release_node):
            nchildcaches += 1
            if c.memcg != NULL and c.memcg.magic == MEMCG_MAGIC:
                c.memcg.ck_holders += 1
        n = n.next
    spin_unlock(&sysfs_lock)
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
            for v in range(w.n_keep):
                held_total += count_object(w.keep[v], checker_epoch)
            q = w.mailbox.tail
            while q != NULL:
                if q != &w.mailbox.stub:
                    held_total += count_object(<ms_object *>q, checker_epoch)
                q = q.next
        else:
            held_total += w.n_held + w.n_keep
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
    # memcg_stock: each cpu's precharge is charged to its memcg's chain and
    # holds a css reference a page (5.4's try_charge/drain_stock)
    for cpu in range(ms_nr_cpu_ids):
        p = per_cpu_ptr_L(memcg_stock, cpu)
        m = <mem_cgroup *>p[STOCK_CACHED]
        if p[STOCK_NR] == 0:
            continue
        if p[STOCK_NR] < 0 or m == NULL or m == root_mem_cgroup or m.magic != MEMCG_MAGIC:
            snprintf(buf, VMSG, "cpu %d's stock holds %ld pages of %s", cpu, p[STOCK_NR],
                     "no memcg" if m == NULL else ("the root" if m == root_mem_cgroup else
                                                   ("a freed memcg" if m.magic != MEMCG_MAGIC else "a memcg")))
            report_violation(V_CHARGE, cpu, p[STOCK_NR], buf)
            continue
        m.ck_holders += p[STOCK_NR]
        ck_root_live[0] += p[STOCK_NR]
        a = m
        while a != NULL:
            a.ck_charge += p[STOCK_NR]
            a = a.parent
    # 1. charge, 2. memcg stats, 3. css references
    n = memcg_all.next
    while n != &memcg_all:
        m = <mem_cgroup *>n.owner
        if m == root_mem_cgroup:
            root_memcg_check(m, child_mem, child_stat)
        elif m.state == MEMCG_ONLINE:
            if m.memory != m.ck_charge:
                fmt_memcg(mb, 200, m)
                snprintf(buf, VMSG, "%s: charged %ld pages, live slab pages and stock in its subtree: %ld",
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
                if m.ck_local[t] != m.ck_stat[t]:
                    fmt_memcg(mb, 200, m)
                    snprintf(buf, VMSG, "%s: local stat[%d] summed over its subtree %ld != %ld live slab pages",
                             mb, t, m.ck_local[t], m.ck_stat[t])
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
                continue
            # entries[id] belongs to the memcg owning id (or to its
            # reparented ancestor, which holds the owner's caches)
            m = id_owner[v] if v < MEMCG_CACHES_MAX_SIZE else NULL
            a = m
            while a != NULL and a != c.memcg:
                a = a.parent
            if a == NULL:
                snprintf(buf, VMSG, "root %d memcg_caches[%ld] names cache %ld of memcg %ld, but kmemcg id %ld is owned by memcg %ld",
                         i, v, c.id, c.memcg.id if c.memcg != NULL else -1, v, m.id if m != NULL else -1)
                report_violation(V_LISTS, c.id, v, buf)
    # 5. objects
    for i in range(MS_MAX_CPUS):
        allocs += ms_threads[i].counters[CNT_ALLOC]
        frees += ms_threads[i].counters[CNT_FREE]
    if allocs - frees != held_total or found != held_total:
        snprintf(buf, VMSG, "objects: %ld allocated - %ld freed = %ld, held by workers %ld, allocated in slab pages %ld",
                 allocs, frees, allocs - frees, held_total, found)
        report_violation(V_OBJECTS, allocs - frees, held_total, buf)
    # write-after-free: what is in quarantine is as it was freed
    if full:
        quarantine_verify_all()
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
        # root's counter may hold charges at the end: the 5.4 root branch of
        # memcg_uncharge_slab strands them (root_memcg_check holds it exact);
        # with fix_root_drift it must be back at zero
        if m.nr_dying_descendants != 0 or node_truth[0] + node_truth[1] != 0 \
                or (fix_root_drift and m.memory != 0) \
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
    cp_stop_ring[cp_count % CP_RING] = <long>(ms_now_ns() - t0)
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
# Stalls and hangs (rcutorture's stall checks, the workqueue watchdog): a
# grace period older than its bound, a queued work not run within its
# bound, an offline not finished within its bound.  Checked from the run's
# monitor (stress.engine, every poll), without stopping the world, from
# what it can read racily: the grace-period count and pending callbacks,
# the workqueue's consumer end, and, under a cgroup_mutex trylock, each
# dying memcg's rmdir time.  Each kind is reported once per run, with the
# locks every thread holds; the flight recorder says what each did last.

cdef enum:
    ST_GP = 1
    ST_WORK = 2
    ST_OFFLINE = 4
    ST_MUTEX = 8

cdef struct stall_state:
    long bound_ns[3]                # grace period, work, offline; 0: off
    unsigned long gp_seen
    unsigned long long gp_since     # since when no grace period ended with callbacks pending
    void *wq_tail[WQ_NR][MS_MAX_CPUS]                 # each pool's consumer end at the last look
    unsigned long long wq_since[WQ_NR][MS_MAX_CPUS]   # since when that pool's consumer end has not moved, work queued
    unsigned long long mutex_since  # since when the monitor could not take cgroup_mutex
    int reported                    # ST_* already reported this run

cdef stall_state stall

cdef inline const char *wq_cname(int w) noexcept nogil:
    if w == WQ_KMEM_CACHE:
        return "memcg_kmem_cache_wq"
    if w == WQ_CGROUP_DESTROY:
        return "cgroup_destroy_wq"
    return "system_wq"

cdef void stall_configure(long gp_ns, long work_ns, long offline_ns) noexcept nogil:
    cdef unsigned long long now = ms_now_ns()
    stall.bound_ns[0] = gp_ns
    stall.bound_ns[1] = work_ns
    stall.bound_ns[2] = offline_ns
    stall.gp_seen = rcu_gp_count()
    stall.gp_since = now
    cdef int w, c
    for w in range(WQ_NR):
        for c in range(MS_MAX_CPUS):
            stall.wq_tail[w][c] = NULL
            stall.wq_since[w][c] = now
    stall.mutex_since = 0
    stall.reported = 0

cdef void stall_report(int kind, long age_ns, long bound_ns, const char *what) noexcept nogil:
    """One stall violation: what stalled, every thread's held locks and the
    threads inside a read section."""
    cdef char buf[VMSG]
    cdef int len, c, i, n
    stall.reported |= kind
    len = snprintf(buf, VMSG, "%s for %ld ms (bound %ld ms); held locks:", what,
                   age_ns // 1000000, bound_ns // 1000000)
    for c in range(ms_nr_cpu_ids):
        n = READ_ONCE_I(&ms_nr_held[c])
        for i in range(min(n, MS_HELD_MAX)):
            if len < VMSG - 1:
                len += snprintf(buf + len, VMSG - len, " cpu %d %s", c,
                                ms_lock_class_names[ms_held_locks[c][i].cls])
    if len < VMSG - 1 and len > 0 and buf[len - 1] == c':':
        len += snprintf(buf + len, VMSG - len, " none")
    # who is inside a read section now (what a grace period waits for)
    cdef int tids[MS_MAX_CPUS]
    cdef int nr = rcu_readers_in_section(tids, MS_MAX_CPUS)
    if len < VMSG - 1:
        len += snprintf(buf + len, VMSG - len, "; in a read section:")
    for i in range(nr):
        for c in range(ms_nr_cpu_ids):
            if READ_ONCE_I(&ms_cpu_owner[c]) == tids[i] and len < VMSG - 1:
                len += snprintf(buf + len, VMSG - len, " cpu %d", c)
    if nr == 0 and len < VMSG - 1:
        snprintf(buf + len, VMSG - len, " none")
    report_violation(V_STALL, kind, age_ns // 1000000, buf)

cdef int stall_check() noexcept nogil:
    """One look at the stall conditions; the kinds reported now."""
    cdef unsigned long long now = ms_now_ns()
    cdef unsigned long gp = rcu_gp_count()
    cdef void *tail
    cdef int before = stall.reported
    cdef int w, c
    cdef ms_list *n
    cdef mem_cgroup *m
    cdef char what[120]
    # a grace period: callbacks wait and none ended since gp_since
    if gp != stall.gp_seen or rcu_pending_callbacks() == 0:
        stall.gp_seen = gp
        stall.gp_since = now
    elif stall.bound_ns[0] and not (stall.reported & ST_GP) and \
            <long>(now - stall.gp_since) > stall.bound_ns[0]:
        snprintf(what, 120, "grace period not ended (%d callbacks waiting)", rcu_pending_callbacks())
        stall_report(ST_GP, <long>(now - stall.gp_since), stall.bound_ns[0], what)
    # a work: queued on some CPU's pool, and that pool's consumer end did not move
    for w in range(WQ_NR):
        for c in range(wq_nr_pools()):
            tail = READ_ONCE_P(<void **>&wqs[w].pools[c].q.tail)
            if mpsc_empty(&wqs[w].pools[c].q) or tail != stall.wq_tail[w][c]:
                stall.wq_tail[w][c] = tail
                stall.wq_since[w][c] = now
            elif stall.bound_ns[1] and not (stall.reported & ST_WORK) and \
                    <long>(now - stall.wq_since[w][c]) > stall.bound_ns[1]:
                snprintf(what, 120, "queued work not run (%s, cpu %d)", wq_cname(w), c)
                stall_report(ST_WORK, <long>(now - stall.wq_since[w][c]), stall.bound_ns[1], what)
    # an offline: a removed memcg whose offline has not run
    if stall.bound_ns[2] == 0 or (stall.reported & ST_OFFLINE):
        return stall.reported & ~before
    if ms_mutex_trylock(&cgroup_mutex):
        stall.mutex_since = 0
        n = memcg_all.next
        while n != &memcg_all:
            m = <mem_cgroup *>n.owner
            if m.offline_pending and m.offline_ns and <long>(now - m.offline_ns) > stall.bound_ns[2]:
                snprintf(what, 120, "offline of memcg %ld not finished since its rmdir", m.id)
                ms_mutex_unlock(&cgroup_mutex)
                stall_report(ST_OFFLINE, <long>(now - m.offline_ns), stall.bound_ns[2], what)
                return stall.reported & ~before
            n = n.next
        ms_mutex_unlock(&cgroup_mutex)
    elif stall.mutex_since == 0:
        stall.mutex_since = now
    elif not (stall.reported & ST_MUTEX) and <long>(now - stall.mutex_since) > stall.bound_ns[2]:
        stall_report(ST_MUTEX, <long>(now - stall.mutex_since), stall.bound_ns[2],
                     "cgroup_mutex not released (offlines cannot run)")
    return stall.reported & ~before

def stall_setup(double gp_s, double work_s, double offline_s):
    """Bounds of the stall checks for the next run, in seconds (0: off)."""
    stall_configure(<long>(gp_s * 1e9), <long>(work_s * 1e9), <long>(offline_s * 1e9))

def stall_poll():
    """Run the stall checks once (the run's monitor calls it); the number of
    stalls reported now."""
    cdef int k
    with nogil:
        k = stall_check()
    return bin(k).count("1")

# ---------------------------------------------------------------------------
# The pinned check (end of the drain, before the shrink that unpins).

cdef long page_objects_allocated(kmem_cache *s, ms_page *page) noexcept nogil:
    """Objects of the page that someone holds: inuse, less the private
    freelist of the cpu whose slab it is (a frozen page counts that list as
    in use).  -1 with `cpu` unknown is never returned: a page that is no
    cpu's slab has all of inuse allocated."""
    cdef int cpu
    cdef long *slot
    cdef long inuse = READ_ONCE_L(&page.state) >> 1
    for cpu in range(ms_nr_cpu_ids):
        slot = per_cpu_ptr_L(s.cpu_slab, cpu)
        if slot[0] == <long>page:
            return inuse - slot[2]
    return inuse

cdef bint cache_pinned(kmem_cache *c, long *pages) noexcept nogil:
    """A killed child cache whose every remaining page is an empty cpu slab:
    nothing the kernel does unfreezes it (nobody allocates from the cache
    again, its refcount waits for the page), until a shrink's flush_all."""
    cdef ms_list *p
    cdef ms_page *page
    cdef long n = 0
    cdef bint pinned = True
    spin_lock(&c.list_lock)
    p = c.pages.next
    while p != &c.pages:
        page = <ms_page *>p.owner
        if not page.rcu_pending:
            n += 1
            if not (page.state & 1) or page_objects_allocated(c, page) != 0:
                pinned = False
        p = p.next
    spin_unlock(&c.list_lock)
    pages[0] = n
    return pinned and n > 0

cdef void pinned_check() noexcept nogil:
    """After the drain freed every object and the deferred work settled:
    count the killed caches kept alive only by empty cpu slabs (pinned, as
    5.3 and 5.4 leave them: docs/DESIGN.md, findings) and the memcgs not
    freed then.  What is neither (a page with objects, a cache or memcg
    nothing pins) is left to the final checks, after the drain's shrink."""
    cdef ms_list *n
    cdef ms_list *n2
    cdef kmem_cache *r
    cdef kmem_cache *c
    cdef long pages
    ms_mutex_lock(&slab_mutex)
    n = slab_root_caches.next
    while n != &slab_root_caches:
        r = <kmem_cache *>n.owner
        n2 = r.children.next
        while n2 != &r.children:
            c = <kmem_cache *>n2.owner
            if not c.shut_down and percpu_ref_is_dying(&c.refcnt) and cache_pinned(c, &pages):
                gstats[G_PINNED_CACHES] += 1
                gstats[G_PINNED_PAGES] += pages
            n2 = n2.next
        n = n.next
    ms_mutex_unlock(&slab_mutex)
    gstats[G_PINNED_MEMCGS] += list_count(&memcg_all) - 1
