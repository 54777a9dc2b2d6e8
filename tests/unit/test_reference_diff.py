"""Differential tests: the native Model (stresscore._core.Model) against the
plain-Python reference (stress/reference/).

Hypothesis drives both with the same random operations (memcg mkdir, rmdir,
task migration, limits, allocations, own and foreign frees, module caches
including merged and TYPESAFE_BY_RCU ones, work items and grace periods,
with the pool of the workqueue and the CPU's callback list that runs next
drawn too, and the CPUs' queued stock drains) and
asserts after every step that both return the same values and that their
snapshots (every counter, per-cpu residue, refcount, state and list) are
equal.  Each example ends with a drain, compared too, and the native final
checkers must be clean.  Both modes: reparent (the series) and legacy.
"""
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from stress.reference import BUILTIN_ROOTS, Model as Reference
from stresscore._core import Model as Native

WORKERS = 2
MODULE_GEOMETRIES = [
    (256, 16, 0, False, False),     # twice in a row: the second merges with the first
    (256, 16, 0, False, False),
    (512, 8, 0, True, False),       # reclaimable
    (1024, 16, 2, False, True),     # SLAB_TYPESAFE_BY_RCU: never merges, RCU page frees
]
ROOT_INDEXES = list(range(8))       # 0..3 built in, 4..7 module caches (or none)

SETTINGS = settings(max_examples=100, stateful_step_count=80, deadline=None,
                    suppress_health_check=list(HealthCheck))


