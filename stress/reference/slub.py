"""mm/slub.c: slab pages of a cache, like SLUB: a per-cpu frozen slab with
a private freelist, a remote free list any cpu pushes to, an (inuse,
frozen) word; flush_all, the pinned check and the drain's shrink."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from .memcontrol import NR_SLAB_RECLAIMABLE, NR_SLAB_UNRECLAIMABLE

if TYPE_CHECKING:
    from .model import Worker
    from .slab_common import KmemCache

PAGE_OBJS = 64                  # most objects per slab page


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



def _swap_remove(lst: list, i: int):
    """Remove lst[i] by moving the last element there (the native arrays)."""
    x = lst[i]
    last = lst.pop()
    if i < len(lst):
        lst[i] = last
    return x


class Slub:
    """The slub.c part of the Model."""

    def flush_all(self, s: KmemCache) -> None:
        """flush_all: unfreeze each cpu's slab of s, in cpu order (the
        native Model runs the IPIs at once, in that order)."""
        for cpu in range(self.nr_cpus):
            slot = s.cpu_slab[cpu]
            if slot.page is not None:
                self.deactivate_slab(s, slot)

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

    def poll_kick(self) -> None:
        """The engine's unloading kick is engine-only: nothing to answer."""

    def pinned_check(self) -> dict:
        """Killed caches whose every page is an empty cpu slab (the native
        pinned_check), and the memcgs not freed."""
        caches = pages = 0
        for r in self.slab_root_caches:
            for c in r.children:
                if c.shut_down or not c.refcnt.dead:
                    continue
                live = [p for p in c.pages if not p.rcu_pending]
                if live and all(p.frozen and self._allocated(c, p) == 0 for p in live):
                    caches += 1
                    pages += len(live)
        return {"caches": caches, "pages": pages, "memcgs": len(self.memcg_all) - 1}

    def _allocated(self, s: KmemCache, page: SlabPage) -> int:
        for slot in s.cpu_slab:
            if slot.page is page:
                return page.inuse - slot.free
        return page.inuse

    def shrink_all_caches(self) -> None:
        """A shrink of every cache, roots and children (kmem_cache_shrink)."""
        for r in list(self.slab_root_caches):
            self.flush_all(r)
            for c in list(r.children):
                self.flush_all(c)

    def kmem_cache_alloc(self, root: KmemCache, worker: Worker) -> Optional[SlabObject]:
        s = self.memcg_kmem_get_cache(root, worker.memcg)
        obj = self.slab_alloc(s)
        self.memcg_kmem_put_cache(s)
        return obj

    def kmem_cache_free(self, obj: SlabObject) -> None:
        self.slab_free(obj)
