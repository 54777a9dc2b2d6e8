/*
 * atomics.h - the ONE place where memory orders are stated.
 *
 * Everything else in stresscore uses these named operations, never the
 * __atomic builtins directly, so that a reader can check the memory model of
 * the whole core against this one file (liburcu: uatomic/api.h; kernel:
 * Documentation/memory-barriers.txt, atomic_t.txt).
 *
 *   READ_ONCE_* / WRITE_ONCE_*     relaxed load/store: no tearing, no fusing,
 *                                  no invented accesses; orders nothing.
 *   smp_load_acquire_* / smp_store_release_*
 *                                  acquire load / release store.
 *   cmpxchg_*, xchg_*              fully ordered (seq_cst), like the kernel's
 *                                  cmpxchg()/xchg(); cmpxchg returns the value
 *                                  seen (== old on success).
 *   fetch_add_*                    fully ordered, returns the OLD value
 *                                  (atomic_long_fetch_add).
 *   add_return_L                   fully ordered, returns the NEW value
 *                                  (atomic_long_add_return).
 *   atomic_add_L                   relaxed RMW: atomic but orders nothing
 *                                  (atomic_long_add).
 *   smp_mb                         full fence (loads and stores both sides).
 *   smp_rmb / smp_wmb              load->load / store->store fences
 *                                  (implemented as acquire / release fences,
 *                                  which are at least that strong).
 *   barrier                        compiler-only fence.
 *   cpu_relax                      spin-wait hint (x86 PAUSE, arm YIELD).
 *
 * All functions are static inline, touch no Python state and are safe to call
 * without the GIL.
 */
#ifndef MS_ATOMICS_H
#define MS_ATOMICS_H

#define MS_CACHELINE 64
#define MS_ALIGNED __attribute__((aligned(MS_CACHELINE)))
/* Symbols shared between _core.c and urcu.c only: keep them out of the
 * dynamic symbol table so accesses need no GOT indirection. */
#define MS_HIDDEN __attribute__((visibility("hidden")))
/* Thread-locals of the core: initial-exec TLS is a plain %fs-relative access
 * (the global-dynamic default would call __tls_get_addr on every reader
 * fast path).  The extension uses a few dozen bytes, well inside glibc's
 * static TLS surplus reserved for dlopen()ed objects. */
#define MS_TLS __attribute__((tls_model("initial-exec"), visibility("hidden")))

#ifndef likely
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

/* ---- relaxed loads and stores ---- */
static inline long READ_ONCE_L(const long *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void WRITE_ONCE_L(long *p, long v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline int READ_ONCE_I(const int *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void WRITE_ONCE_I(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline void *READ_ONCE_P(void *const *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void WRITE_ONCE_P(void **p, void *v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

/* ---- acquire / release ---- */
static inline long smp_load_acquire_L(const long *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline int smp_load_acquire_I(const int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void *smp_load_acquire_P(void *const *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void smp_store_release_L(long *p, long v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void smp_store_release_I(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void smp_store_release_P(void **p, void *v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/* ---- fully ordered read-modify-write ---- */
static inline long cmpxchg_L(long *p, long old, long new_)
{
	__atomic_compare_exchange_n(p, &old, new_, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	return old; /* the value seen: == old argument on success */
}
static inline int cmpxchg_I(int *p, int old, int new_)
{
	__atomic_compare_exchange_n(p, &old, new_, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	return old;
}
static inline void *cmpxchg_P(void **p, void *old, void *new_)
{
	__atomic_compare_exchange_n(p, &old, new_, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	return old;
}
static inline long xchg_L(long *p, long v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline int xchg_I(int *p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline void *xchg_P(void **p, void *v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline long fetch_add_L(long *p, long v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline int fetch_add_I(int *p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
static inline long add_return_L(long *p, long v) { return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST); }

/* ---- relaxed read-modify-write ---- */
static inline void atomic_add_L(long *p, long v) { (void)__atomic_fetch_add(p, v, __ATOMIC_RELAXED); }

/* ---- fences ---- */
static inline void smp_mb(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void smp_rmb(void) { __atomic_thread_fence(__ATOMIC_ACQUIRE); }
static inline void smp_wmb(void) { __atomic_thread_fence(__ATOMIC_RELEASE); }
static inline void barrier(void) { __asm__ __volatile__("" ::: "memory"); }

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	barrier();
#endif
}

#endif /* MS_ATOMICS_H */
