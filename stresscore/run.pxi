# run.pxi: the run API (docs/DESIGN.md, run): set-up and tear-down of the
# model between runs, the mutant table as Python sees it, engine_setup,
# engine_thread and the live figures of a run.  stress.engine drives it.

import time as _time

cdef long model_ready = 0

cdef void reset_diagnostics() noexcept nogil:
    global nr_violations, violation_dumps_left, cp_count, cp_max_ns, cp_total_ns
    global last_lockdep, last_underflows, checker_epoch, stopped_sending_count
    global stw_requested, stw_parked, stw_gen, stw_asleep
    cdef int i
    for i in range(MAX_VIOLATIONS):
        if violations[i].dump != NULL:
            free(violations[i].dump)
            violations[i].dump = NULL
    memset(violations_by_code, 0, sizeof(violations_by_code))
    nr_violations = 0
    violation_dumps_left = 4
    for i in range(MS_MAX_CPUS):
        memset(ms_threads[i].counters, 0, sizeof(ms_threads[i].counters))
        memset(ms_threads[i].fr, 0, sizeof(fr_event) * FR_SIZE)
        ms_threads[i].fr_head = 0
        ms_threads[i].kick_seen = 0
        ms_threads[i].choice_digest = 14695981039346656037ULL
        ms_threads[i].digest_left = DIGEST_OPS
        ms_threads[i].delay_start_ns = 0
        ms_threads[i].delay_spent_ns = 0
        memset(ms_threads[i].win_opened, 0, sizeof(ms_threads[i].win_opened))
        memset(ms_threads[i].win_raced, 0, sizeof(ms_threads[i].win_raced))
    memset(dp_taken, 0, sizeof(dp_taken))
    memset(dp_inside, 0, sizeof(dp_inside))
    cp_count = 0
    cp_max_ns = 0
    cp_total_ns = 0
    last_lockdep = READ_ONCE_L(&lockdep_violations)
    last_underflows = READ_ONCE_L(&percpu_ref_underflows)
    checker_epoch = 0
    stopped_sending_count = 0
    stw_requested = 0
    stw_parked = 0
    stw_asleep = 0
    stw_gen = 0
    lockdep_reset()

# ---------------------------------------------------------------------------
# Set-up and tear-down of the model (between runs, single-threaded).

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
    global memcg_stock, percpu_charge_mutex
    global model_mode, mutant, kick_gen, wq_threaded, model_ready
    global smp_threaded
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
    spin_lock_init(&memcg_all_lock)
    cpu_online_init(MS_MAX_CPUS)
    lockdep_classes_init()
    INIT_LIST_HEAD(&slab_root_caches)
    INIT_LIST_HEAD(&memcg_all)
    INIT_LIST_HEAD(&caches_releasing)
    sysfs_init()
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
    smp_threaded = 0
    if smp_init() != 0:
        return -1
    wq_init()
    slab_caches_to_rcu_destroy_work.func = slab_caches_to_rcu_destroy_workfn
    slab_caches_to_rcu_destroy_work.owner = NULL
    slab_caches_to_rcu_destroy_work.kind = WK_RCU_DESTROY
    slab_caches_to_rcu_destroy_work.pending = 0
    if memcg_stock == NULL:
        memcg_stock = pcpu_alloc_longs()
        if memcg_stock == NULL:
            return -1
    memset(memcg_stock, 0, MS_MAX_CPUS * MS_CACHELINE)
    percpu_charge_mutex = 0
    if percpu_counter_init(&node_stat[0], BATCH) != 0 or \
            percpu_counter_init(&node_stat[1], BATCH) != 0:
        return -1
    root_mem_cgroup = mem_cgroup_create(NULL)
    if root_mem_cgroup == NULL:
        return -1
    model_ready = 1
    return 0

cdef void _init_threads_storage():
    global ms_threads
    cdef int i
    if ms_threads != NULL:
        return
    ms_threads = <ms_thread *>aligned_alloc(64, sizeof(ms_thread) * MS_MAX_CPUS)
    memset(ms_threads, 0, sizeof(ms_thread) * MS_MAX_CPUS)
    for i in range(MS_MAX_CPUS):
        ms_threads[i].fr = <fr_event *>calloc(FR_SIZE, sizeof(fr_event))
    pthread_mutex_init(&stw_mutex, NULL)
    pthread_cond_init(&stw_cond, NULL)
    spin_lock_init(&violation_lock)

