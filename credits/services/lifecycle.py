"""The hourly lifecycle run: meter, fund or flag, finalise, record.

Set-based: each batch of accounts is a handful of SQL statements (window functions, bulk
inserts and guarded updates), whatever the number of accounts, run in one transaction while the
batch's account rows are locked. A failed batch is rolled back whole and counted as an error;
the next run completes its work, because everything a run does is derived from the rows
(`ResourceMeter.charged_hours`, statuses, deadlines), never from what an earlier run remembered.
A run whose process dies (killed, out of memory) leaves its committed batches, counted on its
row, and is marked failed by the next run (`lifecycle_runs_fail_dead`).

PostgreSQL only: `numeric` sums of the 18-decimal rates, whole hours from exact epoch
differences, `generate_series` for the hours due.
"""
from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from pricing.costs import HOUR_SECONDS
from pricing.enums import PaymentType

from ..locks import (
    accounts_lock_ids,
    lifecycle_lock,
    lifecycle_run_claim,
    lifecycle_run_unclaim,
    lifecycle_run_unclaimed_sql,
)
from ..models import (
    METERING_REASON,
    LifecycleRun,
    LifecycleRunStatus,
    LifecycleTrigger,
    RemovalReason,
    Resource,
    ResourceStatus,
    StatusChangeReason,
)
from ..selectors.lifecycle import lifecycle_settings_get
from .ledger import lots_expire

logger = logging.getLogger(__name__)

_LIVE = f"('{ResourceStatus.PROCESSED}', '{ResourceStatus.REMOVING}')"


def _in_batch(column: str) -> str:
    """`column` is one of the batch's accounts. The range bounds let the planner start an
    index scan at the batch's first account: without them it merges over the index from the
    first account of all, and the later batches of a run read most of the table."""
    return (f"{column} IN (SELECT account_id FROM lc_batch) "
            f"AND {column} BETWEEN %(batch_lo)s AND %(batch_hi)s")


@dataclass
class RunCounts:
    accounts: int = 0
    resources: int = 0
    charges: int = 0
    credits_charged: int = 0
    credits_short: int = 0
    flagged: int = 0
    restored: int = 0
    removed: int = 0
    errors: int = 0
    expired_credits: int = 0
    seconds_expire: float = 0.0
    seconds_meter: float = 0.0
    seconds_fund_or_flag: float = 0.0
    seconds_finalise: float = 0.0
    flagged_ids: list[int] = field(default_factory=list)
    restored_ids: list[int] = field(default_factory=list)
    removed_ids: list[int] = field(default_factory=list)

    def add(self, other: "RunCounts") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class LifecycleRefused(Exception):
    """The run was asked for something it may not do (e.g. act at another instant)."""


class _DryRunRollback(Exception):
    pass


# --- SQL fragments ---------------------------------------------------------------------------

def _whole_hours_between(later: str, earlier: str) -> str:
    """Whole hours from `earlier` to `later`: the epoch difference is an exact `numeric`
    (microseconds), so an exact hour is never a hair short of one."""
    return (f"CAST(FLOOR((EXTRACT(EPOCH FROM {later}) - EXTRACT(EPOCH FROM {earlier}))"
            f" / {HOUR_SECONDS}) AS BIGINT)")


def _hourly_charge(rate_column: str) -> str:
    """Credits per hour, rounded half-up to whole credits (rates are never negative)."""
    return f"CAST(ROUND({rate_column} * {HOUR_SECONDS}) AS BIGINT)"


# One row per resource-hour due in `lc_due` (hours from_hour … to_hour − 1).
_DUE_HOURS = """WITH h AS (
    SELECT d.resource_id, d.owner_id, d.created_at, d.pricing_version_id, g.hour_index,
           d.per_hour
    FROM lc_due d
    CROSS JOIN LATERAL generate_series(d.from_hour, d.to_hour - 1) AS g(hour_index))"""


def _temp(cursor, name: str, select_sql: str, params: dict) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    cursor.execute(f"CREATE TEMPORARY TABLE {name} AS {select_sql}", params)
    # Temporary tables are never auto-analysed: without statistics the planner joins them
    # with nested loops over every row pair (minutes at a million resources).
    cursor.execute(f"ANALYZE {name}")


