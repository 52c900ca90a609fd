"""Opaque cursors of the API's lists: a row's position (instant, id) in a list ordered by instant
then id, written as unpadded URL-safe base64 of a JSON pair. One codec and one error for every
list (credit history, pending deletions, lifecycle runs)."""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime

CURSOR_INVALID_MESSAGE = "The cursor is not one this API gave."
# Far longer than any cursor written here (about 60 characters): a bound on what is decoded.
MAX_CURSOR_LENGTH = 200


class InvalidCursor(ValueError):
    """Not a cursor `cursor_encode` wrote: the API answers a 400 naming the `cursor` field."""


def cursor_encode(instant: datetime, pk: int) -> str:
    """The cursor of the row at (instant, pk)."""
    raw = json.dumps([instant.isoformat(), pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, int]:
    """The (instant, id) of a cursor from `cursor_encode`; InvalidCursor if it is not one."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor(CURSOR_INVALID_MESSAGE)
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        instant_text, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        instant = parse_datetime(instant_text)
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise InvalidCursor(CURSOR_INVALID_MESSAGE) from None
    if instant is None or timezone.is_naive(instant) or isinstance(pk, bool) \
            or not isinstance(pk, int):
        raise InvalidCursor(CURSOR_INVALID_MESSAGE)
    return instant, pk
