"""The pricing admin's own pages: publish (with the effective date and the differences; the
credits admin adds the impact preview), copy (a page and a list action, both opening the new
draft), delete (a draft only; a published version's page says why not and offers a copy), export
and import as the network's JSON, every change made to a version and its rows, and its
differences from another version. The pages that
need resources (impact, recalculation) are the credits admin's: credits/admin/pricing_views.py.
"""
from __future__ import annotations

import json
from itertools import chain
from typing import Callable

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from .aggregate import (
    GPU_DUPLICATES_FIRST_WINS,
    GPU_DUPLICATES_REFUSE,
    AggregateInvalid,
    aggregate_json_loads,
    version_problems,
    version_to_aggregate,
    version_to_compatible_gpus,
    version_to_payment_rules,
)
from .diff import shown_value, version_diff, version_diff_base
from .models import GpuDevice, PaymentRule, PricingVersion, Product, Tier
from .selectors import pricing_version_in_force
from .services import (
    PricingVersionError,
    PricingVersionInvalid,
    PricingVersionNotEditable,
    pricing_version_copy,
    pricing_version_import,
    pricing_version_publish,
)

MAX_UPLOAD_BYTES = 1024 * 1024
TEMPLATES = "admin/pricing/pricingversion"
_DATETIME_INPUT = "%Y-%m-%dT%H:%M:%S"


# --- forms -------------------------------------------------------------------------------------

class PublishForm(forms.Form):
    effective_from = forms.DateTimeField(
        label="Effective from (UTC)", required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1},
                                   format=_DATETIME_INPUT),
        help_text="When the version takes effect. Empty or now: at once; a later date schedules "
                  "it. It cannot be in the past.")


class ImportForm(forms.Form):
    name = forms.CharField(max_length=PricingVersion._meta.get_field("name").max_length)
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    pricing_file = forms.FileField(
        label="Pricing aggregate file", required=False,
        help_text="The network's pricing aggregate: {product_type: {...}}, or as its API "
                  "returns it ({\"data\": {\"pricing\": ...}}).")
    pricing_json = forms.CharField(
        label="… or pricing aggregate JSON", required=False, strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 100, "spellcheck": "false"}))
    settings_file = forms.FileField(
        label="Settings aggregate file (optional)", required=False,
        help_text="The GPU catalogue: {\"compatible_gpus\": [...]}, or the settings aggregate as "
                  "the network's API returns it. Without it, the GPU catalogue of the version "
                  "in force is copied.")
    settings_json = forms.CharField(
        label="… or settings aggregate JSON", required=False, strip=False,
        widget=forms.Textarea(attrs={"rows": 5, "cols": 100, "spellcheck": "false"}))
    gpu_first_wins = forms.BooleanField(
        label="Read a PCI device id listed twice as the network does", required=False,
        help_text="The network's settings aggregate lists some device ids twice; its nodes take "
                  "the first. Unticked, a repeated id is refused.")
    payment_rules_file = forms.FileField(
        label="Payment rules file (optional)", required=False,
        help_text="This service's own document {\"payment_rules\": [...]} (Export payment rules "
                  "JSON). Without it, the rules of the version in force are copied.")
    payment_rules_json = forms.CharField(
        label="… or payment rules JSON", required=False, strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 100, "spellcheck": "false"}))

    def _document(self, label: str, file_field: str, text_field: str, *, required: bool):
        upload = self.cleaned_data.get(file_field)
        text = self.cleaned_data.get(text_field) or ""
        if upload and text.strip():
            self.add_error(text_field, f"Give the {label} as a file or as text, not both.")
            return None
        if upload:
            if upload.size > MAX_UPLOAD_BYTES:
                self.add_error(file_field, f"The file is larger than {MAX_UPLOAD_BYTES} bytes.")
                return None
            raw: bytes | str = upload.read()
        elif text.strip():
            raw = text
        else:
            if required:
                self.add_error(file_field, f"Give the {label} as a file or as text.")
            return None
        try:
            return aggregate_json_loads(raw, label=label)
        except AggregateInvalid as exc:
            self.add_error(file_field if upload else text_field, exc.errors)
            return None

    def clean(self):
        cleaned = super().clean()
        cleaned["aggregate"] = self._document("pricing JSON", "pricing_file", "pricing_json",
                                              required=True)
        cleaned["compatible_gpus"] = self._document("settings JSON", "settings_file",
                                                    "settings_json", required=False)
        cleaned["payment_rules"] = self._document("payment rules JSON", "payment_rules_file",
                                                  "payment_rules_json", required=False)
        return cleaned


