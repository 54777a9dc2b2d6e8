"""The pytest plugin (stress.plugin) and the shipped hunt (stress.hunt).

Option parsers are unit-tested here; the hunts run end to end in a fresh
pytest process each (pytester.runpytest_subprocess): the engine's native
state is global to a process.
"""
import argparse
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from stress import plugin

pytest_plugins = ["pytester"]

HUNT = ["--pyargs", "stress.hunt", "-p", "no:cacheprovider", "-p", "no:benchmark"]
MUTANT = "no-flush-on-free"     # caught in well under a second


def hunt(pytester, *args, timeout=60):
    return pytester.runpytest_subprocess(*HUNT, *args, timeout=timeout)


def folders(pytester) -> list[Path]:
    return sorted(pytester.path.glob("results/hunt-*/seed-*"))


# -- typed option parsers ---------------------------------------------------

@pytest.mark.parametrize("text, seconds", [("2s", 2.0), ("500ms", 0.5), ("1.5", 1.5), ("1m", 60.0)])
def test_duration_arg_accepts(text, seconds):
    assert plugin.duration_arg(text) == seconds


@pytest.mark.parametrize("text", ["fast", "-1s", "0", "0ms", "2 weeks", "", "8d"])
def test_duration_arg_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        plugin.duration_arg(text)


@pytest.mark.parametrize("text, n", [("1", 1), ("200", 200), (" 7 ", 7)])
def test_seeds_arg_accepts(text, n):
    assert plugin.seeds_arg(text) == n


@pytest.mark.parametrize("text", ["0", "-3", "many", "1.5", ""])
def test_seeds_arg_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError, match=">= 1"):
        plugin.seeds_arg(text)


def test_seed_start_arg():
    assert plugin.seed_start_arg("0") == 0
    assert plugin.seed_start_arg("0x10") == 16
    assert plugin.seed_start_arg(str(2**64 - 1)) == 2**64 - 1
    for bad in ("-1", str(2**64), "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            plugin.seed_start_arg(bad)


def test_mode_and_mutant_args():
    from stresscore._core import MUTANT_IDS
    assert plugin.mode_arg("reparent") == "reparent"
    assert plugin.mode_arg("legacy") == "legacy"
    with pytest.raises(argparse.ArgumentTypeError, match="valid: reparent, legacy"):
        plugin.mode_arg("kernel")
    for name in MUTANT_IDS:
        assert plugin.mutant_arg(name) == name
    assert plugin.mutant_arg("none") == "none"
    with pytest.raises(argparse.ArgumentTypeError, match=MUTANT):
        plugin.mutant_arg("no-such-bug")


def test_scenario_loading(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('duration = 0.5\nmax_memcgs = 8\nmutant = "rcu-busted"\n')
    assert plugin.load_scenario(good) == {"duration": 0.5, "max_memcgs": 8, "mutant": "rcu-busted"}
    bad_key = tmp_path / "bad.toml"
    bad_key.write_text("max_cgroups = 8\n")
    with pytest.raises(pytest.UsageError, match="unknown key 'max_cgroups'"):
        plugin.load_scenario(bad_key)
    bad_toml = tmp_path / "broken.toml"
    bad_toml.write_text("duration = \n")
    with pytest.raises(pytest.UsageError, match="not valid TOML"):
        plugin.load_scenario(bad_toml)
    with pytest.raises(pytest.UsageError, match="no such file"):
        plugin.load_scenario(tmp_path / "missing.toml")
    with pytest.raises(argparse.ArgumentTypeError):
        plugin.scenario_arg("")


@pytest.mark.parametrize("seconds, text", [(1.0, "1s"), (0.5, "500ms"), (1.5, "1.5s"), (0.0005, "0.5ms"), (90, "90s")])
def test_format_duration_round_trips(seconds, text):
    assert plugin.format_duration(seconds) == text
    assert plugin.duration_arg(text) == pytest.approx(seconds)


def test_workers_get_controller_paths_only_when_local(tmp_path):
    s = plugin.Settings(seeds=3, seed_start=5, options={"mode": "legacy"}, scenario={"max_memcgs": 8},
                        hunt_dir=str(tmp_path / "results" / "hunt-x"), controller_host="ctl")

    def node(popen):
        config = SimpleNamespace(stash={plugin.settings_key: s, plugin.hunt_out_key: "results"})
        return SimpleNamespace(config=config, workerinput={},
                               gateway=SimpleNamespace(spec=SimpleNamespace(popen=popen)))

    local, remote = node(True), node(None)
    plugin.pytest_configure_node(local)
    plugin.pytest_configure_node(remote)
    sent = local.workerinput[plugin.WORKERINPUT_KEY]
    assert sent["hunt_dir"] == s.hunt_dir
    assert remote.workerinput[plugin.WORKERINPUT_KEY]["hunt_dir"] == str(Path("results") / "hunt-x")
    back = plugin.Settings.from_workerinput(sent)
    assert (back.seeds, back.seed_start, back.options, back.scenario) == (3, 5, {"mode": "legacy"}, {"max_memcgs": 8})


# -- bad usage: pytest.UsageError (exit code 4) -----------------------------

@pytest.mark.parametrize("args, message", [
    (["--stress-duration", "soon"], "--stress-duration: 'soon' is not a duration"),
    (["--stress-duration", "0"], "--stress-duration: must be more than 0"),
    (["--stress-mode", "kernel"], "--stress-mode: unknown mode 'kernel'"),
    (["--stress-mutant", "no-such-bug"], "--stress-mutant: unknown mutant 'no-such-bug'"),
    (["--stress-scenario", "missing.toml"], "--stress-scenario: no such file: 'missing.toml'"),
    (["--stress-seeds", "0"], "--stress-seeds: must be a whole number of seeds >= 1"),
    (["--stress-seeds", "-5"], "--stress-seeds: must be a whole number of seeds >= 1"),
    (["--stress-seed-start", str(2**64 - 1), "--stress-seeds", "2"], "runs past the last seed"),
])
def test_bad_options_are_usage_errors(pytester, args, message):
    result = hunt(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert not folders(pytester)


def test_scenario_with_a_bad_value_is_a_usage_error(pytester):
    pytester.path.joinpath("scenario.toml").write_text("max_depth = 0\n")
    result = hunt(pytester, "--stress-scenario", "scenario.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*max-depth: must be a whole number from 1 to 64*"])


def test_help_lists_the_group_and_markers(pytester):
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["memcg-stress race hunting:", "*--stress-seeds=N*", "*--stress-scenario=FILE*"])
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.stress_seed(*seeds)*", "@pytest.mark.stress_config(**overrides)*"])


# -- hunts ------------------------------------------------------------------

def test_clean_hunt_passes(pytester):
    result = hunt(pytester, "--stress-seeds", "2", "--stress-duration", "500ms", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "*test_seed?seed-0? PASSED*", "*test_seed?seed-1? PASSED*",
        "*= memcg-stress race hunting =*",
        "seeds run: 2 (0..1) in 2 runs; total ops: *",
        "violations: none",
    ])
    assert not folders(pytester)                   # clean seeds leave no folder
    assert not list(pytester.path.glob("results/hunt-*"))


