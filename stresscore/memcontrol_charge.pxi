# memcontrol_charge.pxi: the charge side of mm/memcontrol.c (Linux 5.4):
# page counters (mm/page_counter.c), the per-cpu charge stock, try_charge,
# and memcg_charge_slab / memcg_uncharge_slab (mm/slab.h).  docs/DESIGN.md,
# memcontrol.  A room of its own after memcontrol.pxi (the file-size rule);
# memcontrol.pxi's offline calls drain_all_stock through the forward
# declaration in _core.pxd, as mem_cgroup_css_offline does.
#
# Contexts: workers and the active_memcg user charge (their own cpu's
# stock); any thread uncharges; the offline work and limit writes drain.

cdef enum:
    MEMCG_CHARGE_BATCH = 32     # include/linux/memcontrol.h
    STOCK_CACHED = 0            # memcg_stock slot words
    STOCK_NR = 1
    STOCK_FLAGS = 2
    STOCK_WORK = 3              # the model's queued stock->work: drain_all_stock sets it, the cpu runs it

# fix_root_drift: the model's fix of README finding 8, off by default (5.4).
# memcg_uncharge_slab then takes its root branch by what the page's charge
# did (the page records the memcg memcg_charge_slab charged: root when it
# took the root branch), not by the memcg the cache names at free time; a
# page charged to a child's chain and freed after the reparenting to root is
# uncharged from the root's counter and stats, and a page charged "to root"
# touches node stats only, whichever memcg its cache names.  The checker then
# holds the root's counter to its live pages (root_memcg_check).
cdef int fix_root_drift = 0

cdef void set_fix_root_drift(bint on) noexcept nogil:
    global fix_root_drift
    fix_root_drift = 1 if on else 0

# ---------------------------------------------------------------------------
# Page counters (mm/page_counter.c), hierarchical up to the root: a child's
# counter has its parent's as parent (page_counter_init(&memcg->memory,
# &parent->memory) in mem_cgroup_css_alloc), so the root's counter receives
# every child's charge and uncharge; nothing charges the root directly
# (try_charge returns at once for mem_cgroup_is_root, and memcg_charge_slab /
# memcg_uncharge_slab take their root branches before it).

cdef mem_cgroup *page_counter_try_charge(mem_cgroup *memcg, long nr) noexcept nogil:
    """NULL when every level took the charge; else the memcg whose counter
    is over its limit (page_counter_try_charge's *fail), its failcnt up."""
    cdef mem_cgroup *c = memcg
    cdef mem_cgroup *u
    cdef long new
    while c != NULL:
        new = add_return_L(&c.memory, nr)       # fully ordered, like atomic_long_add_return
        if new > READ_ONCE_L(&c.limit):
            atomic_add_L(&c.memory, -nr)
            atomic_add_L(&c.failcnt, 1)         # c->failcnt++ (a racy ++ in the kernel)
            u = memcg
            while u != c:
                atomic_add_L(&u.memory, -nr)
                u = u.parent
            return c
        c = c.parent
    return NULL

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
            if c == root_mem_cgroup and not fix_root_drift:
                # page_counter_cancel's WARN_ON_ONCE(new < 0), reached by
                # 5.4's own asymmetry (memcg_uncharge_slab below): reported
                # as the kernel would warn, and named
                violationf(V_REF_NEGATIVE, c.id, new,
                           "page counter of the root memcg went negative (%ld): 5.4's root drift "
                           "(README finding 8; fix_root_drift = true runs the model with it fixed)", new, 0)
            else:
                violationf(V_REF_NEGATIVE, c.id, new,
                           "page counter of online memcg %ld went negative (%ld)", c.id, new)
        c = c.parent

