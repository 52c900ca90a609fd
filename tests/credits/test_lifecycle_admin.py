"""The lifecycle in the admin: settings (one row, with history and a link to the schedule), runs
(list with failures highlighted, detail with errors and the status changes made), pending
deletions (deadline order, time left, shortfall) and the audit of status changes."""
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from credits.models import (
    Account,
    LifecycleRun,
    LifecycleSettings,
    LifecycleTrigger,
    RemovalReason,
    ResourceStatus,
    ResourceStatusChange,
    TokenBalance,
)
from credits.selectors.lifecycle import LIFECYCLE_PERIODIC_TASK_NAME, lifecycle_settings_get
from credits.services.ledger import grant_create
from credits.services.lifecycle import lifecycle_run
from credits.services.resources import resource_register
from pricing.enums import PaymentType
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, T0
from tests.credits.lifecycle_faults import batches_hooked
from tests.pricing.contents import instance_content

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


def _url(model: str, name: str, *args) -> str:
    return reverse(f"admin:credits_{model}_{name}", args=args)


def _text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _rows(html: str) -> list[str]:
    """The result rows of a change list, as HTML."""
    body = html.split('id="result_list"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr>.*?</tr>", body.split("<tbody>", 1)[1], re.S)


@pytest.fixture
def removing(ledger_resource_factory):
    def make(owner, *, delete_after, reason=RemovalReason.CREDIT_INSUFFICIENT, **extra):
        return ledger_resource_factory(owner, status=ResourceStatus.REMOVING,
                                       removal_reason=reason,
                                       removing_since=delete_after - timedelta(hours=24),
                                       delete_after=delete_after, **extra)
    return make


# --- settings ------------------------------------------------------------------------------------

def test_the_settings_list_opens_the_one_row_created_from_the_defaults(admin_client, settings):
    settings.LIFECYCLE_GRACE_HOURS = 36
    assert not LifecycleSettings.objects.exists()

    response = admin_client.get(_url("lifecyclesettings", "changelist"))

    assert response.status_code == 302
    assert response["Location"] == _url("lifecyclesettings", "change", 1)
    row = LifecycleSettings.objects.get()
    assert (row.pk, row.grace_hours, row.metering_enabled, row.funding_horizon_hours) \
        == (1, 36, True, 24)
    page = _text(admin_client.get(response["Location"]))
    assert "Default (Django settings): 36 h." in page


def test_the_settings_row_cannot_be_added_or_deleted(admin_client):
    admin_client.get(_url("lifecyclesettings", "changelist"))

    assert admin_client.get(_url("lifecyclesettings", "add")).status_code == 403
    assert admin_client.post(_url("lifecyclesettings", "delete", 1),
                             {"post": "yes"}).status_code == 403
    assert LifecycleSettings.objects.count() == 1


def test_editing_the_settings_is_kept_in_history_with_who_did_it(admin_client, admin_user):
    admin_client.get(_url("lifecyclesettings", "changelist"))

    response = admin_client.post(_url("lifecyclesettings", "change", 1), {
        "grace_hours": "48", "metering_enabled": "on", "funding_horizon_hours": "72"})

    assert response.status_code == 302, response.content
    row = LifecycleSettings.objects.get()
    assert (row.grace_hours, row.funding_horizon_hours) == (48, 72)
    latest = LifecycleSettings.history.latest()
    assert (latest.history_type, latest.history_user, latest.grace_hours) \
        == ("~", admin_user, 48)
    assert LifecycleSettings.history.earliest().history_user is None  # created from defaults
    history = _text(admin_client.get(_url("lifecyclesettings", "history", 1)))
    assert admin_user.get_username() in history


def test_a_funding_horizon_of_zero_hours_is_refused(admin_client):
    admin_client.get(_url("lifecyclesettings", "changelist"))

    response = admin_client.post(_url("lifecyclesettings", "change", 1), {
        "grace_hours": "24", "metering_enabled": "on", "funding_horizon_hours": "0"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["funding_horizon_hours"]
    assert LifecycleSettings.objects.get().funding_horizon_hours == 24


def test_the_settings_page_links_to_the_periodic_task_of_the_schedule(admin_client):
    task = PeriodicTask.objects.get(name=LIFECYCLE_PERIODIC_TASK_NAME)  # from the migration

    page = _text(admin_client.get(_url("lifecyclesettings", "change", 1)))

    assert reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]) in page
    assert "enabled" in page


def test_the_settings_page_says_when_the_periodic_task_is_missing(admin_client):
    PeriodicTask.objects.filter(name=LIFECYCLE_PERIODIC_TASK_NAME).delete()

    page = _text(admin_client.get(_url("lifecyclesettings", "change", 1)))

    assert "No periodic task named" in page


# --- runs ----------------------------------------------------------------------------------------

@pytest.fixture
def runs(settings, default_version, account):
    """A run that flagged one VM (charged its first hour), then one whose batch failed."""
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True
    grant_create(address=ADDRESS, amount=342_000, expires_at=None, reference="admin-runs",
                 actor="test", at=T0)
    content = instance_content(payment="credit")
    content["address"] = ADDRESS
    vm = resource_register(item_hash="d" * 64, message_type="INSTANCE", content=content,
                           actor="test", at=T0).resource
    flagging = lifecycle_run(at=T0 + HOUR)

    def fail(index):
        raise RuntimeError("disk on fire")

    with batches_hooked(fail):
        failed = lifecycle_run(at=T0 + 2 * HOUR)
    return {"vm": vm, "flagging": flagging, "failed": failed}


def test_the_runs_list_shows_counts_newest_first_and_highlights_failures(admin_client, runs):
    rows = _rows(_text(admin_client.get(_url("lifecyclerun", "changelist"))))

    assert len(rows) == 2
    failed_row, flagging_row = rows
    assert "Finished with errors" in failed_row and "color:#ba2121" in failed_row
    assert "Succeeded" in flagging_row and "color:#ba2121" not in flagging_row
    cells = re.findall(r"<td[^>]*>(.*?)</td>", flagging_row, re.S)
    # accounts, resources, charges, credits charged, flagged / restored / removed, errors
    assert cells[2:8] == ["1", "1", "1", "14,250", "1 / 0 / 0", "0"]


def test_the_runs_list_filters_failed_runs(admin_client, runs):
    rows = _rows(_text(admin_client.get(_url("lifecyclerun", "changelist"),
                                        {"status__exact": "failed"})))
    assert len(rows) == 1 and "Finished with errors" in rows[0]


def test_a_run_page_shows_its_errors(admin_client, runs):
    page = _text(admin_client.get(_url("lifecyclerun", "change", runs["failed"].pk)))

    assert "disk on fire" in page
    assert "Finished with errors" in page


def test_a_run_page_shows_the_status_changes_it_made_and_links_to_all_of_them(admin_client,
                                                                               runs):
    run = runs["flagging"]
    page = _text(admin_client.get(_url("lifecyclerun", "change", run.pk)))

    assert runs["vm"].item_hash in page
    link = f"{_url('resourcestatuschange', 'changelist')}?run={run.pk}"
    assert link in page
    rows = _rows(_text(admin_client.get(link)))
    assert len(rows) == 1
    assert runs["vm"].item_hash in rows[0] and "Removing (grace period)" in rows[0]


def test_runs_cannot_be_added_changed_or_deleted(admin_client, runs):
    run = runs["flagging"]
    assert admin_client.get(_url("lifecyclerun", "add")).status_code == 403
    assert admin_client.post(_url("lifecyclerun", "delete", run.pk),
                             {"post": "yes"}).status_code == 403
    page = _text(admin_client.get(_url("lifecyclerun", "change", run.pk)))
    assert 'name="_save"' not in page


def test_a_sharded_run_lists_its_shards_and_their_changes(admin_client, ledger_resource_factory,
                                                          account):
    now = timezone.now()
    parent = LifecycleRun.objects.create(started_at=now, as_of=now, trigger=LifecycleTrigger.BEAT,
                                         shard_count=2, flagged=1)
    shard = LifecycleRun.objects.create(started_at=now, as_of=now, trigger=LifecycleTrigger.SHARD,
                                        shard_index=1, shard_count=2, parent=parent, flagged=1)
    resource = ledger_resource_factory(account)
    ResourceStatusChange.objects.create(resource=resource, from_status="processed",
                                        to_status="removing", actor="lifecycle", run=shard)

    page = _text(admin_client.get(_url("lifecyclerun", "change", parent.pk)))
    changes = _rows(_text(admin_client.get(_url("resourcestatuschange", "changelist"),
                                           {"run": parent.pk})))

    assert _url("lifecyclerun", "change", shard.pk) in page
    assert resource.item_hash in page
    assert len(changes) == 1


# --- pending deletions ---------------------------------------------------------------------------

def test_pending_deletions_are_listed_by_deadline_with_time_left_and_shortfall(
        admin_client, account, other_account, removing, ledger_resource_factory):
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        # given an owner short of 296 credits for one day, and one that is funded
        late = removing(account, delete_after=now + timedelta(hours=5, minutes=12, seconds=30),
                        cost_credit_per_second="0.01")
        ledger_resource_factory(account, cost_credit_per_second="0.005")
        grant_create(address=ADDRESS, amount=1000, expires_at=None, reference="admin-1000",
                     actor="test")
        overdue = removing(other_account, delete_after=now - timedelta(minutes=1),
                           cost_credit_per_second="0.01")
        grant_create(address=OTHER_ADDRESS, amount=864, expires_at=None, reference="admin-864",
                     actor="test")
        soon = removing(other_account, delete_after=now + timedelta(minutes=7))
        ledger_resource_factory(account)  # processed: not listed

        page = _text(admin_client.get(_url("pendingdeletion", "changelist")))

    rows = _rows(page)
    assert [resource.item_hash in row for row, resource
            in zip(rows, (overdue, soon, late), strict=True)] == [True, True, True]
    assert "overdue" in rows[0] and "funded" in rows[0]
    assert "7 min" in rows[1]
    # (0.01 + 0.005) × 86 400 = 1296 credits for one day, 1000 held: 296 short
    assert "5 h 12 min" in rows[2] and "296 credits" in rows[2]
    # the removal reason follows from the payment (a filter, and on the resource's page)
    assert ADDRESS in rows[2] and ">Credit<" in rows[2]
    assert "24 h of its credit-paid resources" in page


def test_a_fractional_credit_shortfall_is_shown_rounded_up(admin_client, account, removing):
    removing(account, delete_after=timezone.now() + HOUR, cost_credit_per_second="0.0000001")

    rows = _rows(_text(admin_client.get(_url("pendingdeletion", "changelist"))))

    assert "1 credits" in rows[0]  # 0.00864 credits short: one whole credit to add


def test_a_hold_shortfall_is_shown_in_tokens_of_its_chain(admin_client, account, removing):
    removing(account, delete_after=timezone.now() + HOUR, payment_type=PaymentType.HOLD,
             payment_chain="ETH", cost_hold="1500", reason=RemovalReason.BALANCE_INSUFFICIENT)
    TokenBalance.objects.create(account=account, chain="ETH", balance=Decimal("999.5"),
                                height=3)

    rows = _rows(_text(admin_client.get(_url("pendingdeletion", "changelist"))))

    assert "500.5 tokens on ETH" in rows[0]


def test_pending_deletions_filter_by_reason_and_payment_type(admin_client, account, removing):
    now = timezone.now()
    credit = removing(account, delete_after=now + HOUR)
    hold = removing(account, delete_after=now + 2 * HOUR, payment_type=PaymentType.HOLD,
                    payment_chain="ETH", reason=RemovalReason.BALANCE_INSUFFICIENT)
    url = _url("pendingdeletion", "changelist")

    by_reason = _rows(_text(admin_client.get(url, {"removal_reason__exact":
                                                   "balance_insufficient"})))
    by_payment = _rows(_text(admin_client.get(url, {"payment_type__exact": "credit"})))

    assert len(by_reason) == 1 and hold.item_hash in by_reason[0]
    assert len(by_payment) == 1 and credit.item_hash in by_payment[0]


def test_a_pending_deletion_page_explains_its_shortfall(admin_client, account, removing):
    resource = removing(account, delete_after=timezone.now() + HOUR,
                        cost_credit_per_second="0.01")
    grant_create(address=ADDRESS, amount=100, expires_at=None, reference="admin-100",
                 actor="test")

    page = _text(admin_client.get(_url("pendingdeletion", "change", resource.pk)))

    assert "764 credits" in page and "needs 864 credits" in page and "has 100" in page
    assert _url("resource", "change", resource.pk) in page


def test_a_resource_no_longer_removing_is_not_a_pending_deletion(admin_client, account,
                                                                  ledger_resource_factory):
    resource = ledger_resource_factory(account)

    response = admin_client.get(_url("pendingdeletion", "change", resource.pk))

    assert response.status_code == 302  # "does not exist", back to the list


def test_the_pending_deletions_list_takes_the_same_queries_for_few_and_many_owners(
        admin_client, removing):
    now = timezone.now()

    def owners(count, start):
        for number in range(start, start + count):
            owner = Account.objects.create(address=f"0x{number:040x}")
            removing(owner, delete_after=now + HOUR, cost_credit_per_second="0.01")

    lifecycle_settings_get()
    owners(2, 1)
    url = _url("pendingdeletion", "changelist")
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    owners(40, 100)
    with CaptureQueriesContext(connection) as many:
        admin_client.get(url)

    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_staff_user_with_the_view_permission_sees_pending_deletions(client, django_user_model,
                                                                      account, removing):
    resource = removing(account, delete_after=timezone.now() + HOUR)
    user = django_user_model.objects.create_user(username="operator", password="unused",
                                                 is_staff=True)
    client.force_login(user)
    url = _url("pendingdeletion", "changelist")
    assert client.get(url).status_code == 403

    user.user_permissions.add(Permission.objects.get(codename="view_pendingdeletion"))

    assert resource.item_hash in _text(client.get(url))


# --- status changes ------------------------------------------------------------------------------

def test_status_changes_are_listed_read_only_with_filters_and_search(admin_client, runs,
                                                                     ledger_resource_factory,
                                                                     account):
    other = ledger_resource_factory(account, item_hash="f" * 64)
    ResourceStatusChange.objects.create(resource=other, from_status="processed",
                                        to_status="forgotten", actor="api-key:abc")
    url = _url("resourcestatuschange", "changelist")

    everything = _rows(_text(admin_client.get(url)))
    to_removing = _rows(_text(admin_client.get(url, {"to_status__exact": "removing"})))
    from_processed = _rows(_text(admin_client.get(url, {"from_status__exact": "processed"})))
    no_run = _rows(_text(admin_client.get(url, {"run": "none"})))
    searched = _rows(_text(admin_client.get(url, {"q": "f" * 20})))

    # registration of the VM, its flagging, and the forgetting
    assert len(everything) == 3
    assert len(to_removing) == 1 and runs["vm"].item_hash in to_removing[0]
    assert len(from_processed) == 2
    assert len(no_run) == 2 and all("run " not in row for row in no_run)
    assert len(searched) == 1 and "Forgotten" in searched[0]
    assert admin_client.get(_url("resourcestatuschange", "add")).status_code == 403
    change = ResourceStatusChange.objects.get(resource=other)
    assert admin_client.post(_url("resourcestatuschange", "delete", change.pk),
                             {"post": "yes"}).status_code == 403


def test_a_run_filter_that_is_not_a_run_does_not_break_the_page(admin_client):
    response = admin_client.get(_url("resourcestatuschange", "changelist"), {"run": "abc"})
    assert response.status_code in (200, 302)
