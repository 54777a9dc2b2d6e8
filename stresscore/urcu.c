/*
 * urcu.c - slow paths of the user-space RCU: the reader registry, grace
 * periods and callbacks.  The per-cpu slot registry is in percpu.c, the
 * percpu_ref mode switch in percpu_ref.c.
 *
 * Grace periods without a phase flip
 * ----------------------------------
 * liburcu's urcu-memb keeps a one-bit phase in a word that can wrap, so a
 * reader that loaded the counter, got preempted and stored it late could look
 * "current"; the updater therefore flips the phase twice.  Here rcu_gp_ctr is
 * 64 bits, starts at 1 and only grows (2^63 grace periods never happen), so a
 * reader's snapshot is either 0 (quiescent) or some value <= the counter.
 * synchronize_rcu():
 *
 *   unpublish (caller) ; smp_mb_master()  [A]
 *   rcu_gp_ctr = new = old + 1
 *   wait while some reader has 0 < ctr < new
 *   smp_mb_master()  [B] ; free (caller)
 *
 * membarrier() acts as a full barrier executed at some point of every other
 * running thread (a non-running thread is ordered by the context switch).
 * Take a reader whose critical section overlaps the grace period:
 *  - if its ctr store comes before its barrier point of [A], the scan after
 *    [A] sees ctr != 0 and ctr <= old < new: the updater waits for it;
 *  - otherwise all its read-side loads come after its barrier point of [A],
 *    so they see the unpublish: it cannot reach the old object.
 * A stale snapshot stored late is still < new, so it is waited for, never
 * mistaken for a new reader: that is why one increment suffices.  A reader
 * with ctr >= new loaded rcu_gp_ctr after the increment, hence after [A]:
 * second case.  On the way out, a reader's accesses are ordered before its
 * ctr = 0 store by smp_mb_slave(); the scan saw that store before [B], and
 * [B] orders it before the caller's free.  Without membarrier both slaves are
 * smp_mb() and the same argument is the classic store-buffering pattern.
 *
 * Grace-period sharing: a caller that snapshots rcu_gp_ctr = s (after an
 * smp_mb() ordering its unpublish) is satisfied by any grace period that
 * started after the snapshot: the one that advanced the counter to s + 2
 * executed [A] after the s + 1 increment, which the snapshot preceded.  So
 * when rcu_gp_completed >= s + 2 under rcu_gp_lock, it returns at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "atomics.h"
#include "clock.h"
#include "locks.h"
#include "mpsc.h"
#include "percpu.h"
#include "prng.h"
#include "urcu.h"

#define RCU_SPIN_BEFORE_YIELD 128

/* ---- reader registry ---- */
__thread struct rcu_reader *rcu_reader_self;
__thread int rcu_nesting;
static struct rcu_reader rcu_registry[RCU_MAX_READERS]; /* slot i: see struct rcu_reader */
static int rcu_registry_hwm;      /* slots ever used: written under rcu_registry_lock (release), read by the scan (acquire) */
static pthread_mutex_t rcu_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t rcu_exit_key; /* destructor unregisters lazily registered readers */

/* ---- grace periods ---- */
long rcu_gp_ctr = 1;              /* rcu_gp_lock for writes, lock-free reads */
static long rcu_gp_completed = 1; /* rcu_gp_lock: counter value of the last finished grace period */
static pthread_mutex_t rcu_gp_lock = PTHREAD_MUTEX_INITIALIZER;
int rcu_use_membarrier;           /* written once, under rcu_gp_lock */
static int rcu_busted;            /* lock-free flag (mutant) */
static pthread_once_t rcu_once = PTHREAD_ONCE_INIT;

/* ---- statistics: relaxed atomic adds, read racily by reports ---- */
static long rcu_stat_gps;
static long rcu_stat_hist[32];
static long rcu_stat_cbs;

/* ---- callbacks: one list per cpu slot ---- */
struct rcu_cpu_list {
	struct mpsc_queue q;    /* lock-free producers; consumer under lock */
	pthread_mutex_t lock;   /* one consumer per list; its batches stay in FIFO order */
} MS_ALIGNED;
static struct rcu_cpu_list rcu_lists[MS_MAX_CPUS];
__thread int ms_exec_cpu = -1;
static void (*rcu_wait_hook)(void);     /* set by the engine between runs */
static long rcu_cb_pending;             /* atomic: queued, not yet invoked */
static int rcu_cb_futex;                /* -1: the callback thread is (about to be) waiting; else 0 */
static int rcu_cb_thread_active;        /* lock-free flag, set by the engine */
static pthread_mutex_t rcu_barrier_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rcu_barrier_cond = PTHREAD_COND_INITIALIZER;

