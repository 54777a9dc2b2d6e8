# slub.pxi: slab pages and objects, after mm/slub.c (Linux 5.3/5.4).
# docs/DESIGN.md, slub.
#
# A per-cpu slab with a private freelist, a remote free list any thread
# pushes to, and an (inuse, frozen) word per page; new_slab, __free_slab,
# rcu_free_slab, discard_slab, deactivate_slab, flush_all (an IPI to each
# cpu with a slab of the cache, smp.pxi), __kmem_cache_shrink, and the
# allocation and free entry points, kmem_cache_alloc and kmem_cache_free.

# The page pool (reuse of freed pages, per size class) is page_pool.pxi.

# ---------------------------------------------------------------------------
# Slab pages (allocate_slab, __free_slab, rcu_free_slab, free_slab).

cdef ms_page *new_slab(kmem_cache *s) noexcept nogil:
    """allocate_slab: a page with every object free, frozen for this cpu,
    charged (child caches) or accounted to the node (root caches)."""
    cdef ms_page *page = page_pool_get(page_class(s.objects))
    cdef int i
    cdef int order = s.order
    cdef long nr = 1 << order
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
    page.on_partial = 0
    page.next = NULL
    if s.is_root:
        mod_node_state(stat_idx(s), nr)
    elif memcg_charge_slab(s, order, &page.charged) != 0:
        # allocate_slab: the first try failed (alloc_slab_page's charge, with
        # __GFP_NORETRY for a higher order); again at s->min
        if s.min_order == order or memcg_charge_slab(s, s.min_order, &page.charged) != 0:
            page_pool_put(page)
            return NULL
        order = s.min_order
        nr = 1 << order
        atomic_add_L(&gstats[G_ORDER_FALLBACK], 1)
    page.order = order
    page.objects = s.objects if order == s.order else s.min_objects
    if page.charged != NULL:
        page.charged_id = page.charged.id
    for i in range(page.objects):
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
        mod_node_state(stat_idx(s), -(1 << page.order))
    else:
        memcg_uncharge_slab(s, page.order, page.charged)   # uncharge_slab_page: the page's own order
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
# Partial lists (mm/slub.c, 5.4): the node's partial list under list_lock,
# each cpu's partial list (c->partial, frozen pages) its own; cpu_partial
# and min_partial as kmem_cache_open sets them.

cdef enum:
    CS_PAGE = 0                 # cpu slot: the active (frozen) page
    CS_FREELIST = 1             # its private freelist
    CS_FREE = 2                 # objects on that freelist
    CS_PARTIAL = 3              # head of the cpu partial list (ms_page *)
    MIN_PARTIAL = 5
    MAX_PARTIAL = 10
    SHRINK_PROMOTE_MAX = 32

cdef void kmem_cache_open_partial(kmem_cache *s) noexcept nogil:
    """kmem_cache_open's set_min_partial(s, ilog2(size) / 2) and
    set_cpu_partial(s) (no debug flags: kmem_cache_has_cpu_partial), and
    calculate_sizes' s->min (the fallback order and its objects)."""
    cdef long m = 0
    cdef int sz = s.size
    while sz > 1:
        sz >>= 1
        m += 1
    m //= 2
    if m < MIN_PARTIAL:
        m = MIN_PARTIAL
    elif m > MAX_PARTIAL:
        m = MAX_PARTIAL
    s.min_partial = m
    # calculate_sizes' s->min = oo_make(get_order(size), size)
    s.min_order = 0
    while (4096 << s.min_order) < s.size:
        s.min_order += 1
    s.min_objects = (4096 << s.min_order) // s.size
    if s.min_order >= s.order or s.min_objects > s.objects:
        s.min_order = s.order
        s.min_objects = s.objects
    if s.size >= 4096:
        s.cpu_partial = 2
    elif s.size >= 1024:
        s.cpu_partial = 6
    elif s.size >= 256:
        s.cpu_partial = 13
    else:
        s.cpu_partial = 30
    INIT_LIST_HEAD(&s.partial)
    s.nr_partial = 0

