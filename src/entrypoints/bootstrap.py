"""The one composition root: builds the core's use cases from adapters."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs

from adapters.argon2_hasher import Argon2PasswordHasher
from adapters.jose_tokens import JwtTokens, load_or_create_keys
from adapters.memory import (
    FastPasswordHasher,
    InMemoryTokens,
    InMemoryUserRepository,
    ManualClock,
    SeededIds,
)
from adapters.sqlite_db import Database
from adapters.sqlite_users import SqliteUserRepository
from adapters.system import RandomIds, SystemClock
from cropedly_core.accounts import Accounts
from cropedly_core.ports import Clock, IdGenerator, PasswordHasher, UserRepository
from cropedly_core.throttle import LoginThrottle, ThrottlePolicy
from entrypoints.settings import Settings

log = logging.getLogger("cropedly")


@attrs.define
class Services:
    """What the entrypoints use; built once per process.

    Attributes:
        settings: the settings the services were built from.
        accounts: account use cases.
        jwks: returns the public key set (empty for opaque in-memory tokens).
        closers: called on shutdown.
    """

    settings: Settings
    accounts: Accounts
    jwks: Callable[[], dict[str, Any]]
    closers: list[Callable[[], None]] = attrs.field(factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.closers.clear()


def _throttle(settings: Settings) -> LoginThrottle:
    return LoginThrottle(
        ThrottlePolicy(
            per_email=settings.login_failures_per_email,
            per_client=settings.login_failures_per_client,
            window=timedelta(minutes=settings.login_window_minutes),
        )
    )


def build_services(settings: Settings) -> Services:
    """The production wiring: SQLite, argon2id, Ed25519 JWTs, files under the data folder."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_path)
    tokens = JwtTokens(
        load_or_create_keys(settings.keys_dir), settings.jwt_issuer, settings.jwt_audience
    )
    accounts = Accounts(
        users=SqliteUserRepository(database),
        hasher=Argon2PasswordHasher(),
        issuer=tokens,
        verifier=tokens,
        clock=SystemClock(),
        ids=RandomIds(),
        throttle=_throttle(settings),
    )
    return Services(
        settings=settings, accounts=accounts, jwks=tokens.jwks, closers=[database.close]
    )


def build_memory_services(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    users: UserRepository | None = None,
    hasher: PasswordHasher | None = None,
    jwt: bool = True,
) -> Services:
    """Everything in memory: for tests and for apps embedding Cropedly."""
    settings = settings or Settings()
    tokens: JwtTokens | InMemoryTokens = (
        JwtTokens.generate(settings.jwt_issuer, settings.jwt_audience) if jwt else InMemoryTokens()
    )
    accounts = Accounts(
        users=users or InMemoryUserRepository(),
        hasher=hasher or FastPasswordHasher(),
        issuer=tokens,
        verifier=tokens,
        clock=clock or ManualClock(),
        ids=ids or SeededIds(),
        throttle=_throttle(settings),
    )
    jwks = tokens.jwks if isinstance(tokens, JwtTokens) else dict
    return Services(settings=settings, accounts=accounts, jwks=jwks)
