"""Fixtures shared by every test."""
import pytest
from django.core.cache import cache

from pricing.aggregate import table_from_aggregate
from pricing.defaults import DEFAULT_COMPATIBLE_GPUS, DEFAULT_PRICE_AGGREGATE
from pricing.selectors import pricing_cache_invalidate


@pytest.fixture(autouse=True)
def _fresh_caches():
    """The pricing cache and throttle counters live in the process: start each test clean."""
    cache.clear()
    pricing_cache_invalidate()
    yield
    cache.clear()
    pricing_cache_invalidate()


@pytest.fixture
def default_table():
    """The default pricing of PRICING.md as an engine table, without a database."""
    return table_from_aggregate(DEFAULT_PRICE_AGGREGATE, DEFAULT_COMPATIBLE_GPUS, version_id=1)