def _drop_temps(cursor, *names: str) -> None:
    for name in names:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


# --- steps ---------------------------------------------------------------------------------

def _meter(cursor, *, now, run: LifecycleRun, actor: str, bounds: dict) -> RunCounts:
    """Charge every whole hour each live credit resource ran since its last charge."""
    counts = RunCounts()
    end = (f"CASE WHEN r.status = '{ResourceStatus.REMOVING}' AND r.delete_after < %(now)s "
           f"THEN r.delete_after ELSE %(now)s END")
    params = {"now": now, "run": run.pk, "actor": actor, **bounds,
              "ref": f"lifecycle-run:{run.pk}", "key": f"meter:run:{run.pk}:account:",
              "reason": METERING_REASON}
    _temp(cursor, "lc_due", f"""
        SELECT r.id AS resource_id, r.owner_id, r.created_at, r.pricing_version_id,
               COALESCE(m.charged_hours, 0) AS from_hour, m.resource_id IS NOT NULL AS metered,
               {_whole_hours_between(end, 'r.created_at')} AS to_hour,
               {_hourly_charge('r.cost_credit_per_second')} AS per_hour
        FROM lc_res r LEFT JOIN credits_resourcemeter m ON m.resource_id = r.id
        WHERE r.payment_type = '{PaymentType.CREDIT}'""", params)
    cursor.execute("DELETE FROM lc_due WHERE to_hour <= from_hour")
    _temp(cursor, "lc_account", """
        SELECT owner_id AS account_id, SUM((to_hour - from_hour) * per_hour) AS requested
        FROM lc_due GROUP BY owner_id HAVING SUM((to_hour - from_hour) * per_hour) > 0""", params)
    # Soonest-expiring lots first, non-expiring last, then oldest: each lot gives what the
    # account still needs after the lots before it, and never more than it has.
    _temp(cursor, "lc_drain", """
        SELECT lot_id, account_id,
               CASE WHEN requested - before_lot >= remaining THEN remaining
                    ELSE requested - before_lot END AS amount
        FROM (SELECT l.id AS lot_id, l.account_id, l.remaining, a.requested,
                     SUM(l.remaining) OVER (PARTITION BY l.account_id
                         ORDER BY (l.expires_at IS NULL), l.expires_at, l.created_at, l.id
                         ROWS UNBOUNDED PRECEDING) - l.remaining AS before_lot
              FROM credits_lot l JOIN lc_account a ON a.account_id = l.account_id
              WHERE l.account_id BETWEEN %(batch_lo)s AND %(batch_hi)s AND l.remaining > 0
                AND (l.expires_at IS NULL OR l.expires_at > %(now)s)) s
        WHERE requested > before_lot""", params)
    cursor.execute("""
        UPDATE credits_lot SET remaining = credits_lot.remaining - d.amount
        FROM lc_drain d WHERE credits_lot.id = d.lot_id""")
    cursor.execute("""
        INSERT INTO credits_ledgerentry (account_id, kind, amount, amount_requested, shortfall,
            idempotency_key, request_hash, reference, reason, effective_at, created_by)
        SELECT a.account_id, 'expense', -COALESCE(s.drained, 0), a.requested,
               a.requested - COALESCE(s.drained, 0), %(key)s || a.account_id, '', %(ref)s,
               %(reason)s, %(now)s, %(actor)s
        FROM lc_account a LEFT JOIN (SELECT account_id, SUM(amount) AS drained FROM lc_drain
                                     GROUP BY account_id) s ON s.account_id = a.account_id""",
                   params)
    _temp(cursor, "lc_entry", """
        SELECT e.id AS entry_id, e.account_id, -e.amount AS drained
        FROM lc_account a JOIN credits_ledgerentry e
          ON e.idempotency_key = %(key)s || a.account_id""",
          params)
    cursor.execute("""
        INSERT INTO credits_lotdrain (entry_id, lot_id, amount)
        SELECT e.entry_id, d.lot_id, d.amount FROM lc_drain d
        JOIN lc_entry e ON e.account_id = d.account_id""")
    # One charge per (resource, hour), oldest resource first; the account's drained credits
    # are allotted to its charges in that order, so a shortfall lands on the newest hours.
    cursor.execute(f"""
        INSERT INTO credits_charge (resource_id, hour_index, amount_requested, amount_drained,
                                    entry_id, run_id, pricing_version_id)
        {_DUE_HOURS}
        SELECT h.resource_id, h.hour_index, h.per_hour,
               CASE WHEN e.drained - before_charge >= h.per_hour THEN h.per_hour
                    WHEN e.drained > before_charge THEN e.drained - before_charge
                    ELSE 0 END,
               e.entry_id, %(run)s, h.pricing_version_id
        FROM (SELECT h.*, SUM(per_hour) OVER (PARTITION BY owner_id
                  ORDER BY created_at, resource_id, hour_index ROWS UNBOUNDED PRECEDING)
                  - per_hour AS before_charge FROM h) h
        JOIN lc_entry e ON e.account_id = h.owner_id""", params)
    counts.charges = cursor.rowcount
    cursor.execute("""
        UPDATE credits_resourcemeter SET charged_hours = d.to_hour
        FROM lc_due d WHERE credits_resourcemeter.resource_id = d.resource_id AND d.metered""")
    cursor.execute("""
        INSERT INTO credits_resourcemeter (resource_id, charged_hours)
        SELECT resource_id, to_hour FROM lc_due WHERE NOT metered""")
    cursor.execute("SELECT COALESCE(SUM(x.drained), 0), COALESCE(SUM(e.shortfall), 0) "
                   "FROM lc_entry x JOIN credits_ledgerentry e ON e.id = x.entry_id")
    drained, short = cursor.fetchone()
    counts.credits_charged = int(drained)
    counts.credits_short = int(short)
    _drop_temps(cursor, "lc_due", "lc_account", "lc_drain", "lc_entry")
    return counts