def test_mutant_hunt_fails_with_the_violation_and_how_to_replay_it(pytester):
    result = hunt(pytester, "--stress-seeds", "1", "--stress-seed-start", "7",
                  "--stress-mutant", MUTANT, "--stress-duration", "2s")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    [folder] = folders(pytester)
    assert folder.name == "seed-7"
    assert json.loads((folder / "config.json").read_text())["seed"] == 7
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["verdict"] == "violation" and summary["duration_s"] < 1.0   # caught well under 1 s
    rel = folder.relative_to(pytester.path).as_posix()
    result.stdout.fnmatch_lines([
        f"memcg-stress: violation with seed 7 (mode reparent, mutant {MUTANT}, 2 workers, *",
        "violation of invariant '*' at *",
        "flight recorder (last 6 events per thread; time relative to the violation):",
        "  cpu 0 (worker)*",
        "To reproduce *",
        f"    memcg-stress replay {rel}",
        f"    pytest --pyargs stress.hunt -p memcg_stress --stress-seed-start 7 --stress-seeds 1 "
        f"--stress-mode reparent --stress-mutant {MUTANT} --stress-duration 2s",
        "*= memcg-stress race hunting =*",
        "violations by invariant: *",
        "failed seeds (1): 7",
        f"  seed 7 (*): memcg-stress replay {rel}",
    ])
    assert re.search(r"^\s+[-+]\d+\.\d us  \w+ +a=-?\d+ b=-?\d+$", out, re.M), "flight-recorder lines"


def test_tx_popen_hunt_spreads_seeds_and_aggregates(pytester):
    pytester.path.joinpath("scenario.toml").write_text(f'mutant = "{MUTANT}"\nduration = 2.0\nmax_memcgs = 8\n')
    result = hunt(pytester, "--tx", "2*popen", "--stress-seeds", "2", "--stress-seed-start", "3",
                  "--stress-scenario", "scenario.toml")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "2 workers [2 items]",
        "*pytest --pyargs stress.hunt -p memcg_stress --stress-seed-start ? --stress-seeds 1 --stress-mode reparent "
        f"--stress-mutant {MUTANT} --stress-duration 2s --stress-scenario scenario.toml",
        "*= memcg-stress race hunting =*",
        "seeds run: 2 (3..4) in 2 runs; total ops: *",
        "violations by invariant: *",
        "failed seeds (2): 3, 4",
    ])
    assert [f.name for f in folders(pytester)] == ["seed-3", "seed-4"]   # one hunt folder, both workers



def test_markers_and_the_reproduce_section_in_a_users_test(pytester):
    pytester.makepyfile(test_user=f'''
        import pytest

        @pytest.mark.stress_seed(11)
        @pytest.mark.stress_config(mutant="{MUTANT}", max_memcgs=8)
        def test_mine(stress_run):
            result = stress_run(duration=2.0)
            assert result.config["max_memcgs"] == 8 and result.seed == 11
            assert result.clean
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "test_user.py", timeout=60)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- memcg-stress: how to reproduce -*",
        "seed 11: violation (*)",
        "    memcg-stress replay results/hunt-*/seed-11",
        "failed seeds (1): 11",
    ])
