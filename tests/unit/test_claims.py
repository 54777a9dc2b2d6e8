"""The series' claims, as deterministic single-threaded scenarios.

Each scenario drives the native Model (stresscore._core.Model) step by step
and checks explicit numbers from its snapshot plus every checker
(``check() == []``); most run against the reference model too
(stress/reference/), which must agree snapshot for snapshot.

Claims (Roman Gushchin, "mm: reparent slab memory on cgroup removal", 5.3):
- a memcg removed while its objects live is released and freed (reparent);
  before the series it stayed dying until its last object was freed (legacy);
- frees after the reparenting uncharge the parent; the parent's charge and
  the global stats stay exact;
- a deactivated cache never serves a new allocation;
- an empty deactivated cache is shut down and drops its memcg reference;
- destroying a root cache while its children are being killed leaks nothing.
"""
import pytest

from stress.reference import Model as Reference
from stresscore._core import Model as Native

DENTRY = 0          # built-in root: 21 objects per page, order 0, reclaimable
SIGHAND = 3         # built-in root: 15 objects per page, order 3, TYPESAFE_BY_RCU
MODES = ["reparent", "legacy"]


class Both:
    """The native model and the reference driven together: every call goes
    to both, results and snapshots must agree, the native result is
    returned."""

    def __init__(self, workers=2, mode="reparent", reference=True):
        self.n = Native(workers=workers, mode=mode)
        self.r = Reference(workers=workers, mode=mode) if reference else None

    def __getattr__(self, name):
        fn = getattr(self.n, name)
        if self.r is None or name in ("check", "violations", "close"):
            return fn

        def call(*args):
            a = fn(*args)
            b = getattr(self.r, name)(*args)
            assert a == b, f"{name}{args}: native {a!r}, reference {b!r}"
            if name not in ("snapshot", "memcg_ids", "held", "held_caches",
                            "pending_work", "pending_callbacks", "root_live_objects"):
                assert self.n.snapshot() == self.r.snapshot(), f"snapshots differ after {name}{args}"
            return a
        return call

    def snap(self):
        return self.n.snapshot()

    def clean(self):
        assert self.n.check() == []


def stocked(s, mid):
    """Pages precharged for mid's subtree in every cpu's memcg_stock (its
    page counter holds them as well as the live pages)."""
    def under(x):
        while x is not None:
            if x == mid:
                return True
            x = s["memcgs"][x]["parent"] if x in s["memcgs"] else None
        return False
    return sum(n for memcg, n, _ in s["stock"] if memcg is not None and under(memcg))


def child_cache_of(m, root, mid):
    """Id of the child cache of `root` that memcg `mid` uses (its entry)."""
    s = m.snap()
    return s["roots"][root]["entries"][s["memcgs"][mid]["kmemcg_id"]]


def populate(m, w, mid, root, n):
    """Worker w joins memcg mid and allocates n objects of its child cache of
    `root` (the first allocation falls back to the root cache and queues the
    cache's creation; it is freed again).  Returns the child cache id."""
    m.migrate(w, mid)
    s = m.snap()
    if s["memcgs"][mid]["kmemcg_id"] not in s["roots"][root]["entries"]:
        assert m.alloc(w, root)
        assert m.held_caches(w)[-1] == s["roots"][root]["id"]      # root fallback
        m.free(w, m.held(w) - 1)
        assert m.run_work(1) == 1                                   # memcg_kmem_cache_create
    cid = child_cache_of(m, root, mid)
    for _ in range(n):
        assert m.alloc(w, root)
        assert m.held_caches(w)[-1] == cid
    return cid


# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_removed_memcg_with_live_objects_is_freed_only_when_reparenting(mode):
    m = Both(mode=mode)
    a = m.mkdir(0)
    cid = populate(m, 0, a, DENTRY, 5)
    m.migrate(0, 0)             # the task leaves; its dentries stay in use
    assert m.rmdir(a)
    m.settle()
    s = m.snap()
    assert s["workers"][0]["held"] == [cid] * 5
    if mode == "reparent":
        assert a not in m.memcg_ids()               # released and freed
        assert s["caches"][cid]["memcg"] == 0       # the cache now charges the root
        assert s["caches"][cid]["deactivated"] and s["caches"][cid]["dying"]
        assert s["memcgs"][0]["nr_dying_descendants"] == 0
    else:
        assert s["memcgs"][a]["state"] == "offline"  # dying, pinned by its cache
        assert s["caches"][cid]["memcg"] == a
        assert s["memcgs"][0]["nr_dying_descendants"] == 1
    m.clean()
    # the last objects go: now the legacy memcg goes too
    while m.held(0):
        m.free(0, 0)
    m.receive(0)                # one more worker operation: answers a kick, if any
    m.settle()
    assert a not in m.memcg_ids()
    assert cid not in m.snap()["caches"]
    assert m.snap()["memcgs"][0]["nr_dying_descendants"] == 0
    m.clean()
    m.drain()
    assert m.check(final=True) == []


