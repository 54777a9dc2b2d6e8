# controller.pxi: the controller of a run and the workqueue and RCU
# callback thread loops (docs/DESIGN.md, controller).
#
# The controller plays the system: mkdir, rmdir, task migration, module
# caches (kmem_cache_create / kmem_cache_destroy with unloading), limits,
# the periodic checkpoints, and at the end the drain and the final checks.

cdef enum:
    MAX_CTL_MEMCGS = 256
    MAX_MODULES = 8

cdef mem_cgroup *ctl_online[MAX_CTL_MEMCGS]     # controller only: online memcgs but root
cdef int ctl_nr_online = 0
cdef int ctl_modules[MAX_MODULES]               # controller only: root index per module handle
cdef int ctl_nr_modules = 0
cdef int ctl_unload_index = -1                  # controller only: the root being unloaded
cdef long ctl_unload_gen = 0
# The module actor (module caches in their own thread, cfg.module_actor)
# owns ctl_modules, ctl_unload_*; its request that the controller rmdir a
# memcg using the root being unloaded: root index + 1, 0 when none (atomic).
cdef long ctl_rmdir_request = 0
cdef int module_actor_done = 0                  # WRITE_ONCE by the module actor when it left its loop
cdef int cgroup_actor_done = 0                  # WRITE_ONCE by the cgroup actor when it left its loop
cdef int sysfs_actor_done = 0                   # WRITE_ONCE by the sysfs actor when it left its loop
cdef int drain_hold = 0                         # tests: the controller's drain waits while set (WRITE_ONCE from Python)
# The kernel holds cgroup_mutex across the whole of cgroup_mkdir,
# cgroup_rmdir (cgroup_kn_lock_live) and a task migration
# (cgroup_procs_write -> cgroup_kn_lock_live); the model's cgroup_mutex is
# taken inside them for the parts it protects, so this lock stands for that
# outer hold.  It also protects ctl_online and ctl_nr_online.
cdef ms_mutex cgroup_ops_mutex

cdef int memcg_online_children(mem_cgroup *m) noexcept nogil:
    cdef int i, n = 0
    for i in range(ctl_nr_online):
        if ctl_online[i].parent == m:
            n += 1
    return n

cdef int memcg_nr_workers(mem_cgroup *m) noexcept nogil:
    cdef int i, n = 0
    for i in range(nr_workers):
        if workers[i].memcg == m:
            n += 1
    return n

cdef mem_cgroup *ctl_random_memcg(ms_rng *rng, bint with_root) noexcept nogil:
    cdef unsigned int k
    if with_root:
        k = ms_rng_below(rng, ctl_nr_online + 1)
        if k == <unsigned int>ctl_nr_online:
            return root_mem_cgroup
        return ctl_online[k]
    if ctl_nr_online == 0:
        return NULL
    return ctl_online[ms_rng_below(rng, ctl_nr_online)]

cdef void ctl_mkdir(ms_rng *rng) noexcept nogil:
    global ctl_nr_online
    cdef mem_cgroup *parent
    cdef mem_cgroup *m
    if ctl_nr_online >= cfg.max_memcgs or ctl_nr_online >= MAX_CTL_MEMCGS:
        return
    parent = ctl_random_memcg(rng, True)
    if parent.depth >= cfg.max_depth:
        parent = root_mem_cgroup
    m = mem_cgroup_create(parent)
    if m != NULL:
        ctl_online[ctl_nr_online] = m
        ctl_nr_online += 1

cdef bint ctl_rmdir_one(mem_cgroup *m) noexcept nogil:
    global ctl_nr_online
    cdef int i
    if memcg_online_children(m) or memcg_nr_workers(m):
        return False
    if mem_cgroup_rmdir(m) != 0:
        return False
    for i in range(ctl_nr_online):
        if ctl_online[i] == m:
            ctl_nr_online -= 1
            ctl_online[i] = ctl_online[ctl_nr_online]
            break
    return True

cdef void ctl_migrate(ms_rng *rng) noexcept nogil:
    cdef ms_worker *w
    cdef mem_cgroup *m
    if nr_workers == 0:
        return
    w = &workers[ms_rng_below(rng, nr_workers)]
    m = ctl_random_memcg(rng, True)
    if m != w.memcg:
        fr_record(EV_MIGRATE, w.cpu, m.id)
        mem_cgroup_migrate(&w.memcg, m)

