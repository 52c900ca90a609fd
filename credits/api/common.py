"""What the credits API views share: the address path parameter and how times are written."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

ADDRESS_PARAMETER = OpenApiParameter(
    "address", OpenApiTypes.STR, OpenApiParameter.PATH,
    pattern=r"^[0-9A-Za-z:_\-.]{1,128}$",
    description="An account address: EVM, 0x and 40 hex digits in any case; another chain's, "
                "20 to 128 ASCII letters and digits where `:`, `_`, `-` or `.` only stand "
                "between two of them (422 otherwise).")


def iso_or_none(value):
    """A datetime as ISO 8601, or None."""
    return None if value is None else value.isoformat()
