/*
 * percpu.h - "CPUs" and per-cpu data.
 *
 * A "CPU" is one slot per thread of a run (each worker, the controller, the
 * workqueue thread, the RCU callback thread).  A thread claims its slot with
 * ms_thread_register(cpu); per-cpu data of slot c is WRITTEN only by the
 * thread that registered c, with plain READ_ONCE/WRITE_ONCE (no atomic RMW),
 * and read by anyone (sums are exact only when writers are quiescent, e.g. at
 * a stop-the-world checkpoint).
 *
 * A thread that did not register (ms_cpu == -1) has no slot: the helpers
 * below fall back to the atomic part, which keeps totals exact.
 */
#ifndef MS_PERCPU_H
#define MS_PERCPU_H

#include <stdlib.h>
#include <string.h>
#include "atomics.h"

#define MS_MAX_CPUS 64
#define PCPU_STRIDE (MS_CACHELINE / (int)sizeof(long)) /* 8 longs: one line per cpu */

/* Slots in use (sums walk [0, ms_nr_cpu_ids)); default MS_MAX_CPUS.  Change it
 * only between runs, when no per-cpu data holds residues. */
extern int ms_nr_cpu_ids MS_HIDDEN;
/* The calling thread's slot, -1 when unregistered (defined in percpu.c). */
extern __thread int ms_cpu MS_TLS;
/* The thread's own record (ms_threads[], held-lock stack): the slot it
 * claimed, kept when CPU hotplug moves it to another slot (ms_cpu_migrate). */
extern __thread int ms_home MS_TLS;
/* Unique small thread id, never 0; assigned lazily by ms_thread_id(). */
extern __thread int ms_tid MS_TLS;
extern int ms_tid_next MS_HIDDEN; /* atomic: last id handed out */
/* Owner (ms_tid) of each slot, 0 when free; written under the registry lock. */
extern int ms_cpu_owner[MS_MAX_CPUS] MS_HIDDEN;

void ms_set_nr_cpus(int n);
/* Claim slot `cpu` (in [0, ms_nr_cpu_ids): the caller checked) for the
 * calling thread, giving back the slot it held before.  A slot owned by
 * another thread is a misuse (counted, and fatal in MS_DEBUG).  Threads of
 * a run use ms_thread_register() (urcu.h), which also makes them readers. */
void ms_cpu_claim(int cpu);
/* CPU hotplug: move the calling thread (registered) to free slot `cpu`,
 * giving its slot back; ms_home stays.  0, or -1 when `cpu` is taken. */
int ms_cpu_migrate(int cpu);
/* Give the calling thread's slot back (nothing when it has none). */
void ms_cpu_release(void);
/* Print and abort(): a bug in the caller that nothing can recover from. */
void ms_die(const char *msg);
/* A broken API rule: counted in lockdep_violations (locks.h); MS_DEBUG aborts. */
void ms_misuse(const char *msg);

static inline int smp_processor_id(void) { return ms_cpu; }

static inline int ms_thread_id(void)
{
	int t = ms_tid;

	if (unlikely(t == 0)) {
		t = fetch_add_I(&ms_tid_next, 1) + 1; /* fully ordered; only uniqueness matters */
		ms_tid = t;
	}
	return t;
}

/* Zeroed, cache-line aligned: one 64-byte line (PCPU_STRIDE longs) for each of
 * the MS_MAX_CPUS slots.  NULL on ENOMEM. */
static inline long *pcpu_alloc_longs(void)
{
	size_t sz = (size_t)MS_MAX_CPUS * MS_CACHELINE;
	long *p = (long *)aligned_alloc(MS_CACHELINE, sz);

	if (p)
		memset(p, 0, sz);
	return p;
}

static inline void pcpu_free(long *base) { free(base); }

static inline long *per_cpu_ptr_L(long *base, int cpu) { return base + (long)cpu * PCPU_STRIDE; }

/* The calling thread's slot; only valid when ms_cpu >= 0. */
static inline long *this_cpu_ptr_L(long *base) { return per_cpu_ptr_L(base, ms_cpu); }

/* ---- percpu_counter (lib/percpu_counter.c, without the spinlock) ---- */
struct percpu_counter {
	long count MS_ALIGNED; /* atomic (relaxed adds): the hot shared word, alone on its line */
	char pad_[MS_CACHELINE - sizeof(long)];
	long *pcpu;            /* set at init; slot c written only by the owner of c */
	long batch;            /* set at init, read-only */
};

static inline int percpu_counter_init(struct percpu_counter *c, long batch)
{
	c->count = 0;
	c->batch = batch;
	c->pcpu = pcpu_alloc_longs();
	return c->pcpu ? 0 : -1;
}

static inline void percpu_counter_destroy(struct percpu_counter *c)
{
	pcpu_free(c->pcpu);
	c->pcpu = NULL;
}

/* Add v: into the caller's own slot while |slot + v| <= batch, else spill the
 * whole slot into count.  Between the spill and the slot reset a concurrent
 * sum may see the amount twice: sums are exact only when writers are
 * quiescent.  Unregistered callers add to count directly. */
static inline void percpu_counter_add(struct percpu_counter *c, long v)
{
	long *slot, x;

	if (unlikely(ms_cpu < 0)) {
		atomic_add_L(&c->count, v); /* relaxed: a statistic, ordered by the checkpoint */
		return;
	}
	slot = this_cpu_ptr_L(c->pcpu);
	x = READ_ONCE_L(slot) + v;  /* own slot: no other writer */
	if (x > c->batch || x < -c->batch) {
		atomic_add_L(&c->count, x); /* relaxed; readers sync through the checkpoint */
		WRITE_ONCE_L(slot, 0);
	} else {
		WRITE_ONCE_L(slot, x);
	}
}

/* The atomic part only: off by at most batch * nr_cpus. */
static inline long percpu_counter_read(struct percpu_counter *c)
{
	return READ_ONCE_L(&c->count);
}

/* Atomic part plus every slot; exact when writers are quiescent. */
static inline long percpu_counter_sum(struct percpu_counter *c)
{
	long s = READ_ONCE_L(&c->count);
	int cpu, n = READ_ONCE_I(&ms_nr_cpu_ids);

	for (cpu = 0; cpu < n; cpu++)
		s += READ_ONCE_L(per_cpu_ptr_L(c->pcpu, cpu));
	return s;
}

#endif /* MS_PERCPU_H */
