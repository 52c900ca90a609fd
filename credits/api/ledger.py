"""Balances, credit history, grants, expenses and transfers: thin views over
`credits.services.ledger` and `credits.selectors.ledger`. Each view says who may call it.

A grant, expense or transfer answers 201 the first time and 200 with the same body when its
reference is replayed with the same body; another body under the same reference is a 409.
"""
from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from pricing.costs import format_amount

from ..addresses import address_input
from ..auth import OwnerKey, ServiceKey, actor_of, owner_account_of
from ..models import Account, EntryKind, LedgerEntry
from ..selectors.accounts import account_by_address
from ..selectors.ledger import (
    account_balance_by_expiry,
    account_credit_cost_per_hour,
    account_hold_locked_by_chain,
    account_runway_hours,
    account_token_balances,
    credit_history,
    history_cursor,
)
from ..serializers.ledger import (
    MAX_HISTORY_LIMIT,
    BalanceResponseSerializer,
    CreditHistoryQuerySerializer,
    CreditHistoryResponseSerializer,
    ExpenseRequestSerializer,
    ExpenseResponseSerializer,
    GrantRequestSerializer,
    GrantResponseSerializer,
    TransferRequestSerializer,
    TransferResponseSerializer,
)
from ..services.ledger import (
    LedgerResult,
    TransferResult,
    expense_create,
    grant_create,
    transfer_create,
)
from .common import (
    ACCOUNT_READ_ERRORS,
    ACCOUNT_READ_WHO,
    ADDRESS_PARAMETER,
    AccountReader,
    AccountReadView,
    error_doc,
    iso_or_none,
    require_account_reader,
)

_BAD_BODY = {
    400: error_doc("Malformed body: not JSON, not an object, wrong types (e.g. an amount that is "
                "not a whole number of credits), missing fields."),
    413: error_doc("Body too large."),
    415: error_doc("Body is not application/json."),
}
_AUTH_ERRORS = {
    401: error_doc("No API key or owner token, or an unknown, revoked or expired one."),
    403: error_doc("The key's (or token's) scope may not do this."),
}
_REPLAY = error_doc("`idempotency_conflict`: this reference was used before with another body.")
_NO_SUCH_PATH = error_doc("Nothing at this path: the address has characters an address never has.")



def _created_or_replayed(result) -> int:
    return status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED


# --- reads -------------------------------------------------------------------------------------

class BalanceView(AccountReadView):
    permission_classes = [AccountReader]
    staff_model = Account

    @extend_schema(
        summary="An account's credit balance, token balances, hold locked and runway",
        description=f"{ACCOUNT_READ_WHO}\n\nCredits spendable now and their split by expiry; "
                    "token balances reported by the oracle; tokens locked by live hold-paid "
                    "resources; the credit cost per hour of live credit-paid resources and the "
                    "runway in hours. An address with no account yet answers zeros.",
        parameters=[ADDRESS_PARAMETER],
        responses={200: BalanceResponseSerializer, 404: _NO_SUCH_PATH,
                   422: error_doc("Not a valid address."), **ACCOUNT_READ_ERRORS},
    )
    def get(self, request, address: str):
        address = address_input(address)
        require_account_reader(request, address)
        at = timezone.now()
        account = account_by_address(address=address)
        if account is None:
            credits, by_expiry, runway, cost_per_hour = 0, [], None, None
        else:
            by_expiry = account_balance_by_expiry(account=account, at=at)
            # The total from the same read as its split, so the two always agree.
            credits = sum(split["amount"] for split in by_expiry)
            cost_per_hour = account_credit_cost_per_hour(account=account)
            runway = account_runway_hours(account=account, at=at)
        return Response({
            "address": address,
            "credits": str(credits),
            "by_expiry": [{"expires_at": iso_or_none(split["expires_at"]),
                           "credits": str(split["amount"])} for split in by_expiry],
            "token_balances": [{"chain": token.chain, "balance": format_amount(token.balance),
                                "height": token.height}
                               for token in account_token_balances(account=account)],
            "hold_locked": {chain: format_amount(locked) for chain, locked
                            in account_hold_locked_by_chain(account=account).items()},
            "credit_cost_per_hour": format_amount(cost_per_hour or Decimal(0)),
            "runway_hours": None if runway is None else format(runway, "f"),
            "at": at.isoformat(),
        })


