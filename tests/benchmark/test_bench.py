"""The benchmarks run: `memcg-stress bench --quick --only ... --json PATH`
writes JSON with every key of the cheap ones and ratios that add up (under
20 s), and the primitives' benchmarks give figures."""
import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


def test_bench_registry_and_json(tmp_path):
    from stress import bench
    from stress.cli.bench import main

    assert {"rcu_read_pair_ns", "synchronize_rcu_us", "liburcu"} <= set(bench.BENCHMARKS)
    with pytest.raises(ValueError, match="valid:"):
        bench.run(quick=True, only=["nope"])
    out = tmp_path / "b.json"
    rc = main(["--quick", "--only", "rcu_read_pair_ns", "synchronize_rcu_us", "--json", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["rcu_read_pair_ns"] > 0 and data["synchronize_rcu_us"] > 0
    assert "machine" in data
    assert main(["--only", "nope"]) == 2
