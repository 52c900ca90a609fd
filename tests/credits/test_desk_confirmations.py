"""The pending-deletions desk's confirmation pages say, for each selected resource, what WILL
happen (restored, refused and why, extended, removed, skipped); their button counts only what can
happen and is left out when nothing can; their form posts only those resources, so the result is
what the page said. The services still decide: what changed between the page and the POST is
refused with the service's message.

The resources are flagged by real lifecycle runs at instants before the real now (the pages
compute countdowns and shortfalls at the real now)."""
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import constants as message_levels
from django.urls import reverse
from django.utils import timezone

from credits.admin.desk_operations import OPERATIONS, Outcome, predict
from credits.models import Resource, ResourceStatus, ResourceStatusChange, StatusChangeReason
from credits.selectors.lifecycle import Shortfall
from credits.services.ledger import expense_create, grant_create
from credits.services.lifecycle import lifecycle_run
from credits.services.operator import resource_restore
from credits.services.resources import resource_register
from pricing.enums import PaymentType
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS
from tests.pricing.contents import instance_content

HOUR = timedelta(hours=1)
THIRD_ADDRESS = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
ONE_DAY_OF_E1 = 342_000  # credits that fund one day of the PRICING.md E1 instance
E1_PER_HOUR = 14_250  # its hourly charge: what its owner lacks after the first hour

CHANGELIST = "admin:credits_pendingdeletion_changelist"


