"""Completion webhooks: which callback URLs are allowed, and how a delivery is signed.

A callback URL is fetched by the server, so it must not become a way into the
server's own network (SSRF): only http(s), a bounded length, no credentials in it,
and every address its host resolves to must be a public one unless the operator
allows private ones. The addresses are checked when the job is submitted (a 422
naming ``callbackUrl``) and again right before each delivery, whose connection goes
to the address just checked (a DNS answer that changes in between is no way round).

The signature is ``Cropedly-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`` over
``<t>.<body>``, with a secret of the account (``account_secret``): a receiver
recomputes it, compares in constant time and refuses old timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable, Iterable
from typing import Protocol
from urllib.parse import SplitResult, urlsplit

from cropedly_core.errors import InvalidInput

MAX_URL_LENGTH = 2048
SIGNATURE_HEADER = "Cropedly-Signature"
FIELD = "callbackUrl"

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Iterable[str]]
"""Host and port to the IP addresses (text) a connection could go to."""


class WebhookSender(Protocol):
    """Delivers completion webhooks to the URLs the policy allows."""

    def check(self, url: str) -> None:
        """``InvalidInput`` naming ``callbackUrl`` unless a delivery could go there (resolves)."""
        ...

    async def deliver(self, url: str, secret: str, body: bytes) -> bool:
        """POST ``body`` signed with ``secret``, retrying; True once it was accepted."""
        ...


def parse_callback_url(url: str) -> SplitResult:
    """The URL split, or ``InvalidInput`` naming ``callbackUrl`` (syntax only, no DNS)."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"callbackUrl is longer than {MAX_URL_LENGTH} characters.", FIELD)
    if not url.isascii() or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise InvalidInput("callbackUrl must be an ASCII URL without spaces.", FIELD)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput("callbackUrl is not a valid URL.", FIELD) from None
    if parts.scheme not in {"http", "https"}:
        raise InvalidInput("callbackUrl must be an http or https URL.", FIELD)
    if not parts.hostname:
        raise InvalidInput("callbackUrl has no host.", FIELD)
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("callbackUrl must not carry credentials.", FIELD)
    if port == 0:
        raise InvalidInput("callbackUrl has no valid port.", FIELD)
    return parts


def default_port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def refusal(address: str) -> str | None:
    """Why a webhook may not go to this address, or None for a public one."""
    ip: IpAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:127.0.0.1 and 64:ff9b::7f00:1 reach IPv4 hosts: judge those.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            ip = embedded
    checks = (
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_unspecified, "unspecified"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        # The rest that is not globally routed: shared (100.64/10), documentation, ...
        (not ip.is_global, "not public"),
    )
    return next((why for hit, why in checks if hit), None)


def checked_addresses(
    url: str, resolve: Resolver, *, allow_private: bool = False
) -> tuple[SplitResult, list[str]]:
    """The URL's parts and the addresses a delivery may connect to.

    Raises ``InvalidInput`` (``callbackUrl``) when the host does not resolve or when
    any of its addresses is not public (unless ``allow_private``): one bad address
    among good ones is refused too, or the connection could pick it.
    """
    parts = parse_callback_url(url)
    host = parts.hostname or ""
    try:
        addresses = list(dict.fromkeys(resolve(host, default_port(parts))))
    except OSError:
        addresses = []
    if not addresses:
        raise InvalidInput("callbackUrl's host does not resolve.", FIELD)
    if not allow_private:
        for address in addresses:
            why = refusal(address)
            if why is not None:
                raise InvalidInput(
                    f"callbackUrl resolves to a {why} address; webhooks go to public "
                    "addresses only.",
                    FIELD,
                )
    return parts, addresses


def account_secret(server_key: bytes, account_id: str) -> str:
    """The account's webhook signing secret: derived, so it needs no storage.

    Per account, not one per server: with a shared secret any customer could forge
    deliveries to another's receiver. Rotating the server key rotates them all.
    """
    return hmac.new(server_key, f"webhook-v1:{account_id}".encode(), hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Cropedly-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (and our tests): the right MAC, at most ``tolerance`` s old."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, timestamp, body)
    return abs(now - timestamp) <= tolerance and hmac.compare_digest(
        expected, f"t={fields['t']},v1={fields.get('v1', '')}"
    )
