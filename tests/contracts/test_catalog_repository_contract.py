"""The ``CatalogRepository`` contract, run against the in-memory, SQLite and PostgreSQL adapters."""

from __future__ import annotations

import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import psycopg
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from cropedly_adapters.memory import InMemoryCatalogRepository
from cropedly_adapters.pg_catalog import PostgresCatalogRepository
from cropedly_adapters.sqlite_catalog import SqliteCatalogRepository
from cropedly_adapters.sqlite_db import Database
from cropedly_core.catalog import CatalogImage, CatalogRepository, Quota
from cropedly_core.errors import QuotaExceeded
from cropedly_core.images.reference import ColourStats
from cropedly_core.images.results import StoredImage
from repo_databases import KINDS, RepositoryDatabases, machine_postgres

RepoFactory = Callable[[], CatalogRepository]
T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
ROOMY = Quota()
ANN, BOB = "owner-ann", "owner-bob"


def entry(image_id: str, owner_id: str = ANN, size: int = 100, n: int = 0) -> CatalogImage:
    """A catalog entry with distinctive values in every field."""
    return CatalogImage(
        image=StoredImage(
            id=image_id,
            owner_id=owner_id,
            blob_key=f"catalog/{owner_id}/{image_id}.png",
            mime_type="image/png",
            size=size,
            width=8 + n,
            height=6 + n,
            original_name=f"name {image_id}.png",
            etag=f"etag-{image_id}",
            created_at=T0 + timedelta(seconds=n),
        ),
        colour=ColourStats((50.5 + n, -3.25, 7.125), (10.0, 2.5, 3.0 + 1 / 3)),
    )


def ids_of(entries: list[CatalogImage]) -> list[str]:
    return [e.image.id for e in entries]


def without_seq(found: CatalogImage | None) -> CatalogImage | None:
    return None if found is None else attrs.evolve(found, seq=0)


@pytest.fixture(scope="module", params=KINDS)
def make_repo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RepoFactory]:
    """Builds a fresh, empty repository of one adapter kind on each call."""
    with RepositoryDatabases(request, tmp_path_factory) as databases:

        def make() -> CatalogRepository:
            if request.param == "memory":
                return InMemoryCatalogRepository()
            if request.param == "sqlite":
                return SqliteCatalogRepository(databases.sqlite())
            return PostgresCatalogRepository(databases.postgres())

        yield make