@pytest.mark.parametrize("mode", MODES)
def test_frees_after_reparenting_uncharge_the_parent_exactly(mode):
    m = Both(mode=mode)
    p = m.mkdir(0)
    c = m.mkdir(p)
    cid = populate(m, 0, c, DENTRY, 30)         # 30 dentries: 2 pages of 21
    s = m.snap()
    assert [s["memcgs"][x]["memory"] - stocked(s, x) for x in (0, p, c)] == [2, 2, 2]
    assert stocked(s, c) == 30                  # one batch of 32, two pages used
    root_pages = len(s["roots"][DENTRY]["pages"])   # the root fallback's page
    assert s["node_stat"] == [2 + root_pages, 0]
    m.migrate(0, p)
    assert m.rmdir(c)
    m.settle()
    s = m.snap()
    expect_memcg = p if mode == "reparent" else c
    assert s["caches"][cid]["memcg"] == expect_memcg
    assert s["memcgs"][p]["memory"] == 2 and s["memcgs"][0]["memory"] == 2
    m.clean()
    freed_pages = 0
    while m.held(0):
        m.free(0, m.held(0) - 1)
        s = m.snap()
        pages = len(s["caches"][cid]["pages"]) if cid in s["caches"] else 0
        # the parent is uncharged page by page, and so is everything above
        assert s["memcgs"][p]["memory"] == pages
        assert s["memcgs"][0]["memory"] == pages
        assert s["node_stat"][0] == pages + root_pages
        # the hierarchical stat of the parent plus every residue below it
        # is exact (the checker compares it with the page walk too)
        resid = sum(sum(cpu[0] for cpu in s["memcgs"][x]["pcpu_stat"])
                    for x in s["memcgs"] if x in (p, c))
        assert s["memcgs"][p]["stat"][0] + resid == pages
        freed_pages = 2 - pages
        m.clean()
    assert freed_pages == 2
    m.settle()
    s = m.snap()
    assert cid not in s["caches"] and c not in m.memcg_ids()
    assert s["memcgs"][p]["memory"] == 0 and s["memcgs"][0]["memory"] == 0
    m.clean()
    m.drain()
    assert m.check(final=True) == []


@pytest.mark.parametrize("mode", MODES)
def test_a_deactivated_cache_never_serves_a_new_allocation(mode):
    """Workers keep allocating at every step of the offline (each work item,
    each grace period): no new object comes from a deactivated cache, while
    objects of it are still held and its slabs are still frozen on the
    workers' cpus."""
    m = Both(mode=mode)
    p = m.mkdir(0)
    c = m.mkdir(p)
    cid = populate(m, 0, c, DENTRY, 3)
    populate(m, 1, c, DENTRY, 3)
    m.migrate(0, p)             # both leave, keep their objects, go on allocating
    m.migrate(1, 0)
    assert m.rmdir(c)
    seen_deactivated = False
    for _ in range(40):
        for w in (0, 1):
            for root in (DENTRY, SIGHAND):
                if m.alloc(w, root):
                    new = m.held_caches(w)[-1]
                    s = m.snap()
                    assert new != cid
                    assert new not in s["caches"] or not s["caches"][new]["deactivated"]
        s = m.snap()
        seen_deactivated |= cid in s["caches"] and s["caches"][cid]["deactivated"]
        if not m.run_work(1) and not m.grace_period():
            break
    assert seen_deactivated
    assert m.snap()["workers"][0]["held"].count(cid) == 3
    m.clean()
    m.drain()
    assert m.check(final=True) == []


