/*
 * locks.h - spinlock and mutex that record their owner, for lockdep checks.
 *
 * The owner field holds ms_thread_id() of the holder (0 when free).  It is
 * written only by the holder, after acquiring and before releasing, so a
 * thread reading its own id there knows it holds the lock; any other value
 * (stale or 0) means "not me".
 *
 * lockdep_assert_held_mutex(m) / lockdep_assert_held_spin(l) state a lock
 * contract ("Always called with slab_mutex held"): 0 when the calling thread
 * holds the lock, otherwise lockdep_violations is incremented and -1 is
 * returned; a debug build (MS_DEBUG) also prints and abort()s.
 */
#ifndef MS_LOCKS_H
#define MS_LOCKS_H

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include "atomics.h"
#include "percpu.h"

/* Spins before sched_yield(): threads outnumber cores in a run. */
#define MS_SPIN_BEFORE_YIELD 128

/* atomic: count of lock-rule violations seen by the lockdep asserts (and by
 * misuse checks of the RCU API and the slot registry); defined in percpu.c. */
extern long lockdep_violations MS_HIDDEN;

#ifndef MS_INLINE_CHECKS
#define MS_INLINE_CHECKS 1 /* -DMS_INLINE_CHECKS=0: no lock-order tracking */
#endif

/*
 * Lock order (lockdep's dependency graph, on lock classes).  Each lock of
 * the model has a class (0: untracked); every acquisition while other
 * tracked locks are held adds the edges "held -> taken" to a global order
 * matrix (a bit per pair, checked before it is set, set with an atomic OR),
 * recording the functions that held and took the locks.  A new edge that
 * closes a cycle is an order that can deadlock: it is reported at once,
 * before the lock is taken, with the functions of every edge of the cycle.
 * Each thread's held locks are kept per cpu slot (ms_cpu), so a stall
 * report can say what every thread holds.  Edges are checked before the
 * acquisition blocks, as lockdep does.
 */
enum {
	LC_NONE = 0,
	LC_CGROUP_MUTEX,
	LC_SLAB_MUTEX,
	LC_MEMCG_KMEM_WQ_LOCK,
	LC_LIST_LOCK,       /* kmem_cache.list_lock (one class for every cache) */
	LC_RELEASE_LOCK,
	LC_QUARANTINE_LOCK,
	LC_PAGE_POOL_LOCK,
	LC_KN_ACTIVE,       /* kernfs active reference of a sysfs file (kernfs_get_active, kernfs_drain) */
	LC_CPU_HOTPLUG,     /* cpu_hotplug_lock (cpus_read_lock / cpus_write_lock, smp.pxi) */
	LC_NR
};
#define MS_HELD_MAX 8

struct ms_held_lock {
	int cls;
	const char *func;   /* the C function that took it (the model's kernel function) */
};

/* Written by the slot's own thread; read racily by stall reports. */
extern struct ms_held_lock ms_held_locks[MS_MAX_CPUS][MS_HELD_MAX] MS_HIDDEN;
extern int ms_nr_held[MS_MAX_CPUS] MS_HIDDEN;
/* atomic: bit j of lockdep_order[i]: class j was taken while i was held */
extern unsigned long lockdep_order[LC_NR] MS_HIDDEN;
extern long lock_order_violations MS_HIDDEN; /* atomic: cycles found */
/* Called (outside every lockdep lock) with a report of a cycle; set by the model. */
extern void (*ms_lock_order_hook)(const char *msg) MS_HIDDEN;
extern const char *const ms_lock_class_names[LC_NR];

/* The slow path: a new edge held -> taken (percpu.c). */
void lockdep_new_edge(int held, const char *held_func, int taken, const char *taken_func);
/* Forget every edge (between runs). */
void lockdep_reset(void);

/* Record an acquisition: edges from every held lock (not for a trylock,
 * which cannot deadlock), then push it on the thread's held stack. */
