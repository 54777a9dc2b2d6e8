"""`memcg-stress replay DIR`: rerun a recorded run's configuration and seed
(each rerun a `memcg-stress soak` subprocess) and say how often the
original violation came back."""
from __future__ import annotations

import argparse
import math
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..config import ConfigError, option_duration, one_line, whole_number
from ..runfolder import config_path, load_config, load_summary, read_events
from ..words import new_table
from .common import (EXIT_CLEAN, EXIT_INTERRUPTED, EXIT_USAGE, EXIT_VIOLATION, JSON_HELP, JsonOutput,
                     check_output_file, fail)
from .display import fmt_s, human
from .signals import Signals


def add_arguments(p: argparse.ArgumentParser) -> None:
    """replay's arguments."""
    p.add_argument("dir", metavar="DIR", help="a run folder (holds config.json)")
    p.add_argument("--times", "-n", metavar="N", default="1", help="reruns, 1 to 100000 (default 1)")
    p.add_argument("--duration", "-d", metavar="D",
                   help="running time of each rerun, like 30s or 1.5 (seconds) (default: the original's)")
    p.add_argument("--out", "-o", metavar="DIR",
                   help="where the reruns' folders go (default DIR/replay-YYYYmmdd-HHMMSS)")
    p.add_argument("--quiet", "-q", action="store_true", help="only the final line (default: a line per rerun "
                                                              "and a table)")
    p.add_argument("--json", metavar="PATH", help=JSON_HELP)


def original_outcome(dir: Path) -> tuple[str, set[str]]:
    """(verdict, invariants violated) of a recorded run: summary.json, or
    its events when the run was killed before writing one."""
    s = load_summary(dir)
    if s is not None and "verdict" in s:
        inv = set((s.get("violations_by_invariant") or {}).keys())
        return str(s["verdict"]), inv
    inv = {ev.get("invariant") for ev in read_events(dir) if ev.get("type") == "violation"}
    inv.discard(None)
    return ("violation" if inv else "unknown"), inv


def run_replay(dir: str, times: int, duration: str | None, out: str | None, quiet: bool,
               json_path: str | None = None) -> int:
    src = Path(dir)
    config = load_config(src)                         # ConfigError on a bad DIR
    if config.seed is None:
        raise ConfigError(f"{str(config_path(src))!r} records no seed: a replay reruns the recorded seed "
                          "(for a new seed use memcg-stress soak --config with that file)")
    times = whole_number("times", times)
    if not 1 <= times <= 100_000:
        raise ConfigError(f"times: must be a whole number from 1 to 100000, got {times}")
    check_output_file(json_path, "json")
    orig_verdict, orig_inv = original_outcome(src)
    if duration is not None:
        dur = option_duration("duration", duration)
    elif config.duration:
        dur = config.duration
    else:
        s = load_summary(src) or {}
        dur = math.ceil(float(s.get("duration_s") or 0))
        if dur <= 0:
            raise ConfigError("duration: the recorded run ran until interrupted; give --duration (e.g. 30s)")
    if dur == 0:
        raise ConfigError("duration: a replay needs a finite duration, e.g. --duration 30s")
    base = Path(out) if out else src / time.strftime("replay-%Y%m%d-%H%M%S")
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"out: cannot create folder {str(base)!r}: {e.strerror or one_line(e)}") from None
    with JsonOutput(json_path) as jout:
        code, doc = _replay(src, config, times, dur, base, quiet, orig_verdict, orig_inv)
        jout.write(doc)
    return code


