/*
 * percpu.c - the per-cpu slot registry (percpu.h): which thread owns which
 * "CPU" slot, and the misuse counter shared by the header-only layers.
 *
 * A slot is claimed with ms_cpu_claim() and given back with
 * ms_cpu_release(); ms_thread_register() (urcu.c) does both halves of
 * becoming a thread of the run: the slot here, the RCU reader there.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomics.h"
#include "locks.h"
#include "percpu.h"

/* ---- globals of percpu.h / locks.h ---- */
int ms_nr_cpu_ids = MS_MAX_CPUS;  /* written only between runs (ms_set_nr_cpus) */
__thread int ms_cpu = -1;
__thread int ms_home = -1;
__thread int ms_tid;
int ms_tid_next;                  /* atomic (fetch_add) */
int ms_cpu_owner[MS_MAX_CPUS];    /* ms_cpu_registry_lock */
void (*ms_sleep_hook)(int entering); /* locks.h: set between runs only */
long lockdep_violations;          /* atomic */

static pthread_mutex_t ms_cpu_registry_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- lock order (locks.h) ---- */
struct ms_held_lock ms_held_locks[MS_MAX_CPUS][MS_HELD_MAX];
int ms_nr_held[MS_MAX_CPUS];
unsigned long lockdep_order[LC_NR];       /* atomic OR; reset between runs */
long lock_order_violations;               /* atomic */
void (*ms_lock_order_hook)(const char *msg);
const char *const ms_lock_class_names[LC_NR] = {
	"none", "cgroup_mutex", "slab_mutex", "memcg_kmem_wq_lock",
	"kmem_cache.list_lock", "release_lock", "quarantine_lock", "page_pool_lock",
	"kn->active", "cpu_hotplug_lock",
};
/* The functions of each edge's first occurrence: [held][taken][0] held
 * the first lock, [1] took the second.  lockdep_graph_lock. */
static const char *lockdep_edge_func[LC_NR][LC_NR][2];
static pthread_mutex_t lockdep_graph_lock = PTHREAD_MUTEX_INITIALIZER;

/* The model's function name: Cython names its C functions
 * __pyx_f_10stresscore_5_core_<name>. */
static const char *lockdep_func_name(const char *f)
{
	const char *p;

	if (f == NULL)
		return "?";
	p = strstr(f, "_5_core_");
	return p ? p + 8 : f;
}

/* A path from -> ... -> to in the order graph (depth-first over the
 * bit matrix); its classes in path[0..n-1] (path[0] == from).  0 if none. */
static int lockdep_path(int from, int to, int *path, int depth, unsigned long *seen)
{
	unsigned long next;
	int j, n;

	path[depth] = from;
	if (from == to)
		return depth + 1;
	*seen |= 1UL << from;
	next = READ_ONCE_L((long *)&lockdep_order[from]);
	for (j = 1; j < LC_NR; j++) {
		if (!(next & (1UL << j)) || (*seen & (1UL << j)))
			continue;
		n = lockdep_path(j, to, path, depth + 1, seen);
		if (n)
			return n;
	}
	return 0;
}

void lockdep_new_edge(int held, const char *held_func, int taken, const char *taken_func)
{
	char msg[640];
	int path[LC_NR + 1], n, i, len;
	unsigned long seen = 0;

	pthread_mutex_lock(&lockdep_graph_lock);
	if (READ_ONCE_L((long *)&lockdep_order[held]) & (1L << taken)) {
		pthread_mutex_unlock(&lockdep_graph_lock);
		return;
	}
	lockdep_edge_func[held][taken][0] = held_func;
	lockdep_edge_func[held][taken][1] = taken_func;
	/* an order taken -> ... -> held already seen closes a cycle */
	n = lockdep_path(taken, held, path, 0, &seen);
	__atomic_fetch_or(&lockdep_order[held], 1UL << taken, __ATOMIC_SEQ_CST);
	if (n) {
		len = snprintf(msg, sizeof(msg),
			       "possible deadlock: %s then %s (held in %s, taken in %s) but also",
			       ms_lock_class_names[held], ms_lock_class_names[taken],
			       lockdep_func_name(held_func), lockdep_func_name(taken_func));
		for (i = 0; i + 1 < n && len < (int)sizeof(msg); i++)
			len += snprintf(msg + len, sizeof(msg) - len, "%s %s then %s (held in %s, taken in %s)",
					i ? ";" : "", ms_lock_class_names[path[i]],
					ms_lock_class_names[path[i + 1]],
					lockdep_func_name(lockdep_edge_func[path[i]][path[i + 1]][0]),
					lockdep_func_name(lockdep_edge_func[path[i]][path[i + 1]][1]));
	}
	pthread_mutex_unlock(&lockdep_graph_lock);
	if (n) {
		fetch_add_L(&lock_order_violations, 1);
		if (ms_lock_order_hook)
			ms_lock_order_hook(msg);
	}
}

