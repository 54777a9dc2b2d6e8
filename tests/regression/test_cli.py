"""The memcg-stress command line, run as a subprocess (`python -m stress ...`).

Covers: a clean soak (exit 0, a complete run folder), a mutant soak (exit 1,
the violation in events.jsonl), SIGINT/SIGTERM mid-run (exit 130 and a
summary), a table of bad inputs (exit 2, one line on stderr, no traceback),
--config TOML layering, replay, and the RunFolder API in-process.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKERS = "2"


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("COLUMNS", None)
    return env


def cli(*args, cwd, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stress", *map(str, args)], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def read_events(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]


def check_folder(folder: Path) -> tuple[dict, list[dict], dict]:
    config = json.loads((folder / "config.json").read_text())
    events = read_events(folder)
    summary = json.loads((folder / "summary.json").read_text())
    assert isinstance(config["seed"], int) and config["seed"] == summary["seed"]
    assert isinstance(config["workers"], int) and config["workers"] >= 1
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "a temporary file was left behind"
    for key in ("verdict", "ops", "ops_per_s", "violations", "violations_by_invariant", "versions"):
        assert key in summary, key
    assert {"memcg_stress", "python", "platform"} <= set(summary["versions"])
    assert events[0]["type"] == "start" and events[-1]["type"] == "end"
    return config, events, summary


# ------------------------------------------------------------------ soak --

@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clean")
    out = tmp / "run"
    p = cli("soak", "--duration", "2s", "--workers", WORKERS, "--stat-interval", "0.25", "--out", out, cwd=tmp)
    return p, out


def test_clean_soak(clean_run):
    p, out = clean_run
    assert p.returncode == 0, p.stderr + p.stdout[-3000:]
    assert "Traceback" not in p.stderr
    config, events, summary = check_folder(out)
    assert summary["verdict"] == "clean" and summary["violations"] == 0
    assert summary["ops"] > 0 and summary["ops_per_s"] > 0
    assert config["duration"] == 2.0 and config["workers"] == 2
    stats = [e for e in events if e["type"] == "stat"]
    assert len(stats) >= 3
    assert all({"ops", "memcgs_online", "memcgs_dying", "grace_periods", "checkpoints", "violations"} <= set(e)
               for e in stats)
    # the seed is printed at the start, plain stat lines (stdout is not a terminal)
    assert f"seed {config['seed']}" in p.stdout.splitlines()[0]
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("t ")]
    assert lines and all(" dying " in ln and " rss " in ln and "/s memcgs " in ln for ln in lines), p.stdout
    assert all(len(ln) <= 80 for ln in lines), lines          # the short form fits 80 columns
    assert all({"rss", "slab_pages", "rcu_pending", "objects_in_flight"} <= set(e) for e in stats)
    assert "\x1b[" not in p.stdout                 # no progress bar escape codes in a pipe
    assert summary["duration_s"] >= 2.0 and not summary["hung"] and not summary["interrupted"]   # ran its time, ended by itself


def test_config_json_replays_as_config(clean_run):
    from stress.runfolder import load_config
    _, out = clean_run
    cfg = load_config(out)
    recorded = json.loads((out / "config.json").read_text())
    assert cfg.to_dict() == recorded


def test_mutant_soak_finds_violation(tmp_path):
    out = tmp_path / "run"
    p = cli("soak", "--mutant", "no-flush-on-free", "--duration", "20s", "--workers", WORKERS, "--out", out,
            cwd=tmp_path)
    assert p.returncode == 1, p.stdout + p.stderr
    _, events, summary = check_folder(out)
    viol = [e for e in events if e["type"] == "violation"]
    assert viol and viol[0]["invariant"] and viol[0]["message"]
    assert any("flight_recorder" in v for v in viol)
    assert summary["verdict"] == "violation" and summary["violations"] >= 1
    assert summary["duration_s"] < 20                 # stopped at the violation, before its 20 s
    assert f"memcg-stress replay {out}" in p.stdout
    assert "VIOLATION [" in p.stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run(tmp_path, sig):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "stress", "soak", "--duration", "0", "--workers", WORKERS,
                             "--stat-interval", "0.2", "--out", str(out)], cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        events = out / "events.jsonl"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if events.exists() and '"type": "stat"' in events.read_text():
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("no stat line in events.jsonl within 30 s")
        assert not (out / "summary.json").exists()
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    _, evs, summary = check_folder(out)
    assert summary["verdict"] == "interrupted"
    assert summary["interrupted"] is True and summary["signals"] == [sig.name]
    assert any(e["type"] == "signal" for e in evs)


def test_toml_config_and_override(tmp_path):
    (tmp_path / "run.toml").write_text(
        'preset = "smoke"\nduration = "30s"\nworkers = 1\nmax-cgroups = 5\nkeep_going = true\n'
        'delay = ["reparent_swap=0.5:10"]\n[delays]\ncache_kill = [0.1, 5]\n')
    out = tmp_path / "run"
    p = cli("soak", "--config", "run.toml", "--duration", "1s", "--workers", WORKERS, "--seed", "42",
            "--delay", "array_grow=0.25", "--out", out, "--quiet", cwd=tmp_path)
    assert p.returncode == 0, p.stderr + p.stdout[-3000:]
    config, _, summary = check_folder(out)
    assert config["duration"] == 1.0 and config["workers"] == 2 and config["seed"] == 42
    assert config["max_memcgs"] == 5 and config["stop_on_violation"] is False
    assert config["delays"]["reparent_swap"] == [0.5, 10.0]
    assert config["delays"]["cache_kill"] == [0.1, 5.0]
    assert config["delays"]["array_grow"][0] == 0.25
    assert summary["preset"] == "smoke"
    assert "stat" not in p.stdout and len(p.stdout.splitlines()) == 2     # --quiet: seed line and result


def test_default_out_folder(tmp_path):
    p = cli("soak", "--duration", "0.3s", "--workers", "1", "--seed", "7", "--quiet", cwd=tmp_path)
    assert p.returncode == 0, p.stderr + p.stdout[-3000:]
    (folder,) = (tmp_path / "results").iterdir()
    assert folder.name.startswith("run-") and folder.name.endswith("-7")
    check_folder(folder)


# ------------------------------------------------------------- bad input --

def _file(name: str, text: str):
    def make(tmp: Path) -> str:
        (tmp / name).write_text(text)
        return name
    return make


def _regular_file_parent(tmp: Path) -> str:
    (tmp / "file").write_text("not a folder\n")
    return str(tmp / "file" / "sub")


BAD = [
    # (id, args (callables get tmp_path), words the one error line must hold)
    ("workers-negative", ["--workers", "-3"], ["workers", "0 (one per core) to"]),
    ("workers-absurd", ["--workers", str(10**6)], ["workers", "0 (one per core) to"]),
    ("workers-text", ["--workers", "many"], ["workers", "whole number"]),
    ("duration-text", ["--duration", "abc"], ["duration", "30s"]),
    ("duration-negative", ["--duration", "-5s"], ["duration", "30s"]),
    ("duration-too-long", ["--duration", "30d"], ["duration", "7 days"]),
    ("mode", ["--mode", "fancy"], ["mode", "reparent", "legacy"]),
    ("mutant", ["--mutant", "no-such-bug"], ["mutant", "no-flush-on-free"]),
    ("preset", ["--preset", "extreme"], ["preset", "smoke", "tough"]),
    ("delay-point", ["--delay", "nowhere=0.1:10"], ["delay", "reparent_swap"]),
    ("delay-form", ["--delay", "reparent_swap"], ["delay", "POINT=PROB:MAX_US"]),
    ("delay-prob", ["--delay", "reparent_swap=1.5:10"], ["delay", "probability"]),
    ("seed", ["--seed", "lucky"], ["seed", "whole number"]),
    ("kworkers-zero", ["--kworkers", "0"], ["kworkers", "1 to 8"]),
    ("rcu-threads-text", ["--rcu-threads", "some"], ["rcu-threads", "whole number"]),
    ("sysfs-interval-negative", ["--sysfs-interval-us", "-1"], ["sysfs-interval-us", "0 to 10000000"]),
    ("module-interval-absurd", ["--module-interval-us", "99999999999"], ["module-interval-us", "0 to 10000000"]),
    ("toml-actor-not-bool", ["--config", _file("act.toml", 'sysfs_actor = "yes"\n')], ["act.toml", "sysfs-actor",
                                                                                     "true or false"]),
    ("unknown-option", ["--frobnicate"], ["unrecognized", "--frobnicate"]),
    ("toml-broken", ["--config", _file("bad.toml", "workers = \n[[\n")], ["bad.toml", "TOML"]),
    ("toml-unknown-key", ["--config", _file("unk.toml", "wrokers = 2\n")], ["unk.toml", "wrokers", "valid"]),
    ("toml-bad-value", ["--config", _file("val.toml", 'mode = "fancy"\n')], ["val.toml", "mode"]),
    ("toml-missing", ["--config", "missing.toml"], ["missing.toml"]),
    ("out-under-file", ["--out", _regular_file_parent], ["out", "cannot create"]),
    ("abbreviated-option", ["--dur", "2s"], ["unrecognized", "--dur"]),
    ("json-folder", ["--json", "."], ["json", "is a folder"]),
    ("json-under-file", ["--json", _regular_file_parent], ["json", "cannot write"]),
    ("json-no-folder", ["--json", "no/such/folder.json"], ["json", "no folder"]),
    ("rule-out-zero", ["--rule-out", "0"], ["rule-out", "positive"]),
    ("rule-out-text", ["--rule-out", "often"], ["rule-out", "per hour"]),
    ("confidence-one", ["--confidence", "1"], ["confidence", "between 0 and 1"]),
    ("rule-out-and-duration", ["--rule-out", "5"], ["rule-out", "not both"]),
]


@pytest.mark.parametrize("args,words", [(a, w) for _, a, w in BAD], ids=[i for i, _, _ in BAD])
def test_bad_input_exits_2(tmp_path, args, words):
    argv = [a(tmp_path) if callable(a) else a for a in args]
    p = cli("soak", "--duration", "1s", *argv, cwd=tmp_path, timeout=30)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("memcg-stress: error: soak: ")       # one prefix, naming the command
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not (tmp_path / "results").exists()      # nothing ran


def _seedless_run(tmp: Path) -> str:
    (tmp / "seedless").mkdir()
    (tmp / "seedless" / "config.json").write_text(json.dumps({"duration": 1.0, "workers": 1}))
    return "seedless"


BAD_USAGE = [
    ("no-command", [], ["choose a command"]),
    ("unknown-command", ["explode"], ["invalid choice", "soak"]),
    ("replay-no-dir", ["replay"], ["DIR"]),
    ("replay-bad-dir", ["replay", "no-such-folder"], ["no-such-folder", "not a run folder"]),
    ("replay-a-file", ["replay", _file("notes.txt", "x\n")], ["notes.txt", "is a file, not a run folder"]),
    ("replay-no-seed", ["replay", _seedless_run], ["records no seed"]),
    ("bench-base-missing", ["bench", "--base", "no-such-tree"], ["--base no-such-tree", "no stresscore/"]),
    ("bench-base-not-a-checkout", ["bench", "--base", "."], ["--base .", "no stresscore/"]),
    ("bench-json-folder", ["bench", "--quick", "--json", "."], ["bench: json", "is a folder"]),
    ("bench-unknown", ["bench", "--quick", "--only", "nope"], ["bench: --only", "unknown benchmark"]),
    ("mutants-json-folder", ["mutants", "--json", "."], ["mutants: --json", "is a folder"]),
    ("mutants-json-read-only", ["mutants", "--json", _regular_file_parent], ["mutants: --json", "cannot write"]),
    ("mutants-seeds", ["mutants", "--seeds", "many"], ["mutants: --seeds", "whole number"]),
    ("mutants-budget", ["mutants", "--budget", "soon"], ["mutants: --budget"]),
    ("mutants-workers", ["mutants", "--workers", "-1"], ["mutants", "workers"]),
    ("mutants-abbreviated", ["mutants", "--bud", "1"], ["mutants", "unrecognized", "--bud"]),
    ("report-json-folder", ["report", "x", "--json", "."], ["report: json", "is a folder"]),
    ("list-nothing", ["list"], ["WHAT"]),
    ("list-unknown", ["list", "colours"], ["invalid choice", "mutants"]),
]


@pytest.mark.parametrize("argv,words", [(a, w) for _, a, w in BAD_USAGE], ids=[i for i, _, _ in BAD_USAGE])
def test_bad_usage_exits_2(tmp_path, argv, words):
    argv = [a(tmp_path) if callable(a) else a for a in argv]
    p = cli(*argv, cwd=tmp_path, timeout=30)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    err = [ln for ln in p.stderr.splitlines() if ln.startswith("memcg-stress: error: ")]
    assert len(err) == 1, p.stderr
    if argv and argv[0] in ("soak", "replay", "bench", "mutants", "report", "list"):
        assert err[0].startswith(f"memcg-stress: error: {argv[0]}: "), err[0]
    for w in words:
        assert w in err[0], (w, err[0])


def test_help_exits_0(tmp_path):
    p = cli("soak", "--help", cwd=tmp_path)
    assert p.returncode == 0 and "--keep-going" in p.stdout and "--delay" in p.stdout
    assert "--no-sysfs-actor" in p.stdout and "--kworkers" in p.stdout and "microseconds" in p.stdout


def test_actor_flags_reach_the_run(tmp_path):
    """--no-<actor>-actor, --<actor>-interval-us, --kworkers and --rcu-threads
    land in the run's config and decide which threads run."""
    p = cli("soak", "--duration", "0.3s", "--workers", "1", "--seed", "3", "--quiet", "--no-sysfs-actor",
            "--no-module-actor", "--kworkers", "3", "--rcu-threads", "1", "--cgroup-interval-us", "500",
            "--out", "run", cwd=tmp_path)
    assert p.returncode == 0, p.stderr + p.stdout[-3000:]
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (cfg["sysfs_actor"], cfg["module_actor"], cfg["active_memcg_actor"]) == (False, False, True)
    assert (cfg["kworkers"], cfg["rcu_threads"], cfg["cgroup_interval_us"]) == (3, 1, 500)
    roles = json.loads((tmp_path / "run" / "summary.json").read_text())["threads_by_role"]
    assert "sysfs" not in roles and "module" not in roles and "active_memcg" in roles
    assert len(roles["workqueue"]) == 3 and len(roles["rcu"]) == 1


