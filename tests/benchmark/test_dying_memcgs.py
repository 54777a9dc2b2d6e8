"""Legacy mode against reparenting: the peak of dying cgroups over real
3 s runs, as a ratio (README, "What the model has shown so far")."""
from stress import Config, run


def test_legacy_piles_up_dying_memcgs_reparent_does_not():
    # Long-lived objects (dentries): workers hold up to 100k each, so a
    # removed cgroup's caches keep objects for a while.  In legacy mode they
    # pin the dying cgroup; reparenting lets it go at once.  (With the
    # default 4096 held objects live only milliseconds and both modes free
    # dying cgroups about as fast.)
    peak = {}
    for mode in ("reparent", "legacy"):
        r = run(Config(duration=3, workers=2, mode=mode, seed=8, stat_interval=0,
                       alloc_pct=60, max_held=100_000))
        assert r.clean, r.violations[:3]
        peak[mode] = max(s["memcgs_dying"] for s in r.samples)
    assert peak["legacy"] > 3 * peak["reparent"], peak