/* A broken rule of the RCU API: counted in lockdep_violations (percpu.c). */
static void rcu_misuse(const char *msg)
{
	ms_misuse(msg);
}

static long sys_membarrier(int cmd)
{
	return syscall(__NR_membarrier, cmd, 0);
}

static void smp_mb_master(void)
{
	if (rcu_use_membarrier) {
		if (sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED))
			ms_die("membarrier(PRIVATE_EXPEDITED) failed after registration");
	} else {
		smp_mb();
	}
}

static long sys_futex(int *uaddr, int op, int val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

/* ================= registry ================= */

void rcu_unregister_reader(void)
{
	struct rcu_reader *self = rcu_reader_self;

	if (!self)
		return;
	if (rcu_nesting) {
		rcu_misuse("thread unregistered inside an RCU read-side section");
		rcu_nesting = 0;
	}
	WRITE_ONCE_L(&self->ctr, 0);
	pthread_mutex_lock(&rcu_registry_lock);
	self->tid = 0;
	WRITE_ONCE_I(&self->in_use, 0);
	pthread_mutex_unlock(&rcu_registry_lock);
	rcu_reader_self = NULL;
	pthread_setspecific(rcu_exit_key, NULL);
}

static void rcu_thread_exit(void *arg)
{
	(void)arg;
	ms_thread_unregister();
}

static void rcu_init_once(void)
{
	long q;

	int i;

	for (i = 0; i < MS_MAX_CPUS; i++) {
		mpsc_init(&rcu_lists[i].q);
		pthread_mutex_init(&rcu_lists[i].lock, NULL);
	}
	if (pthread_key_create(&rcu_exit_key, rcu_thread_exit))
		ms_die("pthread_key_create");
	q = sys_membarrier(MEMBARRIER_CMD_QUERY);
	pthread_mutex_lock(&rcu_gp_lock);
	if (q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0) {
		/* Under rcu_gp_lock: no grace period runs with smp_mb() while a
		 * reader already trusts membarrier.  Readers that still use
		 * smp_mb() are merely over-ordered. */
		WRITE_ONCE_I(&rcu_use_membarrier, 1);
	}
	pthread_mutex_unlock(&rcu_gp_lock);
}

void rcu_init(void)
{
	pthread_once(&rcu_once, rcu_init_once);
}

int rcu_has_membarrier(void)
{
	return READ_ONCE_I(&rcu_use_membarrier);
}

struct rcu_reader *rcu_register_reader_slow(void)
{
	int i;
	struct rcu_reader *r = NULL;

	if (rcu_reader_self)
		return rcu_reader_self;
	rcu_init();
	pthread_mutex_lock(&rcu_registry_lock);
	for (i = 0; i < RCU_MAX_READERS; i++) {
		if (!rcu_registry[i].in_use) {
			r = &rcu_registry[i];
			break;
		}
	}
	if (!r) {
		pthread_mutex_unlock(&rcu_registry_lock);
		ms_die("more than RCU_MAX_READERS RCU reader threads");
	}
	r->ctr = 0;
	r->tid = ms_thread_id();
	WRITE_ONCE_I(&r->in_use, 1);
	if (i + 1 > rcu_registry_hwm)
		smp_store_release_I(&rcu_registry_hwm, i + 1); /* pairs with the acquire in rcu_wait_for_readers() */
	pthread_mutex_unlock(&rcu_registry_lock);
	rcu_reader_self = r;
	pthread_setspecific(rcu_exit_key, r); /* non-NULL: the destructor runs at thread exit */
	return r;
}

void rcu_read_unlock_unbalanced(void)
{
	rcu_misuse("rcu_read_unlock() without rcu_read_lock()");
}

/* A thread of the run: its cpu slot (percpu.c) and its reader slot. */
void ms_thread_register(int cpu)
{
	if (cpu < 0 || cpu >= READ_ONCE_I(&ms_nr_cpu_ids))
		ms_die("ms_thread_register: cpu out of [0, ms_nr_cpu_ids)");
	rcu_register_reader_slow();
	ms_cpu_claim(cpu);
}

void ms_thread_unregister(void)
{
	ms_cpu_release();
	rcu_unregister_reader();
}

/* ================= grace periods ================= */

/* For stall reports: the thread ids of the readers inside a read section
 * now (at most `max`), read lock-free as rcu_wait_for_readers() reads them;
 * a racy snapshot, which is all a report needs. */
int rcu_readers_in_section(int *tids, int max)
{
	int i, k = 0, n = smp_load_acquire_I(&rcu_registry_hwm); /* pairs with the release in registration */

	for (i = 0; i < n && k < max; i++) {
		struct rcu_reader *r = &rcu_registry[i];

		if (READ_ONCE_I(&r->in_use) && READ_ONCE_L(&r->ctr) != 0)
			tids[k++] = r->tid;
	}
	return k;
}

/* Wait until no reader is in a critical section that began before `new`.
 * Called with rcu_gp_lock held. */
static void rcu_wait_for_readers(long new)
{
	int i, spins, n = smp_load_acquire_I(&rcu_registry_hwm); /* pairs with the release in registration */
	struct rcu_reader *me = rcu_reader_self;
	long c;

	for (i = 0; i < n; i++) {
		struct rcu_reader *r = &rcu_registry[i];

		if (r == me) /* synchronize_rcu() inside a read section: reported by the caller */
			continue;
		spins = 0;
		for (;;) {
			c = READ_ONCE_L(&r->ctr); /* ordered after [A] by smp_mb_master() */
			if (c == 0 || c >= new)
				break;
			if (++spins < RCU_SPIN_BEFORE_YIELD)
				cpu_relax();
			else
				sched_yield(); /* threads outnumber cores: let the reader run */
		}
	}
}

static void rcu_account_gp(unsigned long long t0)
{
	unsigned long long us = (ms_now_ns() - t0) / 1000ULL;
	int b = us ? 63 - __builtin_clzll(us) : 0;

	if (b > 31)
		b = 31;
	atomic_add_L(&rcu_stat_gps, 1);      /* relaxed: statistics */
	atomic_add_L(&rcu_stat_hist[b], 1);  /* relaxed: statistics */
}

void synchronize_rcu(void)
{
	unsigned long long t0;
	long snap, new;

	if (unlikely(READ_ONCE_I(&rcu_busted)))
		return; /* a deliberate bug for testing purposes only: no grace period */
	if (unlikely(rcu_nesting > 0))
		rcu_misuse("synchronize_rcu() inside an RCU read-side section");
	t0 = ms_now_ns();
	smp_mb(); /* the caller's unpublish before the snapshot (grace-period sharing) */
	snap = READ_ONCE_L(&rcu_gp_ctr);
	pthread_mutex_lock(&rcu_gp_lock);
	if (rcu_gp_completed >= snap + 2) {
		/* A whole grace period started after our snapshot and ended; its
		 * [B] is ordered before us by rcu_gp_lock. */
		pthread_mutex_unlock(&rcu_gp_lock);
		rcu_account_gp(t0);
		return;
	}
	smp_mb_master(); /* [A] unpublish before the reader-ctr scan; pairs with smp_mb_slave() in rcu_read_lock() */
	new = rcu_gp_ctr + 1;
	WRITE_ONCE_L(&rcu_gp_ctr, new);
	rcu_wait_for_readers(new);
	smp_mb_master(); /* [B] reader-ctr scan before the caller's free; pairs with smp_mb_slave() in rcu_read_unlock() */
	rcu_gp_completed = new;
	pthread_mutex_unlock(&rcu_gp_lock);
	rcu_account_gp(t0);
}

void rcu_set_busted(int on)
{
	WRITE_ONCE_I(&rcu_busted, on ? 1 : 0);
}

int rcu_is_busted(void)
{
	return READ_ONCE_I(&rcu_busted);
}

/* ================= callbacks ================= */

static int rcu_nr_lists(void)
{
	int n = READ_ONCE_I(&ms_nr_cpu_ids);

	return n < 1 ? 1 : n > MS_MAX_CPUS ? MS_MAX_CPUS : n;
}

static int rcu_all_empty(void)
{
	int i, n = rcu_nr_lists();

	for (i = 0; i < n; i++)
		if (!mpsc_empty(&rcu_lists[i].q))
			return 0;
	return 1;
}

static void call_rcu_on(int cpu, struct rcu_head *head, void (*func)(struct rcu_head *))
{
	head->func = func;
	atomic_add_L(&rcu_cb_pending, 1); /* relaxed: approximate count */
	/* mpsc_push's xchg is fully ordered: the enqueue before the futex
	 * read; pairs with smp_mb() in rcu_wait_for_callbacks(). */
	mpsc_push(&rcu_lists[cpu].q, (struct mpsc_node *)head);
	if (READ_ONCE_I(&rcu_cb_futex) == -1) {
		WRITE_ONCE_I(&rcu_cb_futex, 0);
		sys_futex(&rcu_cb_futex, FUTEX_WAKE_PRIVATE, INT_MAX, NULL);
	}
}

/* __call_rcu (kernel/rcu/tree.c): on this CPU's list. */
void call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *))
{
	call_rcu_on(ms_queue_cpu(), head, func);
}

