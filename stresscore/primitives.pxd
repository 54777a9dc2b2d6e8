# cython: language_level=3
"""Declarations of the native primitives (C headers in this folder), the
mutant table (mutants.h) and the C library and build switches the core uses.

Every ``cdef extern`` of the core lives here; the .pxi rooms of _core.pyx
declare none.  Declarations only.  Every function is ``noexcept nogil``: none can raise and
none touches Python; the few that can fail return a status code (documented
per function).  Memory orders are stated once, in atomics.h.
"""

cdef extern from "atomics.h" nogil:
    enum: MS_CACHELINE
    long READ_ONCE_L(const long *p) noexcept                 # relaxed load
    void WRITE_ONCE_L(long *p, long v) noexcept              # relaxed store
    int READ_ONCE_I(const int *p) noexcept                   # relaxed load
    void WRITE_ONCE_I(int *p, int v) noexcept                # relaxed store
    void *READ_ONCE_P(void **p) noexcept                     # relaxed load (C: void *const *)
    void WRITE_ONCE_P(void **p, void *v) noexcept            # relaxed store
    long smp_load_acquire_L(const long *p) noexcept          # acquire load
    int smp_load_acquire_I(const int *p) noexcept            # acquire load
    void *smp_load_acquire_P(void **p) noexcept              # acquire load (rcu_dereference)
    void smp_store_release_L(long *p, long v) noexcept       # release store
    void smp_store_release_I(int *p, int v) noexcept         # release store
    void smp_store_release_P(void **p, void *v) noexcept     # release store (rcu_assign_pointer)
    long cmpxchg_L(long *p, long old, long new) noexcept     # seq_cst CAS, returns the value seen
    int cmpxchg_I(int *p, int old, int new) noexcept         # seq_cst CAS, returns the value seen
    void *cmpxchg_P(void **p, void *old, void *new) noexcept # seq_cst CAS, returns the value seen
    long xchg_L(long *p, long v) noexcept                    # seq_cst exchange, returns old
    int xchg_I(int *p, int v) noexcept                       # seq_cst exchange, returns old
    void *xchg_P(void **p, void *v) noexcept                 # seq_cst exchange, returns old
    long fetch_add_L(long *p, long v) noexcept               # seq_cst, returns OLD value
    int fetch_add_I(int *p, int v) noexcept                  # seq_cst, returns OLD value
    long add_return_L(long *p, long v) noexcept              # seq_cst, returns NEW value
    void atomic_add_L(long *p, long v) noexcept              # relaxed RMW, orders nothing
    void smp_mb() noexcept                                   # full fence
    void smp_rmb() noexcept                                  # load->load fence
    void smp_wmb() noexcept                                  # store->store fence
    void barrier() noexcept                                  # compiler-only fence
    void cpu_relax() noexcept                                # spin-wait hint

cdef extern from "clock.h" nogil:
    unsigned long long ms_now_ns() noexcept                  # CLOCK_MONOTONIC in ns

cdef extern from "prng.h" nogil:
    cdef struct ms_rng:                                      # xoshiro256**, thread-private
        unsigned long long s[4]
    void ms_rng_seed(ms_rng *r, unsigned long long seed, unsigned long long stream) noexcept  # splitmix64 of (seed, stream)
    unsigned long long ms_rng_next(ms_rng *r) noexcept      # 64 random bits
    unsigned int ms_rng_below(ms_rng *r, unsigned int n) noexcept  # uniform [0, n), unbiased; 0 if n == 0
    double ms_rng_double(ms_rng *r) noexcept                 # uniform [0, 1)