# --- helpers (the credits admin's pages of a version use them too) -------------------------------

def change_url(model_admin, version: PricingVersion) -> str:
    opts = model_admin.opts
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[version.pk],
                   current_app=model_admin.admin_site.name)


def version_or_none(model_admin, request, object_id) -> PricingVersion | None:
    """The version of a page, None if there is none; refused without view permission."""
    version = model_admin.get_object(request, unquote(object_id))
    if version is None:
        return None
    if not model_admin.has_view_or_change_permission(request, version):
        raise PermissionDenied
    return version


def missing_redirect(model_admin, request, object_id):
    return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)


def page_context(model_admin, request, **extra) -> dict:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "app_label": model_admin.opts.app_label,
        **extra,
    }


# --- publish -----------------------------------------------------------------------------------

def version_publish(model_admin, request, object_id, *,
                    preview_context: Callable[[PricingVersion], dict] | None = None):
    """The effective date, the version's problems and its differences from the version in
    force; `preview_context(version)` adds to the page (the credits admin: the impact)."""
    version = version_or_none(model_admin, request, object_id)
    if version is None:
        return missing_redirect(model_admin, request, object_id)
    if not version.is_editable:
        messages.error(request, f"“{version}” is {version.get_status_display().lower()}: only "
                                "a draft can be published. Copy it to a new draft to change it.")
        return HttpResponseRedirect(change_url(model_admin, version))
    if not model_admin.has_change_permission(request, version):
        raise PermissionDenied

    errors: list[str] = []
    message = ""
    if request.method == "POST":
        form = PublishForm(request.POST)
        if form.is_valid():
            try:
                pricing_version_publish(version=version,
                                        effective_from=form.cleaned_data["effective_from"],
                                        user=request.user)
            except PricingVersionInvalid as exc:
                message, errors = exc.message, exc.errors
            except PricingVersionNotEditable as exc:
                messages.error(request, exc.message)
                return HttpResponseRedirect(change_url(model_admin, version))
            except PricingVersionError as exc:
                form.add_error("effective_from", exc.message)
            else:
                version.refresh_from_db()
                model_admin.log_change(request, version, "Published, effective from "
                                                         f"{version.effective_from.isoformat()}.")
                when = ("now" if version.effective_from <= timezone.now()
                        else f"from {version.effective_from:%Y-%m-%d %H:%M:%S} UTC")
                messages.success(request, f"“{version.name}” is published and in force {when}.")
                return HttpResponseRedirect(change_url(model_admin, version))
    else:
        now = timezone.now().replace(microsecond=0)
        form = PublishForm(initial={"effective_from": now})
        errors = version_problems(version)
        if errors:
            message = (f"This draft cannot be published yet: {len(errors)} problem(s) found. "
                       "Fix them in the draft first.")

    in_force = pricing_version_in_force()
    context = page_context(
        model_admin, request, title=f"Publish “{version.name}”", original=version,
        object=version, form=form, errors=errors, error_message=message, in_force=in_force,
        counts={"products": version.products.count(), "tiers": version.tiers.count(),
                "gpu_devices": version.gpu_devices.count()},
        diff=version_diff(version=version, base=in_force),
        **(preview_context(version) if preview_context is not None else {}),
    )
    return TemplateResponse(request, f"{TEMPLATES}/publish.html", context)


# --- copy --------------------------------------------------------------------------------------

def _copy_name(version: PricingVersion) -> str:
    return f"Copy of {version.name}"[:PricingVersion._meta.get_field("name").max_length]