def test_passthrough_missing_module(monkeypatch, capsys):
    from stress import cli as climod
    monkeypatch.setitem(climod.PASSTHROUGH, "mutants", "stress._no_such_module_")
    assert climod.main(["mutants"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mutants" in err[0]


# ---------------------------------------------------------------- replay --

def test_replay_mutant_reproduces(tmp_path):
    src = tmp_path / "orig"
    p = cli("soak", "--mutant", "no-flush-on-free", "--duration", "20s", "--workers", WORKERS, "--out", src,
            "--quiet", cwd=tmp_path)
    assert p.returncode == 1, p.stderr
    p = cli("replay", src, "--times", "2", "--out", tmp_path / "re", cwd=tmp_path)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "reproduced 2 of 2" in p.stdout
    for i in (1, 2):
        assert json.loads((tmp_path / "re" / str(i) / "summary.json").read_text())["verdict"] == "violation"


def test_replay_clean(clean_run, tmp_path):
    _, out = clean_run
    p = cli("replay", out, "--duration", "0.5s", "--out", tmp_path / "re", "--quiet", cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 of 1 reruns clean" in p.stdout
    seed = json.loads((out / "config.json").read_text())["seed"]
    assert json.loads((tmp_path / "re" / "1" / "config.json").read_text())["seed"] == seed


def test_replay_broken_config(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{not json")
    p = cli("replay", tmp_path / "run", cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "config.json" in p.stderr


# ------------------------------------------------------ RunFolder in-process --

def test_runfolder_api(tmp_path):
    from stress import ConfigError
    from stress.runfolder import RunFolder, load_config
    f = RunFolder.create(tmp_path / "a" / "b", seed=5)
    assert f.path == tmp_path / "a" / "b"
    f.write_config({"duration": 1.0, "seed": 5, "workers": 1})
    f.event({"type": "stat", "t": 0.1, "ops": 3})
    f.event({"type": "stat", "t": 0.2, "ops": 6})
    assert len((f.path / "events.jsonl").read_text().splitlines()) == 2      # flushed as written
    f.write_summary({"verdict": "clean"})
    f.close()
    assert json.loads((f.path / "summary.json").read_text()) == {"verdict": "clean"}
    assert load_config(f.path).seed == 5
    with pytest.raises(ConfigError, match="already holds a run"):
        RunFolder.create(f.path, seed=5)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError) as e:
        RunFolder.create(tmp_path / "file" / "sub", seed=1)
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError):
        load_config(tmp_path / "nowhere")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.json").write_text('{"wrokers": 1}')
    with pytest.raises(ConfigError, match="wrokers"):
        load_config(tmp_path / "c")


# ------------------------------------------------------- JSON on stdout --

def test_soak_json_on_stdout(tmp_path):
    p = cli("soak", "--duration", "1s", "--workers", "1", "--seed", "3", "--stat-interval", "0.3s",
            "--out", tmp_path / "run", "--no-report", "--json", "-", cwd=tmp_path)
    assert p.returncode == 0, p.stderr + p.stdout[-3000:]
    doc = json.loads(p.stdout)                       # one JSON document, nothing else
    assert doc == json.loads((tmp_path / "run" / "summary.json").read_text())
    assert doc["verdict"] == "clean" and doc["seed"] == 3
    assert "seed 3" in p.stderr and "\nt " in p.stderr     # the human output went to stderr
    assert not (tmp_path / "-").exists()


def test_replay_report_and_list_json_on_stdout(clean_run, tmp_path):
    _, out = clean_run
    p = cli("replay", out, "--duration", "0.5s", "--out", tmp_path / "re", "--json", "-", cwd=tmp_path)
    assert p.returncode == 0, p.stderr + p.stdout[-3000:]
    doc = json.loads(p.stdout)
    assert doc["original"]["verdict"] == "clean" and [r["outcome"] for r in doc["runs"]] == ["clean"]
    assert "reruns clean" in p.stderr
    p = cli("report", out, "--out", tmp_path / "rep", "--no-plots", "--json", "-", cwd=tmp_path)
    assert p.returncode == 0, p.stderr + p.stdout[-3000:]
    assert json.loads(p.stdout)["run"]["verdict"] == "clean" and "memcg-stress report" in p.stderr
    for what, key in (("mutants", "no-flush-on-free"), ("presets", "tough"), ("delays", "reparent_swap")):
        p = cli("list", what, "--json", cwd=tmp_path)
        assert p.returncode == 0, p.stderr + p.stdout[-3000:]
        assert key in [x["name"] for x in json.loads(p.stdout)[what]]
        p = cli("list", what, cwd=tmp_path)
        assert p.returncode == 0 and key in p.stdout and max(map(len, p.stdout.splitlines())) <= 80


def test_mutants_json_on_stdout_and_quiet(tmp_path):
    p = cli("mutants", "--only", "no-flush-on-free", "--no-correct", "--seeds", "1", "--budget", "5s",
            "--quiet", "--json", "-", cwd=tmp_path)
    assert p.returncode == 0, p.stderr + p.stdout[-3000:]
    doc = json.loads(p.stdout)
    assert doc["ok"] and [r["name"] for r in doc["mutants"]] == ["no-flush-on-free"]
    assert "detection matrix" not in p.stderr and "every expected mutant caught" in p.stderr


def test_bench_json_on_stdout(tmp_path):
    p = cli("bench", "--quick", "--only", "rcu_read_pair_ns", "--json", "-", cwd=tmp_path)
    assert p.returncode == 0, p.stderr + p.stdout[-3000:]
    assert json.loads(p.stdout)["rcu_read_pair_ns"] > 0 and "memcg-stress bench" in p.stderr


# ------------------------------------------------- violations in words --

def test_stop_on_violation_shows_one_in_words(tmp_path):
    out = tmp_path / "run"
    p = cli("soak", "--mutant", "no-flush-on-free", "--duration", "20s", "--workers", WORKERS, "--out", out,
            "--no-report", cwd=tmp_path)
    assert p.returncode == 1, p.stdout + p.stderr
    shown = [ln for ln in p.stdout.splitlines() if ln.startswith("VIOLATION [")]
    assert len(shown) == 1, p.stdout
    assert "flight recorder" in p.stdout and not re.search(r"\ba=-?\d+ b=-?\d+", p.stdout)
    summary = json.loads((out / "summary.json").read_text())
    if summary["violations"] > 1:
        assert re.search(r"^and [\d,]+ more violations? found with it \(", p.stdout, re.M), p.stdout
    events = [e for e in read_events(out) if e["type"] == "violation"]
    assert len(events) == min(summary["violations"], 32)      # every one recorded in events.jsonl
    # states by the kernel's names, not numbers
    msgs = [e["message"] for e in events]
    assert not any(re.search(r"\bstate \d|kmem_state|dying \d|deactivated \d", m) for m in msgs), msgs
    assert any(re.search(r"memcg \d+ \((online|offline|released), kmem (NONE|ALLOCATED|ONLINE), .*"
                         r"(parent \d+|no parent: the root)\)", m) for m in msgs), msgs


# ------------------------------------------------------ damaged folders --

def _report(tmp_path, folder) -> subprocess.CompletedProcess:
    return cli("report", folder, "--out", tmp_path / "rep", "--no-plots", "-q", cwd=tmp_path)


@pytest.mark.parametrize("files,words", [
    ({"summary.json": "[1, 2]"}, ["summary.json: not a JSON object"]),
    ({"events.jsonl": ""}, ["events.jsonl: empty"]),
    ({"events.jsonl": "garbage\n{not json\n"}, ["events.jsonl: 2 lines not a JSON object"]),
    ({"events.jsonl": '{"type": "stat", "t": 1'}, ["events.jsonl: the last line is cut short"]),
    ({"config.json": "{}"}, ["summary.json: missing", "events.jsonl: missing"]),
], ids=["summary-not-object", "events-empty", "events-garbage", "events-truncated", "config-only"])
def test_report_with_nothing_usable_exits_2(tmp_path, files, words):
    d = tmp_path / "run"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    p = _report(tmp_path, d)
    assert p.returncode == 2, (p.stdout, p.stderr)
    (line,) = p.stderr.strip().splitlines()
    assert line.startswith("memcg-stress: error: report: ") and "nothing usable" in line
    for w in words:
        assert w in line, (w, line)


def test_report_of_a_killed_run_with_violations(tmp_path):
    """A run SIGKILLed mid-way: config.json, events without an end, a torn
    last line; the last stat line counted more violations than were
    recorded in full."""
    d = tmp_path / "killed"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"mode": "reparent", "workers": 2, "seed": 5, "duration": 30}))
    evs = [{"type": "start", "t": 0.0, "seed": 5},
           {"type": "stat", "t": 1.0, "ops": 1000, "per_thread_ops": [500, 500], "memcgs_dying": 1,
            "violations": 0},
           *({"type": "violation", "t": 1.5, "invariant": "stats", "message": "m"} for _ in range(32)),
           {"type": "stat", "t": 2.0, "ops": 2000, "per_thread_ops": [1000, 1000], "memcgs_dying": 2,
            "violations": 420}]
    (d / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evs) + '{"type": "st')
    p = cli("report", d, "--out", tmp_path / "rep", "--no-plots", "--json", "-", cwd=tmp_path)
    assert p.returncode == 0, p.stderr + p.stdout[-3000:]
    rep = json.loads(p.stdout)
    assert rep["run"]["killed"] and rep["run"]["violations"] == 420
    assert rep["run"]["verdict"] == "violation (killed: no summary.json, rebuilt from events.jsonl)"
    warnings = [ln for ln in p.stderr.splitlines() if ln.startswith("memcg-stress: warning: report: ")]
    assert any("summary.json: missing" in w for w in warnings)
    assert any("events.jsonl: the last line is cut short" in w for w in warnings)
    perf_values = {v for t in rep["threads"] for v in t["perf"].values()}
    assert perf_values == {"not recorded"}, perf_values        # not "not supported"
    p = cli("report", d, "--out", tmp_path / "rep2", "--no-plots", cwd=tmp_path)
    assert "not supported" not in p.stdout and "not recorded" in p.stdout


def test_report_without_config(clean_run, tmp_path):
    _, out = clean_run
    d = tmp_path / "noconfig"
    d.mkdir()
    for name in ("summary.json", "events.jsonl"):
        (d / name).write_bytes((out / name).read_bytes())
    p = _report(tmp_path, d)
    assert p.returncode == 0, p.stderr + p.stdout[-3000:]
    assert p.stderr.strip() == f"memcg-stress: warning: report: {d}: config.json: missing"