int rcu_process_callbacks_set(const int *cpus, int n)
{
	struct mpsc_node *node, *first[MS_MAX_CPUS], **tailp;
	int locked[MS_MAX_CPUS], order[MS_MAX_CPUS];
	int i, j, c, total = 0, saved = ms_exec_cpu;

	if (n > MS_MAX_CPUS)
		n = MS_MAX_CPUS;
	/* Lock in ascending cpu order (no deadlock between two servers), take
	 * the batches, invoke in the order given. */
	for (i = 0; i < n; i++)
		order[i] = cpus[i];
	for (i = 0; i < MS_MAX_CPUS; i++)
		locked[i] = 0;
	for (i = 0; i < n; i++)
		if (order[i] >= 0 && order[i] < MS_MAX_CPUS)
			locked[order[i]] = 1;
	for (c = 0; c < MS_MAX_CPUS; c++) {
		if (!locked[c])
			continue;
		pthread_mutex_lock(&rcu_lists[c].lock);
		first[c] = NULL;
		tailp = &first[c];
		while ((node = mpsc_pop(&rcu_lists[c].q)) != NULL) {
			/* The queue no longer references node: reuse ->next for the batch. */
			node->next = NULL;
			*tailp = node;
			tailp = &node->next;
			total++;
		}
	}
	if (total)
		synchronize_rcu(); /* every callback of the batches was queued before this grace period */
	for (i = 0; total && i < n; i++) {
		c = order[i];
		if (c < 0 || c >= MS_MAX_CPUS || locked[c] != 1)
			continue;
		locked[c] = 2;  /* a cpu named twice is invoked once */
		ms_exec_cpu = c;        /* the callbacks run for the CPU that queued them */
		for (node = first[c]; node; ) {
			struct rcu_head *h = (struct rcu_head *)node;

			node = node->next; /* before func(), which may free h */
			/* Before func(): a barrier waiter woken by its marker sees 0. */
			atomic_add_L(&rcu_cb_pending, -1); /* relaxed: approximate count */
			atomic_add_L(&rcu_stat_cbs, 1);    /* relaxed: statistics */
			h->func(h);
		}
	}
	ms_exec_cpu = saved;
	for (j = MS_MAX_CPUS - 1; j >= 0; j--)
		if (locked[j])
			pthread_mutex_unlock(&rcu_lists[j].lock);
	return total;
}