_init_threads_storage()

# ---------------------------------------------------------------------------
# The mutant table (mutants.h), as Python sees it.

def mutant_table():
    """The mutant table, in table order: one dict per mutant with name, id
    (> 0), bug, breaks (the invariant that should fire), expected (bool) and
    reason ("" when expected)."""
    cdef int i
    out = []
    for i in range(MS_NR_MUTANTS):
        out.append({
            "name": ms_mutant_table[i].name.decode("utf-8"),
            "id": ms_mutant_table[i].id,
            "bug": ms_mutant_table[i].bug.decode("utf-8"),
            "breaks": ms_mutant_table[i].breaks.decode("utf-8"),
            "expected": bool(ms_mutant_table[i].expected),
            "reason": ms_mutant_table[i].reason.decode("utf-8"),
        })
    return out

# name -> native id, in table order
MUTANT_IDS = {m["name"]: m["id"] for m in mutant_table()}

cdef int _mutant_id(name) except -1:
    """The native id of a mutant name; None or "" is no mutant (M_NONE).
    The native lookup returns -1 for an unknown name: raise here."""
    cdef int mid = -1
    if name is None:
        return M_NONE
    if isinstance(name, str):
        mid = ms_mutant_id(name.encode("utf-8"))
    if mid < 0:
        raise ValueError(f"unknown mutant {name!r}; valid: {', '.join(MUTANT_IDS)}")
    return mid

# The built-in root caches: name, object size, objects per slab, order,
# reclaimable, TYPESAFE_BY_RCU.
BUILTIN_ROOTS = [
    ("dentry", 192, 21, 0, 1, 0),
    ("inode_cache", 600, 13, 1, 1, 0),
    ("kmalloc-64", 64, 64, 0, 0, 0),
    ("sighand_cache", 2112, 15, 3, 0, 1),
]

cdef int _setup(int n_workers, int mode, int mut, long max_held, unsigned long long seed,
                int extra_cpus) except -1:
    global workers, nr_workers, run_state, nr_thread_slots
    cdef int i
    cdef bint borrowed
    if READ_ONCE_I(&run_state) in (RUN_RUNNING, RUN_DRAINING):
        raise RuntimeError("a run is in progress in this process (or the drain of an earlier one never finished)")
    if n_workers < 0 or n_workers + extra_cpus > MS_MAX_CPUS:
        raise ValueError(f"workers must be in [0, {MS_MAX_CPUS - extra_cpus}]")
    if model_ready:
        # Whatever the last run left queued runs against the state it was
        # queued for, before that state is dropped.
        with nogil:
            borrowed = ms_cpu < 0
            if borrowed:
                ms_thread_register(0)
            for i in range(1000):
                while wq_run_one():
                    pass
                if rcu_process_callbacks() == 0 and wq_all_empty():
                    break
            if borrowed:
                ms_thread_unregister()
    if ms_cpu >= 0:
        ms_thread_unregister()      # a Model used this thread; the run's threads take the slots
    ms_set_nr_cpus(n_workers + extra_cpus)
    nr_thread_slots = n_workers + extra_cpus
    reset_diagnostics()
    rcu_set_busted(1 if mut == M_RCU_BUSTED else 0)      # mutant rcu-busted: the RCU core stops waiting
    rcu_set_callback_thread_active(0)
    if model_init(mode, mut) != 0:
        raise MemoryError("model_init failed")
    for name, size, objs, order, recl, tsafe in BUILTIN_ROOTS:
        if kmem_cache_create(size, objs, order, recl, tsafe) < 0:
            raise MemoryError("kmem_cache_create failed")
    if workers != NULL:
        for i in range(nr_workers):
            free(workers[i].held)
            free(workers[i].keep)
        free(workers)
        workers = NULL
    nr_workers = n_workers
    cfg.long_lived = 0          # engine_setup sets it; a Model keeps no long-lived set
    if n_workers:
        workers = <ms_worker *>aligned_alloc(64, sizeof(ms_worker) * n_workers)
        memset(workers, 0, sizeof(ms_worker) * n_workers)
    for i in range(n_workers):
        workers[i].cpu = i
        workers[i].slot = i
        workers[i].migrate_to = -1
        workers[i].memcg = root_mem_cgroup
        css_get(root_mem_cgroup)
        workers[i].held = <ms_object **>malloc(sizeof(ms_object *) * (max_held + 1))
        workers[i].keep = <ms_object **>malloc(sizeof(ms_object *) * MS_LONG_LIVED_MAX)
        if workers[i].held == NULL or workers[i].keep == NULL:
            raise MemoryError("worker object table")
        mpsc_init(&workers[i].mailbox)
    for i in range(n_workers + extra_cpus):
        ms_rng_seed(&ms_threads[i].rng, seed, i)
        ms_rng_seed(&ms_threads[i].rng_delay, seed, 1000 + i)
    run_state = RUN_IDLE
    return 0

