"""The stress engine: checkers that fire by name, the flight recorder, seeds,
delay injection, and clean runs of the correct model in both modes."""
import pytest

from stress import Config, run
from stresscore import _core
from stresscore._core import Model


def _populated(mode="reparent"):
    """A model with memcgs, child caches and objects held by both workers."""
    m = Model(workers=2, mode=mode)
    a = m.mkdir(0)
    b = m.mkdir(a)
    m.migrate(0, b)
    m.migrate(1, a)
    for i in range(60):
        assert m.alloc(0, i % 4)
        assert m.alloc(1, i % 4)
    m.settle()                      # creation works ran: child caches exist
    for i in range(60):
        assert m.alloc(0, i % 4)
        assert m.alloc(1, (i + 1) % 4)
    assert m.check() == []
    return m


# Each corruption of the state a checker guards, and the invariant that must
# name it.
CORRUPTIONS = [
    ("charge", "charge"),
    ("stats", "stats"),
    ("refs", "references"),
    ("lists", "lists"),
    ("objects", "objects"),
    ("use-after-free", "use-after-free"),
    ("double-free", "double-free"),
    ("percpu-owner", "percpu-owner"),
    ("lockdep", "lockdep"),
    ("refcount-negative", "refcount-negative"),
    ("killed-cache", "alloc-from-killed-cache"),
    ("double-release", "double-free"),
    ("cpu-freelist-count", "objects"),
    ("cpu-freelist", "objects"),
    ("inuse", "objects"),
    ("page-owner", "references"),
    ("entries-owner", "lists"),
    ("local-stats", "stats"),
    ("write-after-free", "write-after-free"),
    ("rcu-lockdep", "rcu-lockdep"),
    ("lock-order", "lock-order"),
    ("kmemcg-id-subtree", "lists"),
    ("shutdown-busy", "leak"),
    ("free-with-caches", "lists"),
    ("sysfs-freed-cache", "use-after-free"),
    ("kobject-negative", "refcount-negative"),
    ("sysfs-unlinked", "references"),
    ("root-charge", "charge"),
    ("root-stats", "stats"),
    ("stock-count", "charge"),
    ("stock-root", "charge"),
    ("partial-count", "lists"),
    ("cpu-partial-twice", "lists"),
]


# The count-only checkpoints (7 of 8 in a run) rely on each cpu freelist's
# count and each page's inuse word; the full ones verify both.  What each
# form sees of a corruption of them.
@pytest.mark.parametrize("what,full,fires", [
    ("cpu-freelist-count", True, True), ("cpu-freelist-count", False, True),
    ("inuse", True, True), ("inuse", False, True),
    ("cpu-freelist", True, True),
    ("cpu-freelist", False, False),     # the count is what the count-only form trusts
])
def test_count_only_and_full_object_checks(what, full, fires):
    m = _populated()
    assert m.check(full=False) == []
    m.corrupt(what)
    found = [v for v in m.check(full=full) if v["invariant"] == "objects"]
    assert bool(found) == fires, found


def test_write_after_free_is_found_at_reuse():
    """A write into a quarantined memcg is reported when its memory is
    reused (QUARANTINE frees later), with the field's offset and name."""
    m = Model(workers=2)
    m.rmdir(m.mkdir(0))
    m.settle()
    m.corrupt("write-after-free")
    for _ in range(70):
        m.rmdir(m.mkdir(0))
        m.settle()
    v = [v for v in m.violations() if v["invariant"] == "write-after-free"]
    assert v and "field limit" in v[0]["message"] and "offset" in v[0]["message"], v


def test_lock_order_names_both_orders():
    m = _populated()
    m.corrupt("lock-order")
    v = [v for v in m.violations() if v["invariant"] == "lock-order"]
    assert len(v) == 1, v
    msg = v[0]["message"]
    assert "slab_mutex then cgroup_mutex" in msg and "cgroup_mutex then slab_mutex" in msg, msg
    assert "memcg_update_all_caches" in msg, msg


def test_stall_checks_fire_by_kind():
    """A grace period, a work and an offline left pending past their bounds
    (the Model runs neither by itself) are each reported as a stall."""
    import time
    m = _populated()
    victim = m.memcg_ids()[-1]
    m.migrate(0, 0)
    m.migrate(1, 0)
    assert m.rmdir(victim)          # kill pending: a callback; then the offline
    _core.stall_setup(0.05, 0.05, 0.05)
    _core.stall_poll()
    time.sleep(0.1)
    _core.stall_poll()              # grace period: the kill's callback waits
    m.grace_period()                # the offline work is queued now
    _core.stall_poll()
    time.sleep(0.1)
    _core.stall_poll()
    stalls = [v["message"] for v in m.violations() if v["invariant"] == "stall"]
    assert any("grace period not ended" in s for s in stalls), stalls
    assert any("queued work not run" in s for s in stalls), stalls
    assert any(f"offline of memcg {victim} not finished" in s for s in stalls), stalls
    _core.stall_setup(0, 0, 0)


