# model.pxi: the memcg slab model, Linux 5.3 to 5.4 (mm/memcontrol.c,
# mm/slab_common.c, mm/slub.c), in nogil Cython.
#
# Every modelled kernel function keeps its kernel name.  Every shared field
# names its lock, or says it is lock-free and how it is read.  Where the model
# departs from the kernel it says so and why, next to the code.
#
# Contexts: "worker" code runs in worker threads (alloc, free, charge,
# uncharge, get_cache); "controller" code in the controller (mkdir, rmdir,
# migrate, module caches, limits); "work" code in the workqueue thread; "rcu"
# code in RCU callbacks.  In the single-threaded differential tests one
# thread plays every role, in the same code.

cdef extern from "list.h" nogil:
    struct ms_list:
        ms_list *next
        ms_list *prev
        void *owner
    void INIT_LIST_HEAD(ms_list *h)
    void list_add(ms_list *n, ms_list *h)
    void list_add_tail(ms_list *n, ms_list *h)
    void list_del_init(ms_list *n)
    bint list_empty(const ms_list *h)
    void list_splice_init(ms_list *src, ms_list *dst)
    long list_count(const ms_list *h)

cdef extern from "percpu.h" nogil:
    int ms_cpu_owner[64]        # owner (thread id) of each per-cpu slot

cdef enum:
    BATCH = 32                  # MEMCG_CHARGE_BATCH: per-cpu stat spill threshold
    NR_SLAB_RECLAIMABLE = 0
    NR_SLAB_UNRECLAIMABLE = 1
    MAX_ROOTS = 16
    MEMCG_CACHES_MIN_SIZE = 4
    MEMCG_CACHES_MAX_SIZE = 512
    PAGE_OBJS = 64              # most objects per slab page in the model
    QUARANTINE = 64             # freed structures kept poisoned before reuse
    RCU_FLOOD = 1024            # pending RCU callbacks past which page frees wait a grace period inline

    MEMCG_ONLINE = 1
    MEMCG_OFFLINE = 2           # removed (rmdir), "dying"
    MEMCG_RELEASED = 3          # css refcount reached zero
    MEMCG_FREED = 4             # freed after a grace period (poisoned)

    KMEM_NONE = 0
    KMEM_ALLOCATED = 1
    KMEM_ONLINE = 2

    OBJ_FREE = 0x0bf7ee
    OBJ_ALLOCATED = 0x0ba110c

    MEMCG_MAGIC = 0x4d454d43
    CACHE_MAGIC = 0x4b4d4341
    ARRAY_MAGIC = 0x41525259
    PAGE_MAGIC = 0x50414745
    POISON_MAGIC = 0x6b6b6b6b   # POISON_FREE, as slab debugging writes it

    WK_BARRIER = 0
    WK_CREATE = 1               # memcg_kmem_cache_create_func
    WK_MEMCG_OFFLINE = 2        # css_killed_work_fn
    WK_MEMCG_RELEASE = 3        # css_release_work_fn
    WK_MEMCG_FREE = 4           # css_free_rwork_fn
    WK_CACHE_DEACT = 5          # kmemcg_workfn -> kmemcg_cache_deactivate_after_rcu
    WK_CACHE_SHUTDOWN = 6       # kmemcg_workfn -> kmemcg_cache_shutdown_fn

ctypedef long long i64

cdef struct work_struct:
    mpsc_node node              # first: the workqueue links through it
    void (*func)(work_struct *) noexcept nogil
    void *owner
    int kind
    long done                   # WK_BARRIER: set when it ran (smp_store_release)

cdef struct mem_cgroup:
    long magic
    long id                     # stable name (never reused) for reports and tests
    mem_cgroup *parent          # stable until freed
    int state                   # MEMCG_*: written under cgroup_mutex, READ_ONCE elsewhere
    int kmem_state              # KMEM_*: written by offline (cgroup_mutex + slab_mutex for readers under slab_mutex)
    int kmemcg_id               # written under cgroup_mutex; READ_ONCE by memcg_kmem_get_cache
    int depth
    long online_cnt             # cgroup_mutex: self + children not yet offlined (css->online_cnt)
    long nr_dying_descendants   # cgroup_mutex
    int offline_pending         # cgroup_mutex: the kill_css reference is held until the offline work ran
    ms_list sibling             # on parent->children: cgroup_mutex
    ms_list children            # cgroup_mutex
    ms_list all_node            # on memcg_all (every unfreed memcg): cgroup_mutex
    ms_list kmem_caches         # child caches whose memcg pointer names us: slab_mutex
    ms_list quarantine_node     # quarantine_lock
    long limit                  # page counter max: WRITE_ONCE by the controller, READ_ONCE by charges
    percpu_ref css
    work_struct offline_work
    work_struct release_work
    work_struct free_work
    rcu_head rcu
    long *pcpu                  # per cpu: [0..1] stat deltas, [2..3] local stats; own cpu writes
    long ck_charge              # checker scratch (world stopped)
    long ck_stat[2]
    long ck_resid[2]
    long ck_nsub
    long ck_holders
    char _pad0[64]
    long memory                 # page counter usage: lock-free atomic, hot
    char _pad1[64]
    long stat[2]                # hierarchical stats: lock-free atomic, hot
    char _pad2[64]

cdef struct kmem_cache

cdef struct memcg_cache_array:
    long magic
    int size
    rcu_head rcu
    ms_list quarantine_node
    kmem_cache **entries        # READ_ONCE by readers under RCU; written under slab_mutex