DELAY_POINTS = list(DP_NAMES)
DELAY_POINT_WHERE = dict(zip(DP_NAMES, DP_WHERE))

# `memcg-stress list windows` (stress/cli/listing.py reads this name)
RACE_WINDOWS = [{"name": name, "opened at": DP_NAMES[dp], "conflicting step": fn, "window": where}
                for name, dp, fn, where in WINDOWS]

def window_counts():
    """Per window {"opened", "raced"}, summed over the threads' slots (read
    racily during a run); empty in a build without the counters."""
    cdef int c, w
    cdef long opened, raced
    if not MS_WINDOWS_ON:
        return {}
    out = {}
    for w in range(WIN_NR):
        opened = 0
        raced = 0
        for c in range(MS_MAX_CPUS):
            opened += ms_threads[c].win_opened[win_point[w]]
            raced += ms_threads[c].win_raced[w]
        out[WINDOWS[w][0]] = {"opened": opened, "raced": raced}
    return out
def delay_setting(str name):
    """(probability, max_us) of delay point `name` as the run has it now."""
    cdef int i = DP_NAMES.index(name)
    return dp_threshold[i] / 4294967296.0, dp_max_ns[i] / 1000.0

def steer_delay(str name, double prob, double max_us):
    """Change delay point `name` while a run goes (--steer coverage).  The
    threads read the two words without a lock; a thread in the middle of a
    draw may use the old threshold with the new bound, which only changes
    one delay's length."""
    cdef int i = DP_NAMES.index(name)
    if not 0.0 <= prob <= 1.0 or not 0.0 <= max_us <= 1000000.0:
        raise ValueError(f"{name}: probability in [0, 1], max delay in [0, 1000000] us")
    dp_max_ns[i] = <long>(max_us * 1000)
    dp_threshold[i] = <unsigned int>min(4294967295.0, prob * 4294967296.0)

def steer_max_memcgs(int n):
    """The cgroups alive at most, while a run goes (--steer coverage raises
    it for id-space growth); read racily by the cgroup actor."""
    if not 0 <= n <= 255:
        raise ValueError("max_memcgs in [0, 255]")
    WRITE_ONCE_I(&cfg.max_memcgs, n)

def steer_module_interval(long us):
    """The module actor's pause while a run goes (--steer coverage shortens
    it for root destroys during offlines)."""
    if not 0 <= us <= 10000000:
        raise ValueError("module interval in [0, 10000000] us")
    WRITE_ONCE_L(&cfg.module_interval_ns, us * 1000)

EVENT_NAMES = list(EV_NAMES)
INVARIANTS = list(V_NAMES)
COUNTER_NAMES = list(CNT_NAMES)
GLOBAL_COUNTER_NAMES = list(G_NAMES)
MAX_CPUS = MS_MAX_CPUS
LONG_LIVED_MAX = MS_LONG_LIVED_MAX


ROLE_NAMES = ("none", "worker", "controller", "workqueue", "rcu", "module", "active_memcg", "cgroup", "sysfs",
              "hotplug")
cdef int nr_thread_slots = 0           # _setup, engine_setup: the slots with a thread (not the hotplug spares)
cdef int thread_role[MS_MAX_CPUS]      # engine_setup: the role of each cpu slot of the run
cdef int thread_index[MS_MAX_CPUS]     # engine_setup: its index among the threads of its role


