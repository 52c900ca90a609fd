"""Retention of the hourly charges (issue 14): old months are rolled up into `ResourceUsage` and
a `ChargeRollup` row, their partitions detached and dropped (or kept for archive), and an owner
still sees each resource's usage per month. The charges come from real lifecycle runs; the clock
is moved with time-machine."""
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Sum

from credits.management.commands import retire_charges as command_module
from credits.models import (
    METERING_REASON,
    ChargeRollup,
    EntryKind,
    LedgerEntry,
    ResourceUsage,
)
from credits.partitions import (
    CHARGE_TABLE,
    DEFAULT_PARTITION,
    RetentionRefused,
    archive_name,
    charge_partitions,
    charges_retire,
    charges_retired_until,
    partition_name,
)
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, T0
from tests.credits.test_lifecycle import (  # noqa: F401 (the autouse fixture)
    E1_PER_DAY,
    HOUR,
    _time_travel_allowed,
    grant,
    register,
    run,
)

DAY = timedelta(days=1)
# "Now" for the retention: runs still write April and May, so the latest cutoff is April.
NOW = datetime(2030, 5, 10, 12, tzinfo=UTC)
JANUARY, FEBRUARY, MARCH, APRIL, MAY = (date(2030, month, 1) for month in range(1, 6))


def instant(month: date, hours: float = 0) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC) + timedelta(hours=hours)


# --- what the database holds -------------------------------------------------------------------

def charges_by_resource_month() -> dict[tuple[int, date], tuple[int, int, int]]:
    """(resource, month) → (hours, requested, drained), summed from the charges by SQL."""
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT resource_id, (date_trunc('month', hour AT TIME ZONE 'UTC'))::date, count(*),
                   sum(amount_requested), sum(amount_drained)
            FROM {CHARGE_TABLE} GROUP BY 1, 2""")
        return {(resource, month): (hours, int(requested), int(drained))
                for resource, month, hours, requested, drained in cursor.fetchall()}


def usage_by_resource_month() -> dict[tuple[int, date], tuple[int, int, int]]:
    return {(usage.resource_id, usage.month): (usage.hours, usage.amount_requested,
                                               usage.amount_drained)
            for usage in ResourceUsage.objects.all()}


def tables_like(pattern: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') "
                       "AND relname LIKE %s", [pattern])
        return {row[0] for row in cursor.fetchall()}


def state() -> dict:
    """Everything a retirement changes."""
    return {"charges": charges_by_resource_month(), "usage": usage_by_resource_month(),
            "rollups": list(ChargeRollup.objects.values()),
            "partitions": charge_partitions(), "tables": tables_like(f"{CHARGE_TABLE}%")}


# --- histories ---------------------------------------------------------------------------------

@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def history(now):
    """Three VMs of two accounts metered from January to April 2 by runs a few hours after
    each month's start (so each month's last hours are charged by the next month's run). The
    other account's VM runs short in February (drained less than requested) and is removed."""
    grant(ADDRESS, 500 * E1_PER_DAY, T0)
    grant(OTHER_ADDRESS, 3 * E1_PER_DAY, T0)
    vms = [register(T0), register(T0 + 10 * DAY + timedelta(minutes=30)),
           register(T0 + 20 * DAY, address=OTHER_ADDRESS)]
    for at in (T0 + 5 * HOUR, instant(FEBRUARY, 3), instant(MARCH, 2), instant(APRIL, 1.5),
               instant(APRIL, 24)):
        run(at)
    return vms


def month_totals(charges: dict, month: date) -> tuple[int, int, int, int]:
    """(charges, resources, requested, drained) of one month of `charges_by_resource_month`."""
    rows = [value for (_, row_month), value in charges.items() if row_month == month]
    return (sum(row[0] for row in rows), len(rows), sum(row[1] for row in rows),
            sum(row[2] for row in rows))


# --- retiring ----------------------------------------------------------------------------------

