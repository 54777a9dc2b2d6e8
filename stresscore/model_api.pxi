# model_api.pxi: the single-threaded face of the model (docs/DESIGN.md,
# model_api), for the differential tests against stress/reference.py, the
# deterministic tests of the series' claims and the checker tests.  One
# thread plays every role: each worker operation runs on that worker's cpu
# slot, every other operation on the "system" slot (cpu == workers).  Work
# items and RCU callbacks run only when asked (run_work, grace_period), so
# a test controls every interleaving.

cdef mem_cgroup *_memcg_by_id(long mid) noexcept nogil:
    cdef ms_list *n = memcg_all.next
    while n != &memcg_all:
        if (<mem_cgroup *>n.owner).id == mid:
            return <mem_cgroup *>n.owner
        n = n.next
    return NULL

cdef str _state_name(int st):
    return ("none", "online", "offline", "released", "freed")[st]

cdef void _as_cpu(int cpu):
    if ms_cpu != cpu:
        ms_thread_register(cpu)


cdef class Model:
    """The native model driven one operation at a time.

    Model(workers=2, mode="reparent", mutant=None, max_held=100000, seed=1)

    Only one Model (or run) exists per process at a time: the model's state
    is global, as the kernel's is.
    """
    cdef public int workers
    cdef public str mode
    cdef int sys_cpu
    cdef dict preempted         # worker -> (cache address, root index): alloc_preempted

    def __init__(self, int workers=2, str mode="reparent", mutant=None,
                 long max_held=100000, unsigned long long seed=1, bint sysfs_deactivate_remove=False,
                 bint fix_root_drift=False, bint fix_hotplug_fold=False, bint fix_flush_offline=False):
        if mode not in ("reparent", "legacy"):
            raise ValueError(f"unknown mode {mode!r}: reparent or legacy")
        set_sysfs_deactivate_remove(sysfs_deactivate_remove)
        set_fix_root_drift(fix_root_drift)
        set_fix_hotplug(fix_hotplug_fold, fix_flush_offline)
        _setup(workers, 1 if mode == "legacy" else 0, _mutant_id(mutant),
               max_held, seed, 1)
        self.workers = workers
        self.mode = mode
        self.sys_cpu = workers
        _as_cpu(self.sys_cpu)

    def close(self):
        if ms_cpu >= 0:
            ms_thread_unregister()

    # ---- helpers ----
    cdef mem_cgroup *_memcg(self, long mid) except NULL:
        cdef mem_cgroup *m = _memcg_by_id(mid)
        if m == NULL:
            raise KeyError(f"no memcg {mid}")
        return m

    cdef ms_worker *_worker(self, int w) except NULL:
        if w < 0 or w >= self.workers:
            raise IndexError(f"no worker {w}")
        if not cpu_online(w):
            raise RuntimeError(f"worker {w}'s cpu is offline (cpu_up({w}) first)")
        _as_cpu(w)
        poll_kick()
        poll_stock()
        return &workers[w]

    # ---- controller operations ----
    def mkdir(self, long parent_id):
        """A new memcg under parent_id; its id, or None when ids run out."""
        cdef mem_cgroup *p = self._memcg(parent_id)
        cdef mem_cgroup *m
        if p.state != MEMCG_ONLINE:
            return None
        _as_cpu(self.sys_cpu)
        m = mem_cgroup_create(p)
        return None if m == NULL else m.id

    def rmdir(self, long mid):
        """Remove an online memcg with no online child and no worker."""
        cdef mem_cgroup *m = self._memcg(mid)
        _as_cpu(self.sys_cpu)
        if memcg_nr_workers(m):
            return False
        return mem_cgroup_rmdir(m) == 0

    def migrate(self, int w, long mid):
        cdef mem_cgroup *m = self._memcg(mid)
        if w < 0 or w >= self.workers:
            raise IndexError(f"no worker {w}")
        if m.state != MEMCG_ONLINE:
            return False
        _as_cpu(self.sys_cpu)
        mem_cgroup_migrate(&workers[w].memcg, m)
        return True

    def set_limit(self, long mid, limit):
        cdef mem_cgroup *m = self._memcg(mid)
        _as_cpu(self.sys_cpu)
        mem_cgroup_set_limit(m, 0x7fffffffffffffff if limit is None else limit)

    def kmem_cache_create(self, int size, int objects, int order, bint reclaimable=False,
                          bint typesafe=False):
        _as_cpu(self.sys_cpu)
        cdef int idx = kmem_cache_create(size, objects, order, reclaimable, typesafe)
        return None if idx < 0 else idx

    def root_live_objects(self, int index):
        """Objects of this root (and its children) held by workers or in mailboxes."""
        cdef long n = 0
        cdef int i
        for i in range(self.workers):
            n += workers[i].live_by_root[index]
        return n

    def kmem_cache_destroy(self, int index, bint force=False):
        """Drop one reference on root `index`; refused (False) while objects
        of it are held, as a module must free its objects before unloading.
        With force, destroy anyway, as a module that unloads with objects
        allocated: kmem_cache_destroy reports the leak and fails."""
        if index < 0 or index >= MAX_ROOTS or roots[index] == NULL:
            return False
        if not force and roots[index].refcount == 1 and self.root_live_objects(index):
            return False
        _as_cpu(self.sys_cpu)
        return kmem_cache_destroy(index) == 0

    # ---- worker operations ----
    def alloc(self, int w, int root_index):
        """Worker w allocates from root `root_index`: True, or False when the
        root does not exist or the charge was refused."""
        cdef ms_worker *wk = self._worker(w)
        if root_index < 0 or root_index >= MAX_ROOTS or roots[root_index] == NULL:
            return False
        return worker_alloc(wk, roots[root_index])

    def alloc_preempted(self, int w, int root_index):
        """Worker w starts an allocation from root `root_index` and is
        preempted after memcg_kmem_get_cache (it holds the cache it got)
        until alloc_resume(w).  True when it got a child cache."""
        cdef ms_worker *wk = self._worker(w)
        cdef kmem_cache *s
        if root_index < 0 or root_index >= MAX_ROOTS or roots[root_index] == NULL:
            return False
        if self.preempted is None:
            self.preempted = {}
        if w in self.preempted:
            raise RuntimeError(f"worker {w} is already inside an allocation")
        s = memcg_kmem_get_cache(roots[root_index], &wk.memcg)
        self.preempted[w] = (<size_t>s, root_index)
        return s != roots[root_index]

    def alloc_resume(self, int w):
        """The preempted allocation of worker w goes on: slab_alloc from the
        cache it took.  True when it got an object (worker w holds it)."""
        cdef ms_worker *wk = self._worker(w)
        cdef ms_object *o
        if self.preempted is None or w not in self.preempted:
            raise RuntimeError(f"worker {w} is not inside an allocation")
        addr, root_index = self.preempted.pop(w)
        o = kmem_cache_alloc_from(<kmem_cache *><size_t>addr)
        if o == NULL:
            return False
        wk.held[wk.n_held] = o
        wk.n_held += 1
        wk.live_by_root[root_index] += 1
        return True

    def free(self, int w, long i):
        """Worker w frees its held object i (the last one moves to i)."""
        cdef ms_worker *wk = self._worker(w)
        if i < 0 or i >= wk.n_held:
            raise IndexError(f"worker {w} holds {wk.n_held} objects")
        worker_free_held(wk, i)

    def send(self, int w, long i, int to):
        """Worker w hands its object i to worker `to`'s mailbox."""
        cdef ms_worker *wk = self._worker(w)
        if i < 0 or i >= wk.n_held:
            raise IndexError(f"worker {w} holds {wk.n_held} objects")
        if to < 0 or to >= self.workers or to == w:
            raise IndexError(f"bad receiver {to}")
        worker_send(wk, i, to)

    def receive(self, int w):
        """Worker w frees one object from its mailbox; False when empty."""
        cdef ms_worker *wk = self._worker(w)
        if mpsc_empty(&wk.mailbox):
            return False
        worker_receive_one(wk)
        return True

    def held(self, int w):
        if w < 0 or w >= self.workers:
            raise IndexError(f"no worker {w}")
        return workers[w].n_held

    def held_caches(self, int w):
        """Cache id of each object worker w holds, in order."""
        return [workers[w].held[i].page.cache.id for i in range(workers[w].n_held)]

    # ---- asynchronous machinery ----
    def run_work(self, int n=1, wq=None, cpu=None):
        """Run up to n queued works; how many ran.  Which pool runs next is
        the scheduler's freedom: with wq (a workqueue name) and cpu, only
        that CPU's pool of that workqueue; else the first pool with a work
        (workqueue order, then cpu order)."""
        cdef int i, done = 0, q = -1, c = -1
        _as_cpu(self.sys_cpu)
        if wq is not None:
            q = WORKQUEUE_NAMES.index(wq)
            c = cpu
            if c < 0 or c >= ms_nr_cpu_ids:
                raise IndexError(f"no cpu {cpu}")
        for i in range(n):
            if q >= 0:
                if not wq_run_pool(q, c):
                    break
            elif not wq_run_one():
                break
            done += 1
        return done

    def pending_work(self):
        """Works queued on every pool of every workqueue."""
        return sum(self.work_pools().values())

    def work_pools(self):
        """{(workqueue name, cpu): queued works} of the pools that have some."""
        out = {}
        cdef mpsc_node *x
        cdef int i, c, k
        for i in range(WQ_NR):
            for c in range(ms_nr_cpu_ids):
                k = 0
                x = wqs[i].pools[c].q.tail
                while x != NULL:
                    if x != &wqs[i].pools[c].q.stub:
                        k += 1
                    x = x.next
                if k:
                    out[(WORKQUEUE_NAMES[i], c)] = k
        return out

    def grace_period(self, cpu=None):
        """End one grace period: run the RCU callbacks queued before it, on
        one CPU's list (cpu) or on every list, lowest cpu first (the order
        between lists is the scheduler's freedom)."""
        cdef int c
        cdef int n
        _as_cpu(self.sys_cpu)
        if cpu is None:
            with nogil:
                n = rcu_process_callbacks()
            return n
        c = cpu
        if c < 0 or c >= ms_nr_cpu_ids:
            raise IndexError(f"no cpu {cpu}")
        with nogil:
            n = rcu_process_callbacks_set(&c, 1)
        return n

    def callback_lists(self):
        """{cpu: queued RCU callbacks} of the lists that have some."""
        out = {}
        cdef int c, k
        for c in range(ms_nr_cpu_ids):
            k = rcu_list_len(c)
            if k:
                out[c] = k
        return out

    def pending_callbacks(self):
        return rcu_pending_callbacks()

    def settle(self, int rounds=50):
        """Run work and grace periods until nothing is pending."""
        cdef int i
        _as_cpu(self.sys_cpu)
        for i in range(rounds):
            if not self.run_work(1000000) and not self.run_stock_drains() and not self.grace_period():
                break

    def run_stock_drains(self):
        """Run every stock drain work drain_all_stock queued, each on its
        cpu (the cpu's owner runs it at its next operation otherwise); how
        many ran."""
        cdef int cpu, done = 0
        for cpu in range(ms_nr_cpu_ids):
            if cpu_online(cpu) and per_cpu_ptr_L(memcg_stock, cpu)[STOCK_WORK]:
                _as_cpu(cpu)
                drain_local_stock()
                done += 1
        _as_cpu(self.sys_cpu)
        return done

    def cpu_down(self, int cpu):
        """_cpu_down of a worker's cpu, from the system cpu (the control
        cpu): out of the online mask, then the dead callbacks (hotplug.pxi).
        The worker stays off until cpu_up (no migration here)."""
        if cpu < 0 or cpu >= self.workers or not cpu_online(cpu):
            raise ValueError(f"cpu {cpu} is not an online worker cpu")
        _as_cpu(self.sys_cpu)
        cpus_write_lock()
        set_cpu_online(cpu, False)
        cpu_down_callbacks(cpu)
        cpus_write_unlock()

    def cpu_up(self, int cpu):
        if cpu < 0 or cpu >= self.workers or cpu_online(cpu):
            raise ValueError(f"cpu {cpu} is not an offline worker cpu")
        _as_cpu(self.sys_cpu)
        cpus_write_lock()
        set_cpu_online(cpu, True)
        cpus_write_unlock()

    def drain(self):
        """Every worker frees everything, then every cgroup is removed and
        the module caches (all roots but the built-in ones) destroyed."""
        cdef int w
        cdef mem_cgroup *m
        cdef ms_list *n
        for w in range(self.workers):
            self._worker(w)
            while workers[w].n_held:
                worker_free_held(&workers[w], workers[w].n_held - 1)
            while workers[w].n_keep:
                worker_free_keep(&workers[w], workers[w].n_keep - 1)
        for w in range(self.workers):
            self._worker(w)
            while not mpsc_empty(&workers[w].mailbox):
                worker_receive_one(&workers[w])
            drain_local_stock()     # the worker stops (its cpu's stock returned)
        _as_cpu(self.sys_cpu)
        for w in range(self.workers):
            if workers[w].memcg != root_mem_cgroup:
                mem_cgroup_migrate(&workers[w].memcg, root_mem_cgroup)
        while True:
            removed = False
            for mid in self.memcg_ids():
                m = _memcg_by_id(mid)
                if m != root_mem_cgroup and m.state == MEMCG_ONLINE and mem_cgroup_rmdir(m) == 0:
                    removed = True
            if not removed:
                break
        for i in range(len(BUILTIN_ROOTS), MAX_ROOTS):
            while roots[i] != NULL:
                kmem_cache_destroy(i)
        self.settle(1000)
        # what the cpus' slabs keep is not flushed: counted, then shrunk
        before = [gstats[G_PINNED_CACHES], gstats[G_PINNED_PAGES], gstats[G_PINNED_MEMCGS]]
        _as_cpu(self.sys_cpu)
        pinned_check()
        shrink_all_caches()
        self.settle(1000)
        return {"caches": gstats[G_PINNED_CACHES] - before[0], "pages": gstats[G_PINNED_PAGES] - before[1],
                "memcgs": gstats[G_PINNED_MEMCGS] - before[2]}

    def memcg_ids(self):
        out = []
        cdef ms_list *n = memcg_all.next
        while n != &memcg_all:
            out.append((<mem_cgroup *>n.owner).id)
            n = n.next
        return out

    # ---- checking ----
    def check(self, bint final=False, bint full=True):
        """Run every checker now (full: visit every object, or count-only as
        most checkpoints of a run do); the violations it found (dicts)."""
        cdef long first = READ_ONCE_L(&nr_violations)
        _as_cpu(self.sys_cpu)
        run_checkers(final, full)
        return violations_since(first)

    def violations(self):
        return violations_since(0)

    def snapshot(self):
        """Every counter, stat, refcount, state and list of the model, with
        memcgs and caches named by their ids (the differential tests compare
        this with stress.reference.Model.snapshot())."""
        cdef ms_list *n
        cdef ms_list *n2
        cdef mem_cgroup *m
        cdef kmem_cache *s
        cdef kmem_cache *c
        cdef ms_page *pg
        cdef int i, cpu
        cdef long *p
        memcgs = {}
        n = memcg_all.next
        while n != &memcg_all:
            m = <mem_cgroup *>n.owner
            pcpu = []
            loc = [0, 0]
            for cpu in range(ms_nr_cpu_ids):
                p = per_cpu_ptr_L(m.pcpu, cpu)
                pcpu.append([p[0], p[1]])
                loc[0] += p[2]
                loc[1] += p[3]
            kids = []
            n2 = m.children.next
            while n2 != &m.children:
                kids.append((<mem_cgroup *>n2.owner).id)
                n2 = n2.next
            kc = []
            n2 = m.kmem_caches.next
            while n2 != &m.kmem_caches:
                kc.append((<kmem_cache *>n2.owner).id)
                n2 = n2.next
            memcgs[m.id] = {
                "parent": m.parent.id if m.parent != NULL else None,
                "state": _state_name(m.state),
                "kmem_state": m.kmem_state,
                "kmemcg_id": m.kmemcg_id,
                "css": percpu_ref_count(&m.css),
                "css_dying": bool(percpu_ref_is_dying(&m.css)),
                "memory": m.memory,
                "failcnt": m.failcnt,
                "limit": None if m.limit == 0x7fffffffffffffff else m.limit,
                "stat": [m.stat[0], m.stat[1]],
                "pcpu_stat": pcpu,
                "local": loc,
                "nr_dying_descendants": m.nr_dying_descendants,
                "online_cnt": m.online_cnt,
                "offline_pending": bool(m.offline_pending),
                "children": kids,
                "kmem_caches": kc,
            }
            n = n.next
        rootsd = {}
        caches = {}
        for i in range(MAX_ROOTS):
            s = roots[i]
            if s == NULL:
                continue
            entries = {}
            for j in range(s.memcg_caches.size):
                if s.memcg_caches.entries[j] != NULL:
                    entries[j] = s.memcg_caches.entries[j].id
            kids = []
            rootsd[i] = {
                "id": s.id, "size": s.size, "objects": s.objects, "order": s.order,
                "reclaimable": bool(s.reclaimable), "typesafe": bool(s.typesafe),
                "refcount": s.refcount, "dying": bool(s.dying),
                "array_size": s.memcg_caches.size, "entries": entries,
                "children": kids, "pages": _page_list(s),
                "cpu_free": [per_cpu_ptr_L(s.cpu_slab, cpu)[2] for cpu in range(ms_nr_cpu_ids)],
                "partial": _partial_lists(s),
            }
            n = s.children.next
            while n != &s.children:
                c = <kmem_cache *>n.owner
                kids.append(c.id)
                caches[c.id] = {
                    "root": i, "memcg": c.memcg.id, "refcnt": percpu_ref_count(&c.refcnt),
                    "dying": bool(percpu_ref_is_dying(&c.refcnt)),
                    "deactivated": bool(c.deactivated), "shut_down": bool(c.shut_down),
                    "pages": _page_list(c),
                    "cpu_free": [per_cpu_ptr_L(c.cpu_slab, cpu)[2] for cpu in range(ms_nr_cpu_ids)],
                    "partial": _partial_lists(c),
                }
                n = n.next
        releasing = []
        n = caches_releasing.next
        while n != &caches_releasing:
            releasing.append((<kmem_cache *>n.owner).id)
            n = n.next
        return {
            "memcgs": memcgs,
            "roots": rootsd,
            "caches": caches,
            "caches_releasing": releasing,
            "node_stat": [percpu_counter_sum(&node_stat[0]), percpu_counter_sum(&node_stat[1])],
            # memcg_stock per cpu: [memcg id or None (no pages), pages, drain queued]
            "stock": [[(<mem_cgroup *>per_cpu_ptr_L(memcg_stock, cpu)[STOCK_CACHED]).id
                       if per_cpu_ptr_L(memcg_stock, cpu)[STOCK_NR] else None,
                       per_cpu_ptr_L(memcg_stock, cpu)[STOCK_NR],
                       bool(per_cpu_ptr_L(memcg_stock, cpu)[STOCK_FLAGS])]
                      for cpu in range(ms_nr_cpu_ids)],
            "cpus_online": [bool(cpu_online(cpu)) for cpu in range(ms_nr_cpu_ids)],
            "nr_cache_ids": memcg_nr_cache_ids,
            "workers": [{"memcg": workers[w].memcg.id, "held": self.held_caches(w),
                         "mailbox": _mailbox_list(&workers[w].mailbox)}
                        for w in range(self.workers)],
            "pending_work": self.pending_work(),
            "work_pools": {f"{wqn}/{cpun}": nw for (wqn, cpun), nw in self.work_pools().items()},
            "rcu_lists": self.callback_lists(),
        }

    # ---- test-only hooks: corrupt the state a checker guards ----
    def corrupt(self, str what):
        """A deliberate corruption for checker tests: charge, stats, refs,
        lists, objects, use-after-free, double-free, percpu-owner, lockdep,
        refcount-negative, killed-cache, double-release, cpu-freelist-count,
        cpu-freelist, inuse, page-owner, entries-owner, write-after-free,
        rcu-lockdep, lock-order, local-stats, sysfs-freed-cache,
        kobject-negative, sysfs-unlinked, root-charge, root-stats,
        stock-count, stock-root, partial-count, cpu-partial-twice,
        offline-cpu-write."""
        cdef mem_cgroup *m
        cdef mem_cgroup *mm
        cdef kmem_cache *c = NULL
        cdef ms_list *n
        cdef ms_page *pg
        cdef long *p
        cdef int i
        global nr_sysfs_caches
        _as_cpu(self.sys_cpu)
        if what == "charge":
            # an online memcg's counter one page above its live pages
            atomic_add_L(&workers[0].memcg.memory, 1)
        elif what == "root-charge":
            # the root charged directly (what 5.4's mem_cgroup_is_root()
            # short-cuts never do): its counter exceeds its children's
            atomic_add_L(&root_mem_cgroup.memory, 1)
        elif what == "root-stats":
            atomic_add_L(&root_mem_cgroup.stat[0], 1)
        elif what == "stock-count":
            # worker 0's cpu stock claims one page more than was charged
            p = per_cpu_ptr_L(memcg_stock, 0)
            if p[STOCK_NR] == 0:
                raise RuntimeError("worker 0's cpu must hold a stock")
            p[STOCK_NR] += 1
        elif what == "stock-root":
            # a stock of the root ("this never be root cgroup")
            p = per_cpu_ptr_L(memcg_stock, self.sys_cpu)
            p[STOCK_CACHED] = <long>root_mem_cgroup
            p[STOCK_NR] = 1
        elif what == "stats":
            atomic_add_L(&node_stat[0].count, 1)
        elif what == "refs":
            css_get(root_mem_cgroup)
        elif what == "lists":
            c = self._any_child_cache()
            list_del_init(&c.kmem_caches_node)
        elif what == "objects":
            if workers[0].n_held == 0 or self.workers < 2:
                raise RuntimeError("needs two workers and an object held by worker 0")
            workers[1].held[workers[1].n_held] = workers[0].held[0]
            workers[1].n_held += 1
        elif what == "use-after-free":
            m = workers[0].memcg
            if m == root_mem_cgroup:
                raise RuntimeError("worker 0 must be in a non-root memcg")
            m.magic = POISON_MAGIC
            _as_cpu(0)
            worker_alloc(&workers[0], roots[0])
            m.magic = MEMCG_MAGIC
        elif what == "double-free":
            if workers[0].n_held == 0:
                raise RuntimeError("worker 0 must hold an object")
            _as_cpu(0)
            kmem_cache_free(workers[0].held[0])
            kmem_cache_free(workers[0].held[0])
            workers[0].held[0].state = OBJ_ALLOCATED
            fetch_add_L(&ms_threads[0].counters[CNT_FREE], -1)
        elif what == "percpu-owner":
            i = ms_cpu_owner[self.sys_cpu]
            ms_cpu_owner[self.sys_cpu] = -7
            mod_memcg_state(root_mem_cgroup, 0, 0)
            ms_cpu_owner[self.sys_cpu] = i
        elif what == "offline-cpu-write":
            # a stat written from worker 0's CPU after it went down (a task
            # migrate_tasks missed)
            if cpu_online(0):
                raise RuntimeError("cpu_down(0) first")
            _as_cpu(0)
            mod_memcg_state(root_mem_cgroup, 0, 1)
        elif what == "lockdep":
            memcg_update_cache_params(roots[0], roots[0].memcg_caches.size)
        elif what == "refcount-negative":
            c = self._any_child_cache()
            percpu_ref_kill(&c.refcnt)
            self.grace_period()
            percpu_ref_put_many(&c.refcnt, percpu_ref_count(&c.refcnt) + 1)
        elif what == "killed-cache":
            # kill worker 0's cache of root 0 while memcg_caches still names it
            if workers[0].memcg.kmemcg_id < 0:
                raise RuntimeError("worker 0 must be in a non-root memcg")
            c = roots[0].memcg_caches.entries[workers[0].memcg.kmemcg_id]
            if c == NULL:
                raise RuntimeError("worker 0's memcg has no cache of root 0 yet")
            percpu_ref_kill(&c.refcnt)
            self.grace_period()
            _as_cpu(0)
            worker_alloc(&workers[0], c.root)
        elif what == "double-release":
            # free a cgroup all the way, then release its struct again
            self._freed_memcg()
            quarantine_put(memcg_quarantine.prev, &memcg_quarantine, &nr_memcg_quarantine)
        elif what == "cpu-freelist-count":
            # one more object than the cpu freelist holds (worker 0's slab)
            self._frozen_slot(0)[2] += 1
        elif what == "cpu-freelist":
            # the cpu freelist loses its head: its count is one too many
            p = self._frozen_slot(0)
            if p[1] == 0:
                raise RuntimeError("worker 0's cpu freelist is empty")
            p[1] = <long>(<ms_object *>p[1]).next_free
        elif what == "inuse":
            pg = <ms_page *>self._frozen_slot(0)[0]
            pg.state += 2
        elif what == "partial-count":
            # a node partial list one page shorter than nr_partial says
            c = self._any_child_cache()
            c.nr_partial += 1
        elif what == "cpu-partial-twice":
            # worker 0's cpu slab also on its cpu partial list
            p = self._frozen_slot(0)
            pg = <ms_page *>p[0]
            pg.next = <ms_page *>p[CS_PARTIAL]
            p[CS_PARTIAL] = <long>pg
        elif what == "page-owner":
            # a page of worker 0's memcg's cache recorded as charged to that
            # memcg's parent, while the memcg is online
            pg = <ms_page *>self._frozen_slot(0)[0]
            if pg.cache.is_root or pg.charged.parent == NULL:
                raise RuntimeError("worker 0's slab must be of a child cache")
            pg.charged = pg.charged.parent
            pg.charged_id = pg.charged.id
        elif what == "entries-owner":
            # two memcgs' caches of root 0 swap their memcg_caches entries
            m = workers[0].memcg
            mm = workers[1].memcg
            if m.kmemcg_id < 0 or mm.kmemcg_id < 0 or m.kmemcg_id == mm.kmemcg_id:
                raise RuntimeError("workers 0 and 1 must be in two non-root memcgs")
            c = roots[0].memcg_caches.entries[m.kmemcg_id]
            roots[0].memcg_caches.entries[m.kmemcg_id] = roots[0].memcg_caches.entries[mm.kmemcg_id]
            roots[0].memcg_caches.entries[mm.kmemcg_id] = c
        elif what == "write-after-free":
            # a write into the limit of a freed (quarantined) memcg
            m = self._freed_memcg()
            WRITE_ONCE_L(&m.limit, 12345)
        elif what == "rcu-lockdep":
            # cache->memcg read outside a read section and slab_mutex, as
            # memcg_uncharge_slab would without its rcu_read_lock
            c = self._any_child_cache()
            m = <mem_cgroup *>READ_ONCE_P(<void **>&c.memcg)
            rcu_dereference_check_held(slab_mutex_held(), "slab_mutex", "cache->memcg_params.memcg (corrupt)")
        elif what == "sysfs-freed-cache":
            # a freed cache left in /sys/kernel/slab: a reader finds it
            c = self._any_child_cache()
            c.magic = POISON_MAGIC
            spin_lock(&sysfs_lock)
            list_del_init(&c.sysfs_node)
            list_add(&c.sysfs_node, &sysfs_caches)     # the reader's pick below is the first entry
            spin_unlock(&sysfs_lock)
            c = kernfs_find_active(&ms_threads[self.sys_cpu].rng)
            while c != NULL:                             # an entry picked past the head: try again
                kernfs_put_active(c)
                c = kernfs_find_active(&ms_threads[self.sys_cpu].rng)
            (<kmem_cache *>sysfs_caches.next.owner).magic = CACHE_MAGIC
        elif what == "kobject-negative":
            # one kobject_put too many on a cache whose kobject is alive
            c = self._any_child_cache()
            p = &c.kobj_ref
            i = p[0]
            p[0] = 0
            kobject_put_cache(c)
            p[0] = i
        elif what == "sysfs-unlinked":
            # a live cache on the ledger of unlinked caches awaiting their
            # kobject's release: its memcg reference is counted twice
            c = self._any_child_cache()
            spin_lock(&sysfs_lock)
            list_del_init(&c.sysfs_node)
            list_add_tail(&c.sysfs_node, &sysfs_unlinked)
            c.in_sysfs = 0
            nr_sysfs_caches -= 1
            spin_unlock(&sysfs_lock)
        elif what == "lock-order":
            # slab_mutex then cgroup_mutex, against mkdir's cgroup_mutex
            # then slab_mutex (memcg_alloc_cache_id growing the arrays)
            _nest_mutexes(&cgroup_mutex, &slab_mutex)
            _nest_mutexes(&slab_mutex, &cgroup_mutex)
        elif what == "kmemcg-id-subtree":
            # a descendant whose kmemcg_id differs from its ancestor's when
            # that ancestor's id is handed over
            m = workers[0].memcg
            if m.parent == NULL or m.parent == root_mem_cgroup:
                raise RuntimeError("worker 0 must be in a memcg below a non-root memcg")
            i = m.kmemcg_id
            m.kmemcg_id = i + 100
            set_kmemcg_id_subtree(m.parent, m.parent.kmemcg_id, m.parent.kmemcg_id)
            m.kmemcg_id = i
        elif what == "shutdown-busy":
            # the shutdown work of a child cache that still has pages
            c = self._any_child_cache()
            kmemcg_shutdown_workfn(&c.shutdown_work)
        elif what == "free-with-caches":
            # memcg_free_kmem's test on a memcg whose kmem_caches is not empty
            memcg_free_kmem_check(workers[0].memcg)
        elif what == "local-stats":
            per_cpu_ptr_L(workers[0].memcg.pcpu, self.sys_cpu)[2] += 1
        else:
            raise ValueError(f"unknown corruption {what!r}")

    cdef mem_cgroup *_freed_memcg(self) except NULL:
        """The last memcg put in quarantine (one is freed first if none is)."""
        if list_empty(&memcg_quarantine):
            self.rmdir(self.mkdir(0))
            self.settle()
        _as_cpu(self.sys_cpu)
        if list_empty(&memcg_quarantine):
            raise RuntimeError("no freed memcg in the quarantine")
        return <mem_cgroup *>memcg_quarantine.prev.owner

    cdef long *_frozen_slot(self, int cpu) except NULL:
        """The cpu slot of the first cache in which `cpu` has a slab."""
        cdef int i
        cdef long *p
        cdef kmem_cache *s
        cdef ms_list *n
        for i in range(MAX_ROOTS):
            if roots[i] == NULL:
                continue
            n = roots[i].children.next
            while n != &roots[i].children:
                s = <kmem_cache *>n.owner
                p = per_cpu_ptr_L(s.cpu_slab, cpu)
                if p[0] != 0:
                    return p
                n = n.next
        raise RuntimeError(f"cpu {cpu} has no slab of a child cache")

    cdef kmem_cache *_any_child_cache(self) except NULL:
        cdef int i
        for i in range(MAX_ROOTS):
            if roots[i] != NULL and not list_empty(&roots[i].children):
                return <kmem_cache *>roots[i].children.next.owner
        raise RuntimeError("no child cache exists")


