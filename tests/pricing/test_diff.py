"""A draft's differences from the version it is compared with (the version in force, or the one
it was copied from), and the fingerprint of its prices."""
from decimal import Decimal

import pytest

from pricing.diff import version_diff, version_diff_base, version_fingerprint
from pricing.models import GpuDevice, Tier
from pricing.services import pricing_version_copy, pricing_version_publish

pytestmark = pytest.mark.django_db


def test_the_diff_of_a_copy_with_one_price_changed_names_that_field_old_and_new(
        default_version, doubled_draft):
    diff = version_diff(version=doubled_draft, base=version_diff_base(doubled_draft))

    assert diff.base == default_version
    assert [(row.key, row.action) for row in diff.products] == [("instance", "changed")]
    [change] = diff.products[0].changes
    assert (change.field, change.label, change.old, change.new) == (
        "price_cu_credit_per_hour", "credit / CU / h", "14250", "28500")
    assert diff.tiers == () and diff.gpu_devices == ()
    assert diff.count == 1 and not diff.is_empty


def test_an_unchanged_copy_has_no_differences(default_version, staff_user):
    copy = pricing_version_copy(version=default_version, user=staff_user)

    assert version_diff(version=copy, base=default_version).is_empty


def test_the_diff_lists_added_removed_and_changed_tiers_gpus_and_products(default_version,
                                                                          doubled_draft):
    # given: a tier added, one changed, a GPU removed, one renamed, a product removed, and a
    # storage price with fewer decimal places than the column keeps
    Tier.objects.create(version=doubled_draft, product_type="instance", tier_id="tier-7",
                        compute_units=16)
    doubled_draft.tiers.filter(product_type="instance_gpu_standard", tier_id="tier-1").update(
        compute_units=4)
    GpuDevice.objects.filter(version=doubled_draft, device_id="10de:2684").delete()
    rtx_3090 = GpuDevice.objects.filter(version=doubled_draft, model="RTX 3090").first()
    GpuDevice.objects.filter(pk=rtx_3090.pk).update(name="Renamed card")
    doubled_draft.products.filter(product_type="web3_hosting").delete()
    doubled_draft.products.filter(product_type="storage").update(
        price_storage_credit_per_mib_hour=Decimal("0.055"))

    diff = version_diff(version=doubled_draft, base=default_version)

    products = {row.key: row for row in diff.products}
    assert products["web3_hosting"].action == "removed"
    storage = {c.field: (c.old, c.new) for c in products["storage"].changes}
    assert storage["price_storage_credit_per_mib_hour"][1] == "0.055"
    tiers = {row.key: row for row in diff.tiers}
    assert tiers["instance tier-7"].action == "added"
    assert [(c.field, c.old, c.new) for c in tiers["instance tier-7"].changes] == [
        ("compute_units", "—", "16")]
    assert tiers["instance_gpu_standard tier-1"].action == "changed"
    assert [(c.old, c.new) for c in tiers["instance_gpu_standard tier-1"].changes] == [
        ("3", "4")]
    gpus = {row.key: row for row in diff.gpu_devices}
    assert gpus["10de:2684"].action == "removed"
    assert ("model", "RTX 4090", "—") in [(c.field, c.old, c.new)
                                         for c in gpus["10de:2684"].changes]
    assert [(c.field, c.new) for c in gpus[rtx_3090.device_id].changes] == [
        ("name", "Renamed card")]


def test_the_version_in_force_is_compared_with_the_version_it_was_copied_from(
        default_version, doubled_draft):
    published = pricing_version_publish(version=doubled_draft)

    assert version_diff_base(published) == default_version


def test_the_fingerprint_changes_with_a_price_and_only_then(default_version, doubled_draft):
    before = version_fingerprint(doubled_draft)
    assert version_fingerprint(doubled_draft) == before
    doubled_draft.products.filter(product_type="instance").update(
        price_cu_credit_per_hour=Decimal(28501))

    assert version_fingerprint(doubled_draft) != before


def test_the_diff_names_a_payment_rule_whose_date_changed(network_payment_rules, staff_user):
    # given: a copy of the version with the network's rules, the credit-only date moved
    from datetime import UTC, datetime

    draft = pricing_version_copy(version=network_payment_rules, user=staff_user)
    draft.payment_rules.filter(name="credit_only").update(
        not_accepted_from=datetime(2027, 6, 1, tzinfo=UTC))

    # when
    diff = version_diff(version=draft, base=network_payment_rules)

    # then
    [row] = diff.payment_rules
    assert (row.key, row.action) == ("credit_only", "changed")
    [change] = row.changes
    assert (change.field, change.old, change.new) == (
        "not_accepted_from", "2027-01-01 00:00 UTC", "2027-06-01 00:00 UTC")
    assert diff.count == 1 and not diff.is_empty