@pytest.mark.parametrize("what,invariant", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_checker_fires_by_name(what, invariant):
    m = _populated()
    m.corrupt(what)
    found = {v["invariant"] for v in m.check()} | {v["invariant"] for v in m.violations()}
    assert invariant in found, (what, found)


def test_leak_checker_fires_at_the_end():
    m = _populated()
    m.drain()
    assert m.check(final=True) == []
    a = m.mkdir(0)                   # a cgroup left behind after the drain
    found = {v["invariant"] for v in m.check(final=True)}
    assert found == {"leak"}, found
    assert m.rmdir(a)


@pytest.mark.parametrize("mode", ["reparent", "legacy"])
def test_correct_model_checks_clean_through_a_removal(mode):
    m = _populated(mode)
    m.migrate(0, 0)
    victim = [i for i in m.memcg_ids() if i != 0][-1]
    assert m.rmdir(victim)
    for _ in range(5):
        m.settle()
        assert m.check() == []
    m.drain()
    assert m.check(final=True) == []


def test_violation_report_carries_everything():
    """Invariant, objects involved, seed, configuration and the last events
    of every thread with timestamps."""
    r = run(Config(duration=10, workers=2, seed=11, mutant="no-flush-on-free", stat_interval=0))
    assert r.verdict == "violation"
    assert r.seed == 11 and r.config["seed"] == 11 and r.config["mutant"] == "no-flush-on-free"
    v = r.violations[0]
    assert v["invariant"] == "stats"
    assert "memcg" in v["message"] and "stat[" in v["message"]
    fr = v["flight_recorder"]
    assert len(fr) == len(r.threads) == 2 + 1 + 4 + 2 + 5   # workers, controller, kworkers, RCU, cgroup, module, active_memcg, sysfs and hotplug actors
    events = [e for thread in fr for e in thread]
    assert events and all(len(thread) <= 64 for thread in fr)
    assert all(e[0] > 0 and isinstance(e[1], str) for e in events)   # timestamp, name
    assert max(len(t) for t in fr) == 64          # a busy thread fills its ring
    names = {e[1] for e in events}
    assert names & {"alloc_slow", "page_free", "charge", "mkdir", "rmdir", "checkpoint"}


def test_same_seed_same_choices_per_thread():
    digests = []
    for seed in (5, 5, 6):
        r = run(Config(duration=0.3, workers=2, seed=seed, controller=False, stat_interval=0))
        assert r.clean
        digests.append([t["choice_digest"] for t in r.stats["threads"][:2]])
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]
    assert digests[0][0] != digests[0][1]         # each thread its own stream


def test_delay_injection_takes_named_points_and_can_be_off():
    on = run(Config(duration=1.5, workers=2, seed=3, stat_interval=0))
    off = run(Config(duration=1.0, workers=2, seed=3, delay_injection=False, stat_interval=0))
    assert on.clean and off.clean
    taken = on.stats["delays_taken"]
    assert set(taken) == set(_core.DELAY_POINTS)
    assert sum(taken.values()) > 0
    assert sum(off.stats["delays_taken"].values()) == 0
    assert sum(t["delays"] for t in on.stats["threads"]) == sum(taken.values())


def test_delay_point_probability_one_fires_every_time():
    r = run(Config(duration=1.0, workers=2, seed=4, stat_interval=0,
                   delays={"reparent_swap": (1.0, 1.0)}))
    assert r.clean
    assert r.stats["delays_taken"]["reparent_swap"] == r.stats["global"]["reparented"] > 0


@pytest.mark.parametrize("mode", ["reparent", "legacy"])
def test_correct_model_runs_clean(mode):
    r = run(Config(duration=4, workers=2, mode=mode, seed=21, stat_interval=0))
    assert r.verdict == "clean", r.violations[:3]
    st = r.stats
    assert st["checkpoints"] > 5
    assert st["global"]["memcgs_created"] > 10
    # every cgroup but root went the whole way: offlined, released, freed
    g = st["global"]
    assert g["memcgs_offlined"] == g["memcgs_released"] == g["memcgs_freed"] == g["memcgs_created"] - 1
    if mode == "reparent":
        assert st["global"]["reparented"] > 0
    else:
        assert st["global"]["reparented"] == 0
    # the drain removed every cgroup and cache
    assert st["memcgs_online"] == 0 and st["memcgs_dying"] == 0 and st["child_caches"] == 0


