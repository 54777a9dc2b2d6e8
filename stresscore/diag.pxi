# diag.pxi: run-time support shared by the model and the engine.
#
#   - per-thread state (one padded slot per "CPU", written only by its thread)
#   - the flight recorder: a lock-free ring of recent events per thread
#   - violations: what the inline checks and the checkers report
#   - delay injection: named points inside the race windows
#   - global event counters of the model, for the report
#   - the selected mutant (the table itself is mutants.h) and the model mode
#
# Nothing here calls into Python; every function is noexcept nogil.
# docs/DESIGN.md, diag.

# ---------------------------------------------------------------------------
# Flight recorder events.  Each names the kernel path it comes from.
cdef enum:
    EV_NONE = 0
    EV_ALLOC_SLOW          # new slab page for a cache (a: cache id, b: page pages)
    EV_PAGE_FREE           # slab page freed (a: cache id, b: memcg id uncharged)
    EV_CHARGE              # memcg_charge_slab (a: cache id, b: memcg id charged)
    EV_CHARGE_FAIL         # charge over the limit (a: cache id, b: memcg id)
    EV_GET_CACHE_MISS      # memcg_kmem_get_cache found no child cache (a: root, b: memcg)
    EV_TRYGET_FAIL         # percpu_ref_tryget on a child cache failed (a: cache id)
    EV_REMOTE_FREE         # free to a page that is not this cpu's slab (a: cache id)
    EV_MAIL_SEND           # object handed to another worker (a: to cpu)
    EV_MAIL_RECV           # objects received (a: count)
    EV_MIGRATE             # task migration (a: worker cpu, b: new memcg id)
    EV_MKDIR               # a: memcg id, b: parent id
    EV_RMDIR               # a: memcg id
    EV_OFFLINE_KMEM        # memcg_offline_kmem (a: memcg id, b: parent id)
    EV_REPARENT            # one cache reparented (a: cache id, b: new memcg id)
    EV_CACHE_CREATE        # memcg_create_kmem_cache published (a: cache id, b: memcg id)
    EV_CACHE_DEACTIVATE    # a: cache id
    EV_CACHE_KILL          # percpu_ref_kill on a child cache (a: cache id)
    EV_CACHE_SHUTDOWN      # shutdown_cache (a: cache id)
    EV_CACHE_RELEASE       # slab_kmem_cache_release (a: cache id)
    EV_MEMCG_RELEASE       # css released (a: memcg id)
    EV_MEMCG_FREE          # memcg freed after a grace period (a: memcg id)
    EV_ROOT_CREATE         # kmem_cache_create (a: root index, b: refcount)
    EV_ROOT_DESTROY        # kmem_cache_destroy (a: root index, b: refcount)
    EV_ARRAY_GROW          # memcg_update_all_caches (a: new size)
    EV_CHECKPOINT          # a: checkpoint number
    EV_DELAY               # a: delay point, b: ns
    EV_LIMIT               # limit change (a: memcg id, b: limit)
    EV_VIOLATION           # a: invariant code
    EV_KICK                # a worker flushed its cpu slabs (a: pages unfrozen)
    EV_SYSFS_REMOVE        # sysfs_slab_remove_workfn: KOBJ_REMOVE uevent (a: cache id, b: kobject refs left)
    EV_SYSFS_UNLINK        # sysfs_slab_unlink: kobject_del (a: cache id)
    EV_SYSFS_SHOW          # a sysfs reader read objects/slabs of a cache (a: cache id, b: the value)
    EV_SYSFS_SHRINK        # a sysfs writer wrote shrink (a: cache id, b: 1 when slabs remain)
    EV_CPU_DOWN            # the hotplug actor took a CPU down (a: cpu, b: the worker moved off it or -1)
    EV_CPU_UP              # the hotplug actor brought a CPU up (a: cpu)
    EV_NR

