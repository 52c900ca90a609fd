"""The desk's three operations (restore, extend the grace, delete now): their confirmation
page, which says what will happen to each selected resource (predicted with the services' own
rule) and posts only those it will be done to, and the POST that asks
`credits.services.operator` to do each one (the service decides again and writes its audit
row)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from credits_project.errors import DomainError
from pricing.costs import HOUR_SECONDS

from ..models import Resource, ResourceStatus
from ..selectors.lifecycle import Shortfall, lifecycle_settings_get, shortfalls_by_resource
from ..services.operator import (
    MAX_GRACE_EXTENSION_HOURS,
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
    confirm: str  # the submit button, "{}" for how many it acts on: "Yes, restore {}"
    refused: str  # the refusal message's start, e.g. "Not restored"
    verb: str  # what the page says will happen to each: "will be restored"
    nothing: str  # why there is no button, e.g. "Nothing can be restored"
    form: type[forms.Form]
    service: Callable[..., Resource]

    def arguments(self, data: dict) -> dict:
        if self.name == "extend":
            return {"hours": data["hours"], "reason": data["reason"]}
        return {"reason": data["reason"]}

    def button(self, count: int) -> str:
        return self.confirm.format(_resources(count))

    def success(self, resource: Resource, data: dict) -> str:
        if self.name == "restore":
            return f"Restored {resource.item_hash}: back to processed (its owner is funded)."
        if self.name == "extend":
            deadline = timezone.localtime(resource.delete_after)
            return (f"Extended the grace of {resource.item_hash} by {data['hours']} h: its "
                    f"deadline is now {deadline:%Y-%m-%d %H:%M} {deadline.tzname()}.")
        return f"Deleted {resource.item_hash} now: removed (final)."


OPERATIONS = {
    "restore": Operation("restore", "Restore pending deletions", "Yes, restore {}",
                         "Not restored", "will be restored", "Nothing can be restored now",
                         RestoreForm, resource_restore),
    "extend": Operation("extend", "Extend the grace of pending deletions",
                        "Yes, extend the grace of {}", "Not extended", "will be extended",
                        "Nothing can be extended", ExtendGraceForm, resource_extend_grace),
    "delete": Operation("delete", "Delete pending deletions now", "Yes, delete {} now",
                        "Not deleted", "will be removed now (final)",
                        "Nothing can be deleted", DeleteNowForm, resource_delete_now),
}


class Outcome(StrEnum):
    """What the confirmation page says will happen to a selected resource."""

    DONE = "done"  # the operation will be done
    REFUSED = "refused"  # the service would refuse it (an owner short); left out of the POST
    SKIPPED = "skipped"  # no longer pending deletion; left out of the POST


@dataclass(frozen=True)
class Prediction:
    outcome: Outcome
    text: str


def predict(spec: Operation, resource: Resource, shortfall: Shortfall | None,
            now: datetime) -> Prediction:
    """What `spec`'s service will do to `resource`, by the rule the service applies: only a
    resource in `removing` is operated; restore needs its owner funded now (no shortfall, as
    `shortfalls_by_resource` computes it; a stream is not checked); an extension must end after
    now. The service decides again when the operation is made, under its locks."""
    if resource.status != ResourceStatus.REMOVING:
        return Prediction(Outcome.SKIPPED, f"not pending deletion any more (it is "
                                           f"{resource.status} now): skipped")
    if spec.name == "restore":
        if shortfall is not None and shortfall.amount:
            return Prediction(Outcome.REFUSED, f"will be refused: its owner is short by "
                                               f"{shortfall_text(shortfall)}")
        if shortfall is None or shortfall.amount is None:
            return Prediction(Outcome.DONE, f"{spec.verb} (paid by "
                                            f"{resource.get_payment_type_display().lower()}: "
                                            f"its funding is not checked)")
    if spec.name == "extend" and resource.delete_after <= now:
        # delete_after + hours must be after now: more whole hours than have passed
        passed_hours = int((now - resource.delete_after).total_seconds() // HOUR_SECONDS)
        fewest = passed_hours + 1
        if fewest > MAX_GRACE_EXTENSION_HOURS:
            return Prediction(Outcome.REFUSED, f"will be refused: its deadline passed "
                                               f"{passed_hours} h ago, and an extension is at "
                                               f"most {MAX_GRACE_EXTENSION_HOURS} h")
        return Prediction(Outcome.DONE, f"{spec.verb} if you give at least {fewest} h: its "
                                        f"deadline has passed (fewer hours are refused)")
    return Prediction(Outcome.DONE, spec.verb)


def _resources(count: int) -> str:
    return f"{count} resource{'' if count == 1 else 's'}"


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
    """GET shows the confirmation page, POST does the operation and returns to the list.

    The page's form posts only the resources it said the operation will be done to (`ids`); the
    others (`also_shown`) are only shown again if the form comes back with an error."""
    spec = OPERATIONS.get(operation)
    if spec is None:
        raise Http404(f"No operation {operation!r}.")
    if not model_admin.has_operate_permission(request):
        raise PermissionDenied
    source = request.POST if request.method == "POST" else request.GET
    changelist_filters = source.get("_changelist_filters", "")
    ids = _ids(source.getlist("ids"))[:MAX_RESOURCES_PER_OPERATION]
    also_shown = _ids(source.getlist("also_shown"))[:MAX_RESOURCES_PER_OPERATION]
    resources = list(Resource.objects.filter(pk__in=[*ids, *also_shown]).select_related("owner")
                     .order_by("delete_after", "id"))
    to_operate = [resource for resource in resources if resource.pk in ids]
    if request.method == "POST" and to_operate:
        form = spec.form(request.POST)
        if form.is_valid():
            _perform(model_admin, request, spec, to_operate, form.cleaned_data)
            return HttpResponseRedirect(_changelist_url(changelist_filters))
    elif request.method == "POST" or not resources:
        model_admin.message_user(request, "No pending deletion was selected.", messages.WARNING)
        return HttpResponseRedirect(_changelist_url(changelist_filters))
    else:
        form = spec.form()
    return _confirmation(model_admin, request, spec, resources, form,
                         changelist_filters=changelist_filters)


def _perform(model_admin, request, spec: Operation, resources: list[Resource],
             data: dict) -> None:
    """Each resource through the service, which decides again under its locks: what changed
    since the confirmation page (a top-up spent, the lifecycle ran) is refused with its
    message."""
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


def _nothing_text(spec: Operation, refused: int, skipped: int) -> str:
    """Why the page has no button: every selected resource is refused or skipped."""
    reasons = []
    if refused:
        reasons.append(f"{_resources(refused)} will be refused (see why above)")
    if skipped:
        reasons.append(f"{_resources(skipped)} {'is' if skipped == 1 else 'are'} not pending "
                       f"deletion any more")
    return f"{spec.nothing}: {' and '.join(reasons)}."


def _confirmation(model_admin, request, spec: Operation, resources: list[Resource], form,
                  *, changelist_filters: str) -> TemplateResponse:
    now = timezone.now()
    removing = [r for r in resources if r.status == ResourceStatus.REMOVING]
    shortfalls = shortfalls_by_resource(resources=removing, at=now)
    rows = []
    for resource in resources:
        shortfall = shortfalls.get(resource.pk)
        rows.append({
            "resource": resource, "pending": resource.status == ResourceStatus.REMOVING,
            "shortfall": shortfall_text(shortfall) if shortfall else "-",
            "balance": balance_text(shortfall),
            "countdown": countdown_html(resource.delete_after, now) if resource.delete_after
            else "-",
            "deadline": minute_html(resource.delete_after) if resource.delete_after else "-",
            "short": bool(shortfall is not None and shortfall.amount),
            "prediction": predict(spec, resource, shortfall, now),
        })
    counts = Counter(row["prediction"].outcome for row in rows)
    done, refused, skipped = (counts[Outcome.DONE], counts[Outcome.REFUSED],
                              counts[Outcome.SKIPPED])
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": spec.title,
        "operation": spec,
        "rows": rows,
        "form": form,
        # the form posts only what the page says will be done
        "ids": ",".join(str(row["resource"].pk) for row in rows
                        if row["prediction"].outcome == Outcome.DONE),
        "also_shown": ",".join(str(row["resource"].pk) for row in rows
                               if row["prediction"].outcome != Outcome.DONE),
        "done_count": done,
        "refused_count": refused,
        "skipped_count": skipped,
        "button": spec.button(done) if done else "",
        "nothing_text": "" if done else _nothing_text(spec, refused, skipped),
        "changelist_filters": changelist_filters,
        "changelist_url": _changelist_url(changelist_filters),
        "funding_horizon_hours": lifecycle_settings_get().funding_horizon_hours,
        "media": model_admin.media,
        "is_nav_sidebar_enabled": False,  # room for whole item hashes and addresses
    }
    return TemplateResponse(request, "admin/credits/pendingdeletion/operate_confirm.html",
                            context)
