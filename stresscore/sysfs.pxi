# sysfs.pxi: /sys/kernel/slab, after mm/slub.c's sysfs part (Linux 5.4)
# and the kernfs rules it relies on.  docs/DESIGN.md, sysfs.
#
# Every cache has a kobject (sysfs_slab_add, from create_cache under
# slab_mutex): root caches in /sys/kernel/slab/<name>, a memcg's caches in
# their root's "cgroup" kset.  The kobject's reference count decides when
# the cache is freed: its release (kmem_cache_release) calls
# slab_kmem_cache_release.  The references are the kobject's own (dropped by
# sysfs_slab_release in shutdown_cache or slab_caches_to_rcu_destroy_workfn)
# and one per queued sysfs_slab_remove_workfn (sysfs_slab_remove takes it,
# the work drops it).  sysfs_slab_remove is called at deactivation when the
# shrink left the cache empty (__kmemcg_cache_deactivate_after_rcu) and in
# __kmem_cache_shutdown; in 5.4 its work only sends KOBJ_REMOVE (and
# unregisters a root's "cgroup" kset): the files go in sysfs_slab_unlink
# (kobject_del) in shutdown_cache, under slab_mutex.
#
# A reader or writer of a file holds the file's kernfs active reference
# (kernfs_get_active in kernfs_fop_read/write, kernfs_put_active after
# show/store); kobject_del deactivates the files and waits until no active
# reference is left (kernfs_drain).  That, not the kobject reference, is
# what keeps a cache alive under a sysfs reader.  The registry is
# sysfs_caches under sysfs_lock (kernfs_mutex: lookups and removals).

cdef ms_spinlock sysfs_lock         # kernfs_mutex: the registry and in_sysfs
cdef ms_list sysfs_caches           # sysfs_lock: caches with files in /sys/kernel/slab
cdef ms_list sysfs_unlinked         # sysfs_lock: unlinked, kobject not yet released (the checkers' ledger)
cdef long nr_sysfs_caches = 0       # sysfs_lock
cdef long sysfs_kobj_warnings = 0   # atomic: a kobject reference went negative
# __kmemcg_cache_deactivate_after_rcu's sysfs_slab_remove() of an empty
# cache (5.4).  Off by default: with it, 5.4 leaks a kobject reference (and
# the cache and its memcg) when that remove work is still pending at the
# cache's shutdown, whose own sysfs_slab_remove() takes a second reference
# that schedule_work() does not match with a second run.  Set between runs.
cdef int sysfs_deactivate_remove = 0

cdef bint sysfs_remove_at_deactivation() noexcept nogil:
    return sysfs_deactivate_remove != 0

cdef void set_sysfs_deactivate_remove(bint on) noexcept nogil:
    global sysfs_deactivate_remove
    sysfs_deactivate_remove = 1 if on else 0

cdef void sysfs_init() noexcept nogil:
    global nr_sysfs_caches
    spin_lock_init(&sysfs_lock)
    INIT_LIST_HEAD(&sysfs_caches)
    INIT_LIST_HEAD(&sysfs_unlinked)
    nr_sysfs_caches = 0

cdef void sysfs_slab_remove_workfn(work_struct *w) noexcept nogil:
    """sysfs_slab_remove_workfn (mm/slub.c): KOBJ_REMOVE unless kobject_del
    already ran ("For a memcg cache, this may be called during deactivation
    and again on shutdown.  Remove only once."), then drop the reference
    sysfs_slab_remove took."""
    cdef kmem_cache *s = <kmem_cache *>w.owner
    if not cache_ok(s, 30):     # the reference taken for this work should have kept it
        return
    if READ_ONCE_I(&s.in_sysfs):
        # kset_unregister(s->memcg_kset) (a root's "cgroup" dir; its
        # children's files went at their own shutdown), kobject_uevent(KOBJ_REMOVE)
        fr_record(EV_SYSFS_REMOVE, s.id, READ_ONCE_L(&s.kobj_ref) - 1)
    kobject_put_cache(s)