def _transition(cursor, *, candidates_sql: str, params: dict, from_status: str, to_status: str,
                reason: str, set_sql: str) -> list[int]:
    """Guarded transition of the candidate resources: audit rows, then
    `UPDATE … WHERE status = from_status`. The batch's accounts are locked, so the set
    cannot change between the two statements."""
    _temp(cursor, "lc_move", f"""
        SELECT r.id FROM credits_resource r
        WHERE r.id IN ({candidates_sql}) AND r.status = '{from_status}'""", params)
    cursor.execute("SELECT id FROM lc_move ORDER BY id")
    ids = [row[0] for row in cursor.fetchall()]
    # Both statements run even for an empty set: a batch costs the same queries whatever
    # its data, which keeps a run's query count flat.
    cursor.execute(f"""
        INSERT INTO credits_resourcestatuschange (resource_id, from_status, to_status,
                                                  reason, actor, at, run_id)
        SELECT id, '{from_status}', '{to_status}', %(reason)s, %(actor)s, %(now)s, %(run)s
        FROM lc_move""", {**params, "reason": reason})
    cursor.execute(f"""
        UPDATE credits_resource SET status = '{to_status}', {set_sql}
        WHERE id IN (SELECT id FROM lc_move) AND status = '{from_status}'""", params)
    if cursor.rowcount != len(ids):  # the guard: someone else moved one meanwhile
        raise RuntimeError(f"{from_status}→{to_status}: expected {len(ids)} rows, "
                           f"updated {cursor.rowcount}")
    _drop_temps(cursor, "lc_move")
    return ids