cdef struct kmem_cache:
    long magic
    long id                     # stable name (never reused)
    int is_root
    int root_index              # root: its slot in the root table; child: its root's slot
    int size
    int objects                 # objects per slab page
    int order                   # pages per slab page = 1 << order
    int reclaimable             # NR_SLAB_RECLAIMABLE or not
    int typesafe                # SLAB_TYPESAFE_BY_RCU
    int mergeable
    # ---- root caches ----
    long refcount               # slab_mutex: kmem_cache_create merges raise it
    int dying                   # memcg_kmem_wq_lock
    int flushed                 # WRITE_ONCE by kmem_cache_destroy: no child deactivation may be in flight from here on
    int unloading               # engine: workers stop using it (WRITE_ONCE by the controller)
    memcg_cache_array *memcg_caches   # RCU-protected; replaced under slab_mutex
    ms_list children            # slab_mutex: every child cache
    ms_list root_caches_node    # on slab_root_caches: slab_mutex
    int *create_pending         # per kmemcg_id: a creation work is queued (cmpxchg_I)
    # ---- child caches ----
    kmem_cache *root
    mem_cgroup *memcg           # UNSTABLE: read under RCU or slab_mutex; WRITE_ONCE under slab_mutex
    percpu_ref refcnt           # base + (1 << order) per slab page + transient trygets
    int deactivated             # slab_mutex (SLAB_DEACTIVATED)
    int shut_down               # slab_mutex: unlinked, release pending or done
    ms_list children_node       # on root->children: slab_mutex
    ms_list kmem_caches_node    # on memcg->kmem_caches: slab_mutex
    ms_list release_node        # on caches_releasing while a TYPESAFE release waits: release_lock
    rcu_head deact_rcu
    rcu_head release_rcu
    work_struct deact_work
    work_struct shutdown_work
    ms_list quarantine_node
    # ---- slab pages (both kinds) ----
    ms_spinlock list_lock
    ms_list pages               # list_lock: every live page, RCU-pending ones included
    long nr_pages               # list_lock
    long *cpu_slab              # per cpu: [0] active page, [1] freelist, [2] free count; own cpu only
    long ck_on_list             # checker scratch (world stopped)

cdef struct ms_page

cdef struct ms_object:
    mpsc_node node              # first: mailbox link
    ms_object *next_free        # freelist link (cpu freelist or page->free_remote)
    ms_page *page               # stable
    long state                  # OBJ_FREE / OBJ_ALLOCATED: written by the object's holder
    long mark                   # checkpoint epoch (checker 5)
    long from_cpu               # worker that handed it over (mailbox back-pressure)

cdef struct ms_page:
    rcu_head rcu                # TYPESAFE_BY_RCU deferred free
    long magic
    kmem_cache *cache           # stable for the page's life
    long state                  # lock-free (cmpxchg): (inuse << 1) | frozen
    ms_object *free_remote      # lock-free LIFO: any thread pushes (cmpxchg), the owner takes all (xchg)
    int rcu_pending             # list_lock: freed, waiting for a grace period
    ms_list node                # on cache->pages: list_lock
    ms_page *pool_next          # per-thread page pool
    long ck_free                # checker scratch: objects on the freezing cpu's freelist...
    long ck_epoch               # ...valid when this equals the checker's epoch
    ms_object objs[PAGE_OBJS]

# ---------------------------------------------------------------------------
# Global state.
cdef ms_mutex slab_mutex            # protects the cache lists, memcg_caches updates, kmem_caches lists
cdef ms_mutex cgroup_mutex          # protects the memcg tree, states, kmemcg ids
cdef ms_spinlock memcg_kmem_wq_lock # protects root->dying against deactivation and shutdown queuing
cdef ms_spinlock quarantine_lock
cdef ms_spinlock release_lock
cdef ms_list slab_root_caches       # slab_mutex
cdef ms_list memcg_all              # cgroup_mutex
cdef ms_list caches_releasing       # release_lock: TYPESAFE child caches waiting a grace period
cdef ms_list memcg_quarantine       # quarantine_lock
cdef ms_list cache_quarantine       # quarantine_lock
cdef ms_list array_quarantine       # quarantine_lock
cdef long nr_memcg_quarantine, nr_cache_quarantine, nr_array_quarantine   # quarantine_lock
cdef mem_cgroup *root_mem_cgroup = NULL
cdef kmem_cache *roots[MAX_ROOTS]   # slab_mutex for writes; the engine reads slots racily
cdef int memcg_nr_cache_ids = 0     # slab_mutex; READ_ONCE elsewhere
cdef int memcg_caches_growing = 0   # slab_mutex; READ_ONCE by delay injection only
cdef unsigned char kmemcg_ida[MEMCG_CACHES_MAX_SIZE]   # cgroup_mutex
cdef percpu_counter node_stat[2]    # node-global NR_SLAB_*, per-cpu batched
cdef mpsc_queue workqueue           # memcg_kmem_cache_wq (ordered; one consumer)
cdef long wq_threaded = 0           # the engine's workqueue thread consumes it
cdef long kick_gen = 0              # lock-free generation: ask cpus to flush slabs of killed or unloading caches
cdef long next_memcg_id = 0         # cgroup_mutex
cdef long next_cache_id = 0         # atomic
cdef long model_ready = 0
# global event counters for the report (atomic, slow paths only)
cdef enum:
    G_REPARENT = 0
    G_CACHE_CREATED
    G_CACHE_KILLED
    G_CACHE_SHUTDOWN
    G_MEMCG_CREATED
    G_MEMCG_OFFLINED
    G_MEMCG_RELEASED
    G_MEMCG_FREED
    G_ARRAY_GROW
    G_ROOT_DESTROYED
    G_NR
cdef long gstats[G_NR]

G_NAMES = ["reparented", "caches_created", "caches_killed", "caches_shutdown",
           "memcgs_created", "memcgs_offlined", "memcgs_released",
           "memcgs_freed", "array_grows", "roots_destroyed"]

cdef inline int stat_idx(kmem_cache *s) noexcept nogil:
    return NR_SLAB_RECLAIMABLE if s.reclaimable else NR_SLAB_UNRECLAIMABLE

# ---------------------------------------------------------------------------
# Checked pointer reads: a stale pointer to freed (poisoned) memory is
# reported instead of being used.  Quarantine keeps the memory mapped.

cdef inline bint memcg_ok(mem_cgroup *m, long ctx) noexcept nogil:
    if m == NULL:
        return False
    if READ_ONCE_L(&m.magic) != MEMCG_MAGIC:
        violationf(V_USE_AFTER_FREE, ctx, 0,
                   "read of a freed (poisoned) mem_cgroup id %ld in path %ld",
                   READ_ONCE_L(&m.id), ctx)
        return False
    return True