cdef void sysfs_slab_add(kmem_cache *s) noexcept nogil:
    """sysfs_slab_add (mm/slub.c), from __kmem_cache_create under
    slab_mutex: the kobject (one reference) and its files."""
    global nr_sysfs_caches
    s.kobj_ref = 1
    s.kn_active = 0
    s.kobj_remove_work.func = sysfs_slab_remove_workfn
    s.kobj_remove_work.owner = s
    s.kobj_remove_work.kind = WK_SYSFS_REMOVE
    s.sysfs_node.owner = s
    spin_lock(&sysfs_lock)
    list_add_tail(&s.sysfs_node, &sysfs_caches)
    nr_sysfs_caches += 1
    s.in_sysfs = 1
    spin_unlock(&sysfs_lock)

cdef void sysfs_slab_remove(kmem_cache *s) noexcept nogil:
    """sysfs_slab_remove (mm/slub.c): kobject_get, schedule_work.  As in
    5.4, the reference is taken even when the work is already pending and
    schedule_work queues nothing."""
    if not MUTANT(M_SYSFS_REMOVE_NO_GET):   # mutant sysfs-remove-no-get: the work holds no reference
        atomic_add_L(&s.kobj_ref, 1)
    schedule_work(&s.kobj_remove_work)

cdef void kernfs_drain(kmem_cache *s) noexcept nogil:
    """kernfs_drain (fs/kernfs/dir.c): wait until no show or store of the
    node's files runs.  lockdep sees it as taking the files' active
    reference (rwsem_acquire on kn->dep_map)."""
    cdef timespec ts
    ts.tv_sec = 0
    ts.tv_nsec = 20000
    lockdep_acquire(LC_KN_ACTIVE, "kernfs_drain")
    while READ_ONCE_L(&s.kn_active) != KN_DEACTIVATED_BIAS:
        cpu_nanosleep(&ts)
    lockdep_release(LC_KN_ACTIVE)

cdef void sysfs_slab_unlink(kmem_cache *s) noexcept nogil:
    """sysfs_slab_unlink: kobject_del (lib/kobject.c -> sysfs_remove_dir ->
    kernfs_remove): the files leave the registry, are deactivated, and the
    active references still held are drained.  Called with slab_mutex held
    (shutdown_cache)."""
    global nr_sysfs_caches
    cdef bint was = False
    spin_lock(&sysfs_lock)
    if s.in_sysfs:
        was = True
        s.in_sysfs = 0
        list_del_init(&s.sysfs_node)
        list_add_tail(&s.sysfs_node, &sysfs_unlinked)
        nr_sysfs_caches -= 1
        fetch_add_L(&s.kn_active, KN_DEACTIVATED_BIAS)     # kernfs_deactivate
    spin_unlock(&sysfs_lock)
    if was:
        fr_record(EV_SYSFS_UNLINK, s.id, 0)
        kernfs_drain(s)

cdef void kobject_put_cache(kmem_cache *s) noexcept nogil:
    """kobject_put of a cache's kobject; at zero its release,
    kmem_cache_release -> slab_kmem_cache_release (mm/slub.c)."""
    global nr_sysfs_caches
    cdef long left = fetch_add_L(&s.kobj_ref, -1) - 1
    if left > 0:
        return
    if left < 0:
        # refcount_t saturates and warns (lib/refcount.c)
        atomic_add_L(&sysfs_kobj_warnings, 1)
        violationf(V_REF_NEGATIVE, s.id, left, "kobject of cache %ld: reference count went negative (%ld)",
                   s.id, left)
        return
    spin_lock(&sysfs_lock)
    if s.in_sysfs:
        # released while its files are still there (kobject_release's
        # "auto cleanup kobject_del")
        s.in_sysfs = 0
        nr_sysfs_caches -= 1
    list_del_init(&s.sysfs_node)
    spin_unlock(&sysfs_lock)
    if s.is_root:
        root_cache_release(s)
    else:
        slab_kmem_cache_release(s)

