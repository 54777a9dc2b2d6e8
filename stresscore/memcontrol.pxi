# memcontrol.pxi: the memory cgroup, after mm/memcontrol.c (Linux 5.3/5.4),
# with the css life cycle of kernel/cgroup/cgroup.c, the page counters of
# mm/page_counter.c and the slab charge of mm/slab.h.  docs/DESIGN.md,
# memcontrol.
#
# mem_cgroup and its css reference, the page counter, charge and uncharge
# of slab pages, per-cpu stats and their flushes, mkdir, rmdir, offline,
# release and free, the kmemcg ids, and the worker's cache lookup
# (memcg_kmem_get_cache).  Calls into slab_common (memcg_update_all_caches,
# memcg_deactivate_kmem_caches, memcg_create_kmem_cache) go through the
# forward declarations in _core.pxd, as the kernel's go through mm/slab.h.
#
# Every modelled kernel function keeps its kernel name.  Where the model
# departs from the kernel it says so and why, next to the code.
#
# Contexts: "worker" code runs in worker threads (alloc, free, charge,
# uncharge, get_cache); "controller" code in the controller (mkdir, rmdir,
# migrate, module caches, limits); "work" code in the workqueue thread; "rcu"
# code in RCU callbacks.  In the single-threaded differential tests one
# thread plays every role, in the same code.

cdef ms_mutex cgroup_mutex          # protects the memcg tree, states, kmemcg ids
cdef ms_list memcg_all              # cgroup_mutex, and memcg_all_lock for its add and del
cdef ms_spinlock memcg_all_lock     # leaf: lets the hotplug callback walk memcg_all (mem_cgroup_iter's walk)
cdef mem_cgroup *root_mem_cgroup = NULL
cdef unsigned char kmemcg_ida[MEMCG_CACHES_MAX_SIZE]   # cgroup_mutex
cdef int memcg_nr_cache_ids = 0     # slab_mutex; READ_ONCE elsewhere
cdef int memcg_caches_growing = 0   # slab_mutex (memcg_update_all_caches); READ_ONCE by delay injection only
cdef percpu_counter node_stat[2]    # node-global NR_SLAB_* (mm/vmstat.c), per-cpu batched
cdef long next_memcg_id = 0         # cgroup_mutex

# ---------------------------------------------------------------------------
# Per-cpu memcg statistics (__mod_memcg_state, 5.3) and the node's
# (mod_node_page_state, mm/vmstat.c).

cdef inline int stat_idx(kmem_cache *s) noexcept nogil:
    # cache_vmstat_idx (mm/slab.h)
    return NR_SLAB_RECLAIMABLE if s.reclaimable else NR_SLAB_UNRECLAIMABLE

cdef inline bint pcpu_owner_ok() noexcept nogil:
    cdef int cpu = ms_cpu
    if cpu < 0 or cpu >= ms_nr_cpu_ids or ms_cpu_owner[cpu] != ms_thread_id():
        violationf(V_PCPU_OWNER, cpu, 0,
                   "per-cpu slot %ld written by thread %ld that does not own it",
                   cpu, ms_thread_id())
        return False
    if not cpu_online(cpu):
        # a task left on a CPU that went down (migrate_tasks moves them all)
        violationf(V_PCPU_OWNER, cpu, 0,
                   "per-cpu slot %ld written by thread %ld while that CPU is offline",
                   cpu, ms_thread_id())
        return False
    return True

cdef void mod_memcg_state(mem_cgroup *memcg, int idx, long val) noexcept nogil:
    cdef long *p
    cdef long x
    cdef mem_cgroup *mi
    if not pcpu_owner_ok():
        return
    p = this_cpu_ptr_L(memcg.pcpu)
    x = val + p[idx]
    if x > BATCH or x < -BATCH:
        mi = memcg
        while mi != NULL:
            atomic_add_L(&mi.stat[idx], x)      # relaxed RMW: the sum is all that matters
            mi = mi.parent
        x = 0
    WRITE_ONCE_L(&p[idx], x)                    # read racily by checkpoints (quiescent)
    WRITE_ONCE_L(&p[2 + idx], p[2 + idx] + val)

