"""Operators on pending deletions: restore (only when the owner is funded now, else the exact
shortfall), extend the grace, delete now — each a guarded transition with its audit row, refused
once the lifecycle (or another operator) moved the resource — and the desk in the admin that
offers them (countdown, shortfall, balance, filters, confirmation pages, messages).

Time is an input: the resources are flagged by real lifecycle runs at chosen instants.
"""
import re
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import constants as message_levels
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from credits.errors import InvalidInput, NotFound
from credits.models import (
    Charge,
    LifecycleRun,
    RemovalReason,
    Resource,
    ResourceStatus,
    ResourceStatusChange,
    StatusChangeReason,
)
from credits.services.ledger import grant_create
from credits.services.lifecycle import lifecycle_run
from credits.services.operator import (
    NotFunded,
    NotRemoving,
    resource_delete_now,
    resource_extend_grace,
    resource_restore,
)
from credits.services.resources import resource_register
from credits.services.token_balances import token_balance_set
from pricing.enums import PaymentType
from tests.credits.conftest import ADDRESS, OTHER_ADDRESS, T0
from tests.pricing.contents import instance_content

HOUR = timedelta(hours=1)
# PRICING.md E1 paid by credit: 3.958333333333333333 credits/s.
E1_PER_HOUR = 14250  # 3.958333333333333333 × 3600, rounded half-up
# One day of E1: 3.958333333333333333 × 86 400 = 341 999.999 999 999 999 971 2 credits.
E1_DAY_EXACT = Decimal("341999.9999999999999712")
FLAGGED_AT = T0 + HOUR  # the run that charged hour 0 and flagged the VM
DEADLINE = FLAGGED_AT + timedelta(hours=24)  # the default grace
NOW = FLAGGED_AT + timedelta(minutes=10)  # when the operator acts (no hour metered since)
OPERATOR = "staff:alice"


@pytest.fixture(autouse=True)
def _time_travel_allowed(settings, default_version):
    settings.LIFECYCLE_ALLOW_TIME_TRAVEL = True


_counter = iter(range(1, 10**9))


def grant(address, amount, at):
    return grant_create(address=address, amount=amount, expires_at=None,
                        reference=f"operator-test-{next(_counter)}", actor="test", at=at)


def register(at, address=ADDRESS, payment="credit"):
    content = instance_content(payment=payment)
    content["address"] = address
    return resource_register(item_hash=f"{next(_counter):064x}", message_type="INSTANCE",
                             content=content, actor="test", at=at).resource


def flagged_vm(address=ADDRESS):
    """An E1 VM funded for one day at T0, charged its first hour and flagged by the run at
    FLAGGED_AT: its owner has 342 000 − 14 250 = 327 750 credits."""
    grant(address, 342_000, T0)
    vm = register(T0, address)
    lifecycle_run(at=FLAGGED_AT)
    vm.refresh_from_db()
    assert vm.status == ResourceStatus.REMOVING and vm.delete_after == DEADLINE
    return vm


def reloaded(resource):
    resource.refresh_from_db()
    return resource


def operator_rows(resource):
    return list(ResourceStatusChange.objects.filter(resource=resource, run__isnull=True)
                .exclude(reason=StatusChangeReason.REGISTERED).order_by("at", "id"))


# --- restore -------------------------------------------------------------------------------------

def test_a_flagged_resource_whose_owner_is_funded_again_is_restored_with_an_audit_row(db):
    # given a flagged VM, then a top-up that funds one day again
    vm = flagged_vm()
    grant(ADDRESS, 14_250, NOW)  # 327 750 + 14 250 = 342 000 ≥ 341 999.999…

    # when
    restored = resource_restore(item_hash=vm.item_hash, actor=OPERATOR,
                                reason="paid by wire transfer", at=NOW)

    # then
    assert restored.status == ResourceStatus.PROCESSED
    assert (restored.removing_since, restored.delete_after, restored.removal_reason) \
        == (None, None, "")
    [row] = operator_rows(vm)
    assert (row.from_status, row.to_status, row.actor, row.at) \
        == ("removing", "processed", OPERATOR, NOW)
    assert row.reason == "funded again (operator): paid by wire transfer"
    # and the next run, which finds it funded, leaves it alone
    assert lifecycle_run(at=NOW + timedelta(minutes=30)).flagged == 0
    assert reloaded(vm).status == ResourceStatus.PROCESSED