cdef void sysfs_slab_release(kmem_cache *s) noexcept nogil:
    """sysfs_slab_release (mm/slub.c): kobject_put."""
    kobject_put_cache(s)

# ---------------------------------------------------------------------------
# The reader and writer: kernfs_fop_read/write -> slab_attr_show/store.

cdef kmem_cache *kernfs_find_active(ms_rng *rng) noexcept nogil:
    """A path lookup and open: some cache with files, its active reference
    taken (atomic_inc_unless_negative in kernfs_get_active); NULL when
    none, or when the pick lost the race with kobject_del."""
    cdef ms_list *n
    cdef kmem_cache *s = NULL
    cdef long k, a
    spin_lock(&sysfs_lock)
    if nr_sysfs_caches > 0:
        k = ms_rng_below(rng, <unsigned int>nr_sysfs_caches)
        n = sysfs_caches.next
        while k > 0 and n.next != &sysfs_caches:
            n = n.next
            k -= 1
        s = <kmem_cache *>n.owner
        # the registry holds only caches whose kobject is alive
        if not cache_ok(s, 31):
            s = NULL
    if s != NULL:
        a = READ_ONCE_L(&s.kn_active)
        while True:
            if a < 0:
                s = NULL
                break
            k = cmpxchg_L(&s.kn_active, a, a + 1)
            if k == a:
                break
            a = k
    spin_unlock(&sysfs_lock)
    if s != NULL:
        lockdep_acquire(LC_KN_ACTIVE, "kernfs_get_active")
    return s

cdef inline void kernfs_put_active(kmem_cache *s) noexcept nogil:
    lockdep_release(LC_KN_ACTIVE)
    fetch_add_L(&s.kn_active, -1)       # kernfs_drain polls it (wake_up_all in the kernel)

cdef long show_slab_objects(kmem_cache *s, int what) noexcept nogil:
    """show_slab_objects (mm/slub.c): what 0, `objects` (SO_ALL|SO_OBJECTS:
    objects in use, counted over the node's slabs under n->list_lock as
    count_partial does); 1, `slabs` (SO_ALL: the node's slab count, read
    without a lock); 2, `cpu_slabs` (SO_CPU: every cpu's slab, read racily,
    per_cpu_ptr(s->cpu_slab, cpu)->page)."""
    cdef long total = 0
    cdef ms_list *p
    cdef ms_page *page
    cdef int cpu
    if what == 1:
        return READ_ONCE_L(&s.nr_pages)
    if what == 2:
        for cpu in range(ms_nr_cpu_ids):
            if READ_ONCE_L(&per_cpu_ptr_L(s.cpu_slab, cpu)[0]) != 0:
                total += 1
        return total
    spin_lock(&s.list_lock)
    p = s.pages.next
    while p != &s.pages:
        page = <ms_page *>p.owner
        if page.magic != PAGE_MAGIC or page.cache != s:
            violationf(V_LISTS, s.id, <long>page,
                       "a sysfs reader found a page of another cache or a freed one on cache %ld's list (%lx)",
                       s.id, <long>page)
            break
        total += READ_ONCE_L(&page.state) >> 1
        p = p.next
    spin_unlock(&s.list_lock)
    return total

cdef int lockdep_shrink_hotplug = 0     # engine_setup: lockdep records the shrink write's cpus_read_lock

cdef inline void shrink_cpus_lock() noexcept nogil:
    """get_online_cpus of kmem_cache_shrink(_all) inside the file's active
    reference: kn->count -> cpu_hotplug_lock, against kmemcg_workfn's
    cpu_hotplug_lock -> slab_mutex -> kn->count (kobject_del in
    shutdown_cache): 5.4's known splat, README finding 10.  Lockdep records
    it only with lockdep_shrink_hotplug; the lock is taken either way."""
    if lockdep_shrink_hotplug:
        cpus_read_lock_at("kmem_cache_shrink")
    else:
        cpus_read_lock_untracked()

