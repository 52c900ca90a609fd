"""Temporary tables for set-based statements (the lifecycle's steps, the set-based status
transitions of `credits.events`): made again each time, and analysed."""
from __future__ import annotations


def temp(cursor, name: str, select_sql: str, params: dict | list) -> None:
    """The temporary table `name`, made (again) from `select_sql`."""
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    cursor.execute(f"CREATE TEMPORARY TABLE {name} AS {select_sql}", params)
    # Temporary tables are never auto-analysed: without statistics the planner joins them
    # with nested loops over every row pair (minutes at a million resources).
    cursor.execute(f"ANALYZE {name}")


def drop_temps(cursor, *names: str) -> None:
    for name in names:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
