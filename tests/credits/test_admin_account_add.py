"""Staff add an account in the admin (its address normalised by the one rule, a duplicate refused,
an optional first grant through the ledger) and grant credits from an account's page."""
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from credits.errors import InvalidInput
from credits.models import Account, EntryKind, LedgerEntry, Lot
from credits.services import accounts as account_services
from credits.services.accounts import AccountExists, account_create

pytestmark = pytest.mark.django_db

CHECKSUMMED = "0x5c4E1b5D3ad6D0FE2DF5F13E2a2eE0Dd5b7a4a11"
OTHER_CHAIN = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"  # a Solana address, case matters


def _url(name: str, *args) -> str:
    return reverse(f"admin:credits_account_{name}", args=args)


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _in_ten_days() -> str:
    return (timezone.localtime() + timedelta(days=10)).strftime("%Y-%m-%d %H:%M")


def _add(client, **data):
    """Open the add form (for its one-time reference) and send it with `data`."""
    page = client.get(_url("add"))
    body = {"address": "", "grant_credits": "", "grant_expires_at": "", "grant_reason": "",
            "reference": page.context["form"]["reference"].value(), **data}
    return client.post(_url("add"), body, follow=True)


def _grant(client, account, **data):
    page = client.get(_url("grant", account.pk))
    body = {"amount": "", "expires_at": "", "reason": "",
            "reference": page.context["form"]["reference"].value(), **data}
    return client.post(_url("grant", account.pk), body, follow=True)


def _staff(django_user_model, *codenames):
    user = django_user_model.objects.create_user(username="clerk", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def account():
    return Account.objects.create(address=CHECKSUMMED)


# --- adding an account ---------------------------------------------------------------------------

def test_the_account_list_offers_to_add_an_account(admin_client):
    response = admin_client.get(reverse("admin:credits_account_changelist"))

    assert _url("add") in response.content.decode()


def test_an_account_added_with_a_lowercase_evm_address_is_stored_checksummed(admin_client):
    # when
    response = _add(admin_client, address=f"  {CHECKSUMMED.lower()} ")

    # then
    account = Account.objects.get()
    assert account.address == CHECKSUMMED
    assert response.redirect_chain[-1][0] == _url("change", account.pk)
    assert _messages(response) == [f"Account {CHECKSUMMED} added."]
    assert not LedgerEntry.objects.exists()


def test_another_chains_address_is_kept_as_typed(admin_client):
    _add(admin_client, address=OTHER_CHAIN)

    assert Account.objects.get().address == OTHER_CHAIN


@pytest.mark.parametrize("typed", ["0x1234", "0x" + "g" * 40, "not an address", "short"])
def test_an_invalid_address_is_refused_with_a_form_error(admin_client, typed):
    response = _add(admin_client, address=typed)

    assert response.status_code == 200
    [error] = response.context["form"].errors["address"]
    assert "is not a valid" in error
    assert not Account.objects.exists()


@pytest.mark.parametrize("typed", [CHECKSUMMED.lower(), "0x" + CHECKSUMMED[2:].upper()])
def test_an_address_that_has_an_account_in_another_case_is_refused_naming_it(admin_client,
                                                                            account, typed):
    response = _add(admin_client, address=typed, grant_credits="100", grant_reason="welcome")

    assert response.status_code == 200
    [error] = response.context["form"].errors["address"]
    assert "already exists" in error and CHECKSUMMED in error
    assert f'href="{_url("change", account.pk)}"' in response.content.decode()
    assert list(Account.objects.all()) == [account]
    assert not LedgerEntry.objects.exists()


def test_an_initial_grant_writes_one_grant_entry_and_one_lot(admin_client, admin_user):
    expires_at = _in_ten_days()

    # when
    response = _add(admin_client, address=CHECKSUMMED.lower(), grant_credits="1000",
                    grant_expires_at=expires_at, grant_reason="Partner onboarding, ticket #7")

    # then
    account = Account.objects.get()
    entry = LedgerEntry.objects.get()
    lot = Lot.objects.get()
    assert (entry.account, entry.kind, entry.amount) == (account, EntryKind.GRANT, 1000)
    assert entry.created_by == f"staff:{admin_user.get_username()}"
    assert entry.reference.startswith("admin-account-add:")
    assert (lot.entry, lot.amount, lot.remaining) == (entry, 1000, 1000)
    assert timezone.localtime(lot.expires_at).strftime("%Y-%m-%d %H:%M") == expires_at
    assert response.redirect_chain[-1][0] == _url("change", account.pk)
    [message] = _messages(response)
    assert "added with a grant: 1,000 credits" in message
    assert "Balance now: 1,000 credits." in message
    # the reason, which the grant entry has no field for, is in the account's history
    assert "Partner onboarding, ticket #7" in LogEntry.objects.get().change_message


def test_sending_the_add_form_twice_adds_one_account_and_grants_once(admin_client):
    page = admin_client.get(_url("add"))
    body = {"address": CHECKSUMMED, "grant_credits": "50", "grant_expires_at": "",
            "grant_reason": "double click", "reference": page.context["form"]["reference"].value()}

    first = admin_client.post(_url("add"), body)
    second = admin_client.post(_url("add"), body)

    assert first.status_code == 302
    assert "already exists" in second.context["form"].errors["address"][0]
    assert Account.objects.count() == 1
    assert LedgerEntry.objects.count() == Lot.objects.count() == 1


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"grant_credits": "10"}, "grant_reason", "Say why the credits are granted."),
    ({"grant_credits": "10", "grant_reason": "   "}, "grant_reason",
     "Say why the credits are granted."),
    ({"grant_credits": "0", "grant_reason": "x"}, "grant_credits",
     "Ensure this value is greater than or equal to 1."),
    ({"grant_credits": "-5", "grant_reason": "x"}, "grant_credits",
     "Ensure this value is greater than or equal to 1."),
    ({"grant_credits": "1.5", "grant_reason": "x"}, "grant_credits", "Enter a whole number."),
    ({"grant_credits": "5", "grant_reason": "x", "grant_expires_at": "2001-01-01 00:00"},
     "grant_expires_at", "The expiry must be in the future."),
    ({"grant_reason": "no credits"}, "grant_reason",
     "Only with an initial grant: give its credits, or leave this empty."),
])
def test_an_invalid_initial_grant_is_refused_and_adds_nothing(admin_client, data, field,
                                                              message):
    response = _add(admin_client, address=CHECKSUMMED, **data)

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert not Account.objects.exists()
    assert not LedgerEntry.objects.exists()


