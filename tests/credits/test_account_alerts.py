"""Account alerts written by the lifecycle run with the clock moved: `account.runway_low` once per
crossing of each threshold (re-armed by a top-up, in its transaction) and
`account.credits_expiring` once per lot; none for a change that was rolled back."""
from datetime import timedelta

import pytest
from django.db import transaction

from credits.events import EVENT_SCHEMA_VERSION
from credits.models import Account, Event, EventType, Lot
from credits.selectors.ledger import (
    account_balance,
    account_credit_cost_per_hour,
    account_runway_hours,
)
from credits.services.ledger import adjustment_create, expense_create, transfer_create
from pricing.costs import format_amount
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, T0
from tests.credits.test_lifecycle import E1_PER_HOUR, HOUR, grant, register, run

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
# E1 costs 3.958333333333333333 credits/s: an hour is a hair under 14250 credits, so whole
# multiples of 14250 give a runway of that many whole hours (floored to hundredths).
FIFTY_HOURS = 50 * E1_PER_HOUR


@pytest.fixture(autouse=True)
def _settings(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    settings.WEBHOOKS_KICK_ON_COMMIT = False
    settings.EVENTS_RUNWAY_LOW_HOURS = [48, 24]


def runway_events(address=ADDRESS) -> list[Event]:
    return list(Event.objects.filter(type=EventType.ACCOUNT_RUNWAY_LOW,
                                     account__address=address).order_by("id"))


def thresholds_announced(address=ADDRESS) -> list[int]:
    return [event.payload["threshold_hours"] for event in runway_events(address)]


def expiring_events() -> list[Event]:
    return list(Event.objects.filter(type=EventType.ACCOUNT_CREDITS_EXPIRING).order_by("id"))


def account():
    return Account.objects.get(address=ADDRESS)


# --- account.runway_low ------------------------------------------------------------------------

def test_each_runway_threshold_is_announced_once_when_the_runway_crosses_it():
    # given: 50 hours of credit for one E1 instance
    grant(ADDRESS, FIFTY_HOURS, T0)
    vm = register(T0)
    assert account_runway_hours(account=account(), at=T0) == 50

    # 49 h left: above both thresholds
    run(T0 + HOUR)
    assert runway_events() == []

    # 47 h left: the 48 h threshold is crossed, once
    run(T0 + 3 * HOUR)
    [crossed_48] = runway_events()
    assert crossed_48.occurred_at == T0 + 3 * HOUR
    assert crossed_48.account_id == vm.owner_id and crossed_48.resource_id is None
    assert crossed_48.schema_version == EVENT_SCHEMA_VERSION
    assert crossed_48.payload == {
        "address": ADDRESS, "threshold_hours": 48, "runway_hours": "47.00",
        "balance": str(FIFTY_HOURS - 3 * E1_PER_HOUR),
        "credit_cost_per_hour": format_amount(account_credit_cost_per_hour(account=account()))}
    # the set-based runway is the selector's
    assert account_runway_hours(account=account(), at=T0 + 3 * HOUR) == 47
    assert account_balance(account=account(), at=T0 + 3 * HOUR) == FIFTY_HOURS - 3 * E1_PER_HOUR

    # 46 h, then 25 h left: nothing new
    run(T0 + 4 * HOUR)
    run(T0 + 25 * HOUR)
    assert thresholds_announced() == [48]

    # 23 h left: the 24 h threshold, once
    run(T0 + 27 * HOUR)
    run(T0 + 28 * HOUR)
    assert thresholds_announced() == [48, 24]
    assert runway_events()[-1].payload["runway_hours"] == "23.00"
    assert account().runway_alert_hours == 24


def test_a_top_up_rearms_the_thresholds_so_a_later_crossing_is_announced_again():
    grant(ADDRESS, FIFTY_HOURS, T0)
    register(T0)
    run(T0 + 3 * HOUR)
    run(T0 + 27 * HOUR)  # 23 h left
    assert thresholds_announced() == [48, 24]

    # a top-up of 30 hours: 53 h left, above both thresholds, both armed again
    grant(ADDRESS, 30 * E1_PER_HOUR, T0 + 27 * HOUR + timedelta(minutes=1))
    assert account().runway_alert_hours is None
    run(T0 + 28 * HOUR)  # 52 h
    assert thresholds_announced() == [48, 24]

    # crossing 48 h again is announced again
    run(T0 + 33 * HOUR)  # 47 h
    assert thresholds_announced() == [48, 24, 48]
    assert runway_events()[-1].payload["runway_hours"] == "47.00"


def test_a_top_up_that_stays_below_a_threshold_rearms_only_the_ones_below_the_runway():
    grant(ADDRESS, FIFTY_HOURS, T0)
    register(T0)
    run(T0 + 3 * HOUR)
    run(T0 + 27 * HOUR)  # 23 h left: 48 and 24 announced

    # 10 more hours: 33 h, above 24 (armed again) but still at or below 48 (stays announced)
    grant(ADDRESS, 10 * E1_PER_HOUR, T0 + 27 * HOUR + timedelta(minutes=1))
    assert account().runway_alert_hours == 48
    run(T0 + 28 * HOUR)  # 32 h
    assert thresholds_announced() == [48, 24]

    run(T0 + 37 * HOUR)  # 23 h again
    assert thresholds_announced() == [48, 24, 24]


def test_a_transfer_in_and_a_positive_adjustment_are_top_ups_too():
    grant(ADDRESS, FIFTY_HOURS, T0)
    register(T0)
    run(T0 + 27 * HOUR)  # 23 h left, straight past both: one event, for the lowest
    assert thresholds_announced() == [24]
    assert account().runway_alert_hours == 24

    grant(OTHER_ADDRESS, 100 * E1_PER_HOUR, T0)
    transfer_create(sender_address=OTHER_ADDRESS, recipient_address=ADDRESS,
                    amount=5 * E1_PER_HOUR, expires_at=None, reference="t-1", actor="test",
                    at=T0 + 27 * HOUR + timedelta(minutes=1))
    assert account().runway_alert_hours == 48  # 28 h: above 24, still below 48

    adjustment_create(address=ADDRESS, amount=30 * E1_PER_HOUR, reason="goodwill",
                      actor="staff", at=T0 + 27 * HOUR + timedelta(minutes=2))
    assert account().runway_alert_hours is None  # 58 h


def test_a_debit_does_not_rearm_and_a_lower_runway_without_a_top_up_is_not_announced_again():
    grant(ADDRESS, FIFTY_HOURS, T0)
    register(T0)
    run(T0 + 3 * HOUR)  # 47 h: 48 announced
    expense_create(address=ADDRESS, amount=E1_PER_HOUR, reference="outside", actor="svc",
                   at=T0 + 3 * HOUR + timedelta(minutes=1))
    assert account().runway_alert_hours == 48

    run(T0 + 4 * HOUR)  # 45 h
    assert thresholds_announced() == [48]


def test_expiring_credits_shorten_the_runway_the_run_announces():
    # 100 h of credit, but 80 h of it expires in 28 h: only 28 h of it can be spent, then 20 h
    grant(ADDRESS, 80 * E1_PER_HOUR, T0, expires_at=T0 + 28 * HOUR)
    grant(ADDRESS, 20 * E1_PER_HOUR, T0)
    register(T0)

    run(T0 + HOUR)

    # a balance of 99 hours, a runway of 27 + 20 hours
    [event] = runway_events()
    assert event.payload["threshold_hours"] == 48
    assert event.payload["runway_hours"] == "47.00"
    assert account_runway_hours(account=account(), at=T0 + HOUR) == 47
    assert event.payload["balance"] == str(99 * E1_PER_HOUR)


def test_thresholds_come_from_the_setting(settings):
    settings.EVENTS_RUNWAY_LOW_HOURS = [72, 12]
    grant(ADDRESS, FIFTY_HOURS, T0)
    register(T0)

    run(T0 + HOUR)  # 49 h: at or below 72
    run(T0 + 37 * HOUR)  # 13 h
    run(T0 + 39 * HOUR)  # 11 h

    assert thresholds_announced() == [72, 12]


def test_an_account_whose_runway_is_long_is_not_announced_even_with_expiring_credits():
    # a big balance that expires soon would not count: the runway is short despite it
    grant(ADDRESS, 1000 * E1_PER_HOUR, T0, expires_at=T0 + 10 * HOUR)
    grant(ADDRESS, 60 * E1_PER_HOUR, T0)
    grant(OTHER_ADDRESS, 1000 * E1_PER_HOUR, T0)
    register(T0)
    register(T0, address=OTHER_ADDRESS)

    run(T0 + HOUR)

    assert thresholds_announced() == []  # 9 h of the expiring lot, then 60 h
    assert thresholds_announced(OTHER_ADDRESS) == []


def test_a_lifecycle_batch_that_fails_announces_no_runway_and_keeps_the_state(monkeypatch):
    from credits.services.lifecycle import run as run_module

    grant(ADDRESS, FIFTY_HOURS, T0)
    register(T0)
    real_alerts = run_module.runway_alerts
    announced = []

    def failing_alerts(cursor, batch, **kwargs):
        announced.append(real_alerts(cursor, batch, **kwargs).runway_alerts)
        raise RuntimeError("the batch fails after announcing")
    monkeypatch.setattr(run_module, "runway_alerts", failing_alerts)

    failed = run(T0 + 3 * HOUR)

    assert failed.errors == 1 and announced == [1]
    assert runway_events() == [] and account().runway_alert_hours is None
    monkeypatch.undo()
    run(T0 + 4 * HOUR)  # the next run does it
    assert thresholds_announced() == [48]


def test_a_top_up_that_is_rolled_back_does_not_rearm():
    grant(ADDRESS, FIFTY_HOURS, T0)
    register(T0)
    run(T0 + 27 * HOUR)
    assert account().runway_alert_hours == 24

    with pytest.raises(RuntimeError), transaction.atomic():
        grant(ADDRESS, 100 * E1_PER_HOUR, T0 + 27 * HOUR + timedelta(minutes=1))
        assert account().runway_alert_hours is None
        raise RuntimeError("rolled back")

    assert account().runway_alert_hours == 24
    run(T0 + 28 * HOUR)
    assert thresholds_announced() == [24]


def test_a_dry_run_announces_no_runway_and_moves_no_state():
    grant(ADDRESS, FIFTY_HOURS, T0)
    register(T0)

    dry = run(T0 + 3 * HOUR, dry_run=True)

    assert dry.counts.runway_alerts == 1
    assert runway_events() == [] and account().runway_alert_hours is None


# --- account.credits_expiring -----------------------------------------------------------------

def test_each_lot_expiring_within_the_window_is_announced_once():
    soon = grant(ADDRESS, 10 * E1_PER_HOUR, T0, expires_at=T0 + 3 * DAY,
                 reference="soon").lots[0]
    later = grant(ADDRESS, 400 * E1_PER_HOUR, T0, expires_at=T0 + 10 * DAY,
                  reference="later").lots[0]
    grant(ADDRESS, 100 * E1_PER_HOUR, T0, reference="forever")
    register(T0)

    first = run(T0 + HOUR)

    [event] = expiring_events()
    assert first.counts.credits_expiring == 1
    assert event.account_id == soon.account_id and event.resource_id is None
    assert event.occurred_at == T0 + HOUR and event.schema_version == EVENT_SCHEMA_VERSION
    assert event.payload == {"address": ADDRESS, "lot": soon.pk, "reference": "soon",
                             "remaining": str(10 * E1_PER_HOUR),
                             "expires_at": (T0 + 3 * DAY).isoformat()}

    # later runs: not again; the later lot once it is within 7 days (announced before the
    # run's metering drains it: as it was when the run began)
    run(T0 + 2 * HOUR)
    run(T0 + 3 * DAY - HOUR)
    assert [event.payload["lot"] for event in expiring_events()] == [soon.pk]
    later.refresh_from_db()
    left_before_the_run = later.remaining
    assert 0 < left_before_the_run < 400 * E1_PER_HOUR
    run(T0 + 3 * DAY + HOUR)
    assert [event.payload["lot"] for event in expiring_events()] == [soon.pk, later.pk]
    assert expiring_events()[-1].payload["remaining"] == str(left_before_the_run)
    assert expiring_events()[-1].payload["reference"] == "later"
    run(T0 + 4 * DAY)
    assert len(expiring_events()) == 2


def test_a_lot_spent_or_expired_before_the_run_sees_it_is_noticed_without_an_event():
    spent = grant(ADDRESS, 100, T0, expires_at=T0 + 2 * DAY, reference="spent").lots[0]
    expense_create(address=ADDRESS, amount=100, reference="spend", actor="svc", at=T0)
    gone = grant(ADDRESS, 100, T0, expires_at=T0 + 2 * HOUR, reference="gone").lots[0]
    grant(ADDRESS, 100 * E1_PER_HOUR, T0, reference="forever")
    register(T0)

    run(T0 + 3 * HOUR)

    assert expiring_events() == []
    noticed = dict(Lot.objects.filter(pk__in=[spent.pk, gone.pk])
                   .values_list("pk", "expiry_noticed_at"))
    assert noticed == {spent.pk: T0 + 3 * HOUR, gone.pk: T0 + 3 * HOUR}


def test_credits_expiring_of_an_account_without_resources_are_announced_too(settings):
    settings.EVENTS_CREDITS_EXPIRING_DAYS = 1
    lot = grant(OTHER_ADDRESS, 500, T0, expires_at=T0 + 2 * DAY).lots[0]
    grant(ADDRESS, 100 * E1_PER_HOUR, T0)
    register(T0)

    run(T0 + HOUR)
    assert expiring_events() == []  # 2 days away: outside a 1-day window

    run(T0 + DAY + 2 * HOUR)
    [event] = expiring_events()
    assert event.payload["lot"] == lot.pk and event.payload["address"] == OTHER_ADDRESS


def test_a_notice_whose_transaction_fails_leaves_no_event_and_the_lot_unnoticed(monkeypatch):
    from credits import events

    lot = grant(ADDRESS, 500, T0, expires_at=T0 + DAY).lots[0]
    real_kick = events._kick_on_commit

    def failing_kick():
        real_kick()
        raise RuntimeError("fails after the statement")
    monkeypatch.setattr(events, "_kick_on_commit", failing_kick)

    with pytest.raises(RuntimeError):
        events.lots_expiring_announce(at=T0 + HOUR)

    assert expiring_events() == []
    lot.refresh_from_db()
    assert lot.expiry_noticed_at is None
    monkeypatch.undo()
    assert events.lots_expiring_announce(at=T0 + HOUR) == 1


def test_lots_expiring_are_announced_in_committed_batches():
    from credits import events

    lots = [grant(f"0x{number + 1:040x}", 100, T0, expires_at=T0 + DAY + number * HOUR).lots[0]
            for number in range(7)]

    announced = events.lots_expiring_announce(at=T0, batch_size=3)

    assert announced == 7
    assert sorted(event.payload["lot"] for event in expiring_events()) == [lot.pk for lot in lots]
    assert events.lots_expiring_announce(at=T0 + HOUR, batch_size=3) == 0
