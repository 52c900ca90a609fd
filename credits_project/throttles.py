"""Throttles of the API. In the project layer, so that either app's views may use them."""
from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle


class FixedWindowThrottle(BaseThrottle):
    """Per-client limit at the rate of the setting `rate_setting` (by API key or token when one
    is sent, else by client address: DRF's `get_ident`, which trusts as many X-Forwarded-For
    hops as NUM_PROXIES, set from TRUSTED_PROXY_COUNT; none by default).

    A fixed window counted with one atomic cache increment: constant cost per request whatever
    the rate (DRF's sliding window pickles a list of every request in the window), and no
    read-modify-write race between processes sharing a Redis cache.
    """

    scope: str
    rate_setting: str

    def __init__(self):
        self.wait_seconds: float | None = None

    @classmethod
    def rate(cls) -> tuple[int, int] | None:
        rate = getattr(settings, cls.rate_setting)
        if rate in (None, "", "off", "none"):
            return None
        count, _, period = rate.partition("/")
        seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[:1]]
        return int(count), seconds

    def allow_request(self, request, view):
        rate = self.rate()
        if rate is None:
            return True
        limit, window_seconds = rate
        now = time.time()
        window = int(now // window_seconds)
        api_key_prefix = getattr(request.auth, "prefix", None)
        ident = f"key:{api_key_prefix}" if api_key_prefix else self.get_ident(request)
        key = f"throttle:{self.scope}:{ident}:{window_seconds}:{window}"
        # add() is a no-op when the window's counter exists; incr() is atomic on Redis.
        cache.add(key, 0, timeout=window_seconds + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: a new window
            cache.set(key, 1, timeout=window_seconds + 1)
            count = 1
        if count <= limit:
            return True
        self.wait_seconds = (window + 1) * window_seconds - now
        return False

    def wait(self):
        return self.wait_seconds


class EstimateThrottle(FixedWindowThrottle):
    scope = "estimates"
    rate_setting = "ESTIMATE_THROTTLE_RATE"


class SignInNonceThrottle(FixedWindowThrottle):
    scope = "sign_in_nonce"
    rate_setting = "SIWE_THROTTLE_RATE"


class SignInThrottle(FixedWindowThrottle):
    scope = "sign_in"
    rate_setting = "SIWE_THROTTLE_RATE"