def test_the_account_and_its_grant_are_written_together_or_not_at_all():
    with pytest.raises(InvalidInput):
        account_create(address=CHECKSUMMED, actor="test", grant_credits=10,
                       grant_expires_at=timezone.now() - timedelta(days=1),
                       grant_reference="too-late")

    assert not Account.objects.exists()


def test_an_account_added_meanwhile_by_another_request_is_reported_as_taken(account,
                                                                            monkeypatch):
    # given the check before the insert did not see the other request's account yet
    lookups = iter([None, account])
    monkeypatch.setattr(account_services, "account_by_address",
                        lambda *, address: next(lookups))

    with pytest.raises(AccountExists) as refused:
        account_create(address=CHECKSUMMED.lower(), actor="test")

    assert refused.value.account == account
    assert Account.objects.count() == 1


# --- granting from the account's page ------------------------------------------------------------

def test_the_account_page_offers_to_grant_credits(admin_client, account):
    page = admin_client.get(_url("change", account.pk)).content.decode()

    assert _url("grant", account.pk) in page and "Grant credits" in page


def test_staff_grant_credits_with_a_reason(admin_client, admin_user, account):
    # when
    response = _grant(admin_client, account, amount="250", reason="Refund for outage #12")

    # then
    entry = LedgerEntry.objects.get()
    assert (entry.account, entry.kind, entry.amount, entry.expires_at) == (
        account, EntryKind.GRANT, 250, None)
    assert entry.created_by == f"staff:{admin_user.get_username()}"
    assert entry.reference.startswith("admin-grant:")
    assert Lot.objects.get(entry=entry).remaining == 250
    assert response.redirect_chain[-1][0] == _url("change", account.pk)
    assert _messages(response) == [
        "Granted 250 credits, never expiring. Balance now: 250 credits."]
    assert "Refund for outage #12" in LogEntry.objects.get().change_message


def test_granted_credits_can_expire(admin_client, account):
    expires_at = _in_ten_days()

    _grant(admin_client, account, amount="10", reason="Trial", expires_at=expires_at)

    lot = Lot.objects.get()
    assert timezone.localtime(lot.expires_at).strftime("%Y-%m-%d %H:%M") == expires_at