def _diff(a, b, path="snapshot"):
    """The first difference between two snapshots, for the assertion message."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{path}[{k!r}]: only in {'native' if k in a else 'reference'}"
            d = _diff(a[k], b[k], f"{path}[{k!r}]")
            if d:
                return d
        return None
    if a != b:
        return f"{path}: native {a!r} != reference {b!r}"
    return None


class ModelDiff(RuleBasedStateMachine):
    mode = "reparent"
    fix_root_drift = False
    fix_hotplug = True          # README finding 9 fixed (the checks at the end hold); False: 5.4's fold
    expect_clean = True

    def __init__(self):
        super().__init__()
        kw = dict(workers=WORKERS, mode=self.mode, fix_root_drift=self.fix_root_drift,
                  fix_hotplug_fold=self.fix_hotplug, fix_flush_offline=self.fix_hotplug)
        self.native = Native(**kw)
        self.ref = Reference(**kw)
        assert self.native.pending_callbacks() == 0, "RCU callbacks left over by an earlier Model"

    # ---- helpers ----
    def both(self, name, *args):
        a = getattr(self.native, name)(*args)
        b = getattr(self.ref, name)(*args)
        assert a == b, f"{name}{args}: native returned {a!r}, reference {b!r}"
        return a

    def memcg(self, data, online_only=False):
        ids = self.native.memcg_ids()
        if online_only:
            snap = self.native.snapshot()["memcgs"]
            ids = [i for i in ids if snap[i]["state"] == "online"]
        return data.draw(st.sampled_from(ids))

    # ---- the invariant ----
    @invariant()
    def same_state(self):
        a, b = self.native.snapshot(), self.ref.snapshot()
        assert a == b, _diff(a, b)
        assert self.native.pending_callbacks() == self.ref.pending_callbacks()
        assert self.native.memcg_ids() == self.ref.memcg_ids()

    # ---- worker operations ----
    @rule(w=st.integers(0, WORKERS - 1), root=st.sampled_from(ROOT_INDEXES))
    def alloc(self, w, root):
        self.both("alloc", w, root)

    @rule(w=st.integers(0, WORKERS - 1), n=st.integers(2, 40), root=st.sampled_from(ROOT_INDEXES))
    def alloc_many(self, w, n, root):
        """Enough to fill and replace slab pages (and to spill per-cpu
        stats); the creation of the memcg's cache runs midway."""
        for k in range(n):
            self.both("alloc", w, root)
            if k == n // 2:
                self.both("run_work", 1)

    @rule(w=st.integers(0, WORKERS - 1), n=st.integers(40, 120), root=st.sampled_from([1, 3]),
          keep=st.integers(0, 20))
    def bulk(self, w, n, root, keep):
        """Many objects of a multi-page-slab root, most freed again: enough
        pages to spill the per-cpu stat deltas (|delta| > 32) both ways."""
        self.alloc_many(w, n, root)
        while self.native.held(w) > keep:
            self.both("free", w, self.native.held(w) - 1)

    @rule(w=st.integers(0, WORKERS - 1), data=st.data())
    def free(self, w, data):
        n = self.native.held(w)
        assert n == self.ref.held(w)
        if n:
            self.both("free", w, data.draw(st.integers(0, n - 1)))

    @rule(w=st.integers(0, WORKERS - 1), data=st.data())
    def send(self, w, data):
        n = self.native.held(w)
        if n:
            to = data.draw(st.sampled_from([x for x in range(WORKERS) if x != w]))
            self.both("send", w, data.draw(st.integers(0, n - 1)), to)

    @rule(w=st.integers(0, WORKERS - 1), n=st.integers(1, 4))
    def receive(self, w, n):
        for _ in range(n):
            self.both("receive", w)

    @rule(w=st.integers(0, WORKERS - 1))
    def free_all(self, w):
        while self.native.held(w):
            self.both("free", w, self.native.held(w) - 1)

    # ---- controller operations ----
    @initialize(nested=st.booleans(), same=st.booleans())
    def attach_workers(self, nested, same):
        """Start with the workers in non-root memcgs (their allocations are
        charged and use child caches)."""
        a = self.both("mkdir", 0)
        b = self.both("mkdir", a if nested else 0)
        self.both("migrate", 0, a)
        self.both("migrate", 1, a if same else b)

    def async_steps(self, k):
        """k single steps of the asynchronous machinery: a work item, or a
        grace period when no work is pending."""
        for _ in range(k):
            if not self.both("run_work", 1):
                self.both("grace_period")

    @rule(w=st.integers(0, WORKERS - 1), data=st.data(), k=st.integers(0, 8))
    def churn(self, w, data, k):
        """Move a worker to a new memcg and remove the one it leaves, whose
        objects stay in use; then k steps of the offline (deactivation,
        reparenting in reparent mode, kills, shutdowns)."""
        old = self.native.snapshot()["workers"][w]["memcg"]
        new = self.both("mkdir", self.memcg(data, online_only=True))
        if new is not None:
            self.both("migrate", w, new)
        self.both("rmdir", old)
        self.async_steps(k)

    @rule(w=st.integers(0, WORKERS - 1), slack=st.integers(0, 3), n=st.integers(1, 30),
          root=st.sampled_from([0, 1, 3, 4]))
    def alloc_under_limit(self, w, slack, n, root):
        """A tight limit on the worker's memcg for a while: some page
        charges fail, at the limit or above it."""
        mid = self.native.snapshot()["workers"][w]["memcg"]
        self.both("set_limit", mid, self.native.snapshot()["memcgs"][mid]["memory"] + slack)
        for _ in range(n):
            self.both("alloc", w, root)
        self.both("set_limit", mid, None)

    @rule(data=st.data())
    def mkdir(self, data):
        self.both("mkdir", self.memcg(data))

    @rule(data=st.data(), n=st.integers(3, 6))
    def mkdir_many(self, data, n):
        """Grows the kmemcg id space (MEMCG_CACHES_MIN_SIZE 4, doubling)."""
        for _ in range(n):
            self.both("mkdir", self.memcg(data, online_only=True))

    @rule(data=st.data())
    def rmdir(self, data):
        self.both("rmdir", self.memcg(data))

    @rule(w=st.integers(0, WORKERS - 1), data=st.data())
    def migrate(self, w, data):
        self.both("migrate", w, self.memcg(data))

    @rule(data=st.data(), slack=st.one_of(st.none(), st.integers(0, 64)))
    def set_limit(self, data, slack):
        mid = self.memcg(data)
        limit = None if slack is None else self.native.snapshot()["memcgs"][mid]["memory"] + slack
        self.both("set_limit", mid, limit)

    @rule(geometry=st.sampled_from(MODULE_GEOMETRIES))
    def kmem_cache_create(self, geometry):
        self.both("kmem_cache_create", *geometry)

    @rule(index=st.integers(len(BUILTIN_ROOTS), 7))
    def kmem_cache_destroy(self, index):
        self.both("kmem_cache_destroy", index)

    # ---- asynchronous machinery ----
    @rule(n=st.integers(1, 3))
    def run_work(self, n):
        self.both("run_work", n)

    @rule(k=st.integers(1, 8))
    def steps(self, k):
        self.async_steps(k)

    @rule()
    def grace_period(self):
        self.both("grace_period")

    # The scheduler's freedom: which CPU's pool of which workqueue runs its
    # next work, which CPU's callback list ends its grace period next.
    @rule(data=st.data(), n=st.integers(1, 3))
    def run_work_on(self, data, n):
        pools = self.native.work_pools()
        assert pools == self.ref.work_pools()
        if pools:
            wq, cpu = data.draw(st.sampled_from(sorted(pools)))
            self.both("run_work", n, wq, cpu)

    @rule(data=st.data())
    def grace_period_on(self, data):
        lists = self.native.callback_lists()
        assert lists == self.ref.callback_lists()
        if lists:
            self.both("grace_period", data.draw(st.sampled_from(sorted(lists))))

    @rule(data=st.data(), k=st.integers(1, 12))
    def interleave(self, data, k):
        """k scheduling steps, each a pool's next work or a list's grace
        period, chosen among those that have one."""
        for _ in range(k):
            choices = [("w",) + p for p in sorted(self.native.work_pools())]
            choices += [("r", c) for c in sorted(self.native.callback_lists())]
            if not choices:
                break
            ch = data.draw(st.sampled_from(choices))
            if ch[0] == "w":
                self.both("run_work", 1, ch[1], ch[2])
            else:
                self.both("grace_period", ch[1])

    @rule(w=st.integers(0, WORKERS - 1), data=st.data(), k=st.integers(0, 12))
    def hotplug(self, w, data, k):
        """Worker w's CPU goes down (its stock, stat residues and cpu slabs
        folded by the dead callbacks), a cgroup is removed and k asynchronous
        steps run while it is down (a memcg may be freed then), and it
        comes back up."""
        self.both("cpu_down", w)
        self.both("rmdir", self.memcg(data))
        self.async_steps(k)
        self.both("cpu_up", w)

    @rule()
    def stock_drains(self):
        self.both("run_stock_drains")

    @rule()
    def settle(self):
        self.both("settle")

    # ---- end of an example ----
    def teardown(self):
        try:
            self.both("drain")
            self.same_state()
            if self.expect_clean:
                assert self.native.check(final=True) == []
                assert self.native.violations() == []
        finally:
            self.native.settle(1000)