def _fund_or_flag(cursor, *, now, run, actor, bounds: dict, grace: timedelta,
                  horizon_seconds: int) -> RunCounts:
    counts = RunCounts()
    params = {"now": now, "run": run.pk, "actor": actor, **bounds,
              "delete_after": run.as_of + grace, "horizon": horizon_seconds}
    # Credit: the balance now against the running total of one horizon of cost, oldest first.
    _temp(cursor, "lc_fund", f"""
        SELECT r.id, r.status, r.delete_after,
               CASE WHEN SUM(r.cost_credit_per_second) OVER (
                        PARTITION BY r.owner_id ORDER BY r.created_at, r.id
                        ROWS UNBOUNDED PRECEDING) * %(horizon)s <= COALESCE(b.balance, 0)
                    THEN 1 ELSE 0 END AS funded
        FROM lc_res r
        LEFT JOIN (SELECT account_id, SUM(remaining) AS balance FROM credits_lot
                   WHERE {_in_batch('account_id')} AND remaining > 0
                     AND (expires_at IS NULL OR expires_at > %(now)s)
                   GROUP BY account_id) b ON b.account_id = r.owner_id
        WHERE r.payment_type = '{PaymentType.CREDIT}'
        UNION ALL
        SELECT r.id, r.status, r.delete_after,
               CASE WHEN SUM(r.cost_hold) OVER (
                        PARTITION BY r.owner_id, r.payment_chain ORDER BY r.created_at, r.id
                        ROWS UNBOUNDED PRECEDING) <= COALESCE(t.balance, 0)
                    THEN 1 ELSE 0 END AS funded
        FROM lc_res r
        LEFT JOIN credits_tokenbalance t
               ON t.account_id = r.owner_id AND t.chain = r.payment_chain
        WHERE r.payment_type = '{PaymentType.HOLD}'""", params)
    flag_set = ("removing_since = %(now)s, delete_after = %(delete_after)s, "
                "removal_reason = %(reason)s")
    for payment_type, reason in ((PaymentType.CREDIT, RemovalReason.CREDIT_INSUFFICIENT),
                                 (PaymentType.HOLD, RemovalReason.BALANCE_INSUFFICIENT)):
        ids = _transition(
            cursor, params={**params, "reason": reason.value, "payment": payment_type.value},
            candidates_sql="SELECT f.id FROM lc_fund f JOIN credits_resource x ON x.id = f.id "
                           "WHERE f.funded = 0 AND x.payment_type = %(payment)s",
            from_status=ResourceStatus.PROCESSED, to_status=ResourceStatus.REMOVING,
            reason=reason.value, set_sql=flag_set)
        counts.flagged += len(ids)
        counts.flagged_ids += ids
    # Funded again before the deadline: back to processed. Past the deadline it is removed.
    ids = _transition(
        cursor, params=params,
        candidates_sql="SELECT id FROM lc_fund WHERE funded = 1 AND delete_after > %(now)s",
        from_status=ResourceStatus.REMOVING, to_status=ResourceStatus.PROCESSED,
        reason=StatusChangeReason.FUNDED,
        set_sql="removing_since = NULL, delete_after = NULL, removal_reason = ''")
    counts.restored = len(ids)
    counts.restored_ids = ids
    _drop_temps(cursor, "lc_fund")
    return counts


def _finalise(cursor, *, now, run, actor, bounds: dict) -> RunCounts:
    params = {"now": now, "run": run.pk, "actor": actor, **bounds}
    ids = _transition(
        cursor, params=params,
        candidates_sql=f"SELECT id FROM credits_resource WHERE {_in_batch('owner_id')} "
                       f"AND status = '{ResourceStatus.REMOVING}' AND delete_after <= %(now)s",
        from_status=ResourceStatus.REMOVING, to_status=ResourceStatus.REMOVED,
        reason=StatusChangeReason.GRACE_EXPIRED, set_sql="ended_at = delete_after")
    return RunCounts(removed=len(ids), removed_ids=ids)


# --- the run -------------------------------------------------------------------------------

_HASH_SPACE = 2 ** 32


def account_shard(account_id: int, shard_count: int) -> int:
    """The shard of an account: its place in equal ranges of a 32-bit hash of its id."""
    hashed = (account_id * 2654435761) % _HASH_SPACE  # Knuth's multiplicative hash
    return hashed * shard_count // _HASH_SPACE