def test_restoring_an_unfunded_resource_is_refused_with_the_exact_shortfall(db):
    # given 327 750 credits against 341 999.999 999 999 999 971 2 for one day
    vm = flagged_vm()

    # when
    with pytest.raises(NotFunded) as refused:
        resource_restore(item_hash=vm.item_hash, actor=OPERATOR, at=NOW)

    # then: 14 249.999 999 999 999 971 2 short, i.e. 14 250 whole credits to add
    error = refused.value
    assert error.status_code == 402 and error.code == "not_funded"
    assert error.details["shortfall"] == "14250"
    assert Decimal(error.details["required"]) - Decimal(error.details["available"]) \
        == E1_DAY_EXACT - 327_750
    assert error.details["available"] == "327750"
    assert "short by 14,250 credits" in error.message
    assert "341,999.9999999999999712 credits for 24 h" in error.message
    assert reloaded(vm).status == ResourceStatus.REMOVING
    assert operator_rows(vm) == []


def test_one_credit_short_is_still_refused_and_the_last_credit_restores(db):
    vm = flagged_vm()
    grant(ADDRESS, 14_249, NOW)  # 0.999 999 999 999 999 971 2 short: one whole credit

    with pytest.raises(NotFunded) as refused:
        resource_restore(item_hash=vm.item_hash, actor=OPERATOR, at=NOW)
    assert refused.value.details["shortfall"] == "1"
    assert "short by 1 credits" in refused.value.message

    grant(ADDRESS, 1, NOW)
    assert resource_restore(item_hash=vm.item_hash, actor=OPERATOR, at=NOW).status \
        == ResourceStatus.PROCESSED


def test_restore_counts_every_live_credit_resource_of_the_owner(db, ledger_resource_factory):
    # given a flagged VM topped up for itself alone, and another processed credit resource
    vm = flagged_vm()
    grant(ADDRESS, 14_250, NOW)
    owner = vm.owner
    ledger_resource_factory(owner, cost_credit_per_second="0.01")  # 864 credits a day

    with pytest.raises(NotFunded) as refused:
        resource_restore(item_hash=vm.item_hash, actor=OPERATOR, at=NOW)

    # 341 999.999 999 999 999 971 2 + 864 − 342 000 = 863.999 999 999 999 971 2 → 864
    assert refused.value.details["shortfall"] == "864"


def test_a_lot_expiring_when_the_operator_acts_does_not_fund_a_restore(db):
    vm = flagged_vm()
    expiry = NOW + timedelta(minutes=5)
    grant_create(address=ADDRESS, amount=10 * 342_000, expires_at=expiry, reference="expiring",
                 actor="test", at=NOW)

    with pytest.raises(NotFunded) as refused:
        resource_restore(item_hash=vm.item_hash, actor=OPERATOR, at=expiry)
    assert refused.value.details["shortfall"] == "14250"

    restored = resource_restore(item_hash=vm.item_hash, actor=OPERATOR,
                                at=expiry - timedelta(seconds=1))
    assert restored.status == ResourceStatus.PROCESSED


def test_a_hold_resource_is_restored_only_when_the_tokens_on_its_chain_cover_the_hold(db):
    # given a hold VM registered with enough tokens, then a lower balance reported
    token_balance_set(address=ADDRESS, chain="ETH", balance=Decimal(10**6), height=1,
                      actor="oracle")
    vm = register(T0, payment="hold")
    token_balance_set(address=ADDRESS, chain="ETH", balance=vm.cost_hold - Decimal("0.5"),
                      height=2, actor="oracle")
    lifecycle_run(at=FLAGGED_AT)
    assert reloaded(vm).removal_reason == RemovalReason.BALANCE_INSUFFICIENT

    with pytest.raises(NotFunded) as refused:
        resource_restore(item_hash=vm.item_hash, actor=OPERATOR, at=NOW)
    assert refused.value.details["shortfall"] == "0.5"
    assert refused.value.details["unit"] == "tokens"
    assert "short by 0.5 tokens on ETH" in refused.value.message

    token_balance_set(address=ADDRESS, chain="ETH", balance=vm.cost_hold, height=3,
                      actor="oracle")
    assert resource_restore(item_hash=vm.item_hash, actor=OPERATOR, at=NOW).status \
        == ResourceStatus.PROCESSED


