"""The network's v0 API (aleph-im/pyaleph's shapes): balances and credit history of addresses.

Thin views over `credits.selectors.ledger` and `credits.selectors.network`, written as a node
writes these answers (`src/aleph/web/controllers/accounts.py`), so the network's clients (its
SDK, CLI and explorer) work unchanged: its paths, query parameters (names, defaults, what they
accept), paging (`page` and `pagination`, or a `cursor`), JSON fields, token amounts as JSON
numbers (here with all their digits), and its plain-text errors with its status codes (422 for
a refused query, 404 for a credit history with nothing to show). An address with no account
answers as the network answers one it never saw. Account reads follow
CREDITS_PUBLIC_ACCOUNT_READS as v1's do.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.urls import URLPattern, path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from pydantic import ValidationError
from rest_framework import exceptions
from rest_framework.response import Response

from ..addresses import InvalidAddress, normalize_address
from ..funding import exact_total
from ..models import Account, LedgerEntry
from ..selectors.accounts import account_by_address
from ..selectors.ledger import (
    account_balance,
    account_balance_by_expiry,
    account_hold_locked_by_chain,
    account_token_balances,
)
from ..selectors.network import (
    NETWORK_SORT_COLUMNS,
    CreditHistoryFilters,
    credit_balances,
    network_credit_history,
    network_credit_history_summary,
    token_balances_by_chain,
)
from ..serializers.network_accounts import (
    NETWORK_CHAINS,
    NETWORK_MESSAGE_TYPES,
    V0_CURSOR_MAX_PAGINATION,
    V0_DEFAULT_PAGINATION,
    V0_MAX_MIN_BALANCE,
    V0_MAX_PAGE,
    V0_MAX_PAGINATION,
    V0_MAX_TIMESTAMP,
    BalancesResponseSerializer,
    CreditBalancesResponseSerializer,
    CreditFlow,
    CreditHistorySummaryResponseSerializer,
    NetworkBalanceQuery,
    NetworkBalanceResponseSerializer,
    NetworkBalancesQuery,
    NetworkCreditBalancesQuery,
    NetworkCreditHistoryFilterQuery,
    NetworkCreditHistoryQuery,
    NetworkCreditHistoryResponseSerializer,
    NetworkPaging,
    NetworkQueryRefused,
    SortByCreditHistory,
    credit_history_after,
    credit_history_cursor,
    cursor_values,
    network_cursor_encode,
    network_instant,
    network_number,
    network_paging,
)
from ..serializers.network_messages import BOOLEAN_PATTERN
from .common import (
    ACCOUNT_READ_ERRORS,
    ACCOUNT_READ_WHO,
    ADDRESS_PARAMETER,
    NETWORK_NOTE,
    AccountReader,
    AccountReadView,
    NetworkTextResponse,
    error_doc,
    query_first_values,
    require_account_reader,
    text_doc,
)
from .estimates import ExactJSONRenderer

# The network's text for a credit history with no entry on the page asked.
NO_CREDIT_HISTORY = "No credit history found for this address"


class _Refused(Exception):
    """Ends a request with the network's plain-text answer `text` and `status`."""

    def __init__(self, text: str, status: int = 422):
        super().__init__(text)
        self.text = text
        self.status = status


class _NetworkAccountReadView(AccountReadView):
    """A v0 account read: public as on the network's nodes, or with account reads private its
    owner's, a service or operator key's, or staff's; JSON numbers with all their digits; the
    network's plain-text refusals."""

    permission_classes = [AccountReader]
    staff_model = Account
    renderer_classes = [ExactJSONRenderer]

    def handle_exception(self, exc):
        if isinstance(exc, _Refused):
            return NetworkTextResponse(exc.text, status=exc.status)
        return super().handle_exception(exc)


def _address(value: str) -> str:
    """The path's address, normalised (EVM: checksummed); a 422 if it cannot be one. (The
    network takes any text and answers it as an unknown address.)"""
    try:
        return normalize_address(value)
    except InvalidAddress as exc:
        raise _Refused(str(exc)) from None


def _query(model, request):
    """The query read by the network's model; its 422 with pydantic's errors otherwise. A
    repeated parameter counts once, with its first value, as on the network."""
    values = query_first_values(request.query_params)
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise _Refused(exc.json()) from None


def _paging(query) -> NetworkPaging:
    try:
        return network_paging(pagination=query.pagination, page=query.page, cursor=query.cursor)
    except NetworkQueryRefused as exc:
        raise _Refused(str(exc)) from None