void lockdep_reset(void)
{
	int i;

	pthread_mutex_lock(&lockdep_graph_lock);
	for (i = 0; i < LC_NR; i++)
		WRITE_ONCE_L((long *)&lockdep_order[i], 0);
	memset(lockdep_edge_func, 0, sizeof(lockdep_edge_func));
	memset(ms_nr_held, 0, sizeof(ms_nr_held));
	pthread_mutex_unlock(&lockdep_graph_lock);
}

void ms_die(const char *msg)
{
	fprintf(stderr, "memcg-stress: fatal: %s\n", msg);
	abort();
}

void ms_misuse(const char *msg)
{
	fetch_add_L(&lockdep_violations, 1);
#ifdef MS_DEBUG
	ms_die(msg);
#else
	(void)msg;
#endif
}

void ms_set_nr_cpus(int n)
{
	if (n < 1)
		n = 1;
	if (n > MS_MAX_CPUS)
		n = MS_MAX_CPUS;
	WRITE_ONCE_I(&ms_nr_cpu_ids, n);
}

void ms_cpu_claim(int cpu)
{
	int me = ms_thread_id();

	pthread_mutex_lock(&ms_cpu_registry_lock);
	if (ms_cpu >= 0 && ms_cpu != cpu) { /* re-registering elsewhere: give the old slot back */
		if (ms_cpu_owner[ms_cpu] == me)
			WRITE_ONCE_I(&ms_cpu_owner[ms_cpu], 0);
	}
	if (ms_cpu_owner[cpu] != 0 && ms_cpu_owner[cpu] != me)
		ms_misuse("ms_thread_register: cpu slot owned by another thread");
	WRITE_ONCE_I(&ms_cpu_owner[cpu], me);
	pthread_mutex_unlock(&ms_cpu_registry_lock);
	ms_cpu = cpu;
	ms_home = cpu;
}

int ms_cpu_migrate(int cpu)
{
	int me = ms_thread_id();

	if (ms_cpu < 0 || cpu < 0 || cpu >= ms_nr_cpu_ids)
		return -1;
	pthread_mutex_lock(&ms_cpu_registry_lock);
	if (ms_cpu_owner[cpu] != 0) {
		pthread_mutex_unlock(&ms_cpu_registry_lock);
		return -1;
	}
	if (ms_cpu_owner[ms_cpu] == me)
		WRITE_ONCE_I(&ms_cpu_owner[ms_cpu], 0);
	WRITE_ONCE_I(&ms_cpu_owner[cpu], me);
	pthread_mutex_unlock(&ms_cpu_registry_lock);
	ms_cpu = cpu;
	return 0;
}

void ms_cpu_release(void)
{
	int me;

	if (ms_cpu >= 0) {
		me = ms_thread_id();
		pthread_mutex_lock(&ms_cpu_registry_lock);
		if (ms_cpu_owner[ms_cpu] == me)
			WRITE_ONCE_I(&ms_cpu_owner[ms_cpu], 0);
		pthread_mutex_unlock(&ms_cpu_registry_lock);
		ms_cpu = -1;
		ms_home = -1;
	}
}