def test_a_stream_paid_resource_is_always_restored(db, account, ledger_resource_factory):
    stream = ledger_resource_factory(account, payment_type=PaymentType.SUPERFLUID,
                                     status=ResourceStatus.REMOVING,
                                     removal_reason=RemovalReason.BALANCE_INSUFFICIENT,
                                     removing_since=T0, delete_after=T0 + 24 * HOUR)

    assert resource_restore(item_hash=stream.item_hash, actor=OPERATOR, at=T0 + HOUR).status \
        == ResourceStatus.PROCESSED


# --- extend grace --------------------------------------------------------------------------------

def test_extending_the_grace_moves_the_deadline_and_the_lifecycle_respects_it(db):
    vm = flagged_vm()

    extended = resource_extend_grace(item_hash=vm.item_hash, hours=12,
                                     reason="owner promised a top-up", actor=OPERATOR, at=NOW)

    new_deadline = DEADLINE + 12 * HOUR
    assert (extended.status, extended.delete_after) == (ResourceStatus.REMOVING, new_deadline)
    assert extended.removing_since == FLAGGED_AT
    [row] = operator_rows(vm)
    assert (row.from_status, row.to_status, row.actor) == ("removing", "removing", OPERATOR)
    assert row.reason == ("grace extended by 12 h to 2030-01-02 13:00:00 UTC: "
                          "owner promised a top-up")
    # the old deadline passes: still pending, and billed until the new one
    lifecycle_run(at=DEADLINE + timedelta(minutes=5))
    assert reloaded(vm).status == ResourceStatus.REMOVING
    lifecycle_run(at=new_deadline + timedelta(minutes=5))
    assert reloaded(vm).status == ResourceStatus.REMOVED
    assert vm.ended_at == new_deadline
    # billed until the new deadline, T0 + 37 h: hours 0 … 36, none after
    assert Charge.objects.filter(resource=vm).count() == 37


def test_grace_extensions_add_up(db):
    vm = flagged_vm()
    resource_extend_grace(item_hash=vm.item_hash, hours=1, reason="a", actor=OPERATOR, at=NOW)
    resource_extend_grace(item_hash=vm.item_hash, hours=720, reason="b", actor=OPERATOR, at=NOW)

    assert reloaded(vm).delete_after == DEADLINE + 721 * HOUR
    assert len(operator_rows(vm)) == 2


@pytest.mark.parametrize("hours", [0, -1, 721, True, "12", 1.5, None])
def test_extending_by_a_wrong_number_of_hours_is_refused(db, hours):
    vm = flagged_vm()

    with pytest.raises(InvalidInput) as refused:
        resource_extend_grace(item_hash=vm.item_hash, hours=hours, reason="why",
                              actor=OPERATOR, at=NOW)

    assert refused.value.details["field"] == "hours"
    assert reloaded(vm).delete_after == DEADLINE and operator_rows(vm) == []


@pytest.mark.parametrize("reason", ["", "   ", None, "x" * 181])
def test_extending_needs_a_reason(db, reason):
    vm = flagged_vm()

    with pytest.raises(InvalidInput) as refused:
        resource_extend_grace(item_hash=vm.item_hash, hours=12, reason=reason, actor=OPERATOR,
                              at=NOW)

    assert refused.value.details["field"] == "reason"
    assert reloaded(vm).delete_after == DEADLINE


def test_an_overdue_resource_is_extended_only_past_now(db):
    vm = flagged_vm()
    late = DEADLINE + timedelta(hours=3, minutes=30)  # overdue, no run since

    with pytest.raises(InvalidInput) as refused:
        resource_extend_grace(item_hash=vm.item_hash, hours=3, reason="late", actor=OPERATOR,
                              at=late)
    assert "Extend by more than 4 h" in refused.value.message

    assert resource_extend_grace(item_hash=vm.item_hash, hours=4, reason="late",
                                 actor=OPERATOR, at=late).delete_after == DEADLINE + 4 * HOUR