cdef long cache_partial_pages(kmem_cache *s, long *cpu_pages) noexcept nogil:
    """Pages on the node's partial list (nr_partial, read racily), and into
    *cpu_pages those on the cpu partial lists as slabs_cpu_partial_show
    reads them (each list head's page->pages, racily)."""
    cdef int cpu
    cdef ms_page *page
    for cpu in range(ms_nr_cpu_ids):
        page = <ms_page *>READ_ONCE_L(&per_cpu_ptr_L(s.cpu_slab, cpu)[CS_PARTIAL])
        if page != NULL:
            cpu_pages[0] += READ_ONCE_L(&page.pages)
    return READ_ONCE_L(&s.nr_partial)

cdef inline void add_partial(kmem_cache *s, ms_page *page, bint tail) noexcept nogil:
    """list_lock held (DEACTIVATE_TO_TAIL / _HEAD)."""
    page.lru.owner = page
    if tail:
        list_add_tail(&page.lru, &s.partial)
    else:
        list_add(&page.lru, &s.partial)
    page.on_partial = 1
    s.nr_partial += 1

cdef inline void remove_partial(kmem_cache *s, ms_page *page) noexcept nogil:
    """list_lock held."""
    list_del_init(&page.lru)
    page.on_partial = 0
    s.nr_partial -= 1

cdef inline void page_push_remote(ms_page *page, ms_object *head, ms_object *tail) noexcept nogil:
    """Push the chain head..tail on the page's free_remote (lock-free LIFO)."""
    cdef ms_object *old = <ms_object *>READ_ONCE_P(<void **>&page.free_remote)
    cdef long seen
    while True:
        tail.next_free = old
        seen = <long>cmpxchg_P(<void **>&page.free_remote, old, head)
        if seen == <long>old:
            return
        old = <ms_object *>seen

cdef inline long page_take_remote(ms_page *page, ms_object **head) noexcept nogil:
    """Take every object freed to the page (get_freelist's freelist part):
    how many there were."""
    cdef ms_object *obj = <ms_object *>xchg_P(<void **>&page.free_remote, NULL)
    cdef ms_object *o = obj
    cdef long k = 0
    while o != NULL:
        k += 1
        o = o.next_free
    head[0] = obj
    return k

cdef inline long page_unfreeze(ms_page *page, long k) noexcept nogil:
    """Clear frozen, taking k objects out of use (a private freelist given
    back): the new inuse."""
    cdef long st = READ_ONCE_L(&page.state)
    cdef long new, seen
    if not (st & 1):                    # VM_BUG_ON(!old.frozen)
        violationf(V_LISTS, page.cache.id, <long>page, "cache %ld: unfreezing a page that is not frozen "
                   "(VM_BUG_ON(!old.frozen); page %lx)", page.cache.id, <long>page)
    while True:
        new = (((st >> 1) - k) << 1)
        seen = cmpxchg_L(&page.state, st, new)
        if seen == st:
            return new >> 1
        st = seen

cdef void discard_pages(ms_page *discard) noexcept nogil:
    """discard_slab for each page of a chain through page.next."""
    cdef ms_page *page
    while discard != NULL:
        page = discard
        discard = page.next
        discard_slab(page)

cdef void unfreeze_partials(kmem_cache *s, long *slot) noexcept nogil:
    """unfreeze_partials: every page of this cpu's partial list goes to the
    node's list, or is discarded when empty and the node keeps min_partial
    already."""
    discard_pages(unfreeze_partials_collect(s, slot))

cdef ms_page *unfreeze_partials_collect(kmem_cache *s, long *slot) noexcept nogil:
    """unfreeze_partials up to its discards: the pages to discard, chained
    through page.next (put_cpu_partial discards them after its read
    section: discard_slab may wait for a grace period, section 7)."""
    cdef ms_page *page
    cdef ms_page *discard = NULL
    cdef long inuse
    if slot[CS_PARTIAL] == 0:
        return NULL
    spin_lock(&s.list_lock)
    while slot[CS_PARTIAL] != 0:
        page = <ms_page *>slot[CS_PARTIAL]
        slot[CS_PARTIAL] = <long>page.next
        inuse = page_unfreeze(page, 0)
        if inuse == 0 and s.nr_partial >= READ_ONCE_L(&s.min_partial):
            page.next = discard
            discard = page
        else:
            add_partial(s, page, True)
    spin_unlock(&s.list_lock)
    return discard