# ---------------------------------------------------------------------------
# memcg_stock (mm/memcontrol.c, 5.4): each cpu's precharge of one memcg.
# One cache line per cpu (pcpu_alloc_longs): [STOCK_CACHED] the memcg ("this
# never be root cgroup"), [STOCK_NR] its precharged pages, [STOCK_FLAGS]
# FLUSHING_CACHED_CHARGE.  Cached and nr are written by the owning cpu only
# (the kernel: with irqs off); drain_all_stock reads them racily under RCU
# and test-and-sets the flag of any cpu; the owner clears it.  [STOCK_WORK]
# stands for the drain work queued on that cpu (schedule_work_on): the cpu
# runs it at its next safe point (poll_stock), or, when the cpu went down
# first, the unbound pool runs it elsewhere (hotplug.pxi): it then drains and
# clears that other cpu's stock and flag, and the dead cpu's flag stays set,
# as in 5.4's drain_local_stock, which only knows this_cpu_ptr.  In 5.4 every
# precharged page holds a css reference (try_charge's css_get_many, dropped
# by drain_stock's css_put_many); the cached pointer itself holds none.

cdef long *memcg_stock = NULL
cdef int percpu_charge_mutex = 0        # only ever mutex_trylock'ed: a flag

cdef inline void css_put_many(mem_cgroup *m, long n) noexcept nogil:
    percpu_ref_put_many(&m.css, n)

cdef bint consume_stock(mem_cgroup *memcg, long nr) noexcept nogil:
    """consume_stock: take nr pages from this cpu's stock if it holds memcg's."""
    cdef long *st
    if nr > MEMCG_CHARGE_BATCH or not pcpu_owner_ok():
        return False
    st = this_cpu_ptr_L(memcg_stock)
    if <mem_cgroup *>st[STOCK_CACHED] == memcg and st[STOCK_NR] >= nr:
        WRITE_ONCE_L(&st[STOCK_NR], st[STOCK_NR] - nr)
        return True
    return False

cdef void drain_stock(long *st) noexcept nogil:
    """drain_stock: return the precharge to the counters, drop its css
    references, forget the memcg."""
    cdef mem_cgroup *old = <mem_cgroup *>st[STOCK_CACHED]
    cdef long nr = st[STOCK_NR]
    if nr:
        page_counter_uncharge(old, nr)
        if not MUTANT(M_DRAIN_STOCK_WITHOUT_CSS_PUT):   # mutant drain-stock-without-css-put
            css_put_many(old, nr)
        WRITE_ONCE_L(&st[STOCK_NR], 0)
    WRITE_ONCE_L(&st[STOCK_CACHED], 0)

cdef void drain_local_stock() noexcept nogil:
    """drain_local_stock (the per-cpu work of drain_all_stock): this cpu's."""
    cdef long *st
    if not pcpu_owner_ok():
        return
    st = this_cpu_ptr_L(memcg_stock)
    WRITE_ONCE_L(&st[STOCK_WORK], 0)               # the work is running: a new one may be queued
    drain_stock(st)
    smp_store_release_L(&st[STOCK_FLAGS], 0)       # clear_bit(FLUSHING_CACHED_CHARGE)
    count_event(CNT_STOCK_DRAIN)

cdef inline void poll_stock() noexcept nogil:
    """The cpu runs its stock's drain work, if drain_all_stock queued one
    (schedule_work_on(cpu, &stock->work)), at its next safe point."""
    if ms_cpu >= 0 and READ_ONCE_L(&this_cpu_ptr_L(memcg_stock)[STOCK_WORK]):
        drain_local_stock()

cdef void refill_stock(mem_cgroup *memcg, long nr) noexcept nogil:
    """refill_stock: keep nr precharged pages of memcg on this cpu."""
    cdef long *st
    if not pcpu_owner_ok():
        return
    st = this_cpu_ptr_L(memcg_stock)
    if <mem_cgroup *>st[STOCK_CACHED] != memcg:    # reset if necessary
        if not MUTANT(M_REFILL_STOCK_WITHOUT_DRAIN):    # mutant refill-stock-without-drain
            drain_stock(st)
        else:
            WRITE_ONCE_L(&st[STOCK_NR], 0)
        WRITE_ONCE_L(&st[STOCK_CACHED], <long>memcg)
    WRITE_ONCE_L(&st[STOCK_NR], st[STOCK_NR] + nr)
    if st[STOCK_NR] > MEMCG_CHARGE_BATCH:
        drain_stock(st)

