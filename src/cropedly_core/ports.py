"""Ports: what the core needs from the outside world, named for the need.

Each is a small ``typing.Protocol``; ``cropedly_adapters.memory`` has an in-memory
implementation of every one, and a real adapter sits beside it in ``adapters``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from cropedly_core.tokens import Claims, TokenGrant
from cropedly_core.users import User


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> str:
        """A fresh identifier with at least 122 random bits, URL-safe."""
        ...


class UserRepository(Protocol):
    """Stores accounts; e-mails are unique (the core normalises them first)."""

    def add(self, user: User) -> None:
        """Store a new user; raises ``EmailTaken`` when the e-mail exists."""
        ...

    def get(self, user_id: str) -> User | None: ...

    def get_by_email(self, email: str) -> User | None: ...

    def update(self, user: User) -> None:
        """Replace the stored user with the same id; raises ``UserNotFound``."""
        ...

    def with_origin(self, origin: str) -> list[User]:
        """The users that registered exactly this (normalised) browser origin."""
        ...

    def list(self) -> list[User]:
        """All users, oldest first."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool:
        """True when the password matches; never raises for a wrong password."""
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than today's."""
        ...


class TokenIssuer(Protocol):
    def issue(self, user: User, now: datetime) -> TokenGrant: ...


class TokenVerifier(Protocol):
    def verify(self, token: str, now: datetime) -> Claims:
        """Check signature, algorithm, expiry, issuer and audience; raise ``InvalidToken``."""
        ...


class BlobStore(Protocol):
    """Stores bytes under keys; a write is atomic (never half-visible)."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes:
        """The stored bytes; raises ``NotFound``."""
        ...

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` inclusive; raises ``NotFound``."""
        ...

    def size(self, key: str) -> int:
        """Length in bytes; raises ``NotFound``."""
        ...

    def delete(self, key: str) -> None:
        """Remove the key; a missing key is not an error."""
        ...

    def delete_many(self, keys: Iterable[str]) -> None: ...

    def keys(self, prefix: str = "") -> Sequence[str]: ...

    def keys_older_than(self, prefix: str, before: datetime) -> Sequence[str]:
        """Complete blobs under ``prefix`` last written before ``before`` (crash recovery)."""
        ...

    def remove_unfinished(self, before: datetime) -> int:
        """Remove writes begun before ``before`` that never completed; how many went.

        A store whose writes are atomic without temporary objects removes none.
        """
        ...
