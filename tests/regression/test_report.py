"""The performance-counters report (stress.report) and the per-thread perf
counters (stress.perfcounters), checked against a real run's own counters.

One short run in-process (reparent), written as run folders the way the soak
writes them, and one legacy run for the comparison.
Everything here takes about 15-20 s on 2 cores.
"""
import json
import struct
import threading
from pathlib import Path

import pytest

import stress
from stress import perfcounters, report
from stress.cli import report as report_cli
from stress.perfcounters import NOT_SUPPORTED

PNG_SIG = b"\x89PNG\r\n\x1a\n"
WORKER_COUNTERS = report.THREAD_COUNTERS


def _summary(result) -> dict:
    try:
        from stress.runfolder import summary_for
        return summary_for(result)
    except ImportError:                        # pragma: no cover - before the soak engineer's module
        return {**result.to_dict(), "stats": result.stats, "final_sample": result.samples[-1]}


def _write_folder(path: Path, result, events: list[dict], summary: dict | None) -> Path:
    """A run folder as the soak writes it (summary None: a killed run)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(result.config, indent=1))
    with open(path / "events.jsonl", "w") as f:
        for ev in events:
            f.write(json.dumps(ev, default=str) + "\n")
        f.write('{"type": "stat", "t": 99')                 # a torn last line
    if summary is not None:
        (path / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One real run: the result, its live event stream, and run folders."""
    base = tmp_path_factory.mktemp("report")
    stream: list[dict] = []
    result = stress.run(stress.Config(duration=1.5, workers=2, seed=1), on_event=stream.append)
    # the verdict is the engine's business (tests/regression/test_plugin.py, the hunt); the
    # report must add up whatever it is
    assert result.verdict in ("clean", "violation"), result.verdict
    summary = _summary(result)
    # the folder the soak writes: the live event stream and summary_for(result)
    live = _write_folder(base / "live", result, stream, summary)
    # every sample the engine took, as stat lines (a run with a short --stat-interval)
    dense = _write_folder(base / "dense", result, [{"type": "stat", **s} for s in result.samples], summary)
    # a killed run: no summary.json, only the stat lines written so far
    killed = _write_folder(base / "killed", result, stream, None)
    # a summary.json without the counters: the report falls back to the stat lines
    lean = {k: v for k, v in summary.items() if k not in ("stats", "samples")}
    nostats = _write_folder(base / "nostats", result, [{"type": "stat", **s} for s in result.samples], lean)
    return {"result": result, "stream": stream, "live": live, "dense": dense, "nostats": nostats,
            "killed": killed, "base": base}


def _check_png(path: Path) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    assert data[:8] == PNG_SIG, path
    assert len(data) > 5000, (path, len(data))                # not an empty canvas
    w, h = struct.unpack(">II", data[16:24])                   # IHDR
    assert w >= 300 and h >= 200, (path, w, h)
    import matplotlib.image as mpimg
    img = mpimg.imread(str(path))
    assert img.shape[0] == h and img.shape[1] == w
    assert img.std() > 0.01, path                              # something is drawn
    try:
        from PIL import Image
    except ImportError:                                        # pragma: no cover
        return
    with Image.open(path) as im:
        im.verify()


# ------------------------------------------------------------ one run --

