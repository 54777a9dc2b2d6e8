# slab_common.pxi: the slab allocator's common code, after mm/slab_common.c
# (Linux 5.3/5.4).  docs/DESIGN.md, slab_common.
#
# Root caches (kmem_cache_create with merging, kmem_cache_destroy with
# memcg_set_kmem_cache_dying, flush_memcg_workqueue and
# shutdown_memcg_caches), the memcg_caches arrays and their growth, child
# cache creation, deactivation with reparenting, kill, shutdown and
# release.  Calls into slub (flush_all, slabs_in_use) go through
# the forward declarations in _core.pxd.

cdef ms_mutex slab_mutex            # protects the cache lists, memcg_caches updates, kmem_caches lists
cdef ms_spinlock memcg_kmem_wq_lock # protects root->dying against deactivation and shutdown queuing
cdef ms_spinlock release_lock
cdef ms_list slab_root_caches       # slab_mutex
cdef ms_list caches_releasing       # release_lock: TYPESAFE child caches waiting a grace period
cdef kmem_cache *roots[MAX_ROOTS]   # slab_mutex for writes; the engine reads slots racily
cdef long next_cache_id = 0         # atomic
cdef long kick_gen = 0              # lock-free generation: ask workers to let go of an unloading root

cdef bint slab_mutex_held() noexcept nogil:
    return lockdep_mutex_held(&slab_mutex)

# ---------------------------------------------------------------------------
# memcg_caches arrays (memcg_update_cache_params, memcg_update_all_caches,
# free_memcg_params in mm/slab_common.c).

cdef void free_memcg_cache_array_rcu(rcu_head *head) noexcept nogil:
    cdef memcg_cache_array *arr = <memcg_cache_array *>head.owner
    cdef int i
    WRITE_ONCE_L(&arr.magic, POISON_MAGIC)
    for i in range(arr.size):
        WRITE_ONCE_P(<void **>&arr.entries[i], <void *>0x6b6b6b6b6b6b6b6b)
    quarantine_put(&arr.quarantine_node, &array_quarantine, &nr_array_quarantine)

cdef memcg_cache_array *memcg_cache_array_alloc(int size) noexcept nogil:
    cdef ms_list *node = quarantine_take(&array_quarantine, &nr_array_quarantine)
    cdef memcg_cache_array *arr
    if node != NULL:
        arr = <memcg_cache_array *>node.owner
        free(arr.entries)       # all an array has besides its struct
    else:
        arr = <memcg_cache_array *>malloc(sizeof(memcg_cache_array))
        if arr == NULL:
            return NULL
        arr.q_shadow = NULL
    arr.entries = <kmem_cache **>calloc(size, sizeof(kmem_cache *))
    if arr.entries == NULL:
        free(arr)
        return NULL
    arr.magic = ARRAY_MAGIC
    arr.size = size
    arr.rcu.owner = arr
    INIT_LIST_HEAD(&arr.quarantine_node)
    arr.quarantine_node.owner = arr
    return arr

cdef int memcg_update_cache_params(kmem_cache *s, int new_size) noexcept nogil:
    """Grow one root's memcg_caches copy-on-write; the old array is freed a
    grace period later.  Called with slab_mutex held."""
    cdef memcg_cache_array *old = s.memcg_caches
    cdef memcg_cache_array *new = memcg_cache_array_alloc(new_size)
    cdef int i
    lockdep_assert_held_mutex(&slab_mutex)
    rcu_dereference_check_mutex(&slab_mutex, "slab_mutex", "root->memcg_params.memcg_caches in memcg_update_cache_params")
    if new == NULL:
        return -1
    for i in range(old.size):
        new.entries[i] = old.entries[i]
    ms_delay(DP_ARRAY_GROW)
    win_conflict(WIN_ENTRY_VS_GROW)
    # rcu_assign_pointer: the entries above are visible before the array is;
    # pairs with the acquire in memcg_kmem_get_cache.
    smp_store_release_P(<void **>&s.memcg_caches, new)
    if MUTANT(M_ARRAY_FREE_WITHOUT_GRACE_PERIOD) or MUTANT(M_RCU_BUSTED):
        # mutant array-free-without-grace-period (and rcu-busted): readers may still hold it
        free_memcg_cache_array_rcu(&old.rcu)
    else:
        call_rcu(&old.rcu, free_memcg_cache_array_rcu)
    return 0

