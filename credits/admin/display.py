"""How the admin writes amounts, instants and durations: one place for the pages' text.

- credits: whole numbers, grouped (`1,234,567 credits`; signed in the ledger: `+1,000`, `−250`);
- exact decimals (18-place rates, tokens, sizes): grouped and shortened to a few decimals, an
  ellipsis marking a cut, the exact value on hover (`decimal_html`);
- instants: `2026-12-04 18:17 UTC` (the site's format, credits_project/formats; always UTC).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.utils import formats, timezone
from django.utils.html import format_html

from pricing.aggregate import format_price, format_price_grouped
from pricing.costs import HOUR_SECONDS, amount_for_seconds

from ..funding import hourly_charge
from ..models import StatusChangeReason
from ..selectors.lifecycle import Shortfall

# Decimals shown in tables; the exact value is on hover.
DECIMALS_SHOWN = 6


def when_text(value) -> str:
    """An instant as every page writes it: `2026-12-04 18:17 UTC`."""
    return "never" if value is None else formats.localize(timezone.localtime(value))


def credits_text(value: int | None) -> str:
    return "-" if value is None else f"{value:,} credits"


def number_text(value: int | None) -> str:
    """A whole number, grouped: `1,234,567`."""
    return "-" if value is None else f"{value:,}"


def signed_credits_text(value: int) -> str:
    """A change of a balance: `+1,000`, `−250` (a real minus sign), `0`."""
    if value > 0:
        return f"+{value:,}"
    return f"−{-value:,}" if value < 0 else "0"


def exact_text(value: Decimal) -> str:
    """An exact decimal in plain digits, without trailing zeros (never an exponent, never
    rounded: `Decimal.normalize` would round to 28 digits)."""
    return format_price(value)


def decimal_html(value: Decimal | None, *, unit: str = "") -> str:
    """An exact decimal grouped and cut to `DECIMALS_SHOWN` places (`3.958333…`), the exact value
    on hover; `unit` follows the number."""
    if value is None:
        return "-"
    shown = value.quantize(Decimal(1).scaleb(-DECIMALS_SHOWN), rounding=ROUND_DOWN)
    text = format_price_grouped(shown) if shown else ("0" if not value else "0.000000")
    if shown != value:
        text += "…"
    suffix = f" {unit}" if unit else ""
    return format_html('<span class="credits-exact" title="{}{}">{}{}</span>', exact_text(value),
                       suffix, text, suffix)


def clip_html(text: str):
    """Free text (a reason, a reference) cut to its column by CSS; the whole of it on hover."""
    if not text:
        return "-"
    return format_html('<span class="credits-clip" title="{}">{}</span>', text, text)


def short_html(text: str, *, width_ch: int = 16):
    """A long hash or address cut to `width_ch` characters with an ellipsis by CSS: the whole of
    it stays in the page (search, copy) and shows on hover."""
    return format_html('<span class="credits-id" style="max-width:{}ch" title="{}">{}</span>',
                       width_ch, text, text)


def runway_text(hours) -> str:
    if hours is None:
        return "no running credit cost"
    return f"{hours:,.1f} h (≈ {hours / 24:,.1f} days)"


def short_text(text: str, *, head: int = 10, tail: int = 6) -> str:
    return text if len(text) <= head + tail + 1 else f"{text[:head]}…{text[-tail:]}"


def minute_html(value):
    """An instant (`when_text`) that may wrap between its date and its time (narrow columns)."""
    date, _, time = when_text(value).partition(" ")
    return format_html('<span class="pd-nowrap">{}</span> <span class="pd-nowrap">{}</span>',
                       date, time)


def time_left_text(delete_after: datetime, now: datetime) -> str:
    """"5 h 12 min", "12 min", "< 1 min", or "overdue" once the deadline has passed."""
    seconds = (delete_after - now).total_seconds()
    if seconds <= 0:
        return "overdue"
    minutes = int(seconds // 60)
    if minutes == 0:
        return "< 1 min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def countdown_html(delete_after, now):
    """The server's "time left" text, which the desk's script turns into a live countdown."""
    text = time_left_text(delete_after, now)
    classes = "pd-countdown"
    if text == "overdue":
        classes += " pd-overdue"
    elif (delete_after - now) < timedelta(hours=1):
        classes += " pd-soon"
    return format_html('<span class="{}" data-deadline="{}" data-now="{}">{}</span>', classes,
                       delete_after.isoformat(), now.isoformat(), text)


def decimal_text(value) -> str:
    """An exact decimal in full, grouped, without trailing zeros (sentences; tables use
    `decimal_html`)."""
    return format_price_grouped(value) if value else "0"


def shortfall_text(shortfall: Shortfall | None) -> str:
    """What the owner must add: whole credits (rounded up) or exact tokens; "funded" if nothing."""
    if shortfall is None or shortfall.amount is None:
        return "not checked (stream)"
    if shortfall.amount == 0:
        return "funded"
    if shortfall.unit == "credits":
        return credits_text(int(shortfall.to_add))
    return f"{decimal_text(shortfall.amount)} tokens on {shortfall.chain or '?'}"


def balance_text(shortfall: Shortfall | None) -> str:
    if shortfall is None or shortfall.available is None:
        return "-"
    if shortfall.unit == "credits":
        return credits_text(int(shortfall.available))
    return f"{decimal_text(shortfall.available)} tokens on {shortfall.chain or '?'}"


def status_reason_text(reason: str) -> str:
    """Why a status changed, readable: the label of a `StatusChangeReason`, or the operator's own
    words as written."""
    if reason in StatusChangeReason.values:
        return StatusChangeReason(reason).label
    return reason or "-"


def hourly_charge_html(cost_credit_per_second: Decimal | None):
    """What metering takes for one hour of a credit-paid resource, in whole credits
    (`credits.funding.hourly_charge`), with the exact rate on hover: the per-second rate is
    floored to 18 decimals as the network does, so 15,000 a hour reads 14999.99…976 exactly."""
    if not cost_credit_per_second:
        return "-"
    exact = amount_for_seconds(cost_credit_per_second, HOUR_SECONDS)
    return format_html('<span class="credits-exact" title="exact rate: {} credits per hour">{}'
                       '</span>', exact_text(exact),
                       number_text(hourly_charge(cost_credit_per_second)))
