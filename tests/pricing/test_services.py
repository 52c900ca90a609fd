"""Importing, copying and publishing pricing versions; superseded marking; the pricing cache."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from pricing import services
from pricing.aggregate import AggregateInvalid, version_to_aggregate, version_to_compatible_gpus
from pricing.enums import VersionStatus
from pricing.models import GpuDevice, PricingVersion, Product, Tier
from pricing.selectors import pricing_in_force, pricing_version_in_force
from pricing.services import (
    PricingEffectiveDateInvalid,
    PricingVersionInvalid,
    PricingVersionNotEditable,
    pricing_version_copy,
    pricing_version_import,
    pricing_version_publish,
    pricing_versions_mark_superseded,
)

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)

pytestmark = pytest.mark.django_db
from tests.threads import in_threads


@pytest.fixture
def now(time_machine):
    """A fixed clock; tests move it with time_machine.move_to."""
    time_machine.move_to(NOW, tick=False)
    return NOW


def _row_counts() -> tuple:
    models = (PricingVersion, Product, Tier, GpuDevice)
    return (tuple(model.objects.count() for model in models)
            + tuple(model.history.count() for model in models))


def _publish_copy(version, *, effective_from, user=None):
    return pricing_version_publish(version=pricing_version_copy(version=version),
                                   effective_from=effective_from, user=user)


# --- import --------------------------------------------------------------------------------------

def test_import_creates_a_draft_with_every_product_tier_and_gpu_device(pricing_aggregate,
                                                                      compatible_gpus):
    version = pricing_version_import(aggregate=pricing_aggregate,
                                     compatible_gpus=compatible_gpus, name="Network, March",
                                     notes="from the live aggregate")

    assert version.status == VersionStatus.DRAFT
    assert (version.name, version.notes) == ("Network, March", "from the live aggregate")
    assert version.products.count() == 8
    assert version.tiers.count() == 4 * 6 + 4 + 2
    assert version.gpu_devices.count() == 18
    assert version.products.get(product_type="instance").price_cu_credit_per_hour == Decimal(
        "14250")
    assert version.import_warnings == []


def test_an_invalid_import_reports_problems_of_both_documents_and_creates_nothing(
        pricing_aggregate, compatible_gpus):
    # given a problem in the pricing aggregate and one in the GPU catalogue
    pricing_aggregate["instance"]["price"]["compute_unit"]["credit"] = "abc"
    compatible_gpus.append({"model": "RTX 5090", "device_id": "10de:2685"})
    before = _row_counts()

    # when
    with pytest.raises(PricingVersionInvalid) as caught:
        pricing_version_import(aggregate=pricing_aggregate, compatible_gpus=compatible_gpus,
                               name="Broken")

    # then both are listed and nothing was written, not even history
    assert caught.value.errors == [
        'instance.price.compute_unit.credit: "abc" is not a decimal number',
        'compatible_gpus[18].device_id: "10de:2685" is listed twice: as "RTX 4090" '
        '(compatible_gpus[2]) and as "RTX 5090" (compatible_gpus[18]); a device id must map to '
        "one model",
    ]
    assert isinstance(caught.value, AggregateInvalid)
    assert _row_counts() == before


def test_nothing_is_half_imported_when_writing_fails_midway(pricing_aggregate, compatible_gpus,
                                                             monkeypatch):
    # given a database write that fails after the version, products and tiers are written
    real_bulk_create = services.bulk_create_with_history

    def failing_for_gpus(objs, model, **kwargs):
        if model is GpuDevice:
            raise RuntimeError("disk full")
        return real_bulk_create(objs, model, **kwargs)

    monkeypatch.setattr(services, "bulk_create_with_history", failing_for_gpus)
    before = _row_counts()

    with pytest.raises(RuntimeError):
        pricing_version_import(aggregate=pricing_aggregate, compatible_gpus=compatible_gpus,
                               name="Half")

    assert _row_counts() == before


def test_an_empty_name_is_refused_with_the_document_problems(pricing_aggregate):
    del pricing_aggregate["storage"]

    with pytest.raises(PricingVersionInvalid) as caught:
        pricing_version_import(aggregate=pricing_aggregate, name="  ")

    assert caught.value.errors == [
        "name: a pricing version needs a name",
        "storage: missing (every product type but web3_hosting must be priced)",
    ]


def test_without_a_gpu_catalogue_the_import_copies_the_one_in_force(default_version,
                                                                  pricing_aggregate):
    in_force = pricing_version_in_force()
    in_force.gpu_devices.filter(device_id="10de:2687").update(model="RTX 5090 D")

    version = pricing_version_import(aggregate=pricing_aggregate, name="Prices only")

    assert version_to_compatible_gpus(version) == version_to_compatible_gpus(in_force)
    assert version.gpu_devices.get(device_id="10de:2687").model == "RTX 5090 D"


def test_unknown_product_types_are_imported_as_warnings(pricing_aggregate, compatible_gpus):
    pricing_aggregate["instance_tpu"] = {"price": {}}

    version = pricing_version_import(aggregate=pricing_aggregate,
                                     compatible_gpus=compatible_gpus, name="With TPU")

    assert version.import_warnings == ["instance_tpu: unknown product type, ignored"]
    assert not version.products.filter(product_type="instance_tpu").exists()


def test_import_history_records_the_user(draft_version, staff_user):
    assert draft_version.history.get().history_user == staff_user
    product_history = Product.history.filter(version_id=draft_version.pk)
    assert product_history.count() == 8
    assert {record.history_user for record in product_history} == {staff_user}
    assert {r.history_user for r in GpuDevice.history.filter(version_id=draft_version.pk)} == {
        staff_user}
    assert product_history.first().history_change_reason == "imported"


# --- publish -------------------------------------------------------------------------------------

def test_publishing_a_draft_puts_it_in_force_now(now, default_version, draft_version,
                                                 staff_user):
    published = pricing_version_publish(version=draft_version, user=staff_user)

    published.refresh_from_db()
    assert published.status == VersionStatus.PUBLISHED
    assert published.effective_from == now
    assert published.published_at == now
    assert published.published_by == staff_user
    assert pricing_version_in_force() == published


def test_publishing_records_who_published_in_the_history(now, draft_version, staff_user):
    pricing_version_publish(version=draft_version, user=staff_user)

    latest = PricingVersion.history.filter(id=draft_version.pk).latest()
    assert (latest.status, latest.history_user, latest.history_change_reason) == (
        VersionStatus.PUBLISHED, staff_user, "published")


def test_a_version_cannot_be_published_twice(now, draft_version):
    pricing_version_publish(version=draft_version)

    with pytest.raises(PricingVersionNotEditable):
        pricing_version_publish(version=draft_version,
                                effective_from=now + timedelta(days=1))

    draft_version.refresh_from_db()
    assert draft_version.effective_from == now


def test_a_stale_copy_of_a_draft_that_was_published_meanwhile_is_refused(now, draft_version):
    stale = PricingVersion.objects.get(pk=draft_version.pk)
    pricing_version_publish(version=draft_version)

    with pytest.raises(PricingVersionNotEditable):
        pricing_version_publish(version=stale)


def test_an_effective_date_in_the_past_is_refused(now, default_version, draft_version):
    with pytest.raises(PricingEffectiveDateInvalid) as caught:
        pricing_version_publish(version=draft_version,
                                effective_from=now - timedelta(hours=1))

    assert "in the past" in caught.value.message
    draft_version.refresh_from_db()
    assert draft_version.status == VersionStatus.DRAFT
    assert pricing_version_in_force() == default_version


def test_a_date_picked_a_moment_ago_means_now(now, draft_version):
    published = pricing_version_publish(version=draft_version,
                                        effective_from=now - timedelta(minutes=2))

    assert published.effective_from == now


def test_a_date_without_time_zone_is_refused(now, draft_version):
    with pytest.raises(PricingEffectiveDateInvalid):
        pricing_version_publish(version=draft_version,
                                effective_from=datetime(2026, 4, 1, 0, 0))


def test_a_future_effective_date_schedules_the_version(now, time_machine, default_version,
                                                       draft_version):
    pricing_version_publish(version=draft_version, effective_from=now + timedelta(days=7))

    assert pricing_version_in_force() == default_version
    time_machine.move_to(now + timedelta(days=7), tick=False)
    assert pricing_version_in_force() == draft_version


def test_an_incomplete_draft_is_refused_with_every_problem_listed(now, draft_version):
    draft_version.products.filter(product_type="storage").delete()
    draft_version.tiers.filter(product_type="instance_gpu_standard").delete()

    with pytest.raises(PricingVersionInvalid) as caught:
        pricing_version_publish(version=draft_version)

    assert caught.value.errors == [
        "storage: missing (every product type but web3_hosting must be priced)",
        "instance_gpu_standard.tiers: missing (a GPU product needs its tiers: one per GPU "
        "model, with its compute units)",
    ]
    draft_version.refresh_from_db()
    assert draft_version.status == VersionStatus.DRAFT


def test_a_draft_edited_to_a_price_the_network_cannot_hold_is_refused(now, draft_version):
    draft_version.products.filter(product_type="program").update(
        price_cu_credit_per_hour=Decimal("-1"))

    with pytest.raises(PricingVersionInvalid) as caught:
        pricing_version_publish(version=draft_version)

    assert caught.value.errors == [
        'program.price.compute_unit.credit: "-1" is negative; prices are 0 or more']


def test_after_publishing_the_cached_pricing_is_the_new_version(
        now, default_version, draft_version, django_capture_on_commit_callbacks):
    # given the pricing in force is cached
    assert pricing_in_force()[0] == default_version

    # when a draft is published, before the transaction commits
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        pricing_version_publish(version=draft_version)

    # then the cache still serves the old version, until the commit hook drops it
    assert pricing_in_force()[0] == default_version
    for callback in callbacks:
        callback()
    version, table = pricing_in_force()
    assert version == draft_version
    assert table.version_id == draft_version.pk


def test_publishing_invalidates_the_cache_on_commit(now, default_version, draft_version,
                                                    django_capture_on_commit_callbacks):
    pricing_in_force()

    with django_capture_on_commit_callbacks(execute=True):
        pricing_version_publish(version=draft_version)

    assert pricing_in_force()[0] == draft_version


# --- superseded ----------------------------------------------------------------------------------

def test_publishing_supersedes_the_version_that_was_in_force(now, default_version,
                                                             draft_version):
    pricing_version_publish(version=draft_version)

    default_version.refresh_from_db()
    assert default_version.status == VersionStatus.SUPERSEDED
    assert default_version.history.latest().history_change_reason == "superseded"


def test_a_scheduled_version_supersedes_nothing_until_it_takes_effect(now, time_machine,
                                                                      default_version,
                                                                      draft_version):
    # given a version scheduled for next week
    pricing_version_publish(version=draft_version, effective_from=now + timedelta(days=7))
    default_version.refresh_from_db()
    assert default_version.status == VersionStatus.PUBLISHED

    # when its date has come and the marking runs
    later = now + timedelta(days=7, minutes=1)
    time_machine.move_to(later, tick=False)
    marked = pricing_versions_mark_superseded(now=later)

    # then the old one is superseded
    assert marked == [default_version]
    default_version.refresh_from_db()
    assert default_version.status == VersionStatus.SUPERSEDED


def test_a_version_scheduled_earlier_than_another_stays_published_until_its_turn_ends(
        now, default_version, draft_version):
    in_a_week = pricing_version_publish(version=draft_version,
                                        effective_from=now + timedelta(days=7))
    tomorrow = _publish_copy(draft_version, effective_from=now + timedelta(days=1))

    statuses = {v.pk: v.status for v in PricingVersion.objects.all()}
    assert statuses[default_version.pk] == VersionStatus.PUBLISHED
    assert statuses[tomorrow.pk] == VersionStatus.PUBLISHED
    assert statuses[in_a_week.pk] == VersionStatus.PUBLISHED

    marked = pricing_versions_mark_superseded(now=now + timedelta(days=3))

    assert marked == [default_version]


def test_of_two_versions_with_the_same_date_the_one_published_last_wins_and_supersedes(
        now, time_machine, default_version, draft_version):
    date = now + timedelta(days=1)
    first = pricing_version_publish(version=draft_version, effective_from=date)
    time_machine.move_to(now + timedelta(minutes=10), tick=False)

    second = _publish_copy(draft_version, effective_from=date)

    first.refresh_from_db()
    assert first.status == VersionStatus.SUPERSEDED
    time_machine.move_to(date, tick=False)
    assert pricing_version_in_force() == second


def test_marking_twice_changes_nothing(now, default_version, draft_version):
    pricing_version_publish(version=draft_version)

    assert pricing_versions_mark_superseded(now=now) == []


# --- copy ----------------------------------------------------------------------------------------

def test_copying_a_published_version_gives_an_identical_draft(default_version, staff_user):
    copy = pricing_version_copy(version=default_version, user=staff_user)

    assert copy.status == VersionStatus.DRAFT
    assert copy.copied_from == default_version
    assert copy.name == "Copy of Default pricing (PRICING.md)"
    assert copy.effective_from is None
    assert version_to_aggregate(copy) == version_to_aggregate(default_version)
    assert version_to_compatible_gpus(copy) == version_to_compatible_gpus(default_version)


def test_copying_leaves_the_original_unchanged(default_version):
    before = (version_to_aggregate(default_version), default_version.products.count())

    copy = pricing_version_copy(version=default_version, name="April prices")
    copy.products.filter(product_type="instance").update(price_cu_credit_per_hour=1)

    assert copy.name == "April prices"
    assert (version_to_aggregate(default_version), default_version.products.count()) == before


def test_copy_history_records_the_user_and_the_source(default_version, staff_user):
    copy = pricing_version_copy(version=default_version, user=staff_user)

    assert copy.history.get().history_user == staff_user
    tier_history = Tier.history.filter(version_id=copy.pk)
    assert tier_history.count() == default_version.tiers.count()
    assert {(r.history_user, r.history_change_reason) for r in tier_history} == {
        (staff_user, f"copied from version {default_version.pk}")}


def test_a_copy_can_be_edited_and_published(now, default_version):
    copy = pricing_version_copy(version=default_version)
    copy.products.filter(product_type="instance").update(price_cu_credit_per_hour=15000)

    pricing_version_publish(version=copy)

    assert pricing_version_in_force() == copy
    table = pricing_in_force()[1]
    assert table.products["instance"].compute_unit_price.credit_per_hour == Decimal(15000)


# --- concurrency (PostgreSQL row locks, real threads) -------------------------------------------

def _publish_by_pk(pk):
    return lambda: pricing_version_publish(version=PricingVersion.objects.get(pk=pk))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_draft_published_twice_at_the_same_moment_is_published_once(default_version):
    draft = pricing_version_copy(version=default_version)

    results = in_threads(_publish_by_pk(draft.pk), _publish_by_pk(draft.pk))

    assert sorted(type(result).__name__ for result in results) == [
        "PricingVersion", "PricingVersionNotEditable"]
    assert PricingVersion.history.filter(id=draft.pk, status=VersionStatus.PUBLISHED).count() \
        == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_drafts_published_at_the_same_moment_leave_one_version_in_force(default_version):
    first = pricing_version_copy(version=default_version, name="first")
    second = pricing_version_copy(version=default_version, name="second")

    results = in_threads(_publish_by_pk(first.pk), _publish_by_pk(second.pk))

    assert all(isinstance(result, PricingVersion) for result in results), results
    statuses = dict(PricingVersion.objects.values_list("name", "status"))
    in_force = pricing_version_in_force()
    assert in_force.name in ("first", "second")
    assert statuses[in_force.name] == VersionStatus.PUBLISHED
    other = "second" if in_force.name == "first" else "first"
    assert statuses[other] == VersionStatus.SUPERSEDED
    assert statuses[default_version.name] == VersionStatus.SUPERSEDED
