/*
 * urcu.h - user-space RCU, the urcu-memb design (liburcu's
 * include/urcu/static/urcu-memb.h), with a 64-bit grace-period counter.
 *
 * Readers: rcu_read_lock()/rcu_read_unlock() touch only the thread's own
 * cache-line-padded registry slot (no atomic RMW on shared memory).  The
 * outermost lock copies the global grace-period counter into the slot; the
 * outermost unlock stores 0.  Nesting is counted in a thread-local.
 *
 * smp_mb_slave() is a compiler barrier when sys_membarrier
 * (MEMBARRIER_CMD_PRIVATE_EXPEDITED) was registered at rcu_init(), otherwise
 * a full smp_mb(); the updater's smp_mb_master() is then the membarrier
 * syscall (a full barrier on every running thread of the process), otherwise
 * smp_mb().  Why a 64-bit counter needs no phase flip: see urcu.c.
 *
 * A thread becomes a reader with ms_thread_register() or, lazily, on its
 * first rcu_read_lock(); a lazily registered thread is unregistered by a
 * pthread key destructor when it exits.
 *
 * Callbacks: as the kernel's (kernel/rcu/tree.c, __call_rcu), call_rcu()
 * enqueues on the calling CPU's list (lock-free FIFO, one per cpu slot; the
 * CPU is ms_exec_cpu while a work or a callback of another CPU runs, else
 * the thread's slot).  Each list is invoked in its order, with no order
 * between lists: rcu_process_callbacks_set() takes the batches of the lists
 * it is given, waits one grace period and invokes them list by list in the
 * order given (the engine's callback threads serve disjoint sets of lists in
 * a seeded random order; rcu_process_callbacks() serves every list, lowest
 * first, for tests in "manual" mode).  rcu_barrier() (kernel/rcu/tree.c,
 * rcu_barrier: one callback entrained on every CPU) waits for every callback
 * queued before it on every list.
 */
#ifndef MS_URCU_H
#define MS_URCU_H

#include "atomics.h"
#include "percpu.h"

#define RCU_MAX_READERS 256

struct rcu_head {
	struct rcu_head *next;              /* queue link: private to the RCU core (first field) */
	void (*func)(struct rcu_head *);    /* set by call_rcu() */
	void *owner;                        /* free for the user, e.g. the object embedding it */
};

struct rcu_reader {
	long ctr;   /* lock-free: written by its thread only (gp snapshot or 0), read by synchronize_rcu() */
	int in_use; /* written under the registry lock; read lock-free by synchronize_rcu() */
	int tid;    /* ms_thread_id() of the owner, for reports; registry lock */
} MS_ALIGNED;   /* one cache line per reader */

extern __thread struct rcu_reader *rcu_reader_self MS_TLS; /* NULL until registered */
extern __thread int rcu_nesting MS_TLS;                     /* read-side nesting depth */
extern long rcu_gp_ctr MS_HIDDEN;        /* written under rcu_gp_lock, read lock-free by readers; starts at 1 */
extern int rcu_use_membarrier MS_HIDDEN; /* set once by rcu_init() under rcu_gp_lock */
/* The CPU a work item or an RCU callback runs for (the one that queued it),
 * -1 otherwise: call_rcu() and queue_work() queue on it rather than on the
 * thread's own slot, as the kernel queues on the CPU the work runs on. */
extern __thread int ms_exec_cpu MS_TLS;

/* Set ms_exec_cpu, return the previous value (restore it with another swap). */
static inline int ms_exec_cpu_swap(int c)
{
	int old = ms_exec_cpu;

	ms_exec_cpu = c;
	return old;
}

/* The CPU whose list or queue a call_rcu()/queue_work() of this thread uses. */
static inline int ms_queue_cpu(void)
{
	int c = ms_exec_cpu >= 0 ? ms_exec_cpu : ms_cpu;

	return c >= 0 && c < MS_MAX_CPUS ? c : 0;
}

/* Slow path of the first rcu_read_lock() of an unregistered thread. */
struct rcu_reader *rcu_register_reader_slow(void);
/* Stop being a reader; not inside a read section. */
void rcu_unregister_reader(void);

/* A thread of the run: claim slot `cpu` (percpu.h) and register as an RCU
 * reader.  cpu must be in [0, ms_nr_cpu_ids) (abort otherwise: a bug in the
 * caller). */
void ms_thread_register(int cpu);
/* Release the slot and the RCU reader registration; not inside a read section. */
void ms_thread_unregister(void);
/* Unbalanced rcu_read_unlock(): counted in lockdep_violations. */
void rcu_read_unlock_unbalanced(void);

static inline void smp_mb_slave(void)
{
	if (likely(READ_ONCE_I(&rcu_use_membarrier)))
		barrier(); /* the updater's membarrier() promotes this to a full barrier */
	else
		smp_mb();
}

static inline void rcu_read_lock(void)
{
	struct rcu_reader *self = rcu_reader_self;

	if (unlikely(!self))
		self = rcu_register_reader_slow();
	if (rcu_nesting++ == 0) {
		WRITE_ONCE_L(&self->ctr, READ_ONCE_L(&rcu_gp_ctr));
		/* Order the ctr store before the read-side accesses; pairs with
		 * the first smp_mb_master() in synchronize_rcu(). */
		smp_mb_slave();
	}
}

static inline void rcu_read_unlock(void)
{
	int n = rcu_nesting - 1;

	if (unlikely(n < 0)) {
		rcu_read_unlock_unbalanced();
		return;
	}
	rcu_nesting = n;
	if (n == 0) {
		/* Order the read-side accesses before the ctr reset; pairs with
		 * the second smp_mb_master() in synchronize_rcu(). */
		smp_mb_slave();
		WRITE_ONCE_L(&rcu_reader_self->ctr, 0);
	}
}

static inline int rcu_read_lock_held(void) { return rcu_nesting > 0; }

void rcu_init(void);
int rcu_has_membarrier(void);
void synchronize_rcu(void);
int rcu_readers_in_section(int *tids, int max); /* stall reports: tids of readers in a section now */
void call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *));
int rcu_process_callbacks(void);
/* Take the batches of lists cpus[0..n), one grace period, invoke them list by
 * list in that order; how many ran. */
int rcu_process_callbacks_set(const int *cpus, int n);
struct ms_rng;
/* A callback thread's share: the lists c with c % nr == index, served as
 * rcu_process_callbacks_set() in a random order drawn from rng (cpu order
 * when rng is NULL). */
int rcu_process_callbacks_share(int index, int nr, struct ms_rng *rng);
/* Callbacks queued on one list (walks it: quiescent lists only, e.g. tests). */
int rcu_list_len(int cpu);
/* Called while rcu_barrier() waits for the callback threads (the engine's
 * stop-the-world safe point), NULL for none. */
void rcu_set_wait_hook(void (*fn)(void));
int rcu_wait_for_callbacks(long timeout_ns);
void rcu_barrier(void);
void rcu_set_callback_thread_active(int on);
int rcu_pending_callbacks(void);
/* A deliberate bug for testing purposes only: synchronize_rcu() returns
 * without waiting for readers and callbacks run without a grace period. */
void rcu_set_busted(int on);
int rcu_is_busted(void);
unsigned long rcu_gp_count(void);
void rcu_gp_histogram(unsigned long out[32]);
void rcu_stats_reset(void);
/* Callbacks invoked since the last rcu_stats_reset() (addition). */
unsigned long rcu_cb_invoked_count(void);

#endif /* MS_URCU_H */
