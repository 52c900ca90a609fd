"""Account addresses: EVM addresses compared case-insensitively and stored checksummed."""
import re

from eth_utils import is_hex_address, to_checksum_address

_EVM = re.compile(r"^0x[0-9a-fA-F]{40}$")
# Other chains' addresses (Solana base58, Substrate SS58, Tezos…) are kept as given.
_OTHER = re.compile(r"^[0-9A-Za-z:_\-.]{20,128}$")


class InvalidAddress(ValueError):
    pass


def normalize_address(address: str) -> str:
    """The stored form of an address; raises InvalidAddress for anything that is not one."""
    if not isinstance(address, str):
        raise InvalidAddress("An address must be a string.")
    candidate = address.strip()
    if _EVM.match(candidate) and is_hex_address(candidate):
        return to_checksum_address(candidate.lower())
    if candidate.lower().startswith("0x"):
        raise InvalidAddress(f"{address!r} is not a valid EVM address (0x and 40 hex digits).")
    if _OTHER.match(candidate):
        return candidate
    raise InvalidAddress(f"{address!r} is not a valid address.")


def address_input(value, *, field: str = "address") -> str:
    """An address given by a caller, normalised; a clear 422 (InvalidInput) when it is not one."""
    from .errors import InvalidInput

    try:
        return normalize_address(value)
    except InvalidAddress as exc:
        raise InvalidInput(str(exc), field=field) from exc
