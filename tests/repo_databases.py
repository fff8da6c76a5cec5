"""The databases under the repository contract suites: memory, SQLite and PostgreSQL.

Each suite's ``make_repo`` fixture is parametrized over ``KINDS`` and asks
``RepositoryDatabases`` for a fresh database of its kind on every call: a new
SQLite file, or a new schema in a PostgreSQL database shared by the session (a
schema is much cheaper than ``CREATE DATABASE``, and the migrations run in it
exactly as in a real database, ``search_path`` pointing there).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from types import TracebackType
from typing import Self

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from cropedly_adapters.pg_db import PostgresDatabase
from cropedly_adapters.sqlite_db import Database
from engines import Postgres

KINDS = ("memory", "sqlite", "postgres")

_SHARED: dict[int, str] = {}  # cluster port -> the session's contract database
_CLUSTER: list[Postgres] = []  # bound by the ``postgres_machines`` fixture


def new_schema(postgres: Postgres) -> str:
    """Connection info of a fresh, empty schema (PostgreSQL's search_path set to it)."""
    url = _SHARED.get(postgres.port)
    if url is None:
        url = _SHARED[postgres.port] = postgres.new_database()
    schema = f"s_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return make_conninfo(url, options=f"-c search_path={schema}")


def open_postgres(postgres: Postgres) -> PostgresDatabase:
    # A small pool: a suite holds dozens of these open at once.
    return PostgresDatabase(new_schema(postgres), pool_size=4)


def bind_cluster(postgres: Postgres) -> None:
    _CLUSTER[:] = [postgres]


def machine_postgres() -> PostgresDatabase:
    """A fresh PostgreSQL database for a hypothesis state machine (it has no fixtures)."""
    if not _CLUSTER:
        pytest.fail("mark the state machine's TestCase with usefixtures('postgres_machines')")
    return open_postgres(_CLUSTER[0])


class RepositoryDatabases:
    """Opens databases for one fixture and closes them all when it ends."""

    def __init__(self, request: pytest.FixtureRequest, tmp: pytest.TempPathFactory) -> None:
        self._request = request
        self._tmp = tmp
        self._opened: list[Database | PostgresDatabase] = []

    def sqlite(self) -> Database:
        database = Database(Path(self._tmp.mktemp("repo")) / "repo.sqlite3")
        self._opened.append(database)
        return database

    def postgres(self) -> PostgresDatabase:
        # Asked lazily: the memory and SQLite runs never start the cluster.
        database = open_postgres(self._request.getfixturevalue("postgres"))
        self._opened.append(database)
        return database

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for database in self._opened:
            database.close()
