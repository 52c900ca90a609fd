"""Pricing endpoints of the v1 API and the network-compatible v0 estimate."""
from django.urls import path

from . import api

v1_patterns = [
    path("health", api.HealthView.as_view(), name="health"),
    path("pricing", api.PricingView.as_view(), name="pricing"),
    path("estimates", api.EstimateView.as_view(), name="estimates"),
]

v0_patterns = [
    path("price/estimate", api.NetworkEstimateView.as_view(), name="v0-price-estimate"),
]