def _cursor(read: Callable, *args, **kwargs):
    """What `read` finds in a cursor; the network's 422 with its text if it is not one."""
    try:
        return read(*args, **kwargs)
    except NetworkQueryRefused as exc:
        raise _Refused(str(exc)) from None


def _require_all_accounts_reader(request) -> None:
    try:
        require_account_reader(request, None)
    except exceptions.PermissionDenied:
        raise exceptions.PermissionDenied(
            "Account reads are private here: this lists every account, which an owner key may "
            "not read; send a service or an operator API key.") from None


@dataclass(frozen=True)
class _Page:
    rows: list
    paging: dict  # the answer's paging fields


def _page(rows: QuerySet, paging: NetworkPaging, *, next_cursor: Callable[[object], str],
          item: str | None = None) -> _Page:
    """One page of `rows` as the network pages: by page (with the total), or after a cursor
    (with the next one, or null on the last page)."""
    size = paging.page_size
    if not paging.cursor_mode:
        offset = (paging.page - 1) * size
        fields = {"pagination_per_page": size, "pagination_page": paging.page,
                  "pagination_total": rows.count()}
        if item is not None:
            fields["pagination_item"] = item
        return _Page(list(rows[offset:offset + size]), fields)
    # One more than the page tells whether there is a next one without a count.
    page = list(rows[:size + 1])
    more = len(page) > size
    page = page[:size]
    return _Page(page, {"pagination_per_page": size,
                        "next_cursor": next_cursor(page[-1]) if more else None})


# --- documentation -------------------------------------------------------------------------------

_REFUSED = text_doc("The network's 422, as text: pydantic's errors as a JSON list for a refused "
                 "query parameter; a sentence for an address that cannot be one or a cursor "
                 "this API did not give.")
_NOT_STORABLE = error_doc("The path or query holds text that cannot be stored (a NUL).")
_NO_SUCH_PATH = error_doc("Nothing at this path (an empty address, or a slash in it).")
_ERRORS = {(422, "text/plain"): _REFUSED, (400, "application/json"): _NOT_STORABLE,
           **ACCOUNT_READ_ERRORS}
_ADDRESS_ERRORS = {**_ERRORS, (404, "application/json"): _NO_SUCH_PATH}
ALL_ACCOUNTS_READ_WHO = (
    "**Who:** anyone, as on the network's nodes. With `CREDITS_PUBLIC_ACCOUNT_READS` off (a "
    "private deployment): a service or operator key, or a staff session allowed to view "
    "accounts in the admin; not an owner key, since this lists every account.")
_BOOLEAN = {"type": "string", "pattern": BOOLEAN_PATTERN}
_BOOLEAN_WORDS = "true, false, 1, 0, yes, no, on, off, t, f, y, n, in any case"


def _integer(name: str, *, minimum: int, maximum: int, description: str,
             default: int | None = None) -> OpenApiParameter:
    schema = {"type": "integer", "minimum": minimum, "maximum": maximum}
    if default is not None:
        schema["default"] = default
    return OpenApiParameter(name, schema, OpenApiParameter.QUERY, description=description)


def _comma_list(values: Iterable[str]) -> dict:
    one = "|".join(sorted(values, key=len, reverse=True))
    return {"type": "string", "pattern": f"^(?:{one})(?:,(?:{one}))*$"}


def _pagination_parameter(default: int) -> OpenApiParameter:
    return _integer("pagination", minimum=0, maximum=V0_MAX_PAGINATION, default=default,
                    description=f"Page size, at most {V0_MAX_PAGINATION}. 0 (the network's "
                                f"\"no limit\") reads as {V0_MAX_PAGINATION}. With a cursor: "
                                f"1 or more, capped at {V0_CURSOR_MAX_PAGINATION}.")


PAGE_PARAMETER = _integer("page", minimum=1, maximum=V0_MAX_PAGE, default=1,
                          description="The page, from 1 (without a cursor).")
CURSOR_PARAMETER = OpenApiParameter(
    "cursor", OpenApiTypes.STR, OpenApiParameter.QUERY,
    description="Cursor paging instead of pages: empty for the first page, then the "
                "`next_cursor` of the previous answer (which has `next_cursor` instead of "
                "`pagination_page` and `pagination_total`).")
MIN_BALANCE_PARAMETER = _integer(
    "min_balance", minimum=1, maximum=V0_MAX_MIN_BALANCE,
    description="Only balances of at least this (absent: any; 0 is refused, as on the "
                "network).")


def _text_parameter(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY,
                            description=description)