cdef void mod_node_state(int idx, long val) noexcept nogil:
    if pcpu_owner_ok():
        percpu_counter_add(&node_stat[idx], val)

cdef int fix_flush_offline = 0      # engine_setup / Model: memcg_flush_percpu_vmstats over every possible CPU

cdef void memcg_flush_percpu_vmstats(mem_cgroup *memcg) noexcept nogil:
    """Fold every cpu's stat residue into the memcg and its ancestors (the
    5.3 stable fix "flush percpu vmstats before releasing memcg"; like the
    kernel's mem_cgroup_free it runs a grace period after the release, so no
    uncharge that read this memcg under RCU can still be writing)."""
    cdef long sums[2]
    cdef int cpu, i
    cdef long *p
    cdef mem_cgroup *mi
    sums[0] = 0
    sums[1] = 0
    for cpu in range(ms_nr_cpu_ids):
        # for_each_online_cpu, as the fix has it ("on cpu hotplug we do
        # flush percpu vmstats anyway"): an offline CPU's residues are the
        # hotplug callback's (memcg_hotplug_cpu_dead, hotplug.pxi), which
        # skips a memcg released before the CPU died: README finding 9.
        # fix_flush_offline: for_each_possible_cpu
        if not fix_flush_offline and not cpu_online(cpu):
            continue
        p = per_cpu_ptr_L(memcg.pcpu, cpu)
        for i in range(2):
            sums[i] += READ_ONCE_L(&p[i])
            WRITE_ONCE_L(&p[i], 0)
    ms_delay(DP_FLUSH_STATS)
    if MUTANT(M_NO_FLUSH_ON_FREE):      # mutant no-flush-on-free: the residues are dropped
        return
    mi = memcg
    while mi != NULL:
        for i in range(2):
            if sums[i]:
                atomic_add_L(&mi.stat[i], sums[i])
        mi = mi.parent

# ---------------------------------------------------------------------------
# css references (percpu_ref semantics through the primitives;
# include/linux/cgroup.h).

cdef inline void css_get(mem_cgroup *m) noexcept nogil:
    percpu_ref_get(&m.css)

cdef inline void css_get_many(mem_cgroup *m, long n) noexcept nogil:
    percpu_ref_get_many(&m.css, n)

cdef inline void css_put(mem_cgroup *m) noexcept nogil:
    percpu_ref_put(&m.css)

cdef inline bint css_tryget_online(mem_cgroup *m) noexcept nogil:
    return percpu_ref_tryget_live(&m.css)

# ---------------------------------------------------------------------------
# memcg life cycle: release and free (css_release_work_fn,
# css_free_rwork_fn in kernel/cgroup/cgroup.c; mem_cgroup_css_free and
# mem_cgroup_alloc in mm/memcontrol.c).

cdef void memcg_free_kmem_check(mem_cgroup *memcg) noexcept nogil:
    """memcg_free_kmem: WARN_ON(!list_empty(&memcg->kmem_caches))."""
    if not list_empty(&memcg.kmem_caches):
        violationf(V_LISTS, memcg.id, 0,
                   "memcg_free_kmem: memcg %ld is freed with caches on its kmem_caches list",
                   memcg.id, 0)