cdef bint mem_cgroup_is_descendant(mem_cgroup *memcg, mem_cgroup *root) noexcept nogil:
    while memcg != NULL:
        if memcg == root:
            return True
        memcg = memcg.parent
    return False

cdef void drain_all_stock(mem_cgroup *root_memcg) noexcept nogil:
    """drain_all_stock: drain every cpu's stock of root_memcg's subtree,
    this cpu's at once and the others' in their drain works.  Returns at
    once when someone else is draining (mutex_trylock(&percpu_charge_mutex)):
    their drain need not cover this subtree."""
    cdef int cpu
    cdef long *st
    cdef mem_cgroup *memcg
    cdef bint flush
    if cmpxchg_I(&percpu_charge_mutex, 0, 1) != 0:
        atomic_add_L(&gstats[G_STOCK_DRAIN_SKIPPED], 1)
        return
    for cpu in range(ms_nr_cpu_ids):       # for_each_online_cpu (no cpus_read_lock in 5.4)
        if not cpu_online(cpu):
            continue
        st = per_cpu_ptr_L(memcg_stock, cpu)
        rcu_read_lock()
        memcg = <mem_cgroup *>READ_ONCE_L(&st[STOCK_CACHED])
        # a stock with pages holds css references; an empty one's pointer
        # may name a memcg being freed, which the read section keeps
        flush = memcg != NULL and READ_ONCE_L(&st[STOCK_NR]) != 0 and \
            mem_cgroup_is_descendant(memcg, root_memcg)
        rcu_read_unlock()
        if flush and cmpxchg_L(&st[STOCK_FLAGS], 0, 1) == 0:   # !test_and_set_bit
            if cpu == ms_cpu:
                drain_local_stock()
            else:
                atomic_add_L(&gstats[G_STOCK_DRAIN_QUEUED], 1)
                smp_store_release_L(&st[STOCK_WORK], 1)         # schedule_work_on(cpu, &stock->work)
    smp_store_release_I(&percpu_charge_mutex, 0)

# ---------------------------------------------------------------------------
# try_charge (mm/memcontrol.c, 5.4), reduced to what slab pages meet: the
# stock, the batch, the limit, one drain_all_stock of the memcg over its
# limit and a retry, then -ENOMEM.  No reclaim and no OOM (the model frees
# only what its tasks free), no force path (no __GFP_NOFAIL slab page, no
# dying or OOM-killed task here): docs/DESIGN.md, section 11, row 20.

cdef int try_charge(mem_cgroup *memcg, long nr) noexcept nogil:
    """0 when nr pages are charged to memcg (each with a css reference), or
    -1 over a limit."""
    cdef long batch = MEMCG_CHARGE_BATCH if nr < MEMCG_CHARGE_BATCH else nr
    cdef mem_cgroup *over
    cdef bint drained = False
    if memcg == root_mem_cgroup:
        return 0
    while True:
        if consume_stock(memcg, nr):
            return 0
        over = page_counter_try_charge(memcg, batch)
        if over == NULL:
            css_get_many(memcg, batch)      # done_restock
            if batch > nr:
                refill_stock(memcg, batch - nr)
            return 0
        if batch > nr:
            batch = nr
            continue
        if not drained:
            drain_all_stock(over)
            drained = True
            continue
        return -1

# ---------------------------------------------------------------------------
# memcg_charge_slab / memcg_uncharge_slab (static inline in mm/slab.h in
# 5.4).

cdef void rcu_mutant_nap() noexcept nogil:
    cdef timespec ts
    ts.tv_sec = 0
    ts.tv_nsec = 1000000
    cpu_nanosleep(&ts)

