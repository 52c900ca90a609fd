"""Before the batches: the tables the run's statements are planned against get fresh statistics
when theirs say a much smaller table than is on disk.

After a bulk load (an import, a restore, a first sync with the network) and before autovacuum
has analysed the tables again, the planner still believes the sizes of the last `ANALYZE`: a
table analysed nearly empty and then filled is planned as a handful of rows, and a join of two
of them becomes a loop over every pair (the making of `lc_res`: 6,001 resources against 3,000
accounts read 9 million index entries; a million resources would take hours). The run asks
PostgreSQL for a table's size on disk, which counts rows not yet committed or analysed, and
analyses the tables that grew to more than twice (and eight pages beyond) what their statistics
say, and those whose statistics say fewer rows than pages (analysed when their rows were
deleted or rolled back: the planner then believes any number of pages holds no row). An hourly
run on a live system finds nothing to do: its tables grow a little between two autovacuum
passes.
"""
from __future__ import annotations

import logging

from ...models import Account, Lot, Resource, ResourceGrace, ResourceMeter, TokenBalance

logger = logging.getLogger(__package__)

# The tables the run reads to choose and plan its work (the tables it only appends to are found
# through their indexes, by key).
PLANNED_TABLES = tuple(model._meta.db_table for model in
                       (Account, Resource, ResourceGrace, ResourceMeter, Lot, TokenBalance))
# A table is analysed again when its pages on disk exceed this many times those its statistics
# say, plus `_SLACK_PAGES` (a table analysed empty says 0 pages).
_GROWTH = 2
_SLACK_PAGES = 8


def statistics_refresh_stale(cursor) -> list[str]:
    """Analyse the `PLANNED_TABLES` whose statistics say less than half their size on disk, or
    fewer rows than pages; returns their names (nothing to do, the usual case: one catalog
    query)."""
    cursor.execute("""
        SELECT c.relname FROM pg_class c
        WHERE c.oid = ANY(CAST(%(tables)s AS regclass[]))
          AND (pg_relation_size(c.oid) / current_setting('block_size')::bigint
                   > %(growth)s * GREATEST(c.relpages, 0) + %(slack)s
               OR (c.relpages > 0 AND c.reltuples >= 0 AND c.reltuples < c.relpages))
        ORDER BY c.relname""",
                   {"tables": list(PLANNED_TABLES), "growth": _GROWTH, "slack": _SLACK_PAGES})
    stale = [row[0] for row in cursor.fetchall()]
    for table in stale:
        cursor.execute(f"ANALYZE {table}")
    if stale:
        logger.info("lifecycle: statistics refreshed before the run: %s", ", ".join(stale))
    return stale