cdef void css_free_rwork_fn(work_struct *w) noexcept nogil:
    """Work, a grace period after the release: flush the residues, drop the
    reference on the parent, poison and quarantine (mem_cgroup_css_free)."""
    cdef mem_cgroup *memcg = <mem_cgroup *>w.owner
    cdef mem_cgroup *parent = memcg.parent
    cdef long *p
    cdef int cpu
    memcg_flush_percpu_vmstats(memcg)
    memcg_free_kmem_check(memcg)
    ms_mutex_lock(&cgroup_mutex)
    if parent != NULL:
        # the checker's ledger, not the kernel's: the local stats that go
        # with this memcg stay countable in its parent's subtree
        parent.local_lost[0] += memcg.local_lost[0]
        parent.local_lost[1] += memcg.local_lost[1]
        for cpu in range(ms_nr_cpu_ids):
            p = per_cpu_ptr_L(memcg.pcpu, cpu)
            parent.local_lost[0] += READ_ONCE_L(&p[2])
            parent.local_lost[1] += READ_ONCE_L(&p[3])
        # the same for the hierarchical counters, which the root's check
        # sums over its children: the parent's counter and stats keep what
        # this one held (its own already include its descendants')
        parent.lost_memory += READ_ONCE_L(&memcg.memory)
        parent.lost_stat[0] += READ_ONCE_L(&memcg.stat[0])
        parent.lost_stat[1] += READ_ONCE_L(&memcg.stat[1])
    spin_lock(&memcg_all_lock)
    list_del_init(&memcg.all_node)
    spin_unlock(&memcg_all_lock)
    WRITE_ONCE_I(&memcg.state, MEMCG_FREED)
    ms_mutex_unlock(&cgroup_mutex)
    fr_record(EV_MEMCG_FREE, memcg.id, 0)
    atomic_add_L(&gstats[G_MEMCG_FREED], 1)
    # Poison: a stale reader sees POISON_MAGIC and a NULL parent.
    WRITE_ONCE_L(&memcg.magic, POISON_MAGIC)
    WRITE_ONCE_P(<void **>&memcg.parent, NULL)
    quarantine_put(&memcg.quarantine_node, &memcg_quarantine, &nr_memcg_quarantine)
    if parent != NULL:
        css_put(parent)

cdef void css_free_rcu_fn(rcu_head *head) noexcept nogil:
    """queue_rcu_work(): the free runs in the workqueue after the grace period."""
    cdef mem_cgroup *memcg = <mem_cgroup *>head.owner
    queue_work(WQ_CGROUP_DESTROY, &memcg.free_work)   # queue_rcu_work(cgroup_destroy_wq, ...)

cdef void css_release_work_fn(work_struct *w) noexcept nogil:
    cdef mem_cgroup *memcg = <mem_cgroup *>w.owner
    cdef mem_cgroup *a
    ms_mutex_lock(&cgroup_mutex)
    WRITE_ONCE_I(&memcg.state, MEMCG_RELEASED)
    list_del_init(&memcg.sibling)
    a = memcg.parent
    while a != NULL:
        a.nr_dying_descendants -= 1
        a = a.parent
    ms_mutex_unlock(&cgroup_mutex)
    fr_record(EV_MEMCG_RELEASE, memcg.id, 0)
    atomic_add_L(&gstats[G_MEMCG_RELEASED], 1)
    memcg.rcu.owner = memcg
    if MUTANT(M_RCU_BUSTED):
        css_free_rcu_fn(&memcg.rcu)     # mutant rcu-busted: no grace period at all
    else:
        call_rcu(&memcg.rcu, css_free_rcu_fn)

cdef void mem_cgroup_css_released(percpu_ref *ref) noexcept nogil:
    """percpu_ref release: runs in whichever thread dropped the last
    reference; the rest happens in the workqueue (css_release)."""
    cdef mem_cgroup *memcg = <mem_cgroup *>ref.owner
    queue_work(WQ_CGROUP_DESTROY, &memcg.release_work)   # css_release: cgroup_destroy_wq

cdef mem_cgroup *mem_cgroup_alloc() noexcept nogil:
    cdef ms_list *node = quarantine_take(&memcg_quarantine, &nr_memcg_quarantine)
    cdef mem_cgroup *m
    if node != NULL:
        m = <mem_cgroup *>node.owner
        memcg_free_parts(m)
    else:
        m = <mem_cgroup *>aligned_alloc(64, sizeof(mem_cgroup))
        if m == NULL:
            return NULL
    memset(m, 0, sizeof(mem_cgroup))
    m.pcpu = pcpu_alloc_longs()
    if m.pcpu == NULL or percpu_ref_init(&m.css, mem_cgroup_css_released, m) != 0:
        free(m)
        return NULL
    m.magic = MEMCG_MAGIC
    m.limit = 0x7fffffffffffffff
    m.kmemcg_id = -1
    INIT_LIST_HEAD(&m.sibling)
    INIT_LIST_HEAD(&m.children)
    INIT_LIST_HEAD(&m.all_node)
    INIT_LIST_HEAD(&m.kmem_caches)
    INIT_LIST_HEAD(&m.quarantine_node)
    m.sibling.owner = m
    m.all_node.owner = m
    m.quarantine_node.owner = m
    m.offline_work.func = css_killed_work_fn
    m.offline_work.owner = m
    m.offline_work.kind = WK_MEMCG_OFFLINE
    m.release_work.func = css_release_work_fn
    m.release_work.owner = m
    m.release_work.kind = WK_MEMCG_RELEASE
    m.free_work.func = css_free_rwork_fn
    m.free_work.owner = m
    m.free_work.kind = WK_MEMCG_FREE
    m.rcu.owner = m
    return m

