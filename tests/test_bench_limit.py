"""The lifecycle bench runs the hand-written limit beside the run: its SQL file is split into
statements, each named by the comment above it, and only the core work counts."""
from tests.bench_module import lifecycle_bench

SQL = """-- The limit (a header comment)
\\timing on
DROP TABLE IF EXISTS t;
CREATE TABLE t (id bigserial primary key,
  v numeric);
VACUUM ANALYZE;
-- floor
SELECT count(*) FROM t;
-- fund-or-flag, one statement
WITH x AS (SELECT 1)
UPDATE t SET v = 1 FROM x;
-- meter: charge every whole hour since creation, once
INSERT INTO t(v) SELECT 1;
-- again: no-op
INSERT INTO t(v) SELECT 1;
-- drain per account aggregated: one UPDATE of lots
UPDATE t SET v = 2;
SELECT count(*) FROM t;
"""


def test_the_limit_file_splits_into_labelled_statements_and_only_the_core_work_counts():
    bench = lifecycle_bench()

    statements = bench.limit_statements(SQL)

    assert len(statements) == 9
    assert all(sql.rstrip().endswith(";") and not sql.startswith("\\") for _, sql in statements)
    assert statements[1][1] == "CREATE TABLE t (id bigserial primary key,\n  v numeric);"
    assert [bench.limit_core(label) for label, _ in statements] == [
        None, None, None, "floor", "fund-or-flag, one statement",
        "meter: charge every whole hour", None, "drain per account aggregated", None]


def _measured(floor: float, meter: float) -> dict:
    return {"file": "limit.sql", "statements": [],
            "core": {"floor": floor, "meter: charge every whole hour": meter},
            "seconds": floor + meter}


def test_the_run_is_compared_with_the_mean_of_the_limits_just_before_and_just_after_it():
    bench = lifecycle_bench()
    before, after = _measured(0.2, 8.0), _measured(0.4, 12.0)

    limit = bench.limits_around(before, after)

    assert limit["seconds"] == (8.2 + 12.4) / 2
    assert limit["core"] == {"floor": 0.3, "meter: charge every whole hour": 10.0}
    assert (limit["before"], limit["after"]) == (before, after)
    assert bench.limits_around(None, after) is None
    assert bench.limits_around(before, None) is None


def test_the_report_shows_both_limits_their_ratios_and_the_ratio_to_their_mean():
    bench = lifecycle_bench()
    limit = bench.limits_around(_measured(0.0, 8.0), _measured(0.0, 12.0))
    limit.update(ratio=20.6 / 10.0, target_ratio=2.0)
    limit["before"]["ratio"], limit["after"]["ratio"] = 20.6 / 8.0, 20.6 / 12.0

    lines = bench._limit_lines(limit)

    assert "just before the run" in lines[0] and "2.58×" in lines[0] and "8.00 s |" in lines[0]
    assert "just after the run" in lines[1] and "1.72×" in lines[1] and "12.00 s |" in lines[1]
    assert lines[2].endswith("| 10.00 s |")
    assert lines[3] == "| **run / limit** | **2.06×** (misses the target ≤ 2.0×) |"
