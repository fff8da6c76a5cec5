"""Stored enhancement results and their repository port."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs


@attrs.frozen
class StoredImage:
    """Metadata of stored image bytes (an enhancement result or a catalog image).

    Attributes:
        id: random, unguessable id (at least 122 random bits).
        owner_id: the account that made it.
        blob_key: where the bytes are, prefixed by the owner's id.
        mime_type: Content-Type of the bytes.
        size: byte length of the bytes.
        width: pixels.
        height: pixels.
        original_name: the uploaded file's name.
        etag: strong validator (hash of the bytes).
        created_at: when it was stored.
        expires_at: when it is deleted (results); None for catalog images.
    """

    id: str
    owner_id: str
    blob_key: str
    mime_type: str
    size: int
    width: int
    height: int
    original_name: str
    etag: str
    created_at: datetime
    expires_at: datetime | None = None


class ResultRepository(Protocol):
    """Metadata of enhancement results."""

    def add_many(self, results: Sequence[StoredImage]) -> None:
        """Store all or none."""
        ...

    def get(self, result_id: str) -> StoredImage | None: ...

    def expired(self, now: datetime, limit: int) -> list[StoredImage]:
        """Up to ``limit`` results whose ``expires_at`` is at or before ``now``."""
        ...

    def delete_many(self, result_ids: Sequence[str]) -> None: ...
