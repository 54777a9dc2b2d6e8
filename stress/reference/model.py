"""The reference Model: the rooms (memcontrol, slab_common, slub, workqueue,
rcu, percpu) composed into one single-threaded model with the constructor,
the methods and the snapshot of ``stresscore._core.Model`` (its workers,
as in stresscore/worker.pxi, and the API of stresscore/model_api.pxi).

and gives identical observable results, snapshot included.  For that it
models what the snapshot shows exactly as the native model does it:

- "cpus": one slot per worker (worker operations run on the worker's cpu)
  plus one "system" slot (cpu == workers) for everything else: controller
  operations, work items and RCU callbacks;
- per-cpu memcg statistics batched like __mod_memcg_state (BATCH 32, a spill
  goes to the memcg and every ancestor), node statistics as percpu_counters;
- slab pages like SLUB: a per-cpu frozen slab with a private freelist, a
  remote free list any cpu pushes to, and an (inuse, frozen) word; flush_all
  unfreezes each cpu's slab of a cache in cpu order (the native Model runs
  its IPIs at once); nothing else flushes a cpu's slabs;
- percpu_ref by its logical count: kill marks it dead, takes a reference for
  the switch to atomic mode and queues the switch as an RCU callback; only
  after the switch can a put release it;
- the workqueues (memcg_kmem_cache_wq, cgroup_destroy_wq) as one FIFO pool
  per (workqueue, cpu) and the RCU callbacks as one FIFO list per cpu; which
  pool or list runs next is an input (run_work(n, wq, cpu),
  grace_period(cpu)); a grace period runs the batches queued before it,
  callbacks queued by them wait for the next one;
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
from typing import Optional

from .memcontrol import (MEMCG_CACHES_MAX_SIZE, MEMCG_ONLINE, PAGE_COUNTER_MAX, STATE_NAMES, MemCgroup,
                         Memcontrol)
from .percpu import PercpuCounter, PercpuRefOps
from .rcu import Rcu, Work
from .slab_common import BUILTIN_ROOTS, MAX_ROOTS, KmemCache, SlabCommon
from .slub import Slub, _swap_remove
from .workqueue import WORKQUEUE_NAMES, Workqueue


@dataclass(eq=False)
class Worker:
    memcg: MemCgroup
    held: list = field(default_factory=list)
    live_by_root: list = field(default_factory=lambda: [0] * MAX_ROOTS)
    mailbox: deque = field(default_factory=deque)


# ---------------------------------------------------------------------------
# The model


class Model(Memcontrol, SlabCommon, Slub, Workqueue, Rcu, PercpuRefOps):
    """The reference model driven one operation at a time.

    Model(workers=2, mode="reparent", mutant=None, max_held=100000, seed=1)

    Same methods and results as stresscore._core.Model."""

    def __init__(self, workers: int = 2, mode: str = "reparent", mutant=None,
                 max_held: int = 100000, seed: int = 1, sysfs_deactivate_remove: bool = False,
                 fix_root_drift: bool = False, fix_hotplug_fold: bool = False,
                 fix_flush_offline: bool = False):
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
        self.exec_cpu = None                # the cpu of the work or callback running
        self.pools: dict = {(q, c): deque() for q in WORKQUEUE_NAMES for c in range(self.nr_cpus)}
        self.rcu_lists: list[deque] = [deque() for _ in range(self.nr_cpus)]
        self.work_pending: set = set()      # schedule_work()'s PENDING bit, by work name
        self.sysfs_deactivate_remove = sysfs_deactivate_remove   # the early remove at deactivation (sysfs.pxi)
        self.fix_root_drift = fix_root_drift     # memcg_uncharge_slab's root branch by the page's charge
        self.fix_hotplug_fold = fix_hotplug_fold    # memcg_hotplug_cpu_dead as a3d4c05a4474 fixed it
        self.fix_flush_offline = fix_flush_offline  # memcg_flush_percpu_vmstats over every possible cpu
        self.online = [True] * self.nr_cpus     # cpu_online_mask
        self.rcu_destroy_runs = 0
        self.next_memcg_id = 0
        self.next_cache_id = 0
        self.stock = [[None, 0, False, False] for _ in range(self.nr_cpus)]   # memcg_stock: cached, nr, flag, work queued
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

    # ---- worker helpers (worker.pxi) ----

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
        if not self.online[w]:
            raise RuntimeError(f"worker {w}'s cpu is offline (cpu_up({w}) first)")
        self.cpu = w
        self.poll_kick()
        self.poll_stock()
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
        if m.memory > m.limit:
            self.drain_all_stock(m)             # memory_max_write

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

    def run_work(self, n: int = 1, wq=None, cpu=None) -> int:
        self.cpu = self.sys_cpu
        if wq is not None:
            WORKQUEUE_NAMES.index(wq)
            if cpu is None or cpu < 0 or cpu >= self.nr_cpus:
                raise IndexError(f"no cpu {cpu}")
        done = 0
        for _ in range(n):
            if not (self.wq_run_pool(wq, cpu) if wq is not None else self.wq_run_one()):
                break
            done += 1
        return done

    def pending_work(self) -> int:
        return sum(self.work_pools().values())

    def work_pools(self) -> dict:
        return {k: len(p) for k, p in self.pools.items() if p}

    def grace_period(self, cpu=None) -> int:
        """End one grace period: run the RCU callbacks queued before it, on
        one CPU's list or on every list, lowest cpu first."""
        self.cpu = self.sys_cpu
        if cpu is not None and (cpu < 0 or cpu >= self.nr_cpus):
            raise IndexError(f"no cpu {cpu}")
        return self.rcu_process_callbacks(None if cpu is None else [cpu])

    def pending_callbacks(self) -> int:
        return sum(len(x) for x in self.rcu_lists)

    def callback_lists(self) -> dict:
        return {c: len(x) for c, x in enumerate(self.rcu_lists) if x}

    def settle(self, rounds: int = 50) -> None:
        """Run work and grace periods until nothing is pending."""
        self.cpu = self.sys_cpu
        for _ in range(rounds):
            if not self.run_work(1000000) and not self.run_stock_drains() and not self.grace_period():
                break

    def run_stock_drains(self) -> int:
        """Every queued stock drain work, each on its cpu."""
        done = 0
        for cpu, st in enumerate(self.stock):
            if self.online[cpu] and st[3]:
                self.cpu = cpu
                self.drain_local_stock()
                done += 1
        self.cpu = self.sys_cpu
        return done

    def cpu_down(self, cpu: int) -> None:
        """_cpu_down of a worker's cpu from the system cpu: the dead
        callbacks in teardown order (hotplug.pxi)."""
        if not 0 <= cpu < self.workers or not self.online[cpu]:
            raise ValueError(f"cpu {cpu} is not an online worker cpu")
        self.cpu = self.sys_cpu
        self.online[cpu] = False
        st = self.stock[cpu]
        if st[3]:                           # the queued drain runs on the unbound pool, here
            st[3] = False
            self.drain_local_stock()
        for c in self.node_stat:            # page_alloc_cpu_dead
            c.count += c.pcpu[cpu]
            c.pcpu[cpu] = 0
        self.drain_stock(st)                # memcg_hotplug_cpu_dead
        for m in list(self.memcg_all.values()):
            if not self.percpu_ref_tryget(m.css):
                continue
            p = m.pcpu[cpu] if self.fix_hotplug_fold else m.pcpu[self.cpu]
            for i in range(2):
                x, p[i] = p[i], 0
                mi = m
                while x and mi is not None:
                    (mi if self.fix_hotplug_fold else m).stat[i] += x
                    mi = mi.parent
            self.css_put(m)
        for r in self.slab_root_caches:     # slub_cpu_dead
            for s in [r] + r.children:
                self.flush_cpu_slab(s, s.cpu_slab[cpu])

    def cpu_up(self, cpu: int) -> None:
        if not 0 <= cpu < self.workers or self.online[cpu]:
            raise ValueError(f"cpu {cpu} is not an offline worker cpu")
        self.online[cpu] = True

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
            self.drain_local_stock()            # the worker stops
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
        # what the cpus' slabs keep is not flushed: counted, then shrunk
        self.cpu = self.sys_cpu
        pinned = self.pinned_check()
        self.shrink_all_caches()
        self.settle(1000)
        return pinned

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
                "failcnt": m.failcnt,
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
                "partial": _partial_lists(s),
            }
            for c in s.children:
                caches[c.id] = {
                    "root": i, "memcg": c.memcg.id, "refcnt": c.refcnt.count,
                    "dying": c.refcnt.dead, "deactivated": c.deactivated,
                    "shut_down": c.shut_down, "pages": _page_list(c),
                    "cpu_free": [slot.free for slot in c.cpu_slab],
                    "partial": _partial_lists(c),
                }
        return {
            "memcgs": memcgs,
            "roots": roots,
            "caches": caches,
            "caches_releasing": [c.id for c in self.caches_releasing],
            "node_stat": [self.node_stat[0].sum(), self.node_stat[1].sum()],
            "stock": [[st[0].id if st[1] else None, st[1], st[2]] for st in self.stock],
            "cpus_online": list(self.online),
            "nr_cache_ids": self.memcg_nr_cache_ids,
            "workers": [{"memcg": w.memcg.id, "held": self.held_caches(i),
                         "mailbox": [o.page.cache.id for o in w.mailbox]}
                        for i, w in enumerate(self.wk)],
            "pending_work": self.pending_work(),
            "work_pools": {f"{q}/{c}": k for (q, c), k in self.work_pools().items()},
            "rcu_lists": self.callback_lists(),
        }


def _partial_lists(s: KmemCache) -> dict:
    """The node's partial list and each cpu's, as indexes into the page
    list; cpu_partial and min_partial."""
    at = {id(p): i for i, p in enumerate(s.pages)}
    return {"node": [at[id(p)] for p in s.partial],
            "cpus": [[at[id(p)] for p in slot.partial] for slot in s.cpu_slab],
            "cpu_partial": s.cpu_partial, "min_partial": s.min_partial,
            "page_orders": [p.order for p in s.pages]}


def _page_list(s: KmemCache) -> list:
    """(inuse, frozen, rcu_pending) of each page, in list order."""
    return [(p.inuse, int(p.frozen), int(p.rcu_pending)) for p in s.pages]