def test_retired_months_are_rolled_up_per_resource_and_their_partitions_dropped(history):
    # given
    before = state()
    retired_months = [month for month in before["partitions"] if month < MARCH]
    assert {JANUARY, FEBRUARY} <= set(retired_months)
    assert month_totals(before["charges"], JANUARY)[0] > 0
    assert month_totals(before["charges"], FEBRUARY)[1] == 3
    requested, drained = month_totals(before["charges"], FEBRUARY)[2:]
    assert drained < requested  # a shortfall: the sums are told apart

    # when
    results = charges_retire(before=MARCH)

    # then
    assert [result.month for result in results] == retired_months
    assert usage_by_resource_month() == {key: value for key, value in before["charges"].items()
                                         if key[1] < MARCH}
    assert charges_by_resource_month() == {key: value for key, value
                                           in before["charges"].items() if key[1] >= MARCH}
    assert charge_partitions() == [month for month in before["partitions"] if month >= MARCH]
    assert not tables_like(f"{CHARGE_TABLE}%") & {partition_name(JANUARY),
                                                   partition_name(FEBRUARY)}
    assert not tables_like(f"{CHARGE_TABLE}_archive_%")
    for result in results:
        totals = month_totals(before["charges"], result.month)
        assert (result.charges, result.resources, result.amount_requested,
                result.amount_drained) == totals
        rollup = ChargeRollup.objects.get(month=result.month)
        assert (rollup.charges, rollup.resources, rollup.amount_requested,
                rollup.amount_drained, rollup.kept_table) == (*totals, "")
        assert rollup.retired_at == NOW


def test_keep_table_detaches_the_partition_under_its_archive_name(history):
    before = state()

    charges_retire(before=MARCH, keep_table=True)

    assert charge_partitions() == [month for month in before["partitions"] if month >= MARCH]
    for month in (JANUARY, FEBRUARY):
        assert ChargeRollup.objects.get(month=month).kept_table == archive_name(month)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*), sum(amount_drained) FROM {archive_name(month)}")
            count, drained = cursor.fetchone()
            cursor.execute("SELECT count(*) FROM pg_inherits WHERE inhrelid = %s::regclass",
                           [archive_name(month)])
            assert cursor.fetchone()[0] == 0  # no longer a partition
            cursor.execute("SELECT count(*) FROM pg_indexes WHERE indexname LIKE %s",
                           [f"{partition_name(month)}%"])
            assert cursor.fetchone()[0] == 0  # its index renamed with it
        totals = month_totals(before["charges"], month)
        assert (count, drained) == (totals[0], totals[3]) and count > 0


def test_charges_retired_until_is_none_then_after_the_last_entry_of_the_retired_charges(
        history):
    assert charges_retired_until() is None

    charges_retire(before=MARCH)

    # February's last hours were charged by the run of March 1 02:00
    latest_entry = (LedgerEntry.objects.filter(effective_at__lt=instant(MARCH, 2.5),
                                               reason=METERING_REASON)
                    .order_by("-effective_at").first())
    assert latest_entry.effective_at == instant(MARCH, 2)
    until = charges_retired_until()
    assert until == instant(MARCH, 2) + timedelta(microseconds=1)
    assert until.tzinfo is not None
    # every metering entry from then on still has all its charges; one before it lost some
    metering = (LedgerEntry.objects.filter(kind=EntryKind.EXPENSE, reason=METERING_REASON)
                .annotate(drained=Sum("charges__amount_drained")))
    assert metering.filter(effective_at__gte=until).exists()
    assert all(entry.drained == -entry.amount
               for entry in metering.filter(effective_at__gte=until))
    assert any(entry.drained != -entry.amount
               for entry in metering.filter(effective_at__lt=until))


def test_a_dry_run_reports_what_would_be_retired_and_changes_nothing(history):
    before = state()

    dry = charges_retire(before=MARCH, dry_run=True)

    assert state() == before
    assert charges_retired_until() is None
    real = charges_retire(before=MARCH)
    assert [(r.month, r.charges, r.resources, r.amount_requested, r.amount_drained)
            for r in dry] == [(r.month, r.charges, r.resources, r.amount_requested,
                               r.amount_drained) for r in real]
    assert all(r.dry_run for r in dry) and not any(r.dry_run for r in real)