cdef long root_live_objects(int index) noexcept nogil:
    cdef long n = 0
    cdef int i
    for i in range(nr_workers):
        n += READ_ONCE_L(&workers[i].live_by_root[index])
    return n

cdef bint workers_saw(long gen) noexcept nogil:
    cdef int i
    for i in range(nr_workers):
        if smp_load_acquire_L(&ms_threads[workers[i].cpu].kick_seen) < gen \
                and not READ_ONCE_I(&workers[i].exited):
            return False
    return True

cdef void ctl_rmdir_user_of(kmem_cache *root) noexcept nogil:
    """rmdir one removable memcg that has a child cache of `root`."""
    cdef int i, id
    cdef memcg_cache_array *arr = root.memcg_caches
    for i in range(ctl_nr_online):
        id = READ_ONCE_I(&ctl_online[i].kmemcg_id)
        if 0 <= id < arr.size and READ_ONCE_P(<void **>&arr.entries[id]) != NULL:
            if ctl_rmdir_one(ctl_online[i]):
                return

cdef void ctl_finish_unload() noexcept nogil:
    """Destroy the root being unloaded once every worker let go of it."""
    global ctl_unload_index
    cdef timespec ts
    if ctl_unload_index >= 0 and workers_saw(ctl_unload_gen) \
            and root_live_objects(ctl_unload_index) == 0:
        # A service stops: its cgroup goes away as its module unloads, so
        # the offline's deactivation races with kmem_cache_destroy.
        if cfg.module_actor:
            # the cgroup operation is the controller's (it owns the online
            # list): ask, and destroy once it did the rmdir
            ts.tv_sec = 0
            ts.tv_nsec = 20000
            smp_store_release_L(&ctl_rmdir_request, ctl_unload_index + 1)
            while READ_ONCE_L(&ctl_rmdir_request) and READ_ONCE_I(&run_state) == RUN_RUNNING:
                stw_poll()
                cpu_nanosleep(&ts)
        else:
            ms_mutex_lock(&cgroup_ops_mutex)
            ctl_rmdir_user_of(roots[ctl_unload_index])
            ms_mutex_unlock(&cgroup_ops_mutex)
        kmem_cache_destroy(ctl_unload_index)
        ctl_unload_index = -1

cdef void ctl_module(ms_rng *rng) noexcept nogil:
    """Module caches: create (some merge), destroy; the last reference of a
    root goes through unloading: workers stop using it and free their objects
    of it, then kmem_cache_destroy."""
    global ctl_nr_modules, ctl_unload_index, ctl_unload_gen
    cdef int idx, k
    cdef kmem_cache *s
    if ctl_unload_index >= 0:
        return
    if ctl_nr_modules < MAX_MODULES and ms_rng_below(rng, 2) == 0:
        k = ms_rng_below(rng, 3)
        if k == 0:
            idx = kmem_cache_create(256, 16, 0, 0, 0)      # merges with its twin
        elif k == 1:
            idx = kmem_cache_create(512, 8, 0, 1, 0)
        else:
            idx = kmem_cache_create(1024, 16, 2, 0, 1)     # TYPESAFE_BY_RCU: never merges
        if idx >= 0:
            ctl_modules[ctl_nr_modules] = idx
            ctl_nr_modules += 1
        return
    if ctl_nr_modules == 0:
        return
    k = ms_rng_below(rng, ctl_nr_modules)
    idx = ctl_modules[k]
    ctl_nr_modules -= 1
    ctl_modules[k] = ctl_modules[ctl_nr_modules]
    s = roots[idx]
    if s.refcount > 1:
        kmem_cache_destroy(idx)
        return
    WRITE_ONCE_I(&s.unloading, 1)
    ctl_unload_index = idx
    ctl_unload_gen = fetch_add_L(&kick_gen, 1) + 1

cdef void ctl_limit(ms_rng *rng) noexcept nogil:
    """A memory.max write: not under cgroup_mutex (kernfs holds the css)."""
    cdef mem_cgroup *m
    ms_mutex_lock(&cgroup_ops_mutex)
    m = ctl_random_memcg(rng, False)
    if m != NULL:
        css_get(m)
    ms_mutex_unlock(&cgroup_ops_mutex)
    if m == NULL:
        return
    if ms_rng_below(rng, 2) == 0:
        mem_cgroup_set_limit(m, 0x7fffffffffffffff)
    else:
        mem_cgroup_set_limit(m, READ_ONCE_L(&m.memory) + ms_rng_below(rng, 64))
    css_put(m)