cdef void put_cpu_partial(kmem_cache *s, ms_page *page, bint drain) noexcept nogil:
    """put_cpu_partial: push a frozen page on this cpu's partial list; a full
    list (more free objects than cpu_partial) goes to the node first, and
    with cpu_partial 0 (a deactivated cache) the page goes at once.  Runs
    preempt-disabled in the kernel, a read section for the grace period
    between the deactivation's cpu_partial = 0 and its shrink: here an RCU
    read section."""
    cdef long *slot = cpu_slab_of(s)
    cdef ms_page *old
    cdef long pobjects = 0, pages = 0
    cdef ms_page *drained = NULL
    cdef ms_page *gone = NULL
    rcu_read_lock()
    old = <ms_page *>slot[CS_PARTIAL]
    if old != NULL:
        pobjects = old.pobjects
        pages = old.pages
        if drain and pobjects > READ_ONCE_I(&s.cpu_partial):
            drained = unfreeze_partials_collect(s, slot)
            old = NULL
            pobjects = 0
            pages = 0
    pages += 1
    pobjects += page.objects - (READ_ONCE_L(&page.state) >> 1)
    page.pages = pages
    page.pobjects = pobjects
    page.next = old
    slot[CS_PARTIAL] = <long>page
    if READ_ONCE_I(&s.cpu_partial) == 0:
        if lockdep_spin_held(&s.list_lock):
            # get_partial_node holds list_lock across put_cpu_partial(s,
            # page, 0): when the deactivation set cpu_partial = 0 after its
            # loop test, unfreeze_partials takes list_lock again, a
            # self-deadlock in the kernel
            violationf(V_LOCKDEP, s.id, <long>page, "cache %ld: put_cpu_partial from get_partial_node with "
                       "cpu_partial 0: unfreeze_partials would take list_lock, held (self-deadlock; page %lx)",
                       s.id, <long>page)
        else:
            gone = unfreeze_partials_collect(s, slot)
    rcu_read_unlock()
    # the discards after the read section: the kernel's free_slab only
    # queues call_rcu; the model's may wait for a grace period when the
    # callbacks pile up (discard_slab), which must not happen inside one
    discard_pages(drained)
    discard_pages(gone)

cdef long acquire_slab(kmem_cache *s, ms_page *page, bint mode, ms_object **freelist, long *taken) noexcept nogil:
    """acquire_slab, list_lock held: take a page off the node's list and
    freeze it.  mode (the page becomes the cpu slab): take its freelist
    (objects freed to it) into *freelist, they count as in use; else (for
    the cpu partial list) they stay on the page.  Returns the page's free
    objects (acquire_slab's *objects); *taken: the objects taken."""
    cdef long st, new, seen, k = 0
    if READ_ONCE_L(&page.state) & 1:    # VM_BUG_ON(new.frozen)
        violationf(V_LISTS, s.id, <long>page, "cache %ld: a frozen page on the partial list "
                   "(acquire_slab's VM_BUG_ON(new.frozen); page %lx)", s.id, <long>page)
    remove_partial(s, page)
    if mode:
        k = page_take_remote(page, freelist)
        if k == 0:                      # WARN_ON(!freelist)
            violationf(V_LISTS, s.id, <long>page, "cache %ld: a page on the partial list without free "
                       "objects (acquire_slab's WARN_ON(!freelist); page %lx)", s.id, <long>page)
    st = READ_ONCE_L(&page.state)
    while True:
        new = ((((st >> 1) + k) << 1) | 1)
        seen = cmpxchg_L(&page.state, st, new)
        if seen == st:
            break
        st = seen
    taken[0] = k
    return page.objects - (st >> 1)

cdef ms_object *get_partial(kmem_cache *s, long *slot) noexcept nogil:
    """get_partial_node: the first page of the node's list becomes this
    cpu's slab (its first free object returned, the rest its private
    freelist), the next ones go to the cpu partial list until more than
    cpu_partial / 2 objects are available."""
    cdef ms_list *n
    cdef ms_list *nx
    cdef ms_page *page
    cdef ms_object *object = NULL
    cdef ms_object *t
    cdef long available = 0, objects, k
    cdef bint got = False
    if READ_ONCE_L(&s.nr_partial) == 0:     # get_partial_node's unlocked test
        return NULL
    spin_lock(&s.list_lock)
    n = s.partial.next
    while n != &s.partial:
        nx = n.next
        page = <ms_page *>n.owner
        t = NULL
        objects = acquire_slab(s, page, not got, &t, &k)
        available += objects
        if not got:
            got = True
            slot[CS_PAGE] = <long>page
            if t != NULL:
                object = t
                slot[CS_FREELIST] = <long>t.next_free
                slot[CS_FREE] = k - 1
        else:
            put_cpu_partial(s, page, False)     # list_lock held, as in the kernel
        if available > READ_ONCE_I(&s.cpu_partial) // 2:
            break
        n = nx
    spin_unlock(&s.list_lock)
    return object