def _copied(model_admin, request, version: PricingVersion, copy: PricingVersion) -> str:
    """Logs the copy; the success message."""
    model_admin.log_addition(request, copy, f"Copied from version {version.pk}.")
    return (f"New draft “{copy.name}” copied from “{version.name}”. Edit it below, then "
            "publish it.")


def version_copy(model_admin, request, object_id):
    """The new draft's name, then the draft's change page."""
    version = version_or_none(model_admin, request, object_id)
    if version is None:
        return missing_redirect(model_admin, request, object_id)
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    name = _copy_name(version)
    error = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip() or name
        try:
            copy = pricing_version_copy(version=version, user=request.user, name=name)
        except PricingVersionError as exc:
            error = "; ".join(exc.errors) or exc.message
        else:
            messages.success(request, _copied(model_admin, request, version, copy))
            return HttpResponseRedirect(change_url(model_admin, copy))
    context = page_context(model_admin, request, title=f"Copy “{version.name}” to a new draft",
                       original=version, object=version, name=name, error=error)
    return TemplateResponse(request, f"{TEMPLATES}/copy.html", context)


def versions_copy(model_admin, request, queryset):
    """The list's action: each selected version to a new draft. One version: its draft's change
    page opens; several: the list again, with a link to each new draft."""
    versions = list(queryset.order_by("pk"))
    copies = []
    for version in versions:
        try:
            copy = pricing_version_copy(version=version, user=request.user)
        except PricingVersionError as exc:
            messages.error(request, exc.message)
            continue
        copies.append((version, copy, _copied(model_admin, request, version, copy)))
    if len(versions) == 1 and copies:
        [(_, copy, text)] = copies
        messages.success(request, text)
        return HttpResponseRedirect(change_url(model_admin, copy))
    for version, copy, _ in copies:
        messages.success(request, format_html(
            "Version #{} copied to the new draft <a href=\"{}\">“{}”</a>.", version.pk,
            change_url(model_admin, copy), copy.name))
    return None


# --- delete ------------------------------------------------------------------------------------

def version_delete(model_admin, request, object_id, *, delete_draft: Callable[[], HttpResponse]):
    """A draft: `delete_draft()` (the admin's own confirmation and deletion). A published or
    superseded version is never deleted (nor changed): resources and charges were priced with
    it. Its page says so and offers to copy it to a new draft; nothing is deleted, also on a
    POST."""
    version = model_admin.get_object(request, unquote(object_id))
    if version is None or version.is_editable:
        return delete_draft()
    if not model_admin.has_view_or_change_permission(request, version):
        raise PermissionDenied
    context = page_context(
        model_admin, request, title=f"“{version.name}” cannot be deleted", original=version,
        object=version, copy_available=model_admin.has_add_permission(request),
        copy_name=_copy_name(version), in_force=pricing_version_in_force())
    return TemplateResponse(request, f"{TEMPLATES}/delete_refused.html", context)


# --- export ------------------------------------------------------------------------------------