EV_NAMES = ["none", "alloc_slow", "page_free", "charge", "charge_fail",
            "get_cache_miss", "tryget_fail", "remote_free", "mail_send",
            "mail_recv", "migrate", "mkdir", "rmdir", "offline_kmem",
            "reparent", "cache_create", "cache_deactivate", "cache_kill",
            "cache_shutdown", "cache_release", "memcg_release", "memcg_free",
            "root_create", "root_destroy", "array_grow", "checkpoint",
            "delay", "limit", "violation", "kick", "sysfs_remove", "sysfs_unlink",
            "sysfs_show", "sysfs_shrink", "cpu_down", "cpu_up"]

cdef enum:
    FR_SIZE = 64            # events kept per thread (a power of two)

cdef struct fr_event:
    unsigned long long ts   # ms_now_ns()
    long ev
    long a
    long b

# ---------------------------------------------------------------------------
# Per-thread counters (padded per-thread slots, no shared writes).
cdef enum:
    CNT_ALLOC = 0           # objects allocated
    CNT_FREE                # objects freed (own, received and drained)
    CNT_REMOTE_FREE         # frees to a page that was not this cpu's slab
    CNT_MAIL_SENT           # objects handed to another worker
    CNT_PAGE_ALLOC          # slow path: new slab page
    CNT_PAGE_FREE           # slow path: slab page freed
    CNT_TRYGET_FAIL         # child cache tryget failures
    CNT_ROOT_FALLBACK       # allocations served by the root cache of a non-root memcg
    CNT_CREATE_QUEUED       # cache creation work queued
    CNT_CHARGE_FAIL         # page charge refused by a limit
    CNT_DELAYS              # delay injections taken
    CNT_RCU_READ            # RCU read sections entered by the model
    CNT_OPS                 # loop iterations (worker ops, controller actions)
    CNT_CHARGE_ROOT         # slab pages charged "to root": node stats only (memcg_charge_slab)
    CNT_UNCHARGE_ROOT       # slab pages freed while their cache names root: node stats only
    CNT_STOCK_DRAIN         # this cpu's stock drained by its drain work (drain_local_stock)
    CNT_NR

CNT_NAMES = ["alloc", "free", "remote_free", "mail_sent", "page_alloc",
             "page_free", "tryget_fail", "root_fallback", "create_queued",
             "charge_fail", "delays", "rcu_read", "ops", "charge_root",
             "uncharge_root", "stock_drain"]

cdef enum:
    DIGEST_OPS = 4096       # worker choices folded into choice_digest

cdef struct ms_thread:
    # Everything here is written by the owning thread only, except where a
    # field says otherwise.  Slots are cache-line aligned (ms_threads is).
    long counters[16]                # CNT_*; read racily by reports
    ms_rng rng                       # the thread's choices (seed, stream = cpu)
    ms_rng rng_delay                 # delay injection draws (separate stream)
    long fr_head                     # next flight-recorder slot
    fr_event *fr                     # FR_SIZE events
    long kick_seen                   # last kick generation handled
    unsigned long long choice_digest     # hash of the first DIGEST_OPS random choices (seed tests)
    long digest_left
    unsigned long long delay_start_ns    # first delay candidate (delay budget)
    long delay_spent_ns              # time given to delays so far
    void *page_pool[4]               # freed slab pages kept for reuse by this thread, per page class (slub.pxi)
    int nr_pool[4]
    int role                         # ROLE_* (engine)
    int in_use
    long win_opened[16]              # DP_*: race windows this thread entered (read racily by stats)
    long win_raced[32]               # WIN_*: conflicting steps this thread ran inside another's window
    char _pad[64]

cdef ms_thread *ms_threads = NULL    # MS_MAX_CPUS slots, 64-byte aligned

cdef inline ms_thread *this_thread() noexcept nogil:
    return &ms_threads[ms_home]

cdef inline void count_event(int which) noexcept nogil:
    # allocations and frees are the product's op count (and checker 5's
    # ledger): always counted; the rest only in a counters build
    if MS_COUNTERS_ON or which <= CNT_FREE:
        ms_threads[ms_home].counters[which] += 1

