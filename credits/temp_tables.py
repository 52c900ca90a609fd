"""Temporary tables for set-based statements (the lifecycle's steps): made once per database
session, emptied by each commit, analysed when made and when their size changes a lot."""
from __future__ import annotations

# A table analysed at n rows is analysed again when it is filled with more than n times this
# many rows, or fewer than n divided by it.
REANALYSE_FACTOR = 4


def temp(cursor, name: str, select_sql: str, params: dict | list) -> int:
    """The temporary table `name` filled with the rows of `select_sql`; returns their number.

    The table is made at its first use in the session (`ON COMMIT DELETE ROWS`: every commit
    empties it) and filled again at the next: a batch of the lifecycle does not pay for
    creating, dropping and analysing half a dozen tables (the catalog writes and an `ANALYZE`
    sample each). Its statistics are those of its first filling, taken again when a filling's
    rows differ from the analysed ones by more than `REANALYSE_FACTOR` either way: the steps'
    tables hold a batch's rows, alike from batch to batch. A table filled before in the same
    transaction (a dry run's batches, one transaction) is made afresh rather than emptied, so
    that its dead rows do not pile up batch after batch. It is filled and read in one
    transaction (its commit empties it): refused outside one."""
    if not cursor.db.in_atomic_block:
        raise RuntimeError(f"temporary table {name}: fill and read it in one transaction "
                           "(a commit empties it)")
    cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
                   [f"pg_temp.{name}"])
    found = cursor.fetchone()
    if found is not None:
        cursor.execute(f"DELETE FROM {name}")
        if cursor.rowcount > 0:
            cursor.execute(f"DROP TABLE {name}")
            found = None
    if found is None:
        cursor.execute(f"CREATE TEMPORARY TABLE {name} ON COMMIT DELETE ROWS AS {select_sql}",
                       params)
        analysed = -1  # as pg_class says of a table never analysed
    else:
        cursor.execute(f"INSERT INTO {name} {select_sql}", params)
        analysed = found[0]
    rows = cursor.rowcount
    # Temporary tables are never auto-analysed: without statistics the planner joins them
    # with nested loops over every row pair (minutes at a million resources).
    if analysed < 0 or rows > max(analysed, 1) * REANALYSE_FACTOR \
            or rows * REANALYSE_FACTOR < analysed:
        cursor.execute(f"ANALYZE {name}")
    return rows