cdef extern from "percpu.h" nogil:
    enum: MS_MAX_CPUS
    enum: PCPU_STRIDE
    int ms_nr_cpu_ids                                        # slots in use (default MS_MAX_CPUS)
    int ms_cpu                                               # this thread's slot, -1 if unregistered
    int ms_home                                              # the slot it registered on (hotplug moves ms_cpu only)
    int ms_cpu_migrate(int cpu) noexcept                     # hotplug: move to free slot cpu; 0 or -1
    int ms_cpu_owner[64]                                     # owner (thread id) of each slot, 0 when free
    void ms_set_nr_cpus(int n) noexcept                      # clamp to [1, MS_MAX_CPUS]; between runs only
    void ms_cpu_claim(int cpu) noexcept                      # slot only (percpu.c); threads of a run use ms_thread_register
    void ms_cpu_release() noexcept                           # give the slot back (percpu.c)
    int smp_processor_id() noexcept                          # == ms_cpu
    int ms_thread_id() noexcept                              # unique small id, never 0
    long *pcpu_alloc_longs() noexcept                        # zeroed, one line per slot; NULL on ENOMEM
    void pcpu_free(long *base) noexcept                      # free pcpu_alloc_longs() storage
    long *per_cpu_ptr_L(long *base, int cpu) noexcept        # slot of cpu
    long *this_cpu_ptr_L(long *base) noexcept                # own slot (ms_cpu >= 0 only)
    cdef struct percpu_counter:
        long count                                           # atomic part
        long *pcpu                                           # per-cpu residues
        long batch                                           # spill threshold
    int percpu_counter_init(percpu_counter *c, long batch) noexcept  # 0, or -1 on ENOMEM
    void percpu_counter_destroy(percpu_counter *c) noexcept  # free the slots
    void percpu_counter_add(percpu_counter *c, long v) noexcept      # own slot; spills when |slot| > batch
    long percpu_counter_read(percpu_counter *c) noexcept     # atomic part only
    long percpu_counter_sum(percpu_counter *c) noexcept      # exact when writers are quiescent

cdef extern from "urcu.h" nogil:
    enum: RCU_MAX_READERS
    cdef struct rcu_head:
        rcu_head *next                                       # private to the RCU core
        void (*func)(rcu_head *) noexcept nogil              # set by call_rcu
        void *owner                                          # free for the user
    ctypedef void (*rcu_callback_t)(rcu_head *) noexcept nogil
    void ms_thread_register(int cpu) noexcept                # claim slot cpu + become RCU reader; aborts if cpu out of range
    void ms_thread_unregister() noexcept                     # release slot + reader; not inside a read section
    void rcu_init() noexcept                                 # idempotent; registers membarrier
    int rcu_has_membarrier() noexcept                        # 1 if readers use compiler barriers only
    void rcu_read_lock() noexcept                            # enter (nestable) read section
    void rcu_read_unlock() noexcept                          # leave read section
    int rcu_read_lock_held() noexcept                        # 1 inside a read section
    void synchronize_rcu() noexcept                          # wait for pre-existing readers; not inside a read section
    void call_rcu(rcu_head *head, rcu_callback_t func) noexcept  # lock-free FIFO enqueue on this CPU's list (ms_queue_cpu); func runs after a grace period
    int rcu_readers_in_section(int *tids, int max) noexcept  # stall reports: tids of readers in a read section now (racy)
    int rcu_process_callbacks() noexcept                     # every list's batch so far: 1 GP + invoke, lowest cpu first; count (0: no GP)
    int rcu_process_callbacks_set(const int *cpus, int n) noexcept  # the batches of lists cpus[0..n): 1 GP + invoke in that order
    int rcu_process_callbacks_share(int index, int nr, ms_rng *rng) noexcept  # lists c % nr == index, in a random order from rng
    int rcu_list_len(int cpu) noexcept                       # callbacks on one list (quiescent lists only)
    void rcu_set_wait_hook(void (*fn)() noexcept nogil) noexcept  # called while rcu_barrier() waits on callback threads
    int ms_exec_cpu                                          # CPU a work or callback runs for, -1 otherwise (thread-local)
    int ms_exec_cpu_swap(int c) noexcept                     # set ms_exec_cpu, return the previous value
    int ms_queue_cpu() noexcept                              # the CPU whose list/queue this thread's call_rcu/queue_work uses
    int rcu_wait_for_callbacks(long timeout_ns) noexcept     # futex wait; 1 if callbacks are pending
    void rcu_barrier() noexcept                              # all callbacks queued before it have run; not from a callback
    void rcu_set_callback_thread_active(int on) noexcept     # a thread runs rcu_process_callbacks(): barrier waits on it
    int rcu_pending_callbacks() noexcept                     # approximate count
    void rcu_set_busted(int on) noexcept                     # a deliberate bug for testing purposes only
    int rcu_is_busted() noexcept                             # current busted flag
    unsigned long rcu_gp_count() noexcept                    # grace periods since reset
    void rcu_gp_histogram(unsigned long *out) noexcept       # out[32]: bucket i = [2^i, 2^(i+1)) us
    void rcu_stats_reset() noexcept                          # zero the statistics
    unsigned long rcu_cb_invoked_count() noexcept            # callbacks invoked since reset

