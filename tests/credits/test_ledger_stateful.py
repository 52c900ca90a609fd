"""Hypothesis stateful test of the ledger: random grants, expenses (some beyond the balance),
transfers between three accounts (some refused), adjustments, replays, expiry runs and clock moves
keep `ledger_drifts()` empty, never make a lot negative, and keep every balance and its split by
expiry equal to a small model of lots kept here.

Each example runs inside a savepoint of the test's transaction and is rolled back at teardown.
"""
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from credits.errors import InsufficientCredit
from credits.models import Account, EntryKind, LedgerEntry, Lot
from credits.selectors.ledger import account_balance, account_balance_by_expiry, ledger_drifts
from credits.services.ledger import (
    adjustment_create,
    expense_create,
    grant_create,
    lots_expire,
    transfer_create,
)

from .conftest import ADDRESS, OTHER_ADDRESS, T0, THIRD_ADDRESS

ADDRESSES = (ADDRESS, OTHER_ADDRESS, THIRD_ADDRESS)
addresses = st.sampled_from(ADDRESSES)
amounts = st.integers(min_value=1, max_value=1_000)
# None: never expires; otherwise minutes from now (some expire within a few clock moves).
expiry_offsets = st.one_of(st.none(), st.integers(min_value=1, max_value=72 * 60))