cdef int memcg_update_all_caches(int num_memcgs) noexcept nogil:
    cdef ms_list *n
    cdef int ret = 0
    ms_mutex_lock(&slab_mutex)
    WRITE_ONCE_I(&memcg_caches_growing, 1)
    n = slab_root_caches.next
    while n != &slab_root_caches:
        ret = memcg_update_cache_params(<kmem_cache *>n.owner, num_memcgs)
        if ret:
            break
        n = n.next
    if ret == 0:
        WRITE_ONCE_I(&memcg_nr_cache_ids, num_memcgs)
        atomic_add_L(&gstats[G_ARRAY_GROW], 1)
        fr_record(EV_ARRAY_GROW, num_memcgs, 0)
    WRITE_ONCE_I(&memcg_caches_growing, 0)
    ms_mutex_unlock(&slab_mutex)
    return ret

# ---------------------------------------------------------------------------
# Deactivation and reparenting of a memcg's caches (memcg_offline_kmem
# calls it).

cdef void memcg_deactivate_kmem_caches(mem_cgroup *memcg, mem_cgroup *parent) noexcept nogil:
    """Deactivate the memcg's caches and, in reparent mode, reparent them:
    splice its kmem_caches onto the parent's, swap each cache's memcg pointer
    and move the css references."""
    cdef int idx = memcg.kmemcg_id
    cdef ms_list *n
    cdef kmem_cache *s
    cdef kmem_cache *c
    cdef memcg_cache_array *arr
    cdef long nr_reparented
    cdef bint locked = not MUTANT(M_REPARENT_WITHOUT_SLAB_MUTEX)   # mutant reparent-without-slab-mutex
    cpus_read_lock()            # get_online_cpus
    ms_mutex_lock(&slab_mutex)
    n = slab_root_caches.next
    while n != &slab_root_caches:
        s = <kmem_cache *>n.owner
        arr = s.memcg_caches
        rcu_dereference_check_mutex(&slab_mutex, "slab_mutex", "root->memcg_params.memcg_caches in memcg_deactivate_kmem_caches")
        c = arr.entries[idx]
        if c != NULL:
            kmemcg_cache_deactivate(c)
            if not MUTANT(M_ENTRIES_NOT_CLEARED):      # mutant entries-not-cleared: the entry stays
                WRITE_ONCE_P(<void **>&arr.entries[idx], NULL)
        n = n.next
    if model_mode == MODE_LEGACY:
        ms_mutex_unlock(&slab_mutex)
        cpus_read_unlock()
        return
    if not locked:
        # mutant reparent-without-slab-mutex: the reparenting below runs without slab_mutex
        ms_mutex_unlock(&slab_mutex)
        cpus_read_unlock()
    nr_reparented = 0
    n = memcg.kmem_caches.next
    while n != &memcg.kmem_caches:
        if nr_reparented > READ_ONCE_L(&gstats[G_CACHE_CREATED]):
            # More caches than were ever created: the walk left the list (a
            # list changed under it), as CONFIG_DEBUG_LIST or the soft-lockup
            # watchdog would report in the kernel.  Stop rather than spin.
            violationf(V_LISTS, memcg.id, nr_reparented,
                       "kmem_caches list of memcg %ld does not lead back to its head after %ld "
                       "caches: changed under the reparenting walk", memcg.id, nr_reparented)
            break
        s = <kmem_cache *>n.owner
        # kmem_caches lists and the memcg pointer are protected by slab_mutex
        # (rcu_dereference_protected(..., lockdep_is_held(&slab_mutex))).
        lockdep_assert_held_mutex(&slab_mutex)
        WRITE_ONCE_P(<void **>&s.memcg, parent)     # readers: READ_ONCE under RCU
        win_conflict(WIN_CHARGE_VS_REPARENT)
        win_conflict(WIN_UNCHARGE_VS_REPARENT)
        ms_delay(DP_REPARENT_SWAP)
        if not MUTANT(M_NO_CHILD_CSS_PUT):      # mutant no-child-css-put: the child keeps the reference
            css_put(memcg)
        nr_reparented += 1
        atomic_add_L(&gstats[G_REPARENT], 1)
        fr_record(EV_REPARENT, s.id, parent.id)
        n = n.next
    if nr_reparented:
        list_splice_init(&memcg.kmem_caches, &parent.kmem_caches)
        ms_delay(DP_REPARENT_SPLICE)
        if not MUTANT(M_NO_PARENT_CSS_GET):     # mutant no-parent-css-get: the parent gets none
            css_get_many(parent, nr_reparented)
    if locked:
        ms_mutex_unlock(&slab_mutex)
        cpus_read_unlock()

