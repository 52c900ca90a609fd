"""URLs: the admin, the REST API (v1 and the network-compatible v0) and its schema and docs."""
from django.contrib import admin
from django.urls import include, path
from django.views import View
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from credits import urls as credits_urls
from pricing import urls as pricing_urls


class PublicDocumentMixin:
    """The schema and its Swagger page: public, OPTIONS answered as Django's own pages answer it,
    errors in the API's JSON shape.

    DRF answers OPTIONS with its metadata through the view's renderer: the Swagger page's template
    renderer filled its HTML template with that metadata and failed (a 500), and the schema view
    sent YAML metadata labelled as an OpenAPI document. Neither page has metadata worth sending.
    """

    # They read no credentials, so a dead key cannot make them fail.
    authentication_classes = []

    def options(self, request, *args, **kwargs):
        return View.options(self, request, *args, **kwargs)  # 200, Allow, no body

    def perform_content_negotiation(self, request, force=False):
        # An answer without a body suits any Accept header: no 406 for OPTIONS.
        return super().perform_content_negotiation(
            request, force=force or request.method == "OPTIONS")

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Their renderers make HTML or OpenAPI documents; an error is neither.
        if isinstance(response, Response) and response.exception:
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response


class SchemaView(PublicDocumentMixin, SpectacularAPIView):
    pass


class SwaggerView(PublicDocumentMixin, SpectacularSwaggerView):
    pass


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(pricing_urls.v1_patterns)),
    path("api/v1/", include(credits_urls)),
    path("api/v0/", include(credits_urls.v0_patterns)),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SwaggerView.as_view(url_name="schema"), name="api-docs"),
]

# Used by Django with DEBUG off only: with DEBUG on it answers its technical pages, which
# credits_project.api.ApiErrorPagesMiddleware puts in the error shape under /api/.
handler400 = "credits_project.api.bad_request"
handler404 = "credits_project.api.not_found"
handler500 = "credits_project.api.server_error"