class LegacyModelDiff(ModelDiff):
    mode = "legacy"


class FixRootDriftModelDiff(ModelDiff):
    """The uncharge's root branch chosen by the page's charge (README
    finding 8's fix): the root's counter follows its live pages."""
    fix_root_drift = True


class Hotplug54ModelDiff(ModelDiff):
    """5.4's memcg_hotplug_cpu_dead and online-only flush (README finding
    9): both models lose the same residues; the checks may fire."""
    fix_root_drift = True
    fix_hotplug = False
    expect_clean = False


TestReparentDiff = ModelDiff.TestCase
TestReparentDiff.settings = SETTINGS
TestLegacyDiff = LegacyModelDiff.TestCase
TestLegacyDiff.settings = SETTINGS
TestFixRootDriftDiff = FixRootDriftModelDiff.TestCase
TestFixRootDriftDiff.settings = settings(SETTINGS, max_examples=40)
TestHotplug54Diff = Hotplug54ModelDiff.TestCase
TestHotplug54Diff.settings = settings(SETTINGS, max_examples=30)


def test_builtin_roots_match_native():
    from stresscore import _core
    assert [tuple(r) for r in _core.BUILTIN_ROOTS] == [tuple(r) for r in BUILTIN_ROOTS]


def test_fresh_models_are_equal_in_both_modes():
    for mode in ("reparent", "legacy"):
        for workers in (1, 2, 3):
            n = Native(workers=workers, mode=mode)
            r = Reference(workers=workers, mode=mode)
            assert n.snapshot() == r.snapshot()


def test_reference_rejects_what_native_rejects():
    import pytest
    for bad in (dict(mode="nope"), dict(mutant="rcu-busted")):
        with pytest.raises(ValueError):
            Reference(**bad)
    r = Reference(workers=2)
    with pytest.raises(KeyError):
        r.mkdir(99)
    with pytest.raises(IndexError):
        r.free(0, 0)
    with pytest.raises(IndexError):
        r.alloc(5, 0)
