"""The SQLite database: connection setup and migrations versioned in code."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils


def _m1_users(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            name TEXT NOT NULL,
            plan TEXT NOT NULL,
            password_hash TEXT,
            created_at TEXT NOT NULL,
            token_version INTEGER NOT NULL DEFAULT 0,
            roles TEXT NOT NULL DEFAULT '["ROLE_USER"]',
            origins TEXT NOT NULL DEFAULT '[]'
        )
        """
    )


def _m2_results(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE results (
            id TEXT PRIMARY KEY,
            owner_id TEXT NOT NULL,
            blob_key TEXT NOT NULL,
            mime_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            original_name TEXT NOT NULL,
            etag TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX results_expires_at ON results (expires_at)")


def _m3_catalog(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE catalog_images (
            id TEXT NOT NULL UNIQUE,
            owner_id TEXT NOT NULL,
            blob_key TEXT NOT NULL,
            mime_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            original_name TEXT NOT NULL,
            etag TEXT NOT NULL,
            created_at TEXT NOT NULL,
            colour TEXT NOT NULL,
            seq INTEGER PRIMARY KEY AUTOINCREMENT
        )
        """
    )
    db.execute("CREATE INDEX catalog_owner_order ON catalog_images (owner_id, seq DESC)")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_m1_users, _m2_results, _m3_catalog]


class Database:
    """One SQLite connection shared by the threads of a process, behind a lock.

    WAL mode lets several server processes read while one writes; the busy
    timeout makes a writer wait for another instead of failing at once.
    """

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        self.db = sqlite_utils.Database(conn)
        self._lock = threading.RLock()
        self.migrate()

    @contextmanager
    def locked(self) -> Iterator[sqlite_utils.Database]:
        with self._lock:
            yield self.db

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply the migrations newer than ``PRAGMA user_version``, each atomically."""
        with self.transaction() as db:
            current = int(db.execute("PRAGMA user_version").fetchone()[0])
            for number, migration in enumerate(MIGRATIONS[current:], start=current + 1):
                migration(db)
                db.execute(f"PRAGMA user_version = {number}")

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()
