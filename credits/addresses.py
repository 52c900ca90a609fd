"""Account addresses: EVM addresses compared case-insensitively and stored checksummed; other
chains' addresses kept as given, if they have the shape every one of them has."""
import re

from eth_utils import to_checksum_address

MAX_ADDRESS_LENGTH = 128  # Account.address
_EVM = re.compile(r"0x[0-9a-fA-F]{40}")
# The network's other chains write addresses as letters and digits: base58 (SOL, DOT, TEZOS, NEO,
# NULS), bech32 (CSDK), some with one separator between two runs of them (AVAX X-chain
# `X-avax1…`, Everscale `0:<64 hex>`). So: ASCII letters and digits, where `:`, `_`, `-` or `.`
# may only stand alone between two of them (never first, last or doubled), with at least
# MIN_OTHER_ALPHANUMERICS letters and digits; the shortest of these formats has 32.
_OTHER = re.compile(r"[0-9A-Za-z]+(?:[:_.\-][0-9A-Za-z]+)*")
MIN_OTHER_ALPHANUMERICS = 20
# For the OpenAPI schema: every address the server takes matches it (the server alone counts
# the letters and digits, and keeps `0x` for EVM addresses).
ADDRESS_PATTERN = rf"^(?:{_EVM.pattern}|{_OTHER.pattern})$"
ADDRESS_SCHEMA = {"type": "string", "pattern": ADDRESS_PATTERN,
                  "minLength": MIN_OTHER_ALPHANUMERICS, "maxLength": MAX_ADDRESS_LENGTH}


class InvalidAddress(ValueError):
    pass


def normalize_address(address: str) -> str:
    """The stored form of an address; raises InvalidAddress for anything that is not one.

    EVM (`0x` and 40 hex digits, any case): its checksummed form. Any other chain: as given,
    when it is at most 128 characters of ASCII letters and digits with at least 20 of them,
    where `:`, `_`, `-` and `.` only ever separate two of them.
    """
    if not isinstance(address, str):
        raise InvalidAddress("An address must be a string.")
    candidate = address.strip()
    if candidate[:2].lower() == "0x":
        if not _EVM.fullmatch(candidate):
            raise InvalidAddress(f"{address!r} is not a valid EVM address (0x and 40 hex "
                                 "digits).")
        return to_checksum_address(candidate.lower())
    if (len(candidate) <= MAX_ADDRESS_LENGTH and _OTHER.fullmatch(candidate)
            and sum(char.isalnum() for char in candidate) >= MIN_OTHER_ALPHANUMERICS):
        return candidate
    raise InvalidAddress(
        f"{address!r} is not a valid address: EVM addresses are 0x and 40 hex digits; other "
        f"chains' are ASCII letters and digits (at least {MIN_OTHER_ALPHANUMERICS}, at most "
        f"{MAX_ADDRESS_LENGTH} characters), with `:`, `_`, `-` or `.` only between two of them.")


def address_input(value, *, field: str = "address") -> str:
    """An address given by a caller, normalised; a clear 422 (InvalidInput) when it is not one."""
    from .errors import InvalidInput

    try:
        return normalize_address(value)
    except InvalidAddress as exc:
        raise InvalidInput(str(exc), field=field) from exc
