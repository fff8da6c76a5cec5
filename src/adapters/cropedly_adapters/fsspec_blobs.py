"""``BlobStore`` over any fsspec filesystem: local files by default, S3 through s3fs.

``memory://`` serves the tests. On S3 (``s3://bucket/prefix``) each put is one
atomic upload (no temporary object), ranges are S3 range GETs, and listings are
never cached, so every process sees the blobs the others wrote.

On a local path, blobs are owner-only (files 0600, folders the store creates 0700)
whatever the umask: they are customers' images. A full disk (``ENOSPC``,
``EDQUOT``) becomes the domain's ``StorageFull``, with no partial file left.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import posixpath
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from cropedly_core.errors import NotFound, StorageFull

_FILE_MODE = 0o600
_DIR_MODE = 0o700
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
_TEMPORARY = ".tmp-"  # marks a write in progress: ``put`` renames it when complete
# Object stores: a single write is atomic, and there are no folders.
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs"})


def _modified(info: dict[str, Any]) -> float:
    """Last write of an fsspec ``info`` entry as Unix seconds; +inf when it has none.

    Local files give ``mtime``, s3fs ``LastModified``, the memory filesystem
    ``created``. An object of unknown age is never old enough to be swept.
    """
    for field in ("mtime", "LastModified", "last_modified", "created"):
        value = info.get(field)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(value).timestamp()
    return math.inf


@contextlib.contextmanager
def _no_space_is_storage_full() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise StorageFull from exc
        raise


def _private_dirs(path: str) -> None:
    """``makedirs`` where every folder created is 0700 (``os.makedirs`` sets the leaf only)."""
    missing: list[Path] = []
    folder = Path(path)
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another writer made it meanwhile
            folder.mkdir(mode=_DIR_MODE)
            folder.chmod(_DIR_MODE)


def _write_private(path: str, data: bytes) -> None:
    """A new file, owner-only from its first byte (not chmod-ed after the write)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)  # exact under any umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class FsspecBlobStore:
    """Keys are relative POSIX paths under the store's root URL.

    Writes go to a temporary name beside the target and are then renamed, so a
    reader sees the whole old file, the whole new file or none, never half.
    """

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        """``storage_options`` go to the filesystem (s3fs: endpoint, credentials, region)."""
        options = dict(storage_options or {})
        protocol = fsspec.core.split_protocol(url)[0]
        self._objects = protocol in _OBJECT_STORES
        if self._objects:
            # Several processes and machines write one bucket: a listing cached by this
            # process would hide their blobs from ``keys`` and the crash sweep.
            options.setdefault("use_listings_cache", False)
        self.fs, root = fsspec.core.url_to_fs(url, **options)
        self.root = root.rstrip("/")
        self._local = isinstance(self.fs, LocalFileSystem)
        if not self._objects:  # an object store has no folders to make
            with _no_space_is_storage_full():
                self._makedirs(self.root)

    def _makedirs(self, path: str) -> None:
        if self._local:
            _private_dirs(path)
        else:
            self.fs.makedirs(path, exist_ok=True)

    def _write(self, path: str, data: bytes) -> None:
        if self._local:
            _write_private(path, data)
        else:
            self.fs.pipe_file(path, data)

    def _path(self, key: str) -> str:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid blob key {key!r}")
        return f"{self.root}/{key}"

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if self._objects:
            # One PUT (or a multipart upload, completed in one call) is atomic on S3:
            # readers see the old object or the new one. A temporary and a rename
            # would be a second upload (copy) and a delete there, for nothing.
            self.fs.pipe_file(path, data)
            return
        temporary = f"{path}{_TEMPORARY}{secrets.token_hex(8)}"
        try:
            with _no_space_is_storage_full():
                self._makedirs(posixpath.dirname(path))
                self._write(temporary, data)
                self.fs.mv(temporary, path)
        except BaseException:
            self._remove(temporary)
            raise

    def check(self) -> None:
        """Raise unless the store answers now (readiness): one listing of the root."""
        try:
            self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            # An empty prefix does not exist on an object store; its bucket must.
            if not (self._objects and self.fs.exists(self.root.split("/", 1)[0])):
                raise

    def get(self, key: str) -> bytes:
        try:
            return bytes(self.fs.cat_file(self._path(key)))
        except FileNotFoundError:
            raise NotFound(f"No blob {key!r}.") from None

    def get_range(self, key: str, start: int, end: int) -> bytes:
        try:
            return bytes(self.fs.cat_file(self._path(key), start=start, end=end + 1))
        except FileNotFoundError:
            raise NotFound(f"No blob {key!r}.") from None

    def size(self, key: str) -> int:
        try:
            return int(self.fs.size(self._path(key)))
        except FileNotFoundError:
            raise NotFound(f"No blob {key!r}.") from None

    def delete(self, key: str) -> None:
        self._remove(self._path(key))

    def delete_many(self, keys: Iterable[str]) -> None:
        paths = [self._path(key) for key in keys]
        if self._objects and paths:
            # One DeleteObjects request per thousand keys; missing keys are no error.
            self.fs.rm(paths)
            return
        for path in paths:
            self._remove(path)

    def keys(self, prefix: str = "") -> Sequence[str]:
        base = self.root + "/"
        try:
            found = self.fs.find(self.root)
        except FileNotFoundError:
            return []
        keys = (p.removeprefix(base) for p in map(str, found))
        return sorted(k for k in keys if k.startswith(prefix) and _TEMPORARY not in k)

    def _written(self) -> dict[str, float]:
        """Every object under the root, temporaries included, with its last write (Unix s)."""
        base = self.root + "/"
        try:
            found = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            return {}
        return {str(path).removeprefix(base): _modified(info) for path, info in found.items()}

    def keys_older_than(self, prefix: str, before: datetime) -> Sequence[str]:
        stamp = before.timestamp()
        return sorted(
            key
            for key, written in self._written().items()
            if key.startswith(prefix) and _TEMPORARY not in key and written < stamp
        )

    def remove_unfinished(self, before: datetime) -> int:
        stamp = before.timestamp()
        stale = [k for k, at in self._written().items() if _TEMPORARY in k and at < stamp]
        for key in stale:
            self._remove(f"{self.root}/{key}")
        return len(stale)

    def _remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)