# ---------------------------------------------------------------------------
# cpu slabs: the per-cpu slab, its flushes, the fast paths.

cdef void deactivate_slab(kmem_cache *s, long *slot) noexcept nogil:
    """deactivate_slab: unfreeze this cpu's slab of s, its private freelist
    handed back to the page; the page goes to the node's partial list when
    it has free objects, is discarded when empty and the node keeps
    min_partial already, and is on no list when full."""
    cdef ms_page *page = <ms_page *>slot[CS_PAGE]
    cdef ms_object *head = <ms_object *>slot[CS_FREELIST]
    cdef ms_object *tail
    cdef long k = slot[CS_FREE]
    cdef long inuse
    cdef bint discard = False
    cdef bint tail_ = False
    if page == NULL:
        return
    if READ_ONCE_P(<void **>&page.free_remote) != NULL:
        tail_ = True                    # DEACTIVATE_REMOTE_FREES: to the tail, else the head
    if head != NULL:
        tail = head
        while tail.next_free != NULL:
            tail = tail.next_free
        page_push_remote(page, head, tail)
    slot[CS_PAGE] = 0
    slot[CS_FREELIST] = 0
    slot[CS_FREE] = 0
    spin_lock(&s.list_lock)
    inuse = page_unfreeze(page, k)
    if inuse == 0 and s.nr_partial >= READ_ONCE_L(&s.min_partial):
        discard = True                  # M_FREE
    elif inuse < page.objects:
        add_partial(s, page, tail_)     # M_PARTIAL
    spin_unlock(&s.list_lock)           # else M_FULL: on no list
    if discard:
        discard_slab(page)

cdef inline long *cpu_slab_of(kmem_cache *s) noexcept nogil:
    return this_cpu_ptr_L(s.cpu_slab)

cdef inline ms_object *cpu_slab_refill(long *slot, ms_page *page) noexcept nogil:
    """get_freelist: what other cpus freed to our frozen page becomes the
    private freelist; its first object, or NULL when there is none."""
    cdef ms_object *obj
    cdef long k = page_take_remote(page, &obj)
    if k == 0:
        return NULL
    add_return_L(&page.state, k << 1)   # the taken objects count as in use again
    slot[CS_FREELIST] = <long>obj.next_free
    slot[CS_FREE] = k - 1
    return obj

cdef ms_object *slab_alloc(kmem_cache *s) noexcept nogil:
    """___slab_alloc: an object from this cpu's slab of s; else the cpu's
    slab refilled from its remote frees, the cpu partial list, the node's
    partial list, or a new slab; NULL when a new page cannot be charged."""
    cdef long *slot = cpu_slab_of(s)
    cdef ms_object *obj = <ms_object *>slot[CS_FREELIST]
    cdef ms_page *page
    cdef int i
    if obj != NULL:                     # fast path: private freelist, no atomics
        slot[CS_FREELIST] = <long>obj.next_free
        slot[CS_FREE] -= 1
        return obj
    page = <ms_page *>slot[CS_PAGE]
    if page != NULL:
        obj = cpu_slab_refill(slot, page)
        if obj != NULL:
            return obj
        deactivate_slab(s, slot)        # full: unfreeze it
    while slot[CS_PARTIAL] != 0:        # slub_percpu_partial: the next cpu partial page
        page = <ms_page *>slot[CS_PARTIAL]
        slot[CS_PARTIAL] = <long>page.next
        slot[CS_PAGE] = <long>page
        obj = cpu_slab_refill(slot, page)
        if obj != NULL:
            return obj
        deactivate_slab(s, slot)
    obj = get_partial(s, slot)          # new_slab_objects: the node's partial list
    if obj != NULL:
        return obj
    if slot[CS_PAGE] != 0:              # acquired without objects (reported): let it go
        deactivate_slab(s, slot)
    page = new_slab(s)
    if page == NULL:
        return NULL
    # freeze: every object goes to the private freelist and counts as in use
    for i in range(page.objects - 1):
        page.objs[i].next_free = &page.objs[i + 1]
    page.objs[page.objects - 1].next_free = NULL
    page.state = (<long>page.objects << 1) | 1
    slot[CS_PAGE] = <long>page
    slot[CS_FREELIST] = <long>page.objs[0].next_free
    slot[CS_FREE] = page.objects - 1
    return &page.objs[0]

