"""Operators' view of the lifecycle: resources pending deletion and recent runs. Thin views over
`credits.selectors.lifecycle`; both need an operator API key or a staff session."""
from __future__ import annotations

from urllib.parse import urlencode

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from pricing.costs import format_amount_or_none
from pricing.enums import PaymentType

from ..auth import OperatorKeyOrStaff
from ..models import LifecycleRun, PendingDeletion, RemovalReason
from ..selectors.lifecycle import (
    PendingDeletionRow,
    lifecycle_run_cursor,
    lifecycle_runs_recent,
    lifecycle_settings_get,
    pending_deletion_cursor,
    pending_deletions,
)
from ..serializers.lifecycle import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    LifecycleRunsQuerySerializer,
    LifecycleRunsResponseSerializer,
    PendingDeletionsQuerySerializer,
    PendingDeletionsResponseSerializer,
)
from .common import error_doc, iso_or_none

_AUTH_ERRORS = {
    401: error_doc("No API key, or an unknown, revoked or expired one."),
    403: error_doc("Neither an operator key nor a staff session."),
}
_PAGE_PARAMETERS = [
    OpenApiParameter("cursor", OpenApiTypes.STR, OpenApiParameter.QUERY,
                     description="`next_cursor` of the previous page."),
    OpenApiParameter("limit", {"type": "integer", "minimum": 1}, OpenApiParameter.QUERY,
                     description=f"Page size, default {DEFAULT_PAGE_LIMIT}, capped at "
                                 f"{MAX_PAGE_LIMIT}."),
]


def _page(request, *, rows: list, limit: int, cursor_of) -> tuple[list, str | None, str | None]:
    """The page (`limit` rows of the `limit + 1` read), its next cursor and next URL."""
    next_cursor = cursor_of(rows[limit - 1]) if len(rows) > limit else None
    next_url = None
    if next_cursor is not None:
        params = [(key, value) for key, values in request.query_params.lists()
                  for value in values if key != "cursor"]
        next_url = request.build_absolute_uri(
            f"{request.path}?{urlencode([*params, ('cursor', next_cursor)])}")
    return rows[:limit], next_cursor, next_url