cdef void cgroup_serve_request() noexcept nogil:
    """The module actor asked for the rmdir of a memcg using the root it
    unloads."""
    cdef long req = smp_load_acquire_L(&ctl_rmdir_request)
    if req:
        ms_mutex_lock(&cgroup_ops_mutex)
        ctl_rmdir_user_of(roots[req - 1])
        ms_mutex_unlock(&cgroup_ops_mutex)
        smp_store_release_L(&ctl_rmdir_request, 0)

cdef void cgroup_tree_step(ms_rng *rng) noexcept nogil:
    """mkdir or rmdir (weights w_mkdir, w_rmdir), under cgroup_mutex's
    outer hold."""
    cdef int total = cfg.w_mkdir + cfg.w_rmdir
    cdef mem_cgroup *m
    if total <= 0:
        return
    ms_mutex_lock(&cgroup_ops_mutex)
    if <int>ms_rng_below(rng, total) < cfg.w_mkdir:
        ctl_mkdir(rng)
    else:
        m = ctl_random_memcg(rng, False)
        if m != NULL:
            ctl_rmdir_one(m)
    ms_mutex_unlock(&cgroup_ops_mutex)

cdef void controller_step(ms_rng *rng) noexcept nogil:
    cdef int w_module = 0 if cfg.module_actor else cfg.w_module
    cdef int w_tree = 0 if cfg.cgroup_actor else cfg.w_mkdir + cfg.w_rmdir
    cdef int total = w_tree + cfg.w_migrate + w_module + cfg.w_limit
    cdef int x
    if not cfg.module_actor:
        ctl_finish_unload()
    if not cfg.cgroup_actor:
        cgroup_serve_request()
    if total <= 0:
        return
    x = ms_rng_below(rng, total)
    if x < w_tree:
        cgroup_tree_step(rng)
        return
    x -= w_tree
    if x < cfg.w_migrate:
        ms_mutex_lock(&cgroup_ops_mutex)
        ctl_migrate(rng)
        ms_mutex_unlock(&cgroup_ops_mutex)
        return
    x -= cfg.w_migrate
    if x < w_module:
        ctl_module(rng)
        return
    ctl_limit(rng)

cdef void quiesce(int rounds) noexcept nogil:
    """Flush the workqueues and the RCU callbacks until only root is left,
    or nothing is queued and nothing was freed for ten rounds in a row
    (what is left then is leaked: no work or callback can free it, and the
    final checks report it), or `rounds` rounds went by."""
    cdef int i, still = 0
    cdef long left, last = -1
    for i in range(rounds):
        flush_workqueue(WQ_CGROUP_DESTROY)
        flush_workqueue(WQ_KMEM_CACHE)
        rcu_barrier()
        flush_workqueue(WQ_CGROUP_DESTROY)
        flush_workqueue(WQ_KMEM_CACHE)
        flush_workqueue(WQ_SYSTEM)
        left = list_count(&memcg_all)
        if wq_all_empty() and rcu_pending_callbacks() == 0:
            if left == 1:
                break
            still = still + 1 if left == last else 0
            if still >= 10:
                break
        else:
            still = 0
        last = left

