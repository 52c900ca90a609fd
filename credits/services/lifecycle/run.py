"""The run: take the lock, record the run, expire lots (and announce those expiring soon), then
each batch of accounts through the steps (meter, fund or flag, finalise, runway alerts), and
record what it did.

A batch is committed whole or not at all, while its accounts' rows are locked; a failed batch
is counted as an error and the next run does it. The steps get the batch (`Batch`: its
accounts, the run's instant, the run's id) and the settings they need, never the run's row.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from pricing.costs import HOUR_SECONDS
from pricing.enums import PaymentType

from ...events import lifecycle_run_finished, runway_lasting_after
from ...funding import lot_spendable_sql
from ...locks import (
    accounts_lock_ids,
    lifecycle_lock,
    lifecycle_run_claim,
    lifecycle_run_unclaim,
)
from ...models import (
    Account,
    LifecycleRun,
    LifecycleRunStatus,
    LifecycleTrigger,
    Lot,
    Resource,
    ResourceGrace,
    ResourceMeter,
    ResourceStatus,
)
from ...partitions import charge_partitions_around, charge_partitions_ensure
from ...selectors.lifecycle import lifecycle_settings_get
from ...selectors.resources import batched, live_owner_ids
from ...temp_tables import temp
from .alerts import runway_alerts
from .batch import Batch, RunCounts
from .expire import expire
from .finalise import finalise
from .fund_or_flag import fund_or_flag
from .janitor import dead_runs_fail_quietly
from .meter import meter
from .sql import (
    charged_hours_sql,
    hourly_charge,
    in_batch,
    in_batch_range,
    whole_hours_between,
)
from .statistics import statistics_refresh_stale

# The package's name: one logger for the whole run, whichever module logs.
logger = logging.getLogger(__package__)

_ACCOUNT = Account._meta.db_table
_LOT = Lot._meta.db_table
_METER = ResourceMeter._meta.db_table
_RESOURCE = Resource._meta.db_table
_GRACE = ResourceGrace._meta.db_table
# Metering stops at a pending deletion's deadline, if that came before the run's instant.
_METERING_END = ("CASE WHEN g.delete_after < %(now)s "
                 "THEN g.delete_after ELSE %(now)s END")
_HASH_SPACE = 2 ** 32
_BATCH_WORK_MEM = "64MB"
# A batch's temporary tables (`lc_res`: 50 K rows at 5,000 accounts) in memory, not spilled to
# files and read back: the default 8 MB holds a batch's `lc_res` and little else.
_TEMP_BUFFERS = "64MB"


class LifecycleRefused(Exception):
    """The run was asked for something it may not do (e.g. act at another instant)."""


class _DryRunRollback(Exception):
    pass


def account_shard(account_id: int, shard_count: int) -> int:
    """The shard of an account: its place in equal ranges of a 32-bit hash of its id."""
    hashed = (account_id * 2654435761) % _HASH_SPACE  # Knuth's multiplicative hash
    return hashed * shard_count // _HASH_SPACE


@dataclass(frozen=True, slots=True)
class Shard:
    """One shard of a run: the accounts whose `account_shard` of `count` is `index`; a part of
    the sharded run `parent_id` (None: a shard run on its own)."""

    index: int
    count: int
    parent_id: int | None = None


@dataclass(frozen=True, slots=True)
class StepSettings:
    """The lifecycle settings the steps use, read once per run."""

    metering_enabled: bool
    grace: timedelta
    horizon_seconds: int

    @classmethod
    def read(cls) -> StepSettings:
        row = lifecycle_settings_get()
        return cls(metering_enabled=row.metering_enabled,
                   grace=timedelta(hours=row.grace_hours),
                   horizon_seconds=row.funding_horizon_hours * HOUR_SECONDS)


def refuse_time_travel(*, at: datetime | None, dry_run: bool) -> None:
    """Acting as of another instant than now changes real accounts: refused (LifecycleRefused)
    but in a dry run or where `LIFECYCLE_ALLOW_TIME_TRAVEL` is on (tests)."""
    if at is not None and not dry_run and not settings.LIFECYCLE_ALLOW_TIME_TRAVEL:
        raise LifecycleRefused("Running the lifecycle as of another instant changes real "
                               "accounts: only with --dry-run, or with "
                               "LIFECYCLE_ALLOW_TIME_TRAVEL on (tests).")


def lifecycle_run(*, at: datetime | None = None, dry_run: bool = False,
                  trigger: str = LifecycleTrigger.MANUAL, shard: Shard | None = None,
                  batch_size: int | None = None, wait: bool = False,
                  on_progress: Callable[[int], None] | None = None) -> LifecycleRun:
    """Run the lifecycle once (or one `shard` of it) as of `at` (default: now), in batches of
    `batch_size` accounts (default: `LIFECYCLE_BATCH_ACCOUNTS`). Returns the run's row, with
    `.counts` (the `RunCounts`, with the ids of the resources moved) unless it was skipped.
    `on_progress(accounts)` is called after each batch with its number of accounts (a failed
    batch's too), e.g. to move a progress bar.

    Another run holding the lifecycle lock makes this one skip (or wait, with `wait=True`).
    A real run first marks failed the runs whose process died (`lifecycle_runs_fail_dead`).
    `dry_run` does everything inside a transaction that is rolled back, so it reports exactly
    what a real run would change and changes nothing: not even a row of its own (its run is
    returned unsaved, without an id), so dry runs neither use up run ids nor show among runs.
    """
    now_real = timezone.now()
    refuse_time_travel(at=at, dry_run=dry_run)
    step_settings = StepSettings.read()
    batch_size = batch_size or settings.LIFECYCLE_BATCH_ACCOUNTS
    lock_name = "all" if shard is None else f"shard-{shard.index}-of-{shard.count}"
    row = {"started_at": now_real, "as_of": at or now_real, "dry_run": dry_run,
           "trigger": trigger, "shard_index": None if shard is None else shard.index,
           "shard_count": 1 if shard is None else shard.count,
           "parent_id": None if shard is None else shard.parent_id}
    with lifecycle_lock(lock_name, wait=wait) as acquired:
        if not acquired:
            skipped = LifecycleRun(**row, status=LifecycleRunStatus.SKIPPED,
                                   finished_at=timezone.now())
            if not dry_run:
                skipped.save()
            return skipped
        run = (LifecycleRun(**row, status=LifecycleRunStatus.RUNNING) if dry_run
               else lifecycle_run_claimed_create(**row))
        counts = RunCounts()
        error_messages: list[str] = []
        try:
            if not dry_run:
                dead_runs_fail_quietly(found_by=run)
                # Before any batch, in transactions of their own (a dry run writes its
                # charges into the default partition, and rolls them back).
                charge_partitions_ensure(charge_partitions_around(run.as_of))
            _run_batches(run=run, shard=shard, step_settings=step_settings,
                         batch_size=batch_size, counts=counts, error_messages=error_messages,
                         on_progress=on_progress)
            _record(run, counts, error_messages)
        except BaseException as exc:  # the process lives on: say now why the run stopped
            _record_stop(run, counts, error_messages, exc)
            raise
        finally:
            if run.pk is not None:
                lifecycle_run_unclaim(run.pk)
        run.counts = counts
        return run


def lifecycle_run_claimed_create(*, started_at: datetime, as_of: datetime, trigger: str,
                                 dry_run: bool = False, shard_index: int | None = None,
                                 shard_count: int = 1,
                                 parent_id: int | None = None) -> LifecycleRun:
    """The row of a run this process starts now, `running`, with its session recorded and
    holding the run's lock (`lifecycle_run_claim`) from before anyone can see the row: until
    this session ends or `lifecycle_run_unclaim`, the run is alive (see `janitor`)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            session_pid = cursor.fetchone()[0]
        run = LifecycleRun.objects.create(
            started_at=started_at, as_of=as_of, trigger=trigger, dry_run=dry_run,
            shard_index=shard_index, shard_count=shard_count, parent_id=parent_id,
            status=LifecycleRunStatus.RUNNING, session_pid=session_pid)
        lifecycle_run_claim(run.pk)
    return run


def _run_batches(*, run: LifecycleRun, shard: Shard | None, step_settings: StepSettings,
                 batch_size: int, counts: RunCounts, error_messages: list[str],
                 on_progress: Callable[[int], None] | None = None) -> None:
    """Refresh stale statistics (`statistics_refresh_stale`), expire lots (once per run: in the
    unsharded run or shard 0), then every batch; adds up into `counts` and `error_messages`, and
    tells `on_progress` each batch's accounts."""
    actor = f"lifecycle-run:{run.pk}" if run.pk is not None else "lifecycle-dry-run"
    # A real run commits batch by batch; a dry run keeps everything in one transaction
    # and rolls it back at the end.
    outer = transaction.atomic() if run.dry_run else nullcontext()
    _temp_buffers_raise()
    try:
        with outer:
            with connection.cursor() as cursor:
                statistics_refresh_stale(cursor)
            if shard is None or shard.index == 0:
                _timed(counts, "seconds_expire", expire, now=run.as_of)
            batches = _account_batches(batch_size=batch_size, shard=shard)
            for index, account_ids in enumerate(batches):
                batch = Batch(index=index, account_ids=tuple(account_ids), now=run.as_of,
                              run_id=run.pk, actor=actor)
                try:
                    counts.add(batch_run(batch, step_settings=step_settings,
                                         counts_before=counts, error_messages=error_messages))
                except Exception as exc:  # rolled back whole; the next run redoes it
                    logger.exception("lifecycle run %s: batch %s failed", run.pk, index)
                    counts.errors += 1
                    error_messages.append(
                        f"batch {index} (accounts {account_ids[0]}–{account_ids[-1]}): "
                        f"{exc}"[:500])
                if on_progress is not None:
                    on_progress(len(account_ids))
            if run.dry_run:
                raise _DryRunRollback
    except _DryRunRollback:
        pass


def _temp_buffers_raise() -> None:
    """Give this session's temporary tables `_TEMP_BUFFERS` of memory. PostgreSQL takes it only
    before the session's first temporary table: a session that already had one (an earlier run
    on a kept connection) keeps what it has, and the refusal is rolled back to a savepoint."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET temp_buffers = '{_TEMP_BUFFERS}'")
    except DatabaseError:
        pass


def _account_batches(*, batch_size: int, shard: Shard | None) -> Iterator[list[int]]:
    """Lists of ids of accounts with live resources, `batch_size` accounts each, in id order."""
    # Read whole before the first batch writes.
    ids = [owner for owner in live_owner_ids()
           if shard is None or account_shard(owner, shard.count) == shard.index]
    return batched(ids, batch_size)


def batch_run(batch: Batch, *, step_settings: StepSettings, counts_before: RunCounts,
              error_messages: list[str]) -> RunCounts:
    """One batch through the steps, committed whole or not at all; its counts are added to the
    run's row (`counts_before`: the run's counts before it; `error_messages`: the run's)."""
    counts = RunCounts(accounts=len(batch.account_ids))
    with transaction.atomic(), connection.cursor() as cursor:
        # Per-batch statements are short: compiling them (JIT) costs more than it saves. A
        # batch touches a few percent of the rows: look them up by index rather than scan
        # the tables (the default cost model assumes spinning disks). Its sorts (the running
        # sums of the charges and drains, tens of thousands of rows) fit in memory with
        # `_BATCH_WORK_MEM` instead of spilling to disk. Its temporary tables need row counts
        # and rough distributions, not fine ones: ANALYZE samples 3,000 rows, not 30,000.
        cursor.execute(f"SET LOCAL jit = off; SET LOCAL random_page_cost = 1.1; "
                       f"SET LOCAL work_mem = '{_BATCH_WORK_MEM}'; "
                       f"SET LOCAL default_statistics_target = 10")
        accounts_lock_ids(batch.account_ids)
        # The batch's live resources, read once into a narrow table from the covering index
        # `resource_lifecycle` (no wide resource row), with where each one's metering stands:
        # the steps read this instead of the resources again and again. The batch picks the
        # accounts, then each account's live resources: put on the resources, the two batch
        # conditions made the planner expect a twentieth of the rows and fetch the wide rows
        # through the owner's index (0.37 s a batch at scale instead of 0.08 s). The status and
        # deadline of the pending ones come from `ResourceGrace` (the index holds neither): its
        # rows in the batch's range of owners, joined to the batch's resources.
        counts.resources = temp(cursor, "lc_res", f"""
            SELECT r.id, r.owner_id,
                   CASE WHEN g.resource_id IS NULL THEN %(processed)s ELSE %(removing)s END
                       AS status,
                   r.payment_type, r.payment_chain, r.created_at,
                   g.delete_after, r.cost_credit_per_second, r.cost_hold, r.pricing_version_id,
                   a.metered_until, m.resource_id IS NOT NULL AS overridden,
                   {charged_hours_sql(meter='m.charged_hours', metered_until='a.metered_until',
                                      created_at='r.created_at')} AS from_hour,
                   {_METERING_END} AS metering_end,
                   {whole_hours_between(_METERING_END, 'r.created_at')} AS to_hour,
                   {hourly_charge('r.cost_credit_per_second')} AS per_hour
            FROM {_ACCOUNT} a JOIN {_RESOURCE} r ON r.owner_id = a.id
            LEFT JOIN {_METER} m ON m.resource_id = r.id
            LEFT JOIN (SELECT resource_id, delete_after FROM {_GRACE}
                       WHERE {in_batch_range('owner_id')}) g ON g.resource_id = r.id
            WHERE {in_batch('a.id')} AND r.ended_at IS NULL""",
             {**batch.params, "processed": ResourceStatus.PROCESSED.value,
              "removing": ResourceStatus.REMOVING.value})
        # Per account of the batch with credit-paid resources, in one pass: the credit cost per
        # second of its live resources (fund-or-flag, the runway) and the credits its hours
        # due ask (the meter; 0 when nothing is due).
        temp(cursor, "lc_owner", """
            SELECT owner_id AS account_id, SUM(cost_credit_per_second) AS rate,
                   COALESCE(SUM((to_hour - from_hour) * per_hour)
                            FILTER (WHERE to_hour > from_hour), 0) AS requested
            FROM lc_res WHERE payment_type = %(credit)s GROUP BY owner_id""",
             {"credit": PaymentType.CREDIT.value})
        if step_settings.metering_enabled:
            _timed(counts, "seconds_meter", meter, cursor, batch)
        # The batch's accounts with credit-paid resources, after the charges: their credit
        # cost per second, their spendable credits and, of those, the credits of lots that
        # last beyond the highest runway threshold (`events.runway_lasting_after`); one read
        # of their lots for fund-or-flag and the runway alerts. The lots do not change after.
        lasting_after = runway_lasting_after(batch.now)
        temp(cursor, "lc_credit", f"""
            SELECT n.account_id, n.rate, COALESCE(b.balance, 0) AS balance,
                   COALESCE(b.lasting, 0) AS lasting
            FROM lc_owner n
            LEFT JOIN (SELECT account_id, SUM(remaining) AS balance,
                              SUM(remaining) FILTER (
                                  WHERE %(lasting_after)s::timestamptz IS NOT NULL
                                    AND {lot_spendable_sql(at='%(lasting_after)s')}
                              ) AS lasting
                       FROM {_LOT} WHERE {in_batch('account_id')}
                         AND {lot_spendable_sql(at='%(now)s')}
                       GROUP BY account_id) b ON b.account_id = n.account_id""",
             {**batch.params, "lasting_after": lasting_after})
        _timed(counts, "seconds_fund_or_flag", fund_or_flag, cursor, batch,
               grace=step_settings.grace, horizon_seconds=step_settings.horizon_seconds)
        _timed(counts, "seconds_finalise", finalise, cursor, batch)
        # After the batch's charges and moves, in its transaction: the runway as it now is.
        _timed(counts, "seconds_alerts", runway_alerts, cursor, batch,
               removed_ids=counts.removed_ids)
        # In the batch's transaction: the row of a run killed later counts exactly the work it
        # committed (the charges that name it, a dead shard's share of its parent).
        if batch.run_id is not None:  # a dry run has no row
            LifecycleRun.objects.filter(pk=batch.run_id).update(
                error_messages="\n".join(error_messages),
                **{name: getattr(counts_before, name) + getattr(counts, name)
                   for name in LifecycleRun.COUNT_FIELDS})
    return counts


def _timed(counts: RunCounts, seconds_field: str, step, *args, **kwargs) -> None:
    """Add up what `step` returns into `counts`, and the seconds it took into `seconds_field`."""
    started = time.perf_counter()
    counts.add(step(*args, **kwargs))
    setattr(counts, seconds_field, getattr(counts, seconds_field) + time.perf_counter() - started)


def _record(run: LifecycleRun, counts: RunCounts, error_messages: list[str]) -> None:
    run.finished_at = timezone.now()
    run.status = (LifecycleRunStatus.FAILED if counts.errors else LifecycleRunStatus.SUCCEEDED)
    for name in LifecycleRun.COUNT_FIELDS:
        setattr(run, name, getattr(counts, name))
    run.error_messages = "\n".join(error_messages)
    if not run.dry_run:
        with transaction.atomic():  # the run's row and the event announcing it, or neither
            run.save()
            lifecycle_run_finished(run=run)


def _record_stop(run: LifecycleRun, counts: RunCounts, error_messages: list[str],
                 exc: BaseException) -> None:
    """Record as failed a run stopped by an exception (its committed batches are counted)."""
    counts.errors += 1
    error_messages.append(f"the run stopped: {type(exc).__name__}: {exc}"[:500])
    try:
        _record(run, counts, error_messages)
    except Exception:  # e.g. the connection is gone: the next run finds the run dead
        logger.exception("lifecycle run %s: could not record why it stopped", run.pk)