@pytest.mark.parametrize("mode", MODES)
def test_an_empty_deactivated_cache_is_shut_down_and_drops_its_memcg_reference(mode):
    m = Both(mode=mode)
    p = m.mkdir(0)
    c = m.mkdir(p)
    cid = populate(m, 0, c, DENTRY, 0)      # created, never used: no page at all
    m.migrate(0, 0)
    assert m.rmdir(c)
    holder = None
    vanished = False
    want_css = None         # the holder's css count once the cache let go of it
    dropped = False
    for _ in range(40):
        before = m.snap()
        if cid in before["caches"]:
            holder = before["caches"][cid]["memcg"]
        if not m.run_work(1) and not m.grace_period():
            break
        after = m.snap()
        if cid in before["caches"] and cid not in after["caches"]:
            vanished = True
            assert before["caches"][cid]["deactivated"] and before["caches"][cid]["refcnt"] == 0
            assert cid not in after["memcgs"].get(holder, {"kmem_caches": []})["kmem_caches"]
            if holder in before["memcgs"]:
                want_css = before["memcgs"][holder]["css"] - 1
        # the cache's reference on its memcg (the parent once reparented;
        # the dying memcg itself in legacy) goes with its kobject: at the
        # shutdown, or when the sysfs_slab_remove_workfn the shutdown queued
        # drops the kobject's last reference
        if want_css is not None and (holder not in after["memcgs"] or after["memcgs"][holder]["css"] == want_css):
            dropped = True
    assert vanished and dropped
    assert holder == (p if mode == "reparent" else c)
    s = m.snap()
    assert c not in s["memcgs"]
    assert s["memcgs"][p]["kmem_caches"] == []
    m.clean()
    m.drain()
    assert m.check(final=True) == []


MODULE = {"plain": (256, 16, 0, False, False), "typesafe": (1024, 16, 2, False, True)}


@pytest.mark.parametrize("steps", range(0, 9))
@pytest.mark.parametrize("kind", sorted(MODULE))
@pytest.mark.parametrize("mode", MODES)
def test_destroying_a_root_while_its_children_are_killed_leaks_nothing(mode, kind, steps):
    """rmdir, then `steps` single steps of the offline (work items, grace
    periods: the children are deactivated, then killed), then the module
    unloads (kmem_cache_destroy) before anything settles."""
    m = Both(mode=mode)
    idx = m.kmem_cache_create(*MODULE[kind])
    a = m.mkdir(0)
    b = m.mkdir(0)
    ca = populate(m, 0, a, idx, 20)
    cb = populate(m, 1, b, idx, 20)
    for w in (0, 1):            # the module frees its objects before unloading
        while m.held(w):
            m.free(w, 0)
    m.migrate(0, 0)
    m.migrate(1, 0)
    assert m.rmdir(a) and m.rmdir(b)
    for _ in range(steps):
        if not m.run_work(1):
            m.grace_period()
    assert m.kmem_cache_destroy(idx)
    assert m.violations() == []
    m.settle()
    s = m.snap()
    assert idx not in s["roots"]
    assert ca not in s["caches"] and cb not in s["caches"]
    assert s["caches"] == {} and s["caches_releasing"] == []
    assert m.memcg_ids() == [0]
    # the root's counter keeps what pages freed after their cache was
    # reparented to root were charged (memcg_uncharge_slab's root branch);
    # the final check holds it equal to the children's counters at free
    assert s["memcgs"][0]["memory"] >= 0
    assert s["node_stat"][1] == 0           # no unreclaimable page left (the module's)
    m.clean()
    m.drain()
    assert m.check(final=True) == []
    assert m.violations() == []


@pytest.mark.parametrize("kind", sorted(MODULE))
def test_destroy_right_after_the_last_free_leaks_nothing(kind):
    """A module frees its last object and unloads at once: the workers' cpu
    slabs still hold the (now empty) pages."""
    m = Both()
    idx = m.kmem_cache_create(*MODULE[kind])
    a = m.mkdir(0)
    populate(m, 0, a, idx, 3)
    while m.held(0):
        m.free(0, 0)
    assert m.kmem_cache_destroy(idx)
    assert m.violations() == []
    m.settle()
    assert m.snap()["caches"] == {}
    m.clean()
    m.drain()
    assert m.check(final=True) == []


def test_merged_root_survives_one_destroy():
    m = Both()
    i = m.kmem_cache_create(256, 16, 0, False, False)
    assert m.kmem_cache_create(256, 16, 0, False, False) == i     # merged
    assert m.snap()["roots"][i]["refcount"] == 2
    assert m.alloc(0, i)
    assert m.kmem_cache_destroy(i)                                 # one reference dropped
    assert m.snap()["roots"][i]["refcount"] == 1
    assert not m.kmem_cache_destroy(i)                             # an object is still held
    m.free(0, 0)
    assert m.kmem_cache_destroy(i)
    assert i not in m.snap()["roots"]
    m.clean()


