"""Request validation and answer shapes of the balance, credit history, grant, expense and
transfer endpoints. Credits are whole numbers written as JSON strings of digits; in requests a
JSON integer is accepted too, never a float."""
import re
from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..addresses import ADDRESS_PATTERN, ADDRESS_SCHEMA, MAX_ADDRESS_LENGTH
from ..cursors import InvalidCursor, cursor_decode
from ..models import EntryKind
from ..services.ledger import MAX_CREDITS, MAX_REFERENCE_LENGTH

CREDITS_PATTERN = r"^-?[0-9]+$"
# A positive amount in a request, as the server takes it: 1 to MAX_CREDITS (a power of ten) in
# digits without leading zeros. The schema publishes this very pattern.
assert str(MAX_CREDITS).rstrip("0") == "1", "CREDIT_AMOUNT_PATTERN assumes a power of ten"
CREDIT_AMOUNT_PATTERN = rf"^(?:[1-9][0-9]{{0,{len(str(MAX_CREDITS)) - 2}}}|{MAX_CREDITS})$"
_DIGITS = re.compile(r"0|[1-9][0-9]*")  # a whole number written once: no sign, no leading zero
DEFAULT_HISTORY_LIMIT = 50
MAX_HISTORY_LIMIT = 200


@extend_schema_field({
    "oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_CREDITS},
              {"type": "string", "pattern": CREDIT_AMOUNT_PATTERN}],
    "description": f"Whole credits, 1 to {MAX_CREDITS}: a JSON integer or a string of digits "
                   "(no sign, no fraction, no exponent, no leading zero).",
    "example": "1000",
})
class CreditAmountField(serializers.Field):
    """A positive whole number of credits: a JSON integer or a string of digits. Booleans,
    floats (even 12.0), signs and exponents are refused."""

    default_error_messages = {
        "invalid": "A whole number of credits is required: a JSON integer or a string of "
                   "digits without leading zeros.",
        "range": f"Credits must be between 1 and {MAX_CREDITS}.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            value = data
        elif isinstance(data, str) and _DIGITS.fullmatch(data):
            if len(data) > len(str(MAX_CREDITS)):
                self.fail("range")
            value = int(data)
        else:
            self.fail("invalid")
        if not 1 <= value <= MAX_CREDITS:
            self.fail("range")
        return value

    def to_representation(self, value):
        return str(value)


@extend_schema_field({"type": "string", "pattern": CREDITS_PATTERN,
                      "description": "Whole credits as a string of digits (signed where a "
                                     "movement can be negative).",
                      "example": "1000"})
class Credits(serializers.CharField):
    """Credits in an answer: an integer written as a string."""


class StrictCharField(serializers.CharField):
    """A JSON string only: DRF's CharField would turn 5 or true into "5" or "True"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("A string is required.")
        return super().to_internal_value(data)


# Surrounding white space is forgiven (the server strips it); the rest as in the path.
@extend_schema_field({**ADDRESS_SCHEMA, "pattern": rf"^\s*{ADDRESS_PATTERN[1:-1]}\s*$"})
class AddressField(StrictCharField):
    """An account address in a request body (normalised by the service, which says why not)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_ADDRESS_LENGTH)
        super().__init__(**kwargs)


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 instant with its time zone (`Z` or an offset): a naive time is ambiguous."""

    def to_internal_value(self, value):
        if not isinstance(value, str):
            raise serializers.ValidationError("An ISO 8601 date-time string is required.")
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is not None and timezone.is_naive(parsed):
            raise serializers.ValidationError(
                "The date-time needs a time zone (e.g. 2030-01-01T00:00:00Z).")
        return super().to_internal_value(value)


class CursorField(serializers.CharField):
    """A list's `cursor` query parameter, read as the position (instant, id) it encodes."""

    def to_internal_value(self, data) -> tuple[datetime, int]:
        try:
            return cursor_decode(super().to_internal_value(data))
        except InvalidCursor as exc:
            raise serializers.ValidationError(str(exc)) from None


def _reference_field(help_text: str):
    return StrictCharField(max_length=MAX_REFERENCE_LENGTH, trim_whitespace=False,
                           help_text=help_text)


def _expiry_field():
    return AwareDateTimeField(required=False, allow_null=True,
                              help_text="When the credits expire (ISO 8601 with a time zone); "
                                        "absent or null: never.")


# --- requests ----------------------------------------------------------------------------------

class GrantRequestSerializer(serializers.Serializer):
    address = AddressField(help_text="The account credited.")
    amount = CreditAmountField()
    expires_at = _expiry_field()
    reference = _reference_field("Unique per grant (e.g. the purchase id): a repeat with the "
                                 "same body changes nothing, with another body is a 409.")


class ExpenseRequestSerializer(serializers.Serializer):
    address = AddressField(help_text="The account charged.")
    amount = CreditAmountField()
    resource = StrictCharField(required=False, allow_null=True, max_length=128,
                               help_text="Item hash of a resource of this account, if the "
                                         "expense is for one.")
    reference = _reference_field("Unique per expense: a repeat with the same body changes "
                                 "nothing, with another body is a 409.")