cdef inline void shrink_cpus_unlock() noexcept nogil:
    if lockdep_shrink_hotplug:
        cpus_read_unlock()
    else:
        cpus_read_unlock_untracked()

cdef void shrink_store(kmem_cache *s) noexcept nogil:
    """shrink_store -> kmem_cache_shrink_all (mm/slab_common.c) for a root:
    shrink it, then its children under slab_mutex (5.4 tests the root's
    SLAB_DEACTIVATED, not the child's, so every child is shrunk);
    slab_attr_store then propagates the store to every child under
    slab_mutex.  For a child cache, kmem_cache_shrink.  Called with the
    file's active reference held.  Both take cpus_read_lock (get_online_cpus):
    the propagation under slab_mutex, the reverse of slab_common's order, as
    5.4 does (lockdep reports it once a hotplug-order edge exists)."""
    cdef ms_list *n
    cdef int left
    shrink_cpus_lock()
    left = __kmem_cache_shrink(s)
    if s.is_root:
        ms_mutex_lock(&slab_mutex)
        n = s.children.next
        while n != &s.children:
            __kmem_cache_shrink(<kmem_cache *>n.owner)
            n = n.next
        ms_mutex_unlock(&slab_mutex)
    shrink_cpus_unlock()
    if s.is_root:
        ms_mutex_lock(&slab_mutex)      # slab_attr_store's propagation (for_each_memcg_cache)
        n = s.children.next
        while n != &s.children:
            shrink_cpus_lock()          # kmem_cache_shrink of the child
            __kmem_cache_shrink(<kmem_cache *>n.owner)
            shrink_cpus_unlock()
            n = n.next
        ms_mutex_unlock(&slab_mutex)
    fr_record(EV_SYSFS_SHRINK, s.id, left)

cdef int sysfs_shrink_roots_below = 0   # engine_setup: the writer also writes shrink of root caches below this index (the built-in ones)

cdef void sysfs_step(ms_thread *t) noexcept nogil:
    """The sysfs actor (a user reading /sys/kernel/slab, as slabtop or a
    monitoring agent does, and writing `shrink`): find a cache, read
    `objects`, `slabs` or `cpu_slabs`, or write 1 to `shrink` (child
    caches; root caches only with sysfs_shrink_roots_below, the built-in
    ones, which are never destroyed: see docs/DESIGN.md, sysfs, for why)."""
    cdef kmem_cache *s = kernfs_find_active(&t.rng)
    cdef unsigned int k
    if s == NULL:
        return
    # open while the cache is on its way out (killed, shutdown pending):
    # the reader then races with kobject_del and the release
    ms_delay_if(DP_SYSFS_SHOW, not s.is_root and percpu_ref_is_dying(&s.refcnt))
    if cache_ok(s, 32):         # the active reference must keep it
        k = ms_rng_below(&t.rng, 4)
        if k < 3:
            fr_record(EV_SYSFS_SHOW, s.id, show_slab_objects(s, k))
        elif not s.is_root or s.root_index < sysfs_shrink_roots_below:
            shrink_store(s)
    kernfs_put_active(s)

cdef void shrink_all_caches() noexcept nogil:
    """`echo 1 > /sys/kernel/slab/*/shrink` for every cache, roots and
    children (kmem_cache_shrink: flush_all and discard): the drain's way to
    unpin what the pinned check found, through a path the kernel has."""
    cdef ms_list *n
    cdef ms_list *n2
    cdef kmem_cache *r
    cpus_read_lock()
    ms_mutex_lock(&slab_mutex)
    n = slab_root_caches.next
    while n != &slab_root_caches:
        r = <kmem_cache *>n.owner
        __kmem_cache_shrink(r)
        n2 = r.children.next
        while n2 != &r.children:
            __kmem_cache_shrink(<kmem_cache *>n2.owner)
            n2 = n2.next
        n = n.next
    ms_mutex_unlock(&slab_mutex)
    cpus_read_unlock()
