"""The lifecycle's statements stay linear in the rows they touch when the statistics the
planner has are stale: thousands of resources written in bulk in this transaction, never
analysed, or analysed while the tables held only dead rows, as after a bulk load. The run
analyses such tables first (`lifecycle.statistics`).

The plans are read as PostgreSQL ran them (`auto_explain`, sent back to this session as
notices): no plan node may handle more rows, over all its loops, than a few times the rows the
run reads. A join that loops over every pair of rows handles millions: the events' shortfalls
joined through groups of the moved resources (8,006,001 rows in one node before it was fixed),
the making of `lc_res` planned from statistics that saw no live row (9,009,001)."""
import json
from collections import deque
from datetime import timedelta

import pytest
from django.db import connection, transaction

from credits.services.lifecycle import lifecycle_run
from tests.credits.conftest import T0
from tests.credits.test_lifecycle_concurrency import populate_bulk

HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def _time_travel_allowed(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True


class _RolledBack(Exception):
    pass


def _node_rows(plan: dict):
    """(node type, rows over all its loops) of every node of a plan tree."""
    yield plan["Node Type"], plan.get("Actual Rows", 0) * plan.get("Actual Loops", 1)
    for child in plan.get("Plans", []):
        yield from _node_rows(child)


@pytest.mark.slow
@pytest.mark.parametrize("analysed_empty", [False, True])
def test_a_flagging_run_after_a_bulk_load_handles_no_row_pair_by_pair(settings, analysed_empty):
    # given the tables analysed while empty of live rows (or not): the same bulk load rolled
    # back first, so that their pages hold only dead rows; then 3,000 accounts with two VMs
    # each written in bulk (one in three short of credits), in one batch, and every plan of the
    # run reported back with its actual rows
    if analysed_empty:
        with pytest.raises(_RolledBack), transaction.atomic():
            populate_bulk(3000)
            raise _RolledBack
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    resources = populate_bulk(3000)
    settings.LIFECYCLE_BATCH_ACCOUNTS = 5000
    connection.ensure_connection()
    notices = connection.connection.notices = deque()
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
                       "SET auto_explain.log_analyze = on; SET auto_explain.log_timing = off; "
                       "SET auto_explain.log_format = json; "
                       "SET auto_explain.log_level = notice; SET client_min_messages = notice")

    # when the lifecycle runs three hours later
    run = lifecycle_run(at=T0 + 3 * HOUR + timedelta(minutes=5))

    # then it flagged thousands of resources, and no node of any plan handled more than ten
    # rows per resource
    assert run.flagged >= 1000
    plans = [json.loads(notice.split("plan:", 1)[1]) for notice in notices if "plan:" in notice]
    assert any("SET status = 'removing'" in plan["Query Text"] for plan in plans), \
        "the flagging statements were not reported"
    worst = max((rows, node, index) for index, plan in enumerate(plans)
                for node, rows in _node_rows(plan["Plan"]))
    assert worst[0] <= 10 * resources, json.dumps(plans[worst[2]], indent=1)[:20000]