def _kinds(request) -> list[str]:
    """`kind` repeated (`?kind=grant&kind=expense`) or as a comma list (`?kind=grant,expense`).
    A blank one is kept, so that it is refused as the schema says, not silently ignored."""
    return [kind.strip() for value in request.query_params.getlist("kind")
            for kind in value.split(",")]


def _entry(entry: LedgerEntry) -> dict:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "amount": str(entry.amount),
        "amount_requested": None if entry.amount_requested is None
        else str(entry.amount_requested),
        "shortfall": str(entry.shortfall),
        "expires_at": iso_or_none(entry.expires_at),
        "reference": entry.reference,
        "reason": entry.reason,
        "resource": entry.resource.item_hash if entry.resource_id else None,
        "counterparty": entry.counterparty.address if entry.counterparty_id else None,
        "effective_at": entry.effective_at.isoformat(),
    }


class CreditHistoryView(AccountReadView):
    permission_classes = [AccountReader]
    staff_model = LedgerEntry

    @extend_schema(
        summary="An account's credit history, newest first",
        description=f"{ACCOUNT_READ_WHO}\n\nLedger entries by effective instant, newest first. "
                    "Filters: `kind` (repeated or comma-separated), `since` (inclusive) and "
                    "`until` (exclusive), ISO 8601 with a time zone. Pages of `limit` entries "
                    f"(default 50; a larger value than {MAX_HISTORY_LIMIT} is capped); pass "
                    "`next_cursor` as `cursor` for the next, older page. An address with no "
                    "account yet has an empty history.",
        parameters=[
            ADDRESS_PARAMETER,
            OpenApiParameter("kind", {"type": "array", "items": {
                "type": "string", "enum": list(EntryKind.values)}},
                OpenApiParameter.QUERY, explode=True,
                description="Only these kinds; repeat the parameter or separate by commas."),
            OpenApiParameter("since", OpenApiTypes.DATETIME, OpenApiParameter.QUERY,
                             description="Entries effective at or after this instant."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, OpenApiParameter.QUERY,
                             description="Entries effective before this instant."),
            OpenApiParameter("cursor", OpenApiTypes.STR, OpenApiParameter.QUERY,
                             description="`next_cursor` of the previous page."),
            OpenApiParameter("limit", {"type": "integer", "minimum": 1},
                             OpenApiParameter.QUERY,
                             description=f"Page size, default 50, capped at "
                                         f"{MAX_HISTORY_LIMIT}."),
        ],
        responses={200: CreditHistoryResponseSerializer,
                   400: error_doc("Invalid filter, limit or cursor."), 404: _NO_SUCH_PATH,
                   422: error_doc("Not a valid address."), **ACCOUNT_READ_ERRORS},
    )
    def get(self, request, address: str):
        address = address_input(address)
        require_account_reader(request, address)
        raw = {key: request.query_params[key] for key in ("since", "until", "cursor", "limit")
               if key in request.query_params}
        if "kind" in request.query_params:
            raw["kind"] = _kinds(request)
        query = CreditHistoryQuerySerializer(data=raw)
        query.is_valid(raise_exception=True)
        options = query.validated_data
        limit = options["limit"]
        account = account_by_address(address=address)
        if account is None:
            page = []
        else:
            entries = credit_history(account=account, kinds=options.get("kind"),
                                     since=options.get("since"), until=options.get("until"),
                                     after=options.get("cursor"))
            # One more than the page tells whether there is a next page without a count.
            page = list(entries[:limit + 1])
        next_cursor = history_cursor(page[limit - 1]) if len(page) > limit else None
        page = page[:limit]
        return Response({
            "results": [_entry(entry) for entry in page],
            "limit": limit,
            "next_cursor": next_cursor,
            "next": None if next_cursor is None else request.build_absolute_uri(
                f"{request.path}?{self._next_query(request, next_cursor)}"),
        })

    @staticmethod
    def _next_query(request, cursor: str) -> str:
        params = [(key, value) for key, values in request.query_params.lists()
                  for value in values if key != "cursor"]
        return urlencode([*params, ("cursor", cursor)])


# --- writes ------------------------------------------------------------------------------------

def _grant_body(result: LedgerResult) -> dict:
    entry = result.entry
    return {"id": entry.pk, "kind": entry.kind, "address": entry.account.address,
            "amount": str(entry.amount), "expires_at": iso_or_none(entry.expires_at),
            "reference": entry.reference, "effective_at": entry.effective_at.isoformat()}