cdef int memcg_charge_slab(kmem_cache *s, int order, mem_cgroup **charged) noexcept nogil:
    """Charge a new slab page of child cache s: 0, or -1 over a limit.
    *charged is the memcg charged (the page records it: checker 3's
    ownership check)."""
    cdef long nr = 1 << order
    cdef mem_cgroup *memcg
    cdef bint charged_ok
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
        rcu_dereference_check_held(slab_mutex_held(), "slab_mutex", "cache->memcg_params.memcg in memcg_charge_slab")
        win_conflict(WIN_OFFLINE_VS_CHARGE)
        ms_delay_if(DP_CHARGE_MEMCG, memcg != NULL and
                    (READ_ONCE_I(&memcg.state) != MEMCG_ONLINE or READ_ONCE_I(&s.deactivated)))
        if not memcg_ok(memcg, 7):
            rcu_read_unlock()
            return -1
        if MUTANT(M_CHARGE_OFFLINE_MEMCG):
            # mutant charge-offline-memcg: charge whatever the pointer names, offline or not
            if not percpu_ref_tryget(&memcg.css):
                rcu_read_unlock()
                return -1
        else:
            while memcg != NULL and not css_tryget_online(memcg):
                memcg = memcg.parent
        rcu_read_unlock()
        if memcg == NULL or memcg == root_mem_cgroup:
            # memcg_charge_slab (5.4): "if (unlikely(!memcg ||
            # mem_cgroup_is_root(memcg)))": node stats and the cache
            # references only; no page counter, no memcg stats.  The root
            # css is CSS_NO_REF in the kernel; the model counts root's
            # references (docs/DESIGN.md, section 11, row 11), so the tryget
            # is dropped here.
            mod_node_state(stat_idx(s), nr)
            percpu_ref_get_many(&s.refcnt, nr)
            fr_record(EV_CHARGE, s.id, root_mem_cgroup.id)
            charged[0] = root_mem_cgroup
            if memcg != NULL:
                css_put(memcg)
            count_event(CNT_CHARGE_ROOT)
            return 0
    if MUTANT(M_RCU_READ_ACROSS_SLEEP) and model_mode == MODE_REPARENT:
        # mutant rcu-read-across-sleep: wait for reclaim (other tasks'
        # frees, a higher limit) inside a read section
        rcu_read_lock()
        charged_ok = try_charge(memcg, nr) == 0
        while not charged_ok and run_is_running():
            rcu_mutant_nap()
            charged_ok = try_charge(memcg, nr) == 0
        rcu_read_unlock()
        if not charged_ok:
            count_event(CNT_CHARGE_FAIL)
            css_put(memcg)
            return -1
    elif try_charge(memcg, nr) != 0:         # memcg_kmem_charge_memcg
        count_event(CNT_CHARGE_FAIL)
        fr_record(EV_CHARGE_FAIL, s.id, memcg.id)
        css_put(memcg)
        return -1
    mod_memcg_state(memcg, stat_idx(s), nr)
    mod_node_state(stat_idx(s), nr)
    # transfer try_charge()'s page references to the kmem_cache
    percpu_ref_get_many(&s.refcnt, nr)
    css_put_many(memcg, nr)
    fr_record(EV_CHARGE, s.id, memcg.id)
    charged[0] = memcg
    css_put(memcg)
    return 0