cdef void _nest_mutexes(ms_mutex *outer, ms_mutex *inner) noexcept nogil:
    ms_mutex_lock(outer)
    ms_mutex_lock(inner)
    ms_mutex_unlock(inner)
    ms_mutex_unlock(outer)


cdef list _page_list(kmem_cache *s):
    """(inuse, frozen, rcu_pending) of each page, in list order."""
    out = []
    cdef ms_list *n = s.pages.next
    cdef ms_page *pg
    while n != &s.pages:
        pg = <ms_page *>n.owner
        out.append((pg.state >> 1, pg.state & 1, pg.rcu_pending))
        n = n.next
    return out


cdef dict _partial_lists(kmem_cache *s):
    """The node's partial list and each cpu's, as indexes into the page
    list; cpu_partial and min_partial."""
    at = {}
    cdef ms_list *n = s.pages.next
    cdef ms_page *pg
    cdef int cpu
    while n != &s.pages:
        at[<long>n.owner] = len(at)
        n = n.next
    node = []
    n = s.partial.next
    while n != &s.partial:
        node.append(at[<long>n.owner])
        n = n.next
    cpus = []
    for cpu in range(ms_nr_cpu_ids):
        lst = []
        pg = <ms_page *>per_cpu_ptr_L(s.cpu_slab, cpu)[CS_PARTIAL]
        while pg != NULL:
            lst.append(at[<long>pg])
            pg = pg.next
        cpus.append(lst)
    orders = []
    n = s.pages.next
    while n != &s.pages:
        orders.append((<ms_page *>n.owner).order)
        n = n.next
    return {"node": node, "cpus": cpus, "cpu_partial": s.cpu_partial, "min_partial": s.min_partial,
            "page_orders": orders}


cdef list _mailbox_list(mpsc_queue *q):
    out = []
    cdef mpsc_node *x = q.tail
    while x != NULL:
        if x != &q.stub:
            out.append((<ms_object *>x).page.cache.id)
        x = x.next
    return out