static inline void lockdep_acquire_x(int cls, const char *func, int trylock)
{
#if MS_INLINE_CHECKS
	int cpu = ms_cpu, n, i, h;

	if (cls <= 0 || cls >= LC_NR || cpu < 0)
		return;
	n = ms_nr_held[cpu];
	for (i = 0; !trylock && i < n && i < MS_HELD_MAX; i++) {
		h = ms_held_locks[cpu][i].cls;
		if (h != cls && !(READ_ONCE_L((long *)&lockdep_order[h]) & (1L << cls)))
			lockdep_new_edge(h, ms_held_locks[cpu][i].func, cls, func);
	}
	if (n < MS_HELD_MAX) {
		ms_held_locks[cpu][n].cls = cls;
		ms_held_locks[cpu][n].func = func;
	}
	WRITE_ONCE_I(&ms_nr_held[cpu], n + 1);
#else
	(void)cls;
	(void)func;
	(void)trylock;
#endif
}

static inline void lockdep_acquire(int cls, const char *func) { lockdep_acquire_x(cls, func, 0); }

static inline void lockdep_release(int cls)
{
#if MS_INLINE_CHECKS
	int cpu = ms_cpu, n, i;

	if (cls <= 0 || cls >= LC_NR || cpu < 0)
		return;
	n = ms_nr_held[cpu];
	if (n <= 0)
		return;
	for (i = (n < MS_HELD_MAX ? n : MS_HELD_MAX) - 1; i >= 0; i--) {
		if (ms_held_locks[cpu][i].cls == cls) {
			for (; i + 1 < n && i + 1 < MS_HELD_MAX; i++)
				ms_held_locks[cpu][i] = ms_held_locks[cpu][i + 1];
			break;
		}
	}
	WRITE_ONCE_I(&ms_nr_held[cpu], n - 1);
#else
	(void)cls;
#endif
}

struct ms_spinlock {
	int locked; /* lock-free: 0/1, taken by cmpxchg, released by store-release */
	int owner;  /* written by the holder only (relaxed); 0 when free */
	int cls;    /* lock class (LC_*); set once, not touched by spin_lock_init */
};

/* Unlocked, untracked (class 0): lockdep_set_class_spin() gives a class. */
static inline void spin_lock_init(struct ms_spinlock *l)
{
	l->locked = 0;
	l->owner = 0;
	l->cls = 0;
}

static inline void lockdep_set_class_spin(struct ms_spinlock *l, int cls) { l->cls = cls; }

static inline int __spin_trylock(struct ms_spinlock *l)
{
	/* cmpxchg is fully ordered: acquire for the critical section. */
	if (READ_ONCE_I(&l->locked) || cmpxchg_I(&l->locked, 0, 1) != 0)
		return 0;
	WRITE_ONCE_I(&l->owner, ms_thread_id());
	return 1;
}

static inline int spin_trylock_at(struct ms_spinlock *l, const char *func)
{
	if (!__spin_trylock(l))
		return 0;
	lockdep_acquire_x(l->cls, func, 1);
	return 1;
}

#define spin_trylock(l) spin_trylock_at((l), __func__)

/* Test-and-test-and-set; yields after MS_SPIN_BEFORE_YIELD spins. */
static inline void spin_lock_at(struct ms_spinlock *l, const char *func)
{
	int spins = 0;

	lockdep_acquire(l->cls, func);
	while (!__spin_trylock(l)) {
		if (++spins < MS_SPIN_BEFORE_YIELD) {
			cpu_relax();
		} else {
			sched_yield();
			spins = 0;
		}
	}
}

/* spin_lock(l): the order graph learns the calling function's name. */
#define spin_lock(l) spin_lock_at((l), __func__)

static inline void spin_unlock(struct ms_spinlock *l)
{
	lockdep_release(l->cls);
	WRITE_ONCE_I(&l->owner, 0);
	/* Release: the critical section before the unlock; pairs with the
	 * cmpxchg in spin_trylock(). */
	smp_store_release_I(&l->locked, 0);
}

static inline int spin_is_locked(struct ms_spinlock *l) { return READ_ONCE_I(&l->locked); }

static inline int lockdep_spin_held(struct ms_spinlock *l)
{
	return READ_ONCE_I(&l->locked) && READ_ONCE_I(&l->owner) == ms_thread_id();
}

struct ms_mutex {
	pthread_mutex_t m;
	int owner; /* written by the holder only (relaxed); 0 when free */
	int cls;   /* lock class (LC_*); set once, not touched by ms_mutex_init */
};

