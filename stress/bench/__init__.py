"""memcg-stress benchmarks: ``memcg-stress bench [--quick] [--json PATH] [--only NAME...]``.

A registry, so that later benchmarks only add a key::

    @benchmark("my_bench")
    def _my_bench(quick: bool) -> dict[str, float]: ...

Each benchmark returns flat ``metric -> value`` pairs; numbers are medians of
repeated runs.  ``run()`` collects them with machine information; ``memcg-stress bench``
(stress.cli.bench) prints a table (rich, or plain text) and optionally
writes JSON, and ``memcg-stress bench --tests`` runs the benchmark tier of
the test suite (tests/benchmark).

The primitives' benchmarks are in primitives.py, the engine benchmarks in
engine.py, the reference model's in model.py; registry.py holds the
registry and driver.py runs them.  The engine benchmarks:
``ops_per_s`` (1 and 2 workers, interleaved, and the scaling),
``ops_per_s_1t_vs_reference``, ``checkpoint_pause_1m`` (pause, RSS and bytes
per object with one million live objects), ``counters_overhead`` (full mode or
``--only``: builds the core with and without counters), ``inline_checks_overhead``
(the same with and without the inline checks) and ``mutant_detect``
(time to detection with and without delay injection).  Without ``--json`` a
full run writes results/bench-<date>.json and prints a Markdown table.  The
machine information includes the load average at start and end and the
other processes busy at those times.

If liburcu's headers are installed (Debian: liburcu-dev), the ``liburcu``
benchmark compiles a small C program at bench time (urcu-memb, the same
design as ours) and reports its read-side pair and synchronize_rcu() latency
beside ours; otherwise it is skipped with a one-line message.
"""
from .driver import default_json_path, machine_info, markdown_table, print_table, run
from .registry import BENCHMARKS, SKIPPED, BenchFn, BenchSkipped, benchmark

__all__ = ["BENCHMARKS", "SKIPPED", "BenchFn", "BenchSkipped", "benchmark", "default_json_path", "machine_info",
           "markdown_table", "print_table", "run"]
