"""A flag or a restore writes no index entry (a heap-only update: no index of the resource table
holds its status or deadline), and the deadlines of the resources pending deletion, which the
pending-deletion lists and the run's finalise step read, are kept in `ResourceGrace` by triggers
whatever writes the resource."""
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction

from credits.models import Account, Resource, ResourceGrace, ResourceStatus
from tests.credits.conftest import ADDRESS, T0
from tests.credits.test_lifecycle import E1_PER_DAY, HOUR, grant, register, run, status_of


@pytest.fixture(autouse=True)
def _time_travel_allowed(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True


def _resource_updates() -> tuple[int, int]:
    """The committed row updates of the resource table so far: (heap-only, all). The session's
    counts are flushed to the shared statistics once this statement's transaction ends (forced:
    not at most once a second), then read afresh."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT n_tup_hot_upd, n_tup_upd FROM pg_stat_user_tables "
                       "WHERE relname = %s", [Resource._meta.db_table])
        return cursor.fetchone()


def _grace() -> dict[int, object]:
    return dict(ResourceGrace.objects.values_list("resource_id", "delete_after"))


# Each run commits, as in service: a restore finds room in the page once the flag's old row
# version is dead to every transaction and pruned. Inside one test transaction the old version
# still holds its place, and the second update fits only if the page had room for two versions
# more. serialized_rollback: a plain flush would re-create content types that the next
# serialized_rollback test restores again, and collide.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_flag_and_a_restore_are_heap_only_updates():
    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)
    hot_before, all_before = _resource_updates()

    run(T0 + HOUR)  # one hour charged: less than a day left, flagged
    flagged = status_of(vm)
    grant(ADDRESS, 10 * E1_PER_DAY, T0 + 2 * HOUR)
    run(T0 + 2 * HOUR)  # funded again before the deadline: restored

    hot_after, all_after = _resource_updates()
    assert (flagged, status_of(vm)) == (ResourceStatus.REMOVING, ResourceStatus.PROCESSED)
    assert all_after - all_before == 2
    assert hot_after - hot_before == 2


def test_the_run_keeps_the_deadline_of_a_flagged_resource_and_drops_it_at_removal(db):
    grant(ADDRESS, E1_PER_DAY, T0)
    vm = register(T0)

    run(T0 + HOUR)
    assert _grace() == {vm.pk: T0 + HOUR + timedelta(hours=24)}

    run(T0 + HOUR + timedelta(hours=24))
    assert status_of(vm) == ResourceStatus.REMOVED
    assert _grace() == {}


def test_the_grace_row_follows_the_resource_whatever_writes_it(ledger_resource_factory):
    owner = Account.objects.create(address=ADDRESS)
    deadline = T0 + 24 * HOUR
    pending = ledger_resource_factory(owner, status=ResourceStatus.REMOVING,
                                      removing_since=T0, delete_after=deadline,
                                      removal_reason="credit_insufficient")
    ledger_resource_factory(owner)  # processed: no row
    assert _grace() == {pending.pk: deadline}

    Resource.objects.filter(pk=pending.pk).update(delete_after=deadline + HOUR)
    assert _grace() == {pending.pk: deadline + HOUR}

    Resource.objects.filter(pk=pending.pk).update(
        status=ResourceStatus.PROCESSED, removing_since=None, delete_after=None,
        removal_reason="")
    assert _grace() == {}

    Resource.objects.filter(pk=pending.pk).update(
        status=ResourceStatus.REMOVING, removing_since=T0, delete_after=deadline,
        removal_reason="credit_insufficient")
    assert _grace() == {pending.pk: deadline}
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Resource._meta.db_table} WHERE id = %s", [pending.pk])
    assert _grace() == {}


@pytest.mark.parametrize("status", [ResourceStatus.REMOVED, ResourceStatus.FORGOTTEN])
def test_an_ended_status_without_its_end_is_refused(ledger_resource_factory, status):
    owner = Account.objects.create(address=ADDRESS)
    resource = ledger_resource_factory(owner)

    with pytest.raises(IntegrityError, match="resource_live_until_ended"), transaction.atomic():
        Resource.objects.filter(pk=resource.pk).update(status=status)
    with pytest.raises(IntegrityError, match="resource_live_until_ended"), transaction.atomic():
        Resource.objects.filter(pk=resource.pk).update(ended_at=T0)


def _grace_row_version(resource_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ctid::text FROM {ResourceGrace._meta.db_table} "
                       "WHERE resource_id = %s", [resource_id])
        return cursor.fetchone()[0]


def test_one_statement_moving_resources_every_way_keeps_every_grace_row(ledger_resource_factory):
    """The triggers run once per statement over all its rows: a flag, a restore, a moved
    deadline and an untouched deadline in one UPDATE; several rows inserted or deleted at once."""
    owner = Account.objects.create(address=ADDRESS)
    deadline = T0 + 24 * HOUR
    pending = {"status": ResourceStatus.REMOVING, "removing_since": T0,
               "delete_after": deadline, "removal_reason": "credit_insufficient"}
    flagged = ledger_resource_factory(owner)
    restored, moved, kept = (ledger_resource_factory(owner, **pending) for _ in range(3))
    kept_version = _grace_row_version(kept.pk)
    with connection.cursor() as cursor:
        cursor.execute(f"""
            UPDATE {Resource._meta.db_table} SET
                status = CASE id WHEN %(restored)s THEN %(processed)s ELSE %(removing)s END,
                delete_after = CASE id WHEN %(restored)s THEN NULL
                                       WHEN %(moved)s THEN %(later)s
                                       WHEN %(flagged)s THEN %(later)s ELSE delete_after END,
                removing_since = CASE id WHEN %(restored)s THEN NULL ELSE %(t0)s END,
                removal_reason = CASE id WHEN %(restored)s THEN ''
                                         ELSE 'credit_insufficient' END
            WHERE id IN (%(flagged)s, %(restored)s, %(moved)s, %(kept)s)""",
                       {"flagged": flagged.pk, "restored": restored.pk, "moved": moved.pk,
                        "kept": kept.pk, "later": deadline + HOUR, "t0": T0,
                        "processed": ResourceStatus.PROCESSED,
                        "removing": ResourceStatus.REMOVING})
    assert _grace() == {flagged.pk: deadline + HOUR, moved.pk: deadline + HOUR,
                        kept.pk: deadline}
    # An unchanged deadline is not written again (a new row version has a new place).
    assert _grace_row_version(kept.pk) == kept_version

    fields = {field.attname: getattr(flagged, field.attname)  # as it was: processed
              for field in Resource._meta.concrete_fields if not field.primary_key}
    Resource.objects.bulk_create([Resource(**{**fields, "item_hash": "f" * 64, **pending}),
                                  Resource(**{**fields, "item_hash": "e" * 64})])
    added = Resource.objects.get(item_hash="f" * 64)
    assert _grace() == {flagged.pk: deadline + HOUR, moved.pk: deadline + HOUR,
                        kept.pk: deadline, added.pk: deadline}
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Resource._meta.db_table} WHERE id = ANY(%s)",
                       [[flagged.pk, added.pk, restored.pk]])
    assert _grace() == {moved.pk: deadline + HOUR, kept.pk: deadline}