def _account_batches(*, batch_size: int, shard_index: int | None, shard_count: int):
    """Lists of ids of accounts with live resources, `batch_size` accounts each, in id order."""
    owners = (Resource.objects.filter(status__in=[ResourceStatus.PROCESSED,
                                                  ResourceStatus.REMOVING])
              .order_by("owner_id").values_list("owner_id", flat=True).distinct())
    ids = [owner for owner in owners.iterator(chunk_size=10_000)
           if shard_index is None or account_shard(owner, shard_count) == shard_index]
    for start in range(0, len(ids), batch_size):
        yield ids[start:start + batch_size]


def _run_batch(*, account_ids: list[int], run, now, actor, settings_, run_counts: RunCounts,
               error_messages: list[str]) -> RunCounts:
    """One batch, committed whole or not at all; `run_counts`: the run's counts before it."""
    batch = RunCounts(accounts=len(account_ids))
    with transaction.atomic(), connection.cursor() as cursor:
        # Per-batch statements are short: compiling them (JIT) costs more than it saves.
        cursor.execute("SET LOCAL jit = off")
        # A batch touches a few percent of the resources: look them up by primary key
        # rather than scan the table (the default cost model assumes spinning disks).
        cursor.execute("SET LOCAL random_page_cost = 1.1")
        accounts_lock_ids(account_ids)
        bounds = {"batch_lo": min(account_ids), "batch_hi": max(account_ids)}
        _temp(cursor, "lc_batch", "SELECT id AS account_id FROM credits_account WHERE id IN "
              f"({', '.join(['%s'] * len(account_ids))})", account_ids)
        # The batch's live resources, read once into a narrow table: metering and fund-or-flag
        # read this instead of the wide resource rows (content JSON and all) again and again.
        _temp(cursor, "lc_res", f"""
            SELECT r.id, r.owner_id, r.status, r.payment_type, r.payment_chain, r.created_at,
                   r.delete_after, r.cost_credit_per_second, r.cost_hold, r.pricing_version_id
            FROM credits_resource r
            WHERE {_in_batch('r.owner_id')} AND r.status IN {_LIVE}""", bounds)
        cursor.execute("SELECT COUNT(*) FROM lc_res")
        batch.resources = cursor.fetchone()[0]
        if settings_.metering_enabled:
            started = time.perf_counter()
            batch.add(_meter(cursor, now=now, run=run, actor=actor, bounds=bounds))
            batch.seconds_meter += time.perf_counter() - started
        started = time.perf_counter()
        batch.add(_fund_or_flag(cursor, now=now, run=run, actor=actor, bounds=bounds,
                                grace=timedelta(hours=settings_.grace_hours),
                                horizon_seconds=settings_.funding_horizon_hours * HOUR_SECONDS))
        batch.seconds_fund_or_flag += time.perf_counter() - started
        started = time.perf_counter()
        batch.add(_finalise(cursor, now=now, run=run, actor=actor, bounds=bounds))
        batch.seconds_finalise += time.perf_counter() - started
        _drop_temps(cursor, "lc_batch", "lc_res")
        # In the batch's transaction: the row of a run killed later counts exactly the work it
        # committed (the charges that name it, a dead shard's share of its parent).
        LifecycleRun.objects.filter(pk=run.pk).update(
            error_messages="\n".join(error_messages),
            **{name: getattr(run_counts, name) + getattr(batch, name)
               for name in LifecycleRun.COUNT_FIELDS})
    return batch


