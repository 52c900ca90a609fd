"""The admin site: Django's, with the operators' dashboard on its index page.

`credits_project.apps.CreditsAdminConfig` makes this the default site, so every
`admin.site.register(...)` and `@admin.register` lands here. The numbers come from
`credits.selectors.dashboard`; this module only turns them into links and an SVG chart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

CHART_WIDTH = 960
CHART_HEIGHT = 250
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 10, 24, 34
Y_TICKS = 4


@dataclass(frozen=True, slots=True)
class ChartBar:
    x: float
    y: float
    width: float
    height: float
    start: datetime
    credits: int


@dataclass(frozen=True, slots=True)
class ChartTick:
    position: float  # x for day ticks, y for credit ticks
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    bars: tuple[ChartBar, ...]
    y_ticks: tuple[ChartTick, ...]
    x_ticks: tuple[ChartTick, ...]
    y_max: int
    total: int


def _nice_step(largest: int, ticks: int) -> int:
    """The smallest round step (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5 or 8 × 10^k, whole) whose
    `ticks` steps reach `largest`."""
    raw = max(largest, 1) / ticks
    magnitude = 10 ** max(0, math.floor(math.log10(raw)))
    for multiple in (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5, 8, 10):
        step = multiple * magnitude
        if step >= raw and step == int(step):
            return int(step)
    return 10 * magnitude


def compact_credits(value: int) -> str:
    """An axis label: 1500 → "1.5k", 1_250_000 → "1.25M"."""
    for size, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if abs(value) >= size:
            text = f"{value / size:.2f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return str(value)


def consumption_chart(buckets) -> Chart:
    """Bars of credits per hour (oldest left), a credit axis with round ticks and a day axis
    marked at each midnight (UTC, the service's time zone)."""
    plot_left, plot_right = _LEFT, CHART_WIDTH - _RIGHT
    plot_top, plot_bottom = _TOP, CHART_HEIGHT - _BOTTOM
    largest = max((bucket.credits for bucket in buckets), default=0)
    step = _nice_step(largest, Y_TICKS)
    y_max = step * Y_TICKS
    slot = (plot_right - plot_left) / max(len(buckets), 1)
    plot_height = plot_bottom - plot_top
    bars = []
    x_ticks = []
    for index, bucket in enumerate(buckets):
        height = round(plot_height * max(bucket.credits, 0) / y_max, 2)
        x = plot_left + index * slot
        bars.append(ChartBar(x=round(x + slot * 0.1, 2), y=round(plot_bottom - height, 2),
                             width=round(slot * 0.8, 2), height=height, start=bucket.start,
                             credits=bucket.credits))
        local = timezone.localtime(bucket.start)
        if local.hour == 0:
            x_ticks.append(ChartTick(position=round(x, 2), label=f"{local:%a %d %b}"))
    y_ticks = tuple(ChartTick(position=round(plot_bottom - plot_height * i / Y_TICKS, 2),
                              label=compact_credits(step * i)) for i in range(Y_TICKS + 1))
    return Chart(width=CHART_WIDTH, height=CHART_HEIGHT, plot_left=plot_left,
                 plot_right=plot_right, plot_top=plot_top, plot_bottom=plot_bottom,
                 bars=tuple(bars), y_ticks=y_ticks, x_ticks=tuple(x_ticks), y_max=y_max,
                 total=sum(bucket.credits for bucket in buckets))


def _changelist(name: str, **params) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def dashboard_links(summary) -> dict:
    """Where each number of the dashboard leads: the admin list of exactly what it counts."""
    window = {"effective_at__gt": summary.window_start.isoformat(),
              "effective_at__lte": summary.now.isoformat()}
    return {
        "resources": _changelist("credits_resource"),
        "accounts": _changelist("credits_account"),
        "granted": _changelist("credits_ledgerentry", kind__exact="grant", **window),
        "consumed": _changelist("credits_ledgerentry", kind__exact="expense", **window),
        "burn": _changelist("credits_resource", payment_type__exact="credit",
                            status__in="processed,removing"),
        "deletions_due": _changelist("credits_pendingdeletion",
                                     delete_after__lte=summary.deletions_due_before.isoformat()),
        "deletions_overdue": _changelist("credits_pendingdeletion",
                                         delete_after__lte=summary.now.isoformat()),
        "runs": _changelist("credits_lifecyclerun"),
        "chart": _changelist(
            "credits_ledgerentry", kind__exact="expense",
            effective_at__gte=summary.chart_start.isoformat(),
            effective_at__lt=min(summary.chart_end, summary.now + timedelta(microseconds=1))
            .isoformat()),
    }


def resource_table(summary) -> tuple[list[dict], list[dict]]:
    """The status × payment type table with the admin link of each cell."""
    rows = []
    for row in summary.resources_by_status:
        cells = [{"payment_type": payment, "label": label, "count": count,
                  "url": _changelist("credits_resource", status__exact=row.status,
                                     payment_type__exact=payment)}
                 for (payment, label), count in zip(summary.payment_types, row.counts)]
        rows.append({"status": row.status, "label": row.label, "cells": cells,
                     "total": row.total,
                     "url": _changelist("credits_resource", status__exact=row.status)})
    totals = [{"payment_type": payment, "label": label, "count": count,
               "url": _changelist("credits_resource", payment_type__exact=payment)}
              for (payment, label), count in zip(summary.payment_types,
                                                 summary.resources_by_payment_type)]
    return rows, totals


class CreditsAdminSite(admin.AdminSite):
    site_header = "credits administration"
    site_title = "credits admin"
    index_title = "Dashboard"
    # The pages are tables of long hashes, addresses and amounts: the room goes to them. The
    # dashboard and the breadcrumbs lead everywhere the sidebar did.
    enable_nav_sidebar = False

    def index(self, request, extra_context=None):
        # Imported here: the site is built while the admin app loads, before models are ready.
        from credits.auth import staff_may_view
        from credits.models import Account, LedgerEntry, LifecycleRun, Resource, WebhookEndpoint
        from credits.selectors.dashboard import dashboard_summary
        from credits.selectors.events import webhook_endpoints_failing
        from pricing.aggregate import format_price

        # The dashboard sums what these admin pages show: only for staff who may see them all.
        if not all(staff_may_view(request.user, model)
                   for model in (Account, LedgerEntry, Resource, LifecycleRun)):
            return super().index(request, {"dashboard_hidden": True, **(extra_context or {})})
        summary = dashboard_summary(now=timezone.now())
        rows, totals = resource_table(summary)
        context = {
            "dashboard": summary,
            "dashboard_links": dashboard_links(summary),
            "dashboard_resource_rows": rows,
            "dashboard_resource_totals": totals,
            "dashboard_chart": consumption_chart(summary.consumed_by_hour),
            # The tooltip's exact figure, in plain digits (never an exponent).
            "dashboard_burn_exact": format_price(summary.credit_burn_per_hour),
            # Webhook endpoints failing now (or disabled for failing), for staff who may see them.
            "webhooks_failing": (webhook_endpoints_failing()
                                 if staff_may_view(request.user, WebhookEndpoint) else None),
            **(extra_context or {}),
        }
        return super().index(request, context)
