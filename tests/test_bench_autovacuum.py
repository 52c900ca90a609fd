"""The lifecycle bench pauses autovacuum while it measures, then does what autovacuum would
have done after the run: the tables over autovacuum's thresholds, by PostgreSQL's rules."""
from tests.bench_module import lifecycle_bench

# PostgreSQL 18's defaults
SETTINGS = {"autovacuum_vacuum_threshold": 50, "autovacuum_vacuum_scale_factor": 0.2,
            "autovacuum_vacuum_max_threshold": 100_000_000,
            "autovacuum_vacuum_insert_threshold": 1000,
            "autovacuum_vacuum_insert_scale_factor": 0.2,
            "autovacuum_analyze_threshold": 50, "autovacuum_analyze_scale_factor": 0.1}


def due(*tables, settings=SETTINGS):
    return {row["table"]: (row["vacuum"], row["analyze"])
            for row in lifecycle_bench().autovacuum_due(list(tables), settings)}


def test_dead_rows_over_a_fifth_call_for_a_vacuum_and_changes_over_a_tenth_for_an_analyze():
    # (name, reltuples, dead, inserted since vacuum, modified since analyze)
    assert due(("accounts", 100_000, 20_051, 0, 10_051)) == {"accounts": (True, True)}
    assert due(("accounts", 100_000, 20_050, 0, 10_050)) == {}
    assert due(("accounts", 100_000, 0, 0, 10_051)) == {"accounts": (False, True)}


def test_inserts_over_a_fifth_of_the_table_call_for_a_vacuum_unless_insert_vacuums_are_off():
    charges = ("charges", 1_000_000, 0, 1_000_000, 0)
    assert due(charges) == {"charges": (True, False)}
    assert due(("charges", 1_000_000, 0, 201_000, 0)) == {}
    assert due(charges, settings={**SETTINGS, "autovacuum_vacuum_insert_threshold": -1}) == {}


def test_a_table_never_counted_has_the_base_thresholds_only():
    assert due(("new", -1, 51, 0, 0), ("quiet", -1, 50, 1000, 50)) == {"new": (True, False)}


def test_postgresql_18_caps_the_dead_row_threshold_and_earlier_versions_have_no_cap():
    big = ("big", 1_000_000_000, 150_000_000, 0, 0)
    assert due(big) == {"big": (True, False)}
    uncapped = {name: value for name, value in SETTINGS.items()
                if name != "autovacuum_vacuum_max_threshold"}
    assert due(big, settings=uncapped) == {}


def test_the_tables_due_come_in_name_order():
    rows = lifecycle_bench().autovacuum_due(
        [("b", 10, 100, 0, 0), ("a", 10, 100, 0, 0), ("c", 10, 0, 0, 0)], SETTINGS)
    assert [row["table"] for row in rows] == ["a", "b"]
