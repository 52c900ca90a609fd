"""Fingerprints of requests, so a replay with the same key answers like the first time and the
same key with another body is refused."""
import hashlib
import json
from decimal import Decimal
from typing import Any


def _default(value: Any):
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def request_fingerprint(payload: dict) -> str:
    """sha256 of the canonical JSON of the request's meaningful fields."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_default)
    return hashlib.sha256(canonical.encode()).hexdigest()