@pytest.mark.parametrize("mode", ["reparent", "legacy"])
def test_long_lived_objects_outlive_their_cgroup(mode):
    """With the long-lived set (the default), objects outlive the cgroup
    they were charged to: caches are killed with slab pages left, and the
    run stays clean, the drain freeing the set.  Without it, a killed cache
    with pages is rare."""
    on = run(Config(duration=2, workers=2, mode=mode, seed=5, stat_interval=0))
    assert on.verdict == "clean", on.violations[:3]
    off = run(Config(duration=2, workers=2, mode=mode, seed=5, stat_interval=0, long_lived=0))
    assert off.verdict == "clean", off.violations[:3]
    g_on, g_off = on.stats["global"], off.stats["global"]
    assert g_on["caches_killed"] > 0 and g_off["caches_killed"] > 0, (g_on, g_off)
    share_on = g_on["caches_killed_with_pages"] / g_on["caches_killed"]
    share_off = g_off["caches_killed_with_pages"] / g_off["caches_killed"]
    assert share_on > 0.1 and share_on > 2 * share_off, (share_on, share_off)
    assert on.stats["child_caches"] == 0 and on.stats["memcgs_dying"] == 0, \
        (on.stats["child_caches"], on.stats["memcgs_dying"])


def test_timeline_stays_bounded_over_a_long_run(monkeypatch):
    import stress.engine
    monkeypatch.setattr(stress.engine, "MAX_SAMPLES", 8)
    r = run(Config(duration=2, workers=1, seed=3, stat_interval=0.05))
    assert r.clean
    ts = [s["t"] for s in r.samples]
    assert len(ts) <= 9                       # 8 kept, and the final sample
    assert ts == sorted(ts) and ts[0] < 0.5 and ts[-1] >= 2.0   # still spans the run
    # the gauges the soak's memory record uses are in every sample
    for key in ("rss", "slab_pages", "slab_pages_reserved", "rcu_pending", "objects_in_flight"):
        assert key in r.samples[-1]


def test_runs_in_one_process_do_not_leak():
    # a hunt runs many seeds in one pytest worker: each run's model must be
    # freed by the next (before the fix about 2 MiB a run stayed behind)
    import psutil
    proc = psutil.Process()
    rss = []
    for seed in range(24):
        r = run(Config(duration=0.1, workers=1, seed=seed, stat_interval=0, checkpoint_interval=0.02))
        assert r.clean
        rss.append(proc.memory_info().rss)
    assert rss[-1] - rss[4] < 10 * 2**20, [x >> 20 for x in rss]


def test_bad_config_is_refused():
    from stress import ConfigError
    with pytest.raises(ConfigError, match="workers"):
        run(Config(workers=-1))
    with pytest.raises(ConfigError, match="mutant"):
        run(Config(mutant="nope"))


def test_stall_report_names_the_reader_that_holds_the_grace_period():
    """rcu-read-across-sleep holds a read section across a wait: the stall
    report says which CPU is inside a read section, not only the locks."""
    from stress import Config, run
    r = run(Config(mutant="rcu-read-across-sleep", seed=1, duration=12, workers=2, stop_on_violation=True,
                   stat_interval=0))
    stalls = [v["message"] for v in r.violations if v["invariant"] == "stall"]
    assert stalls, r.violations_by_invariant
    assert "in a read section: cpu " in stalls[0], stalls[0]


def test_a_drain_past_its_timeout_names_its_threads_and_the_next_run_starts():
    """A drain that outlives drain_timeout reports a `stall` for each thread
    that has not left (role, held locks, last events); the threads still
    get to finish, and the next run starts (nothing left "in progress")."""
    from stresscore import _core

    def on_event(ev):
        if ev.get("type") == "violation" and ev.get("invariant") == "stall":
            _core.hold_drain(False)         # the stall was reported: let the drain go
    _core.hold_drain(True)
    try:
        r = run(Config(duration=0.3, workers=2, seed=5, drain_timeout=0.1, stat_interval=0), on_event=on_event)
    finally:
        _core.hold_drain(False)
    stalls = [v["message"] for v in r.violations if v["invariant"] == "stall"]
    assert stalls, r.violations[:2]
    assert all(s.startswith("drain not finished after 0.1 s: cpu ") and "has not left" in s
               and "; holds " in s and "; last events " in s for s in stalls), stalls
    assert any(s.split("has not left")[0].endswith("(controller) ") for s in stalls), stalls
    assert r.verdict == "violation" and not r.hung
    r = run(Config(duration=0.3, workers=2, seed=5, stat_interval=0))
    assert r.verdict == "clean", r.violations[:1]