cdef inline void fr_record(long ev, long a, long b) noexcept nogil:
    """Append to the calling thread's ring.  Lock-free: single writer; the
    reader (a checkpoint or a violation dump) may see a torn latest entry."""
    cdef ms_thread *t
    cdef fr_event *e
    if ms_cpu < 0:
        return                      # set-up code outside the run's threads
    t = &ms_threads[ms_home]
    e = &t.fr[t.fr_head & (FR_SIZE - 1)]
    e.ts = ms_now_ns()
    e.ev = ev
    e.a = a
    e.b = b
    WRITE_ONCE_L(&t.fr_head, t.fr_head + 1)

# ---------------------------------------------------------------------------
# State words for violation messages (the kernel's names).
cdef inline const char *memcg_state_word(int state) noexcept nogil:
    if state == MEMCG_ONLINE:
        return "online"
    if state == MEMCG_OFFLINE:
        return "offline"
    if state == MEMCG_RELEASED:
        return "released"
    return "unknown state"

cdef inline const char *kmem_state_word(int state) noexcept nogil:
    if state == KMEM_NONE:
        return "NONE"
    if state == KMEM_ALLOCATED:
        return "ALLOCATED"
    if state == KMEM_ONLINE:
        return "ONLINE"
    return "unknown"

# ---------------------------------------------------------------------------
# Violations.
cdef enum:
    V_CHARGE = 1            # checker 1: page counters against the page walk
    V_STATS                 # checker 2: slab stats (node and memcg)
    V_REFS                  # checker 3: refcounts against enumerated holders
    V_LISTS                 # checker 4: list membership
    V_OBJECTS               # checker 5: objects held against allocations
    V_USE_AFTER_FREE        # inline: a poisoned memcg, cache or array was read
    V_KILLED_ALLOC          # inline: an allocation got a killed cache
    V_DOUBLE_FREE           # inline: double or foreign free
    V_REF_NEGATIVE          # inline: a refcount or page counter went negative
    V_PCPU_OWNER            # inline: a per-cpu slot written by another thread
    V_LOCKDEP               # inline: a lock rule was broken
    V_LEAK                  # end of run: something outlived the drain
    V_WRITE_AFTER_FREE      # inline and full checkpoints: a quarantined structure changed since its free
    V_RCU_LOCKDEP           # inline: an RCU-protected pointer read outside a read section and its lock
    V_LOCK_ORDER            # inline: two locks taken in both orders (a possible deadlock)
    V_STALL                 # watchdog: a grace period, work or offline older than its bound
    V_NR

V_NAMES = ["none", "charge", "stats", "references", "lists", "objects",
           "use-after-free", "alloc-from-killed-cache", "double-free",
           "refcount-negative", "percpu-owner", "lockdep", "leak",
           "write-after-free", "rcu-lockdep", "lock-order", "stall"]

cdef enum:
    MAX_VIOLATIONS = 32     # recorded in full; the rest are only counted
    VMSG = 240

cdef struct violation_rec:
    int code
    int cpu
    unsigned long long ts
    long a
    long b
    char msg[VMSG]
    fr_event *dump          # MS_MAX_CPUS * FR_SIZE events, or NULL
    long dump_heads[64]

cdef ms_spinlock violation_lock
cdef long nr_violations = 0          # atomic (fetch_add)
cdef long violations_by_code[32]     # under violation_lock
cdef violation_rec violations[MAX_VIOLATIONS]   # under violation_lock
cdef int violation_dumps_left = 4

