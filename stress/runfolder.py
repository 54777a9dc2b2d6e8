"""The folder one run writes: config.json, events.jsonl, summary.json.

    folder = RunFolder.create(out, seed)        # out None: results/run-YYYYmmdd-HHMMSS-<seed>
    folder.write_config(config_dict)            # everything needed to replay the run
    folder.event({"type": "stat", ...})         # one JSON line, flushed and fsync'ed
    folder.write_summary(summary_for(result))   # atomic: tmp file + os.replace
    folder.close()

A killed process loses at most the event it was writing: every event line is
flushed and fsync'ed as it is written, and summary.json is either absent or
complete.  `load_config(dir)` reads a run's config.json back as a Config.

This is the only module that knows the names of a run folder's files:
the soak, replay, the report and the pytest plugin read and write run
folders through it (`load_config`, `load_summary`, `read_events`, and, for
the report, `inspect_json`, `inspect_events` and `NOT_A_RUN`, which say
what in a damaged folder could not be read).
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

from .config import Config, ConfigError, one_line

CONFIG_FILE = "config.json"
EVENTS_FILE = "events.jsonl"
SUMMARY_FILE = "summary.json"
RESULTS_DIR = "results"
#: why a folder holding none of the files is not a run folder
NOT_A_RUN = f"not a run folder (no {CONFIG_FILE}, {SUMMARY_FILE} or {EVENTS_FILE})"


def _json_default(obj):
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def _atomic_write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, default=_json_default)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def default_name(seed: int, when: float | None = None) -> str:
    return time.strftime("run-%Y%m%d-%H%M%S", time.localtime(when)) + f"-{seed}"


class RunFolder:
    """One run's output folder (see the module docstring)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._events = None

    @classmethod
    def create(cls, out: str | Path | None, seed: int) -> "RunFolder":
        """Create (or reuse an empty) folder and open events.jsonl for appending.
        Raises ConfigError (one line) if it cannot be created or written."""
        if out is None or str(out) == "":
            base = Path(RESULTS_DIR) / default_name(seed)
            path, n = base, 1
            while path.exists():                     # two runs in the same second with the same seed
                n += 1
                path = base.with_name(f"{base.name}-{n}")
        else:
            path = Path(out)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise ConfigError(f"out: {str(path)!r} exists and is not a folder") from None
        except OSError as e:
            raise ConfigError(f"out: cannot create folder {str(path)!r}: {e.strerror or one_line(e)}") from None
        for name in (CONFIG_FILE, EVENTS_FILE, SUMMARY_FILE):
            if (path / name).exists():
                raise ConfigError(f"out: {str(path)!r} already holds a run ({name}); choose a new or empty folder")
        folder = cls(path)
        try:
            folder._events = open(path / EVENTS_FILE, "a", encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"out: cannot write in folder {str(path)!r}: {e.strerror or one_line(e)}") from None
        return folder

    def write_config(self, config_dict: dict) -> None:
        _atomic_write_json(self.path / CONFIG_FILE, config_dict)

    def event(self, ev: dict) -> None:
        """Append one event as a JSON line, flush and fsync it."""
        if self._events is None:
            self._events = open(self.path / EVENTS_FILE, "a", encoding="utf-8")
        self._events.write(json.dumps(ev, sort_keys=False, default=_json_default) + "\n")
        self._events.flush()
        os.fsync(self._events.fileno())

    def write_summary(self, summary: dict) -> None:
        _atomic_write_json(self.path / SUMMARY_FILE, summary)

    def close(self) -> None:
        if self._events is not None:
            try:
                self._events.flush()
                os.fsync(self._events.fileno())
            except (OSError, ValueError):
                pass
            self._events.close()
            self._events = None

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"


def load_config(dir: str | Path) -> Config:
    """The Config a run folder recorded (seed and workers resolved)."""
    path = Path(dir)
    if path.exists() and not path.is_dir():
        hint = f"{str(path.parent)!r}" if path.name == CONFIG_FILE else f"the folder that holds {CONFIG_FILE}"
        raise ConfigError(f"{str(path)!r} is a file, not a run folder; give {hint}")
    if not path.is_dir():
        raise ConfigError(f"{str(path)!r} is not a run folder (no such folder)")
    cfg = path / CONFIG_FILE
    try:
        text = cfg.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{str(path)!r} is not a run folder (no {CONFIG_FILE})") from None
    except OSError as e:
        raise ConfigError(f"cannot read {str(cfg)!r}: {e.strerror or one_line(e)}") from None
    return Config.from_dict(config_object(text, repr(str(cfg))), where=str(cfg))