def test_dying_memcgs_pile_up_only_in_legacy_mode():
    """The control group: many short-lived cgroups whose dentries outlive
    them (a dentry used by another application)."""
    dying = {}
    for mode in MODES:
        m = Both(mode=mode, reference=(mode == "reparent"))
        for _ in range(10):
            x = m.mkdir(0)
            populate(m, 0, x, DENTRY, 2)
            m.send(0, 0, 1)                 # the other worker keeps one
            m.migrate(0, 0)
            assert m.rmdir(x)
            m.settle()
        dying[mode] = m.snap()["memcgs"][0]["nr_dying_descendants"]
        m.clean()
        m.drain()
        assert m.check(final=True) == []
    assert dying == {"reparent": 0, "legacy": 10}


@pytest.mark.parametrize("mode", MODES)
def test_destroy_with_objects_names_the_cache_that_holds_them(mode):
    """kmem_cache_destroy of a root whose child cache still has an object:
    the leak names that child cache, its pages and its objects in use
    (list_slab_objects), not only the root."""
    m = Native(workers=2, mode=mode)
    i = m.kmem_cache_create(512, 8, 0, False, False)
    mid = m.mkdir(0)
    m.migrate(0, mid)
    assert m.alloc(0, i)        # from the root: queues the child's creation
    m.settle()
    m.free(0, 0)
    assert m.alloc(0, i)
    assert m.alloc(0, i)
    m.free(0, 0)
    assert not m.kmem_cache_destroy(i, True)
    leaks = [v for v in m.violations() if v["invariant"] == "leak"]
    assert len(leaks) == 1
    msg = leaks[0]["message"]
    assert "child cache" in msg and f"root {i}," in msg, msg
    assert f"memcg {mid}" in msg, msg
    assert "holds 1 slab pages, 1 objects in use" in msg, msg


@pytest.mark.parametrize("mode", MODES)
def test_an_allocation_preempted_across_the_shrink_pins_its_cache(mode):
    """5.3/5.4: an allocation that took a child cache before its memcg's
    offline and goes on after the deactivation's shrink (flush_all) freezes
    a new page on its cpu.  Once its object is freed, that empty cpu slab is
    all the killed cache has: nobody allocates from the cache again, so
    nothing flushes it, and the page's references keep the cache (and, in
    legacy mode, the memcg it pins).  The drain's pinned check counts it;
    the drain's shrink (a sysfs `shrink` write) then frees it and the end
    checks hold."""
    m = Native(workers=2, mode=mode)
    mid = m.mkdir(0)
    m.migrate(0, mid)
    assert m.alloc(0, DENTRY)           # from the root: queues the child's creation
    m.settle()
    m.free(0, 0)
    assert m.alloc_preempted(0, DENTRY)     # took the child cache, preempted
    m.migrate(0, 0)                     # the task moves on, the cgroup goes
    assert m.rmdir(mid)
    m.settle()                          # offline, grace period, shrink, kill
    assert m.alloc_resume(0)            # a new page of the killed cache
    m.free(0, 0)
    m.settle()
    snap = m.snapshot()
    killed = [c for c in snap["caches"].values() if c["dying"] and c["pages"]]
    assert killed, snap["caches"]
    assert m.check() == []
    pinned = m.drain()
    assert pinned == {"caches": 1, "pages": 1, "memcgs": 1 if mode == "legacy" else 0}, pinned
    assert m.check(final=True) == []


def test_a_cache_emptied_before_the_shrink_is_not_pinned():
    """The same steps without the preemption: the object's page is the cpu
    slab the shrink flushes, so the cache goes at its last free."""
    m = Native(workers=2, mode="reparent")
    mid = m.mkdir(0)
    m.migrate(0, mid)
    assert m.alloc(0, DENTRY)
    m.settle()
    m.free(0, 0)
    assert m.alloc(0, DENTRY)           # from the child cache
    m.migrate(0, 0)
    assert m.rmdir(mid)
    m.settle()
    m.free(0, 0)
    m.settle()
    assert m.drain() == {"caches": 0, "pages": 0, "memcgs": 0}
    assert m.check(final=True) == []


