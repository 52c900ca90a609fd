"""Query parameters and answer shapes of the network's v0 account reads, as aleph-im/pyaleph
reads and writes them (`src/aleph/schemas/api/accounts.py`). The queries are read by the
network's own rules (pydantic models like its `GetAccountQueryParams`,
`GetBalancesChainsQueryParams`, `GetCreditBalancesQueryParams` and
`GetAccountCreditHistoryQueryParams`), so the same query is accepted or refused, with the same
422 body; only the bounds the network lacks are added (a page size, a page or a minimum balance
no database can use). The DRF serializers document the JSON answers: token amounts as JSON
numbers (here with all their digits), credits as JSON integers."""
from __future__ import annotations

import binascii
import datetime as dt
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum, IntEnum
from typing import NamedTuple, Optional

from aleph_message.models import Chain
from aleph_message.models import MessageType as NetworkMessageType
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from rest_framework import serializers

from ..cursors import opaque_decode, opaque_encode
from ..selectors.network import NETWORK_SORT_COLUMNS

# `pagination` (page size): 0 is the network's "no limit", read here as the largest page served.
V0_DEFAULT_PAGINATION = 100
V0_MAX_PAGINATION = 1000
# With a cursor the network caps the page at 200 (its CURSOR_MAX_PAGINATION); so does this.
V0_CURSOR_MAX_PAGINATION = 200
V0_MAX_PAGE = 10**9
V0_MAX_MIN_BALANCE = 2**63 - 1
V0_MAX_CURSOR_LENGTH = 1000
# The last whole second of year 9999 (UTC): the largest `startDate`/`endDate` taken, as the
# schema says (a fraction past it was taken by Python and not by the schema).
V0_MAX_TIMESTAMP = 253402300799
NETWORK_CHAINS = tuple(chain.value for chain in Chain)
NETWORK_MESSAGE_TYPES = tuple(message_type.value for message_type in NetworkMessageType)


def network_number(value: Decimal) -> Decimal:
    """An exact amount as the JSON number `ExactJSONRenderer` writes: every digit, no exponent,
    no trailing zeros (1500.25 for 1500.250000000000000000, 0.000000000000000001, never 1E-18)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return _PlainDecimal(text)


class _PlainDecimal(Decimal):
    """A Decimal that prints as positional notation (the renderer writes str() of a Decimal)."""

    def __str__(self) -> str:
        return format(self, "f")


def network_instant(value: datetime | None) -> str | None:
    """An instant as the network writes it (pydantic): ISO 8601 in UTC with a `Z`."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- queries ------------------------------------------------------------------------------------

def _split(value):
    """A comma-separated list in one parameter (`chains=ETH,SOL`), as the network splits it."""
    return value.split(",") if isinstance(value, str) else value


class NetworkBalanceQuery(BaseModel):
    """`GetAccountQueryParams`."""

    chain: Optional[Chain] = None
    include_credit_details: bool = False


class NetworkBalancesQuery(BaseModel):
    """`GetBalancesChainsQueryParams`. The network's default `min_balance`, 0, is below its own
    minimum of 1: only a value given is checked."""

    chains: Optional[list[Chain]] = None
    pagination: int = Field(default=V0_DEFAULT_PAGINATION, ge=0, le=V0_MAX_PAGINATION)
    page: int = Field(default=1, ge=1, le=V0_MAX_PAGE)
    min_balance: int = Field(default=0, ge=1, le=V0_MAX_MIN_BALANCE)
    cursor: Optional[str] = None

    _split_chains = field_validator("chains", mode="before")(_split)


class NetworkCreditBalancesQuery(BaseModel):
    """`GetCreditBalancesQueryParams`."""

    pagination: int = Field(default=V0_DEFAULT_PAGINATION, ge=0, le=V0_MAX_PAGINATION)
    page: int = Field(default=1, ge=1, le=V0_MAX_PAGE)
    min_balance: int = Field(default=0, ge=1, le=V0_MAX_MIN_BALANCE)
    cursor: Optional[str] = None


