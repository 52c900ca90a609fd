"""Pricing endpoints of the v1 API (the estimates, v1 and v0, are in credits.urls)."""
from django.urls import path

from . import api

v1_patterns = [
    path("health", api.HealthView.as_view(), name="health"),
    path("pricing", api.PricingView.as_view(), name="pricing"),
]
