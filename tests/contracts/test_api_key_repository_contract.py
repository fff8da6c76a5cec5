"""The ``ApiKeyRepository`` contract, run against the in-memory, SQLite and PostgreSQL adapters."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import attrs
import psycopg
import pytest

from cropedly_adapters.memory import InMemoryApiKeyRepository
from cropedly_adapters.pg_api_keys import PostgresApiKeyRepository
from cropedly_adapters.sqlite_api_keys import SqliteApiKeyRepository
from cropedly_core.api_keys import ApiKey, ApiKeyRepository, hash_key
from repo_databases import KINDS, RepositoryDatabases

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RepoFactory = Callable[[], ApiKeyRepository]


def _key(n: int, owner: str = "owner-a", created_at: datetime = T0) -> ApiKey:
    return ApiKey(
        id=f"key-{n}",
        owner_id=owner,
        name=f"Server {n}",
        prefix=f"cpk_{n:08d}",
        key_hash=hash_key(f"cpk_secret_{n}"),
        created_at=created_at,
    )


@pytest.fixture(params=KINDS)
def make_repo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RepoFactory]:
    with RepositoryDatabases(request, tmp_path_factory) as databases:

        def make() -> ApiKeyRepository:
            if request.param == "memory":
                return InMemoryApiKeyRepository()
            if request.param == "sqlite":
                return SqliteApiKeyRepository(databases.sqlite())
            return PostgresApiKeyRepository(databases.postgres())

        yield make


class TestApiKeyRepositoryContract:
    def test_a_key_is_found_by_its_hash_whole(self, make_repo: RepoFactory) -> None:
        """What was added comes back equal, by hash; an unknown hash is None."""
        repo = make_repo()
        key = _key(1)
        repo.add(key)
        assert key == repo.get_by_hash(key.key_hash)
        assert repo.get_by_hash(hash_key("cpk_other")) is None

    def test_listing_is_per_owner_oldest_first(self, make_repo: RepoFactory) -> None:
        """Each owner sees only their keys, oldest first."""
        repo = make_repo()
        repo.add(_key(2, created_at=T0 + timedelta(minutes=1)))
        repo.add(_key(1))
        repo.add(_key(3, owner="owner-b"))
        assert ["key-1", "key-2"] == [k.id for k in repo.list_for("owner-a")]
        assert ["key-3"] == [k.id for k in repo.list_for("owner-b")]
        assert [] == repo.list_for("nobody")

    def test_only_the_owner_deletes_a_key(self, make_repo: RepoFactory) -> None:
        """Another owner's delete is False and changes nothing; the owner's is True, once."""
        repo = make_repo()
        key = _key(1)
        repo.add(key)
        assert repo.delete("owner-b", key.id) is False
        assert key == repo.get_by_hash(key.key_hash)
        assert repo.delete("owner-a", key.id) is True
        assert repo.get_by_hash(key.key_hash) is None
        assert repo.delete("owner-a", key.id) is False

    def test_touch_records_the_last_use(self, make_repo: RepoFactory) -> None:
        """touch sets last_used_at; touching a deleted key is no error."""
        repo = make_repo()
        key = _key(1)
        repo.add(key)
        repo.touch(key.id, T0 + timedelta(hours=1))
        found = repo.get_by_hash(key.key_hash)
        assert found is not None
        assert T0 + timedelta(hours=1) == found.last_used_at
        repo.delete("owner-a", key.id)
        repo.touch(key.id, T0)

    def test_a_duplicate_hash_is_refused(self, make_repo: RepoFactory) -> None:
        """Two keys never share a hash (the SQL columns are UNIQUE)."""
        repo = make_repo()
        repo.add(_key(1))
        with pytest.raises((ValueError, sqlite3.IntegrityError, psycopg.IntegrityError)):
            repo.add(attrs.evolve(_key(1), id="key-other"))
        assert ["key-1"] == [k.id for k in repo.list_for("owner-a")]