@dataclass
class ModelLot:
    seq: int  # creation order, as the lots' primary keys
    expires_at: object
    created_at: object
    remaining: int

    def drain_key(self):
        return (self.expires_at is None, self.expires_at or T0, self.created_at, self.seq)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.now = T0
        self.lots: dict[str, list[ModelLot]] = {address: [] for address in ADDRESSES}
        self.next_seq = 0
        self.references = 0
        self.grants_made: list[dict] = []

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    # --- the model ---------------------------------------------------------------------------

    def _reference(self, prefix):
        self.references += 1
        return f"{prefix}-{self.references}"

    def _expiry(self, offset_minutes):
        return None if offset_minutes is None else self.now + timedelta(minutes=offset_minutes)

    def _open(self, address, amount, expires_at):
        self.lots[address].append(ModelLot(self.next_seq, expires_at, self.now, amount))
        self.next_seq += 1

    def _spendable(self, address):
        return sorted((lot for lot in self.lots[address]
                       if lot.remaining > 0
                       and (lot.expires_at is None or lot.expires_at > self.now)),
                      key=ModelLot.drain_key)

    def _balance(self, address):
        return sum(lot.remaining for lot in self._spendable(address))

    def _drain(self, address, amount):
        """Pieces (source lot, credits), soonest expiry first, never below zero."""
        pieces = []
        for lot in self._spendable(address):
            if amount == 0:
                break
            piece = min(lot.remaining, amount)
            lot.remaining -= piece
            amount -= piece
            pieces.append((lot, piece))
        return pieces

    # --- rules -------------------------------------------------------------------------------

    @initialize(address=addresses, amount=amounts, offset=expiry_offsets)
    def first_grant(self, address, amount, offset):
        self.grant(address, amount, offset)

    @rule(address=addresses, amount=amounts, offset=expiry_offsets)
    def grant(self, address, amount, offset):
        arguments = {"address": address, "amount": amount, "expires_at": self._expiry(offset),
                     "reference": self._reference("grant")}
        result = grant_create(**arguments, actor="machine", at=self.now)
        assert not result.replayed
        self._open(address, amount, arguments["expires_at"])
        self.grants_made.append(arguments)

    @precondition(lambda self: self.grants_made)
    @rule(data=st.data())
    def replay_a_grant(self, data):
        arguments = data.draw(st.sampled_from(self.grants_made))
        entries_before = LedgerEntry.objects.count()

        result = grant_create(**arguments, actor="machine", at=self.now)

        assert result.replayed
        assert LedgerEntry.objects.count() == entries_before

    @rule(address=addresses, amount=st.integers(min_value=1, max_value=2_500))
    def expense(self, address, amount):
        drained = sum(piece for _, piece in self._drain(address, amount))

        result = expense_create(address=address, amount=amount,
                                reference=self._reference("expense"), actor="machine",
                                at=self.now)

        assert (result.entry.amount, result.entry.amount_requested, result.entry.shortfall) == (
            -drained, amount, amount - drained)

    @rule(sender=addresses, recipient=addresses, amount=st.integers(min_value=1, max_value=1_500),
          offset=expiry_offsets)
    def transfer(self, sender, recipient, amount, offset):
        if sender == recipient:
            return  # refused by validation; covered by the service tests
        requested = self._expiry(offset)
        arguments = {"sender_address": sender, "recipient_address": recipient, "amount": amount,
                     "expires_at": requested, "reference": self._reference("transfer"),
                     "actor": "machine", "at": self.now}
        if self._balance(sender) < amount:
            entries_before = LedgerEntry.objects.count()
            with pytest.raises(InsufficientCredit):
                transfer_create(**arguments)
            assert LedgerEntry.objects.count() == entries_before
            return

        result = transfer_create(**arguments)

        for source, piece in self._drain(sender, amount):
            expiries = [e for e in (source.expires_at, requested) if e is not None]
            self._open(recipient, piece, min(expiries) if expiries else None)
        assert sum(lot.amount for lot in result.lots) == amount

    @rule(address=addresses, amount=st.integers(min_value=-1_500, max_value=1_000)
          .filter(lambda amount: amount != 0), offset=expiry_offsets)
    def adjustment(self, address, amount, offset):
        expires_at = self._expiry(offset) if amount > 0 else None

        result = adjustment_create(address=address, amount=amount, reason="machine",
                                   actor="staff", expires_at=expires_at, at=self.now)

        if amount > 0:
            self._open(address, amount, expires_at)
        else:
            drained = sum(piece for _, piece in self._drain(address, -amount))
            assert (result.entry.amount, result.entry.shortfall) == (-drained,
                                                                    -amount - drained)

    @rule(minutes=st.integers(min_value=0, max_value=36 * 60))
    def clock_moves(self, minutes):
        self.now += timedelta(minutes=minutes)

    @rule()
    def expiry_runs(self):
        due = sum(lot.remaining for lots in self.lots.values() for lot in lots
                  if lot.expires_at is not None and lot.expires_at <= self.now)

        assert lots_expire(at=self.now) == due

        for lots in self.lots.values():
            for lot in lots:
                if lot.expires_at is not None and lot.expires_at <= self.now:
                    lot.remaining = 0
        assert not LedgerEntry.objects.filter(kind=EntryKind.EXPIRY, amount__gt=0).exists()

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def the_ledger_agrees_with_the_lots_and_drains(self):
        assert ledger_drifts(at=self.now) == []

    @invariant()
    def no_lot_is_negative(self):
        assert not Lot.objects.filter(remaining__lt=0).exists()

    @invariant()
    def balances_and_their_split_match_the_model(self):
        for address in ADDRESSES:
            account = Account.objects.filter(address=address).first()
            expected_split: dict = {}
            for lot in self._spendable(address):
                expected_split[lot.expires_at] = expected_split.get(lot.expires_at, 0) \
                    + lot.remaining
            if account is None:
                assert self._balance(address) == 0
                continue
            assert account_balance(account=account, at=self.now) == self._balance(address)
            split = account_balance_by_expiry(account=account, at=self.now)
            assert {row["expires_at"]: row["amount"] for row in split} == expected_split
            expiries = [row["expires_at"] for row in split]
            assert expiries == sorted(expiries, key=lambda e: (e is None, e or T0))


@pytest.mark.django_db
def test_random_ledger_histories_keep_the_invariants():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(max_examples=30, stateful_step_count=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.filter_too_much]))
