"""mm/slab_common.c: root caches (kmem_cache_create with merging,
kmem_cache_destroy), the memcg_caches arrays, and the life of the child
caches: creation, deactivation with the reparenting step of the series,
kill, shutdown and release."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .memcontrol import KMEM_ONLINE, MEMCG_CACHES_MIN_SIZE, MemCgroup
from .percpu import PercpuRef
from .slub import PAGE_OBJS, CpuSlab, kmem_cache_open_partial, min_order_of

MAX_ROOTS = 16                  # root cache table size

# The built-in root caches created at start-up, as stresscore/run.pxi's
# BUILTIN_ROOTS: name, object size, objects per slab, order, reclaimable,
# SLAB_TYPESAFE_BY_RCU.
BUILTIN_ROOTS = [
    ("dentry", 192, 21, 0, 1, 0),
    ("inode_cache", 600, 13, 1, 1, 0),
    ("kmalloc-64", 64, 64, 0, 0, 0),
    ("sighand_cache", 2112, 15, 3, 0, 1),
]



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
    release_batch: int = 0          # the slab_caches_to_rcu_destroy_workfn run that took it
    # ---- sysfs (stresscore/sysfs.pxi) ----
    kobj_ref: int = 1               # the kobject's references: its own and one per queued remove work
    in_sysfs: bool = True           # until kobject_del
    # ---- slab pages (both kinds) ----
    pages: list = field(default_factory=list)           # every live page, RCU-pending ones included
    cpu_slab: list = field(default_factory=list)
    partial: list = field(default_factory=list)         # the node's partial list, head first
    cpu_partial: int = 0
    min_partial: int = 0
    min_order: int = 0
    min_objects: int = 0

    def __post_init__(self):
        self.cpu_slab = [CpuSlab() for _ in range(self.nr_cpus)]
        self.cpu_partial, self.min_partial = kmem_cache_open_partial(self.size)
        self.min_order, self.min_objects = min_order_of(self.size, self.order, self.objects)



class SlabCommon:
    """The slab_common.c part of the Model."""

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
        s.cpu_partial = s.min_partial = 0       # __kmemcg_cache_deactivate
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
        """Shrink (flush_all; and, when the model does the early remove,
        remove the sysfs files of an empty cache), then kill the cache's
        refcount."""
        left = self.shrink_cache(s)
        if self.sysfs_deactivate_remove and not left:
            self.sysfs_slab_remove(s)
        self.percpu_ref_kill(s.refcnt)

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
        self.flush_all(s)               # __kmem_cache_shutdown
        self.free_partial(s)
        if self.slabs_in_use(s):
            return -1
        s.shut_down = True
        self.sysfs_slab_remove(s)       # the end of __kmem_cache_shutdown
        s.root.children.remove(s)
        if s.memcg is not None and s in s.memcg.kmem_caches:
            s.memcg.kmem_caches.remove(s)
        s.in_sysfs = False              # sysfs_slab_unlink (kobject_del)
        if s.typesafe:
            s.release_batch = 0
            self.caches_releasing.append(s)
            self.schedule_work("slab_caches_to_rcu_destroy_workfn", self.slab_caches_to_rcu_destroy_workfn)
        else:
            self.kobject_put(s)         # sysfs_slab_release
        return 0

    # ---- sysfs (mm/slub.c) ----

    def sysfs_slab_remove(self, s: KmemCache) -> None:
        """kobject_get, schedule_work: the reference is taken even when the
        work is already pending."""
        s.kobj_ref += 1
        self.schedule_work(f"sysfs_slab_remove_workfn:{s.id}", lambda: self.kobject_put(s))

    def kobject_put(self, s: KmemCache) -> None:
        """At zero, the kobject's release: kmem_cache_release."""
        s.kobj_ref -= 1
        if s.kobj_ref == 0:
            if s.is_root:
                self.root_cache_release(s)
            else:
                self.slab_kmem_cache_release(s)

    def slab_caches_to_rcu_destroy_workfn(self) -> None:
        """Take the caches waiting so far, rcu_barrier(), release them."""
        self.rcu_destroy_runs += 1
        run = self.rcu_destroy_runs
        batch = [s for s in self.caches_releasing if s.release_batch == 0]
        for s in batch:
            s.release_batch = run
        if not batch:
            return
        self.rcu_barrier()
        for s in batch:
            self.caches_releasing.remove(s)
            self.kobject_put(s)         # sysfs_slab_release

    def slab_kmem_cache_release(self, s: KmemCache) -> None:
        """Drop the reference on whatever memcg the cache names now; free it."""
        s.freed = True
        if s.memcg is not None:
            self.css_put(s.memcg)

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
        self.flush_workqueue("memcg_kmem_cache")  # their works (the kills), and pending creations, every CPU
        if s.children:
            self.rcu_barrier()      # the kills switch refcounts after a grace period
        # shutdown_memcg_caches(): the active children, then the deactivated
        # ones (shutdown_cache flushes each first)
        arr = s.memcg_caches
        for i, c in enumerate(arr):
            if c is not None and self.shutdown_cache(c) == 0:
                arr[i] = None
        busy = False
        for c in list(s.children):
            if self.shutdown_cache(c) != 0:
                busy = True
        self.flush_all(s)           # the root's __kmem_cache_shutdown
        self.free_partial(s)
        if self.slabs_in_use(s):
            busy = True
        if busy:
            return -1       # the native model reports a "leak" violation
        self.slab_root_caches.remove(s)
        self.roots[index] = None
        self.sysfs_slab_remove(s)       # shutdown_cache of the root: __kmem_cache_shutdown, then kobject_del
        s.in_sysfs = False
        # the root's memcg_caches array goes a grace period later; a
        # TYPESAFE_BY_RCU root waits for rcu_barrier() in the destroy work
        self.call_rcu("free_memcg_cache_array_rcu", lambda: None)
        if s.typesafe:
            s.release_batch = 0
            self.caches_releasing.append(s)
            self.schedule_work("slab_caches_to_rcu_destroy_workfn", self.slab_caches_to_rcu_destroy_workfn)
        else:
            self.kobject_put(s)
        return 0

    def root_cache_release(self, s: KmemCache) -> None:
        s.freed = True