_TIMESTAMP = {"type": "number", "minimum": 0, "maximum": V0_MAX_TIMESTAMP}
CREDIT_HISTORY_FILTERS = [
    _text_parameter("tx_hash", "Never filled here: any value matches nothing."),
    _text_parameter("token", "Never filled here: any value matches nothing."),
    _text_parameter("chain", "Never filled here: any value matches nothing."),
    _text_parameter("provider", "`ALEPH`: expenses and transfers."),
    _text_parameter("origin", "A transfer's other account."),
    _text_parameter("origin_ref", "The item hash of the resource an expense is for."),
    _text_parameter("payment_method", "`credit_expense`, `credit_transfer`, `credit_expiry` or "
                                      "`credit_adjustment` (grants have none)."),
    OpenApiParameter("has_expiration", _BOOLEAN, OpenApiParameter.QUERY,
                     description=f"Only entries with (true) or without (false) an expiration "
                                 f"date ({_BOOLEAN_WORDS})."),
    _text_parameter("exclude_payment_method", "Comma-separated payment methods to leave out "
                                              "(grants, which have none, stay)."),
    OpenApiParameter("startDate", _TIMESTAMP, OpenApiParameter.QUERY,
                     description="Only entries effective at or after this Unix time (seconds)."),
    OpenApiParameter("endDate", _TIMESTAMP, OpenApiParameter.QUERY,
                     description="Only entries effective at or before this Unix time (seconds); "
                                 "not before startDate."),
    OpenApiParameter("direction", {"type": "string",
                                   "enum": [flow.value for flow in CreditFlow]},
                     OpenApiParameter.QUERY,
                     description="incoming: amount > 0; outgoing: amount < 0."),
    OpenApiParameter("resourceTypes", _comma_list(NETWORK_MESSAGE_TYPES),
                     OpenApiParameter.QUERY,
                     description="Comma-separated message types of the resource an expense is "
                                 "for (INSTANCE, PROGRAM, STORE)."),
    _text_parameter("resource", "The item hash of the resource an expense is for (or a "
                                "transfer's other account: the network's effective origin)."),
]


# --- views ---------------------------------------------------------------------------------------

class NetworkBalanceView(_NetworkAccountReadView):
    @extend_schema(
        summary="An address's tokens, locked tokens and credits (network v0)",
        description=f"{NETWORK_NOTE}\n\n{ACCOUNT_READ_WHO}\n\n"
                    "`balance`: tokens the oracle reported, on `chain` or on every chain "
                    "together; `details`: per chain (empty with `chain`); `locked_amount`: "
                    "tokens held by the live hold-paid resources (every chain); "
                    "`credit_balance`: credits spendable now; with "
                    "`include_credit_details=true`, `credit_balance_details`: those credits by "
                    "expiry, never-expiring first (else null). Token amounts are JSON numbers "
                    "with all their digits. An address with no account answers zeros, as the "
                    "network answers an address it never saw.",
        parameters=[
            ADDRESS_PARAMETER,
            OpenApiParameter("chain", {"type": "string", "enum": list(NETWORK_CHAINS)},
                             OpenApiParameter.QUERY,
                             description="Only the tokens on this chain (as the network names "
                                         "it: ETH, SOL…)."),
            OpenApiParameter("include_credit_details", _BOOLEAN, OpenApiParameter.QUERY,
                             description=f"Add the credits by expiry ({_BOOLEAN_WORDS}; "
                                         f"default false)."),
        ],
        responses={200: NetworkBalanceResponseSerializer, **_ADDRESS_ERRORS},
    )
    def get(self, request, address: str):
        address = _address(address)
        require_account_reader(request, address)
        query = _query(NetworkBalanceQuery, request)
        at = timezone.now()
        account = account_by_address(address=address)
        chain = None if query.chain is None else query.chain.value
        tokens = [token for token in account_token_balances(account=account)
                  if chain is None or token.chain == chain]
        credit_details = [] if query.include_credit_details else None
        if account is None:
            credits = 0
        elif query.include_credit_details:
            by_expiry = account_balance_by_expiry(account=account, at=at)
            credits = sum(split["amount"] for split in by_expiry)
            # The network lists the never-expiring credits first, then the soonest.
            by_expiry.sort(key=lambda split: split["expires_at"] is not None)
            credit_details = [{"expiration_date": network_instant(split["expires_at"]),
                               "amount": split["amount"]} for split in by_expiry]
        else:
            credits = account_balance(account=account, at=at)
        return Response({
            "address": address,
            "balance": network_number(exact_total(token.balance for token in tokens)),
            "details": {} if chain is not None
            else {token.chain: network_number(token.balance) for token in tokens},
            "locked_amount": network_number(exact_total(
                account_hold_locked_by_chain(account=account).values())),
            "credit_balance": credits,
            "credit_balance_details": credit_details,
        })