def _expense_body(result: LedgerResult) -> dict:
    entry = result.entry
    return {"id": entry.pk, "kind": entry.kind, "address": entry.account.address,
            "amount_requested": str(entry.amount_requested),
            "amount_drained": str(-entry.amount), "shortfall": str(entry.shortfall),
            "resource": entry.resource.item_hash if entry.resource_id else None,
            "reference": entry.reference, "effective_at": entry.effective_at.isoformat()}


def _transfer_body(result: TransferResult) -> dict:
    out_entry, in_entry = result.out_entry, result.in_entry
    return {"out_entry_id": out_entry.pk, "in_entry_id": in_entry.pk,
            "sender": out_entry.account.address, "to": in_entry.account.address,
            "amount": str(in_entry.amount), "expires_at": iso_or_none(in_entry.expires_at),
            "reference": out_entry.reference, "effective_at": out_entry.effective_at.isoformat(),
            "pieces": [{"credits": str(lot.amount), "expires_at": iso_or_none(lot.expires_at)}
                       for lot in result.lots]}


class GrantView(APIView):
    permission_classes = [ServiceKey]

    @extend_schema(
        summary="Grant credits to an account",
        description="**Who:** a service API key.\n\nA purchase or a distribution: opens a lot "
                    "of `amount` credits, expiring at `expires_at` (or never). The account is "
                    "created on its first grant. 201 the first time; 200 with the same body "
                    "when the same `reference` comes again with the same body.",
        request=GrantRequestSerializer,
        responses={201: GrantResponseSerializer, 200: GrantResponseSerializer,
                   409: _REPLAY,
                   422: error_doc("Invalid address, expiry not in the future, unusable "
                               "reference."),
                   **_BAD_BODY, **_AUTH_ERRORS},
    )
    def post(self, request):
        body = GrantRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = grant_create(address=data["address"], amount=data["amount"],
                              expires_at=data.get("expires_at"), reference=data["reference"],
                              actor=actor_of(request))
        return Response(_grant_body(result), status=_created_or_replayed(result))


class ExpenseView(APIView):
    permission_classes = [ServiceKey]

    @extend_schema(
        summary="Charge credits to an account",
        description="**Who:** a service API key.\n\nConsumption metered outside: drains the "
                    "account's lots soonest-expiring first, never below zero; what they cannot "
                    "cover is recorded as `shortfall` (the answer is still 201). An address "
                    "with no account gets one, with the whole amount as shortfall. 200 with "
                    "the same body when the same `reference` comes again with the same body.",
        request=ExpenseRequestSerializer,
        responses={201: ExpenseResponseSerializer, 200: ExpenseResponseSerializer,
                   409: _REPLAY,
                   422: error_doc("Invalid address, unknown resource or one of another account, "
                               "unusable reference."),
                   **_BAD_BODY, **_AUTH_ERRORS},
    )
    def post(self, request):
        body = ExpenseRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = expense_create(address=data["address"], amount=data["amount"],
                                resource_item_hash=data.get("resource"),
                                reference=data["reference"], actor=actor_of(request))
        return Response(_expense_body(result), status=_created_or_replayed(result))


class TransferView(APIView):
    permission_classes = [OwnerKey]

    @extend_schema(
        summary="Send credits to another account",
        description="**Who:** an owner API key or owner token; the sender is its own "
                    "account, so no one can send another account's credits.\n\nAll or nothing: 402 "
                    "`insufficient_credit` (`required_credits`, `account_credits`) when the "
                    "sender's credits now do not cover `amount`, and nothing is written. Each "
                    "drained piece reaches the recipient with the earlier of its own expiry and "
                    "`expires_at`. 200 with the same body when the same `reference` comes "
                    "again from the same sender with the same body.",
        request=TransferRequestSerializer,
        responses={201: TransferResponseSerializer, 200: TransferResponseSerializer,
                   402: error_doc("`insufficient_credit`: the sender's credits do not cover the "
                               "amount."),
                   409: _REPLAY,
                   422: error_doc("Invalid recipient, a transfer to oneself, expiry not in the "
                               "future, unusable reference."),
                   **_BAD_BODY, **_AUTH_ERRORS},
    )
    def post(self, request):
        body = TransferRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        result = transfer_create(sender_address=owner_account_of(request).address,
                                 recipient_address=data["to"], amount=data["amount"],
                                 expires_at=data.get("expires_at"), reference=data["reference"],
                                 actor=actor_of(request))
        return Response(_transfer_body(result), status=_created_or_replayed(result))