# ---- kmemcg ids (memcg_alloc_cache_id / memcg_free_cache_id, mm/memcontrol.c) ----

cdef int memcg_alloc_cache_id() noexcept nogil:
    """Smallest free id (ida_simple_get), growing every root's array when the
    id does not fit.  Called with cgroup_mutex held."""
    cdef int id, size
    lockdep_assert_held_mutex(&cgroup_mutex)
    for id in range(MEMCG_CACHES_MAX_SIZE):
        if not kmemcg_ida[id]:
            break
    else:
        return -1
    if id >= READ_ONCE_I(&memcg_nr_cache_ids):
        size = 2 * (id + 1)
        if size < MEMCG_CACHES_MIN_SIZE:
            size = MEMCG_CACHES_MIN_SIZE
        elif size > MEMCG_CACHES_MAX_SIZE:
            size = MEMCG_CACHES_MAX_SIZE
        if memcg_update_all_caches(size) != 0:
            return -1
    kmemcg_ida[id] = 1
    return id

cdef void memcg_free_cache_id(int id) noexcept nogil:
    kmemcg_ida[id] = 0

# ---- mkdir ----

cdef mem_cgroup *mem_cgroup_create(mem_cgroup *parent) noexcept nogil:
    """mkdir: mem_cgroup_css_alloc + memcg_online_kmem + online (controller).
    NULL when no kmemcg id or memory is left."""
    global next_memcg_id
    cdef mem_cgroup *m
    cdef int id = -1
    ms_mutex_lock(&cgroup_mutex)
    if parent != NULL:
        id = memcg_alloc_cache_id()
        if id < 0:
            ms_mutex_unlock(&cgroup_mutex)
            return NULL
    m = mem_cgroup_alloc()
    if m == NULL:
        if id >= 0:
            memcg_free_cache_id(id)
        ms_mutex_unlock(&cgroup_mutex)
        return NULL
    m.id = next_memcg_id
    next_memcg_id += 1
    m.parent = parent
    m.online_cnt = 1
    if parent != NULL:
        m.depth = parent.depth + 1
        css_get(parent)                 # a child pins its parent until freed
        parent.online_cnt += 1
        list_add_tail(&m.sibling, &parent.children)
        m.kmemcg_id = id
        m.kmem_state = KMEM_ONLINE
    spin_lock(&memcg_all_lock)
    list_add_tail(&m.all_node, &memcg_all)
    spin_unlock(&memcg_all_lock)
    WRITE_ONCE_I(&m.state, MEMCG_ONLINE)
    ms_mutex_unlock(&cgroup_mutex)
    atomic_add_L(&gstats[G_MEMCG_CREATED], 1)
    if ms_cpu >= 0:
        fr_record(EV_MKDIR, m.id, parent.id if parent != NULL else -1)
    return m

# ---- rmdir, offline ----

cdef void css_killed_ref_fn(percpu_ref *ref) noexcept nogil:
    """Confirmation of the css kill (RCU callback): from now on every
    css_tryget_online fails; queue the offline unless children are still
    online (css->online_cnt)."""
    cdef mem_cgroup *memcg = <mem_cgroup *>ref.owner
    queue_work(WQ_CGROUP_DESTROY, &memcg.offline_work)   # css_killed_ref_fn: cgroup_destroy_wq