class TestCatalogRepositoryContract:
    def test_added_entries_round_trip(self, make_repo: RepoFactory) -> None:
        """Every field of a stored entry comes back unchanged, with a positive ``seq``."""
        repo = make_repo()
        stored = [entry("a", n=1), entry("b", n=2)]
        repo.add_many(ANN, stored, ROOMY)
        for original in stored:
            found = repo.get(original.image.id)
            assert found is not None
            assert found.seq > 0
            assert original == without_seq(found)

    def test_unknown_id_is_none(self, make_repo: RepoFactory) -> None:
        """``get`` of an id never stored is None."""
        assert None is make_repo().get("nope")

    def test_get_sees_every_owner(self, make_repo: RepoFactory) -> None:
        """``get`` is not scoped: callers check ownership themselves."""
        repo = make_repo()
        repo.add_many(BOB, [entry("b1", BOB)], ROOMY)
        found = repo.get("b1")
        assert found is not None
        assert BOB == found.image.owner_id

    def test_page_is_newest_first_across_and_within_batches(self, make_repo: RepoFactory) -> None:
        """Later batches, and later items of one batch, come first; ``seq`` strictly decreases."""
        repo = make_repo()
        repo.add_many(ANN, [entry("a"), entry("b")], ROOMY)
        repo.add_many(ANN, [entry("c")], ROOMY)
        page = repo.page(ANN, 10, None)
        assert ["c", "b", "a"] == ids_of(page)
        seqs = [e.seq for e in page]
        assert sorted(seqs, reverse=True) == seqs
        assert len(set(seqs)) == len(seqs)

    def test_page_limit_and_before_seq_walk_everything_once(self, make_repo: RepoFactory) -> None:
        """Pages of two, each continuing below the last ``seq``, visit every entry once."""
        repo = make_repo()
        repo.add_many(ANN, [entry(f"i{n}") for n in range(5)], ROOMY)
        seen: list[str] = []
        before: int | None = None
        while page := repo.page(ANN, 2, before):
            assert len(page) <= 2
            seen += ids_of(page)
            before = page[-1].seq
        assert [f"i{n}" for n in reversed(range(5))] == seen

    def test_page_is_scoped_by_owner(self, make_repo: RepoFactory) -> None:
        """An owner's page never holds another owner's entries, even interleaved."""
        repo = make_repo()
        repo.add_many(ANN, [entry("a1")], ROOMY)
        repo.add_many(BOB, [entry("b1", BOB)], ROOMY)
        repo.add_many(ANN, [entry("a2")], ROOMY)
        assert ["a2", "a1"] == ids_of(repo.page(ANN, 10, None))
        assert ["b1"] == ids_of(repo.page(BOB, 10, None))
        assert [] == repo.page("owner-nobody", 10, None)

    def test_delete_many_only_deletes_the_owners(self, make_repo: RepoFactory) -> None:
        """Foreign and unknown ids are ignored; the deleted entries are returned."""
        repo = make_repo()
        repo.add_many(ANN, [entry("a1"), entry("a2")], ROOMY)
        repo.add_many(BOB, [entry("b1", BOB)], ROOMY)
        deleted = repo.delete_many(ANN, ["a1", "b1", "unknown"])
        assert ["a1"] == ids_of(deleted)
        assert entry("a1") == without_seq(deleted[0])
        assert None is repo.get("a1")
        assert repo.get("b1") is not None
        assert ["a2"] == ids_of(repo.page(ANN, 10, None))

    def test_delete_many_is_idempotent(self, make_repo: RepoFactory) -> None:
        """Deleting again, or with repeated ids, or with none, deletes nothing more."""
        repo = make_repo()
        repo.add_many(ANN, [entry("a1"), entry("a2")], ROOMY)
        assert ["a1"] == ids_of(repo.delete_many(ANN, ["a1", "a1"]))
        assert [] == repo.delete_many(ANN, ["a1"])
        assert [] == repo.delete_many(ANN, [])
        assert (1, 100) == repo.usage(ANN)

    def test_usage_counts_images_and_bytes_per_owner(self, make_repo: RepoFactory) -> None:
        """``usage`` is the owner's (count, bytes), zero for an empty owner."""
        repo = make_repo()
        assert (0, 0) == repo.usage(ANN)
        repo.add_many(ANN, [entry("a1", size=10), entry("a2", size=32)], ROOMY)
        repo.add_many(BOB, [entry("b1", BOB, size=7)], ROOMY)
        assert (2, 42) == repo.usage(ANN)
        assert (1, 7) == repo.usage(BOB)
        repo.delete_many(ANN, ["a2"])
        assert (1, 10) == repo.usage(ANN)

    def test_image_quota_is_all_or_nothing(self, make_repo: RepoFactory) -> None:
        """A batch that would pass the image count is refused whole; exactly at it is allowed."""
        repo = make_repo()
        quota = Quota(max_images=3, max_bytes=10_000)
        repo.add_many(ANN, [entry("a1"), entry("a2")], quota)
        with pytest.raises(QuotaExceeded):
            repo.add_many(ANN, [entry("a3"), entry("a4")], quota)
        assert (2, 200) == repo.usage(ANN)
        assert None is repo.get("a3")
        repo.add_many(ANN, [entry("a3")], quota)
        assert (3, 300) == repo.usage(ANN)

    def test_byte_quota_is_all_or_nothing(self, make_repo: RepoFactory) -> None:
        """A batch that would pass the byte quota is refused whole; exactly at it is allowed."""
        repo = make_repo()
        quota = Quota(max_images=100, max_bytes=250)
        repo.add_many(ANN, [entry("a1", size=100)], quota)
        with pytest.raises(QuotaExceeded):
            repo.add_many(ANN, [entry("a2", size=100), entry("a3", size=51)], quota)
        assert (1, 100) == repo.usage(ANN)
        repo.add_many(ANN, [entry("a2", size=100), entry("a3", size=50)], quota)
        assert (3, 250) == repo.usage(ANN)

    def test_concurrent_batches_cannot_both_pass_the_quota(self, make_repo: RepoFactory) -> None:
        """Of many threads racing to add two images under a quota of three, exactly one wins."""
        repo = make_repo()
        quota = Quota(max_images=3, max_bytes=10_000)
        barrier = threading.Barrier(4)
        outcomes: list[str] = []

        def add(n: int) -> None:
            barrier.wait()
            try:
                repo.add_many(ANN, [entry(f"t{n}a"), entry(f"t{n}b")], quota)
                outcomes.append("stored")
            except QuotaExceeded:
                outcomes.append("refused")

        threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert ["refused", "refused", "refused", "stored"] == sorted(outcomes)
        assert (2, 200) == repo.usage(ANN)

    def test_quota_is_per_owner(self, make_repo: RepoFactory) -> None:
        """Another owner's images do not count toward an owner's quota."""
        repo = make_repo()
        quota = Quota(max_images=1, max_bytes=100)
        repo.add_many(BOB, [entry("b1", BOB)], quota)
        repo.add_many(ANN, [entry("a1")], quota)
        assert (1, 100) == repo.usage(ANN)

    def test_foreign_owner_in_batch_stores_nothing(self, make_repo: RepoFactory) -> None:
        """A batch holding another owner's entry is refused and nothing of it is stored."""
        repo = make_repo()
        with pytest.raises(ValueError, match="owner"):
            repo.add_many(ANN, [entry("a1"), entry("b1", BOB)], ROOMY)
        assert (0, 0) == repo.usage(ANN)
        assert None is repo.get("a1")

    def test_duplicate_id_stores_nothing_of_the_batch(self, make_repo: RepoFactory) -> None:
        """A batch reusing a stored id is refused and leaves no new entry behind."""
        repo = make_repo()
        repo.add_many(ANN, [entry("a1")], ROOMY)
        with pytest.raises((ValueError, sqlite3.IntegrityError, psycopg.IntegrityError)):
            repo.add_many(ANN, [entry("a2"), entry("a1")], ROOMY)
        assert None is repo.get("a2")
        assert (1, 100) == repo.usage(ANN)


