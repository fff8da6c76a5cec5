"""Signed completion webhooks over httpx, with the address policy of ``cropedly_core.webhooks``.

Each attempt resolves the host again, checks every address (a DNS answer that
turned private since the job was submitted is refused), then connects to the
address it checked: the URL's host goes in ``Host`` and, for https, in the TLS
server name, so certificates are verified against the name as usual. No
redirects, no proxies from the environment, short timeouts, a bounded number of
attempts with exponential backoff.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Iterable

import httpx

from cropedly_core.errors import InvalidInput
from cropedly_core.webhooks import SIGNATURE_HEADER, checked_addresses, signature

log = logging.getLogger("cropedly.webhooks")


def resolve(host: str, port: int) -> Iterable[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


class HttpxWebhooks:
    """``WebhookSender``: POSTs a signed JSON body, retried with backoff."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        attempts: int = 5,
        first_delay: float = 2.0,
        timeout: float = 5.0,
    ) -> None:
        self.allow_private = allow_private
        self.attempts = attempts
        self.first_delay = first_delay
        self.timeout = timeout

    def check(self, url: str) -> None:
        """``InvalidInput`` naming ``callbackUrl`` unless a delivery could go there now."""
        checked_addresses(url, resolve, allow_private=self.allow_private)

    async def deliver(self, url: str, secret: str, body: bytes) -> bool:
        """True once the receiver answered 2xx; False after the last attempt failed."""
        delay = self.first_delay
        for attempt in range(1, self.attempts + 1):
            try:
                status = await self._attempt(url, secret, body)
            except InvalidInput as exc:
                log.warning("webhook not sent (attempt %d): %s", attempt, exc.detail)
            except httpx.HTTPError as exc:
                log.warning("webhook attempt %d failed: %s", attempt, type(exc).__name__)
            else:
                if 200 <= status < 300:
                    return True
                log.warning("webhook attempt %d answered %d", attempt, status)
            if attempt < self.attempts:
                await asyncio.sleep(delay)
                delay *= 2
        log.warning("webhook given up after %d attempts", self.attempts)
        return False

    async def _attempt(self, url: str, secret: str, body: bytes) -> int:
        parts, addresses = await asyncio.to_thread(
            checked_addresses, url, resolve, allow_private=self.allow_private
        )
        host = parts.hostname or ""
        address = addresses[0]
        literal = (
            f"[{address}]" if ipaddress.ip_address(address.split("%")[0]).version == 6 else address
        )
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        target = parts._replace(netloc=netloc).geturl()
        headers = {
            "Host": parts.netloc.rsplit("@", 1)[-1],
            "Content-Type": "application/json",
            "User-Agent": "cropedly-webhooks",
            SIGNATURE_HEADER: signature(secret, int(time.time()), body),
        }
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        async with httpx.AsyncClient(
            follow_redirects=False, trust_env=False, timeout=self.timeout
        ) as client:
            response = await client.post(
                target, content=body, headers=headers, extensions=extensions
            )
        return response.status_code
