"""The network's v0 API (aleph-im/pyaleph's shapes): prices, statuses, consumed credits and
costs of registered messages."""
from __future__ import annotations

from django.urls import URLPattern

# Routes under /api/v0/ (credits/urls.py adds them).
v0_urls: list[URLPattern] = []