# ------------------------------------------------------------------- stateful model

OWNERS = (ANN, BOB)
STATEFUL_QUOTA = Quota(max_images=5, max_bytes=3000)


class CatalogRepositoryMachine(RuleBasedStateMachine):
    """Random add/page/get/delete sequences of two owners checked against a list model."""

    def __init__(self) -> None:
        super().__init__()
        self.repo = self.make_repo()
        self.order: list[CatalogImage] = []  # every live entry, oldest first
        self.made = 0

    def make_repo(self) -> CatalogRepository:
        raise NotImplementedError

    def mine(self, owner: str) -> list[CatalogImage]:
        return [e for e in self.order if e.image.owner_id == owner]

    @rule(owner=st.sampled_from(OWNERS), sizes=st.lists(st.integers(1, 1500), max_size=3))
    def add(self, owner: str, sizes: list[int]) -> None:
        batch = []
        for size in sizes:
            self.made += 1
            batch.append(entry(f"id{self.made}", owner, size=size, n=self.made))
        mine = self.mine(owner)
        fits = (
            len(mine) + len(batch) <= STATEFUL_QUOTA.max_images
            and sum(e.image.size for e in mine + batch) <= STATEFUL_QUOTA.max_bytes
        )
        if fits:
            self.repo.add_many(owner, batch, STATEFUL_QUOTA)
            self.order += batch
        else:
            with pytest.raises(QuotaExceeded):
                self.repo.add_many(owner, batch, STATEFUL_QUOTA)

    @precondition(lambda self: self.made > 0)
    @rule(data=st.data())
    def get(self, data: st.DataObject) -> None:
        image_id = f"id{data.draw(st.integers(1, self.made))}"
        expected = next((e for e in self.order if e.image.id == image_id), None)
        assert expected == without_seq(self.repo.get(image_id))

    @rule(owner=st.sampled_from(OWNERS), limit=st.integers(1, 6), data=st.data())
    def page(self, owner: str, limit: int, data: st.DataObject) -> None:
        mine = self.mine(owner)
        before: int | None = None
        newest_first = list(reversed(mine))
        use_cursor: bool = data.draw(st.booleans())
        if mine and use_cursor:
            # Continue below one of the owner's entries, as a cursor would.
            pivot = data.draw(st.sampled_from(mine))
            found = self.repo.get(pivot.image.id)
            assert found is not None
            before = found.seq
            newest_first = list(reversed(mine[: mine.index(pivot)]))
        assert ids_of(newest_first[:limit]) == ids_of(self.repo.page(owner, limit, before))

    @precondition(lambda self: self.made > 0)
    @rule(owner=st.sampled_from(OWNERS), data=st.data())
    def delete(self, owner: str, data: st.DataObject) -> None:
        picks = data.draw(st.lists(st.integers(1, self.made), max_size=4))
        wanted = list(dict.fromkeys(f"id{n}" for n in picks))
        expected = [e for e in self.mine(owner) if e.image.id in wanted]
        deleted = self.repo.delete_many(owner, wanted)
        assert sorted(ids_of(expected)) == sorted(ids_of(deleted))
        gone = set(ids_of(expected))
        self.order = [e for e in self.order if e.image.id not in gone]

    @invariant()
    def usage_matches(self) -> None:
        for owner in OWNERS:
            mine = self.mine(owner)
            assert (len(mine), sum(e.image.size for e in mine)) == self.repo.usage(owner)