# ---------------------------------------------------------------------------
# Child cache deactivation, kill and shutdown.

cdef void kmemcg_cache_deactivate(kmem_cache *s) noexcept nogil:
    """Called with slab_mutex held."""
    cdef kmem_cache *root = s.root
    win_conflict(WIN_ROOT_DESTROY_VS_DEACT)
    # __kmemcg_cache_deactivate (mm/slub.c): no empty slabs cached from
    # here on, so that the pages can go; before the dying test, as in 5.4
    WRITE_ONCE_I(&s.cpu_partial, 0)
    WRITE_ONCE_L(&s.min_partial, 0)
    if READ_ONCE_I(&root.dying):
        return
    s.deactivated = 1
    fr_record(EV_CACHE_DEACTIVATE, s.id, 0)
    # memcg_kmem_wq_lock synchronizes root->dying with the queuing of the
    # deactivation, so that flush_memcg_workqueue() sees every queued one.
    if MUTANT(M_DYING_FLAG_UNLOCKED):
        # mutant dying-flag-unlocked: test and queue without memcg_kmem_wq_lock
        if READ_ONCE_I(&root.dying):
            return
        ms_delay_if(DP_DEACTIVATE_DYING, root.refcount == 0)   # open while the root is destroyed
        s.deact_rcu.owner = s
        call_rcu(&s.deact_rcu, kmemcg_rcufn)
        return
    cdef bint kill_now = False
    spin_lock(&memcg_kmem_wq_lock)
    if not root.dying:
        ms_delay_if(DP_DEACTIVATE_DYING, root.refcount == 0)   # open while the root is destroyed
        s.deact_rcu.owner = s
        if MUTANT(M_KILL_WITHOUT_GRACE_PERIOD) or MUTANT(M_RCU_BUSTED):
            # mutant kill-without-grace-period (and rcu-busted): no grace period
            kill_now = True
        else:
            call_rcu(&s.deact_rcu, kmemcg_rcufn)
    spin_unlock(&memcg_kmem_wq_lock)
    if kill_now:
        # outside memcg_kmem_wq_lock: the kill may release the cache, whose
        # release takes that lock
        kmemcg_cache_deactivate_after_rcu(s)

cdef inline bint deactivation_ok(kmem_cache *s, long ctx) noexcept nogil:
    """A child's deactivation is still in flight: its root's destroy must
    not have flushed yet (flush_memcg_workqueue() promises that none is
    left, and frees the children on that promise)."""
    cdef kmem_cache *root
    if not cache_ok(s, ctx):
        return False
    root = s.root
    if not cache_ok(root, ctx):
        return False
    if READ_ONCE_I(&root.flushed):
        violationf(V_USE_AFTER_FREE, s.id, ctx,
                   "deactivation of child cache %ld in flight after kmem_cache_destroy "
                   "flushed its root (path %ld): the cache is freed under it", s.id, ctx)
        return False
    return True

cdef void kmemcg_rcufn(rcu_head *head) noexcept nogil:
    cdef kmem_cache *s = <kmem_cache *>head.owner
    if deactivation_ok(s, 12):
        queue_work(WQ_KMEM_CACHE, &s.deact_work)

cdef void kmemcg_deact_workfn(work_struct *w) noexcept nogil:
    cdef kmem_cache *s = <kmem_cache *>w.owner
    cpus_read_lock()            # get_online_cpus
    ms_mutex_lock(&slab_mutex)
    if MUTANT(M_DEACT_LOCK_INVERSION) and s.typesafe:
        # mutant deact-lock-inversion: cgroup_mutex inside slab_mutex, the
        # reverse of the offline's order (memcg_offline_kmem).  With the
        # offline on cgroup_destroy_wq and this work on another kworker the
        # kernel can deadlock here; lockdep reports the order first, and the
        # model backs off instead of deadlocking, so the run can stop.
        if ms_mutex_lock_or_back_off(&cgroup_mutex):
            ms_mutex_unlock(&cgroup_mutex)
    if deactivation_ok(s, 1):   # under slab_mutex: a shutdown cannot slip in after the test
        kmemcg_cache_deactivate_after_rcu(s)
    ms_mutex_unlock(&slab_mutex)
    cpus_read_unlock()

