"""Running the registered benchmarks: machine information, the result
dict, its table and its Markdown."""
from __future__ import annotations

import os
import platform
import sys

from . import primitives as _primitives  # registers the primitives' benchmarks first,
from . import engine as _engine  # then the engine's (the order of BENCHMARKS)
from . import registry
from .registry import BENCHMARKS, SKIPPED, BenchSkipped

REGISTERED_FROM = (_primitives, _engine)

# ---------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _busy_processes(interval: float = 0.5, threshold: float = 10.0) -> list[dict]:
    """Other processes using more than ``threshold`` % of a core now (who
    shares the machine with the benchmark)."""
    try:
        import psutil
    except ImportError:
        return []
    me = os.getpid()
    procs = []
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        if p.pid == me:
            continue
        try:
            p.cpu_percent(None)
            procs.append(p)
        except psutil.Error:
            pass
    import time
    time.sleep(interval)
    out = []
    for p in procs:
        try:
            pct = p.cpu_percent(None)
        except psutil.Error:
            continue
        if pct >= threshold:
            cmd = " ".join(p.info.get("cmdline") or [p.info.get("name") or "?"])
            out.append({"pid": p.pid, "cpu_pct": round(pct, 1), "cmd": cmd[:160]})
    return sorted(out, key=lambda d: -d["cpu_pct"])


def machine_info() -> dict:
    info = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["rcu_membarrier"] = registry.native_core().rcu_membarrier()
    except ImportError:
        pass
    return info


def run(quick: bool = False, only: list[str] | None = None) -> dict:
    """Run the selected benchmarks (all when ``only`` is None).

    Returns ``{"machine": {...}, "quick": bool, "skipped": {name: reason},
    <metric>: value, ...}`` with ratios ours/liburcu when both are present.
    Unknown names raise ValueError listing the valid ones."""
    names = list(BENCHMARKS) if not only else list(only)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; valid: {', '.join(BENCHMARKS)}")
    SKIPPED.clear()
    registry.ONLY = list(only) if only else None
    machine = machine_info()
    machine["loadavg_start"] = _loadavg()
    machine["busy_processes_start"] = _busy_processes()
    result: dict = {"machine": machine, "quick": bool(quick)}
    registry.CURRENT.clear()
    errors: dict[str, str] = {}
    import time
    started = time.time()
    result["started_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    try:
        for name in names:
            try:
                result.update(BENCHMARKS[name](quick))
            except BenchSkipped as e:
                SKIPPED[name] = str(e)
            except Exception as e:             # one failing benchmark does not lose the others
                errors[name] = f"{type(e).__name__}: {e}"[:600]
                print(f"memcg-stress bench: {name} failed: {errors[name]}", file=sys.stderr)
            registry.CURRENT.update(result)
    finally:
        registry.ONLY = None
    machine["loadavg_end"] = _loadavg()
    machine["busy_processes_end"] = _busy_processes()
    result["wall_s"] = round(time.time() - started, 1)
    if "ops_per_s_1t" in result and "reference_ops_per_s" in result:
        result["ops_per_s_1t_vs_reference"] = result["ops_per_s_1t"] / result["reference_ops_per_s"]
    if "rcu_read_pair_ns" in result and "liburcu_read_pair_ns" in result:
        result["read_pair_ratio_vs_liburcu"] = result["rcu_read_pair_ns"] / result["liburcu_read_pair_ns"]
    if "synchronize_rcu_us" in result and "liburcu_synchronize_us" in result:
        result["synchronize_ratio_vs_liburcu"] = result["synchronize_rcu_us"] / result["liburcu_synchronize_us"]
    result["skipped"] = dict(SKIPPED)
    result["errors"] = errors
    return result


def _metrics(result: dict) -> list[tuple[str, float]]:
    return [(k, v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]


def print_table(result: dict, file=None) -> None:
    file = file or sys.stdout
    rows = [(k, f"{v:.4g}") for k, v in _metrics(result)]
    try:
        from rich.console import Console

        from ..words import new_table
        table = new_table("memcg-stress bench" + (" (quick)" if result.get("quick") else ""))
        table.add_column("metric")
        table.add_column("value", justify="right")
        for k, v in rows:
            table.add_row(k, v)
        Console(file=file).print(table)
    except ImportError:
        width = max((len(k) for k, _ in rows), default=10)
        for k, v in rows:
            print(f"{k:<{width}}  {v:>12}", file=file)
    for name, reason in result.get("skipped", {}).items():
        print(f"skipped {name}: {reason}", file=file)
    for name, reason in result.get("errors", {}).items():
        print(f"FAILED {name}: {reason}", file=file)



def markdown_table(result: dict) -> str:
    """The numeric figures as a Markdown table (per-mutant times included)."""
    lines = ["| metric | value |", "|---|---:|"]
    for k, v in _metrics(result):
        lines.append(f"| {k} | {v:.4g} |")
    for key in ("mutant_detect_s_with_delays", "mutant_detect_s_without_delays"):
        for name, t in (result.get(key) or {}).items():
            lines.append(f"| {key}[{name}] | {'not caught' if t is None else f'{t:.3g}'} |")
    for name, reason in result.get("skipped", {}).items():
        lines.append(f"| skipped: {name} | {reason} |")
    for name, reason in result.get("errors", {}).items():
        lines.append(f"| FAILED: {name} | {reason} |")
    return "\n".join(lines)


def default_json_path() -> str:
    import time
    return os.path.join("results", f"bench-{time.strftime('%Y-%m-%d')}.json")