class CreditFlow(str, Enum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


class SortOrder(IntEnum):
    ASCENDING = 1
    DESCENDING = -1


# The network's `SortByCreditHistory`.
SortByCreditHistory = Enum("SortByCreditHistory",
                           {key.upper(): key for key in NETWORK_SORT_COLUMNS}, type=str)


class NetworkCreditHistoryFilterQuery(BaseModel):
    """`CreditHistoryFilterParams`: the filters of the credit history and of its summary."""

    model_config = ConfigDict(populate_by_name=True)

    tx_hash: Optional[str] = None
    token: Optional[str] = None
    chain: Optional[str] = None
    provider: Optional[str] = None
    origin: Optional[str] = None
    origin_ref: Optional[str] = None
    payment_method: Optional[str] = None
    has_expiration: Optional[bool] = None
    exclude_payment_method: Optional[list[str]] = None
    start_date: Optional[dt.datetime] = Field(default=None, alias="startDate")
    end_date: Optional[dt.datetime] = Field(default=None, alias="endDate")
    direction: Optional[CreditFlow] = None
    resource_types: Optional[list[NetworkMessageType]] = Field(default=None,
                                                               alias="resourceTypes")
    resource: Optional[str] = None

    _split_lists = field_validator("exclude_payment_method", "resource_types",
                                   mode="before")(_split)

    @field_validator("start_date", "end_date", mode="before")
    @classmethod
    def epoch_seconds_to_datetime(cls, value):
        if value is None:
            return None
        seconds = float(value)
        if seconds < 0:
            raise ValueError("timestamp must not be negative")
        if seconds > V0_MAX_TIMESTAMP:
            raise ValueError(f"timestamp must not be after {V0_MAX_TIMESTAMP}")
        try:
            return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"invalid Unix timestamp: {value}") from exc

    @model_validator(mode="after")
    def validate_date_range(self):
        if self.start_date is not None and self.end_date is not None \
                and self.end_date < self.start_date:
            raise ValueError("end date cannot be lower than start date.")
        return self


class NetworkCreditHistoryQuery(NetworkCreditHistoryFilterQuery):
    """`GetAccountCreditHistoryQueryParams`."""

    pagination: int = Field(default=0, ge=0, le=V0_MAX_PAGINATION)
    page: int = Field(default=1, ge=1, le=V0_MAX_PAGE)
    cursor: Optional[str] = None
    sort_by: SortByCreditHistory = SortByCreditHistory.MESSAGE_TIMESTAMP
    sort_order: SortOrder = SortOrder.DESCENDING


# --- paging ------------------------------------------------------------------------------------

class NetworkQueryRefused(ValueError):
    """A query the network refuses with a 422 whose text is this message."""


class NetworkPaging(NamedTuple):
    """Where a page starts: `page` of `page_size` rows, or with a cursor (`cursor_mode`) the
    rows after the position `after` (the decoded cursor; None for the first page)."""

    page_size: int
    page: int
    cursor_mode: bool
    after: dict | None


def network_paging(*, pagination: int, page: int, cursor: str | None) -> NetworkPaging:
    """The page a query asks for: without a cursor, `pagination` rows (0: the largest page) of
    page `page`; with one, at most the network's cursor page (0 refused, as there)."""
    if cursor is None:
        return NetworkPaging(pagination or V0_MAX_PAGINATION, page, False, None)
    if pagination == 0:
        raise NetworkQueryRefused("pagination=0 is not allowed with cursor-based pagination")
    return NetworkPaging(min(pagination, V0_CURSOR_MAX_PAGINATION), 1, True,
                         network_cursor_decode(cursor) if cursor else None)


def network_cursor_encode(values: dict) -> str:
    """An opaque cursor: unpadded URL-safe base64 of a JSON object (as the network writes its
    own)."""
    return opaque_encode(values)


def network_cursor_decode(cursor: str) -> dict:
    """The values of a cursor `network_cursor_encode` wrote; NetworkQueryRefused otherwise."""
    if len(cursor) > V0_MAX_CURSOR_LENGTH:
        raise NetworkQueryRefused("Invalid cursor: too long")
    try:
        values = opaque_decode(cursor)
    except (ValueError, binascii.Error, UnicodeError, RecursionError) as exc:
        raise NetworkQueryRefused(f"Invalid cursor: {exc}") from None
    if not isinstance(values, dict):
        raise NetworkQueryRefused("Invalid cursor: payload is not a dict")
    return values


