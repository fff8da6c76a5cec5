"""The ``ResultRepository`` contract, run against the in-memory, SQLite and PostgreSQL adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from cropedly_adapters.memory import InMemoryResultRepository
from cropedly_adapters.pg_db import PostgresDatabase
from cropedly_adapters.pg_results import PostgresResultRepository
from cropedly_adapters.sqlite_db import Database
from cropedly_adapters.sqlite_results import SqliteResultRepository
from cropedly_core.images.results import ResultRepository, StoredImage
from repo_databases import KINDS, RepositoryDatabases

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def result(n: int, expires_in: timedelta = 24 * HOUR, owner: str = "u1") -> StoredImage:
    result_id = f"{n:032x}"
    return StoredImage(
        id=result_id,
        owner_id=owner,
        blob_key=f"results/{owner}/{result_id}.png",
        mime_type="image/png",
        size=100 + n,
        width=10 + n,
        height=20 + n,
        original_name=f"photo {n} é.png",
        etag=f"{n:032x}"[::-1],
        created_at=T0,
        expires_at=T0 + expires_in,
    )


@pytest.fixture(params=KINDS)
def make_repo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], ResultRepository]]:
    """Builds a fresh, empty repository of one adapter kind on each call."""
    with RepositoryDatabases(request, tmp_path_factory) as databases:

        def make() -> ResultRepository:
            if request.param == "memory":
                return InMemoryResultRepository()
            if request.param == "sqlite":
                return SqliteResultRepository(databases.sqlite())
            return PostgresResultRepository(databases.postgres())

        yield make


@pytest.fixture
def repo(make_repo: Callable[[], ResultRepository]) -> ResultRepository:
    return make_repo()


class TestResultRepositoryContract:
    def test_add_many_then_get(self, repo: ResultRepository) -> None:
        """Every stored field, times included, comes back equal."""
        stored = [result(1), result(2, owner="u2")]
        repo.add_many(stored)
        assert stored == [repo.get(r.id) for r in stored]

    def test_get_missing_is_none(self, repo: ResultRepository) -> None:
        """An unknown id is ``None``, not an error."""
        assert repo.get("f" * 32) is None

    def test_add_many_of_nothing(self, repo: ResultRepository) -> None:
        """Adding an empty batch is allowed and stores nothing."""
        repo.add_many([])
        assert [] == repo.expired(T0 + 1000 * HOUR, 10)

    def test_duplicate_id_stores_none_of_the_batch(self, repo: ResultRepository) -> None:
        """A batch with an id already present fails as a whole: all or none."""
        repo.add_many([result(1)])
        with pytest.raises(Exception):  # noqa: B017 - each adapter raises its own kind
            repo.add_many([result(2), result(1)])
        assert repo.get(result(2).id) is None

    def test_result_without_expiry_is_refused(self, repo: ResultRepository) -> None:
        """Results always expire: one without ``expires_at`` is refused and nothing is stored."""
        with pytest.raises(ValueError, match="expir"):
            repo.add_many([result(1), attrs.evolve(result(2), expires_at=None)])
        assert repo.get(result(1).id) is None

    def test_expired_includes_the_boundary_and_orders_by_expiry(
        self, repo: ResultRepository
    ) -> None:
        """``expired(now)`` holds results expiring at or before ``now``, soonest first."""
        repo.add_many([result(1, 3 * HOUR), result(2, 1 * HOUR), result(3, 2 * HOUR)])
        repo.add_many([result(4, 5 * HOUR)])
        expired = repo.expired(T0 + 3 * HOUR, 10)
        assert [result(2).id, result(3).id, result(1).id] == [r.id for r in expired]
        assert [] == repo.expired(T0 + HOUR - timedelta(microseconds=1), 10)

    def test_expired_respects_the_limit(self, repo: ResultRepository) -> None:
        """``limit`` caps the answer to the soonest-expiring results."""
        repo.add_many([result(n, n * HOUR) for n in range(1, 6)])
        assert [result(1).id, result(2).id] == [r.id for r in repo.expired(T0 + 10 * HOUR, 2)]

    def test_expired_compares_instants_not_text(self, repo: ResultRepository) -> None:
        """Expiries with microseconds sort and compare as times (ISO text in UTC)."""
        repo.add_many([result(1, HOUR + timedelta(microseconds=500)), result(2, HOUR)])
        assert [result(2).id] == [r.id for r in repo.expired(T0 + HOUR, 10)]
        assert [result(2).id, result(1).id] == [
            r.id for r in repo.expired(T0 + HOUR + timedelta(seconds=1), 10)
        ]

    def test_delete_many(self, repo: ResultRepository) -> None:
        """``delete_many`` removes exactly the given ids; unknown ids are ignored."""
        repo.add_many([result(1), result(2), result(3)])
        repo.delete_many([result(1).id, result(3).id, "0" * 31 + "f"])
        assert [None, result(2), None] == [repo.get(result(n).id) for n in (1, 2, 3)]
        repo.delete_many([])

    def test_sqlite_survives_reopening(self, tmp_path: Path) -> None:
        """Results written through one SQLite connection are read by the next one."""
        path = tmp_path / "reopen.sqlite3"
        first = Database(path)
        SqliteResultRepository(first).add_many([result(7)])
        first.close()
        second = Database(path)
        try:
            assert result(7) == SqliteResultRepository(second).get(result(7).id)
        finally:
            second.close()

    def test_postgres_survives_reopening(self, postgres_url: str) -> None:
        """Results written through one pool are read by the next; migrating again is a no-op."""
        first = PostgresDatabase(postgres_url)
        PostgresResultRepository(first).add_many([result(7)])
        first.close()
        second = PostgresDatabase(postgres_url)
        try:
            assert result(7) == PostgresResultRepository(second).get(result(7).id)
            assert first.version == second.version
        finally:
            second.close()
