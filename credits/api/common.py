"""What the credits API views share: the address path parameter and how times are written."""
from drf_spectacular.utils import OpenApiParameter

from ..addresses import ADDRESS_SCHEMA

ADDRESS_PARAMETER = OpenApiParameter(
    "address", ADDRESS_SCHEMA, OpenApiParameter.PATH,
    description="An account address: EVM, 0x and 40 hex digits in any case; another chain's, "
                "20 to 128 ASCII letters and digits where `:`, `_`, `-` or `.` only stand "
                "between two of them (422 otherwise).")


def iso_or_none(value):
    """A datetime as ISO 8601, or None."""
    return None if value is None else value.isoformat()