cdef void report_violation(int code, long a, long b, const char *msg) noexcept nogil:
    """Record a violation with a copy of every thread's flight recorder.
    Callable from any thread, in any context but a held violation_lock."""
    global violation_dumps_left
    cdef long n
    cdef violation_rec *v
    cdef int c
    spin_lock(&violation_lock)
    n = READ_ONCE_L(&nr_violations)
    violations_by_code[code] += 1
    if n < MAX_VIOLATIONS:
        v = &violations[n]
        v.code = code
        v.cpu = ms_cpu
        v.ts = ms_now_ns()
        v.a = a
        v.b = b
        strncpy(v.msg, msg, VMSG - 1)
        v.msg[VMSG - 1] = 0
        v.dump = NULL
        if violation_dumps_left > 0:
            violation_dumps_left -= 1
            v.dump = <fr_event *>malloc(sizeof(fr_event) * MS_MAX_CPUS * FR_SIZE)
            if v.dump != NULL:
                for c in range(MS_MAX_CPUS):
                    v.dump_heads[c] = READ_ONCE_L(&ms_threads[c].fr_head)
                    memcpy(&v.dump[c * FR_SIZE], ms_threads[c].fr,
                           sizeof(fr_event) * FR_SIZE)
    WRITE_ONCE_L(&nr_violations, n + 1)
    spin_unlock(&violation_lock)
    if ms_cpu >= 0:
        fr_record(EV_VIOLATION, code, a)

cdef void violationf(int code, long a, long b, const char *fmt, long x, long y) noexcept nogil:
    """report_violation with a message formatted from two numbers."""
    cdef char buf[VMSG]
    snprintf(buf, VMSG, fmt, x, y)
    report_violation(code, a, b, buf)

# ---------------------------------------------------------------------------
# Delay injection (the KCSAN / DEBUG_YIELD idea): a thread reaching a named
# point inside a race window waits for a seeded random time with a set
# probability.
cdef enum:
    DP_GET_CACHE_ENTRY = 0   # memcg_kmem_get_cache: between entries[] read and tryget (while an array grows)
    DP_CHARGE_MEMCG          # memcg_charge_slab: between reading cache->memcg and the tryget (memcg dying or cache deactivated)
    DP_UNCHARGE_MEMCG        # memcg_uncharge_slab: between reading cache->memcg and the uncharge (memcg dying or cache killed)
    DP_REPARENT_SWAP         # memcg_deactivate_kmem_caches: between the pointer swap and the css put
    DP_REPARENT_SPLICE       # between list splice and css_get_many on the parent
    DP_DEACTIVATE_DYING      # kmemcg_cache_deactivate: between the dying test and call_rcu (root being destroyed)
    DP_CREATE_PUBLISH        # memcg_create_kmem_cache: before publishing entries[id]
    DP_ARRAY_GROW            # memcg_update_cache_params: before publishing the new array
    DP_FLUSH_STATS           # memcg_flush_percpu_vmstats: between summing and adding
    DP_CACHE_KILL            # kmemcg_cache_deactivate_after_rcu: before percpu_ref_kill
    DP_PAGE_FREE_PUT         # __free_slab: between the uncharge and the cache put (cache killed)
    DP_OFFLINE_KMEM          # memcg_offline_kmem: between deactivation and the id change
    DP_DESTROY_DYING         # kmem_cache_destroy: between the last reference and the dying flag
    DP_SYSFS_SHOW            # a sysfs reader: between finding a killed cache (kernfs active reference) and reading it
    DP_ALLOC_AFTER_GET       # kmem_cache_alloc: between memcg_kmem_get_cache and slab_alloc (cache deactivated)
    DP_HOTPLUG_FOLD          # memcg_hotplug_cpu_dead: between folding a memcg's residues and its css_put
    DP_NR

DP_NAMES = ["get_cache_entry", "charge_memcg", "uncharge_memcg",
            "reparent_swap", "reparent_splice", "deactivate_dying",
            "create_publish", "array_grow", "flush_stats", "cache_kill",
            "page_free_put", "offline_kmem", "destroy_dying", "sysfs_show",
            "alloc_after_get", "hotplug_fold"]

