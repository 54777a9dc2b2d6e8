/*
 * percpu_ref.c - slow paths of percpu_ref (percpu_ref.h, after
 * lib/percpu-refcount.c, v5.3): init and exit, the kill and its switch to
 * atomic mode a grace period later, and the underflow report.
 */
#include <stdio.h>

#include "atomics.h"
#include "locks.h"
#include "percpu.h"
#include "percpu_ref.h"
#include "urcu.h"

long percpu_ref_underflows;       /* atomic */
long percpu_ref_warnings;         /* atomic */

/* Mode switches (kernel: percpu_ref_switch_lock).  Static storage starts
 * zeroed, which is spin_lock_init()'s unlocked state. */
static struct ms_spinlock percpu_ref_switch_lock;

int percpu_ref_init(struct percpu_ref *ref, percpu_ref_func_t release, void *owner)
{
	ref->pcpu = pcpu_alloc_longs();
	if (!ref->pcpu)
		return -1;
	ref->count = (long)(1UL + PERCPU_COUNT_BIAS); /* base reference, biased */
	ref->percpu_count_ptr = 0;                    /* percpu mode */
	ref->release = release;
	ref->confirm_switch = NULL;
	ref->owner = owner;
	ref->switched = 0;
	ref->rcu.next = NULL;
	ref->rcu.func = NULL;
	ref->rcu.owner = ref;
	return 0;
}

/* Not while a switch is pending (percpu_ref_switch_pending()). */
void percpu_ref_exit(struct percpu_ref *ref)
{
	pcpu_free(ref->pcpu);
	ref->pcpu = NULL;
	WRITE_ONCE_L((long *)&ref->percpu_count_ptr, (long)__PERCPU_REF_ATOMIC_DEAD);
	WRITE_ONCE_I(&ref->switched, 1);
}

void percpu_ref_underflow(struct percpu_ref *ref, long v)
{
	(void)ref;
	(void)v;
	fetch_add_L(&percpu_ref_underflows, 1);
#ifdef MS_DEBUG
	fprintf(stderr, "memcg-stress: percpu_ref %p went negative (%ld)\n", (void *)ref, v);
#endif
}

/* RCU callback: no reader can still be adding to a slot. */
static void percpu_ref_switch_to_atomic_rcu(struct rcu_head *rcu)
{
	struct percpu_ref *ref = (struct percpu_ref *)rcu->owner;
	unsigned long sum = 0;
	percpu_ref_func_t confirm;
	long v;
	int cpu;

	for (cpu = 0; cpu < MS_MAX_CPUS; cpu++) /* every slot: exactness over speed, once per kill */
		sum += (unsigned long)READ_ONCE_L(per_cpu_ptr_L(ref->pcpu, cpu));
	/* Fully ordered: the fold before `switched` and the switch's put. */
	v = add_return_L(&ref->count, (long)(sum - PERCPU_COUNT_BIAS));
	if (v <= 0) /* the switch still holds a reference: <= 0 means puts exceeded gets */
		percpu_ref_underflow(ref, v);
	WRITE_ONCE_I(&ref->switched, 1);

	spin_lock(&percpu_ref_switch_lock);
	confirm = ref->confirm_switch;
	ref->confirm_switch = NULL;
	spin_unlock(&percpu_ref_switch_lock);
	if (confirm)
		confirm(ref); /* @ref is seen dead by every thread */
	percpu_ref_put(ref); /* drop the reference taken by the switch */
}

void percpu_ref_kill_and_confirm(struct percpu_ref *ref, percpu_ref_func_t confirm_kill)
{
	unsigned long flags;

	spin_lock(&percpu_ref_switch_lock);
	flags = (unsigned long)READ_ONCE_L((const long *)&ref->percpu_count_ptr);
	if (flags & __PERCPU_REF_DEAD) {
		/* kernel: WARN_ONCE("percpu_ref_kill_and_confirm called more than once") */
		fetch_add_L(&percpu_ref_warnings, 1);
#ifdef MS_DEBUG
		fprintf(stderr, "memcg-stress: percpu_ref %p killed more than once\n", (void *)ref);
#endif
	}
	if (flags & __PERCPU_REF_ATOMIC) {
		/* Already switched or switching (kernel __percpu_ref_switch_to_atomic). */
		WRITE_ONCE_L((long *)&ref->percpu_count_ptr, (long)(flags | __PERCPU_REF_DEAD));
		spin_unlock(&percpu_ref_switch_lock);
		if (confirm_kill)
			confirm_kill(ref);
	} else {
		ref->confirm_switch = confirm_kill;
		/* Relaxed: readers that miss it are covered by the grace period
		 * before the fold; the fold's own ordering comes from call_rcu. */
		WRITE_ONCE_L((long *)&ref->percpu_count_ptr, (long)(flags | __PERCPU_REF_ATOMIC_DEAD));
		spin_unlock(&percpu_ref_switch_lock);
		percpu_ref_get(ref); /* atomic mode now: put after confirmation */
		ref->rcu.owner = ref;
		call_rcu(&ref->rcu, percpu_ref_switch_to_atomic_rcu);
	}
	percpu_ref_put(ref); /* drop the base reference */
}
