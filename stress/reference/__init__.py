"""stress.reference: an executable specification of the memcg slab model.

This is the same model as the native one in ``stresscore/``, written as
plain, single-threaded Python: dataclasses, lists and dicts, no atomics, no
locks, no memory reuse.  It is

- the oracle of the differential tests (tests/unit/test_reference_diff.py
  feeds the same operations to both and compares ``snapshot()`` after every
  step);
- the baseline a user would otherwise have written (stress/bench/model.py
  times both);
- documentation: every modelled kernel function keeps its kernel name
  (Linux 5.3 to 5.4), in a module named like the kernel file it comes from,
  so it can be read beside the kernel and beside the native model:

  - ``memcontrol.py``: mm/memcontrol.c (memcgs, statistics, page counters,
    css references, the memcg life cycle, memcg_kmem_get_cache, the charge
    and uncharge of slab pages);
  - ``slab_common.py``: mm/slab_common.c (root caches, memcg_caches arrays,
    child caches: creation, deactivation and reparenting, kill, shutdown);
  - ``slub.py``: mm/slub.c (slab pages, per-cpu slabs, flushes);
  - ``workqueue.py``, ``rcu.py``, ``percpu.py``: the per-CPU workqueues, RCU
    callbacks and grace periods, percpu_ref and percpu_counter;
  - ``model.py``: ``Model``, which composes them, with the workers and the
    API of ``stresscore._core.Model``.

``Model`` has the constructor and the methods of ``stresscore._core.Model``
and gives identical observable results, snapshot included (see model.py for
what it models exactly as the native model does, and what it leaves out).
"""
from .memcontrol import (KMEM_ALLOCATED, KMEM_NONE, KMEM_ONLINE, MEMCG_CACHES_MAX_SIZE,
                         MEMCG_CACHES_MIN_SIZE, MEMCG_FREED, MEMCG_OFFLINE, MEMCG_ONLINE, MEMCG_RELEASED,
                         NR_SLAB_RECLAIMABLE, NR_SLAB_UNRECLAIMABLE, PAGE_COUNTER_MAX, STATE_NAMES, MemCgroup)
from .model import Model, Worker
from .percpu import BATCH, PercpuCounter, PercpuRef
from .rcu import Work
from .slab_common import BUILTIN_ROOTS, MAX_ROOTS, KmemCache
from .slub import PAGE_OBJS, CpuSlab, SlabObject, SlabPage

__all__ = ["BATCH", "BUILTIN_ROOTS", "KMEM_ALLOCATED", "KMEM_NONE", "KMEM_ONLINE", "MAX_ROOTS",
           "MEMCG_CACHES_MAX_SIZE", "MEMCG_CACHES_MIN_SIZE", "MEMCG_FREED", "MEMCG_OFFLINE", "MEMCG_ONLINE",
           "MEMCG_RELEASED", "NR_SLAB_RECLAIMABLE", "NR_SLAB_UNRECLAIMABLE", "PAGE_COUNTER_MAX", "PAGE_OBJS",
           "STATE_NAMES", "CpuSlab", "KmemCache", "MemCgroup", "Model", "PercpuCounter", "PercpuRef",
           "SlabObject", "SlabPage", "Work", "Worker"]