def test_retiring_twice_doubles_nothing(history):
    charges_retire(before=FEBRUARY)
    charges_retire(before=MARCH)
    after = state()

    again = charges_retire(before=MARCH)

    assert again == []
    assert state() == after
    assert ChargeRollup.objects.filter(month=JANUARY).count() == 1


def test_a_cutoff_later_than_the_previous_month_is_refused_and_changes_nothing(history):
    before = state()

    with pytest.raises(RetentionRefused, match="too recent.*latest cutoff now is 2030-04"):
        charges_retire(before=MAY)
    with pytest.raises(RetentionRefused, match="first day of a month"):
        charges_retire(before=date(2030, 3, 15))

    assert state() == before
    assert charges_retire(before=APRIL, dry_run=True)[-1].month == MARCH  # the latest allowed


def test_hours_in_the_default_partition_before_the_cutoff_are_refused(now):
    # given: a VM registered as of November 2029, metered by a run in January that makes
    # partitions from December only, so its November hours are in the default partition
    grant(ADDRESS, 500 * E1_PER_DAY, datetime(2029, 11, 1, tzinfo=UTC))
    register(datetime(2029, 11, 15, tzinfo=UTC))
    run(T0 + 5 * HOUR)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {DEFAULT_PARTITION}")
        assert cursor.fetchone()[0] > 0
    before = state()

    with pytest.raises(RetentionRefused, match="default partition .* hours before 2030-02"):
        charges_retire(before=FEBRUARY)

    assert state() == before


def test_a_month_charged_by_an_entry_a_month_after_the_cutoff_is_refused(now):
    # given: no run from January 1 to March 1, so January's hours are charged on March 1
    grant(ADDRESS, 500 * E1_PER_DAY, T0)
    register(T0)
    run(T0 + 5 * HOUR)
    run(instant(MARCH, 2))
    before = state()

    with pytest.raises(RetentionRefused, match="2030-01: ledger entry .* straddles the cutoff"):
        charges_retire(before=FEBRUARY)

    assert state() == before
    # a cutoff a month later takes it
    assert JANUARY in [result.month for result in charges_retire(before=MARCH)]
    assert charges_retired_until() == instant(MARCH, 2) + timedelta(microseconds=1)


# --- the owner's view --------------------------------------------------------------------------

def usage_of(client, resource):
    response = client.get(f"/api/v1/resources/{resource.item_hash}/usage")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_usage_endpoint_shows_the_same_months_before_and_after_retiring(history,
                                                                               api_client):
    charges = charges_by_resource_month()
    before = {vm.pk: usage_of(api_client, vm) for vm in history}

    charges_retire(before=MARCH)

    for vm in history:
        answer = usage_of(api_client, vm)
        assert answer["item_hash"] == vm.item_hash
        expected = [{"month": f"{month:%Y-%m}", "hours": hours,
                     "amount_requested": str(requested), "amount_drained": str(drained)}
                    for (resource, month), (hours, requested, drained) in sorted(charges.items())
                    if resource == vm.pk]
        assert [{k: v for k, v in month.items() if k != "retired"}
                for month in answer["months"]] == expected
        assert [month["retired"] for month in answer["months"]] == \
            [month["month"] < "2030-03" for month in answer["months"]]
        assert not any(month["retired"] for month in before[vm.pk]["months"])
        assert [{k: v for k, v in month.items() if k != "retired"}
                for month in before[vm.pk]["months"]] == expected


def test_the_usage_endpoint_answers_as_the_resource_detail_does(client_as, history, settings):
    vm, _, others = history
    assert client_as(None).get("/api/v1/resources/ffff/usage").status_code == 404

    settings.CREDITS_PUBLIC_ACCOUNT_READS = False

    for path in (f"/api/v1/resources/{vm.item_hash}", f"/api/v1/resources/{vm.item_hash}/usage"):
        assert client_as(None).get(path).status_code == 401
        assert client_as("other_owner").get(path).status_code == 403
        assert client_as("owner").get(path).status_code == 200
        assert client_as("operator").get(path).status_code == 200
        assert client_as("service").get(path).status_code == 200
    assert client_as("owner").get(f"/api/v1/resources/{others.item_hash}/usage") \
        .status_code == 403
    assert client_as("owner").get("/api/v1/resources/ffff/usage").status_code == 404


