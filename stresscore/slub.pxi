# slub.pxi: slab pages and objects, after mm/slub.c (Linux 5.3/5.4).
# docs/DESIGN.md, slub.
#
# A per-cpu slab with a private freelist, a remote free list any thread
# pushes to, and an (inuse, frozen) word per page; new_slab, __free_slab,
# rcu_free_slab, discard_slab, deactivate_slab, flush_all (an IPI to each
# cpu with a slab of the cache, smp.pxi), __kmem_cache_shrink, and the
# allocation and free entry points, kmem_cache_alloc and kmem_cache_free.

# Freed pages are kept for reuse, never handed back to the C library while
# the model lives: a per-thread pool (no lock) backed by a global one under
# page_pool_lock (the per-cpu page lists and zone->lock of the page
# allocator).  The footprint is then the high-water mark of slab pages, not
# whatever the C library's heaps retain of a churn of 3 KiB blocks.

cdef enum:
    PAGE_POOL_LOCAL = 512       # pages one thread keeps
    PAGE_POOL_BATCH = 64        # pages moved between a thread and the global pool at once

cdef ms_spinlock page_pool_lock
cdef ms_page *page_pool_global = NULL   # page_pool_lock
cdef long nr_pages_reserved = 0         # atomic: pages taken from the C library and not given back

cdef ms_page *page_pool_get() noexcept nogil:
    global page_pool_global
    cdef ms_thread *t = this_thread()
    cdef ms_page *p = <ms_page *>t.page_pool
    cdef int i
    if p == NULL and READ_ONCE_P(<void **>&page_pool_global) != NULL:
        spin_lock(&page_pool_lock)
        for i in range(PAGE_POOL_BATCH):
            p = page_pool_global
            if p == NULL:
                break
            page_pool_global = p.pool_next
            p.pool_next = <ms_page *>t.page_pool
            t.page_pool = p
            t.nr_pool += 1
        spin_unlock(&page_pool_lock)
        p = <ms_page *>t.page_pool
    if p != NULL:
        t.page_pool = p.pool_next
        t.nr_pool -= 1
        return p
    p = <ms_page *>aligned_alloc(64, sizeof(ms_page))
    if p != NULL:
        atomic_add_L(&nr_pages_reserved, 1)
    return p

cdef inline void page_pool_global_push(ms_page *p) noexcept nogil:
    """Called with page_pool_lock held."""
    global page_pool_global
    p.pool_next = page_pool_global
    page_pool_global = p

cdef void page_pool_put(ms_page *p) noexcept nogil:
    cdef ms_thread *t
    cdef ms_page *q
    cdef int i
    p.magic = POISON_MAGIC
    if ms_cpu < 0:
        spin_lock(&page_pool_lock)
        page_pool_global_push(p)
        spin_unlock(&page_pool_lock)
        return
    t = this_thread()
    p.pool_next = <ms_page *>t.page_pool
    t.page_pool = p
    t.nr_pool += 1
    if t.nr_pool > PAGE_POOL_LOCAL:
        spin_lock(&page_pool_lock)
        for i in range(PAGE_POOL_BATCH):
            q = <ms_page *>t.page_pool
            t.page_pool = q.pool_next
            t.nr_pool -= 1
            page_pool_global_push(q)
        spin_unlock(&page_pool_lock)

cdef void page_pool_free_list(ms_page *p) noexcept nogil:
    cdef ms_page *nx
    while p != NULL:
        nx = p.pool_next
        free(p)
        p = nx

cdef void page_pools_release() noexcept nogil:
    """Hand every pooled page back to the C library (between runs; no
    thread of the model may be running)."""
    global page_pool_global, nr_pages_reserved
    cdef int i
    for i in range(MS_MAX_CPUS):
        page_pool_free_list(<ms_page *>ms_threads[i].page_pool)
        ms_threads[i].page_pool = NULL
        ms_threads[i].nr_pool = 0
    page_pool_free_list(page_pool_global)
    page_pool_global = NULL
    nr_pages_reserved = 0

# ---------------------------------------------------------------------------
# Slab pages (allocate_slab, __free_slab, rcu_free_slab, free_slab).

