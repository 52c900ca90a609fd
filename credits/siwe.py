"""Sign-In with Ethereum (EIP-4361) messages: read one, write one, and recover the address that
signed it (EIP-191 `personal_sign`, with eth-account). Pure: no database, no clock, no settings.

Only externally owned accounts sign in: a contract wallet's EIP-1271 signature is not checked
(that needs a node to call the contract), so it is refused as a signature by another address.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_checksum_address

# eth-account imports py_ecc, whose import raises the interpreter's recursion limit to 100000 for
# its BLS pairing code (never called here). With that limit a deeply nested JSON body overflows
# the C stack and kills the worker instead of raising RecursionError (a 400): put Python's
# default back. CreditsConfig.ready imports this module, so this happens once, at start-up.
PYTHON_RECURSION_LIMIT = 1000
if sys.getrecursionlimit() > PYTHON_RECURSION_LIMIT:
    sys.setrecursionlimit(PYTHON_RECURSION_LIMIT)

MAX_MESSAGE_LENGTH = 8192  # characters; a message is a few hundred
SIGNATURE_PATTERN = r"^0x[0-9a-fA-F]{130}$"  # r, s and v: 65 bytes
HEADER = " wants you to sign in with your Ethereum account:"

_DATE_TIME = (r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")
_URI = r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+"
# The grammar of EIP-4361 (its ABNF, line by line), anchored on the whole message: every field
# is read from the one place the grammar gives it, so no line can pose as another.
_MESSAGE = re.compile(
    r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://)?(?P<domain>[^\s/?#@]+)" + re.escape(HEADER)
    + r"\n(?P<address>0x[0-9a-fA-F]{40})\n"
    r"\n(?:(?P<statement>[\x20-\x7e]+)\n)?"
    r"\nURI: (?P<uri>" + _URI + r")"
    r"\nVersion: (?P<version>[^\n]*)"
    r"\nChain ID: (?P<chain_id>[0-9]{1,20})"
    r"\nNonce: (?P<nonce>[A-Za-z0-9]{8,})"
    r"\nIssued At: (?P<issued_at>" + _DATE_TIME + r")"
    r"(?:\nExpiration Time: (?P<expiration_time>" + _DATE_TIME + r"))?"
    r"(?:\nNot Before: (?P<not_before>" + _DATE_TIME + r"))?"
    r"(?:\nRequest ID: (?P<request_id>[A-Za-z0-9\-._~%!$&'()*+,;=:@]*))?"
    r"(?:\nResources:(?P<resources>(?:\n- " + _URI + r")*))?"
)


class MalformedMessage(ValueError):
    """Not an EIP-4361 message (the text says what is wrong)."""


class MalformedSignature(ValueError):
    """Not a signature any address can have made."""


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str  # EIP-55 checksummed
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    statement: str | None = None
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = ()
    scheme: str | None = None
    version: str = "1"

    def text(self) -> str:
        """The message as the wallet shows and signs it (EIP-4361's layout)."""
        lines = [f"{self.scheme}://{self.domain}{HEADER}" if self.scheme
                 else f"{self.domain}{HEADER}", self.address, ""]
        if self.statement:  # the grammar: address LF LF [ statement LF ] LF "URI: "
            lines.append(self.statement)
        lines.append("")
        lines += [f"URI: {self.uri}", f"Version: {self.version}", f"Chain ID: {self.chain_id}",
                  f"Nonce: {self.nonce}", f"Issued At: {_rfc3339(self.issued_at)}"]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {_rfc3339(self.expiration_time)}")
        if self.not_before is not None:
            lines.append(f"Not Before: {_rfc3339(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines += ["Resources:", *(f"- {resource}" for resource in self.resources)]
        return "\n".join(lines)


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _date_time(text: str | None, field: str) -> datetime | None:
    if text is None:
        return None
    normalised = text.upper().replace("Z", "+00:00")
    # Python reads at most 6 digits of a second's fraction: keep microseconds.
    normalised = re.sub(r"(\.\d{6})\d+", r"\1", normalised)
    try:
        return datetime.fromisoformat(normalised)
    except ValueError as exc:
        raise MalformedMessage(f"{field} {text!r} is not an RFC 3339 date-time.") from exc


def message_parse(text: str) -> SiweMessage:
    """The fields of an EIP-4361 message; MalformedMessage if `text` is not one, if its version
    is not 1, or if its address is not in EIP-55 checksummed form."""
    if not isinstance(text, str) or len(text) > MAX_MESSAGE_LENGTH:
        raise MalformedMessage(f"A message is a text of at most {MAX_MESSAGE_LENGTH} "
                               "characters.")
    match = _MESSAGE.fullmatch(text)
    if match is None:
        raise MalformedMessage(
            "Not an EIP-4361 message: expected the lines `<domain> wants you to sign in with your "
            "Ethereum account:`, the address, an empty line, an optional statement and an empty "
            "line, then `URI:`, `Version:`, `Chain ID:`, `Nonce:` (8 or more letters and "
            "digits), `Issued At:` and the optional `Expiration Time:`, `Not Before:`, `Request "
            "ID:` and `Resources:`, each on its own line, separated by LF only.")
    fields = match.groupdict()
    if fields["version"] != "1":
        raise MalformedMessage(f"Version {fields['version']!r} is not supported: only 1.")
    if not is_checksum_address(fields["address"]):
        raise MalformedMessage(f"The address {fields['address']} is not written in its EIP-55 "
                               "checksummed form.")
    resources = tuple(line[2:] for line in (fields["resources"] or "").split("\n") if line)
    return SiweMessage(
        domain=fields["domain"], address=fields["address"], uri=fields["uri"],
        chain_id=int(fields["chain_id"]), nonce=fields["nonce"],
        issued_at=_date_time(fields["issued_at"], "Issued At"),
        statement=fields["statement"],
        expiration_time=_date_time(fields["expiration_time"], "Expiration Time"),
        not_before=_date_time(fields["not_before"], "Not Before"),
        request_id=fields["request_id"], resources=resources, scheme=fields["scheme"],
        version=fields["version"])


def message_signer(text: str, signature: str) -> str:
    """The (checksummed) address whose key made `signature` of `text` under EIP-191 (what a
    wallet's `personal_sign` does); MalformedSignature if no key can have made it."""
    if not isinstance(signature, str) or not re.fullmatch(SIGNATURE_PATTERN, signature):
        raise MalformedSignature("A signature is 0x and 130 hex digits (r, s and v).")
    try:
        return Account.recover_message(encode_defunct(text=text), signature=signature)
    except Exception as exc:  # eth-keys' BadSignature, ValueError, ValidationError: all one
        raise MalformedSignature(f"No address can have made this signature: {exc}") from exc


def message_sign(text: str, private_key) -> str:
    """`text` signed as a wallet's `personal_sign` signs it (0x and 130 hex digits). For clients
    of our own and the tests: the service never holds a key."""
    signed = Account.sign_message(encode_defunct(text=text), private_key=private_key)
    return "0x" + bytes(signed.signature).hex().removeprefix("0x")