class NetworkBalancesView(_NetworkAccountReadView):
    @extend_schema(
        summary="Every address's tokens per chain (network v0)",
        description=f"{NETWORK_NOTE}\n\n{ALL_ACCOUNTS_READ_WHO}\n\n"
                    "The token balances the oracle reported, one row per address and chain, by "
                    "address then chain; filters `chains` and `min_balance`. Paged by `page` "
                    "and `pagination` (default 100), or by `cursor`.",
        parameters=[
            OpenApiParameter("chains", _comma_list(NETWORK_CHAINS), OpenApiParameter.QUERY,
                             description="Comma-separated chains (ETH, SOL…)."),
            _pagination_parameter(V0_DEFAULT_PAGINATION), PAGE_PARAMETER,
            MIN_BALANCE_PARAMETER, CURSOR_PARAMETER,
        ],
        responses={200: BalancesResponseSerializer, **_ERRORS},
    )
    def get(self, request):
        _require_all_accounts_reader(request)
        query = _query(NetworkBalancesQuery, request)
        paging = _paging(query)
        after = None if paging.after is None else tuple(
            _cursor(cursor_values, paging.after, {"a": str, "c": str}))
        rows = token_balances_by_chain(
            chains=None if query.chains is None else [chain.value for chain in query.chains],
            min_balance=query.min_balance, after=after)
        page = _page(rows, paging, item="balances", next_cursor=lambda token: (
            network_cursor_encode({"a": token.account.address, "c": token.chain})))
        return Response({
            "balances": [{"address": token.account.address,
                          "balance": network_number(token.balance), "chain": token.chain}
                         for token in page.rows],
            **page.paging,
        })


class NetworkCreditBalancesView(_NetworkAccountReadView):
    @extend_schema(
        summary="Every address's credits (network v0)",
        description=f"{NETWORK_NOTE}\n\n{ALL_ACCOUNTS_READ_WHO}\n\n"
                    "The credits each address that ever received some can spend now (0 once "
                    "spent or expired), by address; filter `min_balance`. Paged by `page` and "
                    "`pagination` (default 100), or by `cursor`.",
        parameters=[_pagination_parameter(V0_DEFAULT_PAGINATION), PAGE_PARAMETER,
                    MIN_BALANCE_PARAMETER, CURSOR_PARAMETER],
        responses={200: CreditBalancesResponseSerializer, **_ERRORS},
    )
    def get(self, request):
        _require_all_accounts_reader(request)
        query = _query(NetworkCreditBalancesQuery, request)
        paging = _paging(query)
        after_address = None if paging.after is None else _cursor(
            cursor_values, paging.after, {"a": str})[0]
        rows = credit_balances(min_balance=query.min_balance, after_address=after_address)
        page = _page(rows, paging, item="credit_balances",
                     next_cursor=lambda account: network_cursor_encode({"a": account.address}))
        return Response({
            "credit_balances": [{"address": account.address, "credits": int(account.credits)}
                                for account in page.rows],
            **page.paging,
        })


def _filters(query: NetworkCreditHistoryFilterQuery) -> CreditHistoryFilters:
    return CreditHistoryFilters(
        tx_hash=query.tx_hash, token=query.token, chain=query.chain, provider=query.provider,
        origin=query.origin, origin_ref=query.origin_ref, payment_method=query.payment_method,
        has_expiration=query.has_expiration,
        exclude_payment_method=(None if query.exclude_payment_method is None
                                else tuple(query.exclude_payment_method)),
        start_date=query.start_date, end_date=query.end_date,
        direction=None if query.direction is None else query.direction.value,
        resource_types=(None if query.resource_types is None
                        else tuple(message_type.value for message_type in query.resource_types)),
        resource=query.resource)


def _record(entry: LedgerEntry) -> dict:
    """A ledger entry (annotated by `network_credit_history`) as the network's record."""
    return {
        "amount": entry.amount,
        "price": None,
        "bonus_amount": None,
        "tx_hash": None,
        "token": None,
        "chain": None,
        "provider": entry.network_provider,
        "origin": entry.network_origin,
        "origin_ref": entry.network_origin_ref,
        "payment_method": entry.network_payment_method,
        "credit_ref": entry.network_credit_ref,
        "credit_index": entry.pk,
        "expiration_date": network_instant(entry.expires_at),
        "message_timestamp": network_instant(entry.effective_at),
        "expense_count": None,
        "expense_size_mib": None,
    }


_HISTORY_PAGING = ("pagination_page", "pagination_total", "pagination_per_page")


