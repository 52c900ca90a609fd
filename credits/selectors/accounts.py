"""Finding an account."""
from ..addresses import normalize_address
from ..models import Account


def account_by_address(*, address: str) -> Account | None:
    """The account of `address` (normalised here, in any case; InvalidAddress if it is not an
    address), None if it has never been seen."""
    return Account.objects.filter(address=normalize_address(address)).first()
