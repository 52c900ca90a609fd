"""Opaque cursors of the API's lists: unpadded URL-safe base64 of compact JSON (`opaque_encode`,
`opaque_decode`), which the network's v0 lists use too (their payloads are theirs:
credits/serializers/network_accounts.py). v1's lists (credit history, pending deletions,
lifecycle runs) write a row's position (instant, id) in a list ordered by instant then id, with
one error for a cursor they did not give."""
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


def opaque_encode(value) -> str:
    """A JSON value as cursor text: unpadded URL-safe base64 of its compact JSON."""
    raw = json.dumps(value, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def opaque_decode(cursor: str):
    """The JSON value of cursor text `opaque_encode` wrote; ValueError (binascii.Error and
    UnicodeError are ValueErrors) or RecursionError if it is not one."""
    return json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))


def cursor_encode(instant: datetime, pk: int) -> str:
    """The cursor of the row at (instant, pk)."""
    return opaque_encode([instant.isoformat(), pk])


def cursor_decode(cursor: str) -> tuple[datetime, int]:
    """The (instant, id) of a cursor from `cursor_encode`; InvalidCursor if it is not one."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor(CURSOR_INVALID_MESSAGE)
    try:
        instant_text, pk = opaque_decode(cursor)
        instant = parse_datetime(instant_text)
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise InvalidCursor(CURSOR_INVALID_MESSAGE) from None
    if instant is None or timezone.is_naive(instant) or isinstance(pk, bool) \
            or not isinstance(pk, int):
        raise InvalidCursor(CURSOR_INVALID_MESSAGE)
    return instant, pk
