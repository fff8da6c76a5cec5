"""API keys: how a server gets a 72-hour token without keeping a person's password.

A key is ``cpk_`` and 256 random bits (base64url); it is shown once, and only its
SHA-256 is stored. A slow password hash is not needed: nobody can guess 256 random
bits, so a fast digest that finds the key by index is as safe and costs microseconds.
Exchanging a key (``exchange``) gives the same JWT as a login, carrying the
account's plan and roles of that moment; revoking a key stops the next exchange
(tokens already issued live out their 72 hours, as after a login).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Protocol

import attrs

from cropedly_core.accounts import Accounts
from cropedly_core.errors import DomainError, NotFound
from cropedly_core.tokens import TokenGrant
from cropedly_core.users import User, clean_name

KEY_PREFIX = "cpk_"
SHOWN_PREFIX_LENGTH = 12  # "cpk_" and 8 characters: enough to tell keys apart in a list
MAX_KEY_LENGTH = 128  # a real key has 47 characters; anything longer is refused unread
MAX_NAME_LENGTH = 100
MAX_KEYS_PER_ACCOUNT = 20


class InvalidApiKey(DomainError):
    slug = "invalid-api-key"
    title = "Invalid API key"

    def __init__(self) -> None:
        super().__init__("The API key is not valid (unknown, revoked or malformed).")


class TooManyApiKeys(DomainError):
    slug = "too-many-api-keys"
    title = "Too many API keys"


@attrs.frozen
class ApiKey:
    """A stored key: everything but the secret.

    Attributes:
        id: random identifier, used to revoke it.
        owner_id: the account it signs in as.
        name: what the owner called it ("CI server").
        prefix: the first characters of the key, to recognise it.
        key_hash: hex SHA-256 of the whole key.
        created_at: creation time (UTC).
        last_used_at: time of the last exchange, None before the first.
    """

    id: str
    owner_id: str
    name: str
    prefix: str
    key_hash: str
    created_at: datetime
    last_used_at: datetime | None = None


class ApiKeyRepository(Protocol):
    """Stores keys by their hash; ``key_hash`` is unique."""

    def add(self, key: ApiKey) -> None: ...

    def get_by_hash(self, key_hash: str) -> ApiKey | None: ...

    def list_for(self, owner_id: str) -> list[ApiKey]:
        """The owner's keys, oldest first."""
        ...

    def delete(self, owner_id: str, key_id: str) -> bool:
        """Remove the owner's key; False when the owner has no key with that id."""
        ...

    def touch(self, key_id: str, when: datetime) -> None:
        """Record a use; a deleted key is not an error."""
        ...


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@attrs.define
class ApiKeys:
    """Create, list, revoke and exchange API keys."""

    accounts: Accounts
    keys: ApiKeyRepository

    def create(self, user: User, name: str) -> tuple[ApiKey, str]:
        """The stored key and the secret, which is never available again."""
        clean = clean_name(name, MAX_NAME_LENGTH)
        if len(self.keys.list_for(user.id)) >= MAX_KEYS_PER_ACCOUNT:
            raise TooManyApiKeys(
                f"An account has at most {MAX_KEYS_PER_ACCOUNT} API keys; revoke one first."
            )
        secret = KEY_PREFIX + secrets.token_urlsafe(32)  # 256 random bits
        key = ApiKey(
            id=self.accounts.ids.new_id(),
            owner_id=user.id,
            name=clean,
            prefix=secret[:SHOWN_PREFIX_LENGTH],
            key_hash=hash_key(secret),
            created_at=self.accounts.clock.now(),
        )
        self.keys.add(key)
        return key, secret

    def list(self, user: User) -> list[ApiKey]:
        return self.keys.list_for(user.id)

    def revoke(self, user: User, key_id: str) -> None:
        if not self.keys.delete(user.id, key_id):
            raise NotFound("No API key with this id on your account.")

    def exchange(self, secret: str) -> TokenGrant:
        """A normal 72-hour token for the key's account; raises ``InvalidApiKey``."""
        secret = secret.strip()
        if len(secret) > MAX_KEY_LENGTH or not secret.startswith(KEY_PREFIX):
            raise InvalidApiKey
        key = self.keys.get_by_hash(hash_key(secret))
        user = None if key is None else self.accounts.users.get(key.owner_id)
        if key is None or user is None:
            raise InvalidApiKey
        now = self.accounts.clock.now()
        self.keys.touch(key.id, now)
        return self.accounts.issuer.issue(user, now)