class InMemoryCatalogRepositoryMachine(CatalogRepositoryMachine):
    def make_repo(self) -> CatalogRepository:
        return InMemoryCatalogRepository()


class SqliteCatalogRepositoryMachine(CatalogRepositoryMachine):
    def make_repo(self) -> CatalogRepository:
        # A stateful example has no fixture of its own: a fresh file per example.
        self._folder = tempfile.TemporaryDirectory(prefix="cropedly-catalog-")
        self._database = Database(Path(self._folder.name) / "catalog.sqlite3")
        return SqliteCatalogRepository(self._database)

    def teardown(self) -> None:
        self._database.close()
        self._folder.cleanup()


class PostgresCatalogRepositoryMachine(CatalogRepositoryMachine):
    def make_repo(self) -> CatalogRepository:
        self._pg = machine_postgres()
        return PostgresCatalogRepository(self._pg)

    def teardown(self) -> None:
        self._pg.close()


_STATEFUL = settings(max_examples=25, stateful_step_count=20, deadline=None)
TestInMemoryCatalogRepositoryStateful = InMemoryCatalogRepositoryMachine.TestCase
TestInMemoryCatalogRepositoryStateful.settings = _STATEFUL
TestSqliteCatalogRepositoryStateful = SqliteCatalogRepositoryMachine.TestCase
TestSqliteCatalogRepositoryStateful.settings = _STATEFUL
TestPostgresCatalogRepositoryStateful = pytest.mark.usefixtures("postgres_machines")(
    PostgresCatalogRepositoryMachine.TestCase
)
TestPostgresCatalogRepositoryStateful.settings = _STATEFUL