cdef inline bint cache_ok(kmem_cache *c, long ctx) noexcept nogil:
    if READ_ONCE_L(&c.magic) != CACHE_MAGIC:
        violationf(V_USE_AFTER_FREE, ctx, 0,
                   "read of a freed (poisoned) kmem_cache id %ld in path %ld",
                   READ_ONCE_L(&c.id), ctx)
        return False
    return True

# ---------------------------------------------------------------------------
# Quarantine: freed memcgs, caches and arrays are poisoned and reused only
# after QUARANTINE more have been freed.

cdef ms_list *quarantine_take(ms_list *q, long *n) noexcept nogil:
    """Oldest quarantined node once the quarantine is full, else NULL."""
    cdef ms_list *node = NULL
    spin_lock(&quarantine_lock)
    if n[0] > QUARANTINE:
        node = q.next
        list_del_init(node)
        n[0] -= 1
    spin_unlock(&quarantine_lock)
    return node

cdef void memcg_free_parts(mem_cgroup *m) noexcept nogil:
    """What a freed memcg still owns besides its struct (kept for reuse)."""
    percpu_ref_exit(&m.css)
    pcpu_free(m.pcpu)

cdef void cache_free_parts(kmem_cache *s) noexcept nogil:
    """What a freed cache still owns besides its struct (kept for reuse)."""
    if not s.is_root:
        percpu_ref_exit(&s.refcnt)
    pcpu_free(s.cpu_slab)
    if s.create_pending != NULL:
        free(s.create_pending)

cdef void quarantine_put(ms_list *node, ms_list *q, long *n) noexcept nogil:
    cdef bint twice
    spin_lock(&quarantine_lock)
    twice = node.next != node
    if not twice:
        list_add_tail(node, q)
        n[0] += 1
    spin_unlock(&quarantine_lock)
    if twice:
        report_violation(V_DOUBLE_FREE, <long>node.owner, 0,
                         "a freed structure was released a second time")

# ---------------------------------------------------------------------------
# The workqueue (memcg_kmem_cache_wq, ordered).

cdef inline void queue_work(work_struct *w) noexcept nogil:
    mpsc_push(&workqueue, &w.node)

cdef int wq_run_one() noexcept nogil:
    """Run the oldest queued work item; 0 when none is (visibly) queued."""
    cdef work_struct *w = <work_struct *>mpsc_pop(&workqueue)
    if w == NULL:
        return 0
    w.func(w)
    return 1

cdef void barrier_work_fn(work_struct *w) noexcept nogil:
    smp_store_release_L(&w.done, 1)    # pairs with the acquire in flush_workqueue

cdef void flush_workqueue() noexcept nogil:
    """Wait until every work item queued before the call has run."""
    cdef work_struct b
    cdef timespec ts
    b.func = barrier_work_fn
    b.owner = NULL
    b.kind = WK_BARRIER
    b.done = 0
    queue_work(&b)
    if READ_ONCE_L(&wq_threaded):
        ts.tv_sec = 0
        ts.tv_nsec = 20000
        while not smp_load_acquire_L(&b.done):
            nanosleep(&ts, NULL)
    else:
        while not b.done:
            if not wq_run_one():
                break

# ---------------------------------------------------------------------------
# Per-cpu memcg statistics (__mod_memcg_state, 5.3).