cdef void controller_drain() noexcept nogil:
    """End of run: workers leave having freed everything; remove every
    cgroup, destroy the module caches, flush, check the end invariants."""
    global ctl_nr_modules, ctl_unload_index
    cdef timespec ts
    cdef int i, progress
    ts.tv_sec = 0
    ts.tv_nsec = 100000
    while READ_ONCE_I(&drain_hold):
        cpu_nanosleep(&ts)        # a test holds the drain (run.pxi hold_drain)
    while True:
        progress = 0
        for i in range(nr_workers):
            if not READ_ONCE_I(&workers[i].exited):
                progress = 1
        if cfg.module_actor and not smp_load_acquire_I(&module_actor_done):
            progress = 1            # its module caches pass to the drain when it left
        if cfg.active_memcg_actor and not smp_load_acquire_I(&active_memcg_done):
            progress = 1
        if cfg.cgroup_actor and not smp_load_acquire_I(&cgroup_actor_done):
            progress = 1
        if cfg.sysfs_actor and not smp_load_acquire_I(&sysfs_actor_done):
            progress = 1
        if cfg.hotplug_actor and not smp_load_acquire_I(&hotplug_actor_done):
            progress = 1
        if smp_load_acquire_L(&ctl_rmdir_request):
            smp_store_release_L(&ctl_rmdir_request, 0)
        if not progress:
            break
        cpu_nanosleep(&ts)
    for i in range(nr_workers):
        if workers[i].memcg != root_mem_cgroup:
            mem_cgroup_migrate(&workers[i].memcg, root_mem_cgroup)
    while ctl_nr_online:
        progress = 0
        for i in range(ctl_nr_online - 1, -1, -1):
            if i < ctl_nr_online and ctl_rmdir_one(ctl_online[i]):
                progress = 1
        if not progress:
            break
    if ctl_unload_index >= 0:
        kmem_cache_destroy(ctl_unload_index)
        ctl_unload_index = -1
    while ctl_nr_modules:
        ctl_nr_modules -= 1
        kmem_cache_destroy(ctl_modules[ctl_nr_modules])
    quiesce(2000)
    # no flush of what the cpus' slabs keep: count what it pins, then unpin
    # it as a user can (shrink), and hold the end invariants after that
    pinned_check()
    shrink_all_caches()
    quiesce(2000)
    run_checkers(True, True)

cdef void controller_loop() noexcept nogil:
    cdef ms_thread *t = this_thread()
    cdef unsigned long long now, next_cp = ms_now_ns() + cfg.checkpoint_ns
    cdef timespec ts
    ts.tv_sec = cfg.ctl_interval_ns // 1000000000
    ts.tv_nsec = cfg.ctl_interval_ns % 1000000000
    while READ_ONCE_I(&run_state) == RUN_RUNNING:
        if cfg.controller_on:
            controller_step(&t.rng)
            t.counters[CNT_OPS] += 1
        if cfg.checkpoint_ns:
            now = ms_now_ns()
            if now >= next_cp:
                checkpoint()
                next_cp = ms_now_ns() + cfg.checkpoint_ns
        if cfg.ctl_interval_ns:
            cpu_nanosleep(&ts)
    controller_drain()
    WRITE_ONCE_I(&run_state, RUN_DONE)

ctypedef void (*actor_step_t)(ms_thread *t) noexcept nogil

cdef void actor_loop(actor_step_t step, long *interval, int *done) noexcept nogil:
    """An actor's thread: one step every *interval ns while the run runs
    (re-read each step: --steer coverage may change it), parking at
    stop-the-world requests between steps; *done when it left."""
    cdef ms_thread *t = this_thread()
    cdef timespec ts
    cdef long interval_ns
    while READ_ONCE_I(&run_state) == RUN_RUNNING:
        stw_poll()
        step(t)
        t.counters[CNT_OPS] += 1
        interval_ns = READ_ONCE_L(interval)
        if interval_ns:
            ts.tv_sec = interval_ns // 1000000000
            ts.tv_nsec = interval_ns % 1000000000
            stw_nap(&ts)                # a safe point: a stop does not wait for the nap
    smp_store_release_I(done, 1)

cdef void module_step(ms_thread *t) noexcept nogil:
    """The module actor: module caches in their own task, as module init and
    exit run in other tasks than rmdir: kmem_cache_create (merging into an
    alias raises the refcount), kmem_cache_destroy of any alias, the last
    one through unloading (mm/slab_common.c).  Serialised with everything
    else only by slab_mutex, memcg_cache_ids_sem and the dying flag, as in
    the kernel."""
    ctl_finish_unload()
    if cfg.controller_on and cfg.w_module > 0:
        ctl_module(&t.rng)

cdef void cgroup_step(ms_thread *t) noexcept nogil:
    """The cgroup actor: mkdir and rmdir in a task of their own, beside the
    controller's migrations and limit writes; serialised with migrations by
    cgroup_mutex's outer hold, as in the kernel, and with nothing else."""
    cgroup_serve_request()
    if cfg.controller_on:
        cgroup_tree_step(&t.rng)

