"""stress.reference: an executable specification of the memcg slab model.

This is the same model as the native one in ``stresscore/`` (model.pxi, the
single-threaded API in api.pxi), written as plain, single-threaded Python:
dataclasses, lists and dicts, no atomics, no locks, no memory reuse.  It is

- the oracle of the differential tests (tests/test_reference_diff.py feeds
  the same operations to both and compares ``snapshot()`` after every step);
- the baseline a user would otherwise have written (stress/bench_model.py
  times both);
- documentation: every modelled kernel function keeps its kernel name
  (Linux 5.3 to 5.4, mm/memcontrol.c, mm/slab_common.c, mm/slub.c), so it can
  be read beside the kernel and beside model.pxi.

``Model`` has the constructor and the methods of ``stresscore._core.Model``
and gives identical observable results, snapshot included.  For that it
models what the snapshot shows exactly as the native model does it:

- "cpus": one slot per worker (worker operations run on the worker's cpu)
  plus one "system" slot (cpu == workers) for everything else: controller
  operations, work items and RCU callbacks;
- per-cpu memcg statistics batched like __mod_memcg_state (BATCH 32, a spill
  goes to the memcg and every ancestor), node statistics as percpu_counters;
- slab pages like SLUB: a per-cpu frozen slab with a private freelist, a
  remote free list any cpu pushes to, and an (inuse, frozen) word; the kick
  generation each worker polls before an operation, and the per-cpu list of
  caches with an active slab (its order decides the order of flushes);
- percpu_ref by its logical count: kill marks it dead, takes a reference for
  the switch to atomic mode and queues the switch as an RCU callback; only
  after the switch can a put release it;
- the ordered workqueue (memcg_kmem_cache_wq) and the RCU callback queue as
  FIFOs: a grace period runs the batch queued before it, callbacks queued by
  that batch wait for the next one;
- in-place lists in kernel order: ``list_add`` inserts at the head,
  ``list_add_tail`` at the tail, ``list_splice_init`` at the head.

What the native model needs and this one does not: locks and memory
barriers (one thread plays every role), poisoning and quarantine of freed
structures (freed objects here are simply unreachable; a ``freed`` flag
stands in for the poison where the native code tests it), delay injection,
the flight recorder, counters for reports, and mutants (``mutant`` must be
None).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Optional

# ---------------------------------------------------------------------------
# Constants (stresscore/model.pxi)

BATCH = 32                      # MEMCG_CHARGE_BATCH and the node percpu_counter batch
NR_SLAB_RECLAIMABLE = 0
NR_SLAB_UNRECLAIMABLE = 1
MAX_ROOTS = 16                  # root cache table size
MEMCG_CACHES_MIN_SIZE = 4
MEMCG_CACHES_MAX_SIZE = 512     # kmemcg ids
PAGE_OBJS = 64                  # most objects per slab page
MAX_ACTIVE = 128                # caches in which one cpu may hold an active slab
PAGE_COUNTER_MAX = 0x7FFFFFFFFFFFFFFF

# memcg states
MEMCG_ONLINE = 1
MEMCG_OFFLINE = 2               # removed (rmdir): "dying"
MEMCG_RELEASED = 3              # css refcount reached zero
MEMCG_FREED = 4                 # freed a grace period later
STATE_NAMES = ("none", "online", "offline", "released", "freed")

# memcg kmem_state
KMEM_NONE = 0
KMEM_ALLOCATED = 1
KMEM_ONLINE = 2

# The built-in root caches created at start-up, as stresscore/engine.pxi's
# BUILTIN_ROOTS: name, object size, objects per slab, order, reclaimable,
# SLAB_TYPESAFE_BY_RCU.
BUILTIN_ROOTS = [
    ("dentry", 192, 21, 0, 1, 0),
    ("inode_cache", 600, 13, 1, 1, 0),
    ("kmalloc-64", 64, 64, 0, 0, 0),
    ("sighand_cache", 2112, 15, 3, 0, 1),
]


# ---------------------------------------------------------------------------
# Primitives


@dataclass(eq=False)
class PercpuRef:
    """percpu_ref, by its logical count (stresscore/percpu_ref.h).

    Before the kill the count lives in per-cpu slots and cannot reach zero
    (the base reference is held).  percpu_ref_kill_and_confirm() marks it
    dead, takes a reference for the switch to atomic mode and queues the
    switch as an RCU callback; the switch confirms the kill and drops its
    reference.  From the switch on, the put that brings the count to zero
    calls release()."""
    release: Callable[["PercpuRef"], None]
    owner: object = None
    count: int = 1                  # logical: base reference held at init
    dead: bool = False              # __PERCPU_REF_DEAD (killed)
    switched: bool = False          # the switch callback folded the slots: atomic mode
    confirm: Optional[Callable[["PercpuRef"], None]] = None


@dataclass(eq=False)
class PercpuCounter:
    """percpu_counter with a batch: per-cpu slots spill into `count` when
    |slot| > batch.  Only the exact sum is observable."""
    nr_cpus: int
    batch: int = BATCH
    count: int = 0
    pcpu: list = field(default_factory=list)

    def __post_init__(self):
        self.pcpu = [0] * self.nr_cpus

    def add(self, cpu: int, v: int) -> None:
        x = self.pcpu[cpu] + v
        if x > self.batch or x < -self.batch:
            self.count += x
            x = 0
        self.pcpu[cpu] = x

    def sum(self) -> int:
        return self.count + sum(self.pcpu)


@dataclass(eq=False)
class Work:
    """A queued work item or RCU callback: what it models, and what it does."""
    name: str
    fn: Callable[[], None]


# ---------------------------------------------------------------------------
# The model's structures


@dataclass(eq=False)
class MemCgroup:
    id: int
    parent: Optional["MemCgroup"]
    nr_cpus: int
    state: int = 0                  # MEMCG_*
    kmem_state: int = KMEM_NONE
    kmemcg_id: int = -1
    depth: int = 0
    online_cnt: int = 1             # self + children not yet offlined (css->online_cnt)
    nr_dying_descendants: int = 0
    offline_pending: bool = False   # kill_css's reference is held until the offline work ran
    children: list = field(default_factory=list)       # child memcgs until released
    kmem_caches: list = field(default_factory=list)    # child caches whose memcg is this one
    css: Optional[PercpuRef] = None
    memory: int = 0                 # page counter usage (hierarchical)
    limit: int = PAGE_COUNTER_MAX
    stat: list = field(default_factory=lambda: [0, 0])  # hierarchical NR_SLAB_* (spilled)
    pcpu: list = field(default_factory=list)            # per cpu: [delta0, delta1, local0, local1]

    def __post_init__(self):
        self.pcpu = [[0, 0, 0, 0] for _ in range(self.nr_cpus)]


@dataclass(eq=False)
class CpuSlab:
    """One cpu's slab of a cache: the frozen page and how many objects are
    on its private freelist."""
    page: Optional["SlabPage"] = None
    free: int = 0


@dataclass(eq=False)
class KmemCache:
    id: int
    is_root: bool
    root_index: int
    size: int
    objects: int
    order: int
    reclaimable: bool
    typesafe: bool
    nr_cpus: int
    mergeable: bool = False
    # ---- root caches ----
    refcount: int = 0               # kmem_cache_create merges raise it
    dying: bool = False
    memcg_caches: list = field(default_factory=list)    # kmemcg_id -> child cache (an RCU array)
    children: list = field(default_factory=list)        # every child cache
    create_pending: set = field(default_factory=set)    # kmemcg ids with a creation work queued
    # ---- child caches ----
    root: Optional["KmemCache"] = None
    memcg: Optional[MemCgroup] = None
    refcnt: Optional[PercpuRef] = None
    deactivated: bool = False
    shut_down: bool = False
    freed: bool = False             # released (the native model poisons it)
    # ---- slab pages (both kinds) ----
    pages: list = field(default_factory=list)           # every live page, RCU-pending ones included
    cpu_slab: list = field(default_factory=list)

    def __post_init__(self):
        self.cpu_slab = [CpuSlab() for _ in range(self.nr_cpus)]


@dataclass(eq=False)
class SlabPage:
    cache: KmemCache
    inuse: int = 0                  # objects allocated or on the freezing cpu's freelist
    frozen: bool = False            # some cpu's active slab
    remote: int = 0                 # objects freed to the page's remote list
    rcu_pending: bool = False       # TYPESAFE_BY_RCU: freed, waiting for a grace period


@dataclass(eq=False)
class SlabObject:
    page: SlabPage


@dataclass(eq=False)
class Worker:
    memcg: MemCgroup
    held: list = field(default_factory=list)
    live_by_root: list = field(default_factory=lambda: [0] * MAX_ROOTS)
    mailbox: deque = field(default_factory=deque)


@dataclass(eq=False)
class CpuState:
    """Per-cpu state of the slab allocator's flushing (ms_thread)."""
    active: list = field(default_factory=list)   # caches where this cpu (had) a slab
    kick_seen: int = 0


