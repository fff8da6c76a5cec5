"""``ResultRepository`` on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cropedly_adapters.pg_db import PostgresDatabase, Row, utc
from cropedly_core.images.results import StoredImage

# The columns a result shares with a catalog image.
IMAGE_COLUMNS = (
    "id", "owner_id", "blob_key", "mime_type", "size", "width", "height",
    "original_name", "etag", "created_at",
)  # fmt: skip


def image_values(image: StoredImage) -> list[Any]:
    return [getattr(image, name) for name in IMAGE_COLUMNS]


def stored_image(row: Row) -> StoredImage:
    values = {name: row[name] for name in IMAGE_COLUMNS}
    values["created_at"] = utc(row["created_at"])
    expires = row.get("expires_at")
    return StoredImage(**values, expires_at=None if expires is None else utc(expires))


_INSERT = (
    f"INSERT INTO results ({', '.join(IMAGE_COLUMNS)}, expires_at)"  # noqa: S608 - fixed names
    f" VALUES ({', '.join(['%s'] * (len(IMAGE_COLUMNS) + 1))})"
)


class PostgresResultRepository:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    def add_many(self, results: Sequence[StoredImage]) -> None:
        rows = []
        for result in results:
            if result.expires_at is None:
                raise ValueError("a result needs an expiry")
            rows.append([*image_values(result), result.expires_at])
        if not rows:
            return
        with self._database.transaction() as conn, conn.cursor() as cursor:
            cursor.executemany(_INSERT, rows)

    def get(self, result_id: str) -> StoredImage | None:
        with self._database.transaction() as conn:
            row = conn.execute("SELECT * FROM results WHERE id = %s", [result_id]).fetchone()
        return None if row is None else stored_image(row)

    def expired(self, now: datetime, limit: int) -> list[StoredImage]:
        with self._database.transaction() as conn:
            rows = conn.execute(
                "SELECT * FROM results WHERE expires_at <= %s ORDER BY expires_at, id LIMIT %s",
                [now, limit],
            ).fetchall()
        return [stored_image(r) for r in rows]

    def delete_many(self, result_ids: Sequence[str]) -> None:
        if not result_ids:
            return
        with self._database.transaction() as conn:
            conn.execute("DELETE FROM results WHERE id = ANY(%s)", [list(result_ids)])
