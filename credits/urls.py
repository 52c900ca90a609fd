"""Credits endpoints of the v1 API, and the network-compatible v0 API. Each view states who
may call it (see credits.auth)."""
from django.urls import path, re_path

from .api import (
    api_keys,
    estimates,
    events,
    ledger,
    lifecycle,
    network_accounts,
    network_messages,
    resources,
    sign_in,
)

ADDRESS = r"(?P<address>[0-9A-Za-z:_\-.]{1,128})"

urlpatterns = [
    path("estimates", estimates.EstimateView.as_view(), name="estimates"),
    path("resources", resources.ResourceCreateView.as_view(), name="resources"),
    re_path(r"^resources/(?P<item_hash>[0-9A-Za-z]{1,128})$",
            resources.ResourceDetailView.as_view(), name="resource-detail"),
    re_path(r"^resources/(?P<item_hash>[0-9A-Za-z]{1,128})/usage$",
            resources.ResourceUsageView.as_view(), name="resource-usage"),
    re_path(rf"^accounts/{ADDRESS}/balance$", ledger.BalanceView.as_view(),
            name="account-balance"),
    re_path(rf"^accounts/{ADDRESS}/credit-history$", ledger.CreditHistoryView.as_view(),
            name="account-credit-history"),
    re_path(rf"^accounts/{ADDRESS}/affordability$", resources.AffordabilityView.as_view(),
            name="account-affordability"),
    re_path(rf"^accounts/{ADDRESS}/token-balances/(?P<chain>[0-9A-Za-z_\-]{{1,32}})$",
            resources.TokenBalanceView.as_view(), name="account-token-balance"),
    path("costs", resources.CostsView.as_view(), name="costs"),
    path("credits/grants", ledger.GrantView.as_view(), name="credit-grants"),
    path("credits/expenses", ledger.ExpenseView.as_view(), name="credit-expenses"),
    path("credits/transfers", ledger.TransferView.as_view(), name="credit-transfers"),
    path("pending-deletions", lifecycle.PendingDeletionsView.as_view(),
         name="pending-deletions"),
    path("lifecycle-runs", lifecycle.LifecycleRunsView.as_view(), name="lifecycle-runs"),
    path("auth/nonce", sign_in.SignInNonceView.as_view(), name="auth-nonce"),
    path("auth/siwe", sign_in.SignInView.as_view(), name="auth-siwe"),
    path("auth/logout", sign_in.SignOutView.as_view(), name="auth-logout"),
    path("api-keys", api_keys.ApiKeysView.as_view(), name="api-keys"),
    re_path(r"^api-keys/(?P<prefix>[0-9A-Za-z]{1,8})$", api_keys.ApiKeyDetailView.as_view(),
            name="api-key-detail"),
    path("events", events.EventFeedView.as_view(), name="events"),
    path("webhooks", events.WebhookListView.as_view(), name="webhooks"),
    path("webhooks/<uuid:webhook_id>", events.WebhookDetailView.as_view(),
         name="webhook-detail"),
]

v0_patterns = [
    *estimates.v0_urls,
    *network_accounts.v0_urls,
    *network_messages.v0_urls,
]
