"""The desk's three operations (restore, extend the grace, delete now): their confirmation
page, which says what will happen to each selected resource, and the POST that asks
`credits.services.operator` to do each one (the service writes its audit row)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from credits_project.errors import DomainError

from ..models import Resource, ResourceStatus
from ..selectors.lifecycle import lifecycle_settings_get, shortfalls_by_resource
from ..services.operator import (
    resource_delete_now,
    resource_extend_grace,
    resource_restore,
)
from .display import balance_text, countdown_html, minute_html, shortfall_text
from .forms import DeleteNowForm, ExtendGraceForm, RestoreForm

# One confirmation page handles at most this many resources (a page of the list).
MAX_RESOURCES_PER_OPERATION = 100



@dataclass(frozen=True)
class Operation:
    name: str
    title: str
    confirm: str  # the submit button, e.g. "Yes, restore"
    refused: str  # the refusal message's start, e.g. "Not restored"
    form: type[forms.Form]
    service: Callable[..., Resource]

    def arguments(self, data: dict) -> dict:
        if self.name == "extend":
            return {"hours": data["hours"], "reason": data["reason"]}
        return {"reason": data["reason"]}

    def success(self, resource: Resource, data: dict) -> str:
        if self.name == "restore":
            return f"Restored {resource.item_hash}: back to processed (its owner is funded)."
        if self.name == "extend":
            deadline = timezone.localtime(resource.delete_after)
            return (f"Extended the grace of {resource.item_hash} by {data['hours']} h: its "
                    f"deadline is now {deadline:%Y-%m-%d %H:%M} {deadline.tzname()}.")
        return f"Deleted {resource.item_hash} now: removed (final)."


OPERATIONS = {
    "restore": Operation("restore", "Restore pending deletions", "Yes, restore",
                         "Not restored", RestoreForm, resource_restore),
    "extend": Operation("extend", "Extend the grace of pending deletions", "Yes, extend",
                        "Not extended", ExtendGraceForm, resource_extend_grace),
    "delete": Operation("delete", "Delete pending deletions now", "Yes, delete now",
                        "Not deleted", DeleteNowForm, resource_delete_now),
}


def _ids(values: list[str]) -> list[int]:
    ids = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part.isdigit():
                ids.append(int(part))
    return list(dict.fromkeys(ids))


def confirm_selected(model_admin, request, queryset, operation: str):
    """The admin action: the confirmation page for the selected rows (at most a page)."""
    resources = list(queryset.select_related("owner")
                     .order_by("delete_after", "id")[:MAX_RESOURCES_PER_OPERATION + 1])
    if len(resources) > MAX_RESOURCES_PER_OPERATION:
        model_admin.message_user(request, f"Select at most {MAX_RESOURCES_PER_OPERATION} "
                                          f"pending deletions at once.", messages.WARNING)
        return None
    spec = OPERATIONS[operation]
    return _confirmation(model_admin, request, spec, resources, spec.form(),
                         changelist_filters=request.GET.urlencode())


def operate_view(model_admin, request, operation: str):
    """GET shows the confirmation page, POST does the operation and returns to the list."""
    spec = OPERATIONS.get(operation)
    if spec is None:
        raise Http404(f"No operation {operation!r}.")
    if not model_admin.has_operate_permission(request):
        raise PermissionDenied
    source = request.POST if request.method == "POST" else request.GET
    changelist_filters = source.get("_changelist_filters", "")
    ids = _ids(source.getlist("ids"))[:MAX_RESOURCES_PER_OPERATION]
    resources = list(Resource.objects.filter(pk__in=ids).select_related("owner")
                     .order_by("delete_after", "id"))
    if not resources:
        model_admin.message_user(request, "No pending deletion was selected.", messages.WARNING)
        return HttpResponseRedirect(_changelist_url(changelist_filters))
    if request.method == "POST":
        form = spec.form(request.POST)
        if form.is_valid():
            _perform(model_admin, request, spec, resources, form.cleaned_data)
            return HttpResponseRedirect(_changelist_url(changelist_filters))
    else:
        form = spec.form()
    return _confirmation(model_admin, request, spec, resources, form,
                         changelist_filters=changelist_filters)


def _perform(model_admin, request, spec: Operation, resources: list[Resource],
             data: dict) -> None:
    actor = f"staff:{request.user.get_username()}"
    for resource in resources:
        try:
            done = spec.service(item_hash=resource.item_hash, actor=actor,
                                **spec.arguments(data))
        except DomainError as exc:
            model_admin.message_user(
                request, f"{spec.refused} {resource.item_hash}: {exc.message}", messages.ERROR)
            continue
        # The service wrote the audit row (ResourceStatusChange) in its own transaction.
        model_admin.message_user(request, spec.success(done, data), messages.SUCCESS)


def _changelist_url(changelist_filters: str) -> str:
    url = reverse("admin:credits_pendingdeletion_changelist")
    return f"{url}?{changelist_filters}" if changelist_filters else url


def _confirmation(model_admin, request, spec: Operation, resources: list[Resource], form,
                  *, changelist_filters: str) -> TemplateResponse:
    now = timezone.now()
    removing = [r for r in resources if r.status == ResourceStatus.REMOVING]
    shortfalls = shortfalls_by_resource(resources=removing, at=now)
    rows = []
    for resource in resources:
        shortfall = shortfalls.get(resource.pk)
        short = bool(shortfall is not None and shortfall.amount)
        rows.append({
            "resource": resource, "pending": resource.status == ResourceStatus.REMOVING,
            "shortfall": shortfall_text(shortfall) if shortfall else "-",
            "balance": balance_text(shortfall),
            "countdown": countdown_html(resource.delete_after, now) if resource.delete_after
            else "-",
            "deadline": minute_html(resource.delete_after) if resource.delete_after else "-",
            "short": short,
            "short_by": shortfall_text(shortfall) if short else "",
        })
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": spec.title,
        "operation": spec,
        "rows": rows,
        "form": form,
        "ids": ",".join(str(resource.pk) for resource in resources),
        "pending_count": len(removing),
        "refused_count": sum(1 for row in rows if row["pending"] and row["short"]),
        "changelist_filters": changelist_filters,
        "changelist_url": _changelist_url(changelist_filters),
        "funding_horizon_hours": lifecycle_settings_get().funding_horizon_hours,
        "media": model_admin.media,
        "is_nav_sidebar_enabled": False,  # room for whole item hashes and addresses
    }
    return TemplateResponse(request, "admin/credits/pendingdeletion/operate_confirm.html",
                            context)