def _replay(src: Path, config, times: int, dur: float, base: Path, quiet: bool, orig_verdict: str,
            orig_inv: set[str]) -> tuple[int, dict]:
    inv_txt = ", ".join(sorted(orig_inv)) or "-"
    print(f"memcg-stress replay: {src}: original {orig_verdict} ({inv_txt}); "
          f"{times} rerun{'s' if times != 1 else ''} of {fmt_s(dur)} with seed {config.seed}, "
          f"{config.workers} workers, mode {config.mode}, mutant {config.mutant or 'none'}; writing {base}",
          flush=True)

    stop = threading.Event()
    current: dict = {}

    def on_signal(signum):
        p = current.get("proc")
        if p is not None and p.poll() is None:
            try:
                p.send_signal(signal.SIGINT)
            except OSError:
                pass

    rows = []
    reproduced = new = crashed = 0
    with Signals(stop, on_signal) as sigs:
        for i in range(1, times + 1):
            if sigs.interrupted:
                break
            run_dir = base / str(i)
            cmd = [sys.executable, "-m", "stress", "soak", "--config", str(config_path(src)),
                   "--out", str(run_dir), "--duration", repr(float(dur)), "--stop-on-violation", "--quiet"]
            current["proc"] = p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                                   text=True, start_new_session=True)
            _, err = p.communicate()
            current["proc"] = None
            rc = p.returncode
            s = load_summary(run_dir) or {}
            inv = set((s.get("violations_by_invariant") or {}).keys())
            if rc == EXIT_USAGE:
                fail(f"rerun {i} refused its configuration: {one_line(err) or 'exit 2'}", "replay")
                return EXIT_USAGE, {"source": str(src), "error": one_line(err) or "exit 2"}
            if rc < 0 or rc not in (EXIT_CLEAN, EXIT_VIOLATION, EXIT_INTERRUPTED):
                crashed += 1
                what = f"crashed ({signal.Signals(-rc).name})" if rc < 0 else f"failed (exit {rc})"
                outcome = what
            elif rc == EXIT_INTERRUPTED and not inv:
                outcome = "interrupted"
            elif inv:
                if inv & orig_inv:
                    reproduced += 1
                    outcome = "reproduced"
                else:
                    new += 1
                    outcome = "new violation"
            else:
                outcome = "clean"
            fv = s.get("first_violation_s")
            rows.append((i, outcome, ", ".join(sorted(inv)) or "-",
                         f"{fv:.3f}s" if isinstance(fv, (int, float)) else "-",
                         human(float(s.get("ops_per_s") or 0)), str(run_dir)))
            if not quiet:
                print(f"memcg-stress replay: run {i}/{times}: {outcome}"
                      f"{' [' + ', '.join(sorted(inv)) + ']' if inv else ''}"
                      f"{' after ' + rows[-1][3] if inv else ''}, {rows[-1][4]} ops/s", flush=True)
            if rc == EXIT_INTERRUPTED or sigs.interrupted:
                break

    if not quiet and rows:
        from rich.console import Console
        from rich.markup import escape
        table = new_table("memcg-stress replay")
        for col in ("run", "outcome", "invariants", "first violation", "ops/s"):
            table.add_column(col)
        table.add_column("folder", overflow="fold")
        for r in rows:
            table.add_row(*(escape(str(x)) for x in r))
        Console(highlight=False).print(table)
    done = len(rows)
    if orig_inv:
        print(f"memcg-stress replay: reproduced {reproduced} of {done} runs ({inv_txt})"
              f"{f'; {new} found other invariants' if new else ''}"
              f"{f'; {crashed} crashed' if crashed else ''}", flush=True)
    else:
        print(f"memcg-stress replay: original {orig_verdict}; {done - new - crashed} of {done} reruns clean"
              f"{f'; {new} found violations' if new else ''}{f'; {crashed} crashed' if crashed else ''}",
              flush=True)
    if sigs.interrupted:
        print(f"memcg-stress replay: interrupted by {sigs.received[0]}", file=sys.stderr, flush=True)
    doc = {"source": str(src), "seed": config.seed, "duration_s": dur, "times": times,
           "original": {"verdict": orig_verdict, "invariants": sorted(orig_inv)},
           "runs": [dict(zip(("run", "outcome", "invariants", "first_violation", "ops_per_s", "folder"), r))
                    for r in rows],
           "reproduced": reproduced, "new_violations": new, "crashed": crashed,
           "interrupted": sigs.interrupted}
    if reproduced or new or crashed:
        return EXIT_VIOLATION, doc
    if sigs.interrupted:
        return EXIT_INTERRUPTED, doc
    return EXIT_CLEAN, doc
