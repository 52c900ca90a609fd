"""The links the hourly run writes by the hundred thousand (ledger entries, lot drains, status
changes) carry no database foreign key: triggers check each statement's new rows at once and
refuse to delete a row that is named (migration 0019). What a foreign key refused, they refuse."""
import pytest
from django.db import IntegrityError, connection, transaction

from credits.models import (
    Account,
    LedgerEntry,
    LifecycleRun,
    Lot,
    LotDrain,
    Resource,
    ResourceStatusChange,
)
from tests.credits.conftest import ADDRESS, T0
from tests.credits.test_charge_integrity import charged  # noqa: F401 (a fixture)
from tests.credits.test_lifecycle import HOUR

MISSING = 987_654_321


@pytest.fixture
def linked(charged):  # noqa: F811
    """The charged resource, with a status change naming the run that charged it."""
    ResourceStatusChange.objects.create(resource=charged, from_status="processed",
                                        to_status="processed", actor="test",
                                        run=LifecycleRun.objects.get())
    return charged


def _sql(statement: str, params=()) -> None:
    # Raw SQL: what a bug or a hand-made fix could write, past the models.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def _copy_of(model, row, **changes) -> str:
    """An INSERT of a copy of `row` (a model's table row) with `changes`, and its values."""
    table = model._meta.db_table
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    values = {column: getattr(row, column) for column in columns} | changes
    return (f"INSERT INTO {table} ({', '.join(values)}) "
            f"VALUES ({', '.join(['%s'] * len(values))})", list(values.values()))


@pytest.mark.parametrize(("model", "column", "named"), [
    (LotDrain, "lot_id", "credits_lot"),
    (LotDrain, "entry_id", "credits_ledgerentry"),
    (LedgerEntry, "account_id", "credits_account"),
    (LedgerEntry, "counterparty_id", "credits_account"),
    (LedgerEntry, "resource_id", "credits_resource"),
    (ResourceStatusChange, "resource_id", "credits_resource"),
    (ResourceStatusChange, "run_id", "credits_lifecyclerun"),
])
def test_a_row_naming_no_row_is_refused(linked, model, column, named):
    row = model.objects.order_by("-id").first()
    changes = {column: MISSING}
    if model is LedgerEntry:
        changes["idempotency_key"] = "another"
    statement, params = _copy_of(model, row, **changes)
    before = model.objects.count()

    with pytest.raises(IntegrityError, match=f"{column} = {MISSING} names no row of {named}"):
        _sql(statement, params)

    assert model.objects.count() == before
    _sql(*_copy_of(model, row, **{**changes, column: getattr(row, column)}))  # a good link
    assert model.objects.count() == before + 1


def test_a_statement_is_checked_as_a_whole(charged):  # noqa: F811
    """One bad row among many good ones fails the statement: nothing of it is kept."""
    row = ResourceStatusChange.objects.order_by("id").first()
    before = ResourceStatusChange.objects.count()
    with pytest.raises(IntegrityError, match="names no row of credits_resource"):
        _sql("INSERT INTO credits_resourcestatuschange (resource_id, from_status, to_status, "
             "reason, actor, at) SELECT CASE WHEN g = 500 THEN %s ELSE %s END, '', 'processed', "
             "'', 'test', now() FROM generate_series(1, 1000) g", [MISSING, row.resource_id])
    assert ResourceStatusChange.objects.count() == before


def test_an_update_is_checked_too(linked):
    change = ResourceStatusChange.objects.get(run__isnull=False)
    with pytest.raises(IntegrityError, match="run_id = 987654321 names no row"):
        _sql("UPDATE credits_resourcestatuschange SET run_id = %s WHERE id = %s",
             [MISSING, change.pk])
    change.refresh_from_db()
    assert change.run_id is not None


@pytest.mark.parametrize(("table", "rows", "linked_by"), [
    ("credits_lot", lambda vm: Lot.objects.all(), "credits_lotdrain.lot_id"),
    ("credits_account", lambda vm: Account.objects.filter(address=ADDRESS),
     "credits_ledgerentry.account_id"),
    ("credits_resource", lambda vm: Resource.objects.filter(pk=vm.pk),
     "credits_charge.resource_id"),
    ("credits_lifecyclerun", lambda vm: LifecycleRun.objects.filter(
        status_changes__isnull=False), "credits_resourcestatuschange.run_id"),
])
def test_a_named_row_cannot_be_deleted_in_sql(linked, table, rows, linked_by):
    ids = list(rows(linked).values_list("id", flat=True).distinct())
    assert ids
    with pytest.raises(IntegrityError, match=f"is named by {linked_by}: it cannot be deleted"):
        _sql(f"DELETE FROM {table} WHERE id = ANY(%s)", [ids])
    assert rows(linked).count() >= len(ids)


def test_a_resource_s_status_changes_keep_it_in_sql_the_orm_cascades(settings, default_version):
    from tests.credits.test_lifecycle import grant, register

    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    grant(ADDRESS, 10 ** 9, T0)
    vm = register(T0)  # its registration is a status change; never charged
    assert ResourceStatusChange.objects.filter(resource=vm).exists()
    with pytest.raises(IntegrityError, match="credits_resourcestatuschange.resource_id"):
        _sql("DELETE FROM credits_resource WHERE id = %s", [vm.pk])

    Resource.objects.filter(pk=vm.pk).delete()  # on_delete=CASCADE: its changes go first

    assert not ResourceStatusChange.objects.filter(resource_id=vm.pk).exists()


def test_deleting_a_run_sets_its_status_changes_run_to_null(charged):  # noqa: F811
    run = LifecycleRun.objects.create(trigger="manual", as_of=T0 + 4 * HOUR,
                                      started_at=T0 + 4 * HOUR)
    change = ResourceStatusChange.objects.create(
        resource=charged, from_status="processed", to_status="processed", actor="test", run=run)

    run.delete()  # on_delete=SET_NULL, done by the ORM before the delete

    change.refresh_from_db()
    assert change.run_id is None
