"""The real clock and id generator."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    """128 random bits from the OS CSPRNG, URL-safe base64 (22 characters)."""

    def new_id(self) -> str:
        return secrets.token_urlsafe(16)
