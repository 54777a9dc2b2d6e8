# cython: language_level=3
"""stresscore._core: the native core of memcg-stress, one extension module.

Layering, lowest first; nothing lower uses anything higher.  The C layers
(atomics.h, clock.h, prng.h, percpu.h/percpu.c, locks.h, mpsc.h, list.h,
urcu.h/urcu.c, percpu_ref.h/percpu_ref.c, mutants.h) are declared in
primitives.pxd; the model's shared structures and the forward declarations
between its rooms in _core.pxd, which Cython reads before this file.  Then
the rooms, in the order included below:

  model (docs/DESIGN.md, one section per room; nogil, no Python):
    diag         flight recorder, violations, delay points, selected mutant
    smp          kernel/smp.c: on_each_cpu_cond's IPIs, CPUs on and off;
                 cpu_online_mask and cpus_read_lock (kernel/cpu.c)
    quarantine   poisoning and quarantine of freed structures
    workqueue    memcg_kmem_cache_wq, cgroup_destroy_wq: per-CPU pools
    memcontrol   mm/memcontrol.c: mem_cgroup, css, stats,
                 mkdir/rmdir/offline/release/free, get_cache
    memcontrol_charge  page counters, memcg_stock, try_charge,
                 memcg_charge_slab/memcg_uncharge_slab
    slab_common  mm/slab_common.c: root caches, memcg_caches, create,
                 deactivate, shutdown, kmem_cache_destroy
    page_pool    memory for slab pages: per-thread and global pools, per size class
    slub         mm/slub.c: pages, objects, cpu slabs, alloc and free
    sysfs        mm/slub.c's sysfs: the kobjects of caches, /sys/kernel/slab
                 files, kernfs active references, the sysfs actor's step
  engine (the threads of a run):
    stw          roles, run state, workers' state, stop-the-world
    checkers     the invariants, checkpoints
    worker       the worker loop
    hotplug      kernel/cpu.c: CPUs down and up, the dead-CPU callbacks, the actor
    controller   the controller, kworker and RCU callback thread loops, drain
    run          model set-up, the mutant table, engine_setup, engine_thread
  Python faces:
    model_api    the single-threaded Model
    wrappers     thin wrappers of the primitives
    harness      torture and test harnesses of the primitives
    harness_queues  harnesses of the per-CPU workqueues and callback lists
    benchmarks   micro-benchmarks of the primitives
"""
# Module init: register membarrier before any reader runs.
rcu_init()

include "diag.pxi"
include "smp.pxi"
include "quarantine.pxi"
include "workqueue.pxi"
include "memcontrol.pxi"
include "memcontrol_charge.pxi"
include "slab_common.pxi"
include "page_pool.pxi"
include "slub.pxi"
include "sysfs.pxi"
include "stw.pxi"
include "checkers.pxi"
include "worker.pxi"
include "hotplug.pxi"
include "controller.pxi"
include "run.pxi"
include "model_api.pxi"
include "wrappers.pxi"
include "harness.pxi"
include "harness_queues.pxi"
include "benchmarks.pxi"