# --- delete now ----------------------------------------------------------------------------------

def test_delete_now_removes_at_once_and_is_final(db):
    vm = flagged_vm()

    removed = resource_delete_now(item_hash=vm.item_hash, actor=OPERATOR,
                                  reason="abuse report #42", at=NOW)

    assert (removed.status, removed.ended_at) == (ResourceStatus.REMOVED, NOW)
    [row] = operator_rows(vm)
    assert (row.from_status, row.to_status, row.actor, row.reason) \
        == ("removing", "removed", OPERATOR, "deleted now: abuse report #42")
    # final: a top-up, runs and operators never bring it back
    grant(ADDRESS, 100 * 342_000, NOW + HOUR)
    lifecycle_run(at=NOW + 2 * HOUR)
    assert reloaded(vm).status == ResourceStatus.REMOVED
    with pytest.raises(NotRemoving):
        resource_restore(item_hash=vm.item_hash, actor=OPERATOR, at=NOW + 2 * HOUR)
    # and it is no longer billed: only hour 0 (charged when flagged)
    assert Charge.objects.filter(resource=vm).count() == 1


def test_delete_now_needs_a_reason(db):
    vm = flagged_vm()

    with pytest.raises(InvalidInput):
        resource_delete_now(item_hash=vm.item_hash, actor=OPERATOR, reason=" ", at=NOW)

    assert reloaded(vm).status == ResourceStatus.REMOVING


def test_an_actor_must_be_named(db):
    vm = flagged_vm()

    with pytest.raises(InvalidInput):
        resource_delete_now(item_hash=vm.item_hash, actor="", reason="why", at=NOW)


# --- refusals: not (or no longer) pending deletion ------------------------------------------------

def test_every_operation_refuses_a_resource_that_is_not_pending_deletion(db):
    grant(ADDRESS, 10 * 342_000, T0)
    vm = register(T0)

    for operation, kwargs in ((resource_restore, {}),
                              (resource_extend_grace, {"hours": 1, "reason": "r"}),
                              (resource_delete_now, {"reason": "r"})):
        with pytest.raises(NotRemoving) as refused:
            operation(item_hash=vm.item_hash, actor=OPERATOR, at=NOW, **kwargs)
        assert refused.value.status_code == 409
        assert refused.value.details == {"item_hash": vm.item_hash, "status": "processed"}
        assert "no longer pending deletion: it is processed now" in refused.value.message
    assert operator_rows(vm) == []


def test_an_unknown_item_hash_is_not_found(db):
    with pytest.raises(NotFound):
        resource_delete_now(item_hash="f" * 64, actor=OPERATOR, reason="why", at=NOW)


def test_a_resource_the_lifecycle_removed_meanwhile_is_refused_clearly(db):
    vm = flagged_vm()
    lifecycle_run(at=DEADLINE + timedelta(minutes=5))  # the run removed it first
    grant(ADDRESS, 100 * 342_000, DEADLINE + HOUR)  # funded now, but too late

    with pytest.raises(NotRemoving) as refused:
        resource_restore(item_hash=vm.item_hash, actor=OPERATOR, at=DEADLINE + 2 * HOUR)

    assert "it is removed now (the lifecycle or another operator moved it)" \
        in refused.value.message
    assert operator_rows(vm) == []


def test_a_resource_the_lifecycle_restored_meanwhile_is_not_deleted(db):
    vm = flagged_vm()
    grant(ADDRESS, 10 * 342_000, NOW)
    lifecycle_run(at=NOW + timedelta(minutes=1))  # restored by the run

    with pytest.raises(NotRemoving):
        resource_delete_now(item_hash=vm.item_hash, actor=OPERATOR, reason="why",
                            at=NOW + timedelta(minutes=2))

    assert reloaded(vm).status == ResourceStatus.PROCESSED


# --- at the same time as the lifecycle (PostgreSQL, real threads) ---------------------------------