cdef void slab_free(ms_object *obj) noexcept nogil:
    """slab_free: to this cpu's freelist when the page is this cpu's slab,
    else __slab_free: lock-free to the page; a full page that is nobody's
    goes frozen to this cpu's partial list, an empty one on the node's
    list is discarded when the node keeps min_partial already."""
    cdef ms_page *page = obj.page
    cdef kmem_cache *s = page.cache
    cdef long *slot = cpu_slab_of(s)
    cdef long st, new, r, inuse
    cdef bint locked, was_frozen, freeze
    if slot[CS_PAGE] == <long>page:
        obj.next_free = <ms_object *>slot[CS_FREELIST]
        slot[CS_FREELIST] = <long>obj
        slot[CS_FREE] += 1
        return
    count_event(CNT_REMOTE_FREE)
    page_push_remote(page, obj, obj)
    st = READ_ONCE_L(&page.state)
    while True:
        locked = False
        freeze = False
        was_frozen = (st & 1) != 0
        inuse = (st >> 1) - 1
        if not was_frozen and (inuse == 0 or (st >> 1) == page.objects):
            if (st >> 1) == page.objects:
                freeze = True           # was on no list: freeze it for our partial list
            else:
                spin_lock(&s.list_lock) # to be taken off the node's list
                locked = True
        new = (inuse << 1) | (1 if (was_frozen or freeze) else 0)
        r = cmpxchg_L(&page.state, st, new)
        if r == st:
            break
        if locked:
            spin_unlock(&s.list_lock)
        st = r
    if inuse < 0:
        violationf(V_REF_NEGATIVE, s.id, inuse, "slab page of cache %ld: inuse went negative (%ld)",
                   s.id, inuse)
        if locked:
            spin_unlock(&s.list_lock)
        return
    if not locked:
        if freeze:
            put_cpu_partial(s, page, True)
        return
    if not page.on_partial:
        spin_unlock(&s.list_lock)
        violationf(V_LISTS, s.id, <long>page, "slab page of cache %ld emptied by a free: not frozen and "
                   "on no partial list (page %lx)", s.id, <long>page)
        return
    if s.nr_partial >= READ_ONCE_L(&s.min_partial):
        remove_partial(s, page)         # slab_empty
        spin_unlock(&s.list_lock)
        discard_slab(page)
    else:
        spin_unlock(&s.list_lock)       # the node keeps it (fewer than min_partial)

cdef void flush_cpu_slab(int cpu, void *info) noexcept nogil:
    """flush_cpu_slab (mm/slub.c), the IPI of flush_all: unfreeze this cpu's
    slab of the cache and its partial list (runs on `cpu`, or for it while
    it is off)."""
    cdef kmem_cache *s = <kmem_cache *>info
    cdef long *slot = per_cpu_ptr_L(s.cpu_slab, cpu)
    if slot[CS_PAGE] != 0:
        deactivate_slab(s, slot)
        fr_record(EV_KICK, s.id, cpu)
    unfreeze_partials(s, slot)

cdef inline bint has_cpu_slab(kmem_cache *s, int cpu) noexcept nogil:
    cdef long *slot = per_cpu_ptr_L(s.cpu_slab, cpu)
    return READ_ONCE_L(&slot[CS_PAGE]) != 0 or READ_ONCE_L(&slot[CS_PARTIAL]) != 0

