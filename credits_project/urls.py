"""URLs: the admin, the REST API (v1 and the network-compatible v0) and its schema and docs."""
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from credits import urls as credits_urls
from pricing import urls as pricing_urls

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(pricing_urls.v1_patterns)),
    path("api/v1/", include(credits_urls)),
    path("api/v0/", include(pricing_urls.v0_patterns)),
    # Public documents: they read no credentials, so a dead key cannot make them fail.
    path("api/schema/", SpectacularAPIView.as_view(authentication_classes=[]), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema",
                                                     authentication_classes=[]),
         name="api-docs"),
]

handler400 = "credits_project.api.bad_request"
handler404 = "credits_project.api.not_found"
handler500 = "credits_project.api.server_error"