def cursor_values(after: dict, fields: dict[str, type]) -> list:
    """The cursor's values of `fields`, each of its type; NetworkQueryRefused otherwise."""
    values = [after.get(name) for name in fields]
    if any(isinstance(value, bool) or not isinstance(value, kind)
           for value, kind in zip(values, fields.values(), strict=True)):
        raise NetworkQueryRefused("Invalid cursor: missing required fields")
    return values


def credit_history_cursor(*, sort_by: str, sort_order: int, value, entry_id: int) -> str:
    """The cursor of the page after the entry at (value, entry_id) in this sort."""
    if isinstance(value, datetime):
        value = value.isoformat()
    return network_cursor_encode({"s": sort_by, "o": sort_order, "v": value, "i": entry_id})


def credit_history_after(after: dict, *, sort_by: str, sort_order: int) -> tuple[object, int]:
    """The position (sort value, entry id) a credit history cursor holds, for the sort the
    request asks (the network refuses a cursor made for another)."""
    cursor_sort_by, cursor_sort_order, entry_id = cursor_values(
        after, {"s": str, "o": int, "i": int})
    if cursor_sort_by != sort_by:
        raise NetworkQueryRefused(
            f"Cursor sort field mismatch: cursor was created with sort_by={cursor_sort_by}, "
            f"but request has sort_by={sort_by}")
    if cursor_sort_order != sort_order:
        raise NetworkQueryRefused(
            f"Cursor sort order mismatch: cursor was created with "
            f"sort_order={cursor_sort_order}, but request has sort_order={sort_order}")
    value = after.get("v")
    if value is None:
        if NETWORK_SORT_COLUMNS[sort_by] in ("effective_at", "amount"):
            raise NetworkQueryRefused("Invalid cursor: missing required fields")
        return None, entry_id
    if sort_by in ("message_timestamp", "expiration_date"):
        instant = parse_datetime(value) if isinstance(value, str) else None
        if instant is None or instant.tzinfo is None:
            raise NetworkQueryRefused(f"Invalid cursor: not a date-time: {value!r}")
        return instant, entry_id
    if sort_by == "amount":
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
            raise NetworkQueryRefused(f"Invalid cursor: not an amount: {value!r}")
        return value, entry_id
    if NETWORK_SORT_COLUMNS[sort_by] is None or not isinstance(value, str):
        raise NetworkQueryRefused(f"Invalid cursor: not a {sort_by}: {value!r}")
    return value, entry_id


# --- answers -------------------------------------------------------------------------------------

@extend_schema_field({"type": "number", "example": 1500.25,
                      "description": "Tokens as a JSON number, with all their digits (up to 18 "
                                     "decimals; the network writes a float)."})
class NetworkNumberField(serializers.Field):
    pass


class CreditBalanceDetailSerializer(serializers.Serializer):
    expiration_date = serializers.DateTimeField(allow_null=True,
                                                help_text="null: these credits never expire.")
    amount = serializers.IntegerField(help_text="Credits spendable now that expire then.")


class NetworkBalanceResponseSerializer(serializers.Serializer):
    """`GetAccountBalanceResponse`."""

    address = serializers.CharField(help_text="The address as stored (EVM: checksummed).")
    balance = NetworkNumberField(help_text="Tokens held (the oracle's reports): on `chain` if "
                                           "given, else on every chain together.")
    details = serializers.DictField(child=NetworkNumberField(),
                                    help_text="Tokens per chain; empty when `chain` is given.")
    locked_amount = NetworkNumberField(help_text="Tokens locked by the live hold-paid resources "
                                                 "of this address (every chain).")
    credit_balance = serializers.IntegerField(help_text="Credits spendable now.")
    credit_balance_details = CreditBalanceDetailSerializer(
        many=True, allow_null=True,
        help_text="With `include_credit_details=true`: the credits by expiry, never-expiring "
                  "first, then soonest first; otherwise null.")


class AddressBalanceSerializer(serializers.Serializer):
    """`AddressBalanceResponse`."""

    address = serializers.CharField()
    balance = NetworkNumberField()
    chain = serializers.ChoiceField(choices=NETWORK_CHAINS)