cdef extern from "locks.h" nogil:
    long lockdep_violations                                  # atomic count of broken lock rules
    cdef struct ms_spinlock:
        int locked
        int owner
    void spin_lock_init(ms_spinlock *l) noexcept             # unlocked
    void spin_lock(ms_spinlock *l) noexcept                  # TTAS, yields when contended
    void spin_unlock(ms_spinlock *l) noexcept                # release
    int spin_trylock(ms_spinlock *l) noexcept                # 1 if acquired
    int spin_is_locked(ms_spinlock *l) noexcept              # 1 if held by anyone
    cdef struct ms_mutex:
        int owner
    void ms_mutex_init(ms_mutex *m) noexcept                 # unlocked
    void ms_mutex_destroy(ms_mutex *m) noexcept              # pthread_mutex_destroy
    void ms_mutex_lock(ms_mutex *m) noexcept                 # blocking
    void ms_mutex_unlock(ms_mutex *m) noexcept               # release
    int ms_mutex_trylock(ms_mutex *m) noexcept               # 1 if acquired
    void ms_set_sleep_hook(void (*fn)(int entering) noexcept nogil) noexcept  # called around a blocking mutex acquisition (engine)
    int ms_mutex_lock_or_back_off(ms_mutex *m) noexcept   # records a blocking lock's order, then only tries (mutant deact-lock-inversion)
    int lockdep_spin_held(ms_spinlock *l) noexcept           # 1 if the CALLING thread holds l
    int lockdep_mutex_held(ms_mutex *m) noexcept             # 1 if the CALLING thread holds m
    int lockdep_assert_held_mutex(ms_mutex *m) noexcept      # 0 if held, else count (+abort in MS_DEBUG) and -1
    int lockdep_assert_held_spin(ms_spinlock *l) noexcept    # 0 if held, else count (+abort in MS_DEBUG) and -1
    # lock order (lockdep's dependency graph on lock classes)
    enum:
        LC_NONE
        LC_CGROUP_MUTEX
        LC_SLAB_MUTEX
        LC_MEMCG_KMEM_WQ_LOCK
        LC_LIST_LOCK
        LC_RELEASE_LOCK
        LC_QUARANTINE_LOCK
        LC_PAGE_POOL_LOCK
        LC_KN_ACTIVE
        LC_CPU_HOTPLUG
        LC_NR
        MS_HELD_MAX
    void lockdep_acquire(int cls, const char *func) noexcept  # a lock-like hold (kernfs active reference): its order edges
    void lockdep_release(int cls) noexcept
    cdef struct ms_held_lock:
        int cls
        const char *func
    ms_held_lock ms_held_locks[64][8]                         # per cpu slot: its thread's held locks (racy reads)
    int ms_nr_held[64]                                       # per cpu slot: how many
    long lock_order_violations                               # atomic: cycles found
    void (*ms_lock_order_hook)(const char *msg) noexcept nogil   # called with each cycle's report
    const char *ms_lock_class_names[]
    void lockdep_set_class_spin(ms_spinlock *l, int cls) noexcept    # after spin_lock_init
    void lockdep_set_class_mutex(ms_mutex *m, int cls) noexcept      # after ms_mutex_init
    void lockdep_reset() noexcept                            # forget every order (between runs)

