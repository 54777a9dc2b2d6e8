/*
 * percpu_ref.h - kernel percpu_ref semantics (lib/percpu-refcount.c, v5.3).
 *
 * Percpu mode: get/put are plain adds to the caller's own slot inside an RCU
 * read section.  percpu_ref_kill() sets DEAD|ATOMIC, takes a reference for
 * the switch and queues an RCU callback; after a grace period (no reader can
 * still be adding to a slot) the callback folds every slot into the atomic
 * count, which carried PERCPU_COUNT_BIAS so that it could not reach zero in
 * the meantime, calls confirm_switch, and drops the switch's reference.  The
 * kill also drops the base reference.  release() runs in whichever thread
 * drops the last reference (possibly the RCU callback thread).
 *
 * Only percpu -> atomic (kill) is modelled; there is no reinit/resurrect.
 * A thread without a cpu slot (ms_cpu == -1) adds to the atomic count in
 * percpu mode too: the fold keeps the total exact.
 */
#ifndef MS_PERCPU_REF_H
#define MS_PERCPU_REF_H

#include "atomics.h"
#include "percpu.h"
#include "urcu.h"

#define __PERCPU_REF_ATOMIC 1UL
#define __PERCPU_REF_DEAD 2UL
#define __PERCPU_REF_ATOMIC_DEAD (__PERCPU_REF_ATOMIC | __PERCPU_REF_DEAD)
#define PERCPU_COUNT_BIAS (1UL << 63)
/* Unbiased counts stay far from the bias: |count| < 2^62. */
#define PERCPU_COUNT_SANE (1L << 62)

struct percpu_ref;
typedef void (*percpu_ref_func_t)(struct percpu_ref *);

struct percpu_ref {
	long count;                      /* atomic; carries PERCPU_COUNT_BIAS until the switch folded the slots */
	unsigned long percpu_count_ptr;  /* mode flags ATOMIC=1 DEAD=2: written under percpu_ref_switch_lock, read lock-free (READ_ONCE inside RCU) */
	long *pcpu;                      /* set at init; slot c written only by the owner of cpu c */
	percpu_ref_func_t release;       /* read-only after init */
	percpu_ref_func_t confirm_switch;/* percpu_ref_switch_lock; consumed by the switch callback */
	struct rcu_head rcu;             /* the switch's call_rcu head */
	void *owner;                     /* free for the user */
	int switched;                    /* 0 -> 1 once the switch callback folded the slots (WRITE_ONCE) */
};

/* atomic: puts that drove a count below zero ("refcount went negative"). */
extern long percpu_ref_underflows MS_HIDDEN;
/* atomic: misuse warnings (kill twice), like the kernel's WARN_ONCE. */
extern long percpu_ref_warnings MS_HIDDEN;

int percpu_ref_init(struct percpu_ref *ref, percpu_ref_func_t release, void *owner);
void percpu_ref_exit(struct percpu_ref *ref);
void percpu_ref_kill_and_confirm(struct percpu_ref *ref, percpu_ref_func_t confirm_kill);
void percpu_ref_underflow(struct percpu_ref *ref, long v);

static inline void percpu_ref_kill(struct percpu_ref *ref) { percpu_ref_kill_and_confirm(ref, NULL); }

/* The caller's slot when the ref is in percpu mode and the caller has a cpu;
 * NULL otherwise.  Must be called inside an RCU read section: the switch's
 * grace period waits for everyone who saw percpu mode. */
static inline long *__percpu_ref_slot(struct percpu_ref *ref)
{
	/* Relaxed: a stale "percpu" is covered by the grace period before the fold. */
	if (unlikely(READ_ONCE_L((const long *)&ref->percpu_count_ptr) & __PERCPU_REF_ATOMIC_DEAD))
		return NULL;
	if (unlikely(ms_cpu < 0))
		return NULL;
	return this_cpu_ptr_L(ref->pcpu);
}

static inline void percpu_ref_get_many(struct percpu_ref *ref, long nr)
{
	long *slot;

	rcu_read_lock();
	slot = __percpu_ref_slot(ref);
	if (slot)
		WRITE_ONCE_L(slot, READ_ONCE_L(slot) + nr); /* own slot: no other writer */
	else
		atomic_add_L(&ref->count, nr); /* relaxed, like atomic_long_add() */
	rcu_read_unlock();
}

static inline void percpu_ref_get(struct percpu_ref *ref) { percpu_ref_get_many(ref, 1); }