cdef void kmemcg_cache_deactivate_after_rcu(kmem_cache *s) noexcept nogil:
    """__kmemcg_cache_deactivate_after_rcu (mm/slub.c): shrink, and remove
    the sysfs files of a cache the shrink left empty (sysfs_slab_remove);
    then kill the cache's refcount.  The shrink flushes every cpu's slab
    (flush_all, an IPI to every cpu with a slab of it), as 5.3 and 5.4 do.
    An allocation that took the cache before the shrink can freeze a new
    page after it: that cpu keeps the page, and the cache stays (pinned)."""
    cdef int left = __kmem_cache_shrink(s)
    if sysfs_remove_at_deactivation() and left == 0:
        # off by default: 5.4 leaks the kobject reference of this remove
        # when its work is still pending at shutdown (docs/DESIGN.md, sysfs)
        sysfs_slab_remove(s)
    ms_delay(DP_CACHE_KILL)
    fr_record(EV_CACHE_KILL, s.id, 0)
    atomic_add_L(&gstats[G_CACHE_KILLED], 1)
    if left:
        atomic_add_L(&gstats[G_CACHE_KILLED_PAGES], 1)
    percpu_ref_kill(&s.refcnt)

cdef void kmemcg_cache_shutdown(percpu_ref *ref) noexcept nogil:
    """percpu_ref release of a child cache: queue its shutdown unless the
    root is dying (kmem_cache_destroy then shuts it down itself)."""
    cdef kmem_cache *s = <kmem_cache *>ref.owner
    win_conflict(WIN_PUT_VS_SHUTDOWN)
    win_conflict(WIN_SYSFS_VS_SHUTDOWN)
    spin_lock(&memcg_kmem_wq_lock)
    if not s.root.dying:
        queue_work(WQ_KMEM_CACHE, &s.shutdown_work)
    spin_unlock(&memcg_kmem_wq_lock)

cdef void kmemcg_shutdown_workfn(work_struct *w) noexcept nogil:
    cdef kmem_cache *s = <kmem_cache *>w.owner
    cpus_read_lock()            # get_online_cpus
    ms_mutex_lock(&slab_mutex)
    if cache_ok(s, 2) and shutdown_cache(s) != 0:
        # kmemcg_cache_shutdown_fn: WARN_ON(shutdown_cache(s))
        violationf(V_LEAK, s.id, 0,
                   "kmemcg_cache_shutdown_fn: child cache %ld still has slab pages at its shutdown",
                   s.id, 0)
    ms_mutex_unlock(&slab_mutex)
    cpus_read_unlock()

cdef int shutdown_cache(kmem_cache *s) noexcept nogil:
    """Unlink an empty child cache and release it (TYPESAFE_BY_RCU caches a
    grace period later, after their pending page frees).  -1 when the cache
    still has pages.  Called with slab_mutex held."""
    cdef long pages
    lockdep_assert_held_mutex(&slab_mutex)
    if s.shut_down:
        return 0
    flush_all(s)                # __kmem_cache_shutdown
    free_partial(s)
    if slabs_in_use(s):
        return -1
    s.shut_down = 1
    fr_record(EV_CACHE_SHUTDOWN, s.id, 0)
    atomic_add_L(&gstats[G_CACHE_SHUTDOWN], 1)
    sysfs_slab_remove(s)        # the end of __kmem_cache_shutdown
    list_del_init(&s.children_node)
    list_del_init(&s.kmem_caches_node)
    if s.typesafe:
        # shutdown_cache (mm/slab_common.c): the pages' rcu_free_slab
        # callbacks, on any CPU's list, still use the cache; the work waits
        # for them with rcu_barrier().
        sysfs_slab_unlink(s)
        spin_lock(&release_lock)
        s.release_batch = 0
        list_add_tail(&s.release_node, &caches_releasing)
        spin_unlock(&release_lock)
        schedule_work(&slab_caches_to_rcu_destroy_work)
    elif MUTANT(M_SYSFS_UNLINK_LATE):
        # mutant sysfs-unlink-late: the last reference goes first, a sysfs
        # reader can still find the freed cache until kobject_del
        sysfs_slab_release(s)
        sysfs_slab_unlink(s)
    else:
        sysfs_slab_unlink(s)
        sysfs_slab_release(s)   # kobject_put: released now, or when a queued remove work drops its reference
    return 0

