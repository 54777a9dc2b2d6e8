# cython: language_level=3
"""stresscore._core: the native core of memcg-stress, one extension module.

Layering (nothing lower uses anything higher):
  atomics.h -> urcu.h/urcu.c, percpu.h, percpu_ref.h, locks.h, mpsc.h, prng.h
  -> primitives.pxd (declarations) -> model.pxi (the memcg slab model, nogil)
  -> engine.pxi (threads of a run, checkers) -> Python wrappers.
"""
include "primitives.pxi"
include "diag.pxi"
include "model.pxi"
include "engine.pxi"
include "api.pxi"