cdef void css_killed_work_fn(work_struct *w) noexcept nogil:
    """Offline the memcg, then every ancestor whose last online child this
    was (the online_cnt walk of the kernel's css_killed_work_fn)."""
    cdef mem_cgroup *memcg = <mem_cgroup *>w.owner
    cdef mem_cgroup *m = memcg
    if not memcg_ok(memcg, 21):
        return                          # freed before its offline ran (reported)
    ms_mutex_lock(&cgroup_mutex)
    m.online_cnt -= 1
    while m != NULL and m.online_cnt == 0 and m.offline_pending:
        memcg_offline_kmem(m)
        drain_all_stock(m)              # mem_cgroup_css_offline, after memcg_offline_kmem
        m.offline_pending = 0
        m.offline_ns = 0
        atomic_add_L(&gstats[G_MEMCG_OFFLINED], 1)
        css_put(m)                      # the reference kill_css took
        m = m.parent
        if m != NULL and not memcg_ok(m, 21):
            break                       # an ancestor freed under its child (reported): stop
        if m != NULL:
            m.online_cnt -= 1
    ms_mutex_unlock(&cgroup_mutex)

cdef int mem_cgroup_rmdir(mem_cgroup *memcg) noexcept nogil:
    """rmdir (controller): the memcg must be online with no online child and
    no attached worker (the caller checks workers).  Kills the css; the
    offline runs from the workqueue once the kill is confirmed."""
    cdef ms_list *n
    cdef mem_cgroup *a
    ms_mutex_lock(&cgroup_mutex)
    if memcg == root_mem_cgroup or memcg.state != MEMCG_ONLINE:
        ms_mutex_unlock(&cgroup_mutex)
        return -1
    n = memcg.children.next
    while n != &memcg.children:
        if (<mem_cgroup *>n.owner).state == MEMCG_ONLINE:
            ms_mutex_unlock(&cgroup_mutex)
            return -1
        n = n.next
    WRITE_ONCE_I(&memcg.state, MEMCG_OFFLINE)
    a = memcg.parent
    while a != NULL:
        a.nr_dying_descendants += 1
        a = a.parent
    memcg.offline_pending = 1
    memcg.offline_ns = ms_now_ns()      # the stall check's clock
    css_get(memcg)                      # kill_css: held until the offline work ran
    if MUTANT(M_RCU_BUSTED):
        # mutant rcu-busted: the kill is confirmed at once, without a grace period
        percpu_ref_kill(&memcg.css)
        ms_mutex_unlock(&cgroup_mutex)
        css_killed_ref_fn(&memcg.css)
    else:
        percpu_ref_kill_and_confirm(&memcg.css, css_killed_ref_fn)
        ms_mutex_unlock(&cgroup_mutex)
    if ms_cpu >= 0:
        fr_record(EV_RMDIR, memcg.id, 0)
    return 0

cdef void memcg_offline_kmem(mem_cgroup *memcg) noexcept nogil:
    """Called with cgroup_mutex held, from the offline work."""
    cdef mem_cgroup *parent
    cdef int kmemcg_id
    lockdep_assert_held_mutex(&cgroup_mutex)
    if memcg.kmem_state != KMEM_ONLINE:
        return
    # Clear the online state before clearing memcg_caches entries; slab_mutex
    # in memcg_deactivate_kmem_caches() guarantees no cache is created for
    # this memcg afterwards (memcg_create_kmem_cache checks it).
    memcg.kmem_state = KMEM_ALLOCATED
    parent = memcg.parent
    fr_record(EV_OFFLINE_KMEM, memcg.id, parent.id)
    win_conflict(WIN_ENTRY_VS_OFFLINE)
    win_conflict(WIN_CREATE_VS_OFFLINE)
    win_conflict(WIN_GROW_VS_OFFLINE)
    memcg_deactivate_kmem_caches(memcg, parent)
    ms_delay(DP_OFFLINE_KMEM)
    kmemcg_id = memcg.kmemcg_id
    set_kmemcg_id_subtree(memcg, kmemcg_id, parent.kmemcg_id)
    memcg_free_cache_id(kmemcg_id)

