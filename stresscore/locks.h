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

struct ms_spinlock {
	int locked; /* lock-free: 0/1, taken by cmpxchg, released by store-release */
	int owner;  /* written by the holder only (relaxed); 0 when free */
};

static inline void spin_lock_init(struct ms_spinlock *l)
{
	l->locked = 0;
	l->owner = 0;
}

static inline int spin_trylock(struct ms_spinlock *l)
{
	/* cmpxchg is fully ordered: acquire for the critical section. */
	if (READ_ONCE_I(&l->locked) || cmpxchg_I(&l->locked, 0, 1) != 0)
		return 0;
	WRITE_ONCE_I(&l->owner, ms_thread_id());
	return 1;
}

/* Test-and-test-and-set; yields after MS_SPIN_BEFORE_YIELD spins. */
static inline void spin_lock(struct ms_spinlock *l)
{
	int spins = 0;

	while (!spin_trylock(l)) {
		if (++spins < MS_SPIN_BEFORE_YIELD) {
			cpu_relax();
		} else {
			sched_yield();
			spins = 0;
		}
	}
}

static inline void spin_unlock(struct ms_spinlock *l)
{
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
};

static inline void ms_mutex_init(struct ms_mutex *m)
{
	pthread_mutex_init(&m->m, NULL);
	m->owner = 0;
}

static inline void ms_mutex_destroy(struct ms_mutex *m) { pthread_mutex_destroy(&m->m); }

static inline void ms_mutex_lock(struct ms_mutex *m)
{
	pthread_mutex_lock(&m->m);
	WRITE_ONCE_I(&m->owner, ms_thread_id());
}

static inline int ms_mutex_trylock(struct ms_mutex *m)
{
	if (pthread_mutex_trylock(&m->m) != 0)
		return 0;
	WRITE_ONCE_I(&m->owner, ms_thread_id());
	return 1;
}

static inline void ms_mutex_unlock(struct ms_mutex *m)
{
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
