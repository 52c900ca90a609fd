"""Recalculating live resources with the version in force: rows and totals replaced, an audit
line each, a summary, idempotent, a failed batch rolled back alone, unpriceable resources left
as they were, past charges never re-priced, and the refusals."""
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from credits.models import (
    Charge,
    CostRow,
    Recalculation,
    RecalculationLine,
    RecalculationStatus,
    Resource,
)
from credits.services.lifecycle import lifecycle_run
from credits.services.repricing import (
    RecalculationRefused,
    recalculation_refusal,
    recalculation_run,
    recalculation_start,
)
from credits.tasks import recalculation_run_task
from credits_project.celery import app as celery_app
from pricing.models import GpuDevice
from pricing.services import pricing_version_copy, pricing_version_publish
from tests.credits.repricing_scenario import (
    E1_CREDIT_PER_SECOND,
    E1_CREDIT_PER_SECOND_DOUBLED,
    GPU_OWNER,
    SHORT,
    grant,
    item_hash,
    register,
)
from tests.pricing.contents import gpu, instance_content

pytestmark = pytest.mark.django_db



@pytest.fixture
def doubled(doubled_draft):
    """The doubled draft, published: the version in force."""
    return pricing_version_publish(version=doubled_draft)


@pytest.fixture
def recalculate(celery_eager, django_capture_on_commit_callbacks, staff_user):
    """`recalculate(version)`: start a job as staff; the task runs when the start commits."""
    def run(version, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            job = recalculation_start(version=version, user=staff_user, **kwargs)
        job.refresh_from_db()
        return job
    return run


def snapshot() -> dict:
    """Every resource's totals, version and cost rows (with their ids: a replaced row is new)."""
    return {
        resource.item_hash: (resource.pricing_version_id, resource.cost_hold,
                             resource.cost_stream_per_second, resource.cost_credit_per_second,
                             tuple(CostRow.objects.filter(resource=resource).order_by("position")
                                   .values_list("id", "pricing_version_id",
                                                "cost_credit_per_second")))
        for resource in Resource.objects.order_by("id")}


# --- the job ---------------------------------------------------------------------------------

def test_recalculation_replaces_rows_totals_and_version_of_every_live_resource(
        repricing_seeded, default_version, doubled, recalculate, staff_user):
    job = recalculate(doubled)

    # then: done, with a summary
    assert job.status == RecalculationStatus.SUCCEEDED and job.finished_at is not None
    assert job.created_by == staff_user and not job.dry_run
    assert (job.total, job.done, job.recalculated, job.cost_changed, job.unchanged,
            job.failed) == (5, 5, 5, 4, 0, 0)
    assert job.burn_before_per_hour == Decimal("56999.9999999999999952")
    assert job.burn_after_per_hour == Decimal("113999.9999999999999904")
    assert job.summary["newly_unfunded"] == 2 and job.summary["newly_unfunded_accounts"] == 2
    # the credit-paid E1 cost twice as much, rows and totals with the new version
    for number in (1, 2, 3, 4):
        resource = Resource.objects.get(item_hash=item_hash(number))
        assert resource.pricing_version == doubled
        assert resource.cost_credit_per_second == E1_CREDIT_PER_SECOND_DOUBLED
        rows = list(resource.cost_rows.order_by("position"))
        assert {row.pricing_version_id for row in rows} == {doubled.pk}
        assert sum(row.cost_credit_per_second for row in rows) == E1_CREDIT_PER_SECOND_DOUBLED
    # the hold-paid one keeps its hold cost; its credit column follows the new price
    hold = Resource.objects.get(item_hash=item_hash(5))
    assert hold.cost_hold == Decimal(1000) and hold.pricing_version == doubled
    # the forgotten one is not touched
    forgotten = Resource.objects.get(item_hash=item_hash(6))
    assert forgotten.pricing_version == default_version
    assert forgotten.cost_credit_per_second == E1_CREDIT_PER_SECOND


def test_every_recalculated_resource_has_an_audit_line_with_its_totals_before_and_after(
        repricing_seeded, doubled, recalculate):
    job = recalculate(doubled)

    lines = {line.item_hash: line for line in job.lines.all()}
    assert set(lines) == {item_hash(n) for n in range(1, 6)}
    short = lines[item_hash(2)]
    assert short.outcome == "recalculated" and short.reason == ""
    assert (short.previous_cost_credit_per_second, short.cost_credit_per_second) == (
        E1_CREDIT_PER_SECOND, E1_CREDIT_PER_SECOND_DOUBLED)
    assert short.previous_version_id != doubled.pk
    assert short.resource_id == Resource.objects.get(item_hash=item_hash(2)).pk


def test_recalculating_twice_with_the_same_version_changes_nothing_the_second_time(
        repricing_seeded, doubled, recalculate):
    recalculate(doubled)
    after_first = snapshot()

    second = recalculate(doubled)

    assert snapshot() == after_first  # same rows (same ids), same totals
    assert (second.recalculated, second.unchanged, second.failed) == (0, 5, 0)
    assert second.status == RecalculationStatus.SUCCEEDED
    assert not second.lines.exists()
    assert second.summary["cost_changed"] == 0
    assert second.burn_before_per_hour == second.burn_after_per_hour


def test_a_failed_batch_is_rolled_back_alone_and_reported(repricing_seeded, default_version,
                                                          doubled, staff_user):
    # given: one account per batch; the second batch (SHORT, the second owner by id) fails
    # after it wrote
    job = Recalculation.objects.create(version=doubled, created_by=staff_user, total=5)
    owners = sorted(Resource.objects.filter(status__in=["processed", "removing"])
                    .values_list("owner_id", flat=True).distinct())
    failing_owner = owners[1]

    def fail_batch(index):
        if index == 1:
            raise RuntimeError("disk full")

    job = recalculation_run(recalculation_id=job.pk, batch_accounts=1, fail_batch=fail_batch)

    # then: that account's resources are as before, the others recalculated
    failing = Resource.objects.filter(owner_id=failing_owner)
    assert {r.pricing_version_id for r in failing} == {default_version.pk}
    assert not CostRow.objects.filter(resource__owner_id=failing_owner,
                                      pricing_version=doubled).exists()
    others = Resource.objects.filter(status="processed").exclude(owner_id=failing_owner)
    assert {r.pricing_version_id for r in others} == {doubled.pk}
    assert not RecalculationLine.objects.filter(resource_id__in=failing.values("pk")).exists()
    job.refresh_from_db()
    assert job.status == RecalculationStatus.FAILED
    assert (job.done, job.failed, job.recalculated) == (5, failing.count(), 5 - failing.count())
    assert "batch 1" in job.error_messages and "disk full" in job.error_messages


def test_a_resource_the_version_cannot_price_keeps_its_costs_and_is_reported(
        repricing_seeded, default_version, recalculate, staff_user):
    # given: a credit-paid RTX 4090 instance, and a version in force without that card
    grant(GPU_OWNER, 10_000_000)
    register(7, instance_content(payment="credit", address=GPU_OWNER, vcpus=6, memory=36864,
                                 rootfs_size_mib=368640, gpus=[gpu("10de:2684")]))
    before = snapshot()[item_hash(7)]
    draft = pricing_version_copy(version=default_version, user=staff_user)
    GpuDevice.objects.filter(version=draft, device_id="10de:2684").delete()
    version = pricing_version_publish(version=draft)

    job = recalculate(version)

    assert snapshot()[item_hash(7)] == before
    assert (job.done, job.failed, job.recalculated) == (6, 1, 5)
    assert job.status == RecalculationStatus.FAILED
    line = job.lines.get(item_hash=item_hash(7))
    assert line.outcome == "failed" and line.reason.startswith("unknown_gpu_device")
    assert line.cost_credit_per_second is None
    assert job.summary["cannot_price"] == 1


def test_past_charges_keep_the_price_they_were_charged_at(default_version, staff_user,
                                                          recalculate):
    # given: an E1 registered three hours ago and metered for its whole hours
    three_hours_ago = timezone.now() - timedelta(hours=3, minutes=1)
    grant(SHORT, 500_000)
    from credits.services.resources import resource_register

    resource_register(item_hash=item_hash(1), message_type="INSTANCE", actor="test",
                      content=instance_content(payment="credit", address=SHORT),
                      at=three_hours_ago)
    lifecycle_run()
    charges_before = list(Charge.objects.order_by("hour_index").values_list(
        "hour_index", "amount_requested", "pricing_version_id"))
    assert charges_before == [(k, 14_250, default_version.pk) for k in range(3)]
    draft = pricing_version_copy(version=default_version, user=staff_user)
    draft.products.filter(product_type="instance").update(price_cu_credit_per_hour=28500)
    doubled = pricing_version_publish(version=draft)

    recalculate(doubled)

    assert list(Charge.objects.order_by("hour_index").values_list(
        "hour_index", "amount_requested", "pricing_version_id")) == charges_before
    assert Resource.objects.get().cost_credit_per_second == E1_CREDIT_PER_SECOND_DOUBLED


def test_a_duplicate_delivery_of_the_task_does_nothing(repricing_seeded, doubled, recalculate):
    job = recalculate(doubled)
    lines = job.lines.count()

    assert recalculation_run_task(job.pk) == job.pk

    job.refresh_from_db()
    assert job.lines.count() == lines and job.done == 5


# --- dry runs ----------------------------------------------------------------------------------

def test_a_dry_run_of_a_draft_computes_the_impact_and_writes_no_resource(
        repricing_seeded, doubled_draft, recalculate):
    before = snapshot()

    job = recalculate(doubled_draft, dry_run=True)

    assert snapshot() == before
    assert job.dry_run and job.status == RecalculationStatus.SUCCEEDED
    assert (job.done, job.recalculated, job.cost_changed) == (5, 5, 4)
    assert job.summary["newly_unfunded"] == 2
    assert job.summary["burn_change_per_hour"] == "+56999.9999999999999952"
    assert not job.lines.exists()


# --- refusals ----------------------------------------------------------------------------------

def test_a_draft_cannot_be_applied_to_resources(repricing_seeded, doubled_draft):
    assert "only the published version in force" in recalculation_refusal(version=doubled_draft)
    with pytest.raises(RecalculationRefused):
        recalculation_start(version=doubled_draft)
    assert not Recalculation.objects.exists()


def test_a_version_scheduled_for_later_cannot_be_applied_yet(repricing_seeded, doubled_draft):
    later = pricing_version_publish(version=doubled_draft,
                                    effective_from=timezone.now() + timedelta(days=1))

    assert "takes effect on" in recalculation_refusal(version=later)


def test_a_second_job_waits_for_the_first(repricing_seeded, doubled,
                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first = recalculation_start(version=doubled)

    with pytest.raises(RecalculationRefused, match=f"#{first.pk}"):
        recalculation_start(version=doubled)


def test_a_job_whose_worker_died_long_ago_does_not_block_a_new_one(
        repricing_seeded, doubled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first = recalculation_start(version=doubled)
    Recalculation.objects.filter(pk=first.pk).update(
        status=RecalculationStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(hours=1))

    assert recalculation_refusal(version=doubled) == ""


def test_the_task_is_registered_under_its_name(db):
    assert "pricing.tasks.recalculation_run_task" in celery_app.tasks


# --- the admin pages ---------------------------------------------------------------------------

def _url(name: str, *args) -> str:
    from django.urls import reverse

    return reverse(f"admin:pricing_pricingversion_{name}", args=args)


def test_the_version_in_force_offers_recalculation_and_a_draft_does_not(admin_client, doubled,
                                                                        default_version):
    in_force = admin_client.get(_url("change", doubled.pk)).content.decode()
    superseded = admin_client.get(_url("change", default_version.pk)).content.decode()

    assert _url("recalculate", doubled.pk) in in_force
    assert _url("recalculate", default_version.pk) not in superseded


def test_the_confirmation_page_shows_the_impact_then_starts_the_job(
        admin_client, repricing_seeded, doubled, celery_eager, django_capture_on_commit_callbacks):
    page = admin_client.get(_url("recalculate", doubled.pk))
    assert page.status_code == 200 and page.context["refusal"] == ""
    assert page.context["impact"].summary["newly_unfunded"] == 2
    assert 'id="recalculate-start"' in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(_url("recalculate", doubled.pk))

    job = Recalculation.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"/{job.pk}/change/")
    job_page = admin_client.get(response.url)
    content = job_page.content.decode()
    assert job_page.status_code == 200
    assert 'id="job-status">Succeeded<' in content and 'id="job-progress">5 / 5<' in content
    assert 'id="job-recalculated">5<' in content
    assert "3.958333333333333333 → 7.916666666666666666" in content
    assert 'http-equiv="refresh"' not in content  # finished: no more reloading


def test_a_draft_is_refused_on_the_confirmation_page_and_nothing_starts(
        admin_client, repricing_seeded, doubled_draft):
    page = admin_client.get(_url("recalculate", doubled_draft.pk))
    response = admin_client.post(_url("recalculate", doubled_draft.pk))

    assert "only the published version in force" in page.content.decode()
    assert response.status_code == 200 and not Recalculation.objects.exists()


def test_a_queued_job_page_reloads_itself_and_says_it_waits_for_a_worker(
        admin_client, repricing_seeded, doubled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job = recalculation_start(version=doubled)

    content = admin_client.get(
        f"/admin/credits/recalculation/{job.pk}/change/").content.decode()

    assert '<meta http-equiv="refresh" content="2">' in content
    assert "waiting for a Celery worker" in content


def test_the_list_action_leads_to_the_confirmation_page_of_the_one_version_selected(
        admin_client, doubled, default_version):
    one = admin_client.post(_url("changelist"), {"action": "recalculate_resources",
                                                 "_selected_action": [doubled.pk]})
    two = admin_client.post(_url("changelist"), {"action": "recalculate_resources",
                                                 "_selected_action": [doubled.pk,
                                                                      default_version.pk]},
                            follow=True)

    assert one.status_code == 302 and one.url == _url("recalculate", doubled.pk)
    assert "Select exactly one version" in two.content.decode()


def test_the_jobs_list_renders(admin_client, repricing_seeded, doubled, recalculate):
    recalculate(doubled)

    response = admin_client.get("/admin/credits/recalculation/")

    assert response.status_code == 200 and "5 / 5" in response.content.decode()


def test_a_staff_member_without_the_permission_cannot_start_a_recalculation(
        client, django_user_model, doubled):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_pricingversion"))
    client.force_login(user)

    assert client.get(_url("recalculate", doubled.pk)).status_code == 403
    assert client.post(_url("recalculate", doubled.pk)).status_code == 403
    assert not Recalculation.objects.exists()
