"""What every endpoint shares: the one error shape, a JSON parser that refuses hostile bodies,
and JSON answers for the errors Django answers itself under /api/ (unknown paths, 500s).

Errors always look like `{"error": {"code": "...", "message": "...", "details": {...}}}`.
"""

import json
import logging
from decimal import Decimal
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError
from .text import unstorable_text_path

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An error with a machine code, a human message and details, in the shared error shape."""

    def __init__(self, *, status_code: int, code: str, message: str, details: dict | None = None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.details = details or {}


class RequestTooLarge(ApiError):
    def __init__(self, limit_bytes: int):
        super().__init__(
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            code="request_too_large",
            message=f"The request body is larger than {limit_bytes} bytes.",
            details={"limit_bytes": limit_bytes},
        )


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def json_depth_exceeds(value, limit: int) -> bool:
    """Iterative depth check: a recursive one would itself be the attack surface."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values()
                         if isinstance(child, (dict, list)))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))
    return False


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a valid JSON number")


class BoundedJSONParser(JSONParser):
    """JSON with exact decimals, a size limit, a depth limit and clear 4xx errors."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        if request is not None:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            if declared > limit:
                raise RequestTooLarge(limit)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(limit)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise exceptions.ParseError(f"The body is not UTF-8: {exc.reason}.") from exc
        try:
            data = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
        except RecursionError as exc:
            raise exceptions.ParseError("The JSON body is nested too deeply.") from exc
        except ValueError as exc:
            raise exceptions.ParseError(f"The body is not valid JSON: {exc}.") from exc
        # A body with fewer brackets than the limit cannot nest deeper: skip the walk (C-speed
        # counts on the hot path instead of a Python loop over every node).
        brackets = raw.count(b"{") + raw.count(b"[")
        if brackets > settings.API_MAX_JSON_DEPTH \
                and json_depth_exceeds(data, settings.API_MAX_JSON_DEPTH):
            raise exceptions.ParseError(
                f"The JSON body is nested more than {settings.API_MAX_JSON_DEPTH} levels deep."
            )
        # Raw NULs and surrogates cannot get past json.loads and UTF-8 decoding: only an escape
        # (\u0000, \ud800) can make them, so bodies without one skip the walk.
        if "\\u" in text:
            refuse_unstorable_text(data, where="The JSON body")
        return data


def refuse_unstorable_text(data, *, where: str, status_code: int = status.HTTP_400_BAD_REQUEST,
                           code: str = "malformed_request") -> None:
    """An error in the shared shape (a 400 unless told) when `data` holds a string PostgreSQL
    cannot store, naming its place."""
    path = unstorable_text_path(data)
    if path is not None:
        raise ApiError(status_code=status_code, code=code,
                       message=f"{where} holds text that cannot be stored (a NUL character or "
                               f"a lone UTF-16 surrogate) at {path}.", details={"path": path})


class ExactContentNegotiation(DefaultContentNegotiation):
    """A body is parsed only when its Content-Type names a parser's type exactly (parameters
    such as charset aside). DRF's default matches wildcards too, so `*/*`, `application/*` and
    `*/json` were parsed as JSON, which no schema or client expects."""

    def select_parser(self, request, parsers):
        content_type = request.content_type or ""
        if len(content_type) > self.max_media_type_length:
            return None
        wanted = content_type.split(";", 1)[0].strip().lower()
        return next((parser for parser in parsers if parser.media_type == wanted), None)


_DRF_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid_request",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def exception_handler(exc, context):
    """DRF exception handler that answers in the shared error shape."""
    if isinstance(exc, RequestDataTooBig):  # raised by Django when DRF reads request.body
        exc = RequestTooLarge(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    # Django's own exceptions (a `?format=` no renderer serves raises Http404), as DRF's
    # handler would convert them, so they get the shape and a detail like the others.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, ApiError):
        return Response(error_body(exc.error_code, exc.message, exc.details),
                        status=exc.status_code)
    if isinstance(exc, DomainError):
        headers = {"WWW-Authenticate": exc.www_authenticate} if exc.www_authenticate else None
        return Response({"error": exc.error_fields()}, status=exc.status_code, headers=headers)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API exception: Django's 500 handling (and handler500) takes over
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    details: dict = {}
    if isinstance(exc, exceptions.ValidationError):
        message = "The request is not valid; see details."
        details = {"fields": exc.detail} if isinstance(exc.detail, dict) else {"errors": exc.detail}
    elif isinstance(exc, exceptions.Throttled):
        message = "Too many requests; retry later."
        if exc.wait is not None:
            details = {"retry_after_seconds": int(exc.wait)}
    else:
        message = str(exc.detail)
    response.data = error_body(code, message, details)
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def error_page_body(request, status_code: int) -> dict:
    """The error shape of an answer Django makes itself, not a view of the API: a path nothing
    serves, a method a plain Django view refuses, a failure outside any handler."""
    if status_code == 404:
        return error_body("not_found", f"Nothing at {request.path}.")
    if status_code == 405:
        return error_body("method_not_allowed", f'Method "{request.method}" not allowed.')
    if status_code == 400:
        return error_body("bad_request", "The request is malformed.")
    if status_code == 403:
        return error_body("permission_denied",
                          "You do not have permission to perform this action.")
    if status_code >= 500:
        return error_body("server_error", "An unexpected error happened.")
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        phrase = "Error"
    return error_body("error", f"{phrase}.")


def _is_json(response) -> bool:
    return response.get("Content-Type", "").split(";", 1)[0].strip() == "application/json"


class ApiErrorPagesMiddleware:
    """Under /api/, an error Django answers with a page (HTML or text) is answered in the error
    shape instead, with the same status and headers; elsewhere Django's pages stay. An answer
    marked `network_answer` (the network-compatible v0 views' plain-text errors, written as the
    network's node writes them for its clients) is left as it is.

    Django answers with handler404/handler500 below only with DEBUG off: with DEBUG on it sends
    its technical 404 and 500 pages (an unknown path, a view that failed), which no API client
    can read. Django has logged the failure and sent its signals before this sees the page.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code < 400 or not _is_api(request) or response.streaming \
                or _is_json(response) or getattr(response, "network_answer", False):
            return response
        shaped = JsonResponse(error_page_body(request, response.status_code),
                              status=response.status_code)
        for header, value in response.items():  # Allow of a 405, Vary, security headers
            if header.lower() not in ("content-type", "content-length"):
                shaped[header] = value
        shaped.cookies = response.cookies
        return shaped


# Django's error handlers (credits_project.urls), used with DEBUG off.

def not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_page_body(request, 404), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse(error_page_body(request, 500), status=500)
    return defaults.server_error(request)


def bad_request(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_page_body(request, 400), status=400)
    return defaults.bad_request(request, exception)