cdef work_struct slab_caches_to_rcu_destroy_work    # on system_wq (schedule_work)
cdef long rcu_destroy_runs = 0                      # atomic: numbers the work's runs

cdef void slab_caches_to_rcu_destroy_workfn(work_struct *w) noexcept nogil:
    """slab_caches_to_rcu_destroy_workfn (mm/slab_common.c): take the
    caches waiting so far, rcu_barrier() (every rcu_free_slab of their pages,
    on every CPU, has run), release them.  The kernel splices them onto a
    local list; the model marks them so that the checkers still see them."""
    cdef long run = fetch_add_L(&rcu_destroy_runs, 1) + 1
    cdef ms_list *n
    cdef kmem_cache *s
    cdef long k = 0
    spin_lock(&release_lock)
    n = caches_releasing.next
    while n != &caches_releasing:
        s = <kmem_cache *>n.owner
        if s.release_batch == 0:
            s.release_batch = run
            k += 1
        n = n.next
    spin_unlock(&release_lock)
    if k == 0:
        return
    rcu_barrier()
    while True:
        s = NULL
        spin_lock(&release_lock)
        n = caches_releasing.next
        while n != &caches_releasing:
            if (<kmem_cache *>n.owner).release_batch == run:
                s = <kmem_cache *>n.owner
                list_del_init(&s.release_node)
                break
            n = n.next
        spin_unlock(&release_lock)
        if s == NULL:
            break
        sysfs_slab_release(s)

cdef void slab_kmem_cache_release(kmem_cache *s) noexcept nogil:
    """Drop the memcg reference (whatever memcg the pointer names now) and
    free the cache: poisoned and quarantined.  The kobject's release
    (kmem_cache_release in sysfs.pxi) calls it."""
    cdef mem_cgroup *memcg = s.memcg
    fr_record(EV_CACHE_RELEASE, s.id, memcg.id if memcg != NULL else -1)
    WRITE_ONCE_L(&s.magic, POISON_MAGIC)
    quarantine_put(&s.quarantine_node, &cache_quarantine, &nr_cache_quarantine)
    if memcg != NULL:
        css_put(memcg)

# ---------------------------------------------------------------------------
# Cache creation (create_cache, memcg_create_kmem_cache).

cdef kmem_cache *kmem_cache_alloc_struct() noexcept nogil:
    cdef ms_list *node = quarantine_take(&cache_quarantine, &nr_cache_quarantine)
    cdef kmem_cache *s
    if node != NULL:
        s = <kmem_cache *>node.owner
        cache_free_parts(s)
    else:
        s = <kmem_cache *>aligned_alloc(64, sizeof(kmem_cache))
        if s == NULL:
            return NULL
    memset(s, 0, sizeof(kmem_cache))
    s.cpu_slab = pcpu_alloc_longs()
    if s.cpu_slab == NULL:
        free(s)
        return NULL
    s.magic = CACHE_MAGIC
    s.id = fetch_add_L(&next_cache_id, 1)
    spin_lock_init(&s.list_lock)
    lockdep_set_class_spin(&s.list_lock, LC_LIST_LOCK)
    INIT_LIST_HEAD(&s.pages)
    INIT_LIST_HEAD(&s.partial)
    INIT_LIST_HEAD(&s.children)
    INIT_LIST_HEAD(&s.root_caches_node)
    INIT_LIST_HEAD(&s.children_node)
    INIT_LIST_HEAD(&s.kmem_caches_node)
    INIT_LIST_HEAD(&s.release_node)
    INIT_LIST_HEAD(&s.quarantine_node)
    s.root_caches_node.owner = s
    s.children_node.owner = s
    s.kmem_caches_node.owner = s
    s.release_node.owner = s
    s.quarantine_node.owner = s
    return s

