"""``ApiKeyRepository`` on SQLite: keys found by their unique hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cropedly_adapters.sqlite_db import Database
from cropedly_core.api_keys import ApiKey


class SqliteApiKeyRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    def add(self, key: ApiKey) -> None:
        with self._database.transaction() as db:
            db.table("api_keys").insert(
                {
                    "id": key.id,
                    "owner_id": key.owner_id,
                    "name": key.name,
                    "prefix": key.prefix,
                    "key_hash": key.key_hash,
                    "created_at": key.created_at.isoformat(),
                    "last_used_at": None
                    if key.last_used_at is None
                    else key.last_used_at.isoformat(),
                }
            )

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        rows = self._rows("SELECT * FROM api_keys WHERE key_hash = ?", [key_hash])
        return _key(rows[0]) if rows else None

    def list_for(self, owner_id: str) -> list[ApiKey]:
        rows = self._rows(
            "SELECT * FROM api_keys WHERE owner_id = ? ORDER BY created_at, id", [owner_id]
        )
        return [_key(r) for r in rows]

    def delete(self, owner_id: str, key_id: str) -> bool:
        with self._database.transaction() as db:
            cursor = db.execute(
                "DELETE FROM api_keys WHERE id = ? AND owner_id = ?", [key_id, owner_id]
            )
            return bool(cursor.rowcount)

    def touch(self, key_id: str, when: datetime) -> None:
        with self._database.transaction() as db:
            db.execute(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ?", [when.isoformat(), key_id]
            )

    def _rows(self, sql: str, values: list[str]) -> list[dict[str, Any]]:
        with self._database.locked() as db:
            return list(db.execute_returning_dicts(sql, values))


def _key(row: dict[str, Any]) -> ApiKey:
    used = row["last_used_at"]
    return ApiKey(
        id=row["id"],
        owner_id=row["owner_id"],
        name=row["name"],
        prefix=row["prefix"],
        key_hash=row["key_hash"],
        created_at=datetime.fromisoformat(row["created_at"]),
        last_used_at=None if used is None else datetime.fromisoformat(used),
    )