def test_threads_by_role_and_actors_configurable():
    """The run's threads follow the configuration: kworkers, RCU callback
    threads and which actors run; each role does work."""
    r = run(Config(duration=1.0, workers=2, seed=3, kworkers=3, rcu_threads=1,
                   module_actor=False, active_memcg_actor=False, cgroup_actor=True, sysfs_actor=False,
                   hotplug_actor=False, stat_interval=0))
    assert r.verdict == "clean", r.violations[:1]
    roles = [t["role"] for t in r.threads]
    assert roles == ["worker", "worker", "controller", "workqueue", "workqueue", "workqueue", "rcu", "cgroup"]
    r = run(Config(duration=1.0, workers=2, seed=4, stat_interval=0))
    assert r.verdict == "clean", r.violations[:1]
    from stress.runfolder import threads_by_role
    by_role = threads_by_role(r.stats)
    assert set(by_role) == {"worker", "controller", "workqueue", "rcu", "cgroup", "module", "active_memcg", "sysfs",
                           "hotplug"}
    assert len(by_role["workqueue"]) == Config().kworkers and len(by_role["rcu"]) == Config().rcu_threads
    for role, rows in by_role.items():
        assert all(row.get("ops", 0) > 0 for row in rows), role


def test_sysfs_shrink_of_a_root_inverts_slab_mutex_and_kernfs_drain():
    """5.4, read and run: a `shrink` write to a root cache takes slab_mutex
    inside the file's kernfs active reference (kmem_cache_shrink_all,
    slab_attr_store); shutdown_cache's kobject_del drains active references
    under slab_mutex.  lockdep's order graph names both."""
    r = run(Config(duration=5.0, workers=2, seed=1, sysfs_shrink_roots=True, stat_interval=0))
    orders = [v["message"] for v in r.violations if v["invariant"] == "lock-order"]
    assert orders, r.violations[:2]
    assert "kn->active then slab_mutex" in orders[0] and "slab_mutex then kn->active" in orders[0], orders[0]
    assert "shrink_store" in orders[0] and "kernfs_drain" in orders[0], orders[0]


def test_sysfs_remove_at_deactivation_leaks_a_kobject_reference():
    """5.4, read and run: with the early sysfs_slab_remove() of
    __kmemcg_cache_deactivate_after_rcu, a cache whose remove work is still
    pending at its shutdown gets a second kobject_get that schedule_work
    does not match: the cache and its memcg are never freed.  The model
    leaves that early remove out by default; with it, the end of the run
    finds the leak."""
    r = run(Config(duration=2.0, workers=2, seed=1, sysfs_deactivate_remove=True, stat_interval=0))
    leaks = [v["message"] for v in r.violations if v["invariant"] == "leak"]
    assert leaks and "child caches" in leaks[0], r.violations[:2]


def test_race_windows_are_counted_with_delays_on_or_off():
    names = [w["name"] for w in _core.RACE_WINDOWS]
    for delays in (True, False):
        r = run(Config(duration=1.0, workers=2, seed=3, delay_injection=delays, stat_interval=0))
        assert r.clean
        win = r.stats["windows"]
        assert list(win) == names
        # reparent_swap is reached once per reparented cache: its window opens that often
        assert win["swap-vs-page-free"]["opened"] == r.stats["global"]["reparented"] > 0
        # the windows of one point open together
        assert win["entry-vs-grow"]["opened"] == win["entry-vs-offline"]["opened"]
        # id-space growth and the offline both hold cgroup_mutex: a race
        # counted there would be a false one
        assert win["grow-vs-offline"]["raced"] == 0
        if delays:
            # a race is counted while a thread is held at the point, so
            # mostly while it is delayed
            assert sum(w["raced"] > 0 for w in win.values()) >= 3


def test_a_steered_run_records_its_steering_and_stays_clean():
    """With delay injection off, windows open but their races are not held
    open: steering turns on the delays of the points that open them, and
    the run stays clean.  (With the default delays every window may race in
    the first quarter second, and then steering has nothing to do.)"""
    r = run(Config(duration=1.5, workers=2, seed=7, stat_interval=0, steer="coverage",
                   delay_injection=False))
    assert r.verdict == "clean", r.violations[:2]
    st = r.stats["steering"]
    assert st["mode"] == "coverage" and st["changes"] == len(st["log"])
    assert any(e["what"] == "delay" and e["probability"] > 0 for e in st["log"]), st["log"][:5]