cdef extern from "mpsc.h" nogil:
    cdef struct mpsc_node:                                   # embed as the FIRST field
        mpsc_node *next
    cdef struct mpsc_queue:
        mpsc_node *tail                                      # consumer end; walk tail->next only when quiescent
        mpsc_node stub                                       # placeholder node: skip it in walks
    void mpsc_init(mpsc_queue *q) noexcept                   # empty queue
    void mpsc_push(mpsc_queue *q, mpsc_node *n) noexcept     # any thread, wait-free
    mpsc_node *mpsc_pop(mpsc_queue *q) noexcept              # consumer only; NULL if empty or a push is mid-way
    int mpsc_empty(mpsc_queue *q) noexcept                   # exact for the consumer

cdef extern from "percpu_ref.h" nogil:
    long percpu_ref_underflows                               # atomic: counts that went negative
    long percpu_ref_warnings                                 # atomic: double kills
    ctypedef void (*percpu_ref_func_t)(percpu_ref *) noexcept nogil
    cdef struct percpu_ref:
        long count                                           # atomic part (biased until switched)
        unsigned long percpu_count_ptr                       # flags ATOMIC=1 DEAD=2
        long *pcpu
        percpu_ref_func_t release
        percpu_ref_func_t confirm_switch
        rcu_head rcu
        void *owner                                          # free for the user
        int switched                                         # 1 once folded into count
    int percpu_ref_init(percpu_ref *ref, percpu_ref_func_t release, void *owner) noexcept  # percpu mode, count 1; 0 or -1 (ENOMEM)
    void percpu_ref_exit(percpu_ref *ref) noexcept           # free slots; not while a switch is pending
    void percpu_ref_get(percpu_ref *ref) noexcept            # +1
    void percpu_ref_get_many(percpu_ref *ref, long nr) noexcept  # +nr
    void percpu_ref_put(percpu_ref *ref) noexcept            # -1; release() at zero
    void percpu_ref_put_many(percpu_ref *ref, long nr) noexcept   # -nr; release() at zero
    int percpu_ref_tryget(percpu_ref *ref) noexcept          # 1 unless the count is zero
    int percpu_ref_tryget_live(percpu_ref *ref) noexcept     # 1 unless killed (or zero)
    void percpu_ref_kill(percpu_ref *ref) noexcept           # DEAD, switch to atomic after a GP, drop base ref
    void percpu_ref_kill_and_confirm(percpu_ref *ref, percpu_ref_func_t confirm) noexcept  # same; confirm after the switch
    int percpu_ref_is_dying(percpu_ref *ref) noexcept        # 1 once killed
    int percpu_ref_is_zero(percpu_ref *ref) noexcept         # 1 in atomic mode at count 0
    int percpu_ref_switch_pending(percpu_ref *ref) noexcept  # 1 between kill and the fold (switch holds a ref)
    long percpu_ref_count(percpu_ref *ref) noexcept          # exact logical count; quiescent only

cdef extern from "list.h" nogil:
    struct ms_list:                                          # embedded, circular, with its owner
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