class TransferRequestSerializer(serializers.Serializer):
    to = AddressField(help_text="The recipient's address.")
    amount = CreditAmountField()
    expires_at = AwareDateTimeField(
        required=False, allow_null=True,
        help_text="Latest expiry of the credits received; each piece keeps its own expiry if "
                  "that is earlier. Absent or null: the pieces' own expiries.")
    reference = _reference_field("Unique per transfer of this sender: a repeat with the same "
                                 "body changes nothing, with another body is a 409.")


class CreditHistoryQuerySerializer(serializers.Serializer):
    kind = serializers.ListField(child=serializers.ChoiceField(choices=EntryKind.choices),
                                 required=False)
    since = AwareDateTimeField(required=False)
    until = AwareDateTimeField(required=False)
    cursor = CursorField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1,
                                     default=DEFAULT_HISTORY_LIMIT)

    def validate_limit(self, value: int) -> int:
        # A larger page is capped, not refused: the client just gets fewer entries per page.
        return min(value, MAX_HISTORY_LIMIT)

    def validate(self, attrs):
        if "since" in attrs and "until" in attrs and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "until must be after since."})
        return attrs


# --- answers -----------------------------------------------------------------------------------

class ExpirySplitSerializer(serializers.Serializer):
    expires_at = serializers.DateTimeField(allow_null=True, help_text="null: never expires.")
    credits = Credits()


class TokenBalanceSerializer(serializers.Serializer):
    chain = serializers.CharField()
    balance = serializers.CharField(help_text="Tokens, 18 decimals.")
    height = serializers.IntegerField(help_text="Block height of the report.")


class BalanceResponseSerializer(serializers.Serializer):
    address = serializers.CharField(help_text="The address as stored (EVM: checksummed).")
    credits = Credits(help_text="Credits spendable now: unexpired lots.")
    by_expiry = ExpirySplitSerializer(many=True, help_text="The credits split by expiry, "
                                                           "soonest first, never-expiring last.")
    token_balances = TokenBalanceSerializer(many=True)
    hold_locked = serializers.DictField(
        child=serializers.CharField(),
        help_text="Tokens locked by live hold-paid resources, per payment chain (18 decimals).")
    credit_cost_per_hour = serializers.CharField(
        help_text="Credits per hour of the live credit-paid resources (18 decimals).")
    runway_hours = serializers.CharField(
        allow_null=True,
        help_text="Hours until the credits no longer cover the live credit-paid resources at "
                  "their current rate, spending soonest-expiring credits first and losing what "
                  "expires unspent (2 decimals, floored); null when nothing is billed.")
    at = serializers.DateTimeField(help_text="The instant of this balance.")


class LedgerEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=EntryKind.choices)
    amount = Credits(help_text="Signed change of the balance.")
    amount_requested = Credits(allow_null=True, help_text="Debits: what was asked.")
    shortfall = Credits(help_text="Debits: what was asked but could not be drained.")
    expires_at = serializers.DateTimeField(allow_null=True,
                                           help_text="Credits in: the expiry asked for.")
    reference = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True, help_text="Adjustments: why.")
    resource = serializers.CharField(allow_null=True, help_text="Item hash, for expenses of "
                                                                "a resource.")
    counterparty = serializers.CharField(allow_null=True,
                                         help_text="Transfers: the other account's address.")
    effective_at = serializers.DateTimeField()


class CreditHistoryResponseSerializer(serializers.Serializer):
    results = LedgerEntrySerializer(many=True)
    limit = serializers.IntegerField(help_text="The page size used (capped).")
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for the "
                                                                   "next (older) page.")
    next = serializers.CharField(allow_null=True, help_text="The next page's URL.")


class GrantResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The ledger entry.")
    kind = serializers.ChoiceField(choices=EntryKind.choices)
    address = serializers.CharField()
    amount = Credits()
    expires_at = serializers.DateTimeField(allow_null=True)
    reference = serializers.CharField()
    effective_at = serializers.DateTimeField()


class ExpenseResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The ledger entry.")
    kind = serializers.ChoiceField(choices=EntryKind.choices)
    address = serializers.CharField()
    amount_requested = Credits()
    amount_drained = Credits()
    shortfall = Credits(help_text="What the account's credits could not cover (recorded).")
    resource = serializers.CharField(allow_null=True)
    reference = serializers.CharField()
    effective_at = serializers.DateTimeField()


class TransferPieceSerializer(serializers.Serializer):
    credits = Credits()
    expires_at = serializers.DateTimeField(allow_null=True)


class TransferResponseSerializer(serializers.Serializer):
    out_entry_id = serializers.IntegerField(help_text="The sender's transfer_out entry.")
    in_entry_id = serializers.IntegerField(help_text="The recipient's transfer_in entry.")
    sender = serializers.CharField()
    to = serializers.CharField()
    amount = Credits()
    expires_at = serializers.DateTimeField(allow_null=True)
    reference = serializers.CharField()
    effective_at = serializers.DateTimeField()
    pieces = TransferPieceSerializer(many=True, help_text="The recipient's new lots: each "
                                                          "drained piece with its expiry.")
