"""``BlobStore`` over any fsspec filesystem: local files by default, ``memory://`` in tests."""

from __future__ import annotations

import contextlib
import posixpath
import secrets
from collections.abc import Iterable, Sequence

import fsspec

from cropedly_core.errors import NotFound


class FsspecBlobStore:
    """Keys are relative POSIX paths under the store's root URL.

    Writes go to a temporary name beside the target and are then renamed, so a
    reader sees the whole old file, the whole new file or none, never half.
    """

    def __init__(self, url: str) -> None:
        self.fs, root = fsspec.core.url_to_fs(url)
        self.root = root.rstrip("/")
        self.fs.makedirs(self.root, exist_ok=True)

    def _path(self, key: str) -> str:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid blob key {key!r}")
        return f"{self.root}/{key}"

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        temporary = f"{path}.tmp-{secrets.token_hex(8)}"
        try:
            self.fs.pipe_file(temporary, data)
            self.fs.mv(temporary, path)
        except BaseException:
            self._remove(temporary)
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
        for key in keys:
            self.delete(key)

    def keys(self, prefix: str = "") -> Sequence[str]:
        base = self.root + "/"
        try:
            found = self.fs.find(self.root)
        except FileNotFoundError:
            return []
        keys = (p.removeprefix(base) for p in map(str, found))
        return sorted(k for k in keys if k.startswith(prefix) and ".tmp-" not in k)

    def _remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(path)
