"""Fixtures shared by every test."""
from decimal import Decimal

import pytest
from django.core.cache import cache

from pricing.aggregate import table_from_aggregate
from pricing.defaults import DEFAULT_COMPATIBLE_GPUS, DEFAULT_PRICE_AGGREGATE
from pricing.selectors import pricing_cache_invalidate


def pytest_configure(config):
    """Users' passwords hashed with a fast hasher in the tests, as Django advises: PBKDF2's
    million rounds cost 0.4 s per user a test makes. Production keeps Django's default."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


@pytest.fixture
def default_version(db):
    """The published default pricing (PRICING.md), in force now.

    The data migration creates it; transactional tests flush it, so it is made again then.
    """
    from django.utils import timezone

    from pricing.selectors import pricing_version_in_force
    from pricing.services import pricing_version_import, pricing_version_publish

    version = pricing_version_in_force()
    if version is None:
        draft = pricing_version_import(aggregate=DEFAULT_PRICE_AGGREGATE,
                                       compatible_gpus=DEFAULT_COMPATIBLE_GPUS,
                                       name="Default pricing (test)")
        version = pricing_version_publish(version=draft, effective_from=timezone.now())
    # The network's payment rules (pricing.rules) refuse hold and stream after cut-offs that
    # most tests' instants are past: they are tested in test_payment_rules*.py, with the
    # `network_payment_rules` fixture; here a version without them.
    version.payment_rules.all().delete()
    pricing_cache_invalidate()
    return version


@pytest.fixture
def network_payment_rules(default_version):
    """The version in force with the network's payment rules, as the migrations give it."""
    from pricing.models import PaymentRule
    from pricing.rules import DEFAULT_PAYMENT_RULES

    for spec in DEFAULT_PAYMENT_RULES:
        PaymentRule.objects.create(
            version=default_version, name=spec.name, product_types=list(spec.product_types),
            payment_types=list(spec.payment_types), not_accepted_from=spec.not_accepted_from,
            description=spec.description)
    pricing_cache_invalidate()
    return default_version



@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser(
        username="pricing-staff", email="pricing@example.org", password="not-used-in-tests")


@pytest.fixture
def doubled_draft(default_version, staff_user):
    """A draft copied from the default version, with the instance credit price doubled."""
    from pricing.services import pricing_version_copy

    draft = pricing_version_copy(version=default_version, user=staff_user, name="Doubled")
    draft.products.filter(product_type="instance").update(
        price_cu_credit_per_hour=Decimal(28500))
    return draft


@pytest.fixture
def celery_eager(settings):
    """Tasks run in this process and raise their errors. The Celery app read its conf from the
    Django settings once, so its conf is switched too, and put back after."""
    from credits_project.celery import app as celery_app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_TASK_EAGER_PROPAGATES = True
    saved = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield celery_app
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


def pytest_collection_modifyitems(items):
    """Every transactional test restores the migrations' rows (default pricing, content types)
    the same way. Mixing a plain flush with serialized rollbacks makes whichever of them runs
    second collide on duplicate content types, depending on the order tests happen to run in."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        kwargs = dict(marker.kwargs) if marker else {}
        transactional = kwargs.get("transaction") or "live_server" in getattr(
            item, "fixturenames", ())
        if transactional and not kwargs.get("serialized_rollback"):
            kwargs.update(transaction=True, serialized_rollback=True)
            item.add_marker(pytest.mark.django_db(*(marker.args if marker else ()), **kwargs),
                            append=False)