cdef void memcg_create_kmem_cache(mem_cgroup *memcg, kmem_cache *root) noexcept nogil:
    cdef memcg_cache_array *arr
    cdef kmem_cache *s
    cdef int idx
    cpus_read_lock()            # get_online_cpus
    ms_mutex_lock(&slab_mutex)
    # The memory cgroup could have been offlined while the creation work was
    # pending (mutant create-after-offline leaves this test out).
    if (memcg.kmem_state != KMEM_ONLINE and not MUTANT(M_CREATE_AFTER_OFFLINE)) \
            or READ_ONCE_I(&root.dying) or memcg.kmemcg_id < 0:
        ms_mutex_unlock(&slab_mutex)
        cpus_read_unlock()
        return
    idx = memcg.kmemcg_id
    arr = root.memcg_caches
    rcu_dereference_check_mutex(&slab_mutex, "slab_mutex", "root->memcg_params.memcg_caches in memcg_create_kmem_cache")
    # Several allocations may have asked for the same cache; one succeeds.
    if arr.entries[idx] != NULL:
        ms_mutex_unlock(&slab_mutex)
        cpus_read_unlock()
        return
    s = kmem_cache_alloc_struct()
    if s == NULL:
        ms_mutex_unlock(&slab_mutex)
        cpus_read_unlock()
        return
    s.is_root = 0
    s.root = root
    s.root_index = root.root_index
    s.size = root.size
    s.objects = root.objects
    s.order = root.order
    s.reclaimable = root.reclaimable
    s.typesafe = root.typesafe
    kmem_cache_open_partial(s)
    if percpu_ref_init(&s.refcnt, kmemcg_cache_shutdown, s) != 0:
        ms_mutex_unlock(&slab_mutex)
        cpus_read_unlock()
        return
    s.deact_rcu.owner = s
    s.deact_work.func = kmemcg_deact_workfn
    s.deact_work.owner = s
    s.deact_work.kind = WK_CACHE_DEACT
    s.shutdown_work.func = kmemcg_shutdown_workfn
    s.shutdown_work.owner = s
    s.shutdown_work.kind = WK_CACHE_SHUTDOWN
    # memcg_link_cache
    css_get(memcg)
    s.memcg = memcg
    list_add(&s.children_node, &root.children)
    list_add(&s.kmem_caches_node, &memcg.kmem_caches)
    sysfs_slab_add(s)           # __kmem_cache_create, in root's "cgroup" kset
    ms_delay(DP_CREATE_PUBLISH)
    # Readers do not lock: the cache must be complete before it is visible.
    # Pairs with READ_ONCE(arr->entries[id]) (address dependency) in
    # memcg_kmem_get_cache.
    smp_wmb()
    WRITE_ONCE_P(<void **>&arr.entries[idx], s)
    atomic_add_L(&gstats[G_CACHE_CREATED], 1)
    fr_record(EV_CACHE_CREATE, s.id, memcg.id)
    ms_mutex_unlock(&slab_mutex)
    cpus_read_unlock()

# ---------------------------------------------------------------------------
# Root caches: kmem_cache_create (with merging) and kmem_cache_destroy.

