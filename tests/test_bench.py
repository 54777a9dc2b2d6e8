"""Smoke test of the engine benchmarks: `memcg-stress bench --quick --only ...
--json PATH` writes JSON with every key of the cheap ones (under 20 s)."""
import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_registry_has_engine_benchmarks():
    from stress import bench
    assert {"ops_per_s", "ops_per_s_1t_vs_reference", "checkpoint_pause_1m",
            "counters_overhead", "mutant_detect"} <= set(bench.BENCHMARKS)


def test_bench_quick_json_keys(tmp_path):
    out = tmp_path / "bench.json"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run(
        [sys.executable, "-m", "stress", "bench", "--quick",
         "--only", "rcu_read_pair_ns", "ops_per_s", "ops_per_s_1t_vs_reference", "--json", str(out)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    d = json.loads(out.read_text())
    for key in ("rcu_read_pair_ns", "ops_per_s_1t", "ops_per_s_2t", "scaling_2t_over_1t",
                "reference_ops_per_s", "ops_per_s_1t_vs_reference", "ops_per_s_runs"):
        assert key in d, key
    assert len(d["ops_per_s_runs"]["1t"]) == len(d["ops_per_s_runs"]["2t"]) == 3
    assert d["ops_per_s_1t"] > 0 and d["ops_per_s_2t"] > 0
    assert math.isclose(d["scaling_2t_over_1t"], d["ops_per_s_2t"] / d["ops_per_s_1t"])
    assert math.isclose(d["ops_per_s_1t_vs_reference"], d["ops_per_s_1t"] / d["reference_ops_per_s"])
    m = d["machine"]
    for key in ("cpu_model", "cpus", "kernel", "python", "loadavg_start", "loadavg_end"):
        assert key in m, key
    assert d["quick"] is True


def test_markdown_table_and_mutant_rows():
    from stress import bench
    text = bench.markdown_table({"quick": False, "ops_per_s_1t": 1.5e7,
                                 "mutant_detect_s_with_delays": {"rcu-busted": 0.03, "x": None},
                                 "skipped": {"liburcu": "no headers"}})
    assert text.splitlines()[0] == "| metric | value |"
    assert "| ops_per_s_1t | 1.5e+07 |" in text
    assert "mutant_detect_s_with_delays[x] | not caught" in text
    assert "skipped: liburcu" in text