def test_a_resubmitted_grant_form_does_not_grant_twice(admin_client, account):
    page = admin_client.get(_url("grant", account.pk))
    body = {"amount": "70", "expires_at": "", "reason": "double click",
            "reference": page.context["form"]["reference"].value()}

    first = admin_client.post(_url("grant", account.pk), body, follow=True)
    again = admin_client.post(_url("grant", account.pk), body, follow=True)

    assert LedgerEntry.objects.count() == Lot.objects.count() == 1
    assert Lot.objects.get().remaining == 70
    assert _messages(first) == ["Granted 70 credits, never expiring. Balance now: 70 credits."]
    [message] = _messages(again)
    assert "nothing was granted again" in message and "Balance now: 70 credits." in message


def test_each_showing_of_the_grant_form_is_a_new_grant(admin_client, account):
    _grant(admin_client, account, amount="5", reason="first")
    _grant(admin_client, account, amount="5", reason="second")

    assert LedgerEntry.objects.filter(kind=EntryKind.GRANT).count() == 2


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"amount": "10", "reason": ""}, "reason", "This field is required."),
    ({"amount": "10", "reason": "   "}, "reason", "This field is required."),
    ({"amount": "0", "reason": "x"}, "amount", "Ensure this value is greater than or equal to 1."),
    ({"amount": "-3", "reason": "x"}, "amount",
     "Ensure this value is greater than or equal to 1."),
    ({"amount": "2.5", "reason": "x"}, "amount", "Enter a whole number."),
    ({"amount": "", "reason": "x"}, "amount", "This field is required."),
    ({"amount": "5", "reason": "x", "expires_at": "2001-01-01 00:00"}, "expires_at",
     "The expiry must be in the future."),
])
def test_an_invalid_grant_is_refused_and_writes_nothing(admin_client, account, data, field,
                                                       message):
    response = _grant(admin_client, account, **data)

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert not LedgerEntry.objects.exists()


# --- permissions ---------------------------------------------------------------------------------

def test_staff_without_the_add_permission_cannot_add_an_account(client, django_user_model):
    client.force_login(_staff(django_user_model, "view_account"))

    listing = client.get(reverse("admin:credits_account_changelist"))
    form = client.get(_url("add"))
    refused = client.post(_url("add"), {"address": CHECKSUMMED, "reference": "r"})

    assert listing.status_code == 200 and _url("add") not in listing.content.decode()
    assert form.status_code == 403
    assert refused.status_code == 403
    assert not Account.objects.exists()


def test_staff_without_the_ledger_permission_cannot_grant(client, django_user_model, account):
    client.force_login(_staff(django_user_model, "view_account"))

    page = client.get(_url("change", account.pk))
    form = client.get(_url("grant", account.pk))
    refused = client.post(_url("grant", account.pk),
                          {"amount": "1000", "reason": "me", "reference": "r"})

    assert page.status_code == 200 and "Grant credits" not in page.content.decode()
    assert form.status_code == 403
    assert refused.status_code == 403
    assert not LedgerEntry.objects.exists()


def test_staff_who_may_add_accounts_but_not_write_the_ledger_add_one_without_a_grant(
        client, django_user_model):
    client.force_login(_staff(django_user_model, "add_account", "view_account"))

    form = client.get(_url("add"))
    response = client.post(_url("add"), {"address": CHECKSUMMED.lower(), "grant_credits": "500",
                                         "grant_reason": "me", "reference": "r"}, follow=True)

    assert "grant_credits" not in form.context["form"].fields
    assert response.redirect_chain[-1][0] == _url("change", Account.objects.get().pk)
    assert not LedgerEntry.objects.exists()


def test_staff_with_the_add_and_ledger_permissions_add_an_account_with_a_grant(
        client, django_user_model):
    client.force_login(_staff(django_user_model, "add_account", "view_account",
                              "add_ledgerentry"))

    _add(client, address=CHECKSUMMED, grant_credits="30", grant_reason="pilot")

    assert LedgerEntry.objects.get().amount == 30
    assert LedgerEntry.objects.get().created_by == "staff:clerk"


def test_a_staff_grant_keeps_its_reason_on_the_ledger_entry(account):
    # given / when: a grant with a reason, then the same request again
    from credits.services.ledger import grant_create

    first = grant_create(address=account.address, amount=100, expires_at=None,
                         reference="reason-kept", actor="staff:alice", reason=" goodwill ")
    again = grant_create(address=account.address, amount=100, expires_at=None,
                         reference="reason-kept", actor="staff:alice", reason="goodwill")

    # then
    assert first.entry.reason == "goodwill"
    assert again.replayed and again.entry.pk == first.entry.pk
