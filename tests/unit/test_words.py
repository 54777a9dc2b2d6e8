"""What the tool shows in words: stat lines that fit 80 columns, flight
recorder events by name, a stop-on-violation run showing its first
violation in full and counting the others, one table style; and the values
the CLI, TOML and the API share (durations as text, workers 0)."""
import argparse
import io
import re
import tomllib
from pathlib import Path

import pytest

from stress.cli import build_parser
from stress.cli.display import Display, stat_line
from stress.config import Config, ConfigError, PRESETS, resolve_layers
from stress.words import DELAY_POINT_WHERE, DELAY_POINTS, EVENT_TEXT, event_text, flight_recorder_text

ROOT = Path(__file__).resolve().parents[2]
HUGE = {"t": 604800.0, "ops": 123_456_789_012_345, "memcgs_online": 255, "memcgs_dying": 12_345,
        "child_caches": 4096, "grace_periods": 98_765_432, "checkpoints": 12_096_000,
        "violations": 1_234_567, "slab_pages": 9_876_543, "rss": 123 * 2**30}


def test_stat_line_fits_80_columns_with_separators():
    line = stat_line(HUGE, 3.2e9)                 # a week of a fast run: the big counts shortened
    assert len(line) <= 80 and line.startswith("t 168h00m00s ops 123.46T "), line
    hour = stat_line({**HUGE, "t": 3600.0, "ops": 98_765_432_109, "memcgs_dying": 12, "violations": 0,
                      "rss": 300 * 2**20}, 3e7)
    assert len(hour) <= 80 and "ops 98,765,432,109 " in hour and "rss 300MiB" in hour, hour
    small = stat_line({"t": 1.0, "ops": 2_484_800, "memcgs_online": 12, "memcgs_dying": 3, "child_caches": 40,
                       "grace_periods": 1307, "checkpoints": 20, "violations": 0, "slab_pages": 512,
                       "rss": 45 * 2**20}, 2.4e6)
    assert len(small) <= 80 and "ops 2,484,800" in small and "ckpts 20" in small, small


def test_every_event_and_delay_point_has_words():
    from stresscore import _core
    assert set(_core.EVENT_NAMES) <= set(EVENT_TEXT)
    assert set(DELAY_POINTS) == set(DELAY_POINT_WHERE) and all(DELAY_POINT_WHERE.values())
    text = event_text("delay", DELAY_POINTS.index("reparent_swap"), 256_328)
    assert text == "delay at reparent_swap: 256.3 us"
    assert event_text("mkdir", 12, 3) == "mkdir: memcg 12 (parent 3)"
    assert "violation of charge" == event_text("violation", 1, 0)
    assert event_text("limit", 27, 2**63 - 1) == "limit of memcg 27 removed (max)"


def _violation(i: int, invariant: str = "stats") -> dict:
    return {"type": "violation", "invariant": invariant, "cpu": 2, "t": 0.084, "ts_ns": 1_000_000,
            "message": f"memcg {i} (offline, kmem ALLOCATED, kmemcg_id 3, css 2, memory 5 pages, "
                       f"stat 1/2, parent 3): stat[0] 1 + residues 0 != 2 live slab pages",
            "flight_recorder": [[(999_000, "mkdir", 12, 3), (999_500, "delay", 3, 256_328)], []]}


def test_stop_on_violation_shows_the_first_in_full_and_counts_the_rest(capsys):
    d = Display(5.0, quiet=False, stop_on_violation=True)
    for i in range(22):
        d.violation(_violation(i, "stats" if i % 2 else "charge"), ["worker", "controller"])
    d.finish()
    out = capsys.readouterr().out.splitlines()
    assert [ln for ln in out if ln.startswith("VIOLATION")] == [
        "VIOLATION [charge] at 0.084s on cpu 2: " + _violation(0)["message"]]
    assert any("delay at reparent_swap: 256.3 us" in ln for ln in out)
    assert any("mkdir: memcg 12 (parent 3)" in ln for ln in out)
    assert not any(re.search(r"\ba=\d", ln) for ln in out)
    assert out[-1] == "and 21 more violations found with it (charge 10, stats 11; all in events.jsonl)"
    assert all(len(ln) <= 100 for ln in out if not ln.startswith("VIOLATION"))


def test_keep_going_shows_one_line_each(capsys):
    d = Display(5.0, quiet=False, stop_on_violation=False)
    for i in range(3):
        d.violation(_violation(i))
    d.finish()
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and all(ln.startswith("VIOLATION [stats]") for ln in out)


def test_flight_recorder_without_dump():
    assert flight_recorder_text({"invariant": "leak"}) == []


def _soak_args(*argv) -> argparse.Namespace:
    return build_parser().parse_args(["soak", *argv])


def test_workers_zero_means_one_per_core_everywhere():
    cli = resolve_layers(_soak_args("--workers", "0"), {}, None).config
    toml = resolve_layers(_soak_args(), {"workers": 0}, "x.toml").config
    api = Config(workers=0)
    assert cli.workers == toml.workers == api.resolved_workers() >= 1
    with pytest.raises(ConfigError, match="workers"):
        resolve_layers(_soak_args("--workers", "-1"), {}, None)


def test_durations_as_text_in_the_api_as_in_toml():
    c = Config(duration="2s", checkpoint_interval="50ms", stat_interval="1m").validate()
    assert (c.duration, c.checkpoint_interval, c.stat_interval) == (2.0, 0.05, 60.0)
    assert resolve_layers(_soak_args(), {"duration": "2s"}, "x.toml").config.duration == 2.0
    with pytest.raises(ConfigError, match="duration"):
        Config(duration="soon")
    assert Config(mutant="none").mutant is None


def test_options_are_not_abbreviated():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["soak", "--dur", "2s"])


def _parsers() -> dict:
    from stress.cli import mutants, report
    subs = build_parser()._subparsers._group_actions[0].choices
    return {"soak": subs["soak"], "replay": subs["replay"], "bench": subs["bench"], "list": subs["list"],
            "mutants": mutants.build_parser(), "report": report.build_parser()}


@pytest.mark.parametrize("command", ["soak", "replay", "bench", "list", "mutants", "report"])
def test_every_option_has_help_with_a_default(command):
    p = _parsers()[command]
    assert p.allow_abbrev is False
    for a in p._actions:
        if a.option_strings and a.dest != "help":
            assert a.help and "default" in a.help, (command, a.option_strings)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_example_scenario_per_preset(preset):
    """examples/PRESET.toml restates its preset: the same configuration."""
    path = ROOT / "examples" / f"{preset}.toml"
    data = tomllib.loads(path.read_text())
    assert data["preset"] == preset and path.read_text().startswith("# memcg-stress scenario")
    from_file = resolve_layers(_soak_args("--seed", "1"), data, str(path)).config
    from_preset = resolve_layers(_soak_args("--seed", "1", "--preset", preset), {}, None).config
    assert from_file == from_preset


def test_the_readme_shows_a_scenario():
    readme = (ROOT / "README.md").read_text()
    assert "examples/tough.toml" in readme and "[delays]" in readme