cdef void memcg_uncharge_slab(kmem_cache *s, int order, mem_cgroup *charged) noexcept nogil:
    """Uncharge whatever memcg the cache names now, then drop the page's
    references on the cache (after: the put may free the cache).  charged:
    the memcg the page's charge went to (only compared with the root, never
    read: it may be freed)."""
    cdef long nr = 1 << order
    cdef mem_cgroup *memcg
    cdef bint root_branch
    cdef bint protected = not MUTANT(M_MEMCG_READ_UNPROTECTED)  # mutant memcg-read-unprotected: no RCU read section
    if MUTANT(M_CACHE_PUT_BEFORE_UNCHARGE):
        # mutant cache-put-before-uncharge: s may be freed below
        percpu_ref_put_many(&s.refcnt, nr)
        if not cache_ok(s, 8):
            return
    if protected:
        rcu_read_lock()
        count_event(CNT_RCU_READ)
    memcg = <mem_cgroup *>READ_ONCE_P(<void **>&s.memcg)
    if model_mode == MODE_REPARENT:     # legacy: the cache pins its memcg, the pointer never changes
        rcu_dereference_check_held(slab_mutex_held(), "slab_mutex", "cache->memcg_params.memcg in memcg_uncharge_slab")
    win_conflict(WIN_SWAP_VS_PAGE_FREE)
    ms_delay_if(DP_UNCHARGE_MEMCG, memcg != NULL and
                (READ_ONCE_I(&memcg.state) != MEMCG_ONLINE or percpu_ref_is_dying(&s.refcnt)))
    # The page's references pin the cache until the put below.
    if not cache_ok(s, 11):
        if protected:
            rcu_read_unlock()
        return
    if fix_root_drift:
        root_branch = charged == root_mem_cgroup
    else:
        root_branch = memcg == root_mem_cgroup
    if root_branch:
        # memcg_uncharge_slab (5.4): the branch is chosen by the memcg the
        # cache names at free time, not by the one the page was charged to.
        # A page charged to a top-level child before its caches were
        # reparented to root takes this branch, and its charge stays in the
        # child's and the root's counters and hierarchical stats; a page
        # charged "to root" by the walk above while the cache still named
        # its killed child, freed before the reparenting, is uncharged from
        # the child's chain (README finding on the root counter).
        count_event(CNT_UNCHARGE_ROOT)
        fr_record(EV_PAGE_FREE, s.id, memcg.id)
    elif memcg_ok(memcg, 9):
        win_conflict(WIN_FLUSH_VS_UNCHARGE)
        win_conflict(WIN_FOLD_VS_UNCHARGE)
        mod_memcg_state(memcg, stat_idx(s), -nr)      # mod_lruvec_state: memcg part
        page_counter_uncharge(memcg, nr)              # memcg_kmem_uncharge_memcg
        memcg_ok(memcg, 10)        # still alive after the update?
        fr_record(EV_PAGE_FREE, s.id, memcg.id)
    if protected:
        rcu_read_unlock()
    mod_node_state(stat_idx(s), -nr)
    ms_delay_if(DP_PAGE_FREE_PUT, percpu_ref_is_dying(&s.refcnt))
    win_conflict(WIN_KILL_VS_PAGE_FREE)
    if not MUTANT(M_CACHE_PUT_BEFORE_UNCHARGE):     # mutant cache-put-before-uncharge: put above
        percpu_ref_put_many(&s.refcnt, nr)


# ---------------------------------------------------------------------------
# CPUHP_MM_MEMCQ_DEAD: hotplug.pxi runs it on the control CPU when a CPU goes
# down.  5.4's fold and its fix are described there.

cdef int fix_hotplug_fold = 0       # engine_setup / Model: fold as a3d4c05a4474 (else as 5.4)

cdef void set_fix_hotplug(bint fold, bint flush) noexcept nogil:
    global fix_hotplug_fold, fix_flush_offline
    fix_hotplug_fold = 1 if fold else 0
    fix_flush_offline = 1 if flush else 0       # memcontrol.pxi's flush at free

cdef void memcg_hotplug_cpu_dead(int cpu) noexcept nogil:
    """memcg_hotplug_cpu_dead (mm/memcontrol.c, 5.4; with fix_hotplug_fold,
    as a3d4c05a4474 fixed it)."""
    cdef ms_list *n
    cdef mem_cgroup *m
    cdef mem_cgroup *mi
    cdef long *p
    cdef long x
    cdef int i
    drain_stock(per_cpu_ptr_L(memcg_stock, cpu))
    spin_lock(&memcg_all_lock)
    n = memcg_all.next
    while n != &memcg_all:
        m = <mem_cgroup *>n.owner
        n = n.next
        if not percpu_ref_tryget(&m.css):      # mem_cgroup_iter: css_tryget
            continue
        p = per_cpu_ptr_L(m.pcpu, cpu) if fix_hotplug_fold else this_cpu_ptr_L(m.pcpu)
        for i in range(2):
            x = xchg_L(&p[i], 0)
            if x:
                mi = m
                while mi != NULL:
                    # 5.4: atomic_long_add(x, &memcg->vmstats[i]) for each mi
                    atomic_add_L(&mi.stat[i] if fix_hotplug_fold else &m.stat[i], x)
                    mi = mi.parent
        ms_delay(DP_HOTPLUG_FOLD)
        css_put(m)
    spin_unlock(&memcg_all_lock)