def _swap_remove(lst: list, i: int):
    """Remove lst[i] by moving the last element there (the native arrays)."""
    x = lst[i]
    last = lst.pop()
    if i < len(lst):
        lst[i] = last
    return x


# ---------------------------------------------------------------------------
# The model


class Model:
    """The reference model driven one operation at a time.

    Model(workers=2, mode="reparent", mutant=None, max_held=100000, seed=1)

    Same methods and results as stresscore._core.Model."""

    def __init__(self, workers: int = 2, mode: str = "reparent", mutant=None,
                 max_held: int = 100000, seed: int = 1):
        if mode not in ("reparent", "legacy"):
            raise ValueError(f"unknown mode {mode!r}: reparent or legacy")
        if mutant is not None:
            raise ValueError("the reference model has no mutants (mutant must be None)")
        self.workers = workers
        self.mode = mode
        self.sys_cpu = workers
        self.nr_cpus = workers + 1
        self.cpu = self.sys_cpu             # the cpu the current operation runs on
        self.legacy = mode == "legacy"
        # global state (model_init)
        self.memcg_all: dict[int, MemCgroup] = {}   # every unfreed memcg, by id, in creation order
        self.slab_root_caches: list[KmemCache] = []
        self.roots: list[Optional[KmemCache]] = [None] * MAX_ROOTS
        self.caches_releasing: list[KmemCache] = []
        self.memcg_nr_cache_ids = 0
        self.kmemcg_ida = [False] * MEMCG_CACHES_MAX_SIZE
        self.node_stat = [PercpuCounter(self.nr_cpus), PercpuCounter(self.nr_cpus)]
        self.workqueue: deque[Work] = deque()
        self.rcu_callbacks: deque[Work] = deque()
        self.kick_gen = 0
        self.next_memcg_id = 0
        self.next_cache_id = 0
        self.cpus = [CpuState() for _ in range(self.nr_cpus)]
        self.root_mem_cgroup = self.mem_cgroup_create(None)
        # _setup: the built-in roots, then the workers (each in the root memcg)
        for _name, size, objs, order, recl, tsafe in BUILTIN_ROOTS:
            self.kmem_cache_create_root(size, objs, order, bool(recl), bool(tsafe))
        self.wk: list[Worker] = []
        for _ in range(workers):
            self.css_get(self.root_mem_cgroup)
            self.wk.append(Worker(self.root_mem_cgroup))

    def close(self):
        pass

    # =======================================================================
    # percpu_ref (stresscore/percpu_ref.h, urcu.c)

    def percpu_ref_get_many(self, ref: PercpuRef, nr: int) -> None:
        ref.count += nr

    def percpu_ref_put_many(self, ref: PercpuRef, nr: int) -> None:
        ref.count -= nr
        if ref.switched and ref.count == 0:
            ref.release(ref)

    def percpu_ref_tryget(self, ref: PercpuRef) -> bool:
        # percpu mode always succeeds; dead and not yet switched, the atomic
        # count still carries the bias: inc_not_zero succeeds too
        if ref.dead and ref.switched and ref.count == 0:
            return False
        ref.count += 1
        return True

    def percpu_ref_tryget_live(self, ref: PercpuRef) -> bool:
        if ref.dead:
            return False
        ref.count += 1
        return True

    def percpu_ref_kill_and_confirm(self, ref: PercpuRef, confirm=None) -> None:
        if ref.dead:
            # already atomic (the kernel WARNs on a second kill)
            if confirm is not None:
                confirm(ref)
        else:
            ref.confirm = confirm
            ref.dead = True
            self.percpu_ref_get_many(ref, 1)            # the switch's reference
            self.call_rcu("percpu_ref_switch_to_atomic_rcu",
                          lambda: self.percpu_ref_switch_to_atomic_rcu(ref))
        self.percpu_ref_put_many(ref, 1)                # the base reference

    def percpu_ref_kill(self, ref: PercpuRef) -> None:
        self.percpu_ref_kill_and_confirm(ref, None)

    def percpu_ref_switch_to_atomic_rcu(self, ref: PercpuRef) -> None:
        """RCU callback of the kill: no cpu can still add to a slot."""
        ref.switched = True
        confirm, ref.confirm = ref.confirm, None
        if confirm is not None:
            confirm(ref)
        self.percpu_ref_put_many(ref, 1)                # the switch's reference

    # =======================================================================
    # RCU callbacks and the workqueue (urcu.c; model.pxi)

    def call_rcu(self, name: str, fn: Callable[[], None]) -> None:
        self.rcu_callbacks.append(Work(name, fn))

    def rcu_process_callbacks(self) -> int:
        """End one grace period: run, in order, the callbacks queued before
        it.  Those they queue wait for the next grace period."""
        batch = list(self.rcu_callbacks)
        self.rcu_callbacks.clear()
        for cb in batch:
            cb.fn()
        return len(batch)

    def rcu_barrier(self) -> None:
        """Wait for every callback queued so far (single-threaded: one batch,
        ended by a no-op marker)."""
        self.call_rcu("rcu_barrier_func", lambda: None)
        self.rcu_process_callbacks()

    def queue_work(self, name: str, fn: Callable[[], None]) -> None:
        self.workqueue.append(Work(name, fn))

    def wq_run_one(self) -> bool:
        if not self.workqueue:
            return False
        self.workqueue.popleft().fn()
        return True

    def flush_workqueue(self) -> None:
        """Run every work item queued before the call (not those it queues)."""
        done = []
        self.queue_work("barrier_work_fn", lambda: done.append(True))
        while not done:
            if not self.wq_run_one():
                break

    # =======================================================================
    # Statistics (__mod_memcg_state, mod_node_state)

    def mod_memcg_state(self, memcg: MemCgroup, idx: int, val: int) -> None:
        p = memcg.pcpu[self.cpu]
        x = val + p[idx]
        if x > BATCH or x < -BATCH:
            mi = memcg
            while mi is not None:
                mi.stat[idx] += x
                mi = mi.parent
            x = 0
        p[idx] = x
        p[2 + idx] += val

    def mod_node_state(self, idx: int, val: int) -> None:
        self.node_stat[idx].add(self.cpu, val)

    def memcg_flush_percpu_vmstats(self, memcg: MemCgroup) -> None:
        """Fold every cpu's residue into the memcg and its ancestors."""
        sums = [0, 0]
        for p in memcg.pcpu:
            for i in range(2):
                sums[i] += p[i]
                p[i] = 0
        mi = memcg
        while mi is not None:
            for i in range(2):
                if sums[i]:
                    mi.stat[i] += sums[i]
            mi = mi.parent

    # =======================================================================
    # Page counters (hierarchical, root included)

    def page_counter_try_charge(self, memcg: MemCgroup, nr: int) -> bool:
        c = memcg
        while c is not None:
            c.memory += nr
            if c.memory > c.limit:
                c.memory -= nr
                u = memcg
                while u is not c:
                    u.memory -= nr
                    u = u.parent
                return False
            c = c.parent
        return True

    def page_counter_uncharge(self, memcg: MemCgroup, nr: int) -> None:
        c = memcg
        while c is not None:
            c.memory -= nr
            c = c.parent

    # ---- css references ----

    def css_get(self, m: MemCgroup) -> None:
        self.percpu_ref_get_many(m.css, 1)

    def css_get_many(self, m: MemCgroup, n: int) -> None:
        self.percpu_ref_get_many(m.css, n)

    def css_put(self, m: MemCgroup) -> None:
        self.percpu_ref_put_many(m.css, 1)

    def css_tryget_online(self, m: MemCgroup) -> bool:
        return self.percpu_ref_tryget_live(m.css)

    # =======================================================================
    # memcg life cycle

    def mem_cgroup_create(self, parent: Optional[MemCgroup]) -> Optional[MemCgroup]:
        """mkdir: mem_cgroup_css_alloc + memcg_online_kmem + online."""
        kid = -1
        if parent is not None:
            kid = self.memcg_alloc_cache_id()
            if kid < 0:
                return None
        m = MemCgroup(id=self.next_memcg_id, parent=parent, nr_cpus=self.nr_cpus)
        m.css = PercpuRef(self.mem_cgroup_css_released, m)
        self.next_memcg_id += 1
        if parent is not None:
            m.depth = parent.depth + 1
            self.css_get(parent)                # a child pins its parent until freed
            parent.online_cnt += 1
            parent.children.append(m)
            m.kmemcg_id = kid
            m.kmem_state = KMEM_ONLINE
        self.memcg_all[m.id] = m
        m.state = MEMCG_ONLINE
        return m

    # ---- kmemcg ids ----

    def memcg_alloc_cache_id(self) -> int:
        """Smallest free id, growing every root's array when it does not fit."""
        for kid in range(MEMCG_CACHES_MAX_SIZE):
            if not self.kmemcg_ida[kid]:
                break
        else:
            return -1
        if kid >= self.memcg_nr_cache_ids:
            size = min(max(2 * (kid + 1), MEMCG_CACHES_MIN_SIZE), MEMCG_CACHES_MAX_SIZE)
            self.memcg_update_all_caches(size)
        self.kmemcg_ida[kid] = True
        return kid

    def memcg_free_cache_id(self, kid: int) -> None:
        self.kmemcg_ida[kid] = False

    def memcg_update_all_caches(self, num_memcgs: int) -> None:
        for s in self.slab_root_caches:
            self.memcg_update_cache_params(s, num_memcgs)
        self.memcg_nr_cache_ids = num_memcgs

    def memcg_update_cache_params(self, s: KmemCache, new_size: int) -> None:
        """Grow memcg_caches copy-on-write; the old array is freed a grace
        period later (readers may still hold it)."""
        old = s.memcg_caches
        s.memcg_caches = old + [None] * (new_size - len(old))
        self.call_rcu("free_memcg_cache_array_rcu", lambda: None)

    # ---- rmdir and offline ----

    def mem_cgroup_rmdir(self, memcg: MemCgroup) -> int:
        """Kill the css of an online memcg with no online child; the offline
        runs from the workqueue once the kill is confirmed."""
        if memcg is self.root_mem_cgroup or memcg.state != MEMCG_ONLINE:
            return -1
        if any(c.state == MEMCG_ONLINE for c in memcg.children):
            return -1
        memcg.state = MEMCG_OFFLINE
        a = memcg.parent
        while a is not None:
            a.nr_dying_descendants += 1
            a = a.parent
        memcg.offline_pending = True
        self.css_get(memcg)                     # kill_css: held until the offline work ran
        self.percpu_ref_kill_and_confirm(memcg.css, self.css_killed_ref_fn)
        return 0

    def css_killed_ref_fn(self, ref: PercpuRef) -> None:
        """Confirmation of the kill: every css_tryget_online fails from now on."""
        memcg = ref.owner
        self.queue_work("css_killed_work_fn", lambda: self.css_killed_work_fn(memcg))

    def css_killed_work_fn(self, memcg: MemCgroup) -> None:
        """Offline the memcg, then every ancestor whose last online child
        this was (css->online_cnt)."""
        m = memcg
        m.online_cnt -= 1
        while m is not None and m.online_cnt == 0 and m.offline_pending:
            self.memcg_offline_kmem(m)
            m.offline_pending = False
            self.css_put(m)                     # the reference kill_css took
            m = m.parent
            if m is not None:
                m.online_cnt -= 1

    def memcg_offline_kmem(self, memcg: MemCgroup) -> None:
        if memcg.kmem_state != KMEM_ONLINE:
            return
        memcg.kmem_state = KMEM_ALLOCATED
        parent = memcg.parent
        self.memcg_deactivate_kmem_caches(memcg, parent)
        kid = memcg.kmemcg_id
        self.set_kmemcg_id_subtree(memcg, kid, parent.kmemcg_id)
        self.memcg_free_cache_id(kid)

    def set_kmemcg_id_subtree(self, m: MemCgroup, old_id: int, new_id: int) -> None:
        if m.kmemcg_id == old_id:
            m.kmemcg_id = new_id
        for c in m.children:
            self.set_kmemcg_id_subtree(c, old_id, new_id)

    def memcg_deactivate_kmem_caches(self, memcg: MemCgroup, parent: MemCgroup) -> None:
        """Deactivate the memcg's caches; in reparent mode (the series) also
        reparent them: swap each cache's memcg pointer to the parent, splice
        the memcg's kmem_caches list onto the parent's, and move the css
        references."""
        idx = memcg.kmemcg_id
        for s in self.slab_root_caches:
            c = s.memcg_caches[idx]
            if c is not None:
                self.kmemcg_cache_deactivate(c)
                s.memcg_caches[idx] = None
        if self.legacy:
            return          # before the series: the caches keep pinning the dying memcg
        nr_reparented = 0
        for s in memcg.kmem_caches:
            s.memcg = parent
            self.css_put(memcg)
            nr_reparented += 1
        if nr_reparented:
            parent.kmem_caches[:0] = memcg.kmem_caches     # list_splice_init: at the head
            memcg.kmem_caches.clear()
            self.css_get_many(parent, nr_reparented)

    # ---- release and free ----

    def mem_cgroup_css_released(self, ref: PercpuRef) -> None:
        memcg = ref.owner
        self.queue_work("css_release_work_fn", lambda: self.css_release_work_fn(memcg))

    def css_release_work_fn(self, memcg: MemCgroup) -> None:
        memcg.state = MEMCG_RELEASED
        memcg.parent.children.remove(memcg)
        a = memcg.parent
        while a is not None:
            a.nr_dying_descendants -= 1
            a = a.parent
        self.call_rcu("css_free_rcu_fn", lambda: self.css_free_rcu_fn(memcg))

    def css_free_rcu_fn(self, memcg: MemCgroup) -> None:
        """queue_rcu_work(): the free runs in the workqueue after the grace period."""
        self.queue_work("css_free_rwork_fn", lambda: self.css_free_rwork_fn(memcg))

    def css_free_rwork_fn(self, memcg: MemCgroup) -> None:
        parent = memcg.parent
        self.memcg_flush_percpu_vmstats(memcg)
        del self.memcg_all[memcg.id]
        memcg.state = MEMCG_FREED
        memcg.parent = None
        if parent is not None:
            self.css_put(parent)

    # ---- migration, limits ----

    def mem_cgroup_migrate(self, worker: Worker, new: MemCgroup) -> None:
        old = worker.memcg
        self.css_get(new)
        worker.memcg = new
        self.css_put(old)

    # =======================================================================
    # Child caches: creation, deactivation, kill, shutdown

    def memcg_schedule_kmem_cache_create(self, memcg: MemCgroup, root: KmemCache, kid: int) -> None:
        """Queue a creation work holding a css reference; at most one per
        (root, kmemcg_id) at a time."""
        if kid in root.create_pending:
            return
        root.create_pending.add(kid)
        if not self.css_tryget_online(memcg):
            root.create_pending.discard(kid)
            return
        self.queue_work("memcg_kmem_cache_create_func",
                        lambda: self.memcg_kmem_cache_create_func(memcg, root, kid))

    def memcg_kmem_cache_create_func(self, memcg: MemCgroup, root: KmemCache, kid: int) -> None:
        root.create_pending.discard(kid)
        self.memcg_create_kmem_cache(memcg, root)
        self.css_put(memcg)

    def memcg_create_kmem_cache(self, memcg: MemCgroup, root: KmemCache) -> None:
        # the memcg may have gone offline while the work was pending
        if memcg.kmem_state != KMEM_ONLINE or root.dying or memcg.kmemcg_id < 0:
            return
        idx = memcg.kmemcg_id
        if root.memcg_caches[idx] is not None:
            return                              # several allocations asked; one did it
        s = KmemCache(id=self.next_cache_id, is_root=False, root_index=root.root_index,
                      size=root.size, objects=root.objects, order=root.order,
                      reclaimable=root.reclaimable, typesafe=root.typesafe,
                      nr_cpus=self.nr_cpus, root=root)
        self.next_cache_id += 1
        s.refcnt = PercpuRef(self.kmemcg_cache_shutdown, s)
        # memcg_link_cache
        self.css_get(memcg)
        s.memcg = memcg
        root.children.insert(0, s)              # list_add
        memcg.kmem_caches.insert(0, s)          # list_add
        root.memcg_caches[idx] = s              # published last

    def kmemcg_cache_deactivate(self, s: KmemCache) -> None:
        """Mark deactivated and kill it after a grace period, unless the root
        is dying (kmem_cache_destroy then shuts it down itself)."""
        if s.root.dying:
            return
        s.deactivated = True
        self.call_rcu("kmemcg_rcufn", lambda: self.kmemcg_rcufn(s))

    def kmemcg_rcufn(self, s: KmemCache) -> None:
        self.queue_work("kmemcg_deact_workfn", lambda: self.kmemcg_deact_workfn(s))

    def kmemcg_deact_workfn(self, s: KmemCache) -> None:
        if s.freed:
            return
        self.kmemcg_cache_deactivate_after_rcu(s)

    def kmemcg_cache_deactivate_after_rcu(self, s: KmemCache) -> None:
        """Kill the cache's refcount and kick every cpu to flush its slab."""
        self.percpu_ref_kill(s.refcnt)
        self.kick_gen += 1

    def kmemcg_cache_shutdown(self, ref: PercpuRef) -> None:
        """Release of a child cache's refcount: queue its shutdown unless the
        root is dying."""
        s = ref.owner
        if not s.root.dying:
            self.queue_work("kmemcg_shutdown_workfn", lambda: self.kmemcg_shutdown_workfn(s))

    def kmemcg_shutdown_workfn(self, s: KmemCache) -> None:
        if s.freed:
            return
        self.shutdown_cache(s)

    @staticmethod
    def slabs_in_use(s: KmemCache) -> int:
        """Pages not waiting for their TYPESAFE_BY_RCU grace period: only
        those keep a cache busy (the pending ones are freed before the
        cache's own release, which waits a grace period too)."""
        return sum(1 for p in s.pages if not p.rcu_pending)

    def shutdown_cache(self, s: KmemCache) -> int:
        """Unlink an empty child cache and release it (TYPESAFE_BY_RCU caches
        a grace period later, after their pending page frees).  -1 when the
        cache still has pages in use."""
        if s.shut_down:
            return 0
        if self.slabs_in_use(s):
            return -1
        s.shut_down = True
        s.root.children.remove(s)
        if s.memcg is not None and s in s.memcg.kmem_caches:
            s.memcg.kmem_caches.remove(s)
        if s.typesafe:
            self.caches_releasing.append(s)
            self.call_rcu("slab_kmem_cache_release_rcu", lambda: self.slab_kmem_cache_release_rcu(s))
        else:
            self.slab_kmem_cache_release(s)
        return 0

    def slab_kmem_cache_release_rcu(self, s: KmemCache) -> None:
        self.caches_releasing.remove(s)
        self.slab_kmem_cache_release(s)

    def slab_kmem_cache_release(self, s: KmemCache) -> None:
        """Drop the reference on whatever memcg the cache names now; free it."""
        s.freed = True
        if s.memcg is not None:
            self.css_put(s.memcg)

    # =======================================================================
    # Root caches: kmem_cache_create (merging) and kmem_cache_destroy

    def kmem_cache_create_root(self, size: int, objects: int, order: int,
                               reclaimable: bool, typesafe: bool) -> int:
        """Root index of a new or merged root; -1 when the table is full.
        Compatible caches merge: same geometry and type, never
        TYPESAFE_BY_RCU, never a dying one."""
        if not typesafe:
            for i, s in enumerate(self.roots):
                if s is not None and s.mergeable and not s.dying and s.size == size \
                        and s.objects == objects and s.order == order \
                        and s.reclaimable == reclaimable:
                    s.refcount += 1
                    return i
        slot = next((i for i, s in enumerate(self.roots) if s is None), -1)
        if slot < 0 or objects < 1 or objects > PAGE_OBJS:
            return -1
        s = KmemCache(id=self.next_cache_id, is_root=True, root_index=slot, size=size,
                      objects=objects, order=order, reclaimable=reclaimable,
                      typesafe=typesafe, nr_cpus=self.nr_cpus, mergeable=not typesafe,
                      refcount=1)
        self.next_cache_id += 1
        s.memcg_caches = [None] * (self.memcg_nr_cache_ids or MEMCG_CACHES_MIN_SIZE)
        self.slab_root_caches.append(s)
        self.roots[slot] = s
        return slot

    def flush_all_cpu_slabs(self, s: KmemCache) -> None:
        """Unfreeze every cpu's slab of s (no cpu uses it any more)."""
        for cpu in range(self.nr_cpus):
            slot = s.cpu_slab[cpu]
            if slot.page is not None:
                self.deactivate_slab(s, slot)
            active = self.cpus[cpu].active
            i = 0
            while i < len(active):
                if active[i] is s:
                    _swap_remove(active, i)
                else:
                    i += 1

    def kmem_cache_destroy_root(self, index: int) -> int:
        """Drop a reference on the root; at zero mark it dying, flush the
        deactivation callbacks and works, shut the children down, then the
        root.  -1 when pages remain."""
        s = self.roots[index]
        if s is None:
            return -1
        s.refcount -= 1
        if s.refcount > 0:
            return 0
        # flush_memcg_workqueue()
        s.dying = True
        self.rcu_barrier()          # deactivations queued through call_rcu
        self.flush_workqueue()      # their works (the kills), and pending creations
        if s.children:
            self.rcu_barrier()      # the kills switch refcounts after a grace period
        self.flush_all_cpu_slabs(s)
        # shutdown_memcg_caches(): the active children, then the deactivated ones
        for c in list(s.children):
            self.flush_all_cpu_slabs(c)
        arr = s.memcg_caches
        for i, c in enumerate(arr):
            if c is not None and self.shutdown_cache(c) == 0:
                arr[i] = None
        busy = False
        for c in list(s.children):
            if self.shutdown_cache(c) != 0:
                busy = True
        if self.slabs_in_use(s):
            busy = True
        if busy:
            return -1       # the native model reports a "leak" violation
        self.slab_root_caches.remove(s)
        self.roots[index] = None
        # the root's memcg_caches array goes a grace period later, and so
        # does a TYPESAFE_BY_RCU root, after its pending page frees
        self.call_rcu("free_memcg_cache_array_rcu", lambda: None)
        if s.typesafe:
            self.call_rcu("root_cache_release_rcu", lambda: self.root_cache_release(s))
        else:
            self.root_cache_release(s)
        return 0

    def root_cache_release(self, s: KmemCache) -> None:
        s.freed = True

    # =======================================================================
    # Allocation: memcg_kmem_get_cache, charge and uncharge

    def memcg_kmem_get_cache(self, root: KmemCache, memcg: MemCgroup) -> KmemCache:
        """The cache for an allocation by a task in memcg: its child cache
        (with a tryget reference), or the root cache while there is none
        (a creation work is queued then)."""
        if memcg is self.root_mem_cgroup:
            return root
        kid = memcg.kmemcg_id
        if kid < 0:
            return root
        c = root.memcg_caches[kid]
        if c is None:
            self.memcg_schedule_kmem_cache_create(memcg, root, kid)
            return root
        if self.percpu_ref_tryget(c.refcnt):
            if c.refcnt.dead:
                # cannot happen: the kill comes a grace period after the
                # entry was cleared (the native model reports it)
                self.percpu_ref_put_many(c.refcnt, 1)
                return root
            return c
        return root

    def memcg_kmem_put_cache(self, s: KmemCache) -> None:
        if not s.is_root:
            self.percpu_ref_put_many(s.refcnt, 1)

    def memcg_charge_slab(self, s: KmemCache, order: int) -> int:
        """Charge a new slab page of child cache s: 0, or -1 over a limit."""
        nr = 1 << order
        if self.legacy:
            memcg = s.memcg                     # the cache pins its memcg
            self.css_get(memcg)
        else:
            memcg = s.memcg                     # READ_ONCE under RCU: not stable
            while memcg is not None and not self.css_tryget_online(memcg):
                memcg = memcg.parent
            if memcg is None:
                return -1
        if not self.page_counter_try_charge(memcg, nr):
            self.css_put(memcg)
            return -1
        idx = NR_SLAB_RECLAIMABLE if s.reclaimable else NR_SLAB_UNRECLAIMABLE
        self.mod_memcg_state(memcg, idx, nr)
        self.mod_node_state(idx, nr)
        self.percpu_ref_get_many(s.refcnt, nr)
        self.css_put(memcg)
        return 0

    def memcg_uncharge_slab(self, s: KmemCache, order: int) -> None:
        """Uncharge whatever memcg the cache names now, then drop the page's
        references on the cache (which may release it)."""
        nr = 1 << order
        memcg = s.memcg
        idx = NR_SLAB_RECLAIMABLE if s.reclaimable else NR_SLAB_UNRECLAIMABLE
        self.mod_memcg_state(memcg, idx, -nr)
        self.page_counter_uncharge(memcg, nr)
        self.mod_node_state(idx, -nr)
        self.percpu_ref_put_many(s.refcnt, nr)

    # =======================================================================
    # Slab pages (SLUB-like)

    def new_slab(self, s: KmemCache) -> Optional[SlabPage]:
        nr = 1 << s.order
        if s.is_root:
            self.mod_node_state(NR_SLAB_RECLAIMABLE if s.reclaimable else NR_SLAB_UNRECLAIMABLE, nr)
        elif self.memcg_charge_slab(s, s.order) != 0:
            return None
        page = SlabPage(s)
        s.pages.append(page)
        return page

    def __free_slab(self, page: SlabPage) -> None:
        s = page.cache
        s.pages.remove(page)
        if s.is_root:
            self.mod_node_state(NR_SLAB_RECLAIMABLE if s.reclaimable else NR_SLAB_UNRECLAIMABLE,
                                -(1 << s.order))
        else:
            self.memcg_uncharge_slab(s, s.order)

    def discard_slab(self, page: SlabPage) -> None:
        """free_slab: TYPESAFE_BY_RCU pages wait a grace period, still charged
        and on the cache's list."""
        if page.cache.typesafe:
            page.rcu_pending = True
            self.call_rcu("rcu_free_slab", lambda: self.__free_slab(page))
        else:
            self.__free_slab(page)

    def deactivate_slab(self, s: KmemCache, slot: CpuSlab) -> None:
        """Unfreeze a cpu's slab: its private freelist goes back to the page,
        which is discarded when nothing in it is in use."""
        page = slot.page
        if page is None:
            return
        k = slot.free
        page.remote += k
        slot.page = None
        slot.free = 0
        page.inuse -= k
        page.frozen = False
        if page.inuse == 0:
            self.discard_slab(page)

    def note_active(self, s: KmemCache) -> None:
        active = self.cpus[self.cpu].active
        if s in active:
            return
        if len(active) < MAX_ACTIVE:
            active.append(s)
        else:
            # full: give up the oldest slab, so every frozen page stays tracked
            victim = active[0]
            self.deactivate_slab(victim, victim.cpu_slab[self.cpu])
            active[0] = s

    def slab_alloc(self, s: KmemCache) -> Optional[SlabObject]:
        slot = s.cpu_slab[self.cpu]
        if slot.free:                           # fast path: the private freelist
            slot.free -= 1
            return SlabObject(slot.page)
        page = slot.page
        if page is not None:
            k = page.remote                     # take what other cpus freed to our page
            if k:
                page.remote = 0
                page.inuse += k
                slot.free = k - 1
                return SlabObject(page)
            self.deactivate_slab(s, slot)       # full: unfreeze it
        page = self.new_slab(s)
        if page is None:
            return None
        page.inuse = s.objects                  # frozen: every object counts as in use
        page.frozen = True
        slot.page = page
        slot.free = s.objects - 1
        self.note_active(s)
        return SlabObject(page)

    def slab_free(self, obj: SlabObject) -> None:
        page = obj.page
        slot = page.cache.cpu_slab[self.cpu]
        if slot.page is page:                   # our own slab: the private freelist
            slot.free += 1
            return
        page.remote += 1                        # remote free
        page.inuse -= 1
        if page.inuse == 0 and not page.frozen:
            self.discard_slab(page)

    def flush_cpu_slabs(self, all_caches: bool) -> None:
        """This cpu's answer to a kick: unfreeze its slabs of killed caches
        (of every cache when all_caches)."""
        active = self.cpus[self.cpu].active
        i = 0
        while i < len(active):
            s = active[i]
            if all_caches:
                flush = True
            elif s.is_root:
                flush = False                   # "unloading": engine-only
            else:
                flush = s.refcnt.dead
            if flush:
                self.deactivate_slab(s, s.cpu_slab[self.cpu])
                _swap_remove(active, i)
            else:
                i += 1

    def poll_kick(self) -> None:
        t = self.cpus[self.cpu]
        if self.kick_gen != t.kick_seen:
            t.kick_seen = self.kick_gen
            self.flush_cpu_slabs(False)

    def kmem_cache_alloc(self, root: KmemCache, worker: Worker) -> Optional[SlabObject]:
        s = self.memcg_kmem_get_cache(root, worker.memcg)
        obj = self.slab_alloc(s)
        self.memcg_kmem_put_cache(s)
        return obj

    def kmem_cache_free(self, obj: SlabObject) -> None:
        self.slab_free(obj)

    # ---- worker helpers (engine.pxi) ----

    def worker_alloc(self, w: Worker, root: KmemCache) -> bool:
        obj = self.kmem_cache_alloc(root, w)
        if obj is None:
            return False
        w.held.append(obj)
        w.live_by_root[root.root_index] += 1
        return True

    def worker_free_held(self, w: Worker, i: int) -> None:
        obj = _swap_remove(w.held, i)
        w.live_by_root[obj.page.cache.root_index] -= 1
        self.kmem_cache_free(obj)

    def worker_send(self, w: Worker, i: int, to: int) -> None:
        obj = _swap_remove(w.held, i)
        self.wk[to].mailbox.append(obj)

    def worker_receive(self, w: Worker) -> None:
        obj = w.mailbox.popleft()
        w.live_by_root[obj.page.cache.root_index] -= 1
        self.kmem_cache_free(obj)

    # =======================================================================
    # The API of stresscore._core.Model

    def _memcg(self, mid: int) -> MemCgroup:
        m = self.memcg_all.get(mid)
        if m is None:
            raise KeyError(f"no memcg {mid}")
        return m

    def _worker(self, w: int) -> Worker:
        if w < 0 or w >= self.workers:
            raise IndexError(f"no worker {w}")
        self.cpu = w
        self.poll_kick()
        return self.wk[w]

    # ---- controller operations ----

    def mkdir(self, parent_id: int):
        """A new memcg under parent_id; its id, or None when ids run out."""
        p = self._memcg(parent_id)
        if p.state != MEMCG_ONLINE:
            return None
        self.cpu = self.sys_cpu
        m = self.mem_cgroup_create(p)
        return None if m is None else m.id

    def rmdir(self, mid: int) -> bool:
        """Remove an online memcg with no online child and no worker."""
        m = self._memcg(mid)
        self.cpu = self.sys_cpu
        if any(w.memcg is m for w in self.wk):
            return False
        return self.mem_cgroup_rmdir(m) == 0

    def migrate(self, w: int, mid: int) -> bool:
        m = self._memcg(mid)
        if w < 0 or w >= self.workers:
            raise IndexError(f"no worker {w}")
        if m.state != MEMCG_ONLINE:
            return False
        self.cpu = self.sys_cpu
        self.mem_cgroup_migrate(self.wk[w], m)
        return True

    def set_limit(self, mid: int, limit) -> None:
        m = self._memcg(mid)
        self.cpu = self.sys_cpu
        m.limit = PAGE_COUNTER_MAX if limit is None else limit

    def kmem_cache_create(self, size: int, objects: int, order: int,
                          reclaimable: bool = False, typesafe: bool = False):
        self.cpu = self.sys_cpu
        idx = self.kmem_cache_create_root(size, objects, order, bool(reclaimable), bool(typesafe))
        return None if idx < 0 else idx

    def root_live_objects(self, index: int) -> int:
        """Objects of this root (and its children) held by workers or in mailboxes."""
        return sum(w.live_by_root[index] for w in self.wk)

    def kmem_cache_destroy(self, index: int) -> bool:
        """Drop one reference on root `index`; refused (False) while objects
        of it are held."""
        if index < 0 or index >= MAX_ROOTS or self.roots[index] is None:
            return False
        if self.roots[index].refcount == 1 and self.root_live_objects(index):
            return False
        self.cpu = self.sys_cpu
        return self.kmem_cache_destroy_root(index) == 0

    # ---- worker operations ----

    def alloc(self, w: int, root_index: int) -> bool:
        wk = self._worker(w)
        if root_index < 0 or root_index >= MAX_ROOTS or self.roots[root_index] is None:
            return False
        return self.worker_alloc(wk, self.roots[root_index])

    def free(self, w: int, i: int) -> None:
        wk = self._worker(w)
        if i < 0 or i >= len(wk.held):
            raise IndexError(f"worker {w} holds {len(wk.held)} objects")
        self.worker_free_held(wk, i)

    def send(self, w: int, i: int, to: int) -> None:
        wk = self._worker(w)
        if i < 0 or i >= len(wk.held):
            raise IndexError(f"worker {w} holds {len(wk.held)} objects")
        if to < 0 or to >= self.workers or to == w:
            raise IndexError(f"bad receiver {to}")
        self.worker_send(wk, i, to)

    def receive(self, w: int) -> bool:
        wk = self._worker(w)
        if not wk.mailbox:
            return False
        self.worker_receive(wk)
        return True

    def held(self, w: int) -> int:
        if w < 0 or w >= self.workers:
            raise IndexError(f"no worker {w}")
        return len(self.wk[w].held)

    def held_caches(self, w: int) -> list:
        return [o.page.cache.id for o in self.wk[w].held]

    # ---- asynchronous machinery ----

    def run_work(self, n: int = 1) -> int:
        self.cpu = self.sys_cpu
        done = 0
        for _ in range(n):
            if not self.wq_run_one():
                break
            done += 1
        return done

    def pending_work(self) -> int:
        return len(self.workqueue)

    def grace_period(self) -> int:
        """End one grace period: run the RCU callbacks queued before it."""
        self.cpu = self.sys_cpu
        return self.rcu_process_callbacks()

    def pending_callbacks(self) -> int:
        return len(self.rcu_callbacks)

    def settle(self, rounds: int = 50) -> None:
        """Run work and grace periods until nothing is pending."""
        self.cpu = self.sys_cpu
        for _ in range(rounds):
            if not self.run_work(1000000) and not self.grace_period():
                break

    def drain(self) -> None:
        """Every worker frees everything, then every cgroup is removed and
        the module caches destroyed."""
        for w in range(self.workers):
            wk = self._worker(w)
            while wk.held:
                self.worker_free_held(wk, len(wk.held) - 1)
        for w in range(self.workers):
            wk = self._worker(w)
            while wk.mailbox:
                self.worker_receive(wk)
            self.flush_cpu_slabs(True)
        self.cpu = self.sys_cpu
        for wk in self.wk:
            if wk.memcg is not self.root_mem_cgroup:
                self.mem_cgroup_migrate(wk, self.root_mem_cgroup)
        while True:
            removed = False
            for mid in self.memcg_ids():
                m = self.memcg_all.get(mid)
                if m is not None and m is not self.root_mem_cgroup and m.state == MEMCG_ONLINE \
                        and self.mem_cgroup_rmdir(m) == 0:
                    removed = True
            if not removed:
                break
        for i in range(len(BUILTIN_ROOTS), MAX_ROOTS):
            while self.roots[i] is not None:
                self.kmem_cache_destroy_root(i)
        self.settle(1000)

    def memcg_ids(self) -> list:
        return list(self.memcg_all)

    # ---- observation ----

    def snapshot(self) -> dict:
        """Every counter, stat, refcount, state and list, with memcgs and
        caches named by their ids: equal to stresscore._core.Model.snapshot()."""
        memcgs = {}
        for m in self.memcg_all.values():
            memcgs[m.id] = {
                "parent": m.parent.id if m.parent is not None else None,
                "state": STATE_NAMES[m.state],
                "kmem_state": m.kmem_state,
                "kmemcg_id": m.kmemcg_id,
                "css": m.css.count,
                "css_dying": m.css.dead,
                "memory": m.memory,
                "limit": None if m.limit == PAGE_COUNTER_MAX else m.limit,
                "stat": list(m.stat),
                "pcpu_stat": [[p[0], p[1]] for p in m.pcpu],
                "local": [sum(p[2] for p in m.pcpu), sum(p[3] for p in m.pcpu)],
                "nr_dying_descendants": m.nr_dying_descendants,
                "online_cnt": m.online_cnt,
                "offline_pending": m.offline_pending,
                "children": [c.id for c in m.children],
                "kmem_caches": [c.id for c in m.kmem_caches],
            }
        roots = {}
        caches = {}
        for i, s in enumerate(self.roots):
            if s is None:
                continue
            roots[i] = {
                "id": s.id, "size": s.size, "objects": s.objects, "order": s.order,
                "reclaimable": bool(s.reclaimable), "typesafe": bool(s.typesafe),
                "refcount": s.refcount, "dying": s.dying,
                "array_size": len(s.memcg_caches),
                "entries": {j: c.id for j, c in enumerate(s.memcg_caches) if c is not None},
                "children": [c.id for c in s.children],
                "pages": _page_list(s),
                "cpu_free": [slot.free for slot in s.cpu_slab],
            }
            for c in s.children:
                caches[c.id] = {
                    "root": i, "memcg": c.memcg.id, "refcnt": c.refcnt.count,
                    "dying": c.refcnt.dead, "deactivated": c.deactivated,
                    "shut_down": c.shut_down, "pages": _page_list(c),
                    "cpu_free": [slot.free for slot in c.cpu_slab],
                }
        return {
            "memcgs": memcgs,
            "roots": roots,
            "caches": caches,
            "caches_releasing": [c.id for c in self.caches_releasing],
            "node_stat": [self.node_stat[0].sum(), self.node_stat[1].sum()],
            "nr_cache_ids": self.memcg_nr_cache_ids,
            "workers": [{"memcg": w.memcg.id, "held": self.held_caches(i),
                         "mailbox": [o.page.cache.id for o in w.mailbox]}
                        for i, w in enumerate(self.wk)],
            "pending_work": self.pending_work(),
        }


def _page_list(s: KmemCache) -> list:
    """(inuse, frozen, rcu_pending) of each page, in list order."""
    return [(p.inuse, int(p.frozen), int(p.rcu_pending)) for p in s.pages]
