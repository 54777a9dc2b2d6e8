"""The pytest plugin's option parsers, scenario loading and the settings it
sends to xdist workers (stress.plugin), in this process."""
import argparse
from pathlib import Path
from types import SimpleNamespace

import pytest

from stress import plugin

MUTANT = "no-flush-on-free"


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