int rcu_process_callbacks(void)
{
	int i, cpus[MS_MAX_CPUS], n = rcu_nr_lists();

	for (i = 0; i < n; i++)
		cpus[i] = i;
	return rcu_process_callbacks_set(cpus, n);
}

int rcu_process_callbacks_share(int index, int nr, struct ms_rng *rng)
{
	int cpus[MS_MAX_CPUS], c, k = 0, j, x, n = rcu_nr_lists();

	if (nr < 1)
		nr = 1;
	for (c = index; c < n; c += nr)
		cpus[k++] = c;
	for (j = k - 1; rng && j > 0; j--) { /* Fisher-Yates */
		c = (int)ms_rng_below(rng, (unsigned int)j + 1);
		x = cpus[j];
		cpus[j] = cpus[c];
		cpus[c] = x;
	}
	return rcu_process_callbacks_set(cpus, k);
}

int rcu_list_len(int cpu)
{
	struct mpsc_node *x;
	int k = 0;

	if (cpu < 0 || cpu >= MS_MAX_CPUS)
		return 0;
	for (x = rcu_lists[cpu].q.tail; x; x = x->next)
		if (x != &rcu_lists[cpu].q.stub)
			k++;
	return k;
}

void rcu_set_wait_hook(void (*fn)(void))
{
	rcu_wait_hook = fn;
}