def lifecycle_run(*, at: datetime | None = None, dry_run: bool = False,
                  trigger: str = LifecycleTrigger.MANUAL,
                  shard_index: int | None = None, shard_count: int = 1,
                  parent_id: int | None = None, batch_size: int | None = None,
                  wait: bool = False, fail_batch=None) -> LifecycleRun:
    """Run the lifecycle once (or one shard of it, of the sharded run `parent_id`) as of `at`
    (default: now).

    Another run holding the lifecycle lock makes this one skip (or wait, with `wait=True`).
    A real run first marks failed the runs whose process died (`lifecycle_runs_fail_dead`).
    `dry_run` does everything inside a transaction that is rolled back, so it reports exactly
    what a real run would change and changes nothing. `fail_batch(index)` is a test hook that
    may raise to simulate a crash in a batch.
    """
    from django.conf import settings as django_settings

    now_real = timezone.now()
    as_of = at or now_real
    if at is not None and not dry_run and not django_settings.LIFECYCLE_ALLOW_TIME_TRAVEL:
        raise LifecycleRefused("Running the lifecycle as of another instant changes real "
                               "accounts: only with --dry-run, or with "
                               "LIFECYCLE_ALLOW_TIME_TRAVEL on (tests).")
    settings_ = lifecycle_settings_get()
    batch_size = batch_size or django_settings.LIFECYCLE_BATCH_ACCOUNTS
    lock_name = "all" if shard_index is None else f"shard-{shard_index}-of-{shard_count}"
    row = {"started_at": now_real, "as_of": as_of, "dry_run": dry_run, "trigger": trigger,
           "shard_index": shard_index, "shard_count": shard_count, "parent_id": parent_id}
    with lifecycle_lock(lock_name, wait=wait) as acquired:
        if not acquired:
            return LifecycleRun.objects.create(**row, status=LifecycleRunStatus.SKIPPED,
                                               finished_at=timezone.now())
        run = lifecycle_run_claimed_create(**row)
        counts = RunCounts()
        error_messages: list[str] = []
        try:
            if not dry_run:
                _fail_dead_runs(found_by=run)
            _run_batches(run=run, counts=counts, error_messages=error_messages,
                         settings_=settings_, batch_size=batch_size, fail_batch=fail_batch)
            _record(run, counts, error_messages)
        except BaseException as exc:  # the process lives on: say now why the run stopped
            _record_stop(run, counts, error_messages, exc)
            raise
        finally:
            lifecycle_run_unclaim(run.pk)
        run.counts = counts
        return run


def _run_batches(*, run: LifecycleRun, counts: RunCounts, error_messages: list[str],
                 settings_, batch_size: int, fail_batch) -> None:
    """Expire lots (once per run: in the unsharded run or shard 0), then every batch; adds up
    into `counts` and `error_messages`."""
    actor = f"lifecycle-run:{run.pk}"
    # A real run commits batch by batch; a dry run keeps everything in one transaction
    # and rolls it back at the end.
    outer = transaction.atomic() if run.dry_run else nullcontext()
    try:
        with outer:
            if run.shard_index in (None, 0):
                started = time.perf_counter()
                counts.expired_credits = lots_expire(at=run.as_of)
                counts.seconds_expire = time.perf_counter() - started
            batches = _account_batches(batch_size=batch_size, shard_index=run.shard_index,
                                       shard_count=run.shard_count)
            for index, account_ids in enumerate(batches):
                try:
                    if fail_batch is not None:
                        fail_batch(index)
                    counts.add(_run_batch(account_ids=account_ids, run=run, now=run.as_of,
                                          actor=actor, settings_=settings_, run_counts=counts,
                                          error_messages=error_messages))
                except Exception as exc:  # rolled back whole; the next run redoes it
                    logger.exception("lifecycle run %s: batch %s failed", run.pk, index)
                    counts.errors += 1
                    error_messages.append(
                        f"batch {index} (accounts {account_ids[0]}–{account_ids[-1]}): "
                        f"{exc}"[:500])
            if run.dry_run:
                raise _DryRunRollback
    except _DryRunRollback:
        pass


def _record(run: LifecycleRun, counts: RunCounts, error_messages: list[str]) -> None:
    run.finished_at = timezone.now()
    run.status = (LifecycleRunStatus.FAILED if counts.errors else LifecycleRunStatus.SUCCEEDED)
    for name in LifecycleRun.COUNT_FIELDS:
        setattr(run, name, getattr(counts, name))
    run.error_messages = "\n".join(error_messages)
    run.save()


def _record_stop(run: LifecycleRun, counts: RunCounts, error_messages: list[str],
                 exc: BaseException) -> None:
    """Record as failed a run stopped by an exception (its committed batches are counted)."""
    counts.errors += 1
    error_messages.append(f"the run stopped: {type(exc).__name__}: {exc}"[:500])
    try:
        _record(run, counts, error_messages)
    except Exception:  # e.g. the connection is gone: the next run finds the run dead
        logger.exception("lifecycle run %s: could not record why it stopped", run.pk)


