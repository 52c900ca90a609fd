"""The only place in pricing that builds `select_for_update` querysets.

Rows are always locked in primary-key order, so no two code paths can deadlock on them. Call
these inside `transaction.atomic()`.
"""
from __future__ import annotations

from .enums import VersionStatus
from .models import PricingVersion


def pricing_versions_publish_lock(*, version_pk: int) -> PricingVersion:
    """Lock the draft and every published version, in primary-key order (no deadlock between
    two publishes), so publishing and superseded-marking see one consistent set."""
    locked = list(PricingVersion.objects.select_for_update()
                  .filter(pk__in=_pks_to_lock(version_pk)).order_by("pk"))
    for candidate in locked:
        if candidate.pk == version_pk:
            return candidate
    raise PricingVersion.DoesNotExist(f"Pricing version {version_pk} does not exist.")


def _pks_to_lock(version_pk: int) -> list[int]:
    published = PricingVersion.objects.filter(status=VersionStatus.PUBLISHED)
    return sorted({version_pk, *published.values_list("pk", flat=True)})