cdef void flush_all(kmem_cache *s) noexcept nogil:
    """flush_all (mm/slub.c): on_each_cpu_cond(has_cpu_slab, flush_cpu_slab,
    s, 1).  has_cpu_slab reads each cpu's slab and partial list without a
    lock, as the kernel does: a cpu that freezes a new page of s right after
    the read keeps it (an allocation that took s before a shrink pins s)."""
    cdef int cpus[MS_MAX_CPUS]
    cdef int cpu, n = 0
    for cpu in range(ms_nr_cpu_ids):            # for_each_online_cpu (cpus_read_lock held)
        if cpu_online(cpu) and has_cpu_slab(s, cpu):
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
    """__kmem_cache_shrink (mm/slub.c, 5.4): flush_all; then, under
    list_lock, the empty pages of the node's list are discarded and the
    fullest ones (at most SHRINK_PROMOTE_MAX free) promoted to its head,
    fullest first; 1 when the cache has slabs left, else 0."""
    cdef ms_list promote[SHRINK_PROMOTE_MAX]
    cdef ms_list *n
    cdef ms_list *nx
    cdef ms_page *page
    cdef ms_page *discard = NULL
    cdef long free
    cdef int i
    flush_all(s)
    for i in range(SHRINK_PROMOTE_MAX):
        INIT_LIST_HEAD(&promote[i])
    spin_lock(&s.list_lock)
    n = s.partial.next
    while n != &s.partial:
        nx = n.next
        page = <ms_page *>n.owner
        free = page.objects - (READ_ONCE_L(&page.state) >> 1)
        if free <= 0:                   # BUG_ON(free <= 0): no full slab on the list
            violationf(V_LISTS, s.id, free, "cache %ld: a full slab on the partial list (free %ld), "
                       "__kmem_cache_shrink's BUG_ON", s.id, free)
        elif free == page.objects:
            remove_partial(s, page)
            page.next = discard
            discard = page
        elif free <= SHRINK_PROMOTE_MAX:
            list_del_init(&page.lru)
            list_add_tail(&page.lru, &promote[free - 1])
        n = nx
    i = SHRINK_PROMOTE_MAX - 1
    while i >= 0:
        list_splice_init(&promote[i], &s.partial)
        i -= 1
    spin_unlock(&s.list_lock)
    while discard != NULL:
        page = discard
        discard = page.next
        discard_slab(page)
    return 1 if slabs_in_use(s) else 0

cdef void free_partial(kmem_cache *s) noexcept nogil:
    """free_partial, from __kmem_cache_shutdown after flush_all: the empty
    pages of the node's list are discarded; pages with objects stay (the
    shutdown fails on them)."""
    cdef ms_list *n
    cdef ms_list *nx
    cdef ms_page *page
    cdef ms_page *discard = NULL
    spin_lock(&s.list_lock)
    n = s.partial.next
    while n != &s.partial:
        nx = n.next
        page = <ms_page *>n.owner
        if (READ_ONCE_L(&page.state) >> 1) == 0:
            remove_partial(s, page)
            page.next = discard
            discard = page
        n = nx
    spin_unlock(&s.list_lock)
    while discard != NULL:
        page = discard
        discard = page.next
        discard_slab(page)

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

# ---------------------------------------------------------------------------
# The list rules of SLUB, checked with the world stopped (checkers.pxi
# calls this for every cache it walks).

cdef struct slub_lists_walk:
    # check_slub_lists's state across the caller's page walk
    ms_list *n                  # the node's partial list: the next entry to check
    long on_node                # entries checked
    long expect_frozen          # cpu slabs and cpu partial pages; -1: a list was reported
    long frozen                 # frozen pages (not waiting for a grace period), counted by the caller
    long lost                   # pages neither frozen nor on the node's list with free objects, by the caller