# --- whose process died ----------------------------------------------------------------------

def lifecycle_run_claimed_create(*, started_at: datetime, as_of: datetime, trigger: str,
                                 dry_run: bool = False, shard_index: int | None = None,
                                 shard_count: int = 1,
                                 parent_id: int | None = None) -> LifecycleRun:
    """The row of a run this process starts now, `running`, with its session recorded and
    holding the run's lock (`lifecycle_run_claim`) from before anyone can see the row: until
    this session ends or `lifecycle_run_unclaim`, the run is alive."""
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


_DIED = ("its process died, or lost its database connection, before the run finished{found}. "
         "The batches it committed stand, counted here, and their charges are this run's; "
         "the batch in progress was rolled back, and a later run does it.")
_PARENT_DIED = ("the process running its shards died, or lost its database connection{found}; "
                "a later run does their accounts.")


def lifecycle_runs_fail_dead(*, found_by: LifecycleRun | None = None) -> list[int]:
    """Mark failed, with the reason, every run left `running` by a process that died, and close
    the sharded runs they leave without a live shard. Returns the ids marked failed.

    A run is dead when nobody holds its lock: its process took it before the row could be seen
    and keeps it until the run is recorded, and nothing else ever takes it. So a live run, busy
    in any process, is never touched, and a dead one never comes back to life. The test and the
    update are one statement, guarded by the status: two of these at once mark each run once.
    Runs without a session (the parent of Celery shards, rows older than migration 0009) are
    not judged here: a parent closes when its shards have finished.
    """
    from .lifecycle_shards import lifecycle_run_summarise  # that module imports this one

    found = "" if found_by is None else f"; found by run {found_by.pk}"
    table = LifecycleRun._meta.db_table
    parent_sql = "parent_id IS NULL AND shard_index IS NULL AND shard_count > 1"
    params = {"running": LifecycleRunStatus.RUNNING, "failed": LifecycleRunStatus.FAILED,
              "now": timezone.now(), "newline": "\n", "reason": _DIED.format(found=found)}
    with connection.cursor() as cursor:
        cursor.execute(f"""
            UPDATE {table} SET status = %(failed)s, finished_at = %(now)s, errors = errors + 1,
                error_messages = concat_ws(%(newline)s, NULLIF(error_messages, ''), %(reason)s)
            WHERE status = %(running)s AND session_pid IS NOT NULL AND NOT ({parent_sql})
              AND {lifecycle_run_unclaimed_sql(f"{table}.id")}
            RETURNING id, parent_id""", params)
        failed = cursor.fetchall()
        # A parent run in one process (`run_lifecycle --shards`) whose process died: its
        # shards that never started never will. One whose shard still runs is left to it.
        cursor.execute(f"""
            SELECT id FROM {table} p
            WHERE status = %(running)s AND session_pid IS NOT NULL AND {parent_sql}
              AND {lifecycle_run_unclaimed_sql("p.id")}
              AND NOT EXISTS (SELECT 1 FROM {table} s
                              WHERE s.parent_id = p.id AND s.status = %(running)s)""", params)
        dead_parents = [row[0] for row in cursor.fetchall()]
    for parent_id in dead_parents:
        lifecycle_run_summarise(parent_id=parent_id,
                                abandoned=_PARENT_DIED.format(found=found))
    for parent_id in sorted({parent_id for _, parent_id in failed} - {None, *dead_parents}):
        lifecycle_run_summarise(parent_id=parent_id)  # closes it if that was its last shard
    for run_id, _ in failed:
        logger.warning("lifecycle run %s: its process died; marked failed", run_id)
    return sorted([run_id for run_id, _ in failed] + dead_parents)


def _fail_dead_runs(*, found_by: LifecycleRun) -> None:
    # Housekeeping: were it to fail, the hour's billing must still go on.
    try:
        with transaction.atomic():
            lifecycle_runs_fail_dead(found_by=found_by)
    except DatabaseError:
        logger.exception("lifecycle run %s: could not mark the dead runs failed", found_by.pk)