def _run_in_thread(target, results, name):
    def work():
        try:
            results[name] = target()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            results[name] = exc
        finally:
            connection.close()
    thread = threading.Thread(target=work)
    thread.start()
    return thread


def _wait_until_a_backend_waits_for_a_lock(timeout_s: float = 30) -> None:
    """Bounded wait for another thread's connection to block on a row lock."""
    deadline = time.monotonic() + timeout_s
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                           "'Lock' AND datname = current_database()")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("no connection ever waited for the lock")


@pytest.mark.django_db(transaction=True)
def test_an_operator_waiting_on_a_run_that_removes_the_resource_is_refused():
    vm = flagged_vm()
    holding, release, results = threading.Event(), threading.Event(), {}

    def lifecycle_removing_it_and_holding_the_account():
        with transaction.atomic():  # the run's batches commit with this transaction
            run = lifecycle_run(at=DEADLINE + timedelta(minutes=5))
            holding.set()
            assert release.wait(60)
        return run

    def operator_restoring():
        assert holding.wait(60)
        return resource_restore(item_hash=vm.item_hash, actor=OPERATOR,
                                at=DEADLINE + timedelta(minutes=6))

    threads = [_run_in_thread(lifecycle_removing_it_and_holding_the_account, results, "run"),
               _run_in_thread(operator_restoring, results, "operator")]
    assert holding.wait(60)
    _wait_until_a_backend_waits_for_a_lock()  # the operator is blocked on the account row
    release.set()
    for thread in threads:
        thread.join(60)

    assert isinstance(results["run"], LifecycleRun) and results["run"].removed == 1
    assert isinstance(results["operator"], NotRemoving)
    assert reloaded(vm).status == ResourceStatus.REMOVED
    assert list(ResourceStatusChange.objects.filter(resource=vm, to_status="removed")
                .values_list("actor", flat=True)) == [f"lifecycle-run:{results['run'].pk}"]
    assert operator_rows(vm) == []


@pytest.mark.django_db(transaction=True)
def test_a_run_waiting_on_an_operator_extending_the_grace_keeps_the_resource():
    vm = flagged_vm()
    holding, release, results = threading.Event(), threading.Event(), {}

    def operator_extending_and_holding():
        with transaction.atomic():
            extended = resource_extend_grace(item_hash=vm.item_hash, hours=12, reason="wait",
                                             actor=OPERATOR, at=DEADLINE - HOUR)
            holding.set()
            assert release.wait(60)
        return extended

    def lifecycle_after_the_old_deadline():
        assert holding.wait(60)
        return lifecycle_run(at=DEADLINE + timedelta(minutes=5))

    threads = [_run_in_thread(operator_extending_and_holding, results, "operator"),
               _run_in_thread(lifecycle_after_the_old_deadline, results, "run")]
    assert holding.wait(60)
    _wait_until_a_backend_waits_for_a_lock()  # the run's batch is blocked on the account
    release.set()
    for thread in threads:
        thread.join(60)

    assert isinstance(results["operator"], Resource)
    assert isinstance(results["run"], LifecycleRun)
    assert (results["run"].removed, results["run"].errors) == (0, 0)
    assert (reloaded(vm).status, vm.delete_after) == (ResourceStatus.REMOVING,
                                                      DEADLINE + 12 * HOUR)


# --- the desk in the admin -----------------------------------------------------------------------

CHANGELIST = "admin:credits_pendingdeletion_changelist"


def _operate(name):
    return reverse("admin:credits_pendingdeletion_operate", args=[name])