/* Unlocked, untracked (class 0): lockdep_set_class_mutex() gives a class. */
static inline void ms_mutex_init(struct ms_mutex *m)
{
	pthread_mutex_init(&m->m, NULL);
	m->owner = 0;
	m->cls = 0;
}

static inline void lockdep_set_class_mutex(struct ms_mutex *m, int cls) { m->cls = cls; }

static inline void ms_mutex_destroy(struct ms_mutex *m) { pthread_mutex_destroy(&m->m); }

/* Called with 1 before a mutex acquisition blocks and with 0 once it has the
 * mutex: the engine's CPU goes off while its thread sleeps (smp.pxi), so a
 * flush_all caller holding the mutex can run this CPU's IPIs for it.  Set
 * between runs only. */
extern void (*ms_sleep_hook)(int entering) MS_HIDDEN;

static inline void ms_set_sleep_hook(void (*fn)(int entering)) { ms_sleep_hook = fn; }

static inline void ms_mutex_lock_at(struct ms_mutex *m, const char *func)
{
	void (*hook)(int);

	lockdep_acquire(m->cls, func);
	if (pthread_mutex_trylock(&m->m) != 0) {
		hook = ms_sleep_hook;
		if (hook)
			hook(1);
		pthread_mutex_lock(&m->m);
		if (hook)
			hook(0);
	}
	WRITE_ONCE_I(&m->owner, ms_thread_id());
}

/* ms_mutex_lock(m): the order graph learns the calling function's name. */
#define ms_mutex_lock(m) ms_mutex_lock_at((m), __func__)

static inline int ms_mutex_trylock_at(struct ms_mutex *m, const char *func)
{
	if (pthread_mutex_trylock(&m->m) != 0)
		return 0;
	lockdep_acquire_x(m->cls, func, 1);
	WRITE_ONCE_I(&m->owner, ms_thread_id());
	return 1;
}

#define ms_mutex_trylock(m) ms_mutex_trylock_at((m), __func__)

/* A blocking acquisition that only tries (for mutant deact-lock-inversion):
 * the order graph learns the edges a blocking lock adds, so lockdep reports
 * the inversion here, before any deadlock; the caller does not wait, so the
 * run that reports it can still stop.  Where the kernel blocks and deadlocks
 * against a thread holding the lock in the other order, this returns 0. */
static inline int ms_mutex_lock_or_back_off_at(struct ms_mutex *m, const char *func)
{
	lockdep_acquire(m->cls, func);
	if (pthread_mutex_trylock(&m->m) != 0) {
		lockdep_release(m->cls);
		return 0;
	}
	WRITE_ONCE_I(&m->owner, ms_thread_id());
	return 1;
}

#define ms_mutex_lock_or_back_off(m) ms_mutex_lock_or_back_off_at((m), __func__)

static inline void ms_mutex_unlock(struct ms_mutex *m)
{
	lockdep_release(m->cls);
	WRITE_ONCE_I(&m->owner, 0);
	pthread_mutex_unlock(&m->m);
}

static inline int lockdep_mutex_held(struct ms_mutex *m)
{
	return READ_ONCE_I(&m->owner) == ms_thread_id();
}

/* Count (and in a debug build report and abort) a broken lock rule. */
static inline int ms_lockdep_violation(const char *what, const void *lock)
{
	fetch_add_L(&lockdep_violations, 1);
#ifdef MS_DEBUG
	fprintf(stderr, "memcg-stress lockdep: %s %p not held by thread %d\n",
		what, lock, ms_thread_id());
	abort();
#else
	(void)what;
	(void)lock;
#endif
	return -1;
}

static inline int lockdep_assert_held_mutex(struct ms_mutex *m)
{
	if (likely(lockdep_mutex_held(m)))
		return 0;
	return ms_lockdep_violation("mutex", m);
}

static inline int lockdep_assert_held_spin(struct ms_spinlock *l)
{
	if (likely(lockdep_spin_held(l)))
		return 0;
	return ms_lockdep_violation("spinlock", l);
}

#endif /* MS_LOCKS_H */
