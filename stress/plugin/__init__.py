"""pytest plugin: hunt for races with seeds spread over pytest-xdist workers.

Registered through the ``pytest11`` entry point ``memcg_stress``, so it is
active wherever memcg-stress is installed.  It adds:

- the options of the group "memcg-stress race hunting" (``--stress-seeds``,
  ``--stress-seed-start``, ``--stress-duration``, ``--stress-mode``,
  ``--stress-mutant``, ``--stress-scenario``, ``--stress-out``);
- the ``stress_run`` fixture, a callable ``stress_run(seed=None, **overrides)
  -> stress.Result`` that applies those options, writes the run folder
  (kept only for runs that were not clean) and records the run for the
  summary;
- the ``stress_seed`` parametrization: every test that takes ``stress_seed``
  runs once per seed of ``range(seed_start, seed_start + seeds)``, with ids
  like ``seed-17``;
- the markers ``stress_seed(*seeds)`` and ``stress_config(**overrides)``;
- a terminal summary (seeds run, total ops, violations by invariant, the
  seeds that failed), aggregated on the xdist controller from the
  ``user_properties`` of the workers' reports.

The hunt itself is the test module ``stress.hunt.test_hunt``::

    pytest --pyargs stress.hunt -n auto --stress-seeds 200

A configuration is built from, later winning: the pytest defaults (1 s, 2
workers), the ``--stress-scenario`` file, the ``--stress-*`` options, the
test's ``stress_config`` marker and the keyword arguments of the call.

Under xdist the controller resolves what the workers must agree on (the
folder ``results/hunt-<timestamp>``, the scenario file's contents) and sends
it in ``workerinput``, so a worker on another host needs neither the
controller's paths nor its files.  Everything that imports the native core
(stress.config, stress.engine, stresscore) is imported inside hooks and
fixtures, so that ``pytest --help`` stays fast.

The options are in options.py, the session (settings, parametrization,
fixtures, reports, summary) in session.py; this module is the plugin
pytest loads, so it names every hook and fixture of both.
"""
from .options import (DEFAULT_OUT, DEFAULT_SEEDS, DEFAULTS, GROUP, duration_arg, format_duration, mode_arg,
                      mutant_arg, out_arg, pytest_addoption, scenario_arg, seed_start_arg, seeds_arg)
from .session import (FLIGHT_EVENTS, HUNT_MODULE, MARKERS, PLUGIN_NAME, REPORTER_NAME, SECTION,
                      SUMMARY_FAILED_SHOWN, USER_PROPERTY, WORKERINPUT_KEY, HuntSummary, Settings, StressRunner,
                      SummaryReporter, explain, explained_key, flight_recorder_excerpt, hunt_out_key, load_scenario,
                      pytest_configure, pytest_configure_node, pytest_generate_tests, pytest_report_header,
                      pytest_runtest_makereport, pytest_unconfigure, runs_key, settings_key, stress_run,
                      stress_seed, write_summary)

__all__ = ["DEFAULTS", "DEFAULT_OUT", "DEFAULT_SEEDS", "FLIGHT_EVENTS", "GROUP", "HUNT_MODULE", "MARKERS",
           "PLUGIN_NAME", "REPORTER_NAME", "SECTION", "SUMMARY_FAILED_SHOWN", "USER_PROPERTY", "WORKERINPUT_KEY",
           "HuntSummary", "Settings", "StressRunner", "SummaryReporter", "duration_arg", "explain",
           "explained_key", "flight_recorder_excerpt", "format_duration", "hunt_out_key", "load_scenario",
           "mode_arg", "mutant_arg", "out_arg", "pytest_addoption", "pytest_configure", "pytest_configure_node",
           "pytest_generate_tests", "pytest_report_header", "pytest_runtest_makereport", "pytest_unconfigure",
           "runs_key", "scenario_arg", "seed_start_arg", "seeds_arg", "settings_key", "stress_run", "stress_seed",
           "write_summary"]
