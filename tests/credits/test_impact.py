"""A draft's impact on the live resources: costs that change, resources and accounts that would
become unfunded, the hourly credit burn, and resources the draft cannot price; and the pricing
version pages that show it. Numbers are worked out by hand below."""
from decimal import Decimal

import pytest

from credits.funding import hourly_charge
from credits.impact import version_impact, version_impact_preview
from credits.models import Resource
from pricing.diff import version_fingerprint
from pricing.models import GpuDevice
from pricing.services import pricing_version_copy
from tests.credits.repricing_scenario import (
    E1_CREDIT_PER_SECOND,
    E1_CREDIT_PER_SECOND_DOUBLED,
    GPU_OWNER,
    SHORT,
    TWO,
    grant,
    item_hash,
    register,
)
from tests.pricing.contents import gpu, instance_content

pytestmark = pytest.mark.django_db


# --- impact ------------------------------------------------------------------------------------

def test_the_engine_numbers_used_below():
    assert hourly_charge(E1_CREDIT_PER_SECOND) == 14_250
    assert hourly_charge(E1_CREDIT_PER_SECOND_DOUBLED) == 28_500


def test_doubling_the_instance_credit_price_leaves_two_resources_of_two_accounts_unfunded(
        repricing_seeded, doubled_draft):
    tally = version_impact(version=doubled_draft)

    # five live resources of four accounts; the forgotten one is not counted
    assert (tally.resources, tally.accounts) == (5, 4)
    # the four credit-paid E1 cost twice as much; the hold-paid one still holds 1000 tokens
    assert (tally.cost_changed, tally.cost_increased, tally.cost_decreased) == (4, 4, 0)
    assert tally.cannot_price == 0
    # RICH: 683 999.99… ≤ 1 000 000, funded. SHORT: 683 999.99… > 500 000, unfunded.
    # TWO: first 683 999.99… ≤ 800 000 funded, both 1 367 999.99… > 800 000: second unfunded.
    # HOLDER: 1000 tokens against 1000 held, funded.
    assert (tally.unfunded_before, tally.unfunded_after) == (0, 2)
    assert (tally.newly_unfunded, tally.newly_unfunded_credit, tally.newly_unfunded_hold) == (
        2, 2, 0)
    assert tally.newly_unfunded_accounts == 2
    assert tally.newly_funded == 0
    assert {(e["item_hash"], e["owner"]) for e in tally.newly_unfunded_examples} == {
        (item_hash(2), SHORT), (item_hash(4), TWO)}
    second = next(e for e in tally.newly_unfunded_examples if e["owner"] == TWO)
    assert (second["needed"], second["available"]) == ("1367999.9999999999998848", "800000")
    # burn: four E1 at 3.958333333333333333/s × 3600 = 14 249.9999999999999988 each, then
    # 7.916666666666666666/s × 3600 = 28 499.9999999999999976 each
    assert tally.burn_before_per_hour == Decimal("56999.9999999999999952")
    assert tally.burn_after_per_hour == Decimal("113999.9999999999999904")
    assert tally.burn_change_per_hour == Decimal("56999.9999999999999952")
    # as metering charges it: each hour rounded half-up to whole credits
    assert (tally.charged_before_per_hour, tally.charged_after_per_hour) == (57_000, 114_000)


def test_the_impact_summary_shows_decimals_without_trailing_zeros(repricing_seeded, doubled_draft):
    summary = version_impact(version=doubled_draft).as_summary()

    assert summary["burn_before_per_hour"] == "56999.9999999999999952"
    assert summary["burn_change_per_hour"] == "+56999.9999999999999952"
    assert summary["charged_change_per_hour"] == 57_000
    assert summary["newly_unfunded_accounts"] == 2


def test_the_impact_of_the_version_in_force_changes_nothing(repricing_seeded, default_version):
    tally = version_impact(version=default_version)

    assert (tally.resources, tally.cost_changed, tally.newly_unfunded, tally.cannot_price) == (
        5, 0, 0, 0)
    assert tally.burn_before_per_hour == tally.burn_after_per_hour


def test_a_lower_price_funds_again_what_was_unfunded(repricing_seeded, default_version, staff_user):
    # given: SHORT's credits expire in effect (a smaller balance than one day needs now)
    draft = pricing_version_copy(version=default_version, user=staff_user)
    draft.products.filter(product_type="instance").update(price_cu_credit_per_hour=Decimal(7125))
    Resource.objects.filter(item_hash=item_hash(1)).update(
        cost_credit_per_second=Decimal("20"))  # RICH's E1 stored at 1 728 000 a day

    tally = version_impact(version=draft)

    assert tally.unfunded_before == 1 and tally.unfunded_after == 0
    assert tally.newly_funded == 1 and tally.newly_unfunded == 0
    assert tally.cost_decreased == 5 - 1  # four credit E1 cheaper; the hold one unchanged


