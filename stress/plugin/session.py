"""The plugin's session: settings resolved once per process (and sent to
xdist workers), the stress_seed parametrization, the stress_run fixture,
the failure report and the terminal summary (see stress.plugin)."""
from __future__ import annotations

import os
import shlex
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..words import event_text
from .options import DEFAULT_OUT, DEFAULT_SEEDS, DEFAULTS, GROUP, format_duration

PLUGIN_NAME = "memcg_stress"             # the entry point's name: `-p memcg_stress`
HUNT_MODULE = "stress.hunt"

USER_PROPERTY = "memcg_stress"           # name of the per-run record in report.user_properties
WORKERINPUT_KEY = "memcg_stress"         # what the controller sends each xdist worker
SECTION = "memcg-stress: how to reproduce"
FLIGHT_EVENTS = 6                        # flight-recorder events shown per thread
SUMMARY_FAILED_SHOWN = 20                # failed seeds listed with their replay line

MARKERS = (
    "stress_seed(*seeds): the seeds this test runs with: a test that takes the "
    "stress_seed argument is parametrized over these instead of the "
    "--stress-seeds range; for other tests the first is stress_run's default seed.",
    "stress_config(**overrides): configuration keys (stress.Config fields) that "
    "stress_run applies to this test, over the --stress-* options.",
)



