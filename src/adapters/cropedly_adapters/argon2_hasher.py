"""Argon2id password hashing with bounded concurrency."""

from __future__ import annotations

import os
import threading

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane. The library default
# (64 MiB, 3 passes, 4 lanes) costs over 200 ms a hash on a small server.
OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2
OWASP_PARALLELISM = 1


class Argon2PasswordHasher:
    """argon2id; at most ``max_concurrent`` hashes run at once.

    Each hash takes ``memory_kib`` of RAM and a core for ~35 ms, so an unbounded
    burst of logins could exhaust both; callers past the bound wait their turn.
    """

    def __init__(
        self,
        memory_kib: int = OWASP_MEMORY_KIB,
        time_cost: int = OWASP_TIME_COST,
        parallelism: int = OWASP_PARALLELISM,
        max_concurrent: int | None = None,
    ) -> None:
        if memory_kib < OWASP_MEMORY_KIB or time_cost < OWASP_TIME_COST:
            raise ValueError("argon2 parameters below the OWASP minimum (19 MiB, t=2)")
        self._hasher = _Argon2(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        limit = max_concurrent or max(1, os.cpu_count() or 1)
        self._slots = threading.BoundedSemaphore(limit)

    def hash(self, password: str) -> str:
        with self._slots:
            return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        with self._slots:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