cdef ms_page *new_slab(kmem_cache *s) noexcept nogil:
    """allocate_slab: a page with every object free, frozen for this cpu,
    charged (child caches) or accounted to the node (root caches)."""
    cdef ms_page *page = page_pool_get()
    cdef int i
    cdef long nr = 1 << s.order
    if page == NULL:
        return NULL
    page.magic = PAGE_MAGIC
    page.cache = s
    page.free_remote = NULL
    page.rcu_pending = 0
    page.ck_epoch = 0
    page.rcu.owner = page
    page.node.owner = page
    page.charged = NULL
    page.charged_id = -1
    if s.is_root:
        mod_node_state(stat_idx(s), nr)
    elif memcg_charge_slab(s, s.order, &page.charged) != 0:
        page_pool_put(page)
        return NULL
    if page.charged != NULL:
        page.charged_id = page.charged.id
    for i in range(s.objects):
        page.objs[i].page = page
        page.objs[i].state = OBJ_FREE
        page.objs[i].mark = 0
    spin_lock(&s.list_lock)
    list_add_tail(&page.node, &s.pages)
    s.nr_pages += 1
    spin_unlock(&s.list_lock)
    count_event(CNT_PAGE_ALLOC)
    fr_record(EV_ALLOC_SLOW, s.id, nr)
    return page

cdef void __free_slab(ms_page *page) noexcept nogil:
    cdef kmem_cache *s = page.cache
    spin_lock(&s.list_lock)
    list_del_init(&page.node)
    s.nr_pages -= 1
    spin_unlock(&s.list_lock)
    if s.is_root:
        mod_node_state(stat_idx(s), -(1 << s.order))
    else:
        memcg_uncharge_slab(s, s.order, page.charged)
    page_pool_put(page)

cdef void rcu_free_slab(rcu_head *head) noexcept nogil:
    __free_slab(<ms_page *>head.owner)

cdef void discard_slab(ms_page *page) noexcept nogil:
    """free_slab: TYPESAFE_BY_RCU pages wait a grace period (still charged
    and still on the cache's list until then)."""
    cdef kmem_cache *s = page.cache
    count_event(CNT_PAGE_FREE)
    if s.typesafe:
        spin_lock(&s.list_lock)
        page.rcu_pending = 1
        spin_unlock(&s.list_lock)
        if MUTANT(M_RCU_BUSTED):
            __free_slab(page)           # mutant rcu-busted: no grace period
        elif rcu_pending_callbacks() > RCU_FLOOD:
            # The callback thread is behind (starved of CPU): wait for the
            # grace period here rather than let pending pages pile up
            # (rcutorture's forward-progress concern).  Never called inside
            # a read section.
            synchronize_rcu()
            __free_slab(page)
        else:
            call_rcu(&page.rcu, rcu_free_slab)
    else:
        __free_slab(page)

# ---------------------------------------------------------------------------
# cpu slabs: the per-cpu slab, its flushes, the fast paths.

cdef void deactivate_slab(kmem_cache *s, long *slot) noexcept nogil:
    """Unfreeze this cpu's slab of s: hand the private freelist back to the
    page and discard the page if nothing in it is in use."""
    cdef ms_page *page = <ms_page *>slot[0]
    cdef ms_object *head = <ms_object *>slot[1]
    cdef ms_object *tail
    cdef ms_object *old
    cdef long k = slot[2]
    cdef long st, new, seen
    if page == NULL:
        return
    if head != NULL:
        tail = head
        while tail.next_free != NULL:
            tail = tail.next_free
        old = <ms_object *>READ_ONCE_P(<void **>&page.free_remote)
        while True:
            tail.next_free = old
            st = <long>cmpxchg_P(<void **>&page.free_remote, old, head)
            if st == <long>old:
                break
            old = <ms_object *>st
    slot[0] = 0
    slot[1] = 0
    slot[2] = 0
    st = READ_ONCE_L(&page.state)
    while True:
        new = (((st >> 1) - k) << 1)        # inuse - k, not frozen
        seen = cmpxchg_L(&page.state, st, new)
        if seen == st:
            break
        st = seen
    if new == 0:
        discard_slab(page)