# where each point sits (for `memcg-stress list delays`), in DP_* order
DP_WHERE = [
    "memcg_kmem_get_cache: between the entries[] read and the tryget (while an array grows)",
    "memcg_charge_slab: between reading cache->memcg and the tryget (memcg dying or cache deactivated)",
    "memcg_uncharge_slab: between reading cache->memcg and the uncharge (memcg dying or cache killed)",
    "memcg_deactivate_kmem_caches: between the pointer swap and the css put",
    "memcg_deactivate_kmem_caches: between the list splice and css_get_many on the parent",
    "kmemcg_cache_deactivate: between the dying test and call_rcu (root being destroyed)",
    "memcg_create_kmem_cache: before publishing entries[id]",
    "memcg_update_cache_params: before publishing the new array",
    "memcg_flush_percpu_vmstats: between summing and adding",
    "kmemcg_cache_deactivate_after_rcu: before percpu_ref_kill",
    "__free_slab: between the uncharge and the cache put (cache killed)",
    "memcg_offline_kmem: between deactivation and the id change",
    "kmem_cache_destroy: between the last reference and the dying flag",
    "a sysfs reader or writer (/sys/kernel/slab): between finding a killed child cache (kernfs active reference) and using it",
    "kmem_cache_alloc: between memcg_kmem_get_cache and slab_alloc (the cache is being deactivated: its shrink may pass)",
    "memcg_hotplug_cpu_dead: between folding a memcg's residues of the dead CPU and its css_put",
]

cdef unsigned int dp_threshold[16]     # probability * 2^32; 0 = off (read-only during a run)
cdef long dp_max_ns[16]               # maximum delay per point
cdef long dp_taken[16]                # atomic: how often each point delayed

cdef long dp_budget_pct = 10             # at most this share of a thread's time in delays

cdef void _ms_delay(int point) noexcept nogil:
    cdef ms_thread *t = &ms_threads[ms_home]
    cdef unsigned long long r = ms_rng_next(&t.rng_delay)
    cdef long ns
    cdef unsigned long long now, until
    cdef timespec ts
    if <unsigned int>(r >> 32) >= dp_threshold[point]:
        return
    ns = <long>((r & 0xffffffffULL) % <unsigned long long>(dp_max_ns[point] + 1))
    # The delay budget: a thread whose delays already took dp_budget_pct of
    # its time skips this one, so long delays in hot windows cannot starve it.
    now = ms_now_ns()
    if t.delay_start_ns == 0:
        t.delay_start_ns = now
    if (t.delay_spent_ns + ns) * 100 > <long>(now - t.delay_start_ns) * dp_budget_pct + 1000000:
        return
    t.delay_spent_ns += ns
    fr_record(EV_DELAY, point, ns)
    t.counters[CNT_DELAYS] += 1
    atomic_add_L(&dp_taken[point], 1)
    if (r & 3) == 0:
        sched_yield()
    elif ns < 20000:
        until = ms_now_ns() + ns
        while ms_now_ns() < until:
            cpu_relax()
    else:
        ts.tv_sec = 0
        ts.tv_nsec = ns
        nanosleep(&ts, NULL)

