"""SQLite migrations keep the data of an older file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from cropedly_adapters.sqlite_db import MIGRATIONS, Database
from cropedly_adapters.sqlite_users import SqliteUserRepository


def test_registered_origins_move_to_user_domains(tmp_path: Path) -> None:
    """A version-5 file's JSON origins become user_domains rows that with_origin finds."""
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(old)
    for migration in MIGRATIONS[:5]:
        migration(db)
    old.execute("PRAGMA user_version = 5")
    old.execute(
        "INSERT INTO users (id, email, name, plan, password_hash, created_at, origins) VALUES"
        " ('a', 'ann@example.com', 'Ann', 'enterprise', NULL, '2026-01-01T00:00:00+00:00',"
        " '[\"https://a.example\", \"http://b.example:8080\"]'),"
        " ('b', 'bob@example.com', 'Bob', 'free', NULL, '2026-01-02T00:00:00+00:00', '[]')"
    )
    old.close()

    database = Database(path)
    try:
        users = SqliteUserRepository(database)
        assert len(MIGRATIONS) == database.version
        assert ["a"] == [u.id for u in users.with_origin("http://b.example:8080")]
        ann = users.get("a")
        assert ann is not None
        assert {"https://a.example", "http://b.example:8080"} == ann.origins
        bob = users.get("b")
        assert bob is not None
        assert frozenset() == bob.origins
        plan = database.db.execute(
            "EXPLAIN QUERY PLAN SELECT user_id FROM user_domains WHERE origin = ?", ["x"]
        ).fetchall()
        assert "user_domains_origin" in " ".join(str(row) for row in plan)
    finally:
        database.close()
