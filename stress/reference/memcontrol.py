"""mm/memcontrol.c (Linux 5.3 to 5.4): memcgs, their statistics, page
counters and css references, the memcg life cycle (mkdir, rmdir, offline,
release, free), kmemcg ids, the choice of the cache of an allocation and
the charge of a slab page (memcg_charge_slab and memcg_uncharge_slab, in
mm/slab.h in the kernel)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from .percpu import BATCH, PercpuRef

if TYPE_CHECKING:
    from .model import Worker
    from .slab_common import KmemCache

NR_SLAB_RECLAIMABLE = 0
NR_SLAB_UNRECLAIMABLE = 1
MEMCG_CACHES_MIN_SIZE = 4
MEMCG_CACHES_MAX_SIZE = 512     # kmemcg ids
MEMCG_CHARGE_BATCH = 32
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
    failcnt: int = 0                # page counter failcnt
    limit: int = PAGE_COUNTER_MAX
    stat: list = field(default_factory=lambda: [0, 0])  # hierarchical NR_SLAB_* (spilled)
    pcpu: list = field(default_factory=list)            # per cpu: [delta0, delta1, local0, local1]

    def __post_init__(self):
        self.pcpu = [[0, 0, 0, 0] for _ in range(self.nr_cpus)]



class Memcontrol:
    """The memcontrol.c part of the Model."""

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
        for cpu, p in enumerate(memcg.pcpu):
            if not self.fix_flush_offline and not self.online[cpu]:
                continue                    # for_each_online_cpu (README finding 9)
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
    # Page counters (hierarchical up to the root, which nothing charges directly)

    def page_counter_try_charge(self, memcg: MemCgroup, nr: int) -> Optional[MemCgroup]:
        """None when every level took the charge, else the memcg over its
        limit (its failcnt up)."""
        c = memcg
        while c is not None:
            c.memory += nr
            if c.memory > c.limit:
                c.memory -= nr
                c.failcnt += 1
                u = memcg
                while u is not c:
                    u.memory -= nr
                    u = u.parent
                return c
            c = c.parent
        return None

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

    def css_put_many(self, m: MemCgroup, n: int) -> None:
        self.percpu_ref_put_many(m.css, n)

    # ---- memcg_stock: per cpu [cached memcg, pages, drain queued] ----

    def consume_stock(self, memcg: MemCgroup, nr: int) -> bool:
        st = self.stock[self.cpu]
        if nr <= MEMCG_CHARGE_BATCH and st[0] is memcg and st[1] >= nr:
            st[1] -= nr
            return True
        return False

    def drain_stock(self, st: list) -> None:
        if st[1]:
            self.page_counter_uncharge(st[0], st[1])
            self.css_put_many(st[0], st[1])
            st[1] = 0
        st[0] = None

    def drain_local_stock(self) -> None:
        st = self.stock[self.cpu]
        st[3] = False
        self.drain_stock(st)
        st[2] = False

    def poll_stock(self) -> None:
        """The cpu runs its queued stock drain work at its next safe point."""
        if self.stock[self.cpu][3]:
            self.drain_local_stock()

    def refill_stock(self, memcg: MemCgroup, nr: int) -> None:
        st = self.stock[self.cpu]
        if st[0] is not memcg:
            self.drain_stock(st)
            st[0] = memcg
        st[1] += nr
        if st[1] > MEMCG_CHARGE_BATCH:
            self.drain_stock(st)

    @staticmethod
    def mem_cgroup_is_descendant(memcg: Optional[MemCgroup], root: MemCgroup) -> bool:
        while memcg is not None:
            if memcg is root:
                return True
            memcg = memcg.parent
        return False

    def drain_all_stock(self, root_memcg: MemCgroup) -> None:
        """This cpu's stock at once, the others' by their drain works (no
        one else drains at the same time in a single thread)."""
        for cpu, st in enumerate(self.stock):
            if self.online[cpu] and st[0] is not None and st[1] \
                    and self.mem_cgroup_is_descendant(st[0], root_memcg) and not st[2]:
                st[2] = st[3] = True
                if cpu == self.cpu:
                    self.drain_local_stock()

    def try_charge(self, memcg: MemCgroup, nr: int) -> int:
        """try_charge (5.4) as slab pages meet it: stock, batch, limit, one
        drain of the memcg over its limit, then -1."""
        batch = max(MEMCG_CHARGE_BATCH, nr)
        drained = False
        if memcg is self.root_mem_cgroup:
            return 0
        while True:
            if self.consume_stock(memcg, nr):
                return 0
            over = self.page_counter_try_charge(memcg, batch)
            if over is None:
                self.css_get_many(memcg, batch)
                if batch > nr:
                    self.refill_stock(memcg, batch - nr)
                return 0
            if batch > nr:
                batch = nr
                continue
            if not drained:
                self.drain_all_stock(over)
                drained = True
                continue
            return -1

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
            self.drain_all_stock(m)             # mem_cgroup_css_offline
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
    # Child caches: the creation work

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

    @staticmethod
    def stat_idx(s: KmemCache) -> int:
        """cache_vmstat_idx (mm/slab.h)."""
        return NR_SLAB_RECLAIMABLE if s.reclaimable else NR_SLAB_UNRECLAIMABLE

    def memcg_charge_slab(self, s: KmemCache, order: int) -> Optional[bool]:
        """Charge a new slab page of child cache s: None over a limit, else
        whether the charge took the root branch (the page records it)."""
        nr = 1 << order
        if self.legacy:
            memcg = s.memcg                     # the cache pins its memcg
            self.css_get(memcg)
        else:
            memcg = s.memcg                     # READ_ONCE under RCU: not stable
            while memcg is not None and not self.css_tryget_online(memcg):
                memcg = memcg.parent
            if memcg is None or memcg is self.root_mem_cgroup:
                # memcg_charge_slab (5.4), mem_cgroup_is_root(): node stats
                # and the cache references only
                self.mod_node_state(self.stat_idx(s), nr)
                self.percpu_ref_get_many(s.refcnt, nr)
                if memcg is not None:
                    self.css_put(memcg)
                return True
        if self.try_charge(memcg, nr) != 0:
            self.css_put(memcg)
            return None
        idx = self.stat_idx(s)
        self.mod_memcg_state(memcg, idx, nr)
        self.mod_node_state(idx, nr)
        self.percpu_ref_get_many(s.refcnt, nr)
        self.css_put_many(memcg, nr)            # try_charge's page references go to the cache
        self.css_put(memcg)
        return False

    def memcg_uncharge_slab(self, s: KmemCache, order: int, charged_root: bool) -> None:
        """Uncharge whatever memcg the cache names now, then drop the page's
        references on the cache (which may release it).  5.4 takes the root
        branch by the cache's memcg at free time; fix_root_drift by the
        page's own charge (memcontrol_charge.pxi)."""
        nr = 1 << order
        memcg = s.memcg
        idx = self.stat_idx(s)
        root_branch = charged_root if self.fix_root_drift else memcg is self.root_mem_cgroup
        if not root_branch:
            self.mod_memcg_state(memcg, idx, -nr)
            self.page_counter_uncharge(memcg, nr)
        self.mod_node_state(idx, -nr)
        self.percpu_ref_put_many(s.refcnt, nr)