class NetworkPageSerializer(serializers.Serializer):
    """The network's paging fields of a list answer: by page, or by cursor."""

    pagination_per_page = serializers.IntegerField(help_text="The page size used.")
    pagination_page = serializers.IntegerField(required=False,
                                               help_text="Without a cursor: the page.")
    pagination_total = serializers.IntegerField(
        required=False, help_text="Without a cursor: how many rows match in all.")
    pagination_item = serializers.CharField(
        required=False, help_text="Without a cursor: the name of the list (its key).")
    next_cursor = serializers.CharField(
        required=False, allow_null=True,
        help_text="With a cursor: pass it as `cursor` for the next page; null on the last.")


class BalancesResponseSerializer(NetworkPageSerializer):
    """The network's paged `balances` answer."""

    balances = AddressBalanceSerializer(many=True)


class AddressCreditBalanceSerializer(serializers.Serializer):
    """`AddressCreditBalanceResponse`."""

    address = serializers.CharField()
    credits = serializers.IntegerField(help_text="Credits spendable now.")


class CreditBalancesResponseSerializer(NetworkPageSerializer):
    """The network's paged `credit_balances` answer."""

    credit_balances = AddressCreditBalanceSerializer(many=True)


class CreditHistoryItemSerializer(serializers.Serializer):
    """`CreditHistoryResponseItem`: one ledger entry as a network record."""

    amount = serializers.IntegerField(help_text="Signed change of the balance, in credits.")
    price = serializers.CharField(allow_null=True, help_text="Not known here: null.")
    bonus_amount = serializers.IntegerField(allow_null=True, help_text="Not known here: null.")
    tx_hash = serializers.CharField(allow_null=True, help_text="Not known here: null.")
    token = serializers.CharField(allow_null=True, help_text="Not known here: null.")
    chain = serializers.CharField(allow_null=True, help_text="Not known here: null.")
    provider = serializers.CharField(allow_null=True,
                                     help_text="`ALEPH` for expenses and transfers, else null.")
    origin = serializers.CharField(allow_null=True,
                                   help_text="Transfers: the other account's address.")
    origin_ref = serializers.CharField(allow_null=True,
                                       help_text="Expenses of a resource: its item hash.")
    payment_method = serializers.CharField(
        allow_null=True, help_text="`credit_expense`, `credit_transfer`, `credit_expiry`, "
                                   "`credit_adjustment`; null for grants.")
    credit_ref = serializers.CharField(help_text="The entry's reference (else its idempotency "
                                                 "key).")
    credit_index = serializers.IntegerField(help_text="The entry's id in this ledger.")
    expiration_date = serializers.DateTimeField(allow_null=True,
                                                help_text="Credits in: the expiry asked for.")
    message_timestamp = serializers.DateTimeField(help_text="When the entry took effect.")
    expense_count = serializers.IntegerField(allow_null=True, help_text="Always null here.")
    expense_size_mib = serializers.CharField(allow_null=True, help_text="Always null here.")


class NetworkCreditHistoryResponseSerializer(serializers.Serializer):
    """`GetAccountCreditHistoryResponse` (or, with a cursor, its cursor-paged shape)."""

    address = serializers.CharField()
    credit_history = CreditHistoryItemSerializer(many=True)
    pagination_per_page = serializers.IntegerField(help_text="The page size used.")
    pagination_page = serializers.IntegerField(required=False,
                                               help_text="Without a cursor: the page.")
    pagination_total = serializers.IntegerField(
        required=False, help_text="Without a cursor: how many entries match in all.")
    next_cursor = serializers.CharField(
        required=False, allow_null=True,
        help_text="With a cursor: pass it as `cursor` for the next page; null on the last.")


class CreditHistorySummaryResponseSerializer(serializers.Serializer):
    """`GetAccountCreditHistorySummaryResponse`."""

    address = serializers.CharField()
    entry_count = serializers.IntegerField()
    total_amount = serializers.IntegerField(help_text="= total_incoming + total_outgoing.")
    total_incoming = serializers.IntegerField(help_text="Sum of the positive amounts.")
    total_outgoing = serializers.IntegerField(help_text="Sum of the negative amounts (≤ 0).")