def _query(serializer_class, request) -> dict:
    # A plain dict: an empty filter (`?owner=`) is refused, not read as an absent one.
    query = serializer_class(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    return query.validated_data


def _pending_deletion(row: PendingDeletionRow) -> dict:
    resource, shortfall = row.resource, row.shortfall
    return {
        "item_hash": resource.item_hash,
        "type": resource.type,
        "owner": row.owner_address,
        "payment_type": resource.payment_type,
        "payment_chain": resource.payment_chain,
        "reason": resource.removal_reason,
        "removing_since": iso_or_none(resource.removing_since),
        "delete_after": iso_or_none(resource.delete_after),
        "seconds_left": row.seconds_left,
        "overdue": row.overdue,
        "shortfall": format_amount_or_none(shortfall.amount),
        "shortfall_unit": shortfall.unit,
        "required": format_amount_or_none(shortfall.required),
        "available": format_amount_or_none(shortfall.available),
    }


class PendingDeletionsView(APIView):
    permission_classes = [OperatorKeyOrStaff]
    staff_model = PendingDeletion  # the admin's pending-deletions page

    @extend_schema(
        summary="Resources pending deletion, soonest deadline first",
        description="**Who:** an operator API key, or a staff session allowed to view pending "
                    "deletions in the admin.\n\nResources in "
                    "`removing`: flagged because their owner cannot fund them, still running "
                    "and billed, removed by the first run at or after `delete_after` unless "
                    "the owner tops up. Each with its countdown and its owner's `shortfall` "
                    "now: for credit, one funding horizon of cost of all the owner's live "
                    "credit-paid resources minus its credits; for hold, the hold costs of its "
                    "live hold-paid resources on the chain minus its token balance there "
                    "(0 when funded). Filters: `reason`, `payment_type`, `owner` (any case), "
                    "`due_before` (ISO 8601 with a time zone; deadlines strictly before it). "
                    f"Pages of `limit` (default {DEFAULT_PAGE_LIMIT}, capped at "
                    f"{MAX_PAGE_LIMIT}); pass `next_cursor` as `cursor` for the next page.",
        parameters=[
            OpenApiParameter("reason", OpenApiTypes.STR, OpenApiParameter.QUERY,
                             enum=list(RemovalReason.values),
                             description="Only resources flagged for this reason."),
            OpenApiParameter("payment_type", OpenApiTypes.STR, OpenApiParameter.QUERY,
                             enum=list(PaymentType.values),
                             description="Only resources paid this way."),
            OpenApiParameter("owner", OpenApiTypes.STR, OpenApiParameter.QUERY,
                             description="Only this owner's resources (an address, any case)."),
            OpenApiParameter("due_before", OpenApiTypes.DATETIME, OpenApiParameter.QUERY,
                             description="Only deadlines strictly before this instant."),
            *_PAGE_PARAMETERS,
        ],
        responses={200: PendingDeletionsResponseSerializer,
                   400: error_doc("Invalid filter, limit or cursor."), **_AUTH_ERRORS},
    )
    def get(self, request):
        options = _query(PendingDeletionsQuerySerializer, request)
        limit = options["limit"]
        at = timezone.now()
        rows = pending_deletions(reason=options.get("reason"),
                                 payment_type=options.get("payment_type"),
                                 owner=options.get("owner"), due_before=options.get("due_before"),
                                 after=options.get("cursor"), at=at, limit=limit + 1)
        page, next_cursor, next_url = _page(request, rows=rows, limit=limit,
                                            cursor_of=pending_deletion_cursor)
        return Response({
            "results": [_pending_deletion(row) for row in page],
            "at": at.isoformat(),
            "funding_horizon_hours": lifecycle_settings_get().funding_horizon_hours,
            "limit": limit,
            "next_cursor": next_cursor,
            "next": next_url,
        })


def _run(run: LifecycleRun) -> dict:
    duration = None if run.finished_at is None \
        else (run.finished_at - run.started_at).total_seconds()
    return {
        "id": run.pk,
        "started_at": run.started_at.isoformat(),
        "finished_at": iso_or_none(run.finished_at),
        "duration_seconds": duration,
        "as_of": run.as_of.isoformat(),
        "trigger": run.trigger,
        "dry_run": run.dry_run,
        "status": run.status,
        "parent": run.parent_id,
        "shard_index": run.shard_index,
        "shard_count": run.shard_count,
        "accounts": run.accounts,
        "resources": run.resources,
        "charges": run.charges,
        "credits_charged": str(run.credits_charged),
        "credits_short": str(run.credits_short),
        "expired_credits": str(run.expired_credits),
        "flagged": run.flagged,
        "restored": run.restored,
        "removed": run.removed,
        "errors": run.errors,
        "error_messages": [line for line in run.error_messages.splitlines() if line.strip()],
    }


class LifecycleRunsView(APIView):
    permission_classes = [OperatorKeyOrStaff]
    staff_model = LifecycleRun

    @extend_schema(
        summary="Recent lifecycle runs, newest first",
        description="**Who:** an operator API key, or a staff session allowed to view lifecycle "
                    "runs in the admin.\n\nEach run (and each "
                    "shard of a sharded run, with its `parent`) with when it started and "
                    "finished, the instant it evaluated (`as_of`), what started it, its status "
                    "and counts: accounts and resources seen, resource-hours charged, credits "
                    "charged, short and expired, resources flagged, restored and removed, "
                    "failed batches and their messages. Credits are strings. Pages of `limit` "
                    f"(default {DEFAULT_PAGE_LIMIT}, capped at {MAX_PAGE_LIMIT}); pass "
                    "`next_cursor` as `cursor` for the next, older page.",
        parameters=_PAGE_PARAMETERS,
        responses={200: LifecycleRunsResponseSerializer,
                   400: error_doc("Invalid limit or cursor."), **_AUTH_ERRORS},
    )
    def get(self, request):
        options = _query(LifecycleRunsQuerySerializer, request)
        limit = options["limit"]
        runs = lifecycle_runs_recent(limit=limit + 1, before=options.get("cursor"))
        page, next_cursor, next_url = _page(request, rows=runs, limit=limit,
                                            cursor_of=lifecycle_run_cursor)
        return Response({
            "results": [_run(run) for run in page],
            "limit": limit,
            "next_cursor": next_cursor,
            "next": next_url,
        })
