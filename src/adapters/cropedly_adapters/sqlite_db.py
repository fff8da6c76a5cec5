"""The SQLite database: connection setup and migrations versioned in code.

The file holds password hashes: it and its ``-wal``/``-shm`` companions are made
owner-only (0600) whatever the umask, and a folder created for it is 0700.
A full disk surfaces as the domain's ``StorageFull``, not a bare ``sqlite3`` error.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import sqlite_utils

from cropedly_core.errors import StorageFull

log = logging.getLogger(__name__)

_FILE_MODE = 0o600
_DIR_MODE = 0o700
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


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


def _m4_api_keys(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            owner_id TEXT NOT NULL,
            name TEXT NOT NULL,
            prefix TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            last_used_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX api_keys_owner ON api_keys (owner_id, created_at)")


def _m5_jobs(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            owner_id TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            result_ids TEXT NOT NULL,
            problem TEXT,
            callback_url TEXT
        )
        """
    )
    db.execute("CREATE INDEX jobs_expires_at ON jobs (expires_at)")


def _m6_user_domains(db: sqlite_utils.Database) -> None:
    """Registered origins move from a JSON column to rows, indexed by origin.

    Finding the accounts of an origin (every CORS preflight and embedded call)
    becomes an index lookup instead of a scan of every account's JSON.
    """
    db.execute(
        """
        CREATE TABLE user_domains (
            user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            origin TEXT NOT NULL,
            PRIMARY KEY (user_id, origin)
        )
        """
    )
    db.execute("CREATE INDEX user_domains_origin ON user_domains (origin)")
    db.execute(
        "INSERT INTO user_domains (user_id, origin)"
        " SELECT users.id, json_each.value FROM users, json_each(users.origins)"
    )
    db.execute("ALTER TABLE users DROP COLUMN origins")


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _m1_users,
    _m2_results,
    _m3_catalog,
    _m4_api_keys,
    _m5_jobs,
    _m6_user_domains,
]


def _is_full(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        # SQLITE_FULL; extended codes keep the primary one in the low byte.
        return (code is not None and code & 0xFF == sqlite3.SQLITE_FULL) or (
            "database or disk is full" in str(exc)
        )
    return isinstance(exc, OSError) and exc.errno in _NO_SPACE


@contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        if _is_full(exc):
            log.error("the database's disk is full: %s", exc)  # noqa: TRY400 - cause is chained; one line is enough
            raise StorageFull from exc
        raise


def _make_private(path: Path) -> None:
    """Create ``path`` owner-only before SQLite opens it; tighten an existing one.

    SQLite gives its ``-wal`` and ``-shm`` files the database file's mode, so this
    covers them from their creation; an existing file made 0644 by an older
    version is tightened too. ``fchmod`` makes the mode exact under any umask.
    """
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=_DIR_MODE)
        path.parent.chmod(_DIR_MODE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)
    except PermissionError:  # someone else's file we may use but not chmod: leave it
        log.warning("cannot make %s owner-only; check its permissions", path)
    finally:
        os.close(fd)


def _tighten_companions(path: Path) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        with suppress(FileNotFoundError, PermissionError):
            Path(f"{path}{suffix}").chmod(_FILE_MODE)


class Database:
    """One SQLite connection shared by the threads of a process, behind a lock.

    WAL mode lets several server processes read while one writes; the busy
    timeout makes a writer wait for another instead of failing at once.
    """

    def __init__(self, path: Path | str) -> None:
        on_disk = str(path) not in ("", ":memory:")  # "" is a private temporary database
        with _storage_errors():
            if on_disk:
                _make_private(Path(path))
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        self.db = sqlite_utils.Database(conn)
        self._path = str(path) if on_disk else None
        self._lock = threading.RLock()
        self.migrate()
        if on_disk:
            _tighten_companions(Path(path))

    @contextmanager
    def locked(self) -> Iterator[sqlite_utils.Database]:
        with self._lock, _storage_errors():
            yield self.db

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any error, also of the commit."""
        with self._lock, _storage_errors():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (it does on some SQLITE_FULL).
                if self.db.conn.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def ping(self) -> None:
        """Raise unless the database file can be opened and read now (readiness).

        A fresh connection, not the shared one: that one keeps a deleted, moved or
        unmounted file open and would go on answering from it.
        """
        if self._path is None:
            return
        uri = f"{Path(self._path).resolve().as_uri()}?mode=rw"
        conn = sqlite3.connect(uri, uri=True, timeout=2.0)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()

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