def test_a_gpu_removed_from_the_catalogue_makes_its_instances_unpriceable_not_an_error(
        repricing_seeded, default_version, staff_user):
    # given: a credit-paid RTX 4090 instance, and a draft without that card
    grant(GPU_OWNER, 10_000_000)
    register(7, instance_content(payment="credit", address=GPU_OWNER, vcpus=6, memory=36864,
                                 rootfs_size_mib=368640, gpus=[gpu("10de:2684")]))
    draft = pricing_version_copy(version=default_version, user=staff_user)
    GpuDevice.objects.filter(version=draft, device_id="10de:2684").delete()

    tally = version_impact(version=draft)

    assert tally.resources == 6 and tally.cannot_price == 1
    [example] = tally.cannot_price_examples
    assert example["item_hash"] == item_hash(7) and example["owner"] == GPU_OWNER
    assert example["reason"].startswith("unknown_gpu_device")
    # it keeps its stored cost in the other numbers: nothing else changes
    assert tally.cost_changed == 0 and tally.newly_unfunded == 0
    assert tally.burn_before_per_hour == tally.burn_after_per_hour


def test_small_batches_give_the_same_numbers(repricing_seeded, doubled_draft):
    whole = version_impact(version=doubled_draft).as_summary()

    assert version_impact(version=doubled_draft, batch_accounts=1).as_summary() == whole


def test_the_preview_is_left_to_a_dry_run_above_the_synchronous_limit(
        repricing_seeded, doubled_draft, settings):
    settings.PRICING_IMPACT_SYNC_MAX_RESOURCES = 4

    preview = version_impact_preview(version=doubled_draft)

    assert preview.tally is None and preview.summary is None
    assert preview.live_resources == 5
    assert preview.fingerprint == version_fingerprint(doubled_draft)


def test_the_preview_is_computed_at_or_below_the_limit(repricing_seeded, doubled_draft, settings):
    settings.PRICING_IMPACT_SYNC_MAX_RESOURCES = 5

    preview = version_impact_preview(version=doubled_draft)

    assert preview.summary["newly_unfunded"] == 2


def test_the_impact_reads_a_bounded_number_of_queries_per_batch(repricing_seeded, doubled_draft,
                                                                django_assert_max_num_queries):
    # owners, the lifecycle settings, then per batch: balances (2) and resources (1) and sizes
    # of referenced files (none here); the table (3)
    with django_assert_max_num_queries(10):
        version_impact(version=doubled_draft)


# --- the admin pages ---------------------------------------------------------------------------

def _url(name: str, *args) -> str:
    from django.urls import reverse

    return reverse(f"admin:pricing_pricingversion_{name}", args=args)


def test_the_change_page_of_a_draft_shows_its_differences_from_the_version_in_force(
        admin_client, doubled_draft):
    response = admin_client.get(_url("change", doubled_draft.pk))

    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="pricing-diff"' in content
    diff = response.context["diff"]
    assert [(c.old, c.new) for c in diff.products[0].changes] == [("14250", "28500")]
    assert "0.055000000000000000" not in content
    for tool in ("differences", "impact", "publish"):
        assert _url(tool, doubled_draft.pk) in content
    assert _url("recalculate", doubled_draft.pk) not in content


def test_the_differences_page_compares_with_any_version_chosen(admin_client, default_version,
                                                               doubled_draft, staff_user):
    other = pricing_version_copy(version=doubled_draft, user=staff_user, name="Same as draft")

    default = admin_client.get(_url("differences", doubled_draft.pk))
    chosen = admin_client.get(_url("differences", doubled_draft.pk), {"against": other.pk})

    assert default.status_code == chosen.status_code == 200
    assert default.context["diff"].base == default_version
    assert "28500" in default.content.decode()
    assert chosen.context["diff"].base == other and chosen.context["diff"].is_empty
    assert 'id="pricing-diff-empty"' in chosen.content.decode()


def test_the_impact_page_shows_the_numbers_of_the_draft(admin_client, repricing_seeded,
                                                         doubled_draft):
    response = admin_client.get(_url("impact", doubled_draft.pk))

    assert response.status_code == 200
    summary = response.context["impact"].summary
    assert (summary["newly_unfunded"], summary["newly_unfunded_accounts"]) == (2, 2)
    content = response.content.decode()
    assert 'id="impact-newly-unfunded">2<' in content
    assert "57,000 → 114,000" in content and "(+57,000)" in content
    assert "56999.9999999999999952 → 113999.9999999999999904" in content


def test_the_publish_page_shows_the_differences_and_the_impact(admin_client, repricing_seeded,
                                                               doubled_draft):
    response = admin_client.get(_url("publish", doubled_draft.pk))

    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="pricing-diff"' in content and 'id="pricing-impact"' in content
    assert response.context["impact"].summary["cost_changed"] == 4


def test_a_large_database_leaves_the_impact_to_a_dry_run_started_from_the_page(
        admin_client, repricing_seeded, doubled_draft, settings,
        django_capture_on_commit_callbacks):
    from credits.models import Recalculation

    settings.PRICING_IMPACT_SYNC_MAX_RESOURCES = 1
    page = admin_client.get(_url("impact", doubled_draft.pk))
    assert 'id="impact-deferred"' in page.content.decode()
    assert page.context["impact"].summary is None

    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(_url("impact", doubled_draft.pk))

    job = Recalculation.objects.get()
    assert job.dry_run and job.version == doubled_draft
    assert response.status_code == 302 and response.url.endswith(f"/recalculation/{job.pk}/change/")
