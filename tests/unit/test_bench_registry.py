"""The benchmark registry and its Markdown table, without running a benchmark."""


def test_bench_registry_has_engine_benchmarks():
    from stress import bench
    assert {"ops_per_s", "ops_per_s_1t_vs_reference", "checkpoint_pause_1m",
            "counters_overhead", "mutant_detect"} <= set(bench.BENCHMARKS)


def test_markdown_table_and_mutant_rows():
    from stress import bench
    text = bench.markdown_table({"quick": False, "ops_per_s_1t": 1.5e7,
                                 "mutant_detect_s_with_delays": {"rcu-busted": 0.03, "x": None},
                                 "skipped": {"liburcu": "no headers"}})
    assert text.splitlines()[0] == "| metric | value |"
    assert "| ops_per_s_1t | 1.5e+07 |" in text
    assert "mutant_detect_s_with_delays[x] | not caught" in text
    assert "skipped: liburcu" in text