int rcu_wait_for_callbacks(long timeout_ns)
{
	struct timespec ts;

	if (!rcu_all_empty())
		return 1;
	WRITE_ONCE_I(&rcu_cb_futex, -1);
	smp_mb(); /* futex = -1 before the queue check; pairs with the xchg in call_rcu() */
	if (rcu_all_empty()) {
		if (timeout_ns < 0)
			timeout_ns = 0;
		ts.tv_sec = timeout_ns / 1000000000L;
		ts.tv_nsec = timeout_ns % 1000000000L;
		/* Returns at once unless the word is still -1 (no wake-up lost). */
		sys_futex(&rcu_cb_futex, FUTEX_WAIT_PRIVATE, -1, &ts);
	}
	WRITE_ONCE_I(&rcu_cb_futex, 0);
	return !rcu_all_empty();
}

void rcu_set_callback_thread_active(int on)
{
	WRITE_ONCE_I(&rcu_cb_thread_active, on ? 1 : 0);
}

int rcu_pending_callbacks(void)
{
	long n = READ_ONCE_L(&rcu_cb_pending);

	return n < 0 ? 0 : (int)n;
}

struct rcu_barrier_marker {
	struct rcu_head head; /* first field */
	int done;             /* rcu_barrier_lock */
};

static void rcu_barrier_func(struct rcu_head *head)
{
	struct rcu_barrier_marker *m = (struct rcu_barrier_marker *)head;

	pthread_mutex_lock(&rcu_barrier_lock);
	m->done = 1;
	pthread_cond_broadcast(&rcu_barrier_cond);
	pthread_mutex_unlock(&rcu_barrier_lock); /* m (on the waiter's stack) is not touched after this */
}

/* rcu_barrier (kernel/rcu/tree.c): a marker entrained on every CPU's list;
 * each list is FIFO, so when every marker has run, every callback queued
 * before the call has run.  Must not be called from a callback. */
void rcu_barrier(void)
{
	struct rcu_barrier_marker m[MS_MAX_CPUS];
	struct timespec ts;
	int i, n = rcu_nr_lists(), left;

	for (i = 0; i < n; i++) {
		m[i].done = 0;
		call_rcu_on(i, &m[i].head, rcu_barrier_func);
	}
	for (;;) {
		left = 0;
		pthread_mutex_lock(&rcu_barrier_lock);
		for (i = 0; i < n; i++)
			left += !m[i].done;
		if (left && READ_ONCE_I(&rcu_cb_thread_active)) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 200000;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&rcu_barrier_cond, &rcu_barrier_lock, &ts);
		}
		pthread_mutex_unlock(&rcu_barrier_lock);
		if (!left)
			return;
		if (READ_ONCE_I(&rcu_cb_thread_active)) {
			if (rcu_wait_hook)
				rcu_wait_hook(); /* a safe point: a stop of the world may park us here */
		} else if (rcu_process_callbacks() == 0) {
			sched_yield(); /* a producer mid-push, or another consumer holds a marker */
		}
	}
}

unsigned long rcu_gp_count(void)
{
	return (unsigned long)READ_ONCE_L(&rcu_stat_gps);
}

void rcu_gp_histogram(unsigned long out[32])
{
	int i;

	for (i = 0; i < 32; i++)
		out[i] = (unsigned long)READ_ONCE_L(&rcu_stat_hist[i]);
}

unsigned long rcu_cb_invoked_count(void)
{
	return (unsigned long)READ_ONCE_L(&rcu_stat_cbs);
}

void rcu_stats_reset(void)
{
	int i;

	WRITE_ONCE_L(&rcu_stat_gps, 0);
	WRITE_ONCE_L(&rcu_stat_cbs, 0);
	for (i = 0; i < 32; i++)
		WRITE_ONCE_L(&rcu_stat_hist[i], 0);
}