@pytest.fixture(autouse=True)
def _time_travel_allowed(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True


def _operate(name):
    return reverse("admin:credits_pendingdeletion_operate", args=[name])


_counter = iter(range(1, 10**9))


def _grant(address, amount, at):
    grant_create(address=address, amount=amount, expires_at=None,
                 reference=f"confirm-test-{next(_counter)}", actor="test", at=at)


def _flagged(owners: dict[str, int], *, flagged_at) -> dict[str, Resource]:
    """An E1 VM per owner, funded for one day, charged its first hour and flagged by one run at
    `flagged_at` (each owner is then 14 250 credits short); then each owner is granted its
    top-up (a minute ago: after the run, which would have counted it)."""
    resources = {}
    for address in owners:
        _grant(address, ONE_DAY_OF_E1, flagged_at - HOUR)
        content = instance_content(payment="credit")
        content["address"] = address
        resources[address] = resource_register(
            item_hash=f"{next(_counter):064x}", message_type="INSTANCE", content=content,
            actor="test", at=flagged_at - HOUR).resource
    lifecycle_run(at=flagged_at)
    for address, top_up in owners.items():
        if top_up:
            _grant(address, top_up, timezone.now() - timedelta(minutes=1))
    for resource in resources.values():
        resource.refresh_from_db()
        assert resource.status == ResourceStatus.REMOVING
    return resources


@pytest.fixture
def desk(db):
    """Two VMs pending deletion, flagged an hour ago: `funded`, whose owner topped up since, and
    `short`, whose owner is still 14 250 credits short."""
    resources = _flagged({ADDRESS: 100_000, OTHER_ADDRESS: 0},
                         flagged_at=timezone.now() - HOUR)
    return {"funded": resources[ADDRESS], "short": resources[OTHER_ADDRESS]}


@pytest.fixture
def funded(desk):
    return desk["funded"]


@pytest.fixture
def short(desk):
    return desk["short"]


def _hidden(page: str, name: str) -> set[int]:
    [value] = re.findall(rf'<input type="hidden" name="{name}" value="([^"]*)">', page)
    return {int(part) for part in value.split(",") if part}


def _row(page: str, resource: Resource) -> str:
    [row] = re.findall(rf'<tr[^>]*data-item-hash="{resource.item_hash}".*?</tr>', page, re.S)
    return row


def _buttons(page: str) -> list[str]:
    return re.findall(r'<input type="submit"[^>]*name="confirm"\s+value="([^"]*)"', page)


def _select(admin_client, action, resources):
    response = admin_client.post(reverse(CHANGELIST), {
        "action": action, "_selected_action": [resource.pk for resource in resources]})
    assert response.status_code == 200
    return response.content.decode()


def _messages(response) -> list[tuple[int, str]]:
    return [(message.level, message.message) for message in response.context["messages"]]


def _operator_rows(resource):
    return list(ResourceStatusChange.objects.filter(resource=resource, run__isnull=True)
                .exclude(reason=StatusChangeReason.REGISTERED))


def _reloaded(resource):
    resource.refresh_from_db()
    return resource


# --- restore ---------------------------------------------------------------------------------

def test_the_restore_page_says_what_will_happen_and_counts_only_what_can(admin_client, funded,
                                                                         short):
    page = _select(admin_client, "restore_selected", [funded, short])

    assert ">will be restored<" in _row(page, funded)
    assert "will be refused: its owner is short by 14,250 credits" in _row(page, short)
    assert "restored" not in _row(page, short)
    assert _buttons(page) == ["Yes, restore 1 resource"]
    # the form posts only the resource that will be restored
    assert _hidden(page, "ids") == {funded.pk}
    assert _hidden(page, "also_shown") == {short.pk}
    assert "1 of these cannot be restored now: its owner is short" in page


def test_confirming_a_restore_does_what_the_page_said(admin_client, funded, short):
    page = _select(admin_client, "restore_selected", [funded, short])

    response = admin_client.post(_operate("restore"), {
        "ids": ",".join(map(str, _hidden(page, "ids"))),
        "also_shown": ",".join(map(str, _hidden(page, "also_shown"))),
        "reason": "", "confirm": "yes"}, follow=True)

    assert _messages(response) == [(message_levels.SUCCESS,
                                    f"Restored {funded.item_hash}: back to processed (its owner "
                                    f"is funded).")]
    assert _reloaded(funded).status == ResourceStatus.PROCESSED
    assert _reloaded(short).status == ResourceStatus.REMOVING
    assert _operator_rows(short) == []


def test_the_restore_button_counts_in_the_plural(admin_client, db):
    resources = _flagged({ADDRESS: 100_000, THIRD_ADDRESS: 100_000},
                         flagged_at=timezone.now() - HOUR)
    funded, also_funded = resources[ADDRESS], resources[THIRD_ADDRESS]

    page = _select(admin_client, "restore_selected", [funded, also_funded])

    assert _buttons(page) == ["Yes, restore 2 resources"]
    assert _hidden(page, "ids") == {funded.pk, also_funded.pk}
    assert "cannot be restored" not in page


def test_when_no_resource_can_be_restored_there_is_no_button_and_the_page_says_why(
        admin_client, short):
    page = _select(admin_client, "restore_selected", [short])

    assert _buttons(page) == []
    assert 'name="ids"' not in page and 'name="reason"' not in page
    assert "Nothing can be restored now: 1 resource will be refused (see why above)." in page
    assert "will be refused: its owner is short by 14,250 credits" in _row(page, short)


def test_a_restore_refused_between_the_page_and_the_post_shows_the_services_refusal(
        admin_client, funded):
    # given: the page says it will be restored
    page = _select(admin_client, "restore_selected", [funded])
    assert ">will be restored<" in _row(page, funded)
    # when: its owner's top-up is spent before the operator confirms
    expense_create(address=ADDRESS, amount=100_000, reference="spent-meanwhile", actor="test")
    response = admin_client.post(_operate("restore"), {
        "ids": ",".join(map(str, _hidden(page, "ids"))), "reason": "", "confirm": "yes"},
        follow=True)

    # then: the service refused it, with the owner's shortfall
    [(level, text)] = _messages(response)
    assert level == message_levels.ERROR
    assert text.startswith(f"Not restored {funded.item_hash}: Not funded")
    assert "short by 14,250 credits" in text
    assert _reloaded(funded).status == ResourceStatus.REMOVING


def test_a_form_error_shows_every_selected_resource_again(admin_client, funded, short):
    page = _select(admin_client, "restore_selected", [funded, short])

    response = admin_client.post(_operate("restore"), {
        "ids": ",".join(map(str, _hidden(page, "ids"))),
        "also_shown": ",".join(map(str, _hidden(page, "also_shown"))),
        "reason": "x" * 500, "confirm": "yes"})

    again = response.content.decode()
    assert response.status_code == 200 and "Please correct the errors below." in again
    assert ">will be restored<" in _row(again, funded)
    assert "will be refused" in _row(again, short)
    assert (_hidden(again, "ids"), _hidden(again, "also_shown")) == ({funded.pk}, {short.pk})
    assert _reloaded(funded).status == ResourceStatus.REMOVING


# --- skipped, extend, delete -----------------------------------------------------------------

def test_a_resource_no_longer_pending_is_skipped_and_left_out(admin_client, funded, short):
    resource_restore(item_hash=funded.item_hash, actor="staff:bob")  # someone else, first

    page = admin_client.get(_operate("delete"), {"ids": f"{funded.pk},{short.pk}"})

    content = page.content.decode()
    assert "not pending deletion any more (it is processed now): skipped" in _row(content,
                                                                                  funded)
    assert "will be removed now (final)" in _row(content, short)
    assert _buttons(content) == ["Yes, delete 1 resource now"]
    assert _hidden(content, "ids") == {short.pk}
    assert "1 of these is not pending deletion any more" in content


def test_when_nothing_is_pending_any_more_the_delete_page_has_no_button(admin_client, funded):
    resource_restore(item_hash=funded.item_hash, actor="staff:bob")

    content = admin_client.get(_operate("delete"), {"ids": funded.pk}).content.decode()

    assert _buttons(content) == []
    assert "Nothing can be deleted: 1 resource is not pending deletion any more." in content


def test_the_extend_page_counts_each_pending_resource(admin_client, funded, short):
    page = _select(admin_client, "extend_grace_selected", [funded, short])

    assert ">will be extended<" in _row(page, funded) and ">will be extended<" in _row(page,
                                                                                         short)
    assert _buttons(page) == ["Yes, extend the grace of 2 resources"]


def test_an_overdue_resource_says_how_many_hours_its_extension_needs_as_the_service_does(
        admin_client, db):
    # given: a deadline that passed 2 h 30 min ago (no run has removed it yet)
    [overdue] = _flagged({ADDRESS: 0},
                         flagged_at=timezone.now() - timedelta(hours=26, minutes=30)).values()

    page = _select(admin_client, "extend_grace_selected", [overdue])
    assert "will be extended if you give at least 3 h" in _row(page, overdue)
    assert _buttons(page) == ["Yes, extend the grace of 1 resource"]
    before = overdue.delete_after

    # then: 2 h is refused by the service, 3 h is done
    too_few = admin_client.post(_operate("extend"), {"ids": overdue.pk, "hours": "2",
                                                     "reason": "late", "confirm": "yes"},
                                follow=True)
    [(level, text)] = _messages(too_few)
    assert level == message_levels.ERROR and text.startswith(f"Not extended {overdue.item_hash}")
    assert _reloaded(overdue).delete_after == before
    enough = admin_client.post(_operate("extend"), {"ids": overdue.pk, "hours": "3",
                                                    "reason": "late", "confirm": "yes"},
                               follow=True)
    [(level, _)] = _messages(enough)
    assert level == message_levels.SUCCESS
    assert _reloaded(overdue).delete_after == before + 3 * HOUR


def test_a_post_without_any_resource_to_operate_returns_to_the_list(admin_client, short):
    response = admin_client.post(_operate("restore"), {"ids": "", "also_shown": short.pk,
                                                       "reason": "", "confirm": "yes"},
                                 follow=True)

    assert _messages(response) == [(message_levels.WARNING, "No pending deletion was selected.")]
    assert _reloaded(short).status == ResourceStatus.REMOVING


# --- the prediction's rule, alone ----------------------------------------------------------------

def _unsaved(payment_type, *, status=ResourceStatus.REMOVING, delete_after=None):
    return Resource(item_hash="ab" * 32, status=status, payment_type=payment_type,
                    delete_after=delete_after or timezone.now() + HOUR)


@pytest.mark.parametrize("required, available, outcome", [
    (Decimal("341999.9999999999999712"), Decimal(341_999), Outcome.REFUSED),  # short by < 1
    (Decimal("341999.9999999999999712"), Decimal(342_000), Outcome.DONE),
    (Decimal(100), Decimal(100), Outcome.DONE),  # exactly funded
])
def test_restore_is_predicted_refused_whenever_the_owner_lacks_anything(required, available,
                                                                        outcome):
    shortfall = Shortfall(unit="credits", chain="", required=required, available=available)

    prediction = predict(OPERATIONS["restore"], _unsaved(PaymentType.CREDIT), shortfall,
                         timezone.now())

    assert prediction.outcome == outcome


def test_a_stream_paid_resource_is_predicted_restored_as_the_service_does_not_check_it():
    shortfall = Shortfall(unit=None, chain="", required=None, available=None)

    prediction = predict(OPERATIONS["restore"], _unsaved(PaymentType.SUPERFLUID), shortfall,
                         timezone.now())

    assert prediction.outcome == Outcome.DONE
    assert prediction.text.startswith("will be restored (paid by stream")


def test_an_extension_past_the_longest_is_predicted_refused():
    now = timezone.now()
    resource = _unsaved(PaymentType.CREDIT, delete_after=now - timedelta(hours=720, minutes=1))

    prediction = predict(OPERATIONS["extend"], resource, None, now)

    assert prediction.outcome == Outcome.REFUSED
    assert "an extension is at most 720 h" in prediction.text
