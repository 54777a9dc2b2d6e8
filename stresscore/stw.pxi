# stw.pxi: the threads of a run and stop-the-world (docs/DESIGN.md, stw).
#
# Threads of a run, one per-cpu slot each: workers 0..n-1, then the
# controller, the kworkers (every workqueue's pools) and the RCU callback
# threads (each serves its share of the per-CPU callback lists); run.pxi's
# engine_setup lays them out and returns their roles.  Python
# starts them (threading.Thread -> engine_thread(cpu) in run.pxi -> `with
# nogil`) and joins them; native loops return status codes, never raise.
#
# This room holds what every later engine room shares: the roles, the run
# state, the run's configuration, the workers' state, and the
# stop-the-world protocol the checkpoints use.

cdef enum:
    ROLE_NONE = 0
    ROLE_WORKER = 1
    ROLE_CONTROLLER = 2
    ROLE_WORKQUEUE = 3
    ROLE_RCU = 4
    ROLE_MODULE = 5             # module caches: kmem_cache_create / kmem_cache_destroy (actor)
    ROLE_ACTIVE_MEMCG = 6       # memalloc_use_memcg() user (actor)
    ROLE_CGROUP = 7             # cgroup mkdir / rmdir (actor)
    ROLE_SYSFS = 8              # /sys/kernel/slab reader and shrink writer (actor)
    ROLE_HOTPLUG = 9            # CPU hotplug: takes worker and spare CPUs down and up (actor)

    RUN_IDLE = 0
    RUN_RUNNING = 1
    RUN_DRAINING = 2            # workers free everything and leave
    RUN_DONE = 3                # the controller finished the drain and the final checks

cdef enum:
    MS_LONG_LIVED_MAX = 16384   # a worker's long-lived set at most

# ---------------------------------------------------------------------------
# Configuration of a run (written by Python before the threads start,
# read-only while they run).
cdef struct run_config:
    int nr_workers
    int max_memcgs
    int max_depth
    long max_held               # objects a worker holds at most
    int alloc_pct               # of worker ops: allocate (when below max_held)
    int send_pct                # of worker ops: hand an object to another worker
    long long_lived             # a worker's long-lived set: capacity (0: none)
    unsigned int long_lived_thresh  # of 2**20: allocations that go into it (0 when long_lived is 0)
    long ctl_interval_ns        # controller pacing
    int w_mkdir
    int w_rmdir
    int w_migrate
    int w_module
    int w_limit
    long checkpoint_ns          # 0: no periodic checkpoints
    int controller_on
    int nr_kworkers             # kworker threads serving the workqueues' per-CPU pools
    int nr_rcu_threads          # RCU callback threads (lists cpu % nr == index)
    int module_actor            # module caches in their own thread (else the controller's w_module)
    long module_interval_ns     # module actor pacing
    int active_memcg_actor      # a memalloc_use_memcg() user runs
    int cgroup_actor            # mkdir/rmdir in their own thread (else the controller's)
    long cgroup_interval_ns
    long active_memcg_interval_ns
    int sysfs_actor             # a /sys/kernel/slab user runs
    long sysfs_interval_ns
    int hotplug_actor           # a CPU hotplug user runs (echo 0/1 > /sys/devices/system/cpu/cpuN/online)
    long hotplug_interval_ns
    int hotplug_first_spare     # spare CPUs: slots [first_spare, first_spare + spares), no thread at the start
    int hotplug_spares
    unsigned long long seed

cdef run_config cfg

cdef struct ms_worker:
    mem_cgroup *memcg           # the task's memcg: WRITE_ONCE by the controller, READ_ONCE under RCU by the worker
    ms_object **held            # owner only
    long n_held                 # owner only (read by checkpoints)
    ms_object **keep            # owner only: the long-lived set (objects that outlive their cgroup)
    long n_keep                 # owner only (read by checkpoints)
    long live_by_root[MAX_ROOTS]   # owner: allocations minus frees per root index
    long sent_to[64]            # owner: objects handed to each worker
    int blocked[64]             # owner: sends to that worker held back for this many tries
    char _pad1[64]
    long recv_from[64]          # owner writes (WRITE_ONCE), senders read: objects received from each worker
    int cpu                     # the worker's index (its home slot), never changes
    int slot                    # the CPU it runs on: WRITE_ONCE by the worker when it moves
    int migrate_to              # WRITE_ONCE by the hotplug actor: move to this CPU (-1: stay)
    int exited                  # WRITE_ONCE by the worker when it left the drain
    long stopped_sending        # WRITE_ONCE by the worker in the drain
    char _pad0[64]
    mpsc_queue mailbox          # lock-free MPSC: any worker pushes, the owner pops

