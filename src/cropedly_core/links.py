"""Signed, expiring links to stored bytes (results and catalog images).

A link carries its expiry and an HMAC-SHA256 over (kind, id, expiry); the
server keeps no state per link, and a link cannot be moved to another id or
stretched in time without the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

import attrs

from cropedly_core.errors import LinkInvalid


@attrs.frozen
class LinkSigner:
    """Signs and checks links; every secret must be at least 32 random bytes.

    ``secret`` signs; links signed with one of ``previous`` still check, so the
    secret can be rotated without breaking links handed out before (operators
    keep a previous secret for as long as a link lives).
    """

    secret: bytes = attrs.field(repr=False)
    previous: tuple[bytes, ...] = attrs.field(default=(), repr=False)

    def __attrs_post_init__(self) -> None:
        if any(len(s) < 32 for s in (self.secret, *self.previous)):
            raise ValueError("the link secret must have at least 32 bytes")

    def sign(self, kind: str, resource_id: str, expires: datetime) -> tuple[int, str]:
        """``(expires as Unix seconds, signature)`` for the query string."""
        stamp = int(expires.timestamp())
        return stamp, self._mac(kind, resource_id, stamp)

    def check(
        self, kind: str, resource_id: str, expires: str, signature: str, now: datetime
    ) -> int:
        """Raise ``LinkInvalid`` unless the signature matches and has not expired."""
        try:
            stamp = int(expires)
        except ValueError:
            raise LinkInvalid("The link's expiry is malformed.") from None
        given = signature.encode("utf-8", "surrogatepass")
        # Every secret is tried (no early exit), so the time taken tells nothing either.
        matches = [
            hmac.compare_digest(self._mac(kind, resource_id, stamp, secret).encode(), given)
            for secret in (self.secret, *self.previous)
        ]
        if not any(matches):
            raise LinkInvalid("The link's signature is not valid.")
        if stamp <= now.timestamp():
            raise LinkInvalid("The link has expired; ask the API for a fresh one.")
        return stamp

    def _mac(self, kind: str, resource_id: str, stamp: int, secret: bytes | None = None) -> str:
        # surrogatepass: any str an id can be (even a lone surrogate) signs, never raises.
        message = f"{kind}\n{resource_id}\n{stamp}".encode("utf-8", "surrogatepass")
        digest = hmac.new(secret or self.secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
