"""How the admin writes amounts, instants and durations: one place for the pages' text."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import formats, timezone
from django.utils.html import format_html

from ..selectors.lifecycle import Shortfall


def when_text(value) -> str:
    """A datetime as the admin shows its own (local time, the site's format)."""
    return "never" if value is None else formats.localize(timezone.localtime(value))


def credits_text(value: int | None) -> str:
    return "-" if value is None else f"{value:,} credits"


def runway_text(hours) -> str:
    if hours is None:
        return "no running credit cost"
    return f"{hours:,.1f} h (≈ {hours / 24:,.1f} days)"


def short_text(text: str, *, head: int = 10, tail: int = 6) -> str:
    return text if len(text) <= head + tail + 1 else f"{text[:head]}…{text[-tail:]}"


def minute_html(value):
    """A date and time that may wrap between the two (the desk's columns are narrow)."""
    local = timezone.localtime(value)
    return format_html('<span class="pd-nowrap">{}</span> <span class="pd-nowrap">{}</span>',
                       local.strftime("%Y-%m-%d"), local.strftime("%H:%M"))


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
    """An 18-decimal amount without its trailing zeros, with thousands separators."""
    return f"{value.normalize():,f}" if value else "0"


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
