"""mm/slub.c (5.4): slab pages of a cache: a per-cpu frozen slab with a
private freelist, per-cpu partial lists of frozen pages, the node's partial
list, a remote free list any cpu pushes to, an (inuse, frozen) word;
cpu_partial and min_partial; deactivate_slab, unfreeze_partials,
put_cpu_partial, get_partial_node, __slab_free, flush_all,
__kmem_cache_shrink, free_partial, the pinned check and the drain's
shrink."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from .memcontrol import NR_SLAB_RECLAIMABLE, NR_SLAB_UNRECLAIMABLE

if TYPE_CHECKING:
    from .model import Worker
    from .slab_common import KmemCache

PAGE_OBJS = 64                  # most objects per slab page
MIN_PARTIAL, MAX_PARTIAL = 5, 10
SHRINK_PROMOTE_MAX = 32


def kmem_cache_open_partial(size: int) -> tuple[int, int]:
    """(cpu_partial, min_partial) as kmem_cache_open sets them."""
    m = min(max((size.bit_length() - 1) // 2, MIN_PARTIAL), MAX_PARTIAL)
    cpu_partial = 2 if size >= 4096 else 6 if size >= 1024 else 13 if size >= 256 else 30
    return cpu_partial, m


def min_order_of(size: int, order: int, objects: int) -> tuple[int, int]:
    """s->min = oo_make(get_order(size), size): (order, objects)."""
    o = 0
    while (4096 << o) < size:
        o += 1
    n = (4096 << o) // size
    return (order, objects) if o >= order or n > objects else (o, n)


@dataclass(eq=False)
class CpuSlab:
    """One cpu's slab of a cache: the frozen page and how many objects are
    on its private freelist."""
    page: Optional["SlabPage"] = None
    free: int = 0
    partial: list = field(default_factory=list)     # c->partial, head first



@dataclass(eq=False)
class SlabPage:
    cache: KmemCache
    inuse: int = 0                  # objects allocated or on the freezing cpu's freelist
    frozen: bool = False            # some cpu's active slab
    remote: int = 0                 # objects freed to the page's remote list
    rcu_pending: bool = False       # TYPESAFE_BY_RCU: freed, waiting for a grace period
    charged_root: bool = False      # memcg_charge_slab took its root branch (fix_root_drift's uncharge reads it)
    order: int = 0                  # the page's order (the cache's, or s->min after a fallback)
    objects: int = 0                # page->objects
    on_partial: bool = False        # on the node's partial list
    pobjects: int = 0               # as the cpu partial list's head: free objects recorded
    pages: int = 0                  # as the head: pages on the list


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

    def flush_cpu_slab(self, s: KmemCache, slot: CpuSlab) -> None:
        if slot.page is not None:
            self.deactivate_slab(s, slot)
        self.unfreeze_partials(s, slot)

    def flush_all(self, s: KmemCache) -> None:
        """flush_all: each cpu with a slab or a partial list of s, in cpu
        order (the native Model runs the IPIs at once, in that order)."""
        for slot in [x for x in s.cpu_slab if x.page is not None or x.partial]:
            self.flush_cpu_slab(s, slot)

    def shrink_cache(self, s: KmemCache) -> int:
        """__kmem_cache_shrink: flush_all, discard the node list's empty
        pages (last found first), promote the fullest to its head."""
        self.flush_all(s)
        promote = [[] for _ in range(SHRINK_PROMOTE_MAX)]
        discard = []
        for page in list(s.partial):
            free = page.objects - page.inuse
            if free == page.objects:
                self.remove_partial(s, page)
                discard.insert(0, page)
            elif 0 < free <= SHRINK_PROMOTE_MAX:
                s.partial.remove(page)
                promote[free - 1].append(page)
        for i in range(SHRINK_PROMOTE_MAX - 1, -1, -1):
            s.partial[0:0] = promote[i]
        for page in discard:
            self.discard_slab(page)
        return 1 if self.slabs_in_use(s) else 0

    def free_partial(self, s: KmemCache) -> None:
        """free_partial (__kmem_cache_shutdown): the node list's empty pages."""
        discard = []
        for page in list(s.partial):
            if page.inuse == 0:
                self.remove_partial(s, page)
                discard.insert(0, page)
        for page in discard:
            self.discard_slab(page)

    # ---- partial lists ----

    @staticmethod
    def add_partial(s: KmemCache, page: SlabPage, tail: bool) -> None:
        if tail:
            s.partial.append(page)
        else:
            s.partial.insert(0, page)
        page.on_partial = True

    @staticmethod
    def remove_partial(s: KmemCache, page: SlabPage) -> None:
        s.partial.remove(page)
        page.on_partial = False

    def unfreeze_partials(self, s: KmemCache, slot: CpuSlab) -> None:
        discard = []
        while slot.partial:
            page = slot.partial.pop(0)
            page.frozen = False
            if page.inuse == 0 and len(s.partial) >= s.min_partial:
                discard.insert(0, page)
            else:
                self.add_partial(s, page, True)
        for page in discard:
            self.discard_slab(page)

    def put_cpu_partial(self, s: KmemCache, page: SlabPage, drain: bool) -> None:
        slot = s.cpu_slab[self.cpu]
        pobjects = pages = 0
        if slot.partial:
            pobjects, pages = slot.partial[0].pobjects, slot.partial[0].pages
            if drain and pobjects > s.cpu_partial:
                self.unfreeze_partials(s, slot)
                pobjects = pages = 0
        page.pages = pages + 1
        page.pobjects = pobjects + page.objects - page.inuse
        slot.partial.insert(0, page)
        if s.cpu_partial == 0:
            self.unfreeze_partials(s, slot)

    def acquire_slab(self, s: KmemCache, page: SlabPage, mode: bool) -> tuple[int, int]:
        """(free objects, objects taken)."""
        self.remove_partial(s, page)
        k = 0
        if mode:
            k, page.remote = page.remote, 0
        avail = page.objects - page.inuse
        page.inuse += k
        page.frozen = True
        return avail, k

    def get_partial(self, s: KmemCache, slot: CpuSlab) -> bool:
        """get_partial_node: True when the cpu slab got objects."""
        got = have = False
        available = 0
        for page in list(s.partial):
            objects, k = self.acquire_slab(s, page, not got)
            available += objects
            if not got:
                got = True
                slot.page = page
                if k:
                    have = True
                    slot.free = k - 1
            else:
                self.put_cpu_partial(s, page, False)
            if available > s.cpu_partial // 2:
                break
        return have

    # =======================================================================
    # Slab pages (SLUB-like)

    def new_slab(self, s: KmemCache) -> Optional[SlabPage]:
        """allocate_slab: the cache's order, or s->min when that charge fails."""
        order = s.order
        if s.is_root:
            self.mod_node_state(NR_SLAB_RECLAIMABLE if s.reclaimable else NR_SLAB_UNRECLAIMABLE, 1 << order)
            charged_root = False
        else:
            charged_root = self.memcg_charge_slab(s, order)
            if charged_root is None:
                if s.min_order == order:
                    return None
                order = s.min_order
                charged_root = self.memcg_charge_slab(s, order)
                if charged_root is None:
                    return None
        page = SlabPage(s, charged_root=charged_root, order=order,
                        objects=s.objects if order == s.order else s.min_objects)
        s.pages.append(page)
        return page

    def __free_slab(self, page: SlabPage) -> None:
        s = page.cache
        s.pages.remove(page)
        if s.is_root:
            self.mod_node_state(NR_SLAB_RECLAIMABLE if s.reclaimable else NR_SLAB_UNRECLAIMABLE,
                                -(1 << page.order))
        else:
            self.memcg_uncharge_slab(s, page.order, page.charged_root)   # the page's own order

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
        which goes to the node's list (to its tail when other cpus had freed
        to it), is discarded when empty and the node keeps min_partial, or is
        on no list when full."""
        page = slot.page
        if page is None:
            return
        tail = page.remote > 0
        k = slot.free
        page.remote += k
        slot.page = None
        slot.free = 0
        page.inuse -= k
        page.frozen = False
        if page.inuse == 0 and len(s.partial) >= s.min_partial:
            self.discard_slab(page)
        elif page.inuse < page.objects:
            self.add_partial(s, page, tail)

    @staticmethod
    def _refill(slot: CpuSlab, page: SlabPage) -> bool:
        k = page.remote
        if not k:
            return False
        page.remote = 0
        page.inuse += k
        slot.free = k - 1
        return True

    def slab_alloc(self, s: KmemCache) -> Optional[SlabObject]:
        slot = s.cpu_slab[self.cpu]
        if slot.free:                           # fast path: the private freelist
            slot.free -= 1
            return SlabObject(slot.page)
        page = slot.page
        if page is not None:
            if self._refill(slot, page):        # what other cpus freed to our page
                return SlabObject(page)
            self.deactivate_slab(s, slot)       # full: unfreeze it
        while slot.partial:                     # the cpu partial list
            page = slot.partial.pop(0)
            slot.page = page
            if self._refill(slot, page):
                return SlabObject(page)
            self.deactivate_slab(s, slot)
        if self.get_partial(s, slot):           # the node's partial list
            return SlabObject(slot.page)
        if slot.page is not None:
            self.deactivate_slab(s, slot)
        page = self.new_slab(s)
        if page is None:
            return None
        page.inuse = page.objects               # frozen: every object counts as in use
        page.frozen = True
        slot.page = page
        slot.free = page.objects - 1
        return SlabObject(page)

    def slab_free(self, obj: SlabObject) -> None:
        page = obj.page
        s = page.cache
        slot = s.cpu_slab[self.cpu]
        if slot.page is page:                   # our own slab: the private freelist
            slot.free += 1
            return
        page.remote += 1                        # __slab_free
        old = page.inuse
        page.inuse -= 1
        freeze = locked = False
        if not page.frozen and (page.inuse == 0 or old == page.objects):
            if old == page.objects:
                freeze = True
            else:
                locked = True
        page.frozen = page.frozen or freeze
        if not locked:
            if freeze:
                self.put_cpu_partial(s, page, True)
            return
        if page.on_partial and len(s.partial) >= s.min_partial:
            self.remove_partial(s, page)
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
            self.shrink_cache(r)
            for c in list(r.children):
                self.shrink_cache(c)

    def kmem_cache_alloc(self, root: KmemCache, worker: Worker) -> Optional[SlabObject]:
        s = self.memcg_kmem_get_cache(root, worker.memcg)
        obj = self.slab_alloc(s)
        self.memcg_kmem_put_cache(s)
        return obj

    def kmem_cache_free(self, obj: SlabObject) -> None:
        self.slab_free(obj)