# ---------------------------------------------------------------------------
# Race windows (docs/DESIGN.md, "Race windows and the verdict").  A window
# is a delay point with its condition true (the step that opens it) paired
# with a conflicting step that can run inside it.  "Opened": a thread
# reached the point with the condition true (per-thread win_opened[DP_*]).
# "Raced": the conflicting step ran while some thread was inside the point
# (per-thread win_raced[WIN_*]).  The only shared word is dp_inside, one
# cache line per point, written on entry and exit; every point that writes
# it is on a slow path or opens only under a rare condition (ms_delay_if).
cdef enum:
    WIN_ENTRY_VS_GROW = 0        # get_cache_entry x memcg_update_cache_params publishing a new array
    WIN_ENTRY_VS_OFFLINE         # get_cache_entry x memcg_offline_kmem of the memcg being read
    WIN_CHARGE_VS_REPARENT       # charge_memcg x memcg_deactivate_kmem_caches swapping cache->memcg
    WIN_UNCHARGE_VS_REPARENT     # uncharge_memcg x memcg_deactivate_kmem_caches swapping cache->memcg
    WIN_PUT_VS_SHUTDOWN          # page_free_put x kmemcg_cache_shutdown (the cache's release)
    WIN_DEACT_VS_ROOT_DESTROY    # deactivate_dying x kmem_cache_destroy setting root->dying
    WIN_ROOT_DESTROY_VS_DEACT    # destroy_dying x kmemcg_cache_deactivate (root destroy during offline)
    WIN_CREATE_VS_OFFLINE        # create_publish x memcg_offline_kmem
    WIN_GROW_VS_OFFLINE          # array_grow x memcg_offline_kmem (id-space growth during offline)
    WIN_KILL_VS_PAGE_FREE        # cache_kill x __free_slab's cache put
    WIN_OFFLINE_VS_CHARGE        # offline_kmem x memcg_charge_slab
    WIN_FLUSH_VS_UNCHARGE        # flush_stats x memcg_uncharge_slab's stat update
    WIN_SYSFS_VS_SHUTDOWN        # sysfs_show x kmemcg_cache_shutdown
    WIN_SWAP_VS_PAGE_FREE        # reparent_swap x __free_slab's uncharge
    WIN_FLUSH_VS_HOTPLUG         # flush_stats x _cpu_down taking a CPU out of the online mask
    WIN_FOLD_VS_UNCHARGE         # hotplug_fold x memcg_uncharge_slab's stat update
    WIN_NR

# one row per window: name, the delay point that opens it, the conflicting step
WINDOWS = [
    ("entry-vs-grow", DP_GET_CACHE_ENTRY, "memcg_update_cache_params",
     "between reading entries[id] and percpu_ref_tryget x memcg_update_cache_params publishing the new array (old one freed after a grace period)"),
    ("entry-vs-offline", DP_GET_CACHE_ENTRY, "memcg_offline_kmem",
     "between reading entries[id] and percpu_ref_tryget x memcg_offline_kmem deactivating the memcg's caches"),
    ("charge-vs-reparent", DP_CHARGE_MEMCG, "memcg_deactivate_kmem_caches",
     "memcg_charge_slab between reading cache->memcg and css_tryget x memcg_deactivate_kmem_caches swapping cache->memcg"),
    ("uncharge-vs-reparent", DP_UNCHARGE_MEMCG, "memcg_deactivate_kmem_caches",
     "memcg_uncharge_slab between reading cache->memcg and the uncharge x memcg_deactivate_kmem_caches swapping cache->memcg"),
    ("page-put-vs-shutdown", DP_PAGE_FREE_PUT, "kmemcg_cache_shutdown",
     "__free_slab between the uncharge and percpu_ref_put x kmemcg_cache_shutdown (the killed cache's release)"),
    ("deactivate-vs-root-destroy", DP_DEACTIVATE_DYING, "kmem_cache_destroy",
     "kmemcg_cache_deactivate between the root->dying test and call_rcu x kmem_cache_destroy setting root->dying"),
    ("root-destroy-vs-deactivate", DP_DESTROY_DYING, "kmemcg_cache_deactivate",
     "kmem_cache_destroy between the last reference and root->dying x an offline's kmemcg_cache_deactivate"),
    ("create-vs-offline", DP_CREATE_PUBLISH, "memcg_offline_kmem",
     "memcg_create_kmem_cache before publishing entries[id] x memcg_offline_kmem of that memcg"),
    ("grow-vs-offline", DP_ARRAY_GROW, "memcg_offline_kmem",
     "memcg_update_cache_params before publishing the new array (id-space growth) x memcg_offline_kmem"),
    ("kill-vs-page-free", DP_CACHE_KILL, "__free_slab",
     "kmemcg_cache_deactivate_after_rcu before percpu_ref_kill x __free_slab putting the cache"),
    ("offline-vs-charge", DP_OFFLINE_KMEM, "memcg_charge_slab",
     "memcg_offline_kmem between deactivation and the id change x memcg_charge_slab"),
    ("flush-vs-uncharge", DP_FLUSH_STATS, "memcg_uncharge_slab",
     "memcg_flush_percpu_vmstats between summing and adding x memcg_uncharge_slab's stat update"),
    ("sysfs-vs-shutdown", DP_SYSFS_SHOW, "kmemcg_cache_shutdown",
     "a sysfs reader between finding a killed cache and using it x kmemcg_cache_shutdown"),
    ("swap-vs-page-free", DP_REPARENT_SWAP, "memcg_uncharge_slab",
     "memcg_deactivate_kmem_caches between the pointer swap and css_put x memcg_uncharge_slab of that cache"),
    ("flush-vs-hotplug", DP_FLUSH_STATS, "_cpu_down",
     "memcg_flush_percpu_vmstats (for_each_online_cpu) between summing and adding x _cpu_down taking a CPU out of the online mask"),
    ("fold-vs-uncharge", DP_HOTPLUG_FOLD, "memcg_uncharge_slab",
     "memcg_hotplug_cpu_dead between folding a memcg's residues and css_put x memcg_uncharge_slab's stat update"),
]

