"""Pricing endpoints: liveness and the version in force. Thin views; amounts are strings with
18 decimals. The estimates, which price as registration does, are credits' (credits/api/)."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from credits_project.api import ApiError

from .costs import PricingTable, Rates, format_amount, format_amount_or_none
from .models import PricingVersion
from .selectors import pricing_in_force
from .serializers import (
    ErrorSerializer,
    HealthSerializer,
    PricingResponseSerializer,
    pricing_version_ref,
)


class HealthView(APIView):
    """A trivial endpoint: liveness, and the baseline of the estimate benchmark."""

    @extend_schema(responses=HealthSerializer, summary="Liveness check")
    def get(self, request):
        return Response({"status": "ok"})


class PricingView(APIView):
    @extend_schema(
        summary="The pricing version in force",
        description="Products with their compute unit and prices (hold per CU or per MiB; PAYG "
                    "and credit per hour), tiers and the GPU catalogue.",
        responses={200: PricingResponseSerializer,
                   503: OpenApiResponse(ErrorSerializer,
                                        description="No pricing version in force.")},
    )
    def get(self, request):
        version, table = pricing_in_force()
        if table is None:
            raise ApiError(status_code=503, code="pricing_unavailable",
                           message="No pricing version is in force yet.")
        return Response(_pricing_payload(version, table))


def _cu_price(rates: Rates | None) -> dict | None:
    if rates is None:
        return None
    return {"hold": format_amount(rates.hold),
            "payg_per_hour": format_amount(rates.payg_per_hour),
            "credit_per_hour": format_amount(rates.credit_per_hour)}


def _pricing_payload(version: PricingVersion, table: PricingTable) -> dict:
    products = []
    for product_type in sorted(table.products):
        product = table.products[product_type]
        cu = product.compute_unit
        products.append({
            "product_type": product_type,
            "compute_unit": None if cu is None else {
                "vcpus": cu.vcpus, "memory_mib": cu.memory_mib, "disk_mib": cu.disk_mib},
            "price": {
                "compute_unit": _cu_price(product.compute_unit_price),
                "storage": {
                    "hold_per_mib": format_amount(product.storage.hold),
                    "payg_per_mib_hour": format_amount(product.storage.payg_per_hour),
                    "credit_per_mib_hour": format_amount(product.storage.credit_per_hour),
                },
                "fixed": format_amount_or_none(product.fixed_price),
            },
            "tiers": [{"id": t.id, "compute_units": t.compute_units, "model": t.model,
                       "vram_mib": t.vram_mib} for t in product.tiers],
        })
    return {
        "version": pricing_version_ref(version),
        "products": products,
        "gpu_catalogue": [{"device_id": device_id, "model": model}
                          for device_id, model in sorted(table.gpu_models.items())],
    }
