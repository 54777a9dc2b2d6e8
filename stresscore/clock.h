/* clock.h - monotonic time for deadlines and latency statistics. */
#ifndef MS_CLOCK_H
#define MS_CLOCK_H

#include <time.h>

/* Nanoseconds of CLOCK_MONOTONIC (vDSO: no syscall on Linux). */
static inline unsigned long long ms_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

#endif /* MS_CLOCK_H */
