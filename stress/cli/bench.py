"""`memcg-stress bench`: run the benchmarks (stress.bench), print their
table and write their JSON; `--tests` runs the benchmark tier of the test
suite instead (tests/benchmark, which the README's test command leaves out)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from ..bench import BENCHMARKS, default_json_path, machine_info, markdown_table, print_table, run
from ..bench.engine import base_tree_error, vs_base
from ..config import ConfigError
from .common import JSON_HELP, JsonOutput, Parser, check_output_file, fail

COMMAND = "bench"

#: set for the pytest run of --tests: tests/conftest.py collects tests/benchmark only then
BENCHMARK_TESTS_ENV = "MEMCG_STRESS_BENCHMARK_TESTS"


def benchmark_tests_dir() -> Path:
    """tests/benchmark of the checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "tests" / "benchmark"


def run_tests() -> int:
    """pytest on tests/benchmark, in the checkout's root."""
    tests = benchmark_tests_dir()
    if not tests.is_dir():
        return fail(f"--tests needs a checkout with the tests: no folder {tests}", COMMAND)
    root = tests.parents[1]
    env = dict(os.environ)
    env[BENCHMARK_TESTS_ENV] = "1"
    env["PYTHONPATH"] = str(root) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.call([sys.executable, "-m", "pytest", "-q", str(tests.relative_to(root))], cwd=root, env=env)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("bench")
    g.add_argument("--quick", action="store_true",
                   help="fewer iterations: seconds instead of minutes (default: the full run)")
    g.add_argument("--json", metavar="PATH", help=JSON_HELP.replace("(default: none)", "(default: a full run "
                                                                     "writes results/bench-DATE.json)"))
    g.add_argument("--only", metavar="NAME", nargs="+", action="extend",
                   help=f"run only these benchmarks ({', '.join(BENCHMARKS)}) (default: all)")
    g.add_argument("--base", metavar="TREE",
                   help="instead of the benchmarks: the 1-worker ops/s of this build against the build "
                        "in another checkout TREE (built in place), alternating, 5 runs each (default: none)")
    g.add_argument("--tests", action="store_true",
                   help="run the benchmark tier of the test suite (tests/benchmark of this checkout: "
                        "the tests that assert a ratio or a time) instead of the benchmarks (default: off)")


def run_cli(args: argparse.Namespace) -> int:
    """Exit status: 0 ok, 1 a benchmark failed (the others are still
    reported, the failure under "errors"), 2 bad usage (unknown benchmark name).

    Without --json, a full (non-quick) run writes results/bench-<date>.json
    and prints a Markdown table.  With --tests: pytest's exit status."""
    if getattr(args, "tests", False):
        return run_tests()
    try:
        check_output_file(args.json, "json")
    except ConfigError as e:
        return fail(e, COMMAND)
    if getattr(args, "base", None):
        why = base_tree_error(args.base)
        if why:
            return fail(why, COMMAND)
        with JsonOutput(args.json) as out:
            machine = machine_info()
            machine["loadavg_start"] = list(os.getloadavg())
            result = {"machine": machine, "quick": bool(args.quick), **vs_base(args.base, args.quick)}
            machine["loadavg_end"] = list(os.getloadavg())
            print_table(result)
            out.write(result)
        return 0
    unknown = [n for n in args.only or [] if n not in BENCHMARKS]
    if unknown:
        return fail(f"--only: unknown benchmark {unknown[0]!r}; valid: {', '.join(BENCHMARKS)}", COMMAND)
    path = args.json
    if not path and not args.quick:
        path = default_json_path()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with JsonOutput(path) as out:
        try:
            result = run(quick=args.quick, only=args.only)
        except ValueError as e:
            return fail(e, COMMAND)
        if not args.json and not args.quick:
            print(markdown_table(result))
        else:
            print_table(result)
        out.write(result)
    return 1 if result.get("errors") else 0


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="memcg-stress bench", description="Benchmarks of the native primitives.")
    add_arguments(parser)
    return run_cli(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())