"""The pytest plugin (stress.plugin) and the shipped hunt (stress.hunt).

The hunts and the usage errors run end to end in a fresh pytest process
each (pytester.runpytest_subprocess): the engine's native state is global to
a process.  The option parsers are unit-tested in
tests/unit/test_plugin_options.py.
"""
import json
import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

HUNT = ["--pyargs", "stress.hunt", "-p", "no:cacheprovider", "-p", "no:benchmark"]
MUTANT = "no-flush-on-free"     # caught in well under a second


def hunt(pytester, *args, timeout=60):
    return pytester.runpytest_subprocess(*HUNT, *args, timeout=timeout)


def folders(pytester) -> list[Path]:
    return sorted(pytester.path.glob("results/hunt-*/seed-*"))


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
        "violations: none; no violation in *s; rate below * per hour at 95 % confidence (all runs' time)",
        "race windows raced: */16*",
    ])
    # the bound is over both runs' time: -ln(0.05) / T hours
    m = re.search(r"no violation in ([0-9.]+)s; rate below ([0-9.e+]+) per hour", result.stdout.str())
    t = float(m.group(1))
    assert 0.9 < t < 3.0
    # T is printed to 0.1 s, so about 1 s of running carries up to 5 % rounding
    assert float(m.group(2)) == pytest.approx(2.995732 * 3600 / t, rel=0.05 / t + 0.01)
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
    assert summary["verdict"] == "violation" and summary["duration_s"] < 2.0   # stopped at the violation, before its 2 s
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
    assert re.search(r"^\s+[-+][\d,]+\.\d us  \w", out, re.M), "flight-recorder lines"
    assert not re.search(r"\ba=-?\d+ b=-?\d+$", out, re.M), "flight-recorder events in words"


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
