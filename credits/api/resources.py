"""Resources, affordability, token balances and cost totals: thin views over
`credits.services.resources`, `credits.services.token_balances` and
`credits.selectors.resources`. Each view says who may call it."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from credits_project.throttles import EstimateThrottle
from pricing.costs import DAY_SECONDS, HOUR_SECONDS, amount_for_seconds, format_amount
from pricing.serializers import (
    cost_row_payload,
    size_mib_text,
)

from ..addresses import address_input
from ..auth import OwnerKey, ServiceKey, actor_of, require_owner
from ..errors import ContentRefused, NotFound, PaymentTypeNotAccepted
from ..models import Account, Resource
from ..selectors.resources import (
    account_affordability,
    costs_totals,
    resource_get,
    resource_monthly_usage,
)
from ..serializers.ledger import Credits
from ..serializers.resources import (
    AffordabilityRequestSerializer,
    AffordabilityResponseSerializer,
    CostsQuerySerializer,
    CostsResponseSerializer,
    ResourceRegisterRequestSerializer,
    ResourceSerializer,
    TokenBalanceRequestSerializer,
    TokenBalanceResponseSerializer,
)
from ..services.resources import resource_forget, resource_register
from ..services.token_balances import token_balance_set
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
    400: error_doc("Malformed body (not JSON, wrong types, missing fields)."),
    413: error_doc("Body too large."),
    415: error_doc("Body is not application/json."),
}
_PRICING_ERRORS = {
    422: error_doc("Content invalid or not priceable (e.g. unknown_volume_size, "
                "unknown_gpu_device)."),
    503: error_doc("No pricing version in force."),
}
_PATH_ERRORS = {
    404: error_doc("Nothing at this path: a path parameter does not match its pattern."),
}
_AUTH_ERRORS = {
    401: error_doc("No API key or owner token, or an unknown, revoked or expired one."),
    403: error_doc("The key's (or token's) scope or account may not do this."),
}
ITEM_HASH_PARAMETER = OpenApiParameter(
    "item_hash", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=r"^[0-9A-Za-z]{1,128}$",
    description="The resource's item hash.")
CHAIN_PARAMETER = OpenApiParameter(
    "chain", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=r"^[0-9A-Za-z_\-]{1,32}$",
    description="The chain as the network names it (ETH, AVAX, BASE, SOL…), any case.")


def resource_payload(resource: Resource) -> dict:
    """A resource as `GET resources/{item_hash}` shows it."""
    credit_per_second = resource.cost_credit_per_second
    return {
        "item_hash": resource.item_hash,
        "type": resource.type,
        "owner": resource.owner.address,
        "status": resource.status,
        "removal_reason": resource.removal_reason or None,
        "removing_since": iso_or_none(resource.removing_since),
        "delete_after": iso_or_none(resource.delete_after),
        "created_at": resource.created_at.isoformat(),
        "ended_at": iso_or_none(resource.ended_at),
        "payment_type": resource.payment_type,
        "payment_chain": resource.payment_chain,
        "product_type": resource.product_type,
        "pricing_version": resource.pricing_version_id,
        "size_mib": size_mib_text(resource.size_mib),
        "costs": {
            "cost_hold": format_amount(resource.cost_hold),
            "cost_stream_per_second": format_amount(resource.cost_stream_per_second),
            "cost_credit_per_second": format_amount(credit_per_second),
            "cost_credit_per_hour": format_amount(
                amount_for_seconds(credit_per_second, HOUR_SECONDS)),
            "cost_credit_per_day": format_amount(
                amount_for_seconds(credit_per_second, DAY_SECONDS)),
        },
        "rows": [cost_row_payload(row) for row in resource.cost_rows.all()],
    }


def _resource_or_404(item_hash: str) -> Resource:
    resource = resource_get(item_hash=item_hash)
    if resource is None:
        raise NotFound(f"No resource has item hash {item_hash}.", item_hash=item_hash)
    return resource


class ResourceCreateView(APIView):
    permission_classes = [OwnerKey]

    @extend_schema(
        summary="Register a resource",
        description="**Who:** the owner: an owner API key or owner token of `content.address`."
                    "\n\n"
                    "Computes the cost rows with the pricing version in force and, under a lock "
                    "on the owner's account, checks the one-day rule (credit: the credits must "
                    "cover one day of all the account's credit-paid resources with this one) or "
                    "the hold rule (hold: the token balance on the payment chain must cover the "
                    "hold costs of its resources with this one); stream payments are stored "
                    "unchecked. Before that, the pricing version's payment rules (by default "
                    "the network's cut-offs: hold and stream refused for instances and "
                    "persistent programs from 2026-03-11, credit only for every product from "
                    "2027-01-01) are applied at the registration instant: a refused payment "
                    "type is a 422 `payment_type_not_accepted` naming the rule and its date "
                    "(`rule`, "
                    "`product_type`, `payment_type`, `not_accepted_from`, "
                    "`accepted_payment_types`). 201 with the resource; 200 for an identical "
                    "replay (even after a cut-off); 402 "
                    "`insufficient_credit` (`required_credits` exact with 18 decimals, "
                    "`account_credits`, `min_runtime_days`) or `insufficient_balance` "
                    "(`required_balance`, `account_balance`), and then nothing is stored; 409 "
                    "when the item hash is taken by another content.",
        request=ResourceRegisterRequestSerializer,
        responses={201: ResourceSerializer,
                   200: OpenApiResponse(ResourceSerializer, description="Identical replay."),
                   402: error_doc("The account cannot fund the resource; nothing stored."),
                   409: error_doc("The item hash is registered with another owner, type or "
                               "content."),
                   **_BAD_BODY, **_AUTH_ERRORS, **_PRICING_ERRORS,
                   422: error_doc("Content invalid or not priceable (e.g. unknown_volume_size, "
                               "unknown_gpu_device), or `payment_type_not_accepted`: a payment "
                               "rule refuses the payment type for this product (`rule`, "
                               "`product_type`, `payment_type`, `not_accepted_from`, "
                               "`accepted_payment_types`).")},
    )
    def post(self, request):
        body = ResourceRegisterRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        owner_address = data["content"].get("address")
        if not isinstance(owner_address, str):
            raise ContentRefused("content.address is required (the owner's address).",
                                 errors=[{"loc": "address", "msg": "Field required",
                                          "type": "missing"}])
        require_owner(request, owner_address)
        result = resource_register(item_hash=data["item_hash"], message_type=data["type"],
                                   content=data["content"], actor=actor_of(request))
        resource = resource_get(item_hash=result.resource.item_hash)
        return Response(resource_payload(resource),
                        status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class ResourceDetailView(AccountReadView):
    permission_classes = [AccountReader]  # reading it; forgetting it takes the owner's key
    staff_model = Resource

    def get_permissions(self):
        if self.request.method == "DELETE":
            return [OwnerKey()]
        return super().get_permissions()

    @extend_schema(
        summary="A resource",
        description=f"{ACCOUNT_READ_WHO}\n\nStatus, removal reason and deadline, costs (hold in "
                    "tokens, stream in tokens per second, credit in credits per second, per "
                    "hour and per day) and the cost rows computed at registration.",
        parameters=[ITEM_HASH_PARAMETER],
        responses={200: ResourceSerializer, 404: error_doc("No such resource."),
                   **ACCOUNT_READ_ERRORS},
    )
    def get(self, request, item_hash: str):
        resource = _resource_or_404(item_hash)
        require_account_reader(request, resource.owner.address)
        return Response(resource_payload(resource))

    @extend_schema(
        summary="Forget a resource",
        description="**Who:** the owner: its owner API key or owner token.\n\nThe resource "
                    "becomes `forgotten` (final): "
                    "no longer billed or counted by the one-day rule. Forgetting a forgotten "
                    "resource answers the same; a removed one is a 409.",
        parameters=[ITEM_HASH_PARAMETER],
        responses={200: ResourceSerializer, 404: error_doc("No such resource."),
                   409: error_doc("The resource is removed."), **_AUTH_ERRORS},
    )
    def delete(self, request, item_hash: str):
        resource = _resource_or_404(item_hash)
        require_owner(request, resource.owner.address)
        resource_forget(item_hash=item_hash, actor=actor_of(request))
        return Response(resource_payload(_resource_or_404(item_hash)))


class MonthUsageSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="The month (UTC) of the charges' hours, YYYY-MM.")
    hours = serializers.IntegerField(help_text="Billing hours charged.")
    amount_requested = Credits(help_text="Credits the hours cost.")
    amount_drained = Credits(help_text="Credits taken from the account (less when it ran "
                                       "short).")
    retired = serializers.BooleanField(
        help_text="The month's hourly charges were rolled up (retention): these are the "
                  "rolled-up sums.")


class ResourceUsageSerializer(serializers.Serializer):
    item_hash = serializers.CharField()
    months = MonthUsageSerializer(many=True, help_text="Months with charges, oldest first.")


class ResourceUsageView(AccountReadView):
    permission_classes = [AccountReader]
    staff_model = Resource

    @extend_schema(
        summary="A resource's usage per month",
        description=f"{ACCOUNT_READ_WHO}\n\nThe credit metering of the resource per month "
                    "(UTC), oldest first: billing hours charged, credits requested and "
                    "drained. Months whose hourly charges were retired (`manage.py "
                    "retire_charges`) come from their rolled-up sums and say `retired`; the "
                    "others are summed from the charges. A resource never metered has no "
                    "month.",
        parameters=[ITEM_HASH_PARAMETER],
        responses={200: ResourceUsageSerializer, 404: error_doc("No such resource."),
                   **ACCOUNT_READ_ERRORS},
    )
    def get(self, request, item_hash: str):
        resource = _resource_or_404(item_hash)
        require_account_reader(request, resource.owner.address)
        return Response({
            "item_hash": resource.item_hash,
            "months": [{"month": f"{usage.month:%Y-%m}", "hours": usage.hours,
                        "amount_requested": str(usage.amount_requested),
                        "amount_drained": str(usage.amount_drained),
                        "retired": usage.retired}
                       for usage in resource_monthly_usage(resource)],
        })


class AffordabilityView(AccountReadView):
    permission_classes = [AccountReader]
    throttle_classes = [EstimateThrottle]
    staff_model = Account

    @extend_schema(
        summary="Could this account register this resource now?",
        description=f"{ACCOUNT_READ_WHO} Throttled like estimates.\n\nThe body is an estimate's "
                    "(`estimated_size_mib` allowed). The account checked is the one in the URL; "
                    "the content's own address is not used. Amounts are in the payment type's "
                    "unit: credits (credit: one day of all the account's credit-paid resources "
                    "with this one, against its credits), tokens (hold: hold costs on the "
                    "payment chain with this one, against its token balance there); a stream is "
                    "always affordable here (the compute node watches the stream). An unknown "
                    "account has nothing. A payment type that the pricing version's payment "
                    "rules refuse now (e.g. hold for an instance) is not affordable, whatever "
                    "the balance: `refusal` then says which rule refuses it and since when.",
        parameters=[ADDRESS_PARAMETER],
        request=AffordabilityRequestSerializer,
        responses={200: AffordabilityResponseSerializer, 429: error_doc("Throttled."),
                   **_BAD_BODY, **_PRICING_ERRORS, **_PATH_ERRORS, **ACCOUNT_READ_ERRORS},
    )
    def post(self, request, address: str):
        body = AffordabilityRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        address = address_input(address)
        require_account_reader(request, address)
        affordability = account_affordability(address=address,
                                              message_type=body.validated_data["type"],
                                              content=body.validated_data["content"])
        requirement = affordability.requirement
        answer = {
            "affordable": affordability.affordable,
            "payment_type": requirement.payment_type,
            "required": format_amount(requirement.required),
            "available": format_amount(requirement.available),
            "shortfall": format_amount(requirement.shortfall),
        }
        if affordability.payment_refusal is not None:
            answer["refusal"] = PaymentTypeNotAccepted(
                affordability.payment_refusal).error_fields()
        return Response(answer)


class TokenBalanceView(APIView):
    permission_classes = [ServiceKey]

    @extend_schema(
        summary="Report an account's token balance on a chain",
        description="**Who:** a service API key (the balance oracle).\n\nA newer `height` "
                    "replaces the balance (201 the first time, then 200); the same height and "
                    "balance again is a 200 that changes nothing; an older height, or the same "
                    "height with another balance, is a 409 `stale_height` with "
                    "`current_height`.",
        parameters=[ADDRESS_PARAMETER, CHAIN_PARAMETER],
        request=TokenBalanceRequestSerializer,
        responses={201: TokenBalanceResponseSerializer, 200: TokenBalanceResponseSerializer,
                   409: error_doc("A balance at a newer (or the same) height is recorded."),
                   422: error_doc("Invalid address or unknown chain."),
                   **_BAD_BODY, **_AUTH_ERRORS, **_PATH_ERRORS},
    )
    def put(self, request, address: str, chain: str):
        body = TokenBalanceRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = token_balance_set(address=address, chain=chain,
                                   balance=body.validated_data["balance"],
                                   height=body.validated_data["height"],
                                   actor=actor_of(request))
        token_balance = result.token_balance
        return Response({
            "address": token_balance.account.address,
            "chain": token_balance.chain,
            "balance": format_amount(token_balance.balance),
            "height": token_balance.height,
            "updated_at": token_balance.updated_at.isoformat(),
        }, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class CostsView(AccountReadView):
    permission_classes = [AccountReader]
    staff_model = Resource

    @extend_schema(
        summary="Cost totals of live resources",
        description=f"{ACCOUNT_READ_WHO} An owner key must then filter by its own `address`."
                    "\n\nTotals over resources in `processed` or `removing`, "
                    "each resource in its payment type's column: `hold` in tokens, `superfluid` "
                    "in tokens per second, `credit` in credits per second.",
        parameters=[CostsQuerySerializer],
        responses={200: CostsResponseSerializer,
                   400: error_doc("Invalid filter (address, item hash or payment type)."),
                   **ACCOUNT_READ_ERRORS},
    )
    def get(self, request):
        # A plain dict: an empty filter (`?address=`) is refused, not read as an absent one.
        query = CostsQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        require_account_reader(request, query.validated_data.get("address"))
        totals = costs_totals(**query.validated_data)
        return Response({
            "totals": {
                "hold": format_amount(totals.hold),
                "superfluid": format_amount(totals.superfluid_per_second),
                "credit": format_amount(totals.credit_per_second),
            },
            "resource_count": totals.resource_count,
        })
