"""What the credits API views share: the address path parameter, how times are written, and who
may read an account (anyone, or with CREDITS_PUBLIC_ACCOUNT_READS off, its owner, a service or
operator key, or staff)."""
from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions
from rest_framework.views import APIView

from pricing.serializers import ErrorSerializer

from ..addresses import ADDRESS_SCHEMA, InvalidAddress, normalize_address
from ..auth import AnyCaller, OperatorKeyOrStaff, credential_of, owner_account_of

ADDRESS_PARAMETER = OpenApiParameter(
    "address", ADDRESS_SCHEMA, OpenApiParameter.PATH,
    description="An account address: EVM, 0x and 40 hex digits in any case; another chain's, "
                "20 to 128 ASCII letters and digits where `:`, `_`, `-` or `.` only stand "
                "between two of them (422 otherwise).")


def iso_or_none(value):
    """A datetime as ISO 8601, or None."""
    return None if value is None else value.isoformat()


# --- account reads -------------------------------------------------------------------------------

ACCOUNT_READ_WHO = (
    "**Who:** anyone, as on the network's nodes. With `CREDITS_PUBLIC_ACCOUNT_READS` off (a "
    "private deployment): the account's owner key or owner token, a service or operator key, "
    "or a staff session allowed to view this data in the admin.")
ACCOUNT_READ_ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="No API key or token, or an unknown, "
                         "revoked or expired one (a dead one always; none only with account "
                         "reads private)."),
    403: OpenApiResponse(ErrorSerializer, description="Account reads private: an owner key or "
                         "token of another account, or a staff session without permission."),
}


class AccountReader(OperatorKeyOrStaff):
    """Account reads when they are private: any API key or owner token (an owner then reads only
    its own account: `require_account_reader`), or a staff session that may view the view's
    `staff_model` in the admin."""

    message = ("Account reads are private here: send the owner's API key or token, a service or "
               "an operator API key.")

    def has_permission(self, request, view):
        return credential_of(request) is not None or super().has_permission(request, view)


class AccountReadView(APIView):
    """Base of the views that read an account: their `permission_classes` (AccountReader) apply
    while account reads are private, CREDITS_PUBLIC_ACCOUNT_READS off (read on each request);
    while they are public, anyone may call them."""

    def get_permissions(self):
        if settings.CREDITS_PUBLIC_ACCOUNT_READS:
            return [AnyCaller()]
        return super().get_permissions()


def require_account_reader(request, address: str | None) -> None:
    """With account reads private, refuse (403) an owner key or token reading another account
    than its own (`address` None: no account named, so all of them). Service and operator keys
    and staff read any account; with account reads public, anyone does."""
    if settings.CREDITS_PUBLIC_ACCOUNT_READS:
        return
    own_account = owner_account_of(request)
    if own_account is None:  # not an owner: a service or operator key, or staff
        return
    own = own_account.address
    try:
        wanted = None if address is None else normalize_address(address)
    except InvalidAddress:
        wanted = address
    if wanted != own:
        raise exceptions.PermissionDenied(
            "Account reads are private here: an owner key reads only its own account"
            + ("." if address is not None else "; name it (address=…)."))


class NetworkTextResponse(HttpResponse):
    """A plain-text answer as the network's node writes its refusals (the v0 API). Its
    `network_answer` tells the API's error-pages middleware (credits_project.api
    .ApiErrorPagesMiddleware) to leave it as it is: the network's clients read the node's own
    bodies, not this service's error shape."""

    network_answer = True

    def __init__(self, text: str, *, status: int):
        super().__init__(text, status=status, content_type="text/plain; charset=utf-8")


# --- documentation and plumbing shared by the views ---------------------------------------------

def error_doc(description: str) -> OpenApiResponse:
    """An error answer in the API's JSON error shape, for `extend_schema`'s responses."""
    return OpenApiResponse(ErrorSerializer, description=description)


BAD_BODY_ERRORS = {
    400: error_doc("Malformed body (not JSON, wrong types, missing fields)."),
    413: error_doc("Body too large."),
    415: error_doc("Body is not application/json."),
}


def text_doc(description: str) -> OpenApiResponse:
    """A plain-text answer (the network's node's refusals on v0), for `extend_schema`."""
    return OpenApiResponse(OpenApiTypes.STR, description=description)


NETWORK_NOTE = ("The network's own answer, so its clients (aleph-sdk-python, its CLI and "
                "explorer) work unchanged; its errors are its plain-text bodies.")


def query_first_values(query_params) -> dict[str, str]:
    """Each query parameter's first value, as the network's query models read its MultiDict."""
    return {key: values[0] for key, values in query_params.lists() if values}
