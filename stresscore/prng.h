/*
 * prng.h - per-thread pseudo-random numbers: xoshiro256** (Blackman & Vigna).
 *
 * One run seed derives every thread's generator: ms_rng_seed(r, seed, stream)
 * with stream = the thread's index.  The state is thread-private (no atomics);
 * keep one struct ms_rng per thread, ideally inside that thread's
 * cache-line-padded data.
 */
#ifndef MS_PRNG_H
#define MS_PRNG_H

struct ms_rng {
	unsigned long long s[4]; /* thread-private: no lock, never shared */
};

static inline unsigned long long ms__splitmix64(unsigned long long *x)
{
	unsigned long long z = (*x += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static inline unsigned long long ms__rotl(unsigned long long x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* Expand (seed, stream) with splitmix64 into a full state; distinct streams of
 * one seed give unrelated sequences, equal (seed, stream) give equal ones. */
static inline void ms_rng_seed(struct ms_rng *r, unsigned long long seed, unsigned long long stream)
{
	unsigned long long st = stream;
	unsigned long long x = seed ^ ms__splitmix64(&st);
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = ms__splitmix64(&x);
	if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
		r->s[0] = 1; /* the all-zero state is a fixed point */
}

static inline unsigned long long ms_rng_next(struct ms_rng *r)
{
	unsigned long long *s = r->s;
	unsigned long long result = ms__rotl(s[1] * 5, 7) * 9;
	unsigned long long t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = ms__rotl(s[3], 45);
	return result;
}

/* Uniform in [0, n), unbiased (Lemire's multiply-and-reject); 0 when n == 0. */
static inline unsigned int ms_rng_below(struct ms_rng *r, unsigned int n)
{
	unsigned long long m;
	unsigned int l;

	if (n == 0)
		return 0;
	m = (ms_rng_next(r) >> 32) * (unsigned long long)n;
	l = (unsigned int)m;
	if (l < n) {
		unsigned int t = (0u - n) % n;

		while (l < t) {
			m = (ms_rng_next(r) >> 32) * (unsigned long long)n;
			l = (unsigned int)m;
		}
	}
	return (unsigned int)(m >> 32);
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double ms_rng_double(struct ms_rng *r)
{
	return (double)(ms_rng_next(r) >> 11) * 0x1.0p-53;
}

#endif /* MS_PRNG_H */