cdef inline bint pcpu_owner_ok() noexcept nogil:
    cdef int cpu = ms_cpu
    if cpu < 0 or cpu >= ms_nr_cpu_ids or ms_cpu_owner[cpu] != ms_thread_id():
        violationf(V_PCPU_OWNER, cpu, 0,
                   "per-cpu slot %ld written by thread %ld that does not own it",
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
        p = per_cpu_ptr_L(memcg.pcpu, cpu)
        for i in range(2):
            sums[i] += READ_ONCE_L(&p[i])
            WRITE_ONCE_L(&p[i], 0)
    ms_delay(DP_FLUSH_STATS)
    if MUTANT(M_NO_FLUSH_ON_FREE):
        return
    mi = memcg
    while mi != NULL:
        for i in range(2):
            if sums[i]:
                atomic_add_L(&mi.stat[i], sums[i])
        mi = mi.parent

# ---------------------------------------------------------------------------
# Page counters (mm/page_counter.c), hierarchical, root included (the kernel
# skips the root's counter; the model charges it so that the root's charge is
# checkable, as DESIGN.md asks).

cdef bint page_counter_try_charge(mem_cgroup *memcg, long nr) noexcept nogil:
    cdef mem_cgroup *c = memcg
    cdef mem_cgroup *u
    cdef long new
    while c != NULL:
        new = add_return_L(&c.memory, nr)       # fully ordered, like atomic_long_add_return
        if new > READ_ONCE_L(&c.limit):
            atomic_add_L(&c.memory, -nr)
            u = memcg
            while u != c:
                atomic_add_L(&u.memory, -nr)
                u = u.parent
            return False
        c = c.parent
    return True

cdef void page_counter_uncharge(mem_cgroup *memcg, long nr) noexcept nogil:
    cdef mem_cgroup *c = memcg
    cdef long new
    while c != NULL:
        new = add_return_L(&c.memory, -nr)
        # Only an online memcg's counter must stay exact.  A dying child's
        # may go below zero: a charge made after its css was killed walks up
        # to the parent, and a free before the reparenting uncharges the
        # child's chain (the kernel's page_counter_cancel would WARN).
        if new < 0 and READ_ONCE_I(&c.state) == MEMCG_ONLINE:
            violationf(V_REF_NEGATIVE, c.id, new,
                       "page counter of online memcg %ld went negative (%ld)", c.id, new)
        c = c.parent

# ---------------------------------------------------------------------------
# css references (percpu_ref semantics through the primitives).

cdef inline void css_get(mem_cgroup *m) noexcept nogil:
    percpu_ref_get(&m.css)

cdef inline void css_get_many(mem_cgroup *m, long n) noexcept nogil:
    percpu_ref_get_many(&m.css, n)

cdef inline void css_put(mem_cgroup *m) noexcept nogil:
    percpu_ref_put(&m.css)

cdef inline bint css_tryget_online(mem_cgroup *m) noexcept nogil:
    return percpu_ref_tryget_live(&m.css)

# ---------------------------------------------------------------------------
# memcg life cycle.

cdef void css_free_rwork_fn(work_struct *w) noexcept nogil:
    """Work, a grace period after the release: flush the residues, drop the
    reference on the parent, poison and quarantine (mem_cgroup_css_free)."""
    cdef mem_cgroup *memcg = <mem_cgroup *>w.owner
    cdef mem_cgroup *parent = memcg.parent
    memcg_flush_percpu_vmstats(memcg)
    ms_mutex_lock(&cgroup_mutex)
    list_del_init(&memcg.all_node)
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
    queue_work(&memcg.free_work)

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
        css_free_rcu_fn(&memcg.rcu)     # rcu-busted: no grace period at all
    else:
        call_rcu(&memcg.rcu, css_free_rcu_fn)

cdef void mem_cgroup_css_released(percpu_ref *ref) noexcept nogil:
    """percpu_ref release: runs in whichever thread dropped the last
    reference; the rest happens in the workqueue (css_release)."""
    cdef mem_cgroup *memcg = <mem_cgroup *>ref.owner
    queue_work(&memcg.release_work)

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

# ---- kmemcg ids (memcg_alloc_cache_id / memcg_free_cache_id) ----

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
    if new == NULL:
        return -1
    for i in range(old.size):
        new.entries[i] = old.entries[i]
    ms_delay(DP_ARRAY_GROW)
    # rcu_assign_pointer: the entries above are visible before the array is;
    # pairs with the acquire in memcg_kmem_get_cache.
    smp_store_release_P(<void **>&s.memcg_caches, new)
    if MUTANT(M_ARRAY_FREE_WITHOUT_GRACE_PERIOD) or MUTANT(M_RCU_BUSTED):
        free_memcg_cache_array_rcu(&old.rcu)    # a deliberate bug: readers may still hold it
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
    list_add_tail(&m.all_node, &memcg_all)
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
    queue_work(&memcg.offline_work)

cdef void css_killed_work_fn(work_struct *w) noexcept nogil:
    """Offline the memcg, then every ancestor whose last online child this
    was (the online_cnt walk of the kernel's css_killed_work_fn)."""
    cdef mem_cgroup *memcg = <mem_cgroup *>w.owner
    cdef mem_cgroup *m = memcg
    ms_mutex_lock(&cgroup_mutex)
    m.online_cnt -= 1
    while m != NULL and m.online_cnt == 0 and m.offline_pending:
        memcg_offline_kmem(m)
        m.offline_pending = 0
        atomic_add_L(&gstats[G_MEMCG_OFFLINED], 1)
        css_put(m)                      # the reference kill_css took
        m = m.parent
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
    css_get(memcg)                      # kill_css: held until the offline work ran
    if MUTANT(M_RCU_BUSTED):
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
    n = m.children.next
    while n != &m.children:
        set_kmemcg_id_subtree(<mem_cgroup *>n.owner, old_id, new_id)
        n = n.next

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
    cdef bint locked = not MUTANT(M_REPARENT_WITHOUT_SLAB_MUTEX)
    ms_mutex_lock(&slab_mutex)
    n = slab_root_caches.next
    while n != &slab_root_caches:
        s = <kmem_cache *>n.owner
        arr = s.memcg_caches
        c = arr.entries[idx]
        if c != NULL:
            kmemcg_cache_deactivate(c)
            if not MUTANT(M_ENTRIES_NOT_CLEARED):
                WRITE_ONCE_P(<void **>&arr.entries[idx], NULL)
        n = n.next
    if model_mode == MODE_LEGACY:
        ms_mutex_unlock(&slab_mutex)
        return
    if not locked:
        # a deliberate bug: the reparenting below runs without slab_mutex
        ms_mutex_unlock(&slab_mutex)
    nr_reparented = 0
    n = memcg.kmem_caches.next
    while n != &memcg.kmem_caches:
        s = <kmem_cache *>n.owner
        # kmem_caches lists and the memcg pointer are protected by slab_mutex
        # (rcu_dereference_protected(..., lockdep_is_held(&slab_mutex))).
        lockdep_assert_held_mutex(&slab_mutex)
        WRITE_ONCE_P(<void **>&s.memcg, parent)     # readers: READ_ONCE under RCU
        ms_delay(DP_REPARENT_SWAP)
        if not MUTANT(M_NO_CHILD_CSS_PUT):
            css_put(memcg)
        nr_reparented += 1
        atomic_add_L(&gstats[G_REPARENT], 1)
        fr_record(EV_REPARENT, s.id, parent.id)
        n = n.next
    if nr_reparented:
        list_splice_init(&memcg.kmem_caches, &parent.kmem_caches)
        ms_delay(DP_REPARENT_SPLICE)
        if not MUTANT(M_NO_PARENT_CSS_GET):
            css_get_many(parent, nr_reparented)
    if locked:
        ms_mutex_unlock(&slab_mutex)

# ---------------------------------------------------------------------------
# Child cache deactivation, kill and shutdown.

cdef void kmemcg_cache_deactivate(kmem_cache *s) noexcept nogil:
    """Called with slab_mutex held."""
    cdef kmem_cache *root = s.root
    if READ_ONCE_I(&root.dying):
        return
    s.deactivated = 1
    fr_record(EV_CACHE_DEACTIVATE, s.id, 0)
    # memcg_kmem_wq_lock synchronizes root->dying with the queuing of the
    # deactivation, so that flush_memcg_workqueue() sees every queued one.
    if MUTANT(M_DYING_FLAG_UNLOCKED):
        # a deliberate bug: test and queue without memcg_kmem_wq_lock
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
            kill_now = True                         # a deliberate bug: no grace period
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
        queue_work(&s.deact_work)

cdef void kmemcg_deact_workfn(work_struct *w) noexcept nogil:
    cdef kmem_cache *s = <kmem_cache *>w.owner
    ms_mutex_lock(&slab_mutex)
    if deactivation_ok(s, 1):   # under slab_mutex: a shutdown cannot slip in after the test
        kmemcg_cache_deactivate_after_rcu(s)
    ms_mutex_unlock(&slab_mutex)

cdef void kmemcg_cache_deactivate_after_rcu(kmem_cache *s) noexcept nogil:
    """Kill the cache's refcount; ask every cpu to flush its slab of it (the
    shrink of __kmemcg_cache_deactivate_after_rcu, an IPI in the kernel)."""
    ms_delay(DP_CACHE_KILL)
    fr_record(EV_CACHE_KILL, s.id, 0)
    atomic_add_L(&gstats[G_CACHE_KILLED], 1)
    percpu_ref_kill(&s.refcnt)
    fetch_add_L(&kick_gen, 1)           # fully ordered: the kill is visible first

cdef void kmemcg_cache_shutdown(percpu_ref *ref) noexcept nogil:
    """percpu_ref release of a child cache: queue its shutdown unless the
    root is dying (kmem_cache_destroy then shuts it down itself)."""
    cdef kmem_cache *s = <kmem_cache *>ref.owner
    spin_lock(&memcg_kmem_wq_lock)
    if not s.root.dying:
        queue_work(&s.shutdown_work)
    spin_unlock(&memcg_kmem_wq_lock)

cdef void kmemcg_shutdown_workfn(work_struct *w) noexcept nogil:
    cdef kmem_cache *s = <kmem_cache *>w.owner
    ms_mutex_lock(&slab_mutex)
    if cache_ok(s, 2):
        shutdown_cache(s)
    ms_mutex_unlock(&slab_mutex)

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

cdef int shutdown_cache(kmem_cache *s) noexcept nogil:
    """Unlink an empty child cache and release it (TYPESAFE_BY_RCU caches a
    grace period later, after their pending page frees).  -1 when the cache
    still has pages.  Called with slab_mutex held."""
    cdef long pages
    lockdep_assert_held_mutex(&slab_mutex)
    if s.shut_down:
        return 0
    if slabs_in_use(s):
        return -1
    s.shut_down = 1
    fr_record(EV_CACHE_SHUTDOWN, s.id, 0)
    atomic_add_L(&gstats[G_CACHE_SHUTDOWN], 1)
    list_del_init(&s.children_node)
    list_del_init(&s.kmem_caches_node)
    if s.typesafe:
        # slab_caches_to_rcu_destroy: the model waits one grace period by
        # call_rcu rather than rcu_barrier() in a work item.
        spin_lock(&release_lock)
        list_add_tail(&s.release_node, &caches_releasing)
        spin_unlock(&release_lock)
        s.release_rcu.owner = s
        call_rcu(&s.release_rcu, slab_kmem_cache_release_rcu)
    else:
        slab_kmem_cache_release(s)
    return 0

cdef void slab_kmem_cache_release_rcu(rcu_head *head) noexcept nogil:
    cdef kmem_cache *s = <kmem_cache *>head.owner
    spin_lock(&release_lock)
    list_del_init(&s.release_node)
    spin_unlock(&release_lock)
    slab_kmem_cache_release(s)

cdef void slab_kmem_cache_release(kmem_cache *s) noexcept nogil:
    """Drop the memcg reference (whatever memcg the pointer names now) and
    free the cache: poisoned and quarantined."""
    cdef mem_cgroup *memcg = s.memcg
    fr_record(EV_CACHE_RELEASE, s.id, memcg.id if memcg != NULL else -1)
    WRITE_ONCE_L(&s.magic, POISON_MAGIC)
    quarantine_put(&s.quarantine_node, &cache_quarantine, &nr_cache_quarantine)
    if memcg != NULL:
        css_put(memcg)

# ---------------------------------------------------------------------------
# Cache creation.

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
    INIT_LIST_HEAD(&s.pages)
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
    queue_work(&cw.work)

cdef void memcg_create_kmem_cache(mem_cgroup *memcg, kmem_cache *root) noexcept nogil:
    cdef memcg_cache_array *arr
    cdef kmem_cache *s
    cdef int idx
    ms_mutex_lock(&slab_mutex)
    # The memory cgroup could have been offlined while the creation work was
    # pending (M_CREATE_AFTER_OFFLINE leaves this test out).
    if (memcg.kmem_state != KMEM_ONLINE and not MUTANT(M_CREATE_AFTER_OFFLINE)) \
            or READ_ONCE_I(&root.dying) or memcg.kmemcg_id < 0:
        ms_mutex_unlock(&slab_mutex)
        return
    idx = memcg.kmemcg_id
    arr = root.memcg_caches
    # Several allocations may have asked for the same cache; one succeeds.
    if arr.entries[idx] != NULL:
        ms_mutex_unlock(&slab_mutex)
        return
    s = kmem_cache_alloc_struct()
    if s == NULL:
        ms_mutex_unlock(&slab_mutex)
        return
    s.is_root = 0
    s.root = root
    s.root_index = root.root_index
    s.size = root.size
    s.objects = root.objects
    s.order = root.order
    s.reclaimable = root.reclaimable
    s.typesafe = root.typesafe
    if percpu_ref_init(&s.refcnt, kmemcg_cache_shutdown, s) != 0:
        ms_mutex_unlock(&slab_mutex)
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
    ms_delay(DP_CREATE_PUBLISH)
    # Readers do not lock: the cache must be complete before it is visible.
    # Pairs with READ_ONCE(arr->entries[id]) (address dependency) in
    # memcg_kmem_get_cache.
    smp_wmb()
    WRITE_ONCE_P(<void **>&arr.entries[idx], s)
    atomic_add_L(&gstats[G_CACHE_CREATED], 1)
    fr_record(EV_CACHE_CREATE, s.id, memcg.id)
    ms_mutex_unlock(&slab_mutex)

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
    ms_mutex_lock(&slab_mutex)
    if not typesafe:
        for i in range(MAX_ROOTS):
            s = roots[i]
            if s != NULL and s.mergeable and not s.dying and not s.unloading and s.size == size \
                    and s.objects == objects and s.order == order \
                    and s.reclaimable == reclaimable:
                s.refcount += 1
                ms_mutex_unlock(&slab_mutex)
                if ms_cpu >= 0:
                    fr_record(EV_ROOT_CREATE, i, s.refcount)
                return i
    for i in range(MAX_ROOTS):
        if roots[i] == NULL:
            slot = i
            break
    if slot < 0 or objects < 1 or objects > PAGE_OBJS:
        ms_mutex_unlock(&slab_mutex)
        return -1
    s = kmem_cache_alloc_struct()
    if s == NULL:
        ms_mutex_unlock(&slab_mutex)
        return -1
    s.is_root = 1
    s.root_index = slot
    s.size = size
    s.objects = objects
    s.order = order
    s.reclaimable = reclaimable
    s.typesafe = typesafe
    s.mergeable = 0 if typesafe else 1
    s.refcount = 1
    ids = READ_ONCE_I(&memcg_nr_cache_ids)
    s.memcg_caches = memcg_cache_array_alloc(ids if ids > 0 else MEMCG_CACHES_MIN_SIZE)
    s.create_pending = <int *>calloc(MEMCG_CACHES_MAX_SIZE, sizeof(int))
    list_add_tail(&s.root_caches_node, &slab_root_caches)
    roots[slot] = s
    ms_mutex_unlock(&slab_mutex)
    if ms_cpu >= 0:
        fr_record(EV_ROOT_CREATE, slot, 1)
    return slot

cdef void flush_all_cpu_slabs(kmem_cache *s) noexcept nogil:
    """flush_all() for a cache being destroyed: unfreeze every cpu's slab.
    Safe only when no cpu uses the cache any more (the engine made sure)."""
    cdef int cpu, i
    cdef long *slot
    cdef ms_thread *t
    for cpu in range(ms_nr_cpu_ids):
        slot = per_cpu_ptr_L(s.cpu_slab, cpu)
        if slot[0] != 0:
            deactivate_slab(s, slot)
        t = &ms_threads[cpu]
        i = 0
        while i < t.nr_active:
            if t.active[i] == <void *>s:
                t.nr_active -= 1
                t.active[i] = t.active[t.nr_active]
            else:
                i += 1

cdef int kmem_cache_destroy(int index) noexcept nogil:
    """Drop a reference on the root cache; at zero mark it dying, flush the
    deactivation callbacks and works, shut the children down, then the
    root.  -1 (and nothing changes but the refcount) when objects remain."""
    cdef kmem_cache *s = roots[index]
    cdef ms_list *n
    cdef ms_list *nx
    cdef kmem_cache *c
    cdef memcg_cache_array *arr
    cdef int i, busy = 0
    if s == NULL:
        return -1
    ms_mutex_lock(&slab_mutex)
    s.refcount -= 1
    if s.refcount > 0:
        ms_mutex_unlock(&slab_mutex)
        fr_record(EV_ROOT_DESTROY, index, s.refcount)
        return 0
    ms_mutex_unlock(&slab_mutex)
    # Nothing stops a memcg offline from deactivating children of this root
    # between here and the dying store below: memcg_kmem_wq_lock must.
    ms_delay(DP_DESTROY_DYING)
    atomic_add_L(&gstats[G_ROOT_DESTROYED], 1)
    # flush_memcg_workqueue()
    if MUTANT(M_DYING_FLAG_UNLOCKED):
        WRITE_ONCE_I(&s.dying, 1)
    else:
        spin_lock(&memcg_kmem_wq_lock)
        s.dying = 1
        spin_unlock(&memcg_kmem_wq_lock)
    rcu_barrier()           # deactivations queued through call_rcu
    flush_workqueue()       # their works, and pending creations
    WRITE_ONCE_I(&s.flushed, 1)
    # Racing with children's deactivation, their kills may need another grace
    # period to switch to atomic mode (the children list cannot grow now).
    if not list_empty(&s.children):
        rcu_barrier()
    ms_mutex_lock(&slab_mutex)
    flush_all_cpu_slabs(s)
    # shutdown_memcg_caches(): the active children, then the deactivated ones
    arr = s.memcg_caches
    n = s.children.next
    while n != &s.children:
        nx = n.next
        c = <kmem_cache *>n.owner
        flush_all_cpu_slabs(c)
        n = nx
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
    if slabs_in_use(s):
        busy = 1
    if busy:
        ms_mutex_unlock(&slab_mutex)
        report_violation(V_LEAK, index, 0,
                         "kmem_cache_destroy: slab cache still has objects")
        return -1
    list_del_init(&s.root_caches_node)
    roots[index] = NULL
    fr_record(EV_ROOT_DESTROY, index, 0)
    ms_mutex_unlock(&slab_mutex)
    # the root's own memcg_caches array goes a grace period later, and so
    # does a TYPESAFE_BY_RCU root, after its pending page frees
    call_rcu(&arr.rcu, free_memcg_cache_array_rcu)
    if s.typesafe:
        s.release_rcu.owner = s
        call_rcu(&s.release_rcu, root_cache_release_rcu)
    else:
        root_cache_release(s)
    return 0

cdef void root_cache_release(kmem_cache *s) noexcept nogil:
    WRITE_ONCE_L(&s.magic, POISON_MAGIC)
    quarantine_put(&s.quarantine_node, &cache_quarantine, &nr_cache_quarantine)

cdef void root_cache_release_rcu(rcu_head *head) noexcept nogil:
    root_cache_release(<kmem_cache *>head.owner)

# ---------------------------------------------------------------------------
# Worker paths: memcg_kmem_get_cache / memcg_kmem_put_cache.

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
    if memcg == root_mem_cgroup or not memcg_ok(memcg, 3):
        rcu_read_unlock()
        return root
    kmemcg_id = READ_ONCE_I(&memcg.kmemcg_id)
    if kmemcg_id < 0:
        rcu_read_unlock()
        return root
    # rcu_dereference: pairs with the store-release in memcg_update_cache_params
    arr = <memcg_cache_array *>smp_load_acquire_P(<void **>&root.memcg_caches)
    if READ_ONCE_L(&arr.magic) != ARRAY_MAGIC:
        rcu_read_unlock()
        violationf(V_USE_AFTER_FREE, 4, 0,
                   "memcg_caches array of root %ld read after it was freed (kmemcg_id %ld)",
                   root.root_index, kmemcg_id)
        return root
    # The code updating memcg_caches issues a write barrier (smp_wmb) to
    # match the address dependency of this READ_ONCE.
    c = <kmem_cache *>READ_ONCE_P(<void **>&arr.entries[kmemcg_id])
    ms_delay_if(DP_GET_CACHE_ENTRY, READ_ONCE_I(&memcg_caches_growing))
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
# memcg_charge_slab / memcg_uncharge_slab.

cdef int memcg_charge_slab(kmem_cache *s, int order) noexcept nogil:
    """Charge a new slab page of child cache s: 0, or -1 over a limit."""
    cdef long nr = 1 << order
    cdef mem_cgroup *memcg
    if model_mode == MODE_LEGACY:
        # Before the series the cache pins its memcg: charge it directly.
        memcg = s.memcg
        if not memcg_ok(memcg, 6):
            return -1
        css_get(memcg)
    else:
        rcu_read_lock()
        count_event(CNT_RCU_READ)
        memcg = <mem_cgroup *>READ_ONCE_P(<void **>&s.memcg)
        ms_delay_if(DP_CHARGE_MEMCG, memcg != NULL and
                    (READ_ONCE_I(&memcg.state) != MEMCG_ONLINE or READ_ONCE_I(&s.deactivated)))
        if not memcg_ok(memcg, 7):
            rcu_read_unlock()
            return -1
        if MUTANT(M_CHARGE_OFFLINE_MEMCG):
            # a deliberate bug: charge whatever the pointer names, offline or not
            if not percpu_ref_tryget(&memcg.css):
                rcu_read_unlock()
                return -1
        else:
            while memcg != NULL and not css_tryget_online(memcg):
                memcg = memcg.parent
        rcu_read_unlock()
        if memcg == NULL:
            return -1
    if not page_counter_try_charge(memcg, nr):
        count_event(CNT_CHARGE_FAIL)
        fr_record(EV_CHARGE_FAIL, s.id, memcg.id)
        css_put(memcg)
        return -1
    mod_memcg_state(memcg, stat_idx(s), nr)
    mod_node_state(stat_idx(s), nr)
    percpu_ref_get_many(&s.refcnt, nr)
    fr_record(EV_CHARGE, s.id, memcg.id)
    css_put(memcg)
    return 0

cdef void memcg_uncharge_slab(kmem_cache *s, int order) noexcept nogil:
    """Uncharge whatever memcg the cache names now, then drop the page's
    references on the cache (after: the put may free the cache)."""
    cdef long nr = 1 << order
    cdef mem_cgroup *memcg
    cdef bint protected = not MUTANT(M_MEMCG_READ_UNPROTECTED)
    if MUTANT(M_CACHE_PUT_BEFORE_UNCHARGE):
        percpu_ref_put_many(&s.refcnt, nr)      # a deliberate bug: s may be freed below
        if not cache_ok(s, 8):
            return
    if protected:
        rcu_read_lock()
        count_event(CNT_RCU_READ)
    memcg = <mem_cgroup *>READ_ONCE_P(<void **>&s.memcg)
    ms_delay_if(DP_UNCHARGE_MEMCG, memcg != NULL and
                (READ_ONCE_I(&memcg.state) != MEMCG_ONLINE or percpu_ref_is_dying(&s.refcnt)))
    # The page's references pin the cache until the put below.
    if not cache_ok(s, 11):
        if protected:
            rcu_read_unlock()
        return
    if memcg_ok(memcg, 9):
        mod_memcg_state(memcg, stat_idx(s), -nr)
        page_counter_uncharge(memcg, nr)
        memcg_ok(memcg, 10)        # still alive after the update?
        fr_record(EV_PAGE_FREE, s.id, memcg.id)
    if protected:
        rcu_read_unlock()
    mod_node_state(stat_idx(s), -nr)
    ms_delay_if(DP_PAGE_FREE_PUT, percpu_ref_is_dying(&s.refcnt))
    if not MUTANT(M_CACHE_PUT_BEFORE_UNCHARGE):
        percpu_ref_put_many(&s.refcnt, nr)

# ---------------------------------------------------------------------------
# Slab pages (after SLUB: a per-cpu slab with a private freelist, a remote
# free list any thread pushes to, and an (inuse, frozen) word).

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
    if s.is_root:
        mod_node_state(stat_idx(s), nr)
    elif memcg_charge_slab(s, s.order) != 0:
        page_pool_put(page)
        return NULL
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
        memcg_uncharge_slab(s, s.order)
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
            __free_slab(page)
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

cdef void note_active(kmem_cache *s) noexcept nogil:
    cdef ms_thread *t = this_thread()
    cdef int i
    for i in range(t.nr_active):
        if t.active[i] == <void *>s:
            return
    if t.nr_active < MAX_ACTIVE:
        t.active[t.nr_active] = s
        t.nr_active += 1
    else:
        # full: give up the oldest slab, so every frozen page stays tracked
        # (an untracked one would never be flushed, and its cache never die)
        deactivate_slab(<kmem_cache *>t.active[0], cpu_slab_of(<kmem_cache *>t.active[0]))
        t.active[0] = s

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
    note_active(s)
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

cdef void flush_cpu_slabs(bint all_caches) noexcept nogil:
    """This cpu's answer to a kick: unfreeze its slabs of killed or unloading
    caches (or of every cache when all_caches)."""
    cdef ms_thread *t = this_thread()
    cdef int i = 0
    cdef kmem_cache *s
    cdef long flushed = 0
    cdef bint flush
    while i < t.nr_active:
        s = <kmem_cache *>t.active[i]
        if READ_ONCE_L(&s.magic) != CACHE_MAGIC:
            # shut down since this cpu's slab of it emptied: nothing to flush
            t.nr_active -= 1
            t.active[i] = t.active[t.nr_active]
            continue
        if all_caches:
            flush = True
        elif s.is_root:
            flush = READ_ONCE_I(&s.unloading)
        else:
            flush = READ_ONCE_I(&s.root.unloading) or percpu_ref_is_dying(&s.refcnt)
        if flush:
            deactivate_slab(s, cpu_slab_of(s))
            t.nr_active -= 1
            t.active[i] = t.active[t.nr_active]
            flushed += 1
        else:
            i += 1
    if flushed:
        fr_record(EV_KICK, flushed, 0)

cdef inline void poll_kick() noexcept nogil:
    cdef ms_thread *t = this_thread()
    cdef long g = READ_ONCE_L(&kick_gen)
    if g != t.kick_seen:
        smp_rmb()       # the kill or unloading flag before the caches' state
        flush_cpu_slabs(False)
        # Only now is the kick answered: the controller, which waits for it
        # (workers_saw) before destroying a root, must find our slabs of it
        # flushed.  Pairs with smp_load_acquire_L in workers_saw.
        smp_store_release_L(&t.kick_seen, g)

# ---------------------------------------------------------------------------
# The allocation and free entry points used by workers.

cdef ms_object *kmem_cache_alloc(kmem_cache *root, mem_cgroup **task_memcg) noexcept nogil:
    cdef kmem_cache *s = memcg_kmem_get_cache(root, task_memcg)
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
# Task migration and limits (controller).

cdef void mem_cgroup_migrate(mem_cgroup **task_memcg, mem_cgroup *new) noexcept nogil:
    """Move a task: the new memcg's reference first, then the pointer
    (WRITE_ONCE; the task reads it under RCU), then drop the old one."""
    cdef mem_cgroup *old = task_memcg[0]
    css_get(new)
    WRITE_ONCE_P(<void **>task_memcg, new)
    css_put(old)

cdef void mem_cgroup_set_limit(mem_cgroup *m, long limit) noexcept nogil:
    WRITE_ONCE_L(&m.limit, limit)
    if ms_cpu >= 0:
        fr_record(EV_LIMIT, m.id, limit)

# ---------------------------------------------------------------------------
# Set-up and tear-down of the model (between runs, single-threaded).

cdef void memcg_struct_free(mem_cgroup *m) noexcept nogil:
    memcg_free_parts(m)
    free(m)

cdef void cache_struct_free(kmem_cache *s) noexcept nogil:
    cache_free_parts(s)
    free(s)

cdef void array_struct_free(memcg_cache_array *arr) noexcept nogil:
    free(arr.entries)
    free(arr)

cdef void quarantine_free_all(ms_list *q, int kind) noexcept nogil:
    cdef ms_list *n
    while not list_empty(q):
        n = q.next
        list_del_init(n)
        if kind == 0:
            memcg_struct_free(<mem_cgroup *>n.owner)
        elif kind == 1:
            cache_struct_free(<kmem_cache *>n.owner)
        else:
            array_struct_free(<memcg_cache_array *>n.owner)

cdef void model_release() noexcept nogil:
    """Free what the previous model left (between runs, single-threaded,
    after its queued works and RCU callbacks ran): the quarantines, the
    node counters and, when it was drained (only root left, no child cache,
    no page), the root caches and root_mem_cgroup.  A model left mid-way
    (a test's Model) keeps the rest: leaked, never touched again."""
    global model_ready, root_mem_cgroup
    cdef int i
    cdef bint drained
    cdef kmem_cache *s
    if not model_ready:
        return
    quarantine_free_all(&memcg_quarantine, 0)
    quarantine_free_all(&cache_quarantine, 1)
    quarantine_free_all(&array_quarantine, 2)
    percpu_counter_destroy(&node_stat[0])
    percpu_counter_destroy(&node_stat[1])
    drained = memcg_all.next.next == &memcg_all and memcg_all.next.owner == <void *>root_mem_cgroup
    for i in range(MAX_ROOTS):
        s = roots[i]
        if s != NULL and (not list_empty(&s.children) or not list_empty(&s.pages)):
            drained = False
    if drained:
        for i in range(MAX_ROOTS):
            s = roots[i]
            if s != NULL:
                array_struct_free(s.memcg_caches)
                cache_struct_free(s)
                roots[i] = NULL
        memcg_struct_free(root_mem_cgroup)
        root_mem_cgroup = NULL
    model_ready = 0

cdef int model_init(int mode, int mut) noexcept nogil:
    global root_mem_cgroup, memcg_nr_cache_ids, next_memcg_id, next_cache_id
    global model_mode, mutant, kick_gen, wq_threaded, model_ready
    global nr_memcg_quarantine, nr_cache_quarantine, nr_array_quarantine
    cdef int i
    model_release()
    page_pools_release()
    model_mode = mode
    mutant = mut
    ms_mutex_init(&slab_mutex)
    ms_mutex_init(&cgroup_mutex)
    spin_lock_init(&memcg_kmem_wq_lock)
    spin_lock_init(&quarantine_lock)
    spin_lock_init(&release_lock)
    spin_lock_init(&page_pool_lock)
    INIT_LIST_HEAD(&slab_root_caches)
    INIT_LIST_HEAD(&memcg_all)
    INIT_LIST_HEAD(&caches_releasing)
    INIT_LIST_HEAD(&memcg_quarantine)
    INIT_LIST_HEAD(&cache_quarantine)
    INIT_LIST_HEAD(&array_quarantine)
    nr_memcg_quarantine = 0
    nr_cache_quarantine = 0
    nr_array_quarantine = 0
    for i in range(MAX_ROOTS):
        roots[i] = NULL
    memset(kmemcg_ida, 0, sizeof(kmemcg_ida))
    memset(gstats, 0, sizeof(gstats))
    memcg_nr_cache_ids = 0
    next_memcg_id = 0
    next_cache_id = 0
    kick_gen = 0
    wq_threaded = 0
    mpsc_init(&workqueue)
    if percpu_counter_init(&node_stat[0], BATCH) != 0 or \
            percpu_counter_init(&node_stat[1], BATCH) != 0:
        return -1
    root_mem_cgroup = mem_cgroup_create(NULL)
    if root_mem_cgroup == NULL:
        return -1
    model_ready = 1
    return 0