cdef void active_memcg_loop() noexcept nogil:
    """A memalloc_use_memcg() user (include/linux/sched/mm.h), as fsnotify
    allocates events for the memcg of the group's creator
    (fs/notify/fanotify/fanotify.c, fanotify_alloc_event): it holds a css
    reference on a memcg (css_tryget: online or not), sets it as
    current->active_memcg and allocates for it while the controller may
    rmdir it.  memcg_kmem_get_cache then reads kmemcg_id and entries[id] of
    a memcg it holds no online reference on, inside its read section: the
    reader that the grace period between deactivation and kill is for.  It
    allocates from the built-in roots only (its caches are never destroyed)
    and frees at once; it takes flush_all's IPIs like any CPU."""
    global active_memcg_held
    cdef ms_thread *t = this_thread()
    cdef mem_cgroup *m
    cdef ms_object *o
    cdef kmem_cache *root
    cdef long left = 0
    cdef timespec ts
    ts.tv_sec = cfg.active_memcg_interval_ns // 1000000000
    ts.tv_nsec = cfg.active_memcg_interval_ns % 1000000000
    while READ_ONCE_I(&run_state) == RUN_RUNNING:
        stw_poll()
        poll_kick()
        poll_stock()
        if active_memcg_held == NULL and nr_workers > 0:
            # get_mem_cgroup_from_mm of some task: under RCU, a tryget
            rcu_read_lock()
            m = <mem_cgroup *>READ_ONCE_P(<void **>&workers[ms_rng_below(&t.rng, nr_workers)].memcg)
            if memcg_ok(m, 20) and m != root_mem_cgroup and percpu_ref_tryget(&m.css):
                WRITE_ONCE_P(<void **>&active_memcg_held, m)
                left = 16 + ms_rng_below(&t.rng, 2048)
            rcu_read_unlock()
        if active_memcg_held != NULL:
            root = <kmem_cache *>READ_ONCE_P(<void **>&roots[ms_rng_below(&t.rng, nr_builtin_roots)])
            o = kmem_cache_alloc(root, &active_memcg_held)     # memalloc_use_memcg(m)
            if o != NULL:
                kmem_cache_free(o)
            left -= 1
            if left <= 0:
                m = active_memcg_held
                WRITE_ONCE_P(<void **>&active_memcg_held, NULL)
                css_put(m)                                     # the group goes
        t.counters[CNT_OPS] += 1
        if cfg.active_memcg_interval_ns:
            cpu_nanosleep(&ts)
    if active_memcg_held != NULL:
        m = active_memcg_held
        WRITE_ONCE_P(<void **>&active_memcg_held, NULL)
        css_put(m)
    drain_local_stock()                 # as a worker's at the end of its drain
    smp_store_release_I(&active_memcg_done, 1)

cdef void workqueue_loop() noexcept nogil:
    """A kworker: serve every workqueue's per-CPU pools, one work at a time
    from each pool no other kworker runs (max_active 1), sweeping them from
    a seeded random start so that no CPU's pool is served before another's
    by rule (kernel/workqueue.c, worker_thread; here kworkers are not bound
    to a CPU: any of them runs a CPU's next work)."""
    cdef ms_thread *t = this_thread()
    cdef timespec ts
    cdef int k, j, start, total, ran
    ts.tv_sec = 0
    ts.tv_nsec = 50000
    while True:
        stw_poll()
        total = WQ_NR * wq_nr_pools()
        start = ms_rng_below(&t.rng, total)
        ran = 0
        for k in range(total):
            j = (start + k) % total
            if wq_run_pool(j // wq_nr_pools(), j % wq_nr_pools()):
                t.counters[CNT_OPS] += 1
                ran = 1
                stw_poll()
        if ran:
            continue
        if READ_ONCE_I(&run_state) == RUN_DONE and wq_all_empty():
            break
        stw_nap(&ts)                    # idle, holding nothing

cdef void rcu_thread_loop(int index) noexcept nogil:
    """An RCU callback thread: serves the lists of the cpus c with c %
    nr_rcu_threads == index, taking their batches together (one grace
    period) and invoking them list by list in a seeded random order: each
    list in its FIFO order, no order between lists (kernel/rcu/tree.c,
    rcu_do_batch runs per CPU)."""
    cdef ms_thread *t = this_thread()
    cdef int x, nr = cfg.nr_rcu_threads if cfg.nr_rcu_threads > 0 else 1
    cdef timespec ts
    ts.tv_sec = 0
    ts.tv_nsec = 20000
    while True:
        stw_poll()
        x = rcu_process_callbacks_share(index, nr, &t.rng)
        if x:
            t.counters[CNT_OPS] += x
            continue
        if READ_ONCE_I(&run_state) == RUN_DONE:
            break
        if rcu_wait_for_callbacks(200000):
            cpu_nanosleep(&ts)            # callbacks on another thread's lists