cdef void set_kmemcg_id_subtree(mem_cgroup *m, int old_id, int new_id) noexcept nogil:
    """kmemcg_id of the memcg and its descendants becomes the parent's."""
    cdef ms_list *n
    if m.kmemcg_id == old_id:
        WRITE_ONCE_I(&m.kmemcg_id, new_id)
    else:
        # BUG_ON(child->kmemcg_id != kmemcg_id) in memcg_offline_kmem
        violationf(V_LISTS, m.id, m.kmemcg_id,
                   "memcg_offline_kmem: descendant memcg %ld has kmemcg_id %ld, not its offlined ancestor's",
                   m.id, m.kmemcg_id)
    n = m.children.next
    while n != &m.children:
        set_kmemcg_id_subtree(<mem_cgroup *>n.owner, old_id, new_id)
        n = n.next

# ---------------------------------------------------------------------------
# Child cache creation requests (mm/memcontrol.c); the creation itself is
# memcg_create_kmem_cache in slab_common.

cdef struct create_work:
    work_struct work            # first: queued as a work item
    mem_cgroup *memcg           # holds a css reference until the work ran
    int kmemcg_id

cdef void memcg_kmem_cache_create_func(work_struct *w) noexcept nogil:
    """The creation work item: create, then drop the css reference that
    memcg_schedule_kmem_cache_create took."""
    cdef create_work *cw = <create_work *>w
    cdef kmem_cache *root = <kmem_cache *>w.owner
    WRITE_ONCE_I(&root.create_pending[cw.kmemcg_id], 0)
    memcg_create_kmem_cache(cw.memcg, root)
    css_put(cw.memcg)
    free(cw)

cdef void memcg_schedule_kmem_cache_create(mem_cgroup *memcg, kmem_cache *root, int id) noexcept nogil:
    """Queue a creation work item holding a css reference; fails quietly when
    the memcg is going offline.  The model queues at most one per (root,
    kmemcg_id) at a time (create_pending) where the kernel allocates one per
    missing-cache allocation and lets the extra ones bail out."""
    cdef create_work *cw
    if cmpxchg_I(&root.create_pending[id], 0, 1) != 0:
        return
    if not css_tryget_online(memcg):
        WRITE_ONCE_I(&root.create_pending[id], 0)
        return
    cw = <create_work *>malloc(sizeof(create_work))
    if cw == NULL:
        WRITE_ONCE_I(&root.create_pending[id], 0)
        css_put(memcg)
        return
    cw.work.func = memcg_kmem_cache_create_func
    cw.work.owner = root
    cw.work.kind = WK_CREATE
    cw.memcg = memcg
    cw.kmemcg_id = id
    count_event(CNT_CREATE_QUEUED)
    queue_work(WQ_KMEM_CACHE, &cw.work)     # memcg_kmem_cache_wq

# ---------------------------------------------------------------------------
# Worker paths: memcg_kmem_get_cache / memcg_kmem_put_cache (mm/memcontrol.c).