cdef int win_point[32]                 # WIN_* -> DP_*: WINDOWS' second column (set at import, read-only after)
cdef long dp_inside[16 * 8]            # atomic: threads inside point p at [p * 8] (one line per point)
for _w, _row in enumerate(WINDOWS):
    win_point[_w] = _row[1]

cdef inline void win_conflict(int w) noexcept nogil:
    """The conflicting step of window w runs now: count a race if some
    thread is inside the window's point.  A relaxed load of a line that is
    written only while the window is open."""
    if MS_WINDOWS_ON and ms_cpu >= 0:
        if READ_ONCE_L(&dp_inside[win_point[w] * 8]) > 0:
            ms_threads[ms_home].win_raced[w] += 1

cdef inline void _ms_window(int point) noexcept nogil:
    # The window is open: count it, mark this thread inside for as long as
    # the point holds it (the delay, if one is drawn), so that a conflicting
    # step that runs meanwhile counts a race.  Relaxed RMWs: a counter, not
    # a synchronisation; a race missed by a stale load is only not counted.
    ms_threads[ms_home].win_opened[point] += 1
    atomic_add_L(&dp_inside[point * 8], 1)
    if dp_threshold[point] != 0:
        _ms_delay(point)
    atomic_add_L(&dp_inside[point * 8], -1)

cdef inline void ms_delay(int point) noexcept nogil:
    if MS_WINDOWS_ON:
        if ms_cpu >= 0:
            _ms_window(point)
    elif dp_threshold[point] != 0 and ms_cpu >= 0:
        _ms_delay(point)

cdef inline void ms_delay_if(int point, bint window_open) noexcept nogil:
    """Delay only while the race window is open: another thread is working
    on the structure this path is reading (a growing array, a dying memcg,
    a deactivated cache).  Like KCSAN's watchpoints, this spends the delays
    where a race can happen, so they can be long without slowing the rest."""
    if MS_WINDOWS_ON:
        if ms_cpu >= 0 and window_open:
            _ms_window(point)
    elif dp_threshold[point] != 0 and ms_cpu >= 0 and window_open:
        _ms_delay(point)

# ---------------------------------------------------------------------------
# Global event counters for the report (atomic, slow paths only).
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
    G_STOCK_DRAIN_QUEUED        # drain_all_stock: drain works queued for other cpus
    G_STOCK_DRAIN_SKIPPED       # drain_all_stock: returned, someone else was draining
    G_PINNED_CACHES             # drain: killed caches kept only by empty cpu slabs (pinned_check)
    G_PINNED_PAGES              # drain: the empty cpu slabs that keep them
    G_PINNED_MEMCGS             # drain: memcgs not freed when the pinned check ran
    G_SMP_CALLS                 # flush_all IPIs queued to another CPU
    G_SMP_SERVED_OFF            # of them, run by the caller for a CPU that was off
    G_CACHE_KILLED_PAGES        # child caches killed with slab pages left (objects outlive the cgroup)
    G_ORDER_FALLBACK            # new slabs charged at the cache's min order after the first charge failed
    G_CPU_DOWN                  # CPUs taken down (hotplug.pxi)
    G_CPU_UP                    # CPUs brought up
    G_CPU_MIGRATE               # workers moved off a CPU going down
    G_STOCK_FLAG_STUCK          # a dead CPU's pending stock drain ran elsewhere: its FLUSHING bit stays set
    G_NR
