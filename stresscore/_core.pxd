# cython: language_level=3
"""Shared declarations of stresscore._core (the .pxd of _core.pyx; Cython
reads it before the .pyx, so every room of _core.pyx sees it).

What more than one room of the model uses: its constants, its structures
(one per kernel structure it models), and the forward declarations of the
functions that one room calls in a room included after it.  memcontrol
and slab_common call each other, as the kernel's memcontrol.c and
slab_common.c do; the kernel solves it with headers (mm/slab.h,
include/linux/memcontrol.h), the model with this file.

Every shared field names its lock, or says it is lock-free and how it is
read.  The C declarations (primitives, mutant table, C library) are in
primitives.pxd.
"""
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memset, memcpy, memcmp, strncpy
from libc.stdio cimport snprintf
from stresscore.primitives cimport *

# ---------------------------------------------------------------------------
# Constants of the model.
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
    WK_RCU_DESTROY = 7          # slab_caches_to_rcu_destroy_workfn
    WK_SYSFS_REMOVE = 8         # sysfs_slab_remove_workfn (system_wq)

    KN_DEACTIVATED_BIAS = -1000000000   # kernfs: added to kn->active when the node is removed

# ---------------------------------------------------------------------------
# Structures.

cdef struct work_struct:
    mpsc_node node              # first: the workqueue links through it
    void (*func)(work_struct *) noexcept nogil
    void *owner
    int kind
    long done                   # WK_BARRIER: set when it ran (smp_store_release)
    long pending                # schedule_work: queued, not yet started (cmpxchg; cleared when it starts)

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
    long ck_local[2]            # checker scratch: local stats of the subtree
    long local_lost[2]          # cgroup_mutex: local stats of freed descendants, folded in at their free (checker ledger)
    long lost_memory            # cgroup_mutex: page counters of freed children at their free (checker ledger, root's check)
    long lost_stat[2]           # cgroup_mutex: hierarchical stats of freed children at their free (checker ledger)
    long failcnt                # page counter failcnt: atomic (the kernel's is a racy ++)
    unsigned long long offline_ns   # rmdir time while the offline is pending (stall check); 0 otherwise
    char *q_shadow              # quarantine_lock: the image at free, verified at reuse (write-after-free)
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
    char *q_shadow              # quarantine_lock: the image at free (struct, then entries)

cdef struct kmem_cache:
    long magic
    long id                     # stable name (never reused)
    int is_root
    int root_index              # root: its slot in the root table; child: its root's slot
    int size
    int objects                 # objects per slab page
    int order                   # pages per slab page = 1 << order (oo)
    int min_order               # the fallback order (s->min: get_order(size))
    int min_objects             # objects per slab page at min_order
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
    long release_batch          # release_lock: the slab_caches_to_rcu_destroy_workfn run that took it (0: none yet)
    rcu_head deact_rcu
    rcu_head release_rcu
    work_struct deact_work
    work_struct shutdown_work
    ms_list quarantine_node
    char *q_shadow              # quarantine_lock: the image at free, verified at reuse
    # ---- slab pages (both kinds) ----
    ms_spinlock list_lock
    ms_list pages               # list_lock: every live page, RCU-pending ones included
    long nr_pages               # list_lock
    long *cpu_slab              # per cpu: [0] active page, [1] freelist, [2] free count, [3] partial (ms_page *); own cpu only
    ms_list partial             # list_lock: the node's partial list (kmem_cache_node.partial; one node)
    long nr_partial             # list_lock
    long min_partial            # WRITE_ONCE: empty slabs the node list keeps (set_min_partial; 0 once deactivated)
    int cpu_partial             # WRITE_ONCE: free objects a cpu's partial list holds (set_cpu_partial; 0 once deactivated)
    long ck_on_list             # checker scratch (world stopped)
    # ---- sysfs (/sys/kernel/slab/<cache>, mm/slub.c) ----
    long kobj_ref               # atomic: the kobject's reference count; its release frees the cache
    int in_sysfs                # sysfs_lock: kobj.state_in_sysfs (added, not yet kobject_del'd)
    long kn_active              # atomic: kernfs active references of its files; + KN_DEACTIVATED_BIAS once removed
    work_struct kobj_remove_work    # sysfs_slab_remove_workfn on system_wq
    ms_list sysfs_node          # sysfs_lock: on sysfs_caches while in sysfs, then on sysfs_unlinked until released

cdef struct ms_page

cdef struct ms_object:
    mpsc_node node              # first: mailbox link
    ms_object *next_free        # freelist link (cpu freelist or page->free_remote)
    ms_page *page               # stable
    long state                  # OBJ_FREE / OBJ_ALLOCATED: written by the object's holder
    long mark                   # checkpoint epoch (checker 5)
    long from_cpu               # worker that handed it over (mailbox back-pressure)