def _rows(html: str) -> list[str]:
    if 'id="result_list"' not in html:
        return []  # "0 pending deletions": no table
    body = html.split('id="result_list"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr>.*?</tr>", body.split("<tbody>", 1)[1], re.S)


def _messages(response) -> list[tuple[int, str]]:
    return [(message.level, message.message) for message in response.context["messages"]]


@pytest.fixture
def desk(db, settings):
    """Two VMs flagged an hour ago (real now): one owner funded again by a grant since, one
    short; both due in 23 h."""
    now = timezone.now()
    flagged_at = now - HOUR
    resources = {}
    for name, address in (("funded", ADDRESS), ("short", OTHER_ADDRESS)):
        grant_create(address=address, amount=342_000, expires_at=None,
                     reference=f"desk-{name}", actor="test", at=flagged_at - HOUR)
        resources[name] = register(flagged_at - HOUR, address)
    lifecycle_run(at=flagged_at)
    grant_create(address=ADDRESS, amount=100_000, expires_at=None, reference="desk-top-up",
                 actor="test", at=now - timedelta(minutes=1))
    for resource in resources.values():
        assert reloaded(resource).status == ResourceStatus.REMOVING
    return resources


def test_the_desk_lists_countdown_shortfall_and_owner_balance(admin_client, desk):
    page = admin_client.get(reverse(CHANGELIST)).content.decode()

    rows = _rows(page)
    assert len(rows) == 2
    funded, short = sorted(rows, key=lambda row: desk["short"].item_hash in row)
    assert "funded" in funded and "427,750 credits" in funded  # 327 750 + 100 000
    assert "14,250 credits" in short and "327,750 credits" in short
    for row in rows:
        assert 'class="pd-countdown' in row and "data-deadline=" in row
        assert re.search(r">2[23] h \d+ min<", row)  # the server's text until the script runs
    assert "credits/pending_deletions.js" in page
    assert 'value="restore_selected"' in page and 'value="delete_now_selected"' in page


@pytest.mark.parametrize("window, expected", [("1h", 0), ("24h", 2), ("overdue", 0)])
def test_the_desk_filters_by_deadline_window(admin_client, desk, window, expected):
    page = admin_client.get(reverse(CHANGELIST), {"due": window}).content.decode()

    assert len(_rows(page)) == expected


def test_the_desk_filters_by_owner_in_any_case(admin_client, desk):
    page = admin_client.get(reverse(CHANGELIST), {"owner": OTHER_ADDRESS.lower()})

    rows = _rows(page.content.decode())
    assert len(rows) == 1 and desk["short"].item_hash in rows[0]
    searched = _rows(admin_client.get(reverse(CHANGELIST),
                                      {"q": ADDRESS.upper().replace("0X", "0x")})
                     .content.decode())
    assert len(searched) == 1 and desk["funded"].item_hash in searched[0]


def test_the_restore_action_asks_for_confirmation_and_says_who_will_be_refused(admin_client,
                                                                                desk):
    response = admin_client.post(reverse(CHANGELIST), {
        "action": "restore_selected",
        "_selected_action": [desk["funded"].pk, desk["short"].pk]})

    page = response.content.decode()
    assert response.status_code == 200
    assert "1 of these cannot be restored now" in page
    assert "will be refused: its owner is short by 14,250 credits" in page
    assert ">will be restored<" in page
    assert all(reloaded(r).status == ResourceStatus.REMOVING for r in desk.values())


def test_restore_restores_the_funded_and_refuses_the_unfunded_with_its_shortfall(admin_client,
                                                                                 desk):
    response = admin_client.post(_operate("restore"), {
        "ids": f"{desk['funded'].pk},{desk['short'].pk}", "reason": "checked with the owner",
        "confirm": "yes"}, follow=True)

    messages = _messages(response)
    assert (message_levels.SUCCESS, f"Restored {desk['funded'].item_hash}: back to processed "
                                    f"(its owner is funded).") in messages
    [(level, refusal)] = [m for m in messages if m[0] == message_levels.ERROR]
    assert refusal.startswith(f"Not restored {desk['short'].item_hash}: Not funded")
    assert "short by 14,250 credits" in refusal
    assert reloaded(desk["funded"]).status == ResourceStatus.PROCESSED
    assert reloaded(desk["short"]).status == ResourceStatus.REMOVING
    [row] = operator_rows(desk["funded"])
    assert (row.actor, row.reason) == ("staff:admin",
                                       "funded again (operator): checked with the owner")
    assert operator_rows(desk["short"]) == []


def test_extend_grace_asks_hours_and_a_reason_then_moves_the_deadline(admin_client, desk):
    resource = desk["short"]
    before = resource.delete_after
    confirm = admin_client.post(reverse(CHANGELIST), {"action": "extend_grace_selected",
                                                      "_selected_action": [resource.pk]})
    assert 'name="hours"' in confirm.content.decode()

    missing = admin_client.post(_operate("extend"), {"ids": resource.pk, "hours": "12",
                                                     "reason": "", "confirm": "yes"})
    too_long = admin_client.post(_operate("extend"), {"ids": resource.pk, "hours": "721",
                                                      "reason": "why", "confirm": "yes"})
    assert missing.status_code == too_long.status_code == 200  # the form again, with errors
    assert reloaded(resource).delete_after == before

    done = admin_client.post(_operate("extend"), {"ids": resource.pk, "hours": "12",
                                                  "reason": "owner asked", "confirm": "yes"},
                             follow=True)

    assert reloaded(resource).delete_after == before + 12 * HOUR
    [(level, text)] = _messages(done)
    assert level == message_levels.SUCCESS
    assert text.startswith(f"Extended the grace of {resource.item_hash} by 12 h")
    [row] = operator_rows(resource)
    assert row.actor == "staff:admin" and row.reason.endswith(": owner asked")


def test_delete_now_asks_a_reason_then_removes(admin_client, desk):
    resource = desk["short"]
    no_reason = admin_client.post(_operate("delete"), {"ids": resource.pk, "reason": "",
                                                       "confirm": "yes"})
    assert no_reason.status_code == 200
    assert reloaded(resource).status == ResourceStatus.REMOVING

    done = admin_client.post(_operate("delete"), {"ids": resource.pk, "reason": "spam",
                                                  "confirm": "yes"}, follow=True)

    assert reloaded(resource).status == ResourceStatus.REMOVED
    assert _messages(done) == [(message_levels.SUCCESS,
                                f"Deleted {resource.item_hash} now: removed (final).")]
    assert operator_rows(resource)[0].reason == "deleted now: spam"


def test_an_operation_on_a_resource_moved_meanwhile_says_so(admin_client, desk):
    resource = desk["funded"]
    confirm = admin_client.get(_operate("delete"), {"ids": resource.pk})
    assert "Yes, delete 1 resource now" in confirm.content.decode()
    resource_restore(item_hash=resource.item_hash, actor="staff:bob")  # someone else, first

    done = admin_client.post(_operate("delete"), {"ids": resource.pk, "reason": "spam",
                                                  "confirm": "yes"}, follow=True)

    [(level, text)] = _messages(done)
    assert level == message_levels.ERROR
    assert "no longer pending deletion: it is processed now" in text
    assert reloaded(resource).status == ResourceStatus.PROCESSED


def test_the_resource_page_offers_the_operations(admin_client, desk):
    resource = desk["short"]
    page = admin_client.get(reverse("admin:credits_pendingdeletion_change",
                                    args=[resource.pk])).content.decode()

    assert f"{_operate('extend')}?ids={resource.pk}" in page
    assert "14,250 credits" in page and 'class="pd-countdown' in page


def test_a_viewer_without_the_change_permission_cannot_operate(client, django_user_model,
                                                               desk):
    user = django_user_model.objects.create_user(username="viewer", password="unused",
                                                 is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_pendingdeletion"))
    client.force_login(user)

    page = client.get(reverse(CHANGELIST)).content.decode()
    forbidden = client.post(_operate("delete"), {"ids": desk["short"].pk, "reason": "x",
                                                 "confirm": "yes"})

    assert desk["short"].item_hash in page and "restore_selected" not in page
    assert forbidden.status_code == 403
    assert reloaded(desk["short"]).status == ResourceStatus.REMOVING


def test_an_operator_with_the_change_permission_operates(client, django_user_model, desk):
    user = django_user_model.objects.create_user(username="olga", password="unused",
                                                 is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_pendingdeletion", "change_pendingdeletion"]))
    client.force_login(user)

    client.post(_operate("delete"), {"ids": desk["short"].pk, "reason": "x", "confirm": "yes"})

    assert operator_rows(desk["short"])[0].actor == "staff:olga"


def test_an_unknown_operation_is_not_found(admin_client, desk):
    assert admin_client.get(reverse(CHANGELIST) + "operate/explode/").status_code == 404
