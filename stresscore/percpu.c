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

#include "atomics.h"
#include "locks.h"
#include "percpu.h"

/* ---- globals of percpu.h / locks.h ---- */
int ms_nr_cpu_ids = MS_MAX_CPUS;  /* written only between runs (ms_set_nr_cpus) */
__thread int ms_cpu = -1;
__thread int ms_tid;
int ms_tid_next;                  /* atomic (fetch_add) */
int ms_cpu_owner[MS_MAX_CPUS];    /* ms_cpu_registry_lock */
long lockdep_violations;          /* atomic */

static pthread_mutex_t ms_cpu_registry_lock = PTHREAD_MUTEX_INITIALIZER;

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
	}
}
