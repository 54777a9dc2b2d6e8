# hotplug.pxi: CPU hotplug, after kernel/cpu.c (_cpu_down, _cpu_up) and the
# dead-CPU callbacks of Linux 5.4 (docs/DESIGN.md, hotplug).
#
# The hotplug actor is a user writing /sys/devices/system/cpu/cpuN/online.
# Its own CPU is the control CPU: the dead callbacks run there, as the
# kernel runs the CPUHP_*_DEAD states on the CPU that takes another down.
# The CPUs it takes down are the workers' and the spare ones (slots with no
# thread at the start, online and idle).  A CPU keeps one task at most, so
# taking a worker's CPU down needs a free online CPU: the worker moves there
# at its next safe point (migrate_tasks), then the CPU goes down under
# cpus_write_lock and the callbacks fold what it held, in the kernel's
# teardown order (highest state first):
#
#   the pending stock drain work  (workqueue_offline_cpu: the unbound pool
#                                 runs it on another CPU)
#   page_alloc_cpu_dead            CPUHP_PAGE_ALLOC_DEAD: cpu_vm_stats_fold,
#                                 the node counters' residue of that CPU
#   memcg_hotplug_cpu_dead         CPUHP_MM_MEMCQ_DEAD (memcontrol_charge.pxi): drain_stock of that
#                                 CPU's stock, then the stat residues fold
#   slub_cpu_dead                  CPUHP_SLUB_DEAD (slub.pxi): __flush_cpu_slab of every
#                                 cache, under slab_mutex
#
# 5.4's memcg_hotplug_cpu_dead folds with this_cpu_xchg (the control CPU's
# residues, not the dead one's) and adds each once per level to the memcg
# itself (`&memcg->vmstats[i]` inside the loop over `mi`).  The model runs
# that by default; fix_hotplug_fold runs the fix (a3d4c05a4474, "mm:
# memcontrol: fix cpuhotplug statistics flushing": the dead CPU's residues,
# to every ancestor).  for_each_mem_cgroup skips a memcg whose css refcount
# is zero (css_tryget in mem_cgroup_iter): released, not yet freed.

cdef int hotplug_actor_done = 0     # WRITE_ONCE by the hotplug actor when it left its loop

cdef void cpus_write_lock() noexcept nogil:
    """cpus_write_lock (percpu_down_write): the hotplug actor only, holding
    nothing else.  It takes the lock when no reader is inside; while readers
    are, it lets go, polls the stop of the world and tries again."""
    cdef timespec nap
    cdef int spins = 0
    nap.tv_sec = 0
    nap.tv_nsec = 20000
    while True:
        xchg_I(&cpu_hotplug_writer, 1)             # fully ordered: before the readers test
        if READ_ONCE_L(&cpu_hotplug_readers) == 0:
            lockdep_acquire(LC_CPU_HOTPLUG, "cpus_write_lock")
            return
        WRITE_ONCE_I(&cpu_hotplug_writer, 0)
        stw_poll()
        spins += 1
        if spins & 63:
            cpu_relax()
        else:
            cpu_nanosleep(&nap)

cdef void cpus_write_unlock() noexcept nogil:
    lockdep_release(LC_CPU_HOTPLUG)
    smp_store_release_I(&cpu_hotplug_writer, 0)

cdef inline bint cpu_hotpluggable(int cpu) noexcept nogil:
    return cpu < nr_workers or \
        (cfg.hotplug_first_spare <= cpu < cfg.hotplug_first_spare + cfg.hotplug_spares)

cdef void set_cpu_online(int cpu, bint online) noexcept nogil:
    global nr_cpus_online
    WRITE_ONCE_I(&cpu_online_mask[cpu], 1 if online else 0)
    WRITE_ONCE_I(&nr_cpus_online, nr_cpus_online + (1 if online else -1))

cdef void hotplug_stock_work(int cpu) noexcept nogil:
    """A drain work still queued on `cpu` when it goes down runs on the
    unbound pool, here: drain_local_stock drains this CPU's stock and clears
    this CPU's flag; the dead CPU's FLUSHING_CACHED_CHARGE stays set, and
    drain_all_stock never queues a drain for that CPU again."""
    cdef long *st = per_cpu_ptr_L(memcg_stock, cpu)
    if READ_ONCE_L(&st[STOCK_WORK]):
        WRITE_ONCE_L(&st[STOCK_WORK], 0)
        drain_local_stock()
        atomic_add_L(&gstats[G_STOCK_FLAG_STUCK], 1)

