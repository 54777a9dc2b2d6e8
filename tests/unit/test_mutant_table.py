"""One mutant table (stresscore/mutants.h): the native ids and the Python
table are the same both ways, and an unknown name is an error at every
boundary that takes one."""
import pytest

from stress import Config, run
from stress.config import MUTANTS_ALL, ConfigError
from stress.mutants import BY_NAME, MUTANTS, Mutant
from stresscore import _core

KEYS = {"name", "id", "bug", "breaks", "expected", "reason"}


def test_table_rows_are_complete():
    table = _core.mutant_table()
    assert table
    for row in table:
        assert set(row) == KEYS
        assert isinstance(row["name"], str) and row["name"]
        assert isinstance(row["id"], int) and row["id"] > 0
        assert row["bug"] and row["breaks"]
        assert isinstance(row["expected"], bool)
        assert (row["reason"] == "") == row["expected"], row["name"]
        assert row["breaks"] in _core.INVARIANTS, row["name"]


def test_names_and_ids_are_unique():
    table = _core.mutant_table()
    names = [r["name"] for r in table]
    ids = [r["id"] for r in table]
    assert len(set(names)) == len(names)
    assert len(set(ids)) == len(ids)
    # ids count from 1 in table order (0 is no mutant)
    assert ids == list(range(1, len(ids) + 1))


def test_native_ids_equal_the_table_both_ways():
    table = _core.mutant_table()
    assert _core.MUTANT_IDS == {r["name"]: r["id"] for r in table}
    assert list(_core.MUTANT_IDS) == [r["name"] for r in table]
    assert MUTANTS_ALL == tuple(r["name"] for r in table)


def test_python_table_equals_the_native_table():
    table = _core.mutant_table()
    assert MUTANTS == tuple(Mutant(r["name"], r["bug"], r["breaks"], r["expected"], r["reason"])
                            for r in table)
    assert [m.name for m in MUTANTS] == [r["name"] for r in table]
    assert set(BY_NAME) == set(_core.MUTANT_IDS)


@pytest.mark.parametrize("name", list(_core.MUTANT_IDS))
def test_every_mutant_is_selectable(name):
    m = _core.Model(workers=1, mutant=name)
    m.close()


@pytest.mark.parametrize("empty", [None, ""])
def test_no_mutant(empty):
    m = _core.Model(workers=1, mutant=empty)
    m.close()


def test_unknown_mutant_in_model():
    with pytest.raises(ValueError, match=r"unknown mutant 'no-such-mutant'; valid: rcu-busted, "):
        _core.Model(workers=1, mutant="no-such-mutant")


def test_unknown_mutant_in_config_and_run():
    with pytest.raises(ConfigError, match="unknown mutant 'no-such-mutant'"):
        Config(mutant="no-such-mutant").validate()
    with pytest.raises(ValueError, match="unknown mutant 'no-such-mutant'"):
        run(Config(mutant="no-such-mutant", duration=0.1))


def test_unknown_mutant_at_engine_setup():
    """The native boundary itself refuses the name, past Config validation."""
    native = Config(workers=1, duration=0.1).validate().native(1)
    native["mutant"] = "no-such-mutant"
    before = _core.engine_state()
    with pytest.raises(ValueError, match=r"unknown mutant 'no-such-mutant'; valid: "):
        _core.engine_setup(native)
    assert _core.engine_state() == before      # refused before anything was set up