def test_report_numbers_match_the_run(run, tmp_path):
    r = run["result"]
    st = r.stats
    rep = report.write_report(run["dense"], tmp_path)
    # every per-thread counter sums to the report's total and the run's own counters
    for k in WORKER_COUNTERS:
        assert sum(t[k] for t in rep["threads"]) == rep["totals"][k] == sum(t[k] for t in st["threads"]), k
    assert rep["totals"]["alloc"] > 0 and rep["totals"]["free"] > 0
    assert [t["role"] for t in rep["threads"]] == st["roles"]
    workers = [t for t in rep["threads"] if t["role"] == "worker"]
    assert len(workers) == 2
    # per-thread ops (alloc + free) add up to the result's ops
    assert sum(t["ops"] for t in workers) == r.ops == rep["run"]["ops"] == rep["totals"]["worker_ops"]
    assert [t["ops"] for t in workers] == r.samples[-1]["per_thread_ops"]
    assert rep["totals"]["worker_alloc"] + rep["totals"]["worker_free"] == r.ops
    assert rep["run"]["ops_per_s"] == pytest.approx(r.ops_per_s, rel=1e-3)
    assert rep["run"]["verdict"] == r.verdict and rep["run"]["seed"] == 1 and rep["run"]["mode"] == "reparent"
    # the timeline is the engine's samples
    tl = rep["timeline"]
    assert tl["t"] == [s["t"] for s in r.samples]
    assert tl["memcgs_dying"] == [s["memcgs_dying"] for s in r.samples]
    assert tl["memcgs_online"] == [s["memcgs_online"] for s in r.samples]
    assert tl["per_thread_ops"] == [s["per_thread_ops"] for s in r.samples]
    assert tl["stock_pages"] == [s["stock_pages"] for s in r.samples]
    assert tl["root_memory"] == [s["root_memory"] for s in r.samples]
    assert any(tl["stock_pages"]) and r.samples[-1]["stock_pages"] == 0   # precharged, returned at the end
    assert tl["partial_pages"] == [s["partial_pages"] for s in r.samples]
    assert tl["cpu_partial_pages"] == [s["cpu_partial_pages"] for s in r.samples]
    assert any(tl["partial_pages"]) and any(tl["cpu_partial_pages"])    # SLUB's lists in use while it runs
    assert rep["memcgs"]["dying_max"] == max(s["memcgs_dying"] for s in r.samples)
    # throughput: per-thread deltas between samples add back up to each thread's ops
    tp = rep["throughput"]
    assert len(tp["t"]) == len(r.samples)
    for i, w in enumerate(workers):
        assert sum(d[i] for d in tp["per_thread_delta_ops"]) == w["ops"]
        assert sum(rate[i] * dt for rate, dt in zip(tp["per_thread_ops_per_s"], tp["dt"])) == pytest.approx(w["ops"])
    assert all(x >= 0 for row in tp["per_thread_ops_per_s"] for x in row)
    # grace periods and checkpoints
    g = rep["grace_periods"]
    assert g["total"] == st["grace_periods"]
    assert g["histogram_us_log2"] == st["gp_histogram_us_log2"]
    assert g["count"] == sum(st["gp_histogram_us_log2"]) > 0
    lo, hi = g["p50_us_bucket"]
    assert hi == 2 * lo and lo <= g["p99_us_bucket"][0] <= g["max_us_bucket"][0]
    c = rep["checkpoints"]
    assert c["count"] == st["checkpoints"] > 0
    assert c["recent_pauses"] == len(st["checkpoint_pause_ns"])
    assert c["max_recent_ns"] <= c["max_ns"] == st["checkpoint_max_ns"]
    assert c["min_ns"] <= c["p50_ns"] <= c["p99_ns"] <= c["max_recent_ns"]
    assert rep["global"] == st["global"]
    assert rep["delays_taken"] == st["delays_taken"]
    # process figures from psutil, sampled through the run
    assert rep["process"]["rss_max"] == max(s["rss"] for s in r.samples if "rss" in s)
    assert rep["process"]["cpu_s"] == r.samples[-1]["cpu_s"]
    # the files
    written = json.loads((tmp_path / "report.json").read_text())
    assert written["totals"] == json.loads(json.dumps(rep["totals"]))
    assert written["timeline"]["memcgs_dying"] == tl["memcgs_dying"]
    md = (tmp_path / "report.md").read_text()
    assert f"{r.ops:,}" in md and "## Per-thread perf_event counters" in md
    for name, fn in report.PLOTS.items():
        assert rep["plots"][name] == fn
        assert f"]({fn})" in md
        _check_png(tmp_path / fn)
    assert not rep.get("plot_errors")


