"""Temporary tables for set-based statements (the lifecycle's steps): made again each time, and
analysed."""
from __future__ import annotations


def temp(cursor, name: str, select_sql: str, params: dict | list) -> int:
    """The temporary table `name`, made (again) from `select_sql`; returns its rows."""
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    cursor.execute(f"CREATE TEMPORARY TABLE {name} AS {select_sql}", params)
    rows = cursor.rowcount
    # Temporary tables are never auto-analysed: without statistics the planner joins them
    # with nested loops over every row pair (minutes at a million resources).
    cursor.execute(f"ANALYZE {name}")
    return rows


def drop_temps(cursor, *names: str) -> None:
    for name in names:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