# The active_memcg actor's memcg (css reference held), NULL when none:
# WRITE_ONCE by the actor, read by the checkers (world stopped).
cdef mem_cgroup *active_memcg_held = NULL
cdef int active_memcg_done = 0      # WRITE_ONCE by the actor when it drained
cdef int nr_builtin_roots = 0       # roots 0..n-1 are never destroyed (set by engine_setup)

cdef ms_worker *workers = NULL
cdef int nr_workers = 0
cdef int run_state = RUN_IDLE          # WRITE_ONCE by Python / the controller; polled by every thread
cdef long stopped_sending_count = 0    # atomic

cdef bint run_is_running() noexcept nogil:
    return READ_ONCE_I(&run_state) == RUN_RUNNING

# ---- stop-the-world ----
cdef pthread_mutex_t stw_mutex
cdef pthread_cond_t stw_cond
cdef long stw_requested = 0     # lock-free flag polled at safe points; written under stw_mutex
cdef long stw_gen = 0           # stw_mutex
cdef int stw_parked = 0         # stw_mutex: threads parked for the current stop (zeroed by stw_resume)
cdef int stw_participants = 0   # stw_mutex: threads of the run that have not left (set before they start)
cdef int stw_asleep = 0         # stw_mutex: threads in stw_nap, counted as parked while they sleep

cdef void stw_leave() noexcept nogil:
    global stw_participants
    pthread_mutex_lock(&stw_mutex)
    stw_participants -= 1
    pthread_cond_broadcast(&stw_cond)
    pthread_mutex_unlock(&stw_mutex)

cdef void stw_park_locked() noexcept nogil:
    """With stw_mutex held and a stop requested: count this thread parked
    and wait until the stop is over.  No stw_parked -= 1 after: stw_resume()
    zeroed the count for the next stop, which counts only threads that park
    for it.  A thread still waking from this stop is not parked for the
    next one."""
    global stw_parked
    cdef long g = stw_gen
    stw_parked += 1
    pthread_cond_broadcast(&stw_cond)
    while stw_gen == g:
        pthread_cond_wait(&stw_cond, &stw_mutex)

cdef void stw_park() noexcept nogil:
    """A safe point with a stop requested: wait here until it is over."""
    cpu_off()           # parked: a flush_all caller runs this CPU's IPIs
    pthread_mutex_lock(&stw_mutex)
    if stw_requested:
        stw_park_locked()
    pthread_mutex_unlock(&stw_mutex)
    cpu_on()

cdef inline void stw_poll() noexcept nogil:
    """A safe point: park for a stop of the world, take this CPU's IPIs."""
    if READ_ONCE_L(&stw_requested):
        stw_park()
    smp_poll()

cdef void stw_safe_point() noexcept nogil:
    """stw_poll as a function: the hook flush_workqueue and rcu_barrier
    call while they wait on other threads of the run."""
    stw_poll()

cdef void stw_nap(timespec *ts) noexcept nogil:
    """cpu_nanosleep at a safe point (an actor between steps, an idle
    kworker), counted as parked while it sleeps: a stop of the world does
    not wait for the nap to end (a 5 ms hotplug interval made every stop
    wait for it), and a thread that wakes during a stop parks there until
    the stop is over, before it touches anything."""
    global stw_asleep
    cpu_off()
    pthread_mutex_lock(&stw_mutex)
    stw_asleep += 1
    pthread_cond_broadcast(&stw_cond)
    pthread_mutex_unlock(&stw_mutex)
    nanosleep(ts, NULL)
    pthread_mutex_lock(&stw_mutex)
    stw_asleep -= 1
    if stw_requested:
        stw_park_locked()       # the stop counted us asleep: stay for it parked
    pthread_mutex_unlock(&stw_mutex)
    cpu_on()

cdef void stw_stop() noexcept nogil:
    """Stop every other thread of the run at a safe point (the caller is a
    participant too); a thread in stw_nap counts as stopped."""
    pthread_mutex_lock(&stw_mutex)
    WRITE_ONCE_L(&stw_requested, 1)
    while stw_parked + stw_asleep < stw_participants - 1:
        pthread_cond_wait(&stw_cond, &stw_mutex)
    pthread_mutex_unlock(&stw_mutex)
    smp_mb()        # the parked threads' writes before the checkers' reads

cdef void stw_resume() noexcept nogil:
    global stw_gen, stw_parked
    pthread_mutex_lock(&stw_mutex)
    WRITE_ONCE_L(&stw_requested, 0)
    stw_gen += 1
    stw_parked = 0      # the parked threads leave; the next stop waits for each to park again
    pthread_cond_broadcast(&stw_cond)
    pthread_mutex_unlock(&stw_mutex)