cdef void page_alloc_cpu_dead(int cpu) noexcept nogil:
    """cpu_vm_stats_fold: the node counters' residue of the dead CPU."""
    cdef long *p
    cdef long x
    cdef int i
    for i in range(2):
        p = per_cpu_ptr_L(node_stat[i].pcpu, cpu)
        x = READ_ONCE_L(p)
        if x:
            WRITE_ONCE_L(p, 0)
            atomic_add_L(&node_stat[i].count, x)

cdef void cpu_down_callbacks(int cpu) noexcept nogil:
    """The teardown of a CPU that no task runs on any more, on the control
    CPU, with cpus_write_lock held and the CPU out of cpu_online_mask."""
    hotplug_stock_work(cpu)
    page_alloc_cpu_dead(cpu)
    memcg_hotplug_cpu_dead(cpu)
    slub_cpu_dead(cpu)

cdef int hotplug_free_cpu(ms_rng *rng, int other_than) noexcept nogil:
    """A random online hotpluggable CPU that no thread runs on, or -1."""
    cdef int cands[MS_MAX_CPUS]
    cdef int c, k = 0
    for c in range(ms_nr_cpu_ids):
        if c != other_than and cpu_hotpluggable(c) and cpu_online(c) and READ_ONCE_I(&ms_cpu_owner[c]) == 0:
            cands[k] = c
            k += 1
    return cands[ms_rng_below(rng, k)] if k else -1

cdef int hotplug_worker_on(int cpu) noexcept nogil:
    cdef int i
    for i in range(nr_workers):
        if READ_ONCE_I(&workers[i].slot) == cpu and not READ_ONCE_I(&workers[i].exited):
            return i
    return -1

cdef bint migrate_worker_off(int w, int to) noexcept nogil:
    """Ask worker w to move to CPU `to` and wait until it did (True), or
    until the run stops running (False: the request is withdrawn)."""
    cdef timespec nap
    nap.tv_sec = 0
    nap.tv_nsec = 20000
    smp_store_release_I(&workers[w].migrate_to, to)
    while READ_ONCE_I(&workers[w].migrate_to) >= 0:
        if not run_is_running() or READ_ONCE_I(&workers[w].exited):
            if cmpxchg_I(&workers[w].migrate_to, to, -1) == to:
                return False
        stw_poll()
        cpu_nanosleep(&nap)
    return READ_ONCE_I(&workers[w].slot) == to

cdef void cpu_down(ms_rng *rng, int cpu) noexcept nogil:
    """_cpu_down: move the task off, take the CPU out of the online mask and
    run the dead callbacks, under cpus_write_lock."""
    cdef int w = hotplug_worker_on(cpu)
    cdef int to
    if w >= 0:
        to = hotplug_free_cpu(rng, cpu)
        if to < 0 or not migrate_worker_off(w, to):
            return
        atomic_add_L(&gstats[G_CPU_MIGRATE], 1)
    if READ_ONCE_I(&ms_cpu_owner[cpu]) != 0:
        return                  # a worker that left keeps its slot until it unregisters
    cpus_write_lock()
    set_cpu_online(cpu, False)
    win_conflict(WIN_FLUSH_VS_HOTPLUG)
    fr_record(EV_CPU_DOWN, cpu, w)
    cpu_down_callbacks(cpu)
    atomic_add_L(&gstats[G_CPU_DOWN], 1)
    cpus_write_unlock()

cdef void cpu_up(int cpu) noexcept nogil:
    """_cpu_up: online again, idle until a worker moves there (no memcg or
    SLUB callback runs at bring-up)."""
    cpus_write_lock()
    set_cpu_online(cpu, True)
    fr_record(EV_CPU_UP, cpu, 0)
    atomic_add_L(&gstats[G_CPU_UP], 1)
    cpus_write_unlock()

cdef void hotplug_step(ms_thread *t) noexcept nogil:
    """One write to a CPU's `online` file: bring a random offline CPU up
    (always when nothing can go down, else by a coin), or take a random
    hotpluggable CPU down."""
    cdef int downs[MS_MAX_CPUS]
    cdef int ups[MS_MAX_CPUS]
    cdef int c, nd = 0, nu = 0
    cdef bint spare = hotplug_free_cpu(&t.rng, -1) >= 0
    for c in range(ms_nr_cpu_ids):
        if not cpu_hotpluggable(c):
            continue
        if not cpu_online(c):
            ups[nu] = c
            nu += 1
        elif READ_ONCE_I(&ms_cpu_owner[c]) == 0 or spare:
            downs[nd] = c
            nd += 1
    if nu and (nd == 0 or ms_rng_below(&t.rng, 2) == 0):
        cpu_up(ups[ms_rng_below(&t.rng, nu)])
    elif nd:
        cpu_down(&t.rng, downs[ms_rng_below(&t.rng, nd)])
