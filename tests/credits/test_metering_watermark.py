"""Issue 14: how far a resource is charged is its account's watermark (`metered_until`), with a
`ResourceMeter` row only where the watermark does not say it; charges live in monthly
partitions of their clock hour."""
from datetime import timedelta

from django.db import connection

from credits.funding import hour_of_charge
from credits.models import Account, Charge, ResourceMeter
from credits.partitions import charge_partitions, month_start, partition_name
from credits.selectors.ledger import ledger_drifts
from credits.selectors.resources import resources_charged_hours
from credits.services.resources import resource_forget
from tests.credits.conftest import ADDRESS, T0
from tests.credits.test_lifecycle import (  # noqa: F401 (the autouse fixture)
    E1_PER_DAY,
    HOUR,
    _time_travel_allowed,
    grant,
    register,
    run,
)


def test_a_run_moves_the_watermark_and_writes_no_meter_row():
    grant(ADDRESS, 10 * E1_PER_DAY, T0)
    vm = register(T0)
    run(T0 + 2 * HOUR + timedelta(minutes=5))
    assert Account.objects.get(address=ADDRESS).metered_until == T0 + 2 * HOUR + \
        timedelta(minutes=5)
    assert not ResourceMeter.objects.exists()
    assert resources_charged_hours([vm.pk]) == {vm.pk: 2}


def test_a_resource_registered_before_the_watermark_is_charged_from_its_first_hour():
    grant(ADDRESS, 10 * E1_PER_DAY, T0)
    register(T0 + 3 * HOUR)
    run(T0 + 5 * HOUR)  # the account is metered up to T0 + 5 h
    late = register(T0)  # registered as of an earlier instant
    assert ResourceMeter.objects.get(resource=late).charged_hours == 0
    assert resources_charged_hours([late.pk]) == {late.pk: 0}

    run(T0 + 6 * HOUR)

    assert sorted(Charge.objects.filter(resource=late).values_list("hour_index", flat=True)) \
        == [0, 1, 2, 3, 4, 5]
    assert not ResourceMeter.objects.filter(resource=late).exists()  # the watermark says it
    assert ledger_drifts(at=T0 + 6 * HOUR) == []


def test_a_forgotten_resource_keeps_its_charged_hours_while_the_watermark_moves_on():
    grant(ADDRESS, 10 * E1_PER_DAY, T0)
    vm = register(T0)
    kept = register(T0)
    run(T0 + 2 * HOUR)
    resource_forget(item_hash=vm.item_hash, actor="test", at=T0 + 2 * HOUR)
    run(T0 + 7 * HOUR)
    assert resources_charged_hours([vm.pk, kept.pk]) == {vm.pk: 2, kept.pk: 7}
    assert ResourceMeter.objects.get(resource=vm).charged_hours == 2


def test_charges_go_to_the_partition_of_their_clock_hour():
    grant(ADDRESS, 10 * E1_PER_DAY, T0)
    vm = register(T0 + timedelta(minutes=30))
    run(T0 + 3 * HOUR)
    assert month_start(T0) in charge_partitions()
    hours = list(Charge.objects.filter(resource=vm).order_by("hour_index")
                 .values_list("hour_index", "hour"))
    assert hours == [(k, hour_of_charge(vm.created_at, k)) for k in (0, 1)]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {partition_name(month_start(T0))} "
                       f"WHERE resource_id = %s", [vm.pk])
        assert cursor.fetchone()[0] == 2