cdef inline long *cpu_slab_of(kmem_cache *s) noexcept nogil:
    return this_cpu_ptr_L(s.cpu_slab)

cdef ms_object *slab_alloc(kmem_cache *s) noexcept nogil:
    """An object from this cpu's slab of s, refilled or replaced as needed;
    NULL when a new page cannot be charged."""
    cdef long *slot = cpu_slab_of(s)
    cdef ms_object *obj = <ms_object *>slot[1]
    cdef ms_page *page
    cdef ms_object *o
    cdef long k
    cdef int i
    if obj != NULL:                     # fast path: private freelist, no atomics
        slot[1] = <long>obj.next_free
        slot[2] -= 1
        return obj
    page = <ms_page *>slot[0]
    if page != NULL:
        # take what other cpus freed to our page
        obj = <ms_object *>xchg_P(<void **>&page.free_remote, NULL)
        if obj != NULL:
            k = 0
            o = obj
            while o != NULL:
                k += 1
                o = o.next_free
            add_return_L(&page.state, k << 1)   # the taken objects count as in use again
            slot[1] = <long>obj.next_free
            slot[2] = k - 1
            return obj
        deactivate_slab(s, slot)        # full: unfreeze it
    page = new_slab(s)
    if page == NULL:
        return NULL
    # freeze: every object goes to the private freelist and counts as in use
    for i in range(s.objects - 1):
        page.objs[i].next_free = &page.objs[i + 1]
    page.objs[s.objects - 1].next_free = NULL
    page.state = (<long>s.objects << 1) | 1
    slot[0] = <long>page
    slot[1] = <long>page.objs[0].next_free
    slot[2] = s.objects - 1
    return &page.objs[0]

cdef void slab_free(ms_object *obj) noexcept nogil:
    """Free an object from any thread: to this cpu's freelist when the page is
    this cpu's slab, else lock-free to the page."""
    cdef ms_page *page = obj.page
    cdef kmem_cache *s = page.cache
    cdef long *slot = cpu_slab_of(s)
    cdef ms_object *old
    cdef long st, r
    if slot[0] == <long>page:
        obj.next_free = <ms_object *>slot[1]
        slot[1] = <long>obj
        slot[2] += 1
        return
    count_event(CNT_REMOTE_FREE)
    old = <ms_object *>READ_ONCE_P(<void **>&page.free_remote)
    while True:
        obj.next_free = old
        r = <long>cmpxchg_P(<void **>&page.free_remote, old, obj)
        if r == <long>old:
            break
        old = <ms_object *>r
    st = add_return_L(&page.state, -2)     # fully ordered: after the push
    if st == 0:
        discard_slab(page)
    elif st < 0:
        violationf(V_REF_NEGATIVE, s.id, st, "slab page of cache %ld: inuse went negative (%ld)",
                   s.id, st)

cdef void flush_cpu_slab(int cpu, void *info) noexcept nogil:
    """flush_cpu_slab (mm/slub.c), the IPI of flush_all: unfreeze this cpu's
    slab of the cache (runs on `cpu`, or for it while it is off)."""
    cdef kmem_cache *s = <kmem_cache *>info
    cdef long *slot = per_cpu_ptr_L(s.cpu_slab, cpu)
    if slot[0] != 0:
        deactivate_slab(s, slot)
        fr_record(EV_KICK, s.id, cpu)

cdef void flush_all(kmem_cache *s) noexcept nogil:
    """flush_all (mm/slub.c): on_each_cpu_cond(has_cpu_slab, flush_cpu_slab,
    s, 1).  has_cpu_slab reads each cpu's slab without a lock, as the
    kernel does: a cpu that freezes a new page of s right after the read
    keeps it (an allocation that took s before a shrink pins s)."""
    cdef int cpus[MS_MAX_CPUS]
    cdef int cpu, n = 0
    for cpu in range(ms_nr_cpu_ids):
        if READ_ONCE_L(per_cpu_ptr_L(s.cpu_slab, cpu)) != 0:     # has_cpu_slab
            cpus[n] = cpu
            n += 1
    if n:
        on_each_cpu_mask(cpus, n, flush_cpu_slab, s)

