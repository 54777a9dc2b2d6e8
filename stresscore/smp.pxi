# smp.pxi: cross-CPU function calls, after kernel/smp.c (Linux 5.4).
# docs/DESIGN.md, smp.
#
# on_each_cpu_cond(cond, func, info, wait=1), which SLUB's flush_all uses:
# the caller queues a request on each chosen CPU's call_single_queue and
# spins until every one of them ran it.  A CPU of the model is a thread; it
# runs its queue at its next safe point (stw_poll, the worker loop, the
# waits of flush_workqueue and rcu_barrier), as a CPU takes the IPI when
# interrupts are on.  A CPU whose thread sleeps (a mutex it waits for, a
# stop of the world, a thread that left the run) is off: the kernel's CPU
# would run the IPI between tasks, so the waiting caller runs that CPU's
# queue for it, on its per-cpu data, exclusive with the owner by the
# state word below.
#
# While it runs a queue (its own or another CPU's) or walks its own list of
# active slabs, a thread is "in IPI context" (nest > 0): it neither takes
# its own IPIs nor goes off, so a wait inside a flush (synchronize_rcu in
# discard_slab) cannot run a second flush over the same per-cpu state.

cdef enum:
    CPU_ON = 0          # the owner runs and takes its IPIs at safe points
    CPU_OFF = 1         # the owner sleeps: a caller may run this CPU's queue
    CPU_SERVED = 2      # a caller runs this CPU's queue now (owner waits to come back)

ctypedef void (*smp_call_func_t)(int cpu, void *info) noexcept nogil

cdef struct call_single_data:
    mpsc_node node              # first: the queue links through it
    smp_call_func_t func
    void *info
    int done                    # store-release by whoever ran it; the caller polls

cdef struct smp_cpu:
    mpsc_queue queue            # call_single_queue: any caller pushes; the CPU (or its server) pops
    int state                   # CPU_*: cmpxchg between the owner and a caller
    int nest                    # owner only: in IPI context
    int off_depth               # owner only: nested cpu_off() calls
    int went_off                # owner only: the outermost cpu_off() set CPU_OFF
    char _pad[64]

cdef smp_cpu *smp_cpus = NULL       # MS_MAX_CPUS, 64-byte aligned
cdef int smp_threaded = 0           # a run's threads take IPIs; else (the Model) calls run at once
cdef long smp_stall_ns = 10000000000    # a CPU that has not run an IPI after this is a stall

cdef int smp_init() noexcept nogil:
    global smp_cpus
    cdef int i
    if smp_cpus == NULL:
        smp_cpus = <smp_cpu *>aligned_alloc(64, sizeof(smp_cpu) * MS_MAX_CPUS)
        if smp_cpus == NULL:
            return -1
    for i in range(MS_MAX_CPUS):
        mpsc_init(&smp_cpus[i].queue)
        smp_cpus[i].state = CPU_OFF     # no thread yet: callers serve it
        smp_cpus[i].nest = 0
        smp_cpus[i].off_depth = 0
        smp_cpus[i].went_off = 0
    return 0

cdef void smp_run_queue(int cpu) noexcept nogil:
    """Run every request queued on `cpu` (the owner with CPU_ON, or a caller
    holding CPU_SERVED)."""
    cdef call_single_data *csd
    cdef smp_cpu *me = &smp_cpus[ms_cpu] if ms_cpu >= 0 else NULL
    if me != NULL:
        me.nest += 1
    while True:
        csd = <call_single_data *>mpsc_pop(&smp_cpus[cpu].queue)
        if csd == NULL:
            break
        csd.func(cpu, csd.info)
        smp_store_release_I(&csd.done, 1)     # pairs with the caller's acquire
    if me != NULL:
        me.nest -= 1

cdef inline void smp_poll() noexcept nogil:
    """A safe point: take this CPU's IPIs."""
    cdef smp_cpu *c
    if ms_cpu >= 0 and smp_cpus != NULL:
        c = &smp_cpus[ms_cpu]
        if c.nest == 0 and not mpsc_empty(&c.queue):
            smp_run_queue(ms_cpu)