cdef void check_slub_lists(kmem_cache *s, slub_lists_walk *w) noexcept nogil:
    """The partial lists (world stopped): the node's list holds nr_partial
    pages of this cache, none frozen, none full (__kmem_cache_shrink's
    BUG_ON(free <= 0)); each cpu partial list holds frozen pages of this
    cache; a frozen page is a cpu's slab or on a cpu partial list, and a
    page that is neither frozen nor on the node's list is full (SLUB keeps
    no list of full slabs: one with free objects there is lost).  This
    checks the cpu partial lists and starts the walk; the caller's walk of
    the cache's pages calls check_slub_page for each (it counts frozen and
    lost pages and takes one step of the node's partial list: two pointer
    chases in flight at once, not one pass after the other), and
    check_slub_lists_end finishes."""
    cdef ms_page *page
    cdef long on_cpus = 0, active = 0
    cdef int cpu
    cdef long *slot
    cdef char buf[VMSG]
    w.n = s.partial.next
    w.on_node = 0
    w.frozen = 0
    w.lost = 0
    w.expect_frozen = -1
    for cpu in range(ms_nr_cpu_ids):
        slot = per_cpu_ptr_L(s.cpu_slab, cpu)
        if slot[CS_PAGE] != 0:
            active += 1
        page = <ms_page *>slot[CS_PARTIAL]
        while page != NULL and on_cpus <= s.nr_pages:
            on_cpus += 1
            if page.cache != s or not (page.state & 1) or page.on_partial:
                snprintf(buf, VMSG, "cache %ld: cpu %d's partial list holds a page that is %s", s.id, cpu,
                         "another cache's" if page.cache != s else ("not frozen" if not (page.state & 1)
                                                                   else "on the node's list"))
                report_violation(V_LISTS, s.id, cpu, buf)
                return
            page = page.next
    w.expect_frozen = active + on_cpus

cdef inline void check_slub_partial_step(kmem_cache *s, slub_lists_walk *w) noexcept nogil:
    """One entry of the node's partial list, if any is left."""
    cdef ms_page *page
    cdef long inuse
    cdef char buf[VMSG]
    if w.n == &s.partial or w.on_node > s.nr_pages:
        return
    page = <ms_page *>w.n.owner
    w.on_node += 1
    inuse = page.state >> 1
    if page.cache != s or (page.state & 1) or not page.on_partial or inuse >= page.objects:
        snprintf(buf, VMSG, "cache %ld: a page on its partial list is %s (inuse %ld of %d, on_partial %d)",
                 s.id, "another cache's" if page.cache != s else ("frozen" if page.state & 1 else "full"),
                 inuse, page.objects, page.on_partial)
        report_violation(V_LISTS, s.id, inuse, buf)
        w.n = &s.partial            # stop walking it
        w.on_node = -1
        return
    w.n = w.n.next

cdef inline void check_slub_page(kmem_cache *s, slub_lists_walk *w, ms_page *page, long inuse) noexcept nogil:
    """One page of the caller's walk of the cache's pages: count it frozen
    or lost, and take one step of the node's partial list."""
    if not page.rcu_pending:
        if page.state & 1:
            w.frozen += 1
        elif not page.on_partial and inuse != page.objects:
            w.lost += 1
    check_slub_partial_step(s, w)

cdef void check_slub_lists_end(kmem_cache *s, slub_lists_walk *w) noexcept nogil:
    """The rest of the node's partial list, its count against nr_partial,
    and the frozen and lost pages the caller counted."""
    cdef char buf[VMSG]
    while w.n != &s.partial and w.on_node >= 0 and w.on_node <= s.nr_pages:
        check_slub_partial_step(s, w)
    if w.on_node < 0:
        return
    if w.on_node != s.nr_partial:
        snprintf(buf, VMSG, "cache %ld: %ld pages on its partial list but nr_partial %ld", s.id, w.on_node, s.nr_partial)
        report_violation(V_LISTS, s.id, w.on_node, buf)
        return
    if w.expect_frozen >= 0 and (w.frozen != w.expect_frozen or w.lost):
        snprintf(buf, VMSG, "cache %ld: %ld frozen pages but %ld cpu slabs and cpu partial pages; "
                 "%ld pages with free objects on no list", s.id, w.frozen, w.expect_frozen, w.lost)
        report_violation(V_LISTS, s.id, w.frozen, buf)

cdef void slub_cpu_dead(int cpu) noexcept nogil:
    """slub_cpu_dead (mm/slub.c): __flush_cpu_slab of every cache
    (slab_caches: the roots and their children) under slab_mutex."""
    cdef ms_list *n
    cdef ms_list *n2
    cdef kmem_cache *r
    ms_mutex_lock(&slab_mutex)
    n = slab_root_caches.next
    while n != &slab_root_caches:
        r = <kmem_cache *>n.owner
        flush_cpu_slab(cpu, r)
        n2 = r.children.next
        while n2 != &r.children:
            flush_cpu_slab(cpu, n2.owner)
            n2 = n2.next
        n = n.next
    ms_mutex_unlock(&slab_mutex)
