"""What the credits API views share: the address path parameter and how times are written."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

ADDRESS_PARAMETER = OpenApiParameter(
    "address", OpenApiTypes.STR, OpenApiParameter.PATH,
    pattern=r"^[0-9A-Za-z:_\-.]{1,128}$",
    description="An account address (EVM addresses in any case).")


def iso_or_none(value):
    """A datetime as ISO 8601, or None."""
    return None if value is None else value.isoformat()
