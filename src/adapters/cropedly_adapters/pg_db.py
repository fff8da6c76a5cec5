"""The PostgreSQL database: a connection pool and versioned SQL migrations.

Chosen by ``CROPEDLY_DATABASE_URL=postgresql://...``; the repositories in
``pg_users``, ``pg_results``, ``pg_catalog`` and ``pg_api_keys`` run on it.

Migrations are the numbered files in ``pg_migrations/`` (``0001_users.sql``, ...).
Every API process runs :func:`migrate` when it starts: under a transaction-scoped
advisory lock it reads ``schema_migrations``, applies the newer steps and records
them, all in one transaction. Processes that start together queue on the lock,
so each step runs exactly once, and a step that fails leaves the schema as it was
(PostgreSQL's DDL is transactional).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import attrs
import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from cropedly_core.errors import Overloaded, StorageFull

log = logging.getLogger(__name__)

# Retry-After of a request refused while the database is unreachable or every
# connection of the pool is busy: long enough for a restart or failover to begin.
UNAVAILABLE_RETRY_AFTER = 5
# pg_advisory_xact_lock key of the migrations: any fixed 64-bit number of our own.
MIGRATION_LOCK = 0x63726F7065646C79  # "cropedly" in ASCII
_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

Row = dict[str, Any]


class DatabaseUnavailable(ConnectionError):
    """The database cannot be reached or used; the message is one line without secrets.

    A ``ConnectionError`` (an ``OSError``), so the CLI reports it like any other
    unusable resource: one ``error:`` line and exit status 2.
    """


@attrs.frozen
class Migration:
    number: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """The numbered steps shipped in ``pg_migrations/``, in order, numbered 1, 2, 3, ..."""
    folder = resources.files("cropedly_adapters").joinpath("pg_migrations")
    steps = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            steps.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    steps.sort(key=lambda m: m.number)
    if [m.number for m in steps] != list(range(1, len(steps) + 1)):
        raise RuntimeError(f"PostgreSQL migrations are not numbered 1..n: {steps}")
    return steps


def redact(conninfo: str) -> str:
    """The database's address for logs and errors: never the password or other options."""
    try:
        parts = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "postgresql://(unparsable URL)"
    user = parts.get("user")
    host = parts.get("host") or "localhost"
    port = parts.get("port")
    return (
        f"postgresql://{f'{user}@' if user else ''}{host}{f':{port}' if port else ''}"
        f"/{parts.get('dbname') or ''}"
    )


def _reason(exc: BaseException) -> str:
    """The first line of a driver error: what libpq said, without a traceback."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def migrate(conn: psycopg.Connection[Any], steps: Sequence[Migration] | None = None) -> int:
    """Bring the schema up to date; returns the version it is at.

    One transaction: the advisory lock makes concurrent callers wait for the first,
    which then finds nothing left to do.
    """
    steps = load_migrations() if steps is None else list(steps)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY,"
            " name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        current = int(row[0]) if row else 0
        if current > len(steps):
            # A newer release migrated this database: its extra columns and tables are
            # additive by rule, so this code still works, but say so.
            log.warning(
                "the database schema is at version %d, newer than this release's %d",
                current,
                len(steps),
            )
        for step in steps[current:]:
            log.info("applying PostgreSQL migration %04d_%s", step.number, step.name)
            conn.execute(step.sql.encode())  # bytes: several statements, no parameters
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                [step.number, step.name],
            )
        return max(current, len(steps))


class PostgresDatabase:
    """A pool of connections shared by the threads of a process.

    Each ``transaction()`` takes a connection, runs in one transaction (committed
    at the end of the block, rolled back on any error) and gives the connection back.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        pool_size: int = 10,
        pool_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        migrations: Sequence[Migration] | None = None,
    ) -> None:
        self.address = redact(conninfo)
        # One direct connection first: its error names the real cause (refused,
        # unknown database, authentication), where a pool only says "timed out".
        try:
            with psycopg.connect(conninfo, connect_timeout=max(1, round(connect_timeout))) as conn:
                self.version = migrate(conn, migrations)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(
                f"cannot connect to PostgreSQL at {self.address}: {_reason(exc)}"
            ) from None
        except psycopg.Error as exc:
            raise DatabaseUnavailable(
                f"cannot migrate PostgreSQL at {self.address}: {_reason(exc)}"
            ) from exc
        self._pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=pool_size,
            timeout=pool_timeout,
            kwargs={"row_factory": dict_row, "connect_timeout": max(1, round(connect_timeout))},
            name="cropedly",
            # One round trip per checkout buys transparent recovery: after a
            # server restart or failover the stale connections are replaced
            # before a request sees them.
            check=ConnectionPool.check_connection,
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout:
            self._pool.close()
            raise DatabaseUnavailable(
                f"cannot open a connection pool to PostgreSQL at {self.address}"
            ) from None

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Row]]:
        """A connection inside one transaction.

        A full disk becomes ``StorageFull``; a lost server or a pool with no free
        connection within ``pool_timeout`` becomes ``Overloaded`` (503 with
        Retry-After at the edge) instead of a 500: the request changed nothing, and
        the pool replaces broken connections by itself.
        """
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.errors.DiskFull as exc:
            log.error("the database's disk is full: %s", _reason(exc))  # noqa: TRY400 - chained
            raise StorageFull from exc
        except PoolTimeout as exc:
            log.warning("no free PostgreSQL connection at %s: %s", self.address, exc)
            raise Overloaded(
                UNAVAILABLE_RETRY_AFTER, "Every database connection is busy; try again shortly."
            ) from exc
        except psycopg.OperationalError as exc:
            if not conn_lost(exc):
                raise
            log.warning("PostgreSQL at %s is unreachable: %s", self.address, _reason(exc))
            raise Overloaded(
                UNAVAILABLE_RETRY_AFTER, "The database is unreachable; try again shortly."
            ) from exc

    def ping(self) -> None:
        """Raise ``DatabaseUnavailable`` unless a pooled connection answers now (readiness).

        Bounded by the pool timeout; the pool's checkout check has already replaced a
        stale connection, so a failure here means the server cannot serve.
        """
        try:
            with self._pool.connection() as conn:
                conn.execute("SELECT 1")
        except (psycopg.Error, PoolTimeout) as exc:
            raise DatabaseUnavailable(
                f"PostgreSQL at {self.address} does not answer: {_reason(exc)}"
            ) from None

    def close(self) -> None:
        self._pool.close()


def conn_lost(exc: psycopg.OperationalError) -> bool:
    """A lost or refused connection (no SQLSTATE, or class 08, or an admin shutdown)."""
    state = exc.sqlstate or ""
    return state in ("", "57P01", "57P02", "57P03") or state.startswith("08")


def utc(value: datetime) -> datetime:
    """A timestamptz as UTC, whatever the session's time zone."""
    return value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)