cdef void cpu_off() noexcept nogil:
    """The thread is about to sleep: its CPU takes IPIs without it."""
    cdef smp_cpu *c
    if ms_cpu < 0 or smp_cpus == NULL or not READ_ONCE_I(&smp_threaded):
        return
    c = &smp_cpus[ms_cpu]
    c.off_depth += 1
    if c.off_depth == 1 and c.nest == 0:
        c.went_off = 1
        smp_store_release_I(&c.state, CPU_OFF)    # our per-cpu writes before a caller's reads

cdef void cpu_on() noexcept nogil:
    """Back from sleep: wait for a caller serving our queue to finish."""
    cdef smp_cpu *c
    cdef int spins = 0
    if ms_cpu < 0 or smp_cpus == NULL:
        return
    c = &smp_cpus[ms_cpu]
    if c.off_depth == 0:
        return
    c.off_depth -= 1
    if c.off_depth == 0 and c.went_off:
        c.went_off = 0
        # fully ordered: a caller's writes to our per-cpu data before ours
        while cmpxchg_I(&c.state, CPU_OFF, CPU_ON) != CPU_OFF:
            spins += 1
            if spins & 63:
                cpu_relax()
            else:
                sched_yield()

cdef void cpu_sleep_hook(int entering) noexcept nogil:
    """locks.h calls it around a blocking pthread_mutex_lock."""
    if entering:
        cpu_off()
    else:
        cpu_on()

cdef void cpu_start() noexcept nogil:
    """A thread of the run takes its slot: its CPU is on."""
    cdef smp_cpu *c = &smp_cpus[ms_cpu]
    c.off_depth = 0
    c.went_off = 0
    c.nest = 0
    while cmpxchg_I(&c.state, CPU_OFF, CPU_ON) != CPU_OFF:
        sched_yield()

cdef void cpu_leave() noexcept nogil:
    """The thread leaves the run: its CPU stays off (callers serve it); what
    its per-cpu slabs hold stays there, as on a CPU whose tasks all exited."""
    cdef smp_cpu *c = &smp_cpus[ms_cpu]
    smp_poll()
    c.off_depth = 0
    c.went_off = 0
    smp_store_release_I(&c.state, CPU_OFF)

cdef void cpu_nanosleep(timespec *ts) noexcept nogil:
    """nanosleep for a thread of the run: its CPU is off while it sleeps,
    so a flush_all caller does not wait for it to wake."""
    cpu_off()
    nanosleep(ts, NULL)
    cpu_on()

