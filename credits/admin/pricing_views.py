"""The pricing editor's pages that need resources: a version's impact on the live resources (also
shown when publishing), the recalculation of those resources with the version in force (a
confirmation with the impact), and a recalculation job's page (progress, summary, audit lines).
The pricing-only pages are pricing's own (pricing/admin_views.py).
"""
from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from pricing.admin_views import TEMPLATES, missing_redirect, page_context, version_or_none
from pricing.aggregate import format_price
from pricing.diff import shown_value, version_fingerprint
from pricing.models import PricingVersion
from pricing.selectors import pricing_version_in_force

from ..impact import version_impact_preview
from ..models import Recalculation, RecalculationOutcome
from ..services.repricing import (
    RecalculationRefused,
    recalculation_active,
    recalculation_refusal,
    recalculation_start,
)

# The permission to start recalculations and dry runs.
START_JOBS_PERMISSION = "credits.add_recalculation"


# --- impact ------------------------------------------------------------------------------------

def _latest_dry_run(version: PricingVersion, fingerprint: str) -> Recalculation | None:
    job = version.recalculations.filter(dry_run=True).order_by("-created_at", "-id").first()
    if job is not None:
        job.stale = job.fingerprint != fingerprint
    return job


def impact_context(version: PricingVersion) -> dict:
    """The impact preview for a page: computed now when the database is small enough, else the
    latest dry run of this version (if any), marked stale when the version changed since."""
    impact = version_impact_preview(version=version)
    return {"impact": impact, "dry_run": _latest_dry_run(version, impact.fingerprint)}


def can_start_jobs(request) -> bool:
    return request.user.has_perm(START_JOBS_PERMISSION)


def _job_url(job: Recalculation) -> str:
    return reverse("admin:credits_recalculation_change", args=[job.pk])


def version_impact(model_admin, request, object_id):
    """What recalculating the live resources with this version would do; a POST starts a dry
    run (a background job) for databases too large to compute it while the page loads."""
    version = version_or_none(model_admin, request, object_id)
    if version is None:
        return missing_redirect(model_admin, request, object_id)
    if request.method == "POST":
        if not can_start_jobs(request):
            raise PermissionDenied
        job = recalculation_start(version=version, user=request.user, dry_run=True)
        messages.success(request, f"Dry run #{job.pk} started: the impact of “{version.name}” "
                                  "is computed in the background.")
        return HttpResponseRedirect(_job_url(job))
    context = page_context(model_admin, request, title=f"Impact of “{version.name}”",
                           original=version, object=version,
                           in_force=pricing_version_in_force(),
                           can_start_jobs=can_start_jobs(request), **impact_context(version))
    return TemplateResponse(request, f"{TEMPLATES}/impact.html", context)


# --- recalculate -------------------------------------------------------------------------------

def version_recalculate(model_admin, request, object_id):
    """Confirmation with the impact, then a recalculation job applying the version in force to
    the live resources."""
    version = version_or_none(model_admin, request, object_id)
    if version is None:
        return missing_redirect(model_admin, request, object_id)
    if not can_start_jobs(request):
        raise PermissionDenied
    refusal = recalculation_refusal(version=version)
    if request.method == "POST" and not refusal:
        try:
            job = recalculation_start(version=version, user=request.user)
        except RecalculationRefused as exc:
            refusal = exc.message
        else:
            model_admin.log_change(request, version, f"Recalculation #{job.pk} of the live "
                                                     "resources started.")
            messages.success(request, f"Recalculation #{job.pk} started: the live resources "
                                      f"get the costs of “{version.name}”, batch by batch.")
            return HttpResponseRedirect(_job_url(job))
    context = page_context(model_admin, request,
                           title=f"Recalculate existing resources with “{version.name}”",
                           original=version, object=version, refusal=refusal,
                           running=recalculation_active(),
                           recent=version.recalculations.filter(dry_run=False)[:5],
                           **(impact_context(version) if not refusal else {}))
    return TemplateResponse(request, f"{TEMPLATES}/recalculate.html", context)


# --- a job -------------------------------------------------------------------------------------

def recalculation_detail(model_admin, request, object_id):
    """A job's page: progress while it runs (the page reloads itself), then its summary and
    the audit lines of the resources it recalculated or could not price."""
    job = model_admin.get_object(request, unquote(object_id))
    if job is None:
        return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts,
                                                            object_id)
    if not model_admin.has_view_permission(request, job):
        raise PermissionDenied
    version = job.version
    failed_lines = job.lines.filter(outcome=RecalculationOutcome.FAILED).order_by("id")[:200]
    lines = [{
        "item_hash": line.item_hash, "previous_version_id": line.previous_version_id,
        **{name: f"{shown_value(getattr(line, f'previous_{name}'))} → "
                 f"{shown_value(getattr(line, name))}"
           for name in ("cost_hold", "cost_stream_per_second", "cost_credit_per_second")},
    } for line in job.lines.filter(outcome=RecalculationOutcome.RECALCULATED).order_by("id")[:200]]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts, "app_label": model_admin.opts.app_label,
        "version_opts": PricingVersion._meta, "title": str(job).capitalize(),
        "job": job, "original": job, "version": version, "summary": job.summary or None,
        "stale": job.dry_run and job.fingerprint != version_fingerprint(version),
        "errors": [line for line in job.error_messages.splitlines() if line],
        "failed_lines": failed_lines, "lines": lines,
        "burn": f"{format_price(job.burn_before_per_hour)} → "
                f"{format_price(job.burn_after_per_hour)}",
        "refresh_seconds": 2 if job.is_active else None,
    }
    return TemplateResponse(request, "admin/credits/recalculation/job.html", context)
