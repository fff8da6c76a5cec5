"""``ResultRepository`` on SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cropedly_adapters.sqlite_db import Database
from cropedly_core.images.results import StoredImage

_COLUMNS = (
    "id", "owner_id", "blob_key", "mime_type", "size", "width", "height",
    "original_name", "etag", "created_at",
)  # fmt: skip


def image_row(image: StoredImage) -> dict[str, Any]:
    row = {name: getattr(image, name) for name in _COLUMNS}
    row["created_at"] = image.created_at.isoformat()
    return row


def stored_image(row: dict[str, Any]) -> StoredImage:
    values = {name: row[name] for name in _COLUMNS}
    values["created_at"] = datetime.fromisoformat(row["created_at"])
    expires = row.get("expires_at")
    return StoredImage(**values, expires_at=datetime.fromisoformat(expires) if expires else None)


class SqliteResultRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    def add_many(self, results: Sequence[StoredImage]) -> None:
        rows = []
        for result in results:
            if result.expires_at is None:
                raise ValueError("a result needs an expiry")
            rows.append({**image_row(result), "expires_at": result.expires_at.isoformat()})
        with self._database.transaction() as db:
            db.table("results").insert_all(rows)

    def get(self, result_id: str) -> StoredImage | None:
        with self._database.locked() as db:
            rows = db.execute_returning_dicts("SELECT * FROM results WHERE id = ?", [result_id])
        return stored_image(rows[0]) if rows else None

    def expired(self, now: datetime, limit: int) -> list[StoredImage]:
        # ISO 8601 strings in UTC sort as the times they stand for.
        with self._database.locked() as db:
            rows = db.execute_returning_dicts(
                "SELECT * FROM results WHERE expires_at <= ? ORDER BY expires_at LIMIT ?",
                [now.isoformat(), limit],
            )
        return [stored_image(r) for r in rows]

    def delete_many(self, result_ids: Sequence[str]) -> None:
        with self._database.transaction() as db:
            db.conn.executemany("DELETE FROM results WHERE id = ?", [(i,) for i in result_ids])
