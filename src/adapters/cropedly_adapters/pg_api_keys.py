"""``ApiKeyRepository`` on PostgreSQL: keys found by their unique hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cropedly_adapters.pg_db import PostgresDatabase, Row, utc, utc_or_none
from cropedly_core.api_keys import ApiKey


class PostgresApiKeyRepository:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    def add(self, key: ApiKey) -> None:
        with self._database.transaction() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, owner_id, name, prefix, key_hash, created_at,"
                " last_used_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [key.id, key.owner_id, key.name, key.prefix, key.key_hash, key.created_at,
                 key.last_used_at],
            )  # fmt: skip

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        rows = self._rows("SELECT * FROM api_keys WHERE key_hash = %s", [key_hash])
        return _key(rows[0]) if rows else None

    def list_for(self, owner_id: str) -> list[ApiKey]:
        rows = self._rows(
            "SELECT * FROM api_keys WHERE owner_id = %s ORDER BY created_at, id", [owner_id]
        )
        return [_key(r) for r in rows]

    def delete(self, owner_id: str, key_id: str) -> bool:
        with self._database.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM api_keys WHERE id = %s AND owner_id = %s", [key_id, owner_id]
            )
            return bool(cursor.rowcount)

    def touch(self, key_id: str, when: datetime) -> None:
        with self._database.transaction() as conn:
            conn.execute("UPDATE api_keys SET last_used_at = %s WHERE id = %s", [when, key_id])

    def _rows(self, sql: str, values: list[Any]) -> list[Row]:
        with self._database.transaction() as conn:
            return conn.execute(sql, values).fetchall()


def _key(row: Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        owner_id=row["owner_id"],
        name=row["name"],
        prefix=row["prefix"],
        key_hash=row["key_hash"],
        created_at=utc(row["created_at"]),
        last_used_at=utc_or_none(row["last_used_at"]),
    )
