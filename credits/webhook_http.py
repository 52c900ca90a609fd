"""The HTTP side of webhooks: where a URL may point (server-side request forgery: private,
loopback, link-local and other non-public addresses are refused unless
`WEBHOOKS_ALLOW_PRIVATE_TARGETS`), and one POST to it, connected to an address checked the same
moment (so a name cannot resolve to a public address when checked and a private one when sent),
without following redirects, within a time-out, reading at most a bounded part of the answer.
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

USER_AGENT = "credits-webhooks/1"


class TargetRefused(ValueError):
    """The URL may not be called: not http(s), no host, or an address that is not public."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with its query
    address: str  # the checked IP address to connect to


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    excerpt: str  # the start of the body, at most WEBHOOK_RESPONSE_MAX_BYTES bytes, decoded
    latency_ms: int


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def target_resolve(url: str, *, allow_private: bool | None = None) -> Target:
    """Where `url` leads: its parts and the address to connect to. Every address the host
    resolves to must be public (unless private targets are allowed); TargetRefused otherwise."""
    if allow_private is None:
        allow_private = settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"Not a URL: {exc}.") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("Only http and https URLs are allowed.")
    host = parts.hostname
    if not host:
        raise TargetRefused("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("The URL may not carry credentials (user:password@).")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(f"The host {host} does not resolve ({exc}).") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not allow_private and not _public(address):
            raise TargetRefused(
                f"The host {host} resolves to {address}, which is not a public address "
                f"(loopback, private, link-local or reserved targets are refused).")
        addresses.append(str(address))
    if not addresses:
        raise TargetRefused(f"The host {host} does not resolve.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=parts.scheme, host=host, port=port, path=path, address=addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout,
                         context=ssl.create_default_context())
        self._address = target.address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to `url`. Raises TargetRefused, or OSError (http.client's errors, time-outs)
    when no answer came within WEBHOOK_TIMEOUT_SECONDS. Redirects are answers, not followed."""
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    max_bytes = settings.WEBHOOK_RESPONSE_MAX_BYTES
    target = target_resolve(url)
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" \
        else _PinnedHTTPConnection
    started = time.monotonic()
    deadline = started + timeout
    connection = connection_class(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
        response = connection.getresponse()
        chunks, read = [], 0
        while read < max_bytes:  # bounded, also for a server that drips its answer
            if time.monotonic() > deadline:
                raise TimeoutError(f"no complete answer within {timeout} s")
            chunk = response.read1(min(8192, max_bytes - read))
            if not chunk:
                break
            chunks.append(chunk)
            read += len(chunk)
        latency_ms = int((time.monotonic() - started) * 1000)
        return Answer(status_code=response.status,
                      excerpt=b"".join(chunks).decode("utf-8", errors="replace"),
                      latency_ms=latency_ms)
    except http.client.HTTPException as exc:
        raise OSError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        connection.close()
