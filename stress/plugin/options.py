"""The plugin's command-line options (group "memcg-stress race hunting")
and their typed parsers.  The rules on the values are stress.config's
(durations, modes, mutants, seeds); these parsers turn its ConfigError
into argparse's ArgumentTypeError, which pytest turns into a UsageError
naming the option."""
from __future__ import annotations

import argparse
from typing import Any

import pytest

GROUP = "memcg-stress race hunting"
DEFAULT_SEEDS = 10
DEFAULT_OUT = "results"
DEFAULTS: dict[str, Any] = {"duration": 1.0, "workers": 2}   # a short scenario per seed


# ---------------------------------------------------------------------------
# Typed option parsers (argparse `type=`): raise argparse.ArgumentTypeError,
# which pytest turns into a UsageError naming the option.

def seeds_arg(text: str) -> int:
    """--stress-seeds: how many seeds, a whole number >= 1."""
    try:
        n = int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of seeds >= 1, got {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of seeds >= 1, got {text!r}")
    return n


def seed_start_arg(text: str) -> int:
    """--stress-seed-start: the first seed, from 0 to 2**64-1."""
    from stress.config import MAX_SEED
    try:
        n = int(str(text).strip(), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 2**64-1, got {text!r}") from None
    if not 0 <= n < MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 2**64-1, got {text!r}")
    return n


def duration_arg(text: str) -> float:
    """--stress-duration: like 2s, 500ms, 1.5 (seconds); more than 0."""
    from stress.config import MAX_DURATION_S, ConfigError, parse_duration
    try:
        seconds = parse_duration(text)
    except ConfigError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 2s, 500ms or 1.5") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 (a test cannot run until interrupted), got {text!r}")
    if seconds > MAX_DURATION_S:
        raise argparse.ArgumentTypeError(f"must be at most 7 days, got {text!r}")
    return seconds


def mode_arg(text: str) -> str:
    """--stress-mode: one of stress.config.MODES."""
    from stress.config import ConfigError, check_mode
    try:
        return check_mode(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(e.detail) from None

def mutant_arg(text: str) -> str:
    """--stress-mutant: a name of stresscore._core.MUTANT_IDS, or "none"."""
    from stress.config import ConfigError, check_mutant
    if text != "none":
        try:
            check_mutant(text)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(e.detail) from None
    return text

def scenario_arg(text: str) -> str:
    """--stress-scenario: a path.  Read (and checked) in pytest_configure on
    the controller only: a worker on another host need not have the file."""
    if not str(text).strip():
        raise argparse.ArgumentTypeError("needs the path of a TOML file")
    return str(text)


def out_arg(text: str) -> str:
    if not str(text).strip():
        raise argparse.ArgumentTypeError("needs a folder")
    return str(text)



def format_duration(seconds: float) -> str:
    """The inverse of parse_duration, for the lines we print: 1 -> '1s', 0.5 -> '500ms'."""
    def num(x: float) -> str:
        return f"{x:.6f}".rstrip("0").rstrip(".")
    if 0 < seconds < 1:
        return num(seconds * 1000) + "ms"
    return num(seconds) + "s"


# ---------------------------------------------------------------------------
# Options, markers, settings

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("memcg-stress", GROUP)
    group.addoption("--stress-seeds", type=seeds_arg, default=None, metavar="N",
                    help=f"Run each test that takes stress_seed once per seed, N seeds (default: {DEFAULT_SEEDS}).")
    group.addoption("--stress-seed-start", type=seed_start_arg, default=None, metavar="SEED",
                    help="The first seed of the range (default: 0).")
    group.addoption("--stress-duration", type=duration_arg, default=None, metavar="DURATION",
                    help="Running phase of each run, like 2s or 500ms "
                         f"(default: {format_duration(DEFAULTS['duration'])}, or the scenario's).")
    group.addoption("--stress-mode", type=mode_arg, default=None, metavar="MODE",
                    help="Protocol to run: reparent (5.3) or legacy (before it) (default: reparent).")
    group.addoption("--stress-mutant", type=mutant_arg, default=None, metavar="NAME",
                    help="Run a deliberately broken variant of a protocol step "
                         "(see `memcg-stress mutants`); 'none' for the correct model.")
    group.addoption("--stress-scenario", type=scenario_arg, default=None, metavar="FILE",
                    help="A TOML configuration like `memcg-stress soak --config`: keys are "
                         "stress.Config fields; the --stress-* options win over it.")
    group.addoption("--stress-out", type=out_arg, default=None, metavar="DIR",
                    help=f"Where run folders go: DIR/hunt-<timestamp>/seed-N (default: {DEFAULT_OUT}; "
                         "on a remote xdist host, relative to its working folder).")