def config_object(text: str | bytes, name: str) -> dict:
    """The JSON object of configuration keys in `text` (a config.json);
    ConfigError with one line naming `name` otherwise."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"{name} is not valid JSON: {one_line(e)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: expected a JSON object of configuration keys")
    return data


def config_path(dir: str | Path) -> Path:
    """Where a run folder keeps its config.json."""
    return Path(dir) / CONFIG_FILE


def load_summary(dir: str | Path) -> dict | None:
    """summary.json of a run folder, or None if missing or unreadable."""
    try:
        with open(Path(dir) / SUMMARY_FILE, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def read_events(dir: str | Path) -> list[dict]:
    """The events of a run folder; a torn last line (killed process), a
    blank line or one that is not a JSON object is skipped, bytes that are
    not UTF-8 are replaced.  No events.jsonl, or one that cannot be read: []."""
    return inspect_events(dir)[0]


def inspect_json(dir: str | Path, name: str) -> tuple[dict | None, str | None]:
    """(config.json or summary.json as a dict, None) or (None, what is wrong
    with it: missing, unreadable, not JSON, not an object), for the report."""
    if name not in (CONFIG_FILE, SUMMARY_FILE):
        raise ValueError(f"not a JSON file of a run folder: {name!r}")
    path = Path(dir) / name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, f"{name}: missing"
    except UnicodeDecodeError:
        return None, f"{name}: not UTF-8 text"
    except OSError as e:
        return None, f"{name}: cannot read: {e.strerror or one_line(e)}"
    if not text.strip():
        return None, f"{name}: empty"
    try:
        data = json.loads(text)
    except ValueError as e:
        return None, f"{name}: not valid JSON ({one_line(e)})"
    if not isinstance(data, dict):
        return None, f"{name}: not a JSON object (a {type(data).__name__})"
    return data, None


def inspect_events(dir: str | Path) -> tuple[list[dict], list[str]]:
    """(the events that could be read, what is wrong with events.jsonl:
    missing, unreadable, empty, a torn last line, lines that are not JSON
    objects), for the report."""
    path = Path(dir) / EVENTS_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], [f"{EVENTS_FILE}: missing"]
    except OSError as e:
        return [], [f"{EVENTS_FILE}: cannot read: {e.strerror or one_line(e)}"]
    if not raw.strip():
        return [], [f"{EVENTS_FILE}: empty"]
    out, bad, first_bad = [], 0, None
    lines = raw.decode("utf-8", errors="replace").split("\n")
    torn = bool(lines[-1].strip())                    # no newline after the last line
    for i, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            ev = None
        if isinstance(ev, dict):
            out.append(ev)
        elif not (torn and i == len(lines)):
            bad += 1
            first_bad = first_bad or i
    problems = []
    if torn:
        problems.append(f"{EVENTS_FILE}: the last line is cut short (the run was killed while writing it)")
    if bad:
        problems.append(f"{EVENTS_FILE}: {bad} line{'s' if bad != 1 else ''} not a JSON object "
                        f"(the first at line {first_bad}), skipped")
    if not out:
        problems.append(f"{EVENTS_FILE}: no event could be read")
    return out, problems


def versions() -> dict:
    try:
        from importlib.metadata import PackageNotFoundError, version
        try:
            pkg = version("memcg-stress")
        except PackageNotFoundError:
            from . import __version__ as pkg
    except ImportError:                                   # pragma: no cover
        from . import __version__ as pkg
    return {
        "memcg_stress": pkg,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "executable": sys.executable,
    }


MAX_SUMMARY_SAMPLES = 1000


def total_violations(result) -> int:
    """The engine keeps the first few violations in full and counts the rest."""
    return max(len(result.violations or []), sum((result.violations_by_invariant or {}).values()))


def _thin(xs: list, n: int) -> list:
    """At most n items of xs, evenly spread, the last one kept."""
    if len(xs) <= n:
        return xs
    step = len(xs) / n
    out = [xs[int(i * step)] for i in range(n - 1)]
    out.append(xs[-1])
    return out


def threads_by_role(stats: dict) -> dict:
    """The run's threads grouped by role (worker, controller, workqueue
    for the kworkers, rcu for the callback threads, module, active_memcg),
    each with its cpu slot and its non-zero counters."""
    out: dict = {}
    for cpu, (counters, role) in enumerate(zip(stats.get("threads") or [], stats.get("roles") or [])):
        if role == "none":
            continue
        row = {"cpu": cpu, **{k: v for k, v in counters.items() if v and k != "choice_digest"}}
        out.setdefault(role, []).append(row)
    return out


def summary_for(result, extra: dict | None = None, confidence: float = 0.95) -> dict:
    """summary.json for a stress.Result: verdict, counts, ops/s, seed, versions."""
    first = None
    if result.violations:
        v = result.violations[0]
        first = {k: v.get(k) for k in ("invariant", "message", "t", "cpu") if k in v}
    stats = {k: v for k, v in (result.stats or {}).items()}
    summary = {
        "verdict": result.verdict,
        "clean": result.verdict == "clean",
        "seed": result.seed,
        "mode": result.config.get("mode"),
        "mutant": result.config.get("mutant"),
        "workers": result.config.get("workers"),
        "duration_s": round(result.duration_s, 6),
        "drain_s": round(result.drain_s, 6),
        "ops": result.ops,
        "ops_per_s": round(result.ops_per_s, 3),
        "violations": total_violations(result),
        "violations_recorded": len(result.violations or []),
        "violations_by_invariant": dict(result.violations_by_invariant or {}),
        "first_violation_s": result.first_violation_s,
        "first_violation": first,
        "hung": result.hung,
        "counts": {
            "grace_periods": stats.get("grace_periods"),
            "checkpoints": stats.get("checkpoints"),
            "memcgs_online": stats.get("memcgs_online"),
            "memcgs_dying": stats.get("memcgs_dying"),
            "child_caches": stats.get("child_caches"),
            "lockdep_violations": stats.get("lockdep_violations"),
            **(stats.get("global") or {}),
        },
        "threads_by_role": threads_by_role(stats),
        "stats": stats,
        "samples": _thin(list(result.samples or []), MAX_SUMMARY_SAMPLES),
        "final_sample": (result.samples or [None])[-1],
        "config": result.config,
        "versions": versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    from .coverage import coverage, rate_verdict
    if stats.get("windows"):
        summary["coverage"] = coverage(stats["windows"])
    if result.verdict == "clean":
        summary["rate_bound"] = rate_verdict(result.duration_s, confidence)
    if extra:
        summary.update(extra)
    return summary