def test_report_per_role_counters(run, tmp_path):
    """The per-role table: one row per role of the run (workers, the
    controller, each actor, the kworkers, the RCU callback threads), its
    threads and counters summed from summary.json's threads_by_role; the
    same figures from the per-thread rows of a killed run (no summary)."""
    r = run["result"]
    by_role = json.loads(run["live"].joinpath("summary.json").read_text())["threads_by_role"]
    rep = report.write_report(run["live"], tmp_path / "live")
    roles = {row["role"]: row for row in rep["roles"]}
    assert set(roles) == set(r.stats["roles"]) - {"none"}
    assert {"worker", "controller", "workqueue", "rcu", "cgroup", "module", "active_memcg", "sysfs"} <= set(roles)
    for role, rows in by_role.items():
        assert roles[role]["threads"] == len(rows) == r.stats["roles"].count(role)
        assert roles[role]["cpus"] == [x["cpu"] for x in rows]
        for k in ("ops", "alloc", "free", "delays"):
            assert roles[role]["counters"][k] == sum(x.get(k, 0) for x in rows), (role, k)
    assert roles["worker"]["counters"]["alloc"] + roles["worker"]["counters"]["free"] == r.ops
    assert roles["workqueue"]["counters"]["ops"] > 0 and roles["rcu"]["counters"]["ops"] > 0
    assert roles["sysfs"]["counters"]["ops"] > 0
    md = (tmp_path / "live" / "report.md").read_text()
    part = md.split("## Per-role counters", 1)[1].split("##", 1)[0]
    for role, row in roles.items():
        assert f"| {role} | {row['threads']} |" in part, role
    # a summary.json without threads_by_role (an older run): the same table from the per-thread counters
    old = {k: v for k, v in json.loads(run["live"].joinpath("summary.json").read_text()).items()
           if k != "threads_by_role"}
    d = _write_folder(tmp_path / "old", r, run["stream"], old)
    rebuilt = report.write_report(d, tmp_path / "old-out")
    assert {row["role"]: (row["threads"], row["counters"]["ops"], row["counters"]["alloc"]) for row in rebuilt["roles"]} \
        == {role: (row["threads"], row["counters"]["ops"], row["counters"]["alloc"]) for role, row in roles.items()}


def test_report_of_the_soak_folder(run):
    """The folder as the soak writes it (stat lines every --stat-interval,
    summary.json with the samples); outputs go into the folder itself."""
    r = run["result"]
    d = run["live"]
    rep = report.write_report(d)
    assert rep["run"]["stats_source"] == "summary.json"
    assert rep["timeline"]["memcgs_dying"] == [s["memcgs_dying"] for s in r.samples]
    assert sum(t["ops"] for t in rep["threads"] if t["role"] == "worker") == r.ops
    assert rep["perf"]["support"] == r.perf["support"]       # from the final sample
    assert [t["native_id"] for t in rep["threads"]] == [t["native_id"] for t in r.threads]
    for fn in list(report.PLOTS.values()) + ["report.md", "report.json"]:
        assert (d / fn).is_file(), fn
    for fn in report.PLOTS.values():
        _check_png(d / fn)
    # race-window coverage: the run's counts and the timeline of windows raced
    assert rep["windows"] == r.stats["windows"]
    assert rep["timeline"]["windows_raced"] == [s["windows_raced"] for s in r.samples]
    md = (d / "report.md").read_text()
    assert "## Race windows" in md and "race_windows.png" in md


