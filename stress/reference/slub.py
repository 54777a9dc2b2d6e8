"""mm/slub.c: slab pages of a cache, like SLUB: a per-cpu frozen slab with
a private freelist, a remote free list any cpu pushes to, an (inuse,
frozen) word, and the per-cpu list of caches with an active slab."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from .memcontrol import NR_SLAB_RECLAIMABLE, NR_SLAB_UNRECLAIMABLE

if TYPE_CHECKING:
    from .model import Worker
    from .slab_common import KmemCache

PAGE_OBJS = 64                  # most objects per slab page
MAX_ACTIVE = 128                # caches in which one cpu may hold an active slab


@dataclass(eq=False)
class CpuSlab:
    """One cpu's slab of a cache: the frozen page and how many objects are
    on its private freelist."""
    page: Optional["SlabPage"] = None
    free: int = 0



@dataclass(eq=False)
class SlabPage:
    cache: KmemCache
    inuse: int = 0                  # objects allocated or on the freezing cpu's freelist
    frozen: bool = False            # some cpu's active slab
    remote: int = 0                 # objects freed to the page's remote list
    rcu_pending: bool = False       # TYPESAFE_BY_RCU: freed, waiting for a grace period
    charged_root: bool = False      # memcg_charge_slab took its root branch (fix_root_drift's uncharge reads it)


@dataclass(eq=False)
class SlabObject:
    page: SlabPage



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


class Slub:
    """The slub.c part of the Model."""

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

    # =======================================================================
    # Slab pages (SLUB-like)

    def new_slab(self, s: KmemCache) -> Optional[SlabPage]:
        nr = 1 << s.order
        if s.is_root:
            self.mod_node_state(NR_SLAB_RECLAIMABLE if s.reclaimable else NR_SLAB_UNRECLAIMABLE, nr)
            charged_root = False
        else:
            charged_root = self.memcg_charge_slab(s, s.order)
            if charged_root is None:
                return None
        page = SlabPage(s, charged_root=charged_root)
        s.pages.append(page)
        return page

    def __free_slab(self, page: SlabPage) -> None:
        s = page.cache
        s.pages.remove(page)
        if s.is_root:
            self.mod_node_state(NR_SLAB_RECLAIMABLE if s.reclaimable else NR_SLAB_UNRECLAIMABLE,
                                -(1 << s.order))
        else:
            self.memcg_uncharge_slab(s, s.order, page.charged_root)

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