# --- the command -------------------------------------------------------------------------------

def retire_command(*args) -> str:
    out = StringIO()
    call_command("retire_charges", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_command_prints_each_month_and_the_total(history):
    charges = charges_by_resource_month()
    months = [month for month in charge_partitions() if month < MARCH]

    output = retire_command("--before", "2030-03")

    lines = output.splitlines()
    assert len(lines) == len(months) + 1
    for line, month in zip(lines, months):
        count, resources, requested, drained = month_totals(charges, month)
        assert line == (f"{month:%Y-%m}: retired {count} charges of {resources} resources, "
                        f"{requested} credits requested, {drained} drained (partition dropped)")
    total = sum(month_totals(charges, month)[0] for month in months)
    assert lines[-1].startswith(f"Total: retired {len(months)} month(s) before 2030-03: "
                                f"{total} charges, ")
    assert set(usage_by_resource_month()) == {key for key in charges if key[1] < MARCH}


def test_the_command_keeps_the_configured_months_and_dry_runs(history, settings):
    settings.CREDITS_CHARGE_RETENTION_MONTHS = 2  # May, April and March kept
    before = state()

    output = retire_command("--dry-run")

    assert "\n2030-02: would retire" in output and "\n2030-03:" not in output
    assert "before 2030-03:" in output
    assert state() == before
    assert retire_command("--keep-months", "3", "--keep-table").count("kept as") == \
        len([month for month in before["partitions"] if month < FEBRUARY])
    assert ChargeRollup.objects.filter(kept_table=archive_name(JANUARY)).exists()
    assert not ChargeRollup.objects.filter(month=FEBRUARY).exists()


def test_the_command_refuses_bad_arguments(now):
    with pytest.raises(CommandError, match="not a month YYYY-MM"):
        retire_command("--before", "2030-13")
    with pytest.raises(CommandError, match="at least 1"):
        retire_command("--keep-months", "0")
    with pytest.raises(CommandError, match="Refused: .*too recent"):
        retire_command("--before", "2030-05")


def test_a_refusal_exits_non_zero_from_the_shell(history, capsys):
    with pytest.raises(SystemExit) as exited:
        command_module.Command().run_from_argv(
            ["manage.py", "retire_charges", "--before", "2030-05"])

    assert exited.value.code == 1
    assert "too recent" in capsys.readouterr().err


def test_the_ledger_check_skips_the_entries_whose_charges_were_retired_only(history):
    """Both modes of the check: clean after retiring, and still strict about a metering entry
    effective after `charges_retired_until`."""
    from credits.models import Charge, LedgerCheckMode
    from credits.selectors.ledger import ledger_drifts
    from credits.services.ledger_check import ledger_check

    assert ledger_drifts(at=NOW) == []
    ledger_check(mode=LedgerCheckMode.FULL, at=NOW)
    charges_retire(before=MARCH)

    assert ledger_drifts(at=NOW) == []
    assert ledger_check(mode=LedgerCheckMode.INCREMENTAL, at=NOW)[1] == []
    kept = (LedgerEntry.objects.filter(reason=METERING_REASON,
                                       effective_at__gte=charges_retired_until())
            .order_by("pk").first())
    charge = Charge.objects.filter(entry=kept).first()
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {CHARGE_TABLE} DISABLE TRIGGER credits_charge_append_only")
        cursor.execute(f"DELETE FROM {CHARGE_TABLE} WHERE hour = %s AND resource_id = %s",
                       [charge.hour, charge.resource_id])
        cursor.execute(f"ALTER TABLE {CHARGE_TABLE} ENABLE TRIGGER credits_charge_append_only")
    assert [drift.what.split(":")[0] for drift in ledger_drifts(at=NOW)] == [
        f"metering entry {kept.pk}"]