def test_report_of_a_killed_run(run, tmp_path):
    """No summary.json: the timeline is the stat lines written so far."""
    r = run["result"]
    stat_lines = [e for e in run["stream"] if e["type"] == "stat"]
    assert stat_lines
    rep = report.write_report(run["killed"], tmp_path)
    assert rep["run"]["stats_source"].startswith("last stat event")
    assert rep["timeline"]["memcgs_dying"] == [e["memcgs_dying"] for e in stat_lines]
    assert rep["timeline"]["t"] == [e["t"] for e in stat_lines]
    tp = rep["throughput"]
    assert [sum(x[i] for x in tp["per_thread_delta_ops"]) for i in range(2)] == stat_lines[-1]["per_thread_ops"]
    # killed before its summary: said so, the verdict rebuilt from the events
    assert rep["run"]["killed"] and rep["run"]["mode"] == "reparent"
    assert rep["run"]["verdict"].endswith("(killed: no summary.json, rebuilt from events.jsonl)")
    assert rep["run"]["verdict"].startswith("violation" if r.violations else "no violation recorded")
    assert "summary.json: missing" in rep["problems"]
    for fn in report.PLOTS.values():
        _check_png(tmp_path / fn)


def test_report_falls_back_to_the_last_stat_line(run, tmp_path):
    r = run["result"]
    rep = report.write_report(run["nostats"], tmp_path)
    assert rep["run"]["stats_source"].startswith("last stat event")
    workers = [t for t in rep["threads"] if t["role"] == "worker"]
    assert [t["ops"] for t in workers] == r.samples[-1]["per_thread_ops"]
    assert rep["totals"]["worker_ops"] == r.ops
    assert rep["threads"][0]["alloc"] == report.NOT_RECORDED
    assert rep["grace_periods"]["total"] == r.samples[-1]["grace_periods"]
    assert rep["grace_periods"]["count"] == report.NOT_RECORDED
    # the final sample carries the perf counters
    assert rep["perf"]["support"] == r.perf["support"]
    for fn in report.PLOTS.values():            # "not recorded" panels, still valid images
        assert (tmp_path / fn).read_bytes()[:8] == PNG_SIG