cdef int on_each_cpu_mask(int *cpus, int n, smp_call_func_t func, void *info) noexcept nogil:
    """Run func(cpu, info) on each CPU of cpus[0..n) and wait for all of them
    (smp_call_function_many with wait, plus the local call).  The caller
    keeps taking its own IPIs while it waits (the kernel's csd_lock_wait
    spins with interrupts on), and runs the queue of a CPU that is off
    (parked for a stop of the world included).  0,
    or -1 when one CPU did not answer within the stall bound (a violation
    names it)."""
    cdef call_single_data csd[MS_MAX_CPUS]
    cdef int i, cpu, left, spins = 0
    cdef smp_cpu *tc
    cdef unsigned long long t0 = 0, now
    cdef timespec nap
    nap.tv_sec = 0
    nap.tv_nsec = 10000
    for i in range(n):
        cpu = cpus[i]
        csd[i].func = func
        csd[i].info = info
        csd[i].done = 0
        if not READ_ONCE_I(&smp_threaded) or cpu == ms_cpu:
            func(cpu, info)                 # the Model, or the local call
            csd[i].done = 1
        else:
            atomic_add_L(&gstats[G_SMP_CALLS], 1)
            mpsc_push(&smp_cpus[cpu].queue, &csd[i].node)
    while True:
        left = 0
        for i in range(n):
            if smp_load_acquire_I(&csd[i].done):
                continue
            left += 1
            tc = &smp_cpus[cpus[i]]
            if READ_ONCE_I(&tc.state) == CPU_OFF and cmpxchg_I(&tc.state, CPU_OFF, CPU_SERVED) == CPU_OFF:
                smp_run_queue(cpus[i])
                atomic_add_L(&gstats[G_SMP_SERVED_OFF], 1)
                smp_store_release_I(&tc.state, CPU_OFF)
        if left == 0:
            return 0
        # No stop-the-world safe point here: the caller may hold slab_mutex,
        # which a thread the stop waits for may be blocked on.  A stop does
        # not wait on us for long: the parked CPUs are off, and we run their
        # queues ourselves.
        smp_poll()
        spins += 1
        if spins & 63:
            cpu_relax()
            continue
        # After 64 spins, nap (our CPU off, so a caller that waits on us
        # serves our queue): with more threads than cores, a waiter that
        # only yields keeps the CPU it waits for from its safe point.
        cpu_nanosleep(&nap)
        now = ms_now_ns()
        if t0 == 0:
            t0 = now
        elif now - t0 > <unsigned long long>smp_stall_ns:
            for i in range(n):
                if not smp_load_acquire_I(&csd[i].done):
                    # the request stays queued on that CPU: it must not run
                    # after our frame is gone, so we keep waiting, but say so
                    violationf(V_STALL, cpus[i], 0,
                               "on_each_cpu_cond: CPU %ld has not run the IPI after %ld ms",
                               cpus[i], <long>((now - t0) // 1000000))
                    break
            t0 = now


# ---------------------------------------------------------------------------
# CPU hotplug state (kernel/cpu.c, Linux 5.4): cpu_online_mask and
# cpu_hotplug_lock.  hotplug.pxi takes CPUs down and up; everything that
# walks "each online cpu" in the kernel reads cpu_online() here.

cdef int cpu_online_mask[MS_MAX_CPUS]   # WRITE_ONCE by the hotplug actor under the write lock; READ_ONCE anywhere
cdef int nr_cpus_online = 0             # WRITE_ONCE with the mask

cdef inline bint cpu_online(int cpu) noexcept nogil:
    return READ_ONCE_I(&cpu_online_mask[cpu]) != 0

cdef void cpu_online_init(int n) noexcept nogil:
    """Every slot of a run online (between runs)."""
    global nr_cpus_online
    cdef int i
    for i in range(MS_MAX_CPUS):
        cpu_online_mask[i] = 1 if i < n else 0
    nr_cpus_online = n

# cpu_hotplug_lock, a percpu_rw_semaphore: cpus_read_lock (get_online_cpus)
# around slab_common's slab_mutex sections and kmem_cache_shrink, as 5.4
# takes it; cpus_write_lock by the hotplug actor around a CPU's down or up.
# A reader that finds the writer inside waits, its CPU off (a flush_all
# caller serves its IPIs), without parking for a stop of the world: it may
# hold cgroup_mutex (the offline path) as a kernel reader may.  The writer
# takes the lock only when no reader is inside, and backs off to park when a
# stop is requested: it never holds the lock at a safe point, so a stop
# never waits on a reader that waits on it.
cdef long cpu_hotplug_readers = 0   # atomic: readers inside, or announcing themselves
cdef int cpu_hotplug_writer = 0     # 1 while the writer holds (or is taking) the lock

cdef void cpus_read_lock_untracked() noexcept nogil:
    """cpus_read_lock without lockdep's record (the sysfs shrink write unless
    cfg.lockdep_shrink_hotplug: README finding 10 would stop every run)."""
    cdef timespec nap
    cdef int spins = 0
    while True:
        fetch_add_L(&cpu_hotplug_readers, 1)       # fully ordered: before the writer test
        if not READ_ONCE_I(&cpu_hotplug_writer):
            return
        fetch_add_L(&cpu_hotplug_readers, -1)
        nap.tv_sec = 0
        nap.tv_nsec = 20000
        while READ_ONCE_I(&cpu_hotplug_writer):
            spins += 1
            if spins & 63:
                cpu_relax()
            else:
                cpu_nanosleep(&nap)

cdef void cpus_read_lock_at(const char *func) noexcept nogil:
    lockdep_acquire(LC_CPU_HOTPLUG, func)
    cpus_read_lock_untracked()

cdef inline void cpus_read_lock() noexcept nogil:
    cpus_read_lock_at("cpus_read_lock")

cdef inline void cpus_read_unlock_untracked() noexcept nogil:
    fetch_add_L(&cpu_hotplug_readers, -1)          # release: the section before

cdef void cpus_read_unlock() noexcept nogil:
    lockdep_release(LC_CPU_HOTPLUG)
    cpus_read_unlock_untracked()
