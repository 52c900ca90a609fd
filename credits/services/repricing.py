"""Repricing: recalculating existing resources with a pricing version, on purpose, as a
background job.

Staff start a job on the version in force; a Celery task runs it in batches of accounts. Each
batch is one transaction holding its accounts' row locks (pk order, as registration and the
lifecycle take them): the live resources are re-priced from their stored content, and those
whose rows, totals, product or version differ get new cost rows and totals and this version,
with an audit line each. Past charges keep the version they were charged with; only future
metering uses the new rates. A batch that fails is rolled back whole and counted; the next one
goes on. Running the same version again changes nothing (every resource is already equal).

A dry run (any version, drafts too) goes through the same steps and writes nothing but its own
progress and summary: it is how the impact of a version is computed when the database has too
many resources for a page to do it while it loads.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from pricing.costs import HOUR_SECONDS
from pricing.diff import version_fingerprint
from pricing.enums import VersionStatus
from pricing.models import PricingVersion
from pricing.selectors import pricing_table_from_version, pricing_version_in_force
from pricing.services import PricingVersionError, recorded_user

from ..impact import (
    BATCH_ACCOUNTS,
    EXAMPLES,
    ImpactTally,
    ImpactWalk,
    ResourceOutcome,
    balances_of,
    evaluate_accounts,
    live_resource_count,
)
from ..locks import accounts_lock_ids
from ..models import (
    LIVE_STATUSES,
    CostRow,
    Recalculation,
    RecalculationLine,
    RecalculationOutcome,
    RecalculationStatus,
    Resource,
)
from ..selectors.resources import funding_horizon_hours, live_owner_batches

logger = logging.getLogger(__name__)

# A job whose worker wrote no progress for this long is taken as dead: another may start.
STALE_AFTER = timedelta(minutes=15)
MAX_ERROR_MESSAGES = 50


class RecalculationRefused(PricingVersionError):
    code = "recalculation_refused"


def recalculation_active(*, dry_run: bool = False) -> Recalculation | None:
    """A real (or dry-run) job queued or running that has shown life recently."""
    alive_since = timezone.now() - STALE_AFTER
    jobs = Recalculation.objects.filter(dry_run=dry_run, status__in=[
        RecalculationStatus.QUEUED, RecalculationStatus.RUNNING])
    for job in jobs.order_by("created_at"):
        last = job.heartbeat_at or job.started_at or job.created_at
        if last >= alive_since:
            return job
    return None


def recalculation_refusal(*, version: PricingVersion) -> str:
    """Why `version` cannot be applied to the resources now ("" if it can)."""
    if version.status != VersionStatus.PUBLISHED:
        return (f"“{version.name}” is {version.get_status_display().lower()}: only the "
                "published version in force can be applied to existing resources.")
    in_force = pricing_version_in_force()
    if in_force is None or in_force.pk != version.pk:
        when = (f"it takes effect on {version.effective_from:%Y-%m-%d %H:%M:%S} UTC"
                if version.effective_from > timezone.now() else "another version is in force")
        return (f"“{version.name}” is not the version in force ({when}): only the version in "
                "force can be applied to existing resources.")
    running = recalculation_active()
    if running is not None:
        return (f"Recalculation #{running.pk} (version #{running.version_id}) is still "
                f"{running.get_status_display().lower()}; wait for it to finish.")
    return ""


@transaction.atomic
def recalculation_start(*, version: PricingVersion, user=None,
                        dry_run: bool = False) -> Recalculation:
    """Queue a job applying `version` to the live resources (or a dry run of it, for any
    version). The Celery task starts once this transaction commits."""
    from ..tasks import recalculation_run_task  # the tasks module imports this one

    if not dry_run:
        refusal = recalculation_refusal(version=version)
        if refusal:
            raise RecalculationRefused(refusal)
    job = Recalculation.objects.create(version=version, dry_run=dry_run,
                                       created_by=recorded_user(user),
                                       fingerprint=version_fingerprint(version),
                                       total=live_resource_count())
    transaction.on_commit(lambda: recalculation_run_task.delay(job.pk))
    return job


def _line(job: Recalculation, outcome: ResourceOutcome, *, failed: bool,
          reason: str = "") -> RecalculationLine:
    line = RecalculationLine(
        recalculation=job, resource_id=outcome.resource_id, item_hash=outcome.item_hash,
        outcome=RecalculationOutcome.FAILED if failed else RecalculationOutcome.RECALCULATED,
        previous_version_id=outcome.pricing_version_id,
        previous_cost_hold=outcome.old_hold,
        previous_cost_stream_per_second=outcome.old_stream_per_second,
        previous_cost_credit_per_second=outcome.old_credit_per_second,
        reason=reason or outcome.error)
    if not failed:
        line.cost_hold = outcome.new_hold
        line.cost_stream_per_second = outcome.new_stream_per_second
        line.cost_credit_per_second = outcome.new_credit_per_second
    return line


def _resources_update(changed: list[ResourceOutcome], *, version_id: int) -> None:
    """New totals, product type and version of the resources, by primary key.

    One UPDATE … FROM (VALUES …) per thousand resources (Django's bulk_update builds CASE
    expressions that grow with the square of the batch).
    """
    values = [(outcome.resource_id, outcome.breakdown.product_type, outcome.new_hold,
               outcome.new_stream_per_second, outcome.new_credit_per_second)
              for outcome in changed]
    table = Resource._meta.db_table
    with connection.cursor() as cursor:
        for start in range(0, len(values), 1000):
            chunk = values[start:start + 1000]
            rows = ", ".join(["(%s::bigint, %s, %s::numeric, %s::numeric, %s::numeric)"]
                             * len(chunk))
            cursor.execute(
                f"UPDATE {table} AS r SET product_type = v.product_type, cost_hold = v.hold, "
                "cost_stream_per_second = v.stream, cost_credit_per_second = v.credit, "
                "pricing_version_id = %s "
                f"FROM (VALUES {rows}) AS v(id, product_type, hold, stream, credit) "
                "WHERE r.id = v.id",
                [version_id, *(item for row in chunk for item in row)])


def _apply(*, job: Recalculation, version: PricingVersion,
           outcomes: list[ResourceOutcome]) -> list[ResourceOutcome]:
    """Store the new costs of the outcomes that need it (five statements for the batch)."""
    changed = [outcome for outcome in outcomes if outcome.needs_update(version.pk)]
    if not changed:
        return changed
    _resources_update(changed, version_id=version.pk)
    ids = [outcome.resource_id for outcome in changed]
    CostRow.objects.filter(resource_id__in=ids).delete()
    CostRow.objects.bulk_create([
        CostRow(resource_id=outcome.resource_id, position=position, type=row.type,
                name=row.name, ref=row.ref, cost_hold=row.cost_hold,
                cost_stream_per_second=row.cost_stream_per_second,
                cost_credit_per_second=row.cost_credit_per_second, size_mib=row.size_mib,
                pricing_version_id=version.pk)
        for outcome in changed for position, row in enumerate(outcome.breakdown.rows)
    ], batch_size=1000)
    return changed


def _run_batch(*, job: Recalculation, version: PricingVersion, table, account_ids: list[int],
               tally: ImpactTally, horizon_seconds: int, index: int, fail_batch) -> dict:
    """One batch in one transaction, under its accounts' locks. Returns its counts; the tally
    is only added to once the batch has committed."""
    counts = {"done": 0, "recalculated": 0, "cost_changed": 0, "unchanged": 0, "failed": 0}
    batch_tally = ImpactTally(horizon_hours=tally.horizon_hours)
    with transaction.atomic():
        if not job.dry_run:
            accounts_lock_ids(account_ids)
        walk = ImpactWalk(balances=balances_of(account_ids=account_ids, at=timezone.now()),
                           horizon_seconds=horizon_seconds)
        outcomes = list(evaluate_accounts(account_ids=account_ids, table=table,
                                          with_rows=True))
        for outcome in outcomes:
            batch_tally.add(outcome, walk)
        if job.dry_run:
            changed = [outcome for outcome in outcomes if outcome.needs_update(version.pk)]
        else:
            changed = _apply(job=job, version=version, outcomes=outcomes)
        failed = [outcome for outcome in outcomes if not outcome.priced]
        if not job.dry_run:
            RecalculationLine.objects.bulk_create(
                [_line(job, outcome, failed=False) for outcome in changed]
                + [_line(job, outcome, failed=True) for outcome in failed], batch_size=1000)
        if fail_batch is not None:
            fail_batch(index)
    counts.update(done=len(outcomes), recalculated=len(changed), failed=len(failed),
                  cost_changed=sum(outcome.cost_changed for outcome in changed),
                  unchanged=len(outcomes) - len(changed) - len(failed))
    _merge(tally, batch_tally)
    return counts


def _merge(tally: ImpactTally, batch: ImpactTally) -> None:
    for name in ("resources", "accounts", "cost_changed", "cost_increased", "cost_decreased",
                 "cannot_price", "unfunded_before", "unfunded_after", "newly_unfunded",
                 "newly_unfunded_credit", "newly_unfunded_hold", "newly_unfunded_accounts",
                 "newly_funded", "burn_before_per_hour", "burn_after_per_hour",
                 "charged_before_per_hour", "charged_after_per_hour"):
        setattr(tally, name, getattr(tally, name) + getattr(batch, name))
    for name in ("cannot_price_examples", "newly_unfunded_examples"):
        examples = getattr(tally, name)
        examples.extend(getattr(batch, name)[:max(0, EXAMPLES - len(examples))])


def _failed_batch_size(account_ids: list[int]) -> int:
    return Resource.objects.filter(owner_id__in=account_ids, status__in=LIVE_STATUSES).count()


def _progress(job: Recalculation, counts: dict, tally: ImpactTally, errors: list[str],
              **extra) -> None:
    job.summary = tally.as_summary()
    job.burn_before_per_hour = tally.burn_before_per_hour
    job.burn_after_per_hour = tally.burn_after_per_hour
    job.error_messages = "\n".join(errors)
    job.heartbeat_at = timezone.now()
    for name, value in {**counts, **extra}.items():
        setattr(job, name, value)
    Recalculation.objects.filter(pk=job.pk).update(
        summary=job.summary, burn_before_per_hour=job.burn_before_per_hour,
        burn_after_per_hour=job.burn_after_per_hour, error_messages=job.error_messages,
        heartbeat_at=job.heartbeat_at, **counts, **extra)


def recalculation_run(*, recalculation_id: int, batch_accounts: int = BATCH_ACCOUNTS,
                      fail_batch=None) -> Recalculation | None:
    """Run a queued job to its end (the Celery task calls this). A job that is not queued any
    more (a duplicate delivery, a finished job) is returned as it is.

    `fail_batch(index)` is a test hook that may raise inside a batch, after its writes, to
    show that the batch is rolled back whole and the others are not.
    """
    claimed = Recalculation.objects.filter(pk=recalculation_id,
                                           status=RecalculationStatus.QUEUED).update(
        status=RecalculationStatus.RUNNING, started_at=timezone.now(),
        heartbeat_at=timezone.now())
    job = Recalculation.objects.select_related("version").filter(pk=recalculation_id).first()
    if not claimed or job is None:  # a duplicate delivery, or a draft deleted with its job
        return job
    version = job.version
    table = pricing_table_from_version(version)
    horizon_hours = funding_horizon_hours()
    tally = ImpactTally(horizon_hours=horizon_hours)
    counts = {"done": 0, "recalculated": 0, "cost_changed": 0, "unchanged": 0, "failed": 0}
    errors: list[str] = []
    for index, account_ids in enumerate(live_owner_batches(batch_accounts=batch_accounts)):
        try:
            batch = _run_batch(job=job, version=version, table=table, account_ids=account_ids,
                               tally=tally, horizon_seconds=horizon_hours * HOUR_SECONDS,
                               index=index, fail_batch=fail_batch)
        except Exception as exc:  # the batch is rolled back whole; the next one goes on
            logger.exception("recalculation %s: batch %s failed", job.pk, index)
            size = _failed_batch_size(account_ids)
            batch = {"done": size, "failed": size}
            if len(errors) < MAX_ERROR_MESSAGES:
                errors.append(f"batch {index} (accounts {account_ids[0]}–{account_ids[-1]}, "
                              f"{size} resources): {type(exc).__name__}: {exc}"[:500])
        for name, value in batch.items():
            counts[name] += value
        _progress(job, counts, tally, errors, total=max(job.total, counts["done"]))
    failed = counts["failed"] > 0 or bool(errors)
    _progress(job, counts, tally, errors, total=counts["done"],
              status=RecalculationStatus.FAILED if failed else RecalculationStatus.SUCCEEDED,
              finished_at=timezone.now())
    return job