@pytest.mark.parametrize("mode", MODES)
def test_partial_lists_follow_slub_through_the_deactivation(mode):
    """SLUB's partial lists (5.4): a free from another cpu to a full page
    that is nobody's slab freezes it onto that cpu's partial list
    (__slab_free, put_cpu_partial); the deactivation sets cpu_partial and
    min_partial to 0 (__kmemcg_cache_deactivate) and its shrink's flush_all
    moves the cpu partial page to the node's list; with cpu_partial 0 a page
    freed from full goes straight on to the node's list, and with
    min_partial 0 an emptied page is discarded at once, so the killed cache
    goes with its last object.  Native and reference agree at every step."""
    m = Both(workers=2, mode=mode)
    mid = m.mkdir(0)
    m.migrate(0, mid)
    m.migrate(1, mid)
    assert m.alloc(0, DENTRY)
    m.settle()
    m.free(0, 0)
    cid = next(k for k, c in m.snap()["caches"].items() if c["memcg"] == mid and c["root"] == DENTRY)
    for _ in range(42):                 # two full pages: the second is cpu 0's slab
        assert m.alloc(0, DENTRY)
    m.send(0, 0, 1)
    m.receive(1)                        # cpu 1 frees an object of the first page
    c = m.snap()["caches"][cid]
    assert c["pages"] == [(20, 1, 0), (21, 1, 0)]
    assert c["partial"] == {"node": [], "cpus": [[], [0], []], "cpu_partial": 30, "min_partial": 5,
                            "page_orders": [0, 0]}
    m.clean()
    m.migrate(0, 0)
    m.migrate(1, 0)
    assert m.rmdir(mid)
    m.settle()                          # offline, grace period, shrink, kill
    c = m.snap()["caches"][cid]
    assert c["dying"] and c["pages"] == [(20, 0, 0), (21, 0, 0)]
    assert c["partial"] == {"node": [0], "cpus": [[], [], []], "cpu_partial": 0, "min_partial": 0,
                            "page_orders": [0, 0]}
    while m.held(0) > 21:               # the second page's objects, from cpu 0
        m.free(0, m.held(0) - 1)
    c = m.snap()["caches"][cid]
    assert c["pages"] == [(20, 0, 0), (1, 0, 0)] and c["partial"]["node"] == [0, 1]
    m.clean()
    while m.held(0):
        m.free(0, 0)
    m.settle()
    assert cid not in m.snap()["caches"]    # emptied, discarded, shut down, released
    m.clean()


def test_a_charge_over_the_limit_falls_back_to_the_minimum_order():
    """allocate_slab (5.4): when the charge of a higher-order slab fails
    (alloc_slab_page's memcg_charge_slab), the page is allocated and
    charged again at s->min; it holds fewer objects and is uncharged by its
    own order.  sighand_cache is order 3 (15 objects); with a limit of 4
    pages every slab falls back to order 0 (one object of 2112 bytes)."""
    m = Both(workers=2)
    mid = m.mkdir(0)
    m.set_limit(mid, 4)
    m.migrate(0, mid)
    assert m.alloc(0, SIGHAND)          # from the root: queues the child's creation
    m.settle()
    m.free(0, 0)
    m.settle()
    cid = next(k for k, c in m.snap()["caches"].items() if c["memcg"] == mid and c["root"] == SIGHAND)
    assert m.alloc(0, SIGHAND) and m.alloc(0, SIGHAND)
    snap = m.snap()
    c = snap["caches"][cid]
    assert c["partial"]["page_orders"] == [0, 0] and c["pages"] == [(1, 0, 0), (1, 1, 0)]
    assert snap["memcgs"][mid]["memory"] == 2 and snap["memcgs"][mid]["failcnt"] > 0
    m.clean()
    while m.held(0):
        m.free(0, 0)
    m.settle()
    m.clean()
    m.drain()
    assert m.snapshot()["memcgs"].get(mid) is None or m.snapshot()["memcgs"][mid]["memory"] == 0
    m.clean()


def test_a_partial_page_discarded_while_callbacks_pile_up_waits_outside_the_read_section():
    """put_cpu_partial runs in an RCU read section (the kernel's
    preempt_disable); with cpu_partial 0 it unfreezes at once, and an empty
    TYPESAFE_BY_RCU page is discarded.  When callbacks pile up the model's
    discard waits for a grace period instead of queueing (discard_slab's
    RCU_FLOOD): that wait must come after the read section, or the model
    reports synchronize_rcu() inside one."""
    m = Native(workers=2)
    mid = m.mkdir(0)
    m.set_limit(mid, 4)                 # sighand's slabs fall back to order 0: one object each
    m.migrate(0, mid)
    assert m.alloc(0, SIGHAND)
    m.settle()
    m.free(0, 0)
    m.settle()
    assert m.alloc(0, SIGHAND) and m.alloc(0, SIGHAND)
    m.migrate(0, 0)
    assert m.rmdir(mid)
    m.settle()                          # deactivated: cpu_partial and min_partial are 0
    for _ in range(1100 * 15):          # root sighand pages freed with no grace period run
        assert m.alloc(1, SIGHAND)
    while m.held(1):
        m.free(1, m.held(1) - 1)
    assert m.pending_callbacks() > 1024
    m.free(0, 0)                        # the cpu slab's object
    m.free(0, 0)                        # a full page: frozen to cpu 0's list, unfrozen, empty: discarded
    assert m.violations() == [] and m.check() == []
