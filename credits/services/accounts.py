"""Opening an account on purpose (staff in the admin), optionally with a first grant: the address
goes through the one normaliser, and an address that already has an account is refused.

Elsewhere accounts appear on the way (a grant, a registration, a key creates its owner's
account, a wallet signs in: `account_get_or_create`); here a second account for one address, in
any case, must not be possible.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from credits_project.errors import DomainError

from ..addresses import address_input
from ..models import Account
from ..selectors.accounts import account_by_address
from .ledger import LedgerResult, grant_create


class AccountExists(DomainError):
    """The address (in any case) already has an account: `account` is that one."""

    status_code = 409
    code = "account_exists"

    def __init__(self, account: Account):
        super().__init__(f"An account for {account.address} already exists.",
                         address=account.address)
        self.account = account


@dataclass(frozen=True)
class AccountCreated:
    account: Account
    grant: LedgerResult | None = None


def account_get_or_create(*, address: str) -> Account:
    """The account of `address` (normalised: InvalidInput if it is not an address), created if
    it has none. Django's get_or_create inserts in a savepoint and reads again on a unique
    violation, so two first arrivals of one address at once end with one account."""
    account, _ = Account.objects.get_or_create(address=address_input(address))
    return account


@transaction.atomic
def account_create(*, address: str, actor: str, grant_credits: int | None = None,
                   grant_expires_at: datetime | None = None, grant_reference: str | None = None,
                   grant_reason: str = "", at: datetime | None = None) -> AccountCreated:
    """A new account for `address` (EVM addresses checksummed), and with `grant_credits` a first
    grant through `grant_create` (idempotent on `grant_reference`), all or nothing.

    Raises InvalidInput (not an address, a bad grant) or AccountExists.
    """
    address = address_input(address)
    if (existing := account_by_address(address=address)) is not None:
        raise AccountExists(existing)
    try:
        # A savepoint: an account inserted meanwhile by another request is reported as taken
        # (the unique index makes this insert wait for that request, then fail).
        with transaction.atomic():
            account = Account.objects.create(address=address)
    except IntegrityError as exc:
        existing = account_by_address(address=address)
        if existing is None:
            raise
        raise AccountExists(existing) from exc
    if grant_credits is None:
        return AccountCreated(account=account)
    grant = grant_create(address=address, amount=grant_credits, expires_at=grant_expires_at,
                         reference=grant_reference, actor=actor, at=at, reason=grant_reason)
    return AccountCreated(account=account, grant=grant)