cdef kmem_cache *memcg_kmem_get_cache(kmem_cache *root, mem_cgroup **task_memcg) noexcept nogil:
    """The cache an allocation by a task in *task_memcg should use: its
    memcg's child cache (with a tryget reference), or the root cache."""
    cdef kmem_cache *cachep = root
    cdef kmem_cache *c
    cdef mem_cgroup *memcg
    cdef memcg_cache_array *arr
    cdef int kmemcg_id
    rcu_read_lock()
    count_event(CNT_RCU_READ)
    memcg = <mem_cgroup *>READ_ONCE_P(<void **>task_memcg)
    rcu_dereference_check("the task's memcg (mem_cgroup_from_task) in memcg_kmem_get_cache")
    if memcg == root_mem_cgroup or not memcg_ok(memcg, 3):
        rcu_read_unlock()
        return root
    kmemcg_id = READ_ONCE_I(&memcg.kmemcg_id)
    if kmemcg_id < 0:
        rcu_read_unlock()
        return root
    # rcu_dereference: pairs with the store-release in memcg_update_cache_params
    arr = <memcg_cache_array *>smp_load_acquire_P(<void **>&root.memcg_caches)
    rcu_dereference_check("root->memcg_params.memcg_caches in memcg_kmem_get_cache")
    if READ_ONCE_L(&arr.magic) != ARRAY_MAGIC:
        rcu_read_unlock()
        violationf(V_USE_AFTER_FREE, 4, 0,
                   "memcg_caches array of root %ld read after it was freed (kmemcg_id %ld)",
                   root.root_index, kmemcg_id)
        return root
    # The code updating memcg_caches issues a write barrier (smp_wmb) to
    # match the address dependency of this READ_ONCE.
    c = <kmem_cache *>READ_ONCE_P(<void **>&arr.entries[kmemcg_id])
    rcu_dereference_check("memcg_caches->entries[kmemcg_id] in memcg_kmem_get_cache")
    # open while the array grows, or while the memcg is dying: only a task
    # with current->active_memcg (a css reference, not an online one) reads
    # a dying memcg's entries, racing its offline
    ms_delay_if(DP_GET_CACHE_ENTRY, READ_ONCE_I(&memcg_caches_growing) or
                READ_ONCE_I(&memcg.state) != MEMCG_ONLINE)
    if READ_ONCE_L(&arr.magic) != ARRAY_MAGIC or <unsigned long>c == 0x6b6b6b6b6b6b6b6bUL:
        # the array was freed while this read section still used it
        rcu_read_unlock()
        violationf(V_USE_AFTER_FREE, 4, 0,
                   "memcg_caches array of root %ld freed under a reader (kmemcg_id %ld)",
                   root.root_index, kmemcg_id)
        return root
    if c == NULL:
        fr_record(EV_GET_CACHE_MISS, root.root_index, memcg.id)
        memcg_schedule_kmem_cache_create(memcg, root, kmemcg_id)
        count_event(CNT_ROOT_FALLBACK)
    elif cache_ok(c, 5):
        if percpu_ref_tryget(&c.refcnt):
            # The kill comes a grace period after the entry was cleared, so
            # a cache found in memcg_caches inside this read section cannot
            # be killed yet.
            if percpu_ref_is_dying(&c.refcnt):
                violationf(V_KILLED_ALLOC, c.id, 0,
                           "allocation got killed cache %ld (memcg %ld)", c.id, memcg.id)
                percpu_ref_put(&c.refcnt)
                count_event(CNT_ROOT_FALLBACK)
            else:
                cachep = c
        else:
            count_event(CNT_TRYGET_FAIL)
            count_event(CNT_ROOT_FALLBACK)
            fr_record(EV_TRYGET_FAIL, c.id, 0)
    else:
        count_event(CNT_ROOT_FALLBACK)
    rcu_read_unlock()
    return cachep

cdef inline void memcg_kmem_put_cache(kmem_cache *s) noexcept nogil:
    if not s.is_root:
        percpu_ref_put(&s.refcnt)

# ---------------------------------------------------------------------------
# Task migration and limits (controller): mem_cgroup_move_task /
# mem_cgroup_can_attach and memory.max (mem_cgroup_resize_max).

cdef void mem_cgroup_migrate(mem_cgroup **task_memcg, mem_cgroup *new) noexcept nogil:
    """Move a task: the new memcg's reference first, then the pointer
    (WRITE_ONCE; the task reads it under RCU), then drop the old one."""
    cdef mem_cgroup *old = task_memcg[0]
    css_get(new)
    WRITE_ONCE_P(<void **>task_memcg, new)
    css_put(old)

cdef void mem_cgroup_set_limit(mem_cgroup *m, long limit) noexcept nogil:
    """memory_max_write: the new max, then, while usage is above it, one
    drain_all_stock (the kernel then reclaims, which the model has not)."""
    WRITE_ONCE_L(&m.limit, limit)
    if READ_ONCE_L(&m.memory) > limit:
        drain_all_stock(m)
    if ms_cpu >= 0:
        fr_record(EV_LIMIT, m.id, limit)
