"""Race hunting under pytest: one short run of the model per seed.

    pytest --pyargs stress.hunt -n auto --stress-seeds 200

The test module (test_hunt.py) is shipped inside the package, so an
installed memcg-stress can hunt without a checkout; the options, the
stress_seed parametrization, the stress_run fixture and the summary come
from the plugin stress.plugin (entry point `memcg_stress`).  See
`pytest --help`, group "memcg-stress race hunting".
"""
