"""The ``BlobStore`` contract: in-memory, and fsspec on local files, memory:// and S3 (moto)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsspec
import pytest

from cropedly_adapters.fsspec_blobs import FsspecBlobStore
from cropedly_adapters.memory import InMemoryBlobStore
from cropedly_core.errors import NotFound
from cropedly_core.ports import BlobStore
from engines import S3Target

DATA = bytes(range(256)) * 4


def s3_store(target: S3Target, prefix: str = "blobs") -> FsspecBlobStore:
    """The store on moto's S3 API server, with the options the bootstrap passes."""
    return FsspecBlobStore(f"s3://{target.bucket}/{prefix}", s3_options(target))


def s3_options(target: S3Target) -> dict[str, object]:
    return {
        "endpoint_url": target.endpoint_url,
        "key": target.access_key_id,
        "secret": target.secret_access_key,
        "client_kwargs": {"region_name": target.region},
    }


@pytest.fixture(params=["memory", "fsspec-local", "fsspec-memory", "fsspec-s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    """An empty store of one adapter kind."""
    if request.param == "memory":
        yield InMemoryBlobStore()
    elif request.param == "fsspec-s3":
        yield s3_store(request.getfixturevalue("s3_target"))
    elif request.param == "fsspec-local":
        yield FsspecBlobStore(str(tmp_path / "blobs"))
    else:
        url = f"memory://blobs-{uuid.uuid4().hex}"
        yield FsspecBlobStore(url)
        fsspec.filesystem("memory").rm(url.removeprefix("memory://"), recursive=True)


class TestBlobStoreContract:
    def test_put_then_get(self, store: BlobStore) -> None:
        """What is put comes back byte for byte, with its size."""
        store.put("results/u1/a.png", DATA)
        assert DATA == store.get("results/u1/a.png")
        assert len(DATA) == store.size("results/u1/a.png")

    def test_empty_blob(self, store: BlobStore) -> None:
        """An empty blob exists with size 0."""
        store.put("e", b"")
        assert b"" == store.get("e")
        assert 0 == store.size("e")

    def test_overwrite_replaces(self, store: BlobStore) -> None:
        """A second put under the same key replaces the bytes entirely."""
        store.put("k", DATA)
        store.put("k", b"short")
        assert b"short" == store.get("k")
        assert 5 == store.size("k")
        assert ["k"] == list(store.keys())

    @pytest.mark.parametrize(
        ("start", "end"), [(0, 9), (10, 10), (1000, 1023), (1020, 5000), (0, 1023)]
    )
    def test_get_range_is_inclusive(self, store: BlobStore, start: int, end: int) -> None:
        """``get_range(start, end)`` is bytes start..end inclusive, clipped at the end."""
        store.put("k", DATA)
        assert DATA[start : end + 1] == store.get_range("k", start, end)

    @pytest.mark.parametrize("operation", ["get", "size", "get_range"])
    def test_missing_key_is_not_found(self, store: BlobStore, operation: str) -> None:
        """Reading a key that was never written raises ``NotFound``."""
        calls: dict[str, Callable[[], object]] = {
            "get": lambda: store.get("nope/x"),
            "size": lambda: store.size("nope/x"),
            "get_range": lambda: store.get_range("nope/x", 0, 1),
        }
        with pytest.raises(NotFound):
            calls[operation]()

    def test_delete(self, store: BlobStore) -> None:
        """A deleted key is gone; deleting a missing key is no error."""
        store.put("a", b"1")
        store.delete("a")
        store.delete("a")
        store.delete("never")
        with pytest.raises(NotFound):
            store.get("a")
        assert [] == list(store.keys())

    def test_delete_many(self, store: BlobStore) -> None:
        """``delete_many`` removes exactly the listed keys, missing ones included."""
        for key in ("r/1", "r/2", "r/3"):
            store.put(key, key.encode())
        store.delete_many(iter(["r/1", "r/3", "r/404"]))
        assert ["r/2"] == list(store.keys())

    def test_keys_by_prefix_sorted(self, store: BlobStore) -> None:
        """``keys(prefix)`` lists the keys starting with it, sorted."""
        for key in ("results/u2/b.png", "results/u1/z.jpg", "results/u1/a.png", "catalog/c.png"):
            store.put(key, b"x")
        assert ["results/u1/a.png", "results/u1/z.jpg"] == list(store.keys("results/u1/"))
        assert 4 == len(store.keys())
        assert [] == list(store.keys("none/"))

    def test_concurrent_puts_keep_every_blob(self, store: BlobStore) -> None:
        """Puts from several threads each land whole."""
        threads = [
            threading.Thread(target=store.put, args=(f"t/{n}", bytes([n]) * 2048)) for n in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [bytes([n]) * 2048 for n in range(8)] == [store.get(f"t/{n}") for n in range(8)]

    def test_keys_older_than_a_time(self, store: BlobStore) -> None:
        """Crash recovery sees blobs written before a time, under a prefix; none written after."""
        store.put("results/u1/a.png", DATA)
        store.put("catalog/u1/b.png", DATA)
        later = datetime.now(UTC) + timedelta(seconds=5)
        earlier = datetime.now(UTC) - timedelta(hours=1)
        assert ["results/u1/a.png"] == list(store.keys_older_than("results/", later))
        assert 2 == len(store.keys_older_than("", later))
        assert [] == list(store.keys_older_than("", earlier))
        store.delete("results/u1/a.png")
        assert ["catalog/u1/b.png"] == list(store.keys_older_than("", later))

    def test_remove_unfinished_never_removes_complete_blobs(self, store: BlobStore) -> None:
        """Only writes that never completed go; every whole blob stays."""
        store.put("results/u1/a.png", DATA)
        assert 0 == store.remove_unfinished(datetime.now(UTC) + timedelta(seconds=5))
        assert DATA == store.get("results/u1/a.png")


@pytest.fixture(params=["local", "memory"])
def fsspec_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FsspecBlobStore]:
    """An empty fsspec store on a local folder or a private ``memory://`` folder."""
    if request.param == "local":
        yield FsspecBlobStore(str(tmp_path / "blobs"))
    else:
        url = f"memory://blobs-{uuid.uuid4().hex}"
        yield FsspecBlobStore(url)
        fsspec.filesystem("memory").rm(url.removeprefix("memory://"), recursive=True)


class TestFsspecBlobStore:
    @pytest.mark.parametrize(
        "key", ["", "../x", "/abs", "a/../../x", "a//b", "./a", "a/", "a/./b", ".."]
    )
    def test_invalid_keys_are_refused(self, fsspec_store: FsspecBlobStore, key: str) -> None:
        """Keys that are empty, absolute or walk out of the root raise ``ValueError`` everywhere."""
        for operation in (
            lambda: fsspec_store.put(key, b"x"),
            lambda: fsspec_store.get(key),
            lambda: fsspec_store.size(key),
            lambda: fsspec_store.delete(key),
        ):
            with pytest.raises(ValueError, match="invalid blob key"):
                operation()

    def test_no_temporaries_are_left(self, fsspec_store: FsspecBlobStore) -> None:
        """After puts and overwrites, no ``.tmp-`` file remains under the root."""
        fsspec_store.put("r/a", DATA)
        fsspec_store.put("r/a", b"new")
        fsspec_store.put("r/b", b"b")
        files = [str(p) for p in fsspec_store.fs.find(fsspec_store.root)]
        assert [] == [f for f in files if ".tmp-" in f]
        assert 2 == len(files)

    def test_keys_never_list_temporaries(self, fsspec_store: FsspecBlobStore) -> None:
        """A half-written temporary (a crash mid-put) is not a key."""
        fsspec_store.put("r/a", b"a")
        fsspec_store.fs.pipe_file(f"{fsspec_store.root}/r/b.tmp-0123456789abcdef", b"half")
        assert ["r/a"] == list(fsspec_store.keys())

    def test_unfinished_writes_go_only_when_older_than_the_time(
        self, fsspec_store: FsspecBlobStore
    ) -> None:
        """A temporary left by a crash is removed once old enough; a write in progress is not."""
        fsspec_store.put("r/a", b"a")
        fsspec_store.fs.pipe_file(f"{fsspec_store.root}/r/b.tmp-0123456789abcdef", b"half")
        assert 0 == fsspec_store.remove_unfinished(datetime.now(UTC) - timedelta(hours=1))
        assert 1 == fsspec_store.remove_unfinished(datetime.now(UTC) + timedelta(seconds=5))
        assert [f"{fsspec_store.root}/r/a"] == [
            str(p) for p in fsspec_store.fs.find(fsspec_store.root)
        ]
        assert ["r/a"] == list(fsspec_store.keys_older_than("", datetime.now(UTC) + timedelta(5)))

    def test_failed_write_leaves_old_bytes_and_no_temporary(
        self, fsspec_store: FsspecBlobStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When the rename fails, the old blob stays whole and the temporary is removed."""
        fsspec_store.put("r/a", b"old")

        def broken_mv(*args: object, **kwargs: object) -> None:
            raise OSError("disk gone")

        monkeypatch.setattr(fsspec_store.fs, "mv", broken_mv)
        with pytest.raises(OSError, match="disk gone"):
            fsspec_store.put("r/a", b"new bytes")
        monkeypatch.undo()
        assert b"old" == fsspec_store.get("r/a")
        assert [f"{fsspec_store.root}/r/a"] == [
            str(p) for p in fsspec_store.fs.find(fsspec_store.root)
        ]

    def test_stores_share_bytes_through_the_same_url(self, tmp_path: Path) -> None:
        """Two stores on one URL see each other's blobs (several server workers)."""
        first = FsspecBlobStore(str(tmp_path / "shared"))
        second = FsspecBlobStore(str(tmp_path / "shared"))
        first.put("r/a", b"a")
        assert b"a" == second.get("r/a")


class TestS3:
    """What S3 adds: other processes' writes, atomic overwrites without temporaries."""

    def test_a_second_store_sees_writes_and_deletes_at_once(self, s3_target: S3Target) -> None:
        """Two processes on one bucket: no cached listing hides the other's blobs."""
        first, second = s3_store(s3_target), s3_store(s3_target)
        assert [] == list(second.keys())
        first.put("r/a", b"a")
        assert ["r/a"] == list(second.keys())
        assert b"a" == second.get("r/a")
        first.put("r/a", b"longer")
        assert 6 == second.size("r/a")
        first.delete("r/a")
        assert [] == list(second.keys())
        with pytest.raises(NotFound):
            second.get("r/a")

    def test_puts_write_one_object_and_no_temporary(self, s3_target: S3Target) -> None:
        store = s3_store(s3_target)
        store.put("r/a", DATA)
        store.put("r/a", b"new")
        objects = [str(p) for p in store.fs.find(f"{s3_target.bucket}")]
        assert [f"{s3_target.bucket}/blobs/r/a"] == objects

    def test_a_failed_upload_leaves_the_old_bytes(
        self, s3_target: S3Target, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = s3_store(s3_target)
        store.put("r/a", b"old")

        def broken(*args: object, **kwargs: object) -> None:
            raise OSError("connection reset")

        monkeypatch.setattr(store.fs, "pipe_file", broken)
        with pytest.raises(OSError, match="connection reset"):
            store.put("r/a", b"new bytes")
        monkeypatch.undo()
        assert b"old" == store.get("r/a")

    def test_prefixes_keep_stores_apart(self, s3_target: S3Target) -> None:
        """Two prefixes in one bucket are two stores (e.g. staging and production)."""
        one, other = s3_store(s3_target, "one"), s3_store(s3_target, "other")
        one.put("k", b"1")
        assert [] == list(other.keys())
        assert ["k"] == list(one.keys())

    def test_a_large_blob_round_trips_with_ranges(self, s3_target: S3Target) -> None:
        store = s3_store(s3_target)
        data = bytes(range(256)) * 40_000  # 10 MB
        store.put("big", data)
        assert len(data) == store.size("big")
        assert data[5_000_000:5_000_100] == store.get_range("big", 5_000_000, 5_000_099)
        assert data == store.get("big")