cdef struct ms_page:
    # First cache line (pages are 64-byte aligned): all that a
    # checkpoint's count-only page walk reads of a page.
    ms_list node                # on cache->pages: list_lock
    long state                  # lock-free (cmpxchg): (inuse << 1) | frozen
    kmem_cache *cache           # stable for the page's life
    mem_cgroup *charged         # stable: the memcg memcg_charge_slab charged (child caches), for the ownership check
    int order                   # stable: the page's order (the cache's, or its min_order after a fallback)
    int objects                 # stable: objects in the page (page->objects)
    unsigned int ck_epoch       # checker scratch: ck_free is valid when this equals the checker's epoch
    short ck_free               # checker scratch: objects on the freezing cpu's freelist
    char rcu_pending            # list_lock: freed, waiting for a grace period
    char on_partial             # list_lock: on the node's partial list
    # the rest
    rcu_head rcu                # TYPESAFE_BY_RCU deferred free
    long magic
    ms_object *free_remote      # lock-free LIFO: any thread pushes (cmpxchg), the owner takes all (xchg)
    ms_list lru                 # on cache->partial (page->slab_list): list_lock
    ms_page *next               # the cpu partial list (page->next): its cpu only
    long pobjects               # cpu partial list head: free objects on the list (approximate, as in SLUB)
    long pages                  # cpu partial list head: pages on the list
    ms_page *pool_next          # per-thread page pool
    int pool_class              # stable: room for 8 << pool_class objects (slub.pxi page_pool_get)
    long charged_id             # its id (the struct may be freed and reused)
    ms_object objs[PAGE_OBJS]   # last: a page is allocated with room for its class's objects only

# ---------------------------------------------------------------------------
# Forward declarations: called from a room included before the one that
# defines them (the definition's room in brackets).

# memcontrol -> slab_common
cdef int memcg_update_all_caches(int num_memcgs) noexcept nogil          # [slab_common] from memcg_alloc_cache_id
cdef void memcg_deactivate_kmem_caches(mem_cgroup *memcg, mem_cgroup *parent) noexcept nogil  # [slab_common] from memcg_offline_kmem
cdef void drain_all_stock(mem_cgroup *root_memcg) noexcept nogil          # [memcontrol_charge] from mem_cgroup_css_offline, mem_cgroup_set_limit
cdef void memcg_create_kmem_cache(mem_cgroup *memcg, kmem_cache *root) noexcept nogil        # [slab_common] from memcg_kmem_cache_create_func

# memcontrol -> slab_common (RCU lockdep: cache->memcg is written under slab_mutex)
cdef bint slab_mutex_held() noexcept nogil                               # [slab_common] lockdep_is_held(&slab_mutex)

# memcontrol -> stw (mutant rcu-read-across-sleep waits while the run runs)
cdef bint run_is_running() noexcept nogil                                # [stw]

# slab_common -> slub
cdef void flush_all(kmem_cache *s) noexcept nogil                        # [slub] flush_all: an IPI to each cpu with a slab of s
cdef long slabs_in_use(kmem_cache *s) noexcept nogil                     # [slub] __kmem_cache_shutdown's test, from shutdown_cache
cdef long slab_objects_in_use(kmem_cache *s) noexcept nogil              # [slub] list_slab_objects' count, from report_busy_cache
cdef int __kmem_cache_shrink(kmem_cache *s) noexcept nogil               # [slub] from kmemcg_cache_deactivate_after_rcu
cdef void free_partial(kmem_cache *s) noexcept nogil                     # [slub] __kmem_cache_shutdown's, from shutdown_cache and kmem_cache_destroy
cdef void kmem_cache_open_partial(kmem_cache *s) noexcept nogil          # [slub] kmem_cache_open's min_partial and cpu_partial, from cache creation

# slab_common -> sysfs (mm/slub.c's sysfs part)
cdef bint sysfs_remove_at_deactivation() noexcept nogil                  # [sysfs] the early sysfs_slab_remove of deactivation runs
cdef void sysfs_slab_add(kmem_cache *s) noexcept nogil                   # [sysfs] from create_cache
cdef void sysfs_slab_remove(kmem_cache *s) noexcept nogil                # [sysfs] deactivation and __kmem_cache_shutdown
cdef void sysfs_slab_unlink(kmem_cache *s) noexcept nogil                # [sysfs] kobject_del, from shutdown_cache
cdef void sysfs_slab_release(kmem_cache *s) noexcept nogil               # [sysfs] kobject_put, from shutdown_cache and the RCU destroy work