def engine_setup(dict c):
    """Prepare a run from a plain dict (stress.engine builds it).  Returns
    the role of each thread of the run, by cpu: workers, the controller, the
    kworkers, the RCU callback threads; the caller starts engine_thread(cpu)
    for every cpu in range(len(roles))."""
    global cfg, ctl_nr_online, ctl_nr_modules, ctl_unload_index, stw_participants, wq_wait_hook
    global ctl_rmdir_request, module_actor_done, active_memcg_done, active_memcg_held, nr_builtin_roots
    global cgroup_actor_done, sysfs_actor_done, sysfs_shrink_roots_below, sysfs_deactivate_remove
    global fix_root_drift, fix_hotplug_fold, fix_flush_offline, hotplug_actor_done, nr_thread_slots
    global lockdep_shrink_hotplug
    cdef int n = c["workers"]
    cdef int i, k, slot, cpu
    cdef int nkw = c.get("kworkers", 2)
    cdef int nrcu = c.get("rcu_threads", 2)
    if nkw < 1 or nrcu < 1:
        raise ValueError("a run needs at least one kworker and one RCU callback thread")
    cdef bint module_actor = c.get("module_actor", True)
    layout = [ROLE_WORKER] * n + [ROLE_CONTROLLER] + [ROLE_WORKQUEUE] * nkw + [ROLE_RCU] * nrcu
    cdef bint active_memcg_actor = c.get("active_memcg_actor", True)
    cdef bint cgroup_actor = c.get("cgroup_actor", True)
    if cgroup_actor:
        layout.append(ROLE_CGROUP)
    if module_actor:
        layout.append(ROLE_MODULE)
    if active_memcg_actor:
        layout.append(ROLE_ACTIVE_MEMCG)
    cdef bint sysfs_actor = c.get("sysfs_actor", True)
    if sysfs_actor:
        layout.append(ROLE_SYSFS)
    cdef bint hotplug_actor = c.get("hotplug_actor", True) and n > 0
    cdef int spares = c.get("hotplug_spares", 1) if hotplug_actor else 0
    if hotplug_actor:
        layout.append(ROLE_HOTPLUG)
    if spares < 0 or len(layout) + spares > MS_MAX_CPUS:
        raise ValueError(f"hotplug_spares must be in [0, {MS_MAX_CPUS - len(layout)}]")
    # the spare CPUs follow the threads' slots: online, idle, no thread
    _setup(n, 1 if c["mode"] == "legacy" else 0, _mutant_id(c.get("mutant")),
           c["max_held"], c["seed"], len(layout) - n + spares)
    cpu_online_init(len(layout) + spares)
    nr_thread_slots = len(layout)       # the spares have no thread (nor counters, nor events)
    cfg.hotplug_actor = 1 if hotplug_actor else 0
    lockdep_shrink_hotplug = 1 if c.get("lockdep_shrink_hotplug", False) else 0
    cfg.hotplug_interval_ns = c.get("hotplug_interval_us", 5000) * 1000
    cfg.hotplug_first_spare = len(layout)
    cfg.hotplug_spares = spares
    hotplug_actor_done = 0
    fix_hotplug_fold = 1 if c.get("fix_hotplug_fold", False) else 0
    fix_flush_offline = 1 if c.get("fix_flush_offline", False) else 0
    counts = {}
    for cpu in range(len(layout), len(layout) + spares):
        thread_role[cpu] = ROLE_NONE
        thread_index[cpu] = cpu - len(layout)
    for cpu, role in enumerate(layout):
        thread_role[cpu] = role
        thread_index[cpu] = counts.get(role, 0)
        counts[role] = thread_index[cpu] + 1
    cfg.nr_kworkers = nkw
    cfg.nr_rcu_threads = nrcu
    cfg.module_actor = 1 if module_actor else 0
    cfg.module_interval_ns = c.get("module_interval_us", 1000) * 1000
    ctl_rmdir_request = 0
    module_actor_done = 0
    cfg.active_memcg_actor = 1 if active_memcg_actor else 0
    cfg.active_memcg_interval_ns = c.get("active_memcg_interval_us", 20) * 1000
    active_memcg_done = 0
    active_memcg_held = NULL
    nr_builtin_roots = len(BUILTIN_ROOTS)
    cfg.cgroup_actor = 1 if cgroup_actor else 0
    cfg.cgroup_interval_ns = c.get("cgroup_interval_us", 200) * 1000
    cgroup_actor_done = 0
    cfg.sysfs_actor = 1 if sysfs_actor else 0
    cfg.sysfs_interval_ns = c.get("sysfs_interval_us", 100) * 1000
    sysfs_actor_done = 0
    sysfs_shrink_roots_below = len(BUILTIN_ROOTS) if c.get("sysfs_shrink_roots", False) else 0
    sysfs_deactivate_remove = 1 if c.get("sysfs_deactivate_remove", False) else 0
    fix_root_drift = 1 if c.get("fix_root_drift", False) else 0
    ms_mutex_init(&cgroup_ops_mutex)
    cfg.nr_workers = n
    cfg.max_memcgs = c["max_memcgs"]
    cfg.max_depth = c["max_depth"]
    cfg.max_held = c["max_held"]
    cfg.alloc_pct = c["alloc_pct"]
    cfg.send_pct = c["send_pct"]
    cfg.long_lived = min(<long>c.get("long_lived", 0), <long>MS_LONG_LIVED_MAX)
    # 0 when there is no set: the worker's one test then never passes
    cfg.long_lived_thresh = <unsigned int>(min(1000000, c.get("long_lived_ppm", 0)) * 1048576 // 1000000) \
        if cfg.long_lived else 0
    cfg.ctl_interval_ns = c["controller_interval_us"] * 1000
    cfg.w_mkdir, cfg.w_rmdir, cfg.w_migrate, cfg.w_module, cfg.w_limit = c["controller_weights"]
    cfg.checkpoint_ns = int(c["checkpoint_interval"] * 1e9)
    cfg.controller_on = 1 if c["controller"] else 0
    cfg.seed = c["seed"]
    weights = list(c["root_weights"])
    total = float(sum(weights))
    slot = 0
    for k, wgt in enumerate(weights):
        for i in range(int(round(PICK * wgt / total))):
            if slot < PICK:
                pick_table[slot] = k
                slot += 1
    while slot < PICK:
        pick_table[slot] = 0
        slot += 1
    for i in range(DP_NR):
        dp_threshold[i] = 0
        dp_max_ns[i] = 0
    for name, (prob, max_us) in (c.get("delays") or {}).items():
        i = DP_NAMES.index(name)
        dp_threshold[i] = <unsigned int>min(4294967295.0, prob * 4294967296.0)
        dp_max_ns[i] = int(max_us * 1000)
    ctl_nr_online = 0
    ctl_nr_modules = 0
    ctl_unload_index = -1
    # Tasks start in cgroups of their own (one per worker, as services do),
    # so the first id-space growths already race with allocations.
    cdef mem_cgroup *m
    if cfg.controller_on:
        for i in range(min(n, cfg.max_memcgs)):
            m = mem_cgroup_create(root_mem_cgroup)
            if m == NULL:
                break
            ctl_online[ctl_nr_online] = m
            ctl_nr_online += 1
            mem_cgroup_migrate(&workers[i].memcg, m)
    stw_participants = len(layout)
    rcu_set_wait_hook(stw_safe_point)
    wq_wait_hook = stw_safe_point
    ms_set_sleep_hook(cpu_sleep_hook)
    rcu_set_callback_thread_active(1)
    WRITE_ONCE_L(&wq_threaded, 1)
    WRITE_ONCE_I(&smp_threaded, 1)
    WRITE_ONCE_I(&run_state, RUN_RUNNING)
    return [ROLE_NAMES[r] for r in layout]


def engine_thread(int cpu):
    """Body of one thread of the run (called in a threading.Thread)."""
    cdef int role = thread_role[cpu]
    cdef int index = thread_index[cpu]
    ms_thread_register(cpu)
    ms_threads[cpu].role = role
    with nogil:
        cpu_start()
        if role == ROLE_WORKER:
            worker_loop(&workers[cpu])
            WRITE_ONCE_I(&workers[cpu].exited, 1)
        elif role == ROLE_CONTROLLER:
            controller_loop()
        elif role == ROLE_WORKQUEUE:
            workqueue_loop()
        elif role == ROLE_MODULE:
            actor_loop(module_step, &cfg.module_interval_ns, &module_actor_done)
        elif role == ROLE_ACTIVE_MEMCG:
            active_memcg_loop()
        elif role == ROLE_CGROUP:
            actor_loop(cgroup_step, &cfg.cgroup_interval_ns, &cgroup_actor_done)
        elif role == ROLE_SYSFS:
            actor_loop(sysfs_step, &cfg.sysfs_interval_ns, &sysfs_actor_done)
        elif role == ROLE_HOTPLUG:
            actor_loop(hotplug_step, &cfg.hotplug_interval_ns, &hotplug_actor_done)
        else:
            rcu_thread_loop(index)
        cpu_leave()
        stw_leave()
    ms_thread_unregister()


def engine_request_drain():
    """End the running phase: the controller drains and checks the end."""
    if READ_ONCE_I(&run_state) == RUN_RUNNING:
        WRITE_ONCE_I(&run_state, RUN_DRAINING)


def engine_finish():
    """After every thread was joined."""
    global wq_threaded, wq_wait_hook, smp_threaded
    rcu_set_callback_thread_active(0)
    rcu_set_wait_hook(NULL)
    wq_wait_hook = NULL
    ms_set_sleep_hook(NULL)
    wq_threaded = 0
    smp_threaded = 0


def hold_drain(bint on):
    """Tests: make the controller's drain wait (on) or let it go (off)."""
    WRITE_ONCE_I(&drain_hold, 1 if on else 0)


def drain_stall_report(cpus, double timeout_s):
    """A drain that did not finish within its timeout: one `stall`
    violation per thread of the run that has not left, naming its role,
    the locks it holds and its last flight-recorder events (read racily:
    the thread may still be running)."""
    cdef char buf[VMSG]
    cdef int cpu, i, n
    cdef long h, j
    cdef fr_event *e
    for cpu in cpus:
        if cpu < 0 or cpu >= MS_MAX_CPUS:
            continue
        role = ROLE_NAMES[thread_role[cpu]] if 0 <= thread_role[cpu] < len(ROLE_NAMES) else "?"
        held = []
        n = READ_ONCE_I(&ms_nr_held[cpu])
        for i in range(min(n, MS_HELD_MAX)):
            held.append(ms_lock_class_names[ms_held_locks[cpu][i].cls].decode())
        evs = []
        h = READ_ONCE_L(&ms_threads[cpu].fr_head)
        for j in range(max(0, h - 3), h):
            e = &ms_threads[cpu].fr[j & (FR_SIZE - 1)]
            evs.append(f"{EV_NAMES[e.ev] if 0 <= e.ev < EV_NR else e.ev}({e.a},{e.b})")
        text = (f"drain not finished after {timeout_s:g} s: cpu {cpu} ({role}) has not left; "
                f"holds {', '.join(held) or 'no lock'}; last events {' '.join(evs) or 'none'}")
        raw = text.encode()[:VMSG - 1]
        memcpy(buf, <const char *>raw, len(raw))
        buf[len(raw)] = 0
        report_violation(V_STALL, cpu, thread_role[cpu], buf)


def engine_state():
    return ("idle", "running", "draining", "done")[READ_ONCE_I(&run_state)]


def violation_count():
    return READ_ONCE_L(&nr_violations)


cdef list _dump_events(fr_event *dump, long *heads, int ncpu):
    out = []
    cdef int c, j
    cdef long h, start
    cdef fr_event *e
    for c in range(ncpu):
        h = heads[c]
        start = h - FR_SIZE if h > FR_SIZE else 0
        evs = []
        for j in range(start, h):
            e = &dump[c * FR_SIZE + (j & (FR_SIZE - 1))]
            evs.append((e.ts, EV_NAMES[e.ev] if 0 <= e.ev < EV_NR else str(e.ev), e.a, e.b))
        out.append(evs)
    return out


def violations_since(long first):
    """Recorded violations from index `first` on, as dicts."""
    out = []
    cdef long n = READ_ONCE_L(&nr_violations)
    cdef long i
    cdef violation_rec *v
    if n > MAX_VIOLATIONS:
        n = MAX_VIOLATIONS
    for i in range(first, n):
        v = &violations[i]
        d = {
            "index": i,
            "invariant": V_NAMES[v.code],
            "cpu": v.cpu,
            "ts_ns": v.ts,
            "a": v.a,
            "b": v.b,
            "message": v.msg.decode("utf-8", "replace"),
        }
        if v.dump != NULL:
            d["flight_recorder"] = _dump_events(v.dump, v.dump_heads, nr_thread_slots)
        out.append(d)
    return out


def violations_by_invariant():
    return {V_NAMES[i]: violations_by_code[i] for i in range(1, V_NR) if violations_by_code[i]}


def live_stats():
    """Counters of the run so far (read racily; exact once it is over)."""
    cdef int i, c, online = 0, dying = 0, caches = 0
    cdef ms_list *n
    cdef mem_cgroup *m
    cdef unsigned long hist[32]
    cdef long held = 0, in_flight = 0, root_memory = 0, stock = 0, partial = 0, cpu_partial = 0
    threads = []
    for c in range(nr_thread_slots):
        d = {CNT_NAMES[i]: ms_threads[c].counters[i] for i in range(CNT_NR)}
        d["choice_digest"] = ms_threads[c].choice_digest
        threads.append(d)
    if workers != NULL:
        for i in range(nr_workers):
            held += READ_ONCE_L(&workers[i].n_held) + READ_ONCE_L(&workers[i].n_keep)
            for c in range(nr_workers):
                in_flight += READ_ONCE_L(&workers[i].sent_to[c]) - READ_ONCE_L(&workers[c].recv_from[i])
    with nogil:
        if model_ready:
            ms_mutex_lock(&cgroup_mutex)
            n = memcg_all.next
            while n != &memcg_all:
                m = <mem_cgroup *>n.owner
                if m != root_mem_cgroup:
                    if m.state == MEMCG_ONLINE:
                        online += 1
                    else:
                        dying += 1
                n = n.next
            root_memory = READ_ONCE_L(&root_mem_cgroup.memory)
            for c in range(ms_nr_cpu_ids):
                stock += READ_ONCE_L(&per_cpu_ptr_L(memcg_stock, c)[STOCK_NR])
            ms_mutex_unlock(&cgroup_mutex)
            ms_mutex_lock(&slab_mutex)
            for i in range(MAX_ROOTS):
                if roots[i] != NULL:
                    caches += list_count(&roots[i].children)
                    partial += cache_partial_pages(roots[i], &cpu_partial)
                    n = roots[i].children.next
                    while n != &roots[i].children:
                        partial += cache_partial_pages(<kmem_cache *>n.owner, &cpu_partial)
                        n = n.next
            ms_mutex_unlock(&slab_mutex)
    rcu_gp_histogram(hist)
    ncp = READ_ONCE_L(&cp_count)
    pauses = sorted(cp_ring[i] for i in range(min(ncp, CP_RING)))
    stops = sorted(cp_stop_ring[i] for i in range(min(ncp, CP_RING)))
    roles = []
    for c in range(nr_thread_slots):
        roles.append(ROLE_NAMES[ms_threads[c].role])
    return {
        "threads": threads,
        "roles": roles,
        "global": {G_NAMES[i]: gstats[i] for i in range(G_NR)},
        "memcgs_online": online,
        "memcgs_dying": dying,
        "child_caches": caches,
        "objects_held": held,
        "objects_in_flight": in_flight,
        "root_memory": root_memory,
        "stock_pages": stock,
        "partial_pages": partial,
        "cpu_partial_pages": cpu_partial,
        "cpus_online": READ_ONCE_I(&nr_cpus_online),
        "grace_periods": rcu_gp_count(),
        "rcu_pending": rcu_pending_callbacks(),
        "slab_pages_reserved": READ_ONCE_L(&nr_pages_reserved),
        "gp_histogram_us_log2": [hist[i] for i in range(32)],
        "checkpoints": ncp,
        "checkpoint_pause_ns": pauses,
        "checkpoint_stop_ns": stops,        # the part of each pause spent stopping the world
        "checkpoint_max_ns": cp_max_ns,
        "violations": READ_ONCE_L(&nr_violations),
        "delays_taken": {DP_NAMES[i]: dp_taken[i] for i in range(DP_NR)},
        "windows": window_counts(),
        "lockdep_violations": READ_ONCE_L(&lockdep_violations),
    }