def version_export(model_admin, request, object_id):
    """The pricing aggregate (default), with ?shape=settings the GPU catalogue in the settings
    aggregate's shape, with ?shape=payment_rules the payment rules; each downloads as a file
    that import takes back unchanged."""
    version = version_or_none(model_admin, request, object_id)
    if version is None:
        return missing_redirect(model_admin, request, object_id)
    if request.GET.get("shape") == "settings":
        document = {"compatible_gpus": version_to_compatible_gpus(version)}
        filename = f"pricing-version-{version.pk}-settings.json"
    elif request.GET.get("shape") == "payment_rules":
        document = version_to_payment_rules(version)
        filename = f"pricing-version-{version.pk}-payment-rules.json"
    else:
        document = version_to_aggregate(version)
        filename = f"pricing-version-{version.pk}-pricing.json"
    response = HttpResponse(json.dumps(document, indent=2) + "\n",
                            content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- import ------------------------------------------------------------------------------------

def version_import(model_admin, request):
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    errors: list[str] = []
    warnings: list[str] = []
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                version = pricing_version_import(
                    aggregate=form.cleaned_data["aggregate"],
                    compatible_gpus=form.cleaned_data["compatible_gpus"],
                    payment_rules=form.cleaned_data["payment_rules"],
                    gpu_duplicates=(GPU_DUPLICATES_FIRST_WINS
                                    if form.cleaned_data["gpu_first_wins"]
                                    else GPU_DUPLICATES_REFUSE),
                    name=form.cleaned_data["name"], notes=form.cleaned_data["notes"],
                    user=request.user)
            except AggregateInvalid as exc:
                errors, warnings = exc.errors, exc.warnings
            else:
                model_admin.log_addition(request, version, "Imported from the network's JSON.")
                messages.success(request, f"Imported the draft “{version.name}”: "
                                          f"{version.products.count()} products, "
                                          f"{version.tiers.count()} tiers, "
                                          f"{version.gpu_devices.count()} GPU devices. "
                                          "Check it, then publish it.")
                for warning in version.import_warnings:
                    messages.warning(request, warning)
                return HttpResponseRedirect(change_url(model_admin, version))
    else:
        form = ImportForm(initial={"name": f"Imported {timezone.now():%Y-%m-%d %H:%M} UTC"})
    context = page_context(model_admin, request, title="Import a pricing version from JSON",
                       form=form, errors=errors, warnings=warnings)
    return TemplateResponse(request, f"{TEMPLATES}/import.html", context)


# --- changes -----------------------------------------------------------------------------------

_ACTIONS = {"+": "added", "~": "changed", "-": "deleted"}


def _label(record) -> str:
    model = record.instance_type
    if model is PricingVersion:
        return "version"
    if model is Product:
        return f"product {record.product_type}"
    if model is Tier:
        return f"tier {record.product_type} {record.tier_id}"
    if model is PaymentRule:
        return f"payment rule {record.name}"
    return f"GPU {record.device_id}"


def version_changes(model_admin, request, object_id, limit: int = 500):
    """Who changed what and when, for the version and every product, tier, GPU device and
    payment rule."""
    version = version_or_none(model_admin, request, object_id)
    if version is None:
        return missing_redirect(model_admin, request, object_id)
    records = sorted(chain(
        PricingVersion.history.filter(id=version.pk).select_related("history_user")[:limit],
        Product.history.filter(version_id=version.pk).select_related("history_user")[:limit],
        Tier.history.filter(version_id=version.pk).select_related("history_user")[:limit],
        GpuDevice.history.filter(version_id=version.pk).select_related("history_user")[:limit],
        PaymentRule.history.filter(version_id=version.pk)
        .select_related("history_user")[:limit],
    ), key=lambda r: (r.history_date, r.history_id), reverse=True)[:limit]
    rows = []
    for record in records:
        changes = []
        if record.history_type == "~":
            previous = record.prev_record
            if previous is not None:
                for change in record.diff_against(previous).changes:
                    changes.append(f"{change.field}: {shown_value(change.old)} → "
                                   f"{shown_value(change.new)}")
        rows.append({"date": record.history_date, "user": record.history_user,
                     "what": _label(record), "action": _ACTIONS.get(record.history_type, "?"),
                     "reason": record.history_change_reason or "", "changes": changes})
    context = page_context(model_admin, request, title=f"Changes to “{version.name}”",
                       original=version, object=version, rows=rows, limit=limit)
    return TemplateResponse(request, f"{TEMPLATES}/changes.html", context)


# --- differences -------------------------------------------------------------------------------

def version_differences(model_admin, request, object_id):
    """The version against the version in force (or `?against=<pk>`), field by field."""
    version = version_or_none(model_admin, request, object_id)
    if version is None:
        return missing_redirect(model_admin, request, object_id)
    base = version_diff_base(version)
    against = request.GET.get("against", "")
    if against.isdigit():
        chosen = PricingVersion.objects.filter(pk=int(against)).first()
        if chosen is not None and chosen.pk != version.pk:
            base = chosen
    others = PricingVersion.objects.exclude(pk=version.pk).order_by("-id")[:100]
    context = page_context(model_admin, request, title=f"Differences of “{version.name}”",
                       original=version, object=version, diff=version_diff(version=version,
                                                                            base=base),
                       others=others, in_force=pricing_version_in_force())
    return TemplateResponse(request, f"{TEMPLATES}/differences.html", context)