# ---- test harness: a stop requested right after a resume ----
# tests/unit/test_stw.py.  One parker thread counts its steps between safe
# points; the caller stops, checks that the count does not move while the
# world is stopped, resumes and stops again at once, so that the parker is
# still waking from the previous stop when the next one is requested.

cdef struct stw_probe_state:
    long work               # WRITE_ONCE by the parker only
    int stop                # WRITE_ONCE by the caller
    int started             # WRITE_ONCE by the parker


cdef void _stw_probe_parker(stw_probe_state *st) noexcept nogil:
    WRITE_ONCE_I(&st.started, 1)
    while not READ_ONCE_I(&st.stop):
        WRITE_ONCE_L(&st.work, st.work + 1)
        stw_poll()


def _stw_probe_entry(size_t a):
    with nogil:
        _stw_probe_parker(<stw_probe_state *>a)


cdef void _stw_probe_reset(int participants) noexcept nogil:
    """The stop-the-world state of an idle engine, for a probe of
    `participants` threads (0 after it)."""
    global stw_participants, stw_parked, stw_requested, stw_gen, stw_asleep
    stw_participants = participants
    stw_parked = 0
    stw_requested = 0
    stw_gen = 0
    stw_asleep = 0


cdef struct stw_nap_state:
    long steps              # WRITE_ONCE by the napper only
    long nap_ns
    int stop                # WRITE_ONCE by the caller


cdef void _stw_napper(stw_nap_state *st) noexcept nogil:
    cdef timespec ts
    ts.tv_sec = st.nap_ns // 1000000000
    ts.tv_nsec = st.nap_ns % 1000000000
    while not READ_ONCE_I(&st.stop):
        WRITE_ONCE_L(&st.steps, st.steps + 1)
        stw_nap(&ts)


def _stw_napper_entry(size_t a):
    with nogil:
        _stw_napper(<stw_nap_state *>a)


def stw_nap_probe(long nap_us=300000):
    """One napper thread steps, then naps nap_us in stw_nap.  The caller
    stops the world while it sleeps and waits (on the counts, under
    stw_mutex) until it woke and parked, resumes, and waits for its next
    step.  Returns (threads asleep when the stop returned, the napper's
    steps while the world was stopped)."""
    import threading
    cdef stw_nap_state st
    cdef int asleep_at_stop
    cdef long s0, moved
    if READ_ONCE_I(&run_state) not in (RUN_IDLE, RUN_DONE):
        raise RuntimeError("stw_nap_probe needs an idle engine")
    st.steps = 0
    st.stop = 0
    st.nap_ns = nap_us * 1000
    _stw_probe_reset(2)
    t = threading.Thread(target=_stw_napper_entry, args=(<size_t>&st,), daemon=True)
    t.start()
    with nogil:
        pthread_mutex_lock(&stw_mutex)
        while stw_asleep == 0:                      # its first nap
            pthread_cond_wait(&stw_cond, &stw_mutex)
        pthread_mutex_unlock(&stw_mutex)
        stw_stop()
        pthread_mutex_lock(&stw_mutex)
        asleep_at_stop = stw_asleep
        s0 = READ_ONCE_L(&st.steps)
        while stw_parked == 0:                      # it woke inside the stop and parked
            pthread_cond_wait(&stw_cond, &stw_mutex)
        pthread_mutex_unlock(&stw_mutex)
        moved = READ_ONCE_L(&st.steps) - s0
        stw_resume()
        while READ_ONCE_L(&st.steps) == s0:          # it goes on after the resume
            sched_yield()
        WRITE_ONCE_I(&st.stop, 1)
    t.join()
    _stw_probe_reset(0)
    return asleep_at_stop, moved


def stw_probe(int rounds=2000, int watch_spins=200):
    """Run ``rounds`` stop/resume cycles against one parker thread; return
    how many stops the parker ran through (0 when every stop held it)."""
    import threading
    cdef stw_probe_state st
    cdef long w, moved = 0
    cdef int r, k
    if READ_ONCE_I(&run_state) not in (RUN_IDLE, RUN_DONE):    # no thread of a run may be running
        raise RuntimeError("stw_probe needs an idle engine")
    st.work = 0
    st.stop = 0
    st.started = 0
    _stw_probe_reset(2)         # the caller and the parker
    t = threading.Thread(target=_stw_probe_entry, args=(<size_t>&st,), daemon=True)
    t.start()
    with nogil:
        while not READ_ONCE_I(&st.started):
            sched_yield()
        for r in range(rounds):
            stw_stop()
            w = READ_ONCE_L(&st.work)
            for k in range(watch_spins):
                sched_yield()
            if READ_ONCE_L(&st.work) != w:
                moved += 1
            stw_resume()
        WRITE_ONCE_I(&st.stop, 1)
    t.join()
    _stw_probe_reset(0)
    return moved