/* atomic_long_inc_not_zero(): fully ordered on success. */
static inline int __percpu_ref_inc_not_zero(struct percpu_ref *ref)
{
	long c = READ_ONCE_L(&ref->count), old;

	while (c != 0) {
		old = cmpxchg_L(&ref->count, c, (long)((unsigned long)c + 1));
		if (old == c)
			return 1;
		c = old;
	}
	return 0;
}

static inline int percpu_ref_tryget(struct percpu_ref *ref)
{
	long *slot;
	int ret;

	rcu_read_lock();
	slot = __percpu_ref_slot(ref);
	if (slot) {
		WRITE_ONCE_L(slot, READ_ONCE_L(slot) + 1);
		ret = 1;
	} else if (!(READ_ONCE_L((const long *)&ref->percpu_count_ptr) & __PERCPU_REF_ATOMIC) && ms_cpu < 0) {
		atomic_add_L(&ref->count, 1); /* percpu mode, caller without a slot */
		ret = 1;
	} else {
		ret = __percpu_ref_inc_not_zero(ref);
	}
	rcu_read_unlock();
	return ret;
}

/* Like tryget, but fails once the ref is dying (killed). */
static inline int percpu_ref_tryget_live(struct percpu_ref *ref)
{
	unsigned long flags;
	long *slot;
	int ret = 0;

	rcu_read_lock();
	slot = __percpu_ref_slot(ref);
	if (slot) {
		WRITE_ONCE_L(slot, READ_ONCE_L(slot) + 1);
		ret = 1;
	} else {
		flags = (unsigned long)READ_ONCE_L((const long *)&ref->percpu_count_ptr);
		if (!(flags & __PERCPU_REF_ATOMIC_DEAD)) { /* percpu mode, caller without a slot */
			atomic_add_L(&ref->count, 1);
			ret = 1;
		} else if (!(flags & __PERCPU_REF_DEAD)) {
			ret = __percpu_ref_inc_not_zero(ref);
		}
	}
	rcu_read_unlock();
	return ret;
}

static inline void percpu_ref_put_many(struct percpu_ref *ref, long nr)
{
	long *slot, v;

	rcu_read_lock();
	slot = __percpu_ref_slot(ref);
	if (slot) {
		WRITE_ONCE_L(slot, READ_ONCE_L(slot) - nr); /* own slot: no other writer */
	} else {
		/* Fully ordered like atomic_long_sub_and_test(): every access of
		 * the holder happens before release() in the last putter. */
		v = add_return_L(&ref->count, -nr);
		if (unlikely(v == 0)) {
			if (ref->release)
				ref->release(ref);
		} else if (unlikely(v < 0 && v > -PERCPU_COUNT_SANE)) {
			percpu_ref_underflow(ref, v); /* biased counts are near LONG_MIN: not an underflow */
		}
	}
	rcu_read_unlock();
}

static inline void percpu_ref_put(struct percpu_ref *ref) { percpu_ref_put_many(ref, 1); }

static inline int percpu_ref_is_dying(struct percpu_ref *ref)
{
	return (READ_ONCE_L((const long *)&ref->percpu_count_ptr) & __PERCPU_REF_DEAD) != 0;
}

static inline int percpu_ref_is_zero(struct percpu_ref *ref)
{
	if (!(READ_ONCE_L((const long *)&ref->percpu_count_ptr) & __PERCPU_REF_ATOMIC_DEAD))
		return 0; /* percpu mode: the base reference is still held */
	return READ_ONCE_L(&ref->count) == 0;
}

/* 1 between kill and the switch callback: the switch holds one reference. */
static inline int percpu_ref_switch_pending(struct percpu_ref *ref)
{
	return (READ_ONCE_L((const long *)&ref->percpu_count_ptr) & __PERCPU_REF_ATOMIC) &&
	       !READ_ONCE_I(&ref->switched);
}

/* The exact logical count (holders, including the switch's transient
 * reference while percpu_ref_switch_pending()), whatever the mode.  Valid
 * only when nobody updates the ref concurrently (checkpoints, tests). */
static inline long percpu_ref_count(struct percpu_ref *ref)
{
	unsigned long sum = (unsigned long)READ_ONCE_L(&ref->count);
	int cpu, n;

	if (READ_ONCE_I(&ref->switched) || !ref->pcpu)
		return (long)sum;
	n = READ_ONCE_I(&ms_nr_cpu_ids);
	for (cpu = 0; cpu < n; cpu++)
		sum += (unsigned long)READ_ONCE_L(per_cpu_ptr_L(ref->pcpu, cpu));
	return (long)(sum - PERCPU_COUNT_BIAS);
}

#endif /* MS_PERCPU_REF_H */