cdef long gstats[G_NR]

G_NAMES = ["reparented", "caches_created", "caches_killed", "caches_shutdown",
           "memcgs_created", "memcgs_offlined", "memcgs_released",
           "memcgs_freed", "array_grows", "roots_destroyed", "stock_drains_queued",
           "stock_drains_skipped", "pinned_caches", "pinned_pages", "pinned_memcgs",
           "ipis", "ipis_run_for_off_cpus", "caches_killed_with_pages",
           "order_fallbacks", "cpus_down", "cpus_up", "cpu_migrations",
           "stock_flags_stuck"]

# ---------------------------------------------------------------------------
# The selected mutant (rcutorture's "busted" ops): at most one deliberate
# bug per run, for testing purposes only.  The table (ids, names, bugs, the
# invariant each breaks) is mutants.h; every broken branch in the model says
# "# mutant <name>" next to its MUTANT(M_*) test.
cdef int mutant = M_NONE              # read-only during a run

cdef inline bint MUTANT(int m) noexcept nogil:
    return mutant == m

cdef enum:
    MODE_REPARENT = 0
    MODE_LEGACY = 1

cdef int model_mode = MODE_REPARENT   # read-only during a run

# ---------------------------------------------------------------------------
# RCU lockdep (rcu_dereference_check() / lockdep_is_held()): every read of
# an RCU-protected pointer states what protects it; a read outside a read
# section and without that lock is reported at the read, whether or not
# the memory was freed yet.  The first few per run are reported in full
# (violations_by_code is reset with the run), the rest only counted, as the
# kernel's lockdep reports "suspicious RCU usage" once.  Compiled out with
# MEMCG_STRESS_NO_INLINE_CHECKS=1.

cdef long rcu_lockdep_count = 0         # atomic: unprotected reads seen

cdef void rcu_lockdep_report(const char *what, const char *lock) noexcept nogil:
    cdef char buf[VMSG]
    atomic_add_L(&rcu_lockdep_count, 1)
    if READ_ONCE_L(&violations_by_code[V_RCU_LOCKDEP]) >= 4:
        return
    snprintf(buf, VMSG, "suspicious RCU usage: rcu_dereference of %s outside an RCU read section%s%s (thread %d)",
             what, <const char *>(" and without " if lock != NULL else ""), lock if lock != NULL else <const char *>"", ms_thread_id())
    report_violation(V_RCU_LOCKDEP, ms_cpu, 0, buf)

cdef inline void rcu_dereference_check(const char *what) noexcept nogil:
    """rcu_dereference(): the caller is inside a read section."""
    if MS_INLINE_CHECKS_ON and not rcu_read_lock_held():
        rcu_lockdep_report(what, NULL)

cdef inline void rcu_dereference_check_mutex(ms_mutex *m, const char *lock, const char *what) noexcept nogil:
    """rcu_dereference_check(p, lockdep_is_held(m)): a read section or m."""
    if MS_INLINE_CHECKS_ON and not rcu_read_lock_held() and not lockdep_mutex_held(m):
        rcu_lockdep_report(what, lock)

cdef inline void rcu_dereference_check_held(bint held, const char *lock, const char *what) noexcept nogil:
    """The same, where the lock is tested by the caller (a later room's)."""
    if MS_INLINE_CHECKS_ON and not rcu_read_lock_held() and not held:
        rcu_lockdep_report(what, lock)

# Lock order (locks.h): a cycle in the order graph is reported here, at the
# acquisition that closed it, before the lock is taken.
cdef void lock_order_report(const char *msg) noexcept nogil:
    report_violation(V_LOCK_ORDER, ms_cpu, 0, msg)

ms_lock_order_hook = lock_order_report