def test_cli_entry(run, tmp_path, capsys):
    out = tmp_path / "out"
    assert report_cli.main([str(run["dense"]), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Per-thread model counters" in text and "perf_event" in text
    assert (out / "report.json").is_file() and (out / "throughput.png").is_file()
    assert report_cli.main([str(tmp_path / "missing")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert report_cli.main([str(tmp_path / "empty"), "-q"]) == 2
    assert report_cli.main([]) == 2
    assert report_cli.main(["--help"]) == 0
    try:
        from stress import cli
    except ImportError:                          # pragma: no cover
        return
    assert cli.main(["report", str(run["dense"]), "--out", str(tmp_path / "via-cli"), "-q"]) == 0
    assert (tmp_path / "via-cli" / "report.md").is_file()


# ------------------------------------------------------------ perf counters --

def _check_perf(perf: dict, events=perfcounters.EVENT_NAMES) -> None:
    assert set(perf["support"]) == set(events)
    for ev, status in perf["support"].items():
        assert status == "ok" or status.startswith(NOT_SUPPORTED), (ev, status)
    for th in perf["threads"]:
        for ev, v in th["counters"].items():
            if perf["support"][ev] == "ok":
                assert isinstance(v, int) and v >= 0 or v == NOT_SUPPORTED, (ev, v)
            else:
                assert v == NOT_SUPPORTED, (ev, v)


def test_perf_counters_of_the_run(run):
    r = run["result"]
    perf = r.perf
    _check_perf(perf)
    assert r.samples[-1]["perf"] == perf
    # one entry per native thread, roles and thread ids as the engine recorded them
    assert [t["role"] for t in r.threads] == r.stats["roles"]
    tids = [t["native_id"] for t in r.threads]
    assert len(set(tids)) == len(tids) and all(isinstance(x, int) and x > 0 for x in tids)
    assert [t["tid"] for t in perf["threads"]] == tids
    assert [t["role"] for t in perf["threads"]] == r.stats["roles"]
    if perf["support"]["task_clock_ns"] == "ok":
        for th in perf["threads"]:
            if th["role"] == "worker":
                assert 0 < th["counters"]["task_clock_ns"] <= (r.duration_s + r.drain_s + 1) * 1e9
    # the report shows them, numbers or "not supported"
    rep = report.analyze(report.load_run(run["dense"]))
    for row in rep["threads"]:
        for ev, v in row["perf"].items():
            assert v == NOT_SUPPORTED or isinstance(v, int)


def test_perf_counters_never_raise(monkeypatch):
    support = perfcounters.probe()
    assert set(support) == set(perfcounters.EVENT_NAMES)
    assert all(v == "ok" or v.startswith(NOT_SUPPORTED) for v in support.values())
    # a thread id that does not exist (beyond PID_MAX_LIMIT) and one with no id
    pc = perfcounters.PerfCounters()
    pc.add_thread(2 ** 30, role="gone")
    pc.add_thread(None, role="no id")
    pc.start()
    data = pc.stop()
    _check_perf(data)
    assert all(v == NOT_SUPPORTED for t in data["threads"] for v in t["counters"].values())
    assert pc.stop()["threads"] == data["threads"]          # idempotent
    # no syscall at all (another OS or architecture)
    monkeypatch.setattr(perfcounters, "syscall_number", lambda: None)
    pc = perfcounters.PerfCounters()
    pc.add_thread(threading.get_native_id(), role="main")
    pc.start()
    data = pc.stop()
    _check_perf(data)
    assert all(s.startswith(NOT_SUPPORTED) and "ENOSYS" in s for s in data["support"].values())
    assert all(v == NOT_SUPPORTED for v in data["totals"].values())


def test_perf_counters_count_this_thread():
    pc = perfcounters.PerfCounters(perfcounters.SOFTWARE_EVENTS)
    pc.add_thread(threading.get_native_id(), role="main")
    pc.start()
    sum(i * i for i in range(200_000))
    data = pc.stop()
    _check_perf(data, perfcounters.SOFTWARE_EVENTS)
    if data["support"]["task_clock_ns"] != "ok":
        pytest.skip(f"task-clock: {data['support']['task_clock_ns']}")
    assert data["threads"][0]["counters"]["task_clock_ns"] > 1_000_000       # > 1 ms of CPU


# ------------------------------------------------------------ comparison --

def test_legacy_against_reparent(run, tmp_path):
    lr = stress.run(stress.Config(duration=1.5, workers=2, seed=1, mode="legacy"))
    legacy = _write_folder(tmp_path / "legacy", lr, [{"type": "stat", **x} for x in lr.samples], _summary(lr))
    out = tmp_path / "cmp"
    res = report.write_comparison(legacy, run["dense"], out)
    _check_png(out / report.COMPARE_PLOT)
    assert (out / "compare.md").is_file() and (out / "compare.json").is_file()
    a, b = res["runs"]
    assert a["run"]["mode"] == "legacy" and b["run"]["mode"] == "reparent"
    r = run["result"]
    assert b["timeline"]["memcgs_dying"] == [s["memcgs_dying"] for s in r.samples]
    legacy_samples = lr.samples
    assert a["timeline"]["memcgs_dying"] == [s["memcgs_dying"] for s in legacy_samples]
    rows = {row["figure"]: row for row in res["table"]}
    assert rows["mode"]["a"] == "legacy" and rows["mode"]["b"] == "reparent"
    assert rows["dying memcgs: peak"]["a"] == f"{max(s['memcgs_dying'] for s in legacy_samples):,}"
    assert rows["caches reparented"]["a"] == "0"            # legacy never reparents
    assert b["global"]["reparented"] > 0
    # and through the CLI entry, the outputs in DIR_A by default
    assert report_cli.main([str(legacy), str(run["dense"]), "-q"]) == 0
    _check_png(legacy / report.COMPARE_PLOT)