def load_scenario(path: str | os.PathLike) -> dict:
    """The table of a scenario file (keys: stress.Config fields, as for
    `memcg-stress soak --config`), checked by Config.from_dict.
    Raises pytest.UsageError with a one-line message."""
    import tomllib

    from stress.config import Config, ConfigError
    p = Path(path)
    try:
        with open(p, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise pytest.UsageError(f"--stress-scenario: no such file: {str(p)!r}") from None
    except IsADirectoryError:
        raise pytest.UsageError(f"--stress-scenario: {str(p)!r} is a folder, not a TOML file") from None
    except OSError as e:
        raise pytest.UsageError(f"--stress-scenario: cannot read {str(p)!r}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise pytest.UsageError(f"--stress-scenario: {str(p)!r} is not valid TOML: {e}") from None
    try:
        Config.from_dict(data, where=str(p))
    except ConfigError as e:
        raise pytest.UsageError(f"--stress-scenario: {e}") from None
    return data




@dataclass
class Settings:
    """What this process's stress runs use, resolved once in pytest_configure."""
    seeds: int = DEFAULT_SEEDS
    seed_start: int = 0
    options: dict = field(default_factory=dict)     # Config keys from the --stress-* options
    scenario: dict = field(default_factory=dict)    # Config keys from the scenario file
    scenario_path: str | None = None
    hunt_dir: str = ""                              # results/hunt-<timestamp>, as this process resolves it
    controller_host: str = ""
    controller_cwd: str = ""

    def config_dict(self, *more: dict) -> dict:
        d = {**DEFAULTS, **self.scenario, **self.options}
        for m in more:
            d.update(m)
        return d

    def to_workerinput(self, hunt_dir: str) -> dict:
        return {"seeds": self.seeds, "seed_start": self.seed_start, "options": dict(self.options),
                "scenario": dict(self.scenario), "scenario_path": self.scenario_path,
                "hunt_dir": hunt_dir, "controller_host": self.controller_host,
                "controller_cwd": self.controller_cwd}

    @classmethod
    def from_workerinput(cls, d: dict) -> "Settings":
        return cls(**d)


settings_key = pytest.StashKey[Settings]()
hunt_out_key = pytest.StashKey[str]()          # the --stress-out base as given (controller)
runs_key = pytest.StashKey[list]()             # item: runs recorded and not yet reported
explained_key = pytest.StashKey[bool]()        # item: a failure message already explained them
REPORTER_NAME = "memcg_stress_summary"


def pytest_unconfigure(config: pytest.Config) -> None:
    s = config.stash.get(settings_key, None)
    if s is not None and not _is_worker(config):
        try:
            os.rmdir(s.hunt_dir)             # only if empty: every run was clean
        except OSError:
            pass
    reporter = config.pluginmanager.get_plugin(REPORTER_NAME)
    if reporter is not None:
        config.pluginmanager.unregister(reporter, REPORTER_NAME)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _stress_options_used(config: pytest.Config) -> bool:
    return any(config.getoption(name) is not None for name in (
        "stress_seeds", "stress_seed_start", "stress_duration", "stress_mode",
        "stress_mutant", "stress_scenario", "stress_out"))


def _new_hunt_dir(base: Path) -> Path:
    stamp = time.strftime("hunt-%Y%m%d-%H%M%S")
    path, n = base / stamp, 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}"
    return path


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    config.pluginmanager.register(SummaryReporter(config), REPORTER_NAME)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and WORKERINPUT_KEY in workerinput:
        # An xdist worker: the controller resolved and checked everything;
        # its options were parsed here again, but its files may not exist here.
        s = Settings.from_workerinput(workerinput[WORKERINPUT_KEY])
        s.hunt_dir = str(Path(s.hunt_dir).absolute())
        config.stash[settings_key] = s
        return
    s = Settings(controller_host=socket.gethostname(), controller_cwd=str(config.invocation_params.dir))
    opt = config.getoption
    if opt("stress_seeds") is not None:
        s.seeds = opt("stress_seeds")
    if opt("stress_seed_start") is not None:
        s.seed_start = opt("stress_seed_start")
    from stress.config import MAX_SEED
    if s.seed_start + s.seeds > MAX_SEED:
        raise pytest.UsageError(
            f"--stress-seed-start {s.seed_start} with --stress-seeds {s.seeds} runs past the last seed, 2**64-1")
    if opt("stress_duration") is not None:
        s.options["duration"] = opt("stress_duration")
    if opt("stress_mode") is not None:
        s.options["mode"] = opt("stress_mode")
    if opt("stress_mutant") is not None:
        s.options["mutant"] = None if opt("stress_mutant") == "none" else opt("stress_mutant")
    if opt("stress_scenario") is not None:
        s.scenario_path = opt("stress_scenario")
        s.scenario = load_scenario(s.scenario_path)
    if s.options or s.scenario:
        # the combination must make a valid run (the scenario alone was checked)
        from stress.config import Config, ConfigError
        try:
            cfg = Config.from_dict(s.config_dict(), where="--stress-* options")
        except ConfigError as e:
            raise pytest.UsageError(str(e)) from None
        if not cfg.duration:
            raise pytest.UsageError(
                f"--stress-scenario: {s.scenario_path}: duration = 0 (until interrupted) cannot run "
                "under pytest; give --stress-duration")
    out = opt("stress_out") or DEFAULT_OUT
    config.stash[hunt_out_key] = out
    base = Path(out) if Path(out).is_absolute() else config.invocation_params.dir / out
    s.hunt_dir = str(_new_hunt_dir(base))
    config.stash[settings_key] = s
    # `--tx` alone does not distribute (xdist wants --dist too): a hunt
    # given --tx means to spread its seeds.
    if (_stress_options_used(config) and config.getoption("tx", None)
            and config.getoption("dist", None) == "no"):
        config.option.dist = "load"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist controller, once per worker: send the resolved settings.  A
    local (popen) worker writes where the controller would; a remote one
    writes under its own working folder (or where an absolute --stress-out
    says)."""
    config = node.config
    s = config.stash.get(settings_key, None)
    if s is None:
        return
    if node.gateway.spec.popen:
        hunt_dir = s.hunt_dir
    else:
        hunt_dir = str(Path(config.stash[hunt_out_key]) / Path(s.hunt_dir).name)
    node.workerinput[WORKERINPUT_KEY] = s.to_workerinput(hunt_dir)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if not _stress_options_used(config):
        return None
    s = config.stash[settings_key]
    d = s.config_dict()
    parts = [f"seeds {s.seed_start}..{s.seed_start + s.seeds - 1} ({s.seeds})",
             f"mode {d.get('mode', 'reparent')}", f"mutant {d.get('mutant') or 'none'}",
             f"duration {format_duration(d['duration'])}"]
    if s.scenario_path:
        parts.append(f"scenario {s.scenario_path}")
    return [f"memcg-stress: {', '.join(parts)}; run folders of failing runs under {_show_path(s.hunt_dir, s.controller_cwd)}"]


def _seeds_from_marker(marker) -> list[int]:
    seeds: list[int] = []
    for a in marker.args:
        if isinstance(a, int) and not isinstance(a, bool):
            seeds.append(a)
        else:
            seeds.extend(int(x) for x in a)
    return seeds


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "stress_seed" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("stress_seed")
    if marker is not None and marker.args:
        seeds = _seeds_from_marker(marker)
    else:
        s = metafunc.config.stash[settings_key]
        seeds = range(s.seed_start, s.seed_start + s.seeds)
    metafunc.parametrize("stress_seed", seeds, ids=[f"seed-{n}" for n in seeds])


# ---------------------------------------------------------------------------
# Fixtures

@pytest.fixture
def stress_seed(request: pytest.FixtureRequest) -> int:
    """The seed of this test instance: tests that take it are parametrized
    over --stress-seed-start .. + --stress-seeds (or the stress_seed marker)."""
    return request.param


@pytest.fixture
def stress_run(request: pytest.FixtureRequest) -> "StressRunner":
    """stress_run(seed=None, **overrides) -> stress.Result: one run of the
    engine with the --stress-* options applied (see the module docstring),
    its folder kept under results/hunt-<timestamp>/seed-N if it was not
    clean, and the run recorded for the summary and the failure report.
    `stress_run.explain(result)` is the failure message: the violation, a
    flight-recorder excerpt and the commands that replay it."""
    return StressRunner(request)


class StressRunner:
    def __init__(self, request: pytest.FixtureRequest):
        self._request = request
        self._item = request.node
        self._config = request.config
        self._settings: Settings = request.config.stash[settings_key]
        self._runs: list[tuple[Any, str | None]] = []  # (result, its kept folder or None)

    def _default_seed(self) -> int | None:
        callspec = getattr(self._item, "callspec", None)
        if callspec is not None and "stress_seed" in callspec.params:
            return callspec.params["stress_seed"]
        marker = self._item.get_closest_marker("stress_seed")
        if marker is not None and marker.args:
            return _seeds_from_marker(marker)[0]
        return None

    def config_for(self, seed: int | None = None, **overrides):
        """The stress.Config stress_run(seed, **overrides) would run."""
        from stress.config import Config
        marker = self._item.get_closest_marker("stress_config")
        d = self._settings.config_dict(marker.kwargs if marker else {}, overrides)
        if seed is None:
            seed = self._default_seed()
        if seed is not None:
            d["seed"] = seed
        return Config.from_dict(d, where=f"stress_run({self._item.name})")

    def __call__(self, seed: int | None = None, **overrides):
        import random

        from stress import engine
        from stress.runfolder import RunFolder, summary_for
        cfg = self.config_for(seed, **overrides)
        if cfg.seed is None:
            cfg.seed = random.SystemRandom().randrange(2**63)
        recorded = {**cfg.to_dict(), "workers": cfg.resolved_workers()}
        folder = RunFolder.create(self._new_folder(cfg.seed), cfg.seed)
        result = None
        try:
            folder.write_config(recorded)
            result = engine.run(cfg, on_event=folder.event)
            folder.write_summary(summary_for(result, extra={"pytest": {
                "nodeid": self._item.nodeid, "reproduce": self._reproduce_lines(result, str(folder.path))}}))
        finally:
            folder.close()
            if result is not None and result.clean:
                shutil.rmtree(folder.path, ignore_errors=True)
        kept = None if result.clean else str(folder.path)
        self._runs.append((result, kept))
        self._item.stash.setdefault(runs_key, []).append(self._record(result, kept))
        return result

    def _new_folder(self, seed: int) -> Path:
        base = Path(self._settings.hunt_dir) / f"seed-{seed}"
        path, n = base, 1
        while path.exists():                         # the same seed twice in one session
            n += 1
            path = base.with_name(f"{base.name}.{n}")
        return path

    def _record(self, result, folder: str | None) -> dict:
        return {
            "nodeid": self._item.nodeid, "seed": result.seed, "verdict": result.verdict,
            "ops": result.ops, "duration_s": round(result.duration_s, 6),
            "mode": result.config.get("mode"), "mutant": result.config.get("mutant"),
            "violations_by_invariant": dict(result.violations_by_invariant or {}),
            "first_violation_s": result.first_violation_s,
            "folder": folder, "host": socket.gethostname(),
            "replay": self._replay_line(folder) if folder else None,
            "windows": {n: w["raced"] for n, w in ((result.stats or {}).get("windows") or {}).items()},
        }

    # -- how to reproduce --------------------------------------------------

    def _remote(self) -> bool:
        return socket.gethostname() != self._settings.controller_host

    def _host_note(self) -> str:
        return f"   # on host {socket.gethostname()}" if self._remote() else ""

    def _replay_line(self, folder: str) -> str:
        shown = folder if self._remote() else _show_path(folder, self._settings.controller_cwd)
        return f"memcg-stress replay {shlex.quote(shown)}"

    def _pytest_line(self, result) -> str | None:
        callspec = getattr(self._item, "callspec", None)
        if callspec is None or "stress_seed" not in callspec.params:
            return None     # the seed is not a command-line choice for this test
        if self._item.module is not None and self._item.module.__name__.startswith(HUNT_MODULE + "."):
            target = ["--pyargs", HUNT_MODULE]
        else:
            target = [self._item.nodeid.split("[", 1)[0]]
        c = result.config
        argv = ["pytest", *target, "-p", PLUGIN_NAME, "--stress-seed-start", str(result.seed),
                "--stress-seeds", "1", "--stress-mode", str(c["mode"])]
        if c.get("mutant"):
            argv += ["--stress-mutant", c["mutant"]]
        elif self._settings.scenario.get("mutant"):
            argv += ["--stress-mutant", "none"]      # the scenario's mutant was turned off
        argv += ["--stress-duration", format_duration(c["duration"])]
        if self._settings.scenario_path:
            argv += ["--stress-scenario", self._settings.scenario_path]
        return " ".join(shlex.quote(a) for a in argv)

    def _reproduce_lines(self, result, folder: str | None) -> list[str]:
        lines = []
        if folder:
            lines.append(self._replay_line(folder) + self._host_note())
        line = self._pytest_line(result)
        if line:
            lines.append(line)
        return lines

    def reproduce(self, result) -> str:
        """The commands that rerun `result`, Hypothesis style."""
        folder = next((kept for r, kept in self._runs if r is result), None)
        lines = self._reproduce_lines(result, folder)
        if not lines:
            return ""
        return ("To reproduce (real threads are not deterministic: add `--times 20` to the replay "
                "to rerun it until it fails again):\n" + "\n".join("    " + ln for ln in lines))

    def explain(self, result) -> str:
        """The failure message for a run that was not clean."""
        self._item.stash[explained_key] = True
        return explain(result, self.reproduce(result))


def explain(result, reproduce: str = "") -> str:
    c = result.config
    head = (f"memcg-stress: {result.verdict} with seed {result.seed} "
            f"(mode {c.get('mode')}, mutant {c.get('mutant') or 'none'}, {c.get('workers')} workers, "
            f"{result.ops} ops in {result.duration_s:.3f} s)")
    parts = [head]
    if result.violations:
        v = result.violations[0]
        when = f" at {result.first_violation_s:.3f} s" if result.first_violation_s is not None else ""
        parts.append(f"violation of invariant {v.get('invariant')!r}{when}"
                     + (f" on cpu {v['cpu']}" if "cpu" in v else "") + f":\n    {v.get('message')}")
        more = len(result.violations) - 1
        if more > 0:
            by = ", ".join(f"{k} {n}" for k, n in sorted(result.violations_by_invariant.items()))
            parts.append(f"and {more} more (violations by invariant: {by})")
        fr = flight_recorder_excerpt(v, (result.stats or {}).get("roles") or [])
        if fr:
            parts.append(fr)
    if reproduce:
        parts.append(reproduce)
    return "\n\n".join(parts)


def flight_recorder_excerpt(violation: dict, roles: list[str], per_thread: int = FLIGHT_EVENTS) -> str:
    """The last events of each thread before `violation`, times relative to it."""
    recorder = violation.get("flight_recorder")
    if not recorder:
        return ""
    t_ref = violation.get("ts_ns")
    if t_ref is None:
        t_ref = max((ev[0] for events in recorder for ev in events), default=0)
    lines = [f"flight recorder (last {per_thread} events per thread; time relative to the violation):"]
    for cpu, events in enumerate(recorder):
        role = roles[cpu] if cpu < len(roles) else "thread"
        mark = "   <- found the violation" if cpu == violation.get("cpu") else ""
        lines.append(f"  cpu {cpu} ({role}){mark}")
        tail = list(events)[-per_thread:]
        if not tail:
            lines.append("      (no events)")
        for ts, name, a, b in tail:
            lines.append(f"      {(ts - t_ref) / 1000:+12,.1f} us  {event_text(name, a, b)}")
    return "\n".join(lines)


def _show_path(path: str, start: str | None = None) -> str:
    """`path` relative to `start` (the controller's working folder) when it
    lies under it, else absolute."""
    path = os.path.abspath(path)
    try:
        rel = os.path.relpath(path, start or None)
    except ValueError:
        return path
    return path if rel == ".." or rel.startswith(".." + os.sep) else rel


# ---------------------------------------------------------------------------
# Reports: each run goes once into the user_properties of the report of the
# phase it ran in; xdist serializes them to the controller.

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    runs = item.stash.get(runs_key, None)
    if runs:
        item.stash[runs_key] = []
        for run in runs:
            report.user_properties.append((USER_PROPERTY, run))
        bad = [r for r in runs if r["verdict"] != "clean"]
        if report.failed and bad and not item.stash.get(explained_key, False):
            lines = []
            for r in bad:
                lines.append(f"seed {r['seed']}: {r['verdict']} "
                             f"({', '.join(f'{k} {n}' for k, n in r['violations_by_invariant'].items()) or '-'})")
                if r["replay"]:
                    lines.append(f"    {r['replay']}")
            report.sections.append((SECTION, "\n".join(lines)))
    return report


@dataclass
class HuntSummary:
    runs: int = 0
    seeds: set = field(default_factory=set)
    ops: int = 0
    running_s: float = 0.0
    by_invariant: dict = field(default_factory=dict)
    failed: list = field(default_factory=list)        # run records that were not clean
    windows: dict = field(default_factory=dict)       # race window -> races counted over all runs

    def add(self, run: dict) -> None:
        self.runs += 1
        self.seeds.add(run["seed"])
        self.ops += run["ops"]
        self.running_s += run["duration_s"]
        for k, n in run["violations_by_invariant"].items():
            self.by_invariant[k] = self.by_invariant.get(k, 0) + n
        for k, n in (run.get("windows") or {}).items():
            self.windows[k] = self.windows.get(k, 0) + n
        if run["verdict"] != "clean":
            self.failed.append(run)


class SummaryReporter:
    """Registered per config: aggregates the runs of every report it sees
    (on the xdist controller, the workers' reports) and prints the section."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.summary = HuntSummary()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == USER_PROPERTY and isinstance(value, dict):
                self.summary.add(value)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not _is_worker(self.config) and self.summary.runs:
            write_summary(terminalreporter, self.summary, self.config.stash[settings_key].controller_host)


def write_summary(terminalreporter, summary: HuntSummary, here: str) -> None:
    tr = terminalreporter
    tr.section(GROUP, sep="=")
    seeds = sorted(summary.seeds)
    span = f"{seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    rate = summary.ops / summary.running_s if summary.running_s > 0 else 0.0
    tr.write_line(f"seeds run: {len(seeds)} ({span}) in {summary.runs} runs; "
                  f"total ops: {summary.ops:,} in {summary.running_s:.1f} s of running ({rate:,.0f} ops/s)")
    if summary.by_invariant:
        by = ", ".join(f"{k} {n}" for k, n in sorted(summary.by_invariant.items(), key=lambda kv: -kv[1]))
        tr.write_line(f"violations by invariant: {by}", red=True)
    else:
        from ..coverage import rate_verdict
        # every worker's running time together: the runs are independent trials
        tr.write_line(f"violations: none; {rate_verdict(summary.running_s)['text']} (all runs' time)", green=True)
    if summary.windows:
        never = sorted(k for k, n in summary.windows.items() if not n)
        tr.write_line(f"race windows raced: {len(summary.windows) - len(never)}/{len(summary.windows)}"
                      + (f"; never raced: {', '.join(never)}" if never else ""))
    if not summary.failed:
        return
    failed_seeds = sorted({r["seed"] for r in summary.failed})
    tr.write_line(f"failed seeds ({len(failed_seeds)}): {', '.join(map(str, failed_seeds))}", red=True, bold=True)
    for r in summary.failed[:SUMMARY_FAILED_SHOWN]:
        inv = ", ".join(sorted(r["violations_by_invariant"])) or r["verdict"]
        where = f"   # on host {r['host']}" if r.get("host") and r["host"] != here else ""
        tr.write_line(f"  seed {r['seed']} ({inv}): {r['replay'] or r['nodeid']}{where}")
    if len(summary.failed) > SUMMARY_FAILED_SHOWN:
        tr.write_line(f"  ... and {len(summary.failed) - SUMMARY_FAILED_SHOWN} more")
