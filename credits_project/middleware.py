"""Request checks that come before any view: text PostgreSQL cannot hold, in a path or a query
string, is refused with a 400 (a NUL in a filter or an admin search would otherwise reach a
query and fail there with a 500)."""
from django.http import HttpResponseBadRequest, JsonResponse

from .api import error_body
from .text import is_unstorable


class RefuseUnstorableTextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_unstorable(request.path) or any(
                is_unstorable(key) or any(is_unstorable(value) for value in values)
                for key, values in request.GET.lists()):
            message = ("The address or query string holds text that cannot be stored (a NUL "
                       "character or a lone UTF-16 surrogate).")
            if request.path.startswith("/api/"):
                return JsonResponse(error_body("malformed_request", message), status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