cdef extern from "mutants.h" nogil:
    # The mutant table: enum M_* (M_NONE = 0, then table order) and its rows.
    enum:
        M_NONE
        M_RCU_BUSTED
        M_MEMCG_READ_UNPROTECTED
        M_DYING_FLAG_UNLOCKED
        M_REPARENT_WITHOUT_SLAB_MUTEX
        M_NO_PARENT_CSS_GET
        M_NO_CHILD_CSS_PUT
        M_ENTRIES_NOT_CLEARED
        M_KILL_WITHOUT_GRACE_PERIOD
        M_ARRAY_FREE_WITHOUT_GRACE_PERIOD
        M_CHARGE_OFFLINE_MEMCG
        M_CACHE_PUT_BEFORE_UNCHARGE
        M_NO_FLUSH_ON_FREE
        M_CREATE_AFTER_OFFLINE
        M_DEACT_LOCK_INVERSION
        M_RCU_READ_ACROSS_SLEEP
        M_SYSFS_REMOVE_NO_GET
        M_SYSFS_UNLINK_LATE
        M_DRAIN_STOCK_WITHOUT_CSS_PUT
        M_REFILL_STOCK_WITHOUT_DRAIN
        M_NR
    cdef struct ms_mutant:
        int id
        const char *name
        const char *bug
        const char *breaks
        int expected
        const char *reason
    const ms_mutant ms_mutant_table[]
    const int MS_NR_MUTANTS                                  # rows of ms_mutant_table
    int ms_mutant_id(const char *name) noexcept              # M_NONE for NULL or "", -1 for an unknown name

cdef extern from "<time.h>" nogil:
    struct timespec:
        long tv_sec
        long tv_nsec
    int nanosleep(const timespec *req, timespec *rem)

cdef extern from "<sched.h>" nogil:
    int sched_yield()

cdef extern from "stdlib.h" nogil:
    void *aligned_alloc(size_t alignment, size_t size)

cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass
    ctypedef struct pthread_cond_t:
        pass
    int pthread_mutex_init(pthread_mutex_t *m, void *attr)
    int pthread_mutex_lock(pthread_mutex_t *m)
    int pthread_mutex_unlock(pthread_mutex_t *m)
    int pthread_cond_init(pthread_cond_t *c, void *attr)
    int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
    int pthread_cond_broadcast(pthread_cond_t *c)

# Build switches (setup.py sets the macros).
cdef extern from *:
    """
    #ifndef MS_COUNTERS
    #define MS_COUNTERS 1   /* build with -DMS_COUNTERS=0 to measure what the counters cost */
    #endif
    #ifndef MS_WINDOWS
    #define MS_WINDOWS 1    /* build with -DMS_WINDOWS=0 to measure what the race-window counters cost */
    #endif
    #ifndef MS_INLINE_CHECKS
    #define MS_INLINE_CHECKS 1  /* build with -DMS_INLINE_CHECKS=0 to measure what the inline checks cost */
    #endif
    #ifdef MS_DEBUG
    #define MS_DEBUG_BUILD 1
    #else
    #define MS_DEBUG_BUILD 0
    #endif
    """
    const bint MS_COUNTERS_ON "MS_COUNTERS"                  # per-thread counters beyond alloc/free
    const bint MS_WINDOWS_ON "MS_WINDOWS"                    # race-window coverage counters (diag.pxi)
    const bint MS_INLINE_CHECKS_ON "MS_INLINE_CHECKS"        # RCU lockdep, lock order, write-after-free images
    int MS_DEBUG_BUILD                                       # MEMCG_STRESS_DEBUG=1: lockdep asserts abort

# The rcutorture harness's object states (harness.pxi).
cdef extern from *:
    """
    #define TORTURE_ALIVE 0x0A11FE0A11FEL
    #define TORTURE_POISON 0x6B6B6B6B6B6B6B6BL
    #define TORTURE_FREE 0
    #define TORTURE_LIVE 1
    #define TORTURE_RETIRED 2
    #define TORTURE_MAX_READERS 32
    """
    long TORTURE_ALIVE          # magic of a live object
    long TORTURE_POISON         # written over a retired object after its grace period
    enum:
        TORTURE_FREE            # in the pool, reusable
        TORTURE_LIVE            # published or just unpublished
        TORTURE_RETIRED         # waiting for its call_rcu callback
        TORTURE_MAX_READERS