cdef inline void poll_kick() noexcept nogil:
    """Answer the engine's unloading kick (a module stops using a root: the
    worker_kick part frees what the cpu holds of it); flushes of cpu slabs
    are flush_all's IPIs, not this."""
    cdef ms_thread *t = this_thread()
    cdef long g = READ_ONCE_L(&kick_gen)
    if g != t.kick_seen:
        # Pairs with smp_load_acquire_L in workers_saw: the controller, which
        # waits for it before destroying a root, finds our objects of it freed.
        smp_store_release_L(&t.kick_seen, g)

cdef long slabs_in_use(kmem_cache *s) noexcept nogil:
    """Pages that are not waiting for their TYPESAFE_BY_RCU grace period
    (__kmem_cache_shutdown fails on those only; the pending ones are freed
    before the cache's own release, which waits a grace period too)."""
    cdef long n = 0
    cdef ms_list *p
    spin_lock(&s.list_lock)
    p = s.pages.next
    while p != &s.pages:
        if not (<ms_page *>p.owner).rcu_pending:
            n += 1
        p = p.next
    spin_unlock(&s.list_lock)
    return n

cdef long slab_objects_in_use(kmem_cache *s) noexcept nogil:
    """Objects in use on the cache's pages: the sum of page->inuse (a
    frozen page's private freelist counts as in use, as in SLUB)."""
    cdef long n = 0
    cdef ms_list *p
    cdef ms_page *page
    spin_lock(&s.list_lock)
    p = s.pages.next
    while p != &s.pages:
        page = <ms_page *>p.owner
        if not page.rcu_pending:
            n += READ_ONCE_L(&page.state) >> 1
        p = p.next
    spin_unlock(&s.list_lock)
    return n

cdef int __kmem_cache_shrink(kmem_cache *s) noexcept nogil:
    """__kmem_cache_shrink (mm/slub.c): flush_all, then 0 when the cache has
    no slab left, 1 otherwise.  The model keeps no partial lists (an empty
    page that is not a cpu slab is discarded at once: docs/DESIGN.md
    section 11), so there is nothing else to discard."""
    flush_all(s)
    return 1 if slabs_in_use(s) else 0

# ---------------------------------------------------------------------------
# The allocation and free entry points used by workers.

cdef ms_object *kmem_cache_alloc(kmem_cache *root, mem_cgroup **task_memcg) noexcept nogil:
    cdef kmem_cache *s = memcg_kmem_get_cache(root, task_memcg)
    # Preemptible between slab_pre_alloc_hook and slab_alloc_node: a task
    # holding a cache its memcg's offline deactivates can run after the
    # deactivation's shrink and freeze a new page that nothing flushes.
    ms_delay_if(DP_ALLOC_AFTER_GET, s != root and READ_ONCE_I(&s.deactivated))
    return kmem_cache_alloc_from(s)

cdef ms_object *kmem_cache_alloc_from(kmem_cache *s) noexcept nogil:
    """The part of kmem_cache_alloc after memcg_kmem_get_cache: slab_alloc,
    then memcg_kmem_put_cache."""
    cdef ms_object *obj = slab_alloc(s)
    memcg_kmem_put_cache(s)
    if obj != NULL:
        if obj.state != OBJ_FREE:       # a freelist handed out a live object
            violationf(V_OBJECTS, <long>obj, obj.state,
                       "object %lx allocated while allocated (state %lx)", <long>obj, obj.state)
        obj.state = OBJ_ALLOCATED
        count_event(CNT_ALLOC)
    return obj

cdef int kmem_cache_free(ms_object *obj) noexcept nogil:
    if obj.state != OBJ_ALLOCATED or obj.page.magic != PAGE_MAGIC:
        violationf(V_DOUBLE_FREE, <long>obj, obj.state,
                   "double or foreign free of object %lx (state %lx)", <long>obj, obj.state)
        return -1
    obj.state = OBJ_FREE
    slab_free(obj)
    count_event(CNT_FREE)
    return 0
