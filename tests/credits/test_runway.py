"""The runway rule in SQL (`runway_hours_sql`, the aggregate of migration 0018, which both
`account_runway_hours` and the lifecycle's `account.runway_low` use) is the sequential walk of
the lots, soonest expiry first, computed here exactly with fractions: equal to the hundredth of
an hour on random lots, expiries and rates. And the lifecycle's cheap exclusion (lots lasting
beyond a horizon that alone pay for it) never excludes an account at or below a threshold."""
import math
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from django.db import connection
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from credits.selectors.ledger import runway_hours_sql
from tests.credits.conftest import T0

pytestmark = pytest.mark.django_db

MICROSECOND = timedelta(microseconds=1)
HOUR_SECONDS = 3600


def runway_walk(lots: list[tuple[int, timedelta | None]], rate: Decimal) -> Decimal:
    """The rule as `account_runway_hours` states it, exactly: spend the lots at `rate` from
    now, soonest expiry first (never-expiring last); a lot lasts until it is spent or expires,
    whichever comes first, and what it holds at its expiry is lost. Floored to hundredths of an
    hour."""
    rate = Fraction(rate)
    covered = Fraction(0)
    for credits, expires_in in sorted(lots, key=lambda lot: (lot[1] is None, lot[1] or 0)):
        seconds_to_spend = Fraction(credits) / rate
        if expires_in is None:
            covered += seconds_to_spend
            continue
        window = Fraction(expires_in // MICROSECOND, 10**6) - covered
        if window <= 0:
            continue  # expired before the earlier lots were spent
        covered += min(seconds_to_spend, window)
    return Decimal(f"{math.floor(covered * 100 / HOUR_SECONDS)}E-2")  # exact, any size


def runway_sql(lots: list[tuple[int, timedelta | None]], rate: Decimal) -> Decimal:
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT {runway_hours_sql(credits='l.credits', rate='%(rate)s',
                                     expires_at='l.expires_at', at='%(at)s')}
            FROM unnest(CAST(%(credits)s AS bigint[]), CAST(%(expiries)s AS timestamptz[]))
                 AS l(credits, expires_at)""",
                       {"rate": rate, "at": T0, "credits": [credits for credits, _ in lots],
                        "expiries": [None if expires_in is None else T0 + expires_in
                                     for _, expires_in in lots]})
        return cursor.fetchone()[0]


# Rates with 18 decimals (as the cost rows keep them), from 10**-18 to 10**4 credits a second;
# lots of credits up to 10**15 (`MAX_CREDITS`), expiring within a year (to the microsecond) or
# never; some expiries on whole hours, where ties and exact ends are likely.
rates = st.integers(min_value=1, max_value=10**22).map(lambda units: Decimal(units).scaleb(-18))
expiries = st.one_of(
    st.none(),
    st.integers(min_value=1, max_value=365 * 24 * 3600 * 10**6).map(lambda us: us * MICROSECOND),
    st.integers(min_value=1, max_value=400).map(lambda hours: timedelta(hours=hours)))
lots_strategy = st.lists(st.tuples(st.integers(min_value=1, max_value=10**15), expiries),
                         max_size=8)
E1 = Decimal("3.958333333333333333")


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lots=lots_strategy, rate=rates)
@example(lots=[], rate=E1)
@example(lots=[(3600, timedelta(hours=1)), (3600, timedelta(hours=2))], rate=Decimal(1))
@example(lots=[(7200, timedelta(hours=1)), (3600, timedelta(hours=2))], rate=Decimal(1))
@example(lots=[(3600, timedelta(hours=2)), (3600, timedelta(hours=1))], rate=Decimal(1))
@example(lots=[(712500, None)], rate=E1)  # 50 h and a hair: 50.00
@example(lots=[(14249, None)], rate=E1)  # a hair under an hour: 0.99
@example(lots=[(80 * 14250, timedelta(hours=27)), (20 * 14250, None)], rate=E1)
@example(lots=[(10**15, timedelta(microseconds=1)), (1, None)],
         rate=Decimal(1).scaleb(-18))
def test_the_sql_runway_is_the_sequential_walk_to_the_hundredth(lots, rate):
    assert runway_sql(lots, rate) == runway_walk(lots, rate)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lots=lots_strategy, rate=rates, highest_hours=st.integers(min_value=1, max_value=200))
def test_lots_lasting_beyond_the_horizon_that_pay_for_it_keep_the_runway_above_it(
        lots, rate, highest_hours):
    # the candidates' filter of `events.accounts_runway_low_announce`
    beyond = timedelta(hours=highest_hours + 1)
    lasting = sum(credits for credits, expires_in in lots
                  if expires_in is None or expires_in > beyond)
    if lasting >= rate * (highest_hours + 1) * HOUR_SECONDS:
        assert runway_sql(lots, rate) > highest_hours
