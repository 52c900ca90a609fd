"""Checks on a request before any view sees it, each answered in the API's error shape:
- text PostgreSQL cannot hold in a path or query string (a NUL in a filter or an admin search
  would reach a query and fail there with a 500) is a 400;
- a body sent with a Transfer-Encoding (chunked) is a 411: Django reads bodies by their
  Content-Length only, so the view would see an empty body and answer as if nothing was sent.
"""
from django.http import HttpResponse, JsonResponse

from .api import error_body
from .text import is_unstorable


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_unstorable(request.path) or any(
                is_unstorable(key) or any(is_unstorable(value) for value in values)
                for key, values in request.GET.lists()):
            return _refuse(request, 400, "malformed_request",
                           "The address or query string holds text that cannot be stored (a "
                           "NUL character or a lone UTF-16 surrogate).")
        if request.META.get("HTTP_TRANSFER_ENCODING"):
            return _refuse(request, 411, "length_required",
                           "Send the body with a Content-Length: chunked (or any other) "
                           "transfer encoding is not accepted.")
        return self.get_response(request)


def _refuse(request, status: int, code: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(code, message), status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
