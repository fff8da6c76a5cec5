"""PostgreSQL: migrations versioned, all-or-nothing and run once; start and outage errors."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import psycopg
import pytest

from cropedly_adapters.pg_db import (
    DatabaseUnavailable,
    Migration,
    PostgresDatabase,
    load_migrations,
    migrate,
    redact,
)
from cropedly_adapters.pg_users import PostgresUserRepository
from cropedly_core.errors import Overloaded
from engines import Postgres


def _versions(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        return [(int(v), str(n)) for v, n in rows.fetchall()]


def test_a_fresh_database_gets_every_step_once(postgres_url: str) -> None:
    """An empty database ends at the last step, with each step recorded by number and name."""
    database = PostgresDatabase(postgres_url)
    database.close()
    steps = load_migrations()
    assert [(m.number, m.name) for m in steps] == _versions(postgres_url)
    assert len(steps) == database.version >= 4


def test_concurrent_starts_migrate_exactly_once(postgres_url: str) -> None:
    """Eight threads opening the same empty database at once all succeed; no step runs twice."""
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    opened: list[PostgresDatabase] = []

    def start() -> None:
        barrier.wait()
        try:
            opened.append(PostgresDatabase(postgres_url, pool_size=1))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for database in opened:
        database.close()
    assert [] == errors
    assert [m.number for m in load_migrations()] == [v for v, _ in _versions(postgres_url)]


def test_concurrent_processes_migrate_exactly_once(postgres_url: str) -> None:
    """Three processes (as API processes starting together) migrate one database once."""
    code = (
        "import sys; from cropedly_adapters.pg_db import PostgresDatabase; "
        "PostgresDatabase(sys.argv[1], pool_size=1).close()"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, postgres_url], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    outcomes = [(p.communicate(timeout=120)[1], p.returncode) for p in procs]
    assert [] == [err.decode() for err, code in outcomes if code != 0]
    assert len(load_migrations()) == len(_versions(postgres_url))


def test_a_failing_step_leaves_the_schema_as_it_was(postgres_url: str) -> None:
    """A broken step rolls back itself and every step of the same run; nothing is recorded."""
    steps = [
        Migration(1, "good", "CREATE TABLE a (x int);"),
        Migration(2, "bad", "CREATE TABLE b (x int); SELECT no_such_function();"),
    ]
    with psycopg.connect(postgres_url) as conn, pytest.raises(psycopg.errors.UndefinedFunction):
        migrate(conn, steps)
    with psycopg.connect(postgres_url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    assert [] == tables  # not even the version table: it was made in the same transaction
    with psycopg.connect(postgres_url) as conn:
        assert 1 == migrate(conn, steps[:1])
        assert 2 == migrate(conn, [*steps[:1], Migration(2, "fixed", "CREATE TABLE b (x int);")])
    assert [(1, "good"), (2, "fixed")] == _versions(postgres_url)


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    """A refused connection names the redacted address and the reason, never the password."""
    with pytest.raises(DatabaseUnavailable) as caught:
        PostgresDatabase("postgresql://ann:s3cret@127.0.0.1:1/cropedly", connect_timeout=2)
    message = str(caught.value)
    assert "s3cret" not in message
    assert "\n" not in message
    assert message.startswith(
        "cannot connect to PostgreSQL at postgresql://ann@127.0.0.1:1/cropedly"
    )
    assert isinstance(caught.value, OSError)


def test_redact_keeps_the_address_only() -> None:
    """Logs see user, host, port and database; password and options are dropped."""
    assert "postgresql://u@db.example:6432/app" == redact(
        "postgresql://u:pw@db.example:6432/app?sslmode=require&password=pw2"
    )
    assert "postgresql://localhost/app" == redact("dbname=app password=x")


def test_a_lost_server_is_overloaded_then_recovers(postgres: Postgres) -> None:
    """While the database refuses connections, calls raise Overloaded (503), then work again."""
    url = postgres.new_database()
    name = url.rsplit("/", 1)[1]
    database = PostgresDatabase(url, pool_timeout=1)
    users = PostgresUserRepository(database)
    try:
        assert [] == users.list()
        postgres.psql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        postgres.psql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )
        with pytest.raises(Overloaded) as refused:
            users.list()
        assert 0 < refused.value.retry_after
        with pytest.raises(DatabaseUnavailable, match="does not answer"):
            database.ping()  # the readiness check
        postgres.psql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        deadline = time.monotonic() + 30
        while True:
            try:
                assert [] == users.list()
                database.ping()
                break
            except Overloaded:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        database.close()
