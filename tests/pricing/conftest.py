"""Fixtures for pricing versions: the default documents as fresh copies, a draft (the staff user
who imports it is in tests/conftest.py)."""
import json
from decimal import Decimal

import pytest

from pricing.defaults import DEFAULT_COMPATIBLE_GPUS, DEFAULT_PRICE_AGGREGATE
from pricing.services import pricing_version_import


def fresh_copy(document):
    """A deep copy that shares nothing (deepcopy would keep the defaults' shared dicts shared)."""
    return json.loads(json.dumps(document), parse_float=Decimal)


@pytest.fixture
def pricing_aggregate():
    """The default pricing aggregate, safe to mutate."""
    return fresh_copy(DEFAULT_PRICE_AGGREGATE)


@pytest.fixture
def compatible_gpus():
    """The default GPU catalogue (settings aggregate's compatible_gpus), safe to mutate."""
    return fresh_copy(DEFAULT_COMPATIBLE_GPUS)


@pytest.fixture
def draft_version(db, pricing_aggregate, compatible_gpus, staff_user):
    """A draft with the default pricing, imported by the staff user."""
    return pricing_version_import(aggregate=pricing_aggregate, compatible_gpus=compatible_gpus,
                                  name="Draft under test", user=staff_user)
