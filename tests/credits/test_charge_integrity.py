"""Charges keep no database foreign keys (the hourly run writes a million of them): triggers keep
them append-only and their resources undeletable, and `check_ledger` verifies every link."""
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from credits.funding import hour_of_charge
from credits.models import Charge, Resource, ResourceMeter
from credits.selectors.ledger import ledger_drifts
from credits.selectors.resources import resources_charged_hours
from tests.credits.conftest import ADDRESS, T0
from tests.credits.test_lifecycle import (
    E1_PER_DAY,
    E1_PER_HOUR,
    HOUR,
    grant,
    register,
    run,
)


@pytest.fixture
def charged(settings, default_version):
    """A resource charged for three hours by one run."""
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    grant(ADDRESS, 10 * E1_PER_DAY, T0)
    vm = register(T0)
    run(T0 + 3 * HOUR)
    assert Charge.objects.filter(resource=vm).count() == 3
    assert resources_charged_hours([vm.pk]) == {vm.pk: 3}
    assert not ResourceMeter.objects.exists()  # the account's watermark says it
    assert ledger_drifts(at=T0 + 3 * HOUR) == []
    return vm


@pytest.mark.parametrize("statement", [
    "UPDATE credits_charge SET amount_drained = 0",
    "DELETE FROM credits_charge",
])
def test_charges_are_append_only(charged, statement):
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute(statement)
    assert sorted(Charge.objects.values_list("amount_drained", flat=True)) == [E1_PER_HOUR] * 3


def test_a_resource_with_charges_cannot_be_deleted_even_in_sql(charged):
    with pytest.raises(IntegrityError, match="is named by credits_charge.resource_id"), \
            transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM credits_resource WHERE id = %s", [charged.pk])
    assert Resource.objects.filter(pk=charged.pk).exists()


def test_the_orm_protects_a_charged_resource(charged):
    with pytest.raises(ProtectedError), transaction.atomic():
        Resource.objects.filter(pk=charged.pk).delete()


def test_a_resource_without_charges_can_still_be_deleted(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    grant(ADDRESS, 10 * E1_PER_DAY, T0)
    vm = register(T0)
    Resource.objects.filter(pk=vm.pk).delete()
    assert not Resource.objects.filter(pk=vm.pk).exists()


def _insert_charge(**values):
    # Raw SQL: what a bug or a hand-made fix could write, past the models.
    columns = ", ".join(values)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO credits_charge ({columns}) VALUES "
                       f"({', '.join(['%s'] * len(values))})", list(values.values()))


def test_check_ledger_finds_a_charge_whose_links_are_broken(charged):
    good = Charge.objects.filter(resource=charged).order_by("hour_index").first()
    _insert_charge(hour=good.hour, account_id=good.account_id, resource_id=charged.pk + 1000,
                   hour_index=0, amount_requested=0, amount_drained=0, entry_id=good.entry_id,
                   run_id=None, pricing_version_id=good.pricing_version_id)

    drifts = ledger_drifts(at=T0 + 3 * HOUR)

    assert [drift.what for drift in drifts] == [
        f"charge of resource {charged.pk + 1000} hour 0: its resource does not exist"]
    with pytest.raises(CommandError, match="1 ledger drift"):
        call_command("check_ledger", at=(T0 + 3 * HOUR).isoformat())


def test_check_ledger_finds_a_charge_of_another_account_than_its_resources_owner(
        charged, other_account):
    # The key (hour, account, resource) is unique per resource-hour only while every charge
    # names its resource's owner: a charge that does not is a drift.
    other = other_account
    good = Charge.objects.filter(resource=charged).order_by("hour_index").first()
    _insert_charge(hour=good.hour, account_id=other.pk, resource_id=charged.pk,
                   hour_index=good.hour_index, amount_requested=0, amount_drained=0,
                   entry_id=good.entry_id, run_id=None,
                   pricing_version_id=good.pricing_version_id)

    drifts = ledger_drifts(at=T0 + 3 * HOUR)

    assert [drift.what for drift in drifts] == [
        f"charge of resource {charged.pk} hour {good.hour_index} of account {other.pk}: the "
        f"resource is account {charged.owner_id}'s, its entry {good.entry_id} is account "
        f"{charged.owner_id}'s"]


def test_a_resource_cannot_change_owner_even_in_sql(charged, other_account):
    other = other_account
    with pytest.raises(IntegrityError, match="cannot change owner"), transaction.atomic(), \
            connection.cursor() as cursor:
        cursor.execute("UPDATE credits_resource SET owner_id = %s WHERE id = %s",
                       [other.pk, charged.pk])
    charged.refresh_from_db()
    assert charged.owner_id != other.pk
    # the ORM's save writes the owner again, unchanged: allowed
    charged.save()


def test_a_charge_of_a_resource_hour_is_refused_twice(charged):
    good = Charge.objects.filter(resource=charged).order_by("hour_index").first()
    with pytest.raises(IntegrityError, match="credits_charge.*pkey"), transaction.atomic():
        _insert_charge(hour=good.hour, account_id=good.account_id, resource_id=charged.pk,
                       hour_index=good.hour_index, amount_requested=0, amount_drained=0,
                       entry_id=good.entry_id, run_id=None,
                       pricing_version_id=good.pricing_version_id)


def test_check_ledger_finds_charges_that_do_not_add_up_to_their_entry(charged):
    good = Charge.objects.filter(resource=charged).order_by("hour_index").first()
    _insert_charge(hour=hour_of_charge(charged.created_at, 99), account_id=charged.owner_id,
                   resource_id=charged.pk, hour_index=99, amount_requested=E1_PER_HOUR,
                   amount_drained=E1_PER_HOUR, entry_id=good.entry_id, run_id=good.run_id,
                   pricing_version_id=good.pricing_version_id)

    (drift,) = ledger_drifts(at=T0 + 3 * HOUR)

    assert drift.what.startswith(f"metering entry {good.entry_id}: its charges")
    assert drift.expected == (3 * E1_PER_HOUR, 3 * E1_PER_HOUR)
    assert drift.found == (4 * E1_PER_HOUR, 4 * E1_PER_HOUR)


def test_metering_continues_from_the_watermark(charged):
    # the account's watermark is the only memory of what was charged: a run two hours later
    # charges two more
    run(T0 + 5 * HOUR + timedelta(minutes=1))
    assert resources_charged_hours([charged.pk]) == {charged.pk: 5}
    assert sorted(Charge.objects.filter(resource=charged).values_list("hour_index", flat=True)) \
        == [0, 1, 2, 3, 4]