cdef int kmem_cache_create(int size, int objects, int order, int reclaimable,
                           int typesafe) noexcept nogil:
    """Root index of a new or merged root cache; -1 when the table is full.
    Compatible caches merge (find_mergeable): same geometry and type, never
    TYPESAFE_BY_RCU, never a dying one."""
    cdef int i, slot = -1
    cdef kmem_cache *s
    cdef int ids
    cpus_read_lock()            # get_online_cpus
    ms_mutex_lock(&slab_mutex)
    if not typesafe:
        for i in range(MAX_ROOTS):
            s = roots[i]
            if s != NULL and s.mergeable and not s.dying and not s.unloading and s.size == size \
                    and s.objects == objects and s.order == order \
                    and s.reclaimable == reclaimable:
                s.refcount += 1
                ms_mutex_unlock(&slab_mutex)
                cpus_read_unlock()
                if ms_cpu >= 0:
                    fr_record(EV_ROOT_CREATE, i, s.refcount)
                return i
    for i in range(MAX_ROOTS):
        if roots[i] == NULL:
            slot = i
            break
    if slot < 0 or objects < 1 or objects > PAGE_OBJS:
        ms_mutex_unlock(&slab_mutex)
        cpus_read_unlock()
        return -1
    s = kmem_cache_alloc_struct()
    if s == NULL:
        ms_mutex_unlock(&slab_mutex)
        cpus_read_unlock()
        return -1
    s.is_root = 1
    s.root_index = slot
    s.size = size
    s.objects = objects
    s.order = order
    s.reclaimable = reclaimable
    s.typesafe = typesafe
    kmem_cache_open_partial(s)
    s.mergeable = 0 if typesafe else 1
    s.refcount = 1
    ids = READ_ONCE_I(&memcg_nr_cache_ids)
    s.memcg_caches = memcg_cache_array_alloc(ids if ids > 0 else MEMCG_CACHES_MIN_SIZE)
    s.create_pending = <int *>calloc(MEMCG_CACHES_MAX_SIZE, sizeof(int))
    list_add_tail(&s.root_caches_node, &slab_root_caches)
    sysfs_slab_add(s)           # __kmem_cache_create: /sys/kernel/slab/<name>
    roots[slot] = s
    ms_mutex_unlock(&slab_mutex)
    cpus_read_unlock()
    if ms_cpu >= 0:
        fr_record(EV_ROOT_CREATE, slot, 1)
    return slot

cdef void memcg_set_kmem_cache_dying(kmem_cache *s) noexcept nogil:
    """memcg_set_kmem_cache_dying (mm/slab_common.c): from now on no child
    deactivation or shutdown of this root is queued (kmemcg_cache_deactivate
    and kmemcg_cache_shutdown test the flag under memcg_kmem_wq_lock)."""
    if MUTANT(M_DYING_FLAG_UNLOCKED):
        # mutant dying-flag-unlocked: the flag is set without memcg_kmem_wq_lock
        WRITE_ONCE_I(&s.dying, 1)
    else:
        spin_lock(&memcg_kmem_wq_lock)
        s.dying = 1
        spin_unlock(&memcg_kmem_wq_lock)

cdef void flush_memcg_workqueue(kmem_cache *s) noexcept nogil:
    """flush_memcg_workqueue (mm/slab_common.c): every child deactivation
    queued before the dying flag has run; from here on none may be in
    flight (s.flushed, which deactivation_ok checks)."""
    rcu_barrier()           # deactivations queued through call_rcu
    flush_workqueue(WQ_KMEM_CACHE)  # their works, and pending creations, on every CPU
    WRITE_ONCE_I(&s.flushed, 1)
    # Racing with children's deactivation, their kills may need another grace
    # period to switch to atomic mode (the children list cannot grow now).
    if not list_empty(&s.children):
        rcu_barrier()

cdef int shutdown_memcg_caches(kmem_cache *s) noexcept nogil:
    """shutdown_memcg_caches (mm/slab_common.c): shut down the active
    children (those in memcg_caches), then the deactivated ones (each
    shutdown_cache flushes the child's cpu slabs first).  0, or -1 when a child still has pages.  Called with
    slab_mutex held."""
    cdef memcg_cache_array *arr = s.memcg_caches
    cdef ms_list *n
    cdef ms_list *nx
    cdef kmem_cache *c
    cdef int i, busy = 0
    rcu_dereference_check_mutex(&slab_mutex, "slab_mutex", "root->memcg_params.memcg_caches in shutdown_memcg_caches")
    for i in range(arr.size):
        c = arr.entries[i]
        if c != NULL and shutdown_cache(c) == 0:
            WRITE_ONCE_P(<void **>&arr.entries[i], NULL)
    n = s.children.next
    while n != &s.children:
        nx = n.next
        if shutdown_cache(<kmem_cache *>n.owner) != 0:
            busy = 1
        n = nx
    return -1 if busy else 0