class NetworkCreditHistoryView(_NetworkAccountReadView):
    staff_model = LedgerEntry

    @extend_schema(
        summary="An address's credit history (network v0)",
        description=f"{NETWORK_NOTE}\n\n{ACCOUNT_READ_WHO}\n\n"
                    "The ledger's entries as the network's credit history records, newest "
                    "first unless `sort_by` and `sort_order` say otherwise (entries without "
                    "the sort field last, ties by entry id), with the network's filters. Paged "
                    "by `page` and `pagination` (default 0: the largest page, "
                    f"{V0_MAX_PAGINATION} entries), or by `cursor`. The network's 404 when no "
                    "entry is on the page: an address with no account, filters that match "
                    "nothing, a page past the end.",
        parameters=[
            ADDRESS_PARAMETER, _pagination_parameter(0), PAGE_PARAMETER, CURSOR_PARAMETER,
            *CREDIT_HISTORY_FILTERS,
            OpenApiParameter("sort_by", {"type": "string",
                                         "enum": [key.value for key in SortByCreditHistory],
                                         "default": "message_timestamp"},
                             OpenApiParameter.QUERY, description="The field to sort by."),
            OpenApiParameter("sort_order", {"type": "integer", "enum": [1, -1], "default": -1},
                             OpenApiParameter.QUERY,
                             description="1: ascending; -1: descending."),
        ],
        responses={200: NetworkCreditHistoryResponseSerializer,
                   (404, "text/plain"): text_doc(f"`{NO_CREDIT_HISTORY}`: no entry on this "
                                              "page."),
                   **_ADDRESS_ERRORS},
    )
    def get(self, request, address: str):
        address = _address(address)
        require_account_reader(request, address)
        query = _query(NetworkCreditHistoryQuery, request)
        paging = _paging(query)
        sort_by, sort_order = query.sort_by.value, int(query.sort_order)
        after = None if paging.after is None else _cursor(
            credit_history_after, paging.after, sort_by=sort_by, sort_order=sort_order)
        account = account_by_address(address=address)
        if account is None:
            raise _Refused(NO_CREDIT_HISTORY, status=404)
        column = NETWORK_SORT_COLUMNS[sort_by]
        entries = network_credit_history(account=account, filters=_filters(query),
                                         sort_by=sort_by, descending=sort_order == -1,
                                         after=after)
        page = _page(entries, paging, next_cursor=lambda entry: credit_history_cursor(
            sort_by=sort_by, sort_order=sort_order, entry_id=entry.pk,
            value=None if column is None else getattr(entry, column)))
        if not page.rows:
            raise _Refused(NO_CREDIT_HISTORY, status=404)
        # In the order of the network's answer (its pydantic model's) of each paging.
        paging = {key: page.paging[key] for key in _HISTORY_PAGING if key in page.paging}
        return Response({"address": address,
                         "credit_history": [_record(entry) for entry in page.rows],
                         **paging, **page.paging})


class NetworkCreditHistorySummaryView(_NetworkAccountReadView):
    staff_model = LedgerEntry

    @extend_schema(
        summary="Totals of an address's credit history (network v0)",
        description=f"{NETWORK_NOTE}\n\n{ACCOUNT_READ_WHO}\n\n"
                    "With the credit history's filters: how many entries match, and the sum of "
                    "their amounts, of the positive ones and of the negative ones (signed: "
                    "total_amount = total_incoming + total_outgoing). Zeros when none match or "
                    "the address has no account.",
        parameters=[ADDRESS_PARAMETER, *CREDIT_HISTORY_FILTERS],
        responses={200: CreditHistorySummaryResponseSerializer, **_ADDRESS_ERRORS},
    )
    def get(self, request, address: str):
        address = _address(address)
        require_account_reader(request, address)
        query = _query(NetworkCreditHistoryFilterQuery, request)
        summary = network_credit_history_summary(account=account_by_address(address=address),
                                                 filters=_filters(query))
        return Response({"address": address, **summary})


# Routes under /api/v0/ (credits/urls.py adds them). Any text between two slashes reaches the
# view as an address, which answers one that cannot be an address itself.
v0_urls: list[URLPattern] = [
    path("addresses/<str:address>/balance", NetworkBalanceView.as_view(),
         name="v0-address-balance"),
    path("balances", NetworkBalancesView.as_view(), name="v0-balances"),
    path("credit_balances", NetworkCreditBalancesView.as_view(), name="v0-credit-balances"),
    path("addresses/<str:address>/credit_history", NetworkCreditHistoryView.as_view(),
         name="v0-address-credit-history"),
    path("addresses/<str:address>/credit_history/summary",
         NetworkCreditHistorySummaryView.as_view(), name="v0-address-credit-history-summary"),
]
