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
