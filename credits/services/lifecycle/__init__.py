"""The hourly lifecycle run: expire, meter, fund or flag, finalise, runway alerts, record.

Set-based: each batch of accounts is a handful of SQL statements (window functions, bulk
inserts and guarded updates), whatever the number of accounts, run in one transaction while the
batch's account rows are locked. A failed batch is rolled back whole and counted as an error;
the next run completes its work, because everything a run does is derived from the rows (the
accounts' `metered_until` and the `ResourceMeter` exceptions, statuses, deadlines), never from
what an earlier run remembered.
A run whose process dies (killed, out of memory) leaves its committed batches, counted on its
row, and is marked failed by the next run (`lifecycle_runs_fail_dead`).

`run` orchestrates; one module per step (`expire`, `meter`, `fund_or_flag`, `finalise`,
`alerts`), each given a `Batch` and the settings it needs; `sql` holds what the steps' SQL
shares; `janitor` fails the runs whose process died; `parent` adds a sharded run's shards up.
Status transitions, their audit rows and every event (the account alerts too) are written by
`credits.events`.
"""
from .batch import Batch, RunCounts
from .janitor import lifecycle_runs_fail_dead
from .parent import lifecycle_run_summarise
from .run import (
    LifecycleRefused,
    Shard,
    account_shard,
    lifecycle_run,
    lifecycle_run_claimed_create,
    refuse_time_travel,
)

__all__ = [
    "Batch",
    "LifecycleRefused",
    "RunCounts",
    "Shard",
    "account_shard",
    "lifecycle_run",
    "lifecycle_run_claimed_create",
    "lifecycle_run_summarise",
    "lifecycle_runs_fail_dead",
    "refuse_time_travel",
]