cdef void report_busy_cache(kmem_cache *s) noexcept nogil:
    """kmem_cache_destroy's "Slab cache still has objects" (pr_err and
    dump_stack; slub's list_slab_objects names the objects): the violation
    names the first cache of the root that still has slab pages, the pages
    and the objects in use on them.  Called with slab_mutex held."""
    cdef kmem_cache *c = s
    cdef ms_list *n = s.children.next
    cdef char buf[VMSG]
    while slabs_in_use(c) == 0 and n != &s.children:
        c = <kmem_cache *>n.owner
        n = n.next
    snprintf(buf, VMSG, "kmem_cache_destroy: slab cache still has objects: "
             "%s cache %ld (root %d, memcg %ld%s%s) holds %ld slab pages, %ld objects in use",
             <const char *>("root" if c.is_root else "child"), c.id, s.root_index,
             <long>(c.memcg.id if c.memcg != NULL else -1),
             <const char *>(", killed" if not c.is_root and percpu_ref_is_dying(&c.refcnt) else ""),
             <const char *>(", shut down" if c.shut_down else ""),
             slabs_in_use(c), slab_objects_in_use(c))
    report_violation(V_LEAK, s.root_index, c.id, buf)

cdef int kmem_cache_destroy(int index) noexcept nogil:
    """kmem_cache_destroy (mm/slab_common.c): drop a reference on the root
    cache; at zero mark it dying, flush the deactivation callbacks and works,
    shut the children down, then the root.  -1 (and nothing changes but the
    refcount) when objects remain.  The model marks the root dying after
    dropping slab_mutex (the kernel does it before), with a delay point in
    between: the window the dying flag and memcg_kmem_wq_lock must close."""
    cdef kmem_cache *s = roots[index]
    cdef memcg_cache_array *arr
    cdef int busy = 0
    if s == NULL:
        return -1
    cpus_read_lock()            # get_online_cpus
    ms_mutex_lock(&slab_mutex)
    s.refcount -= 1
    if s.refcount > 0:
        ms_mutex_unlock(&slab_mutex)
        cpus_read_unlock()
        fr_record(EV_ROOT_DESTROY, index, s.refcount)
        return 0
    ms_mutex_unlock(&slab_mutex)
    cpus_read_unlock()
    # Nothing stops a memcg offline from deactivating children of this root
    # between here and the dying store below: memcg_kmem_wq_lock must.
    ms_delay(DP_DESTROY_DYING)
    atomic_add_L(&gstats[G_ROOT_DESTROYED], 1)
    win_conflict(WIN_DEACT_VS_ROOT_DESTROY)
    memcg_set_kmem_cache_dying(s)
    flush_memcg_workqueue(s)
    cpus_read_lock()            # get_online_cpus
    ms_mutex_lock(&slab_mutex)
    if shutdown_memcg_caches(s) != 0:
        busy = 1
    flush_all(s)                # the root's __kmem_cache_shutdown
    free_partial(s)
    if slabs_in_use(s):
        busy = 1
    if busy:
        report_busy_cache(s)
        ms_mutex_unlock(&slab_mutex)
        cpus_read_unlock()
        return -1
    arr = s.memcg_caches
    rcu_dereference_check_mutex(&slab_mutex, "slab_mutex", "root->memcg_params.memcg_caches in kmem_cache_destroy")
    list_del_init(&s.root_caches_node)
    roots[index] = NULL
    fr_record(EV_ROOT_DESTROY, index, 0)
    # shutdown_cache(s) of the root: __kmem_cache_shutdown's
    # sysfs_slab_remove, then kobject_del, under slab_mutex
    sysfs_slab_remove(s)
    sysfs_slab_unlink(s)
    ms_mutex_unlock(&slab_mutex)
    cpus_read_unlock()
    # the root's own memcg_caches array goes a grace period later.  A
    # TYPESAFE_BY_RCU root goes to slab_caches_to_rcu_destroy, as
    # shutdown_cache puts it, and is released after the work's
    # rcu_barrier(): the rcu_free_slab callbacks of its pages are on the
    # lists of the CPUs whose slabs flush_all unfroze, and a callback of
    # our own would not be ordered after them.
    call_rcu(&arr.rcu, free_memcg_cache_array_rcu)
    if s.typesafe:
        spin_lock(&release_lock)
        s.release_batch = 0
        list_add_tail(&s.release_node, &caches_releasing)
        spin_unlock(&release_lock)
        schedule_work(&slab_caches_to_rcu_destroy_work)
    else:
        sysfs_slab_release(s)   # kobject_put; its release frees the root
    return 0

cdef void root_cache_release(kmem_cache *s) noexcept nogil:
    WRITE_ONCE_L(&s.magic, POISON_MAGIC)
    quarantine_put(&s.quarantine_node, &cache_quarantine, &nr_cache_quarantine)

