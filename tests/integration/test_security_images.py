"""Regression tests for the security review: frames, colour profiles and storage.

Animated files are read for their first frame only; junk colour profiles never
reach a result; the database and blobs are owner-only files; a full disk is the
domain's ``StorageFull`` with nothing half-written.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import struct
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import GifImagePlugin, Image, ImageCms, PngImagePlugin, TiffImagePlugin, WebPImagePlugin

from cropedly_adapters.fsspec_blobs import FsspecBlobStore
from cropedly_adapters.image_pipeline import default_pipeline
from cropedly_adapters.pillow_codec import PillowCodec
from cropedly_adapters.sqlite_db import Database
from cropedly_adapters.sqlite_results import SqliteResultRepository
from cropedly_core.errors import ImageRejected, StorageFull
from cropedly_core.images.model import Adjust, EnhanceOptions
from cropedly_core.images.results import StoredImage
from imaging import animated_gif

CODEC = PillowCodec()
PIPELINE = default_pipeline()
MAX = 50_000_000
AS_IS = EnhanceOptions(adjust=Adjust.NONE)
RED, BLUE, GREEN = (200, 30, 30), (30, 30, 200), (30, 200, 30)

# ------------------------------------------------------------------ animated files


def test_1500_frame_gif_is_read_in_milliseconds() -> None:
    """Probe and decode read frame 0 only; they used to seek (decode) all 1,500 frames.

    Before: about 10 s for the probe and 10 s again for the decode of this 2.8 MB
    file, per job. After: a few milliseconds.
    """
    data = animated_gif(1500, 1000)
    with Image.open(io.BytesIO(data)) as check:  # Pillow agrees (n_frames skips decoding)
        assert 1500 == check.n_frames

    started = time.monotonic()
    info = CODEC.probe(data, MAX)
    raster = CODEC.decode(data, MAX)
    took = time.monotonic() - started

    assert took < 2.0, f"probe + decode took {took:.1f} s"
    assert ("GIF", 1000, 1000) == (info.format, info.width, info.height)
    assert 0 == int(raster.pixels.max())  # frame 0 is the black one


def test_gif_with_a_bomb_in_a_later_frame_is_still_refused() -> None:
    """Frame 1 claiming 65535 x 65535 pixels is refused from its descriptor, undecoded."""
    data = animated_gif(4, 16)
    descriptor = data.rindex(b",\x00\x00\x00\x00\x10\x00\x10\x00")
    bomb = data[:descriptor] + b",\x00\x00\x00\x00\xff\xff\xff\xff" + data[descriptor + 9 :]
    with pytest.raises(ImageRejected) as caught:
        CODEC.probe(bomb, MAX)
    assert "decompression-bomb" == caught.value.slug


def test_gif_of_millions_of_empty_blocks_is_refused_at_once() -> None:
    """Counting frames skips blocks in Python: their number is bounded, not just the bytes."""
    data = animated_gif(2, 8)[:-1] + b"!\xf9\x00" * 5_000_000 + b";"
    started = time.monotonic()
    with pytest.raises(ImageRejected) as caught:
        CODEC.probe(data, MAX)
    assert time.monotonic() - started < 0.5
    assert "decompression-bomb" == caught.value.slug


def _save_frames(fmt: str, **params: object) -> bytes:
    frames = [Image.new("RGB", (24, 16), colour) for colour in (RED, BLUE, GREEN)]
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], **params)
    return out.getvalue()


@pytest.fixture
def seeks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every frame number any of the animated-format plugins is asked to seek to."""
    asked: list[int] = []
    for plugin in (
        GifImagePlugin.GifImageFile,
        PngImagePlugin.PngImageFile,
        TiffImagePlugin.TiffImageFile,
        WebPImagePlugin.WebPImageFile,
    ):

        def spy(self: Image.Image, frame: int, _seek: Callable[..., None] = plugin.seek) -> None:
            asked.append(frame)
            _seek(self, frame)

        monkeypatch.setattr(plugin, "seek", spy)
    return asked


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("PNG", {}),  # APNG
        ("TIFF", {}),  # multi-page
        ("WEBP", {"lossless": True}),
        ("GIF", {}),
    ],
)
def test_only_the_first_frame_is_read(fmt: str, params: dict[str, object], seeks: list[int]):
    """APNG, multi-page TIFF, animated WebP and GIF: frame 0 enhanced, no other visited."""
    data = _save_frames(fmt, **params)
    with Image.open(io.BytesIO(data)) as check:
        assert 3 == getattr(check, "n_frames", 1)
    seeks.clear()

    CODEC.probe(data, MAX)
    pixels = CODEC.decode(data, MAX).pixels
    result = PIPELINE.run(data, AS_IS)

    assert [] == [frame for frame in seeks if frame != 0]
    assert np.abs(pixels.reshape(-1, 3).astype(int) - RED).max() <= 4
    with Image.open(io.BytesIO(result.data)) as out:
        assert 1 == getattr(out, "n_frames", 1)


# ------------------------------------------------------------------ colour profiles


def _image_with_profile(fmt: str, icc: bytes, mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    image = Image.fromarray(pixels).convert(mode)
    out = io.BytesIO()
    image.save(out, fmt, icc_profile=icc, **({"quality": 95} if fmt == "JPEG" else {}))
    return out.getvalue()


def _profile_of(data: bytes) -> bytes | None:
    with Image.open(io.BytesIO(data)) as image:
        return image.info.get("icc_profile")


def _description(icc: bytes) -> str:
    return str(ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))))


JUNK_5MB = np.random.default_rng(1).integers(0, 256, 5_000_000, dtype=np.uint8).tobytes()
# PNG readers (Pillow too) refuse an iCCP chunk that inflates past 1 MB, so a PNG
# can only smuggle a smaller one; it must go just the same.
JUNK_900KB = JUNK_5MB[:900_000]


@pytest.mark.parametrize(
    ("fmt", "junk", "mode"),
    [
        ("JPEG", JUNK_5MB, "RGB"),
        ("JPEG", JUNK_900KB, "RGB"),
        ("JPEG", JUNK_900KB, "L"),  # grey images kept their profile untouched
        ("PNG", JUNK_900KB, "RGB"),
        ("PNG", JUNK_900KB, "RGBA"),
    ],
    ids=["jpeg-5mb", "jpeg-900kb", "grey-jpeg", "png", "png-rgba"],
)
def test_junk_colour_profile_is_dropped(fmt: str, junk: bytes, mode: str) -> None:
    """Random bytes sent as a profile are not copied into the result (they were, whole)."""
    data = _image_with_profile(fmt, junk, mode)
    assert _profile_of(data) == junk

    raster = CODEC.decode(data, MAX)
    result = PIPELINE.run(data, AS_IS)

    assert raster.icc_profile is None
    assert _profile_of(result.data) is None
    assert junk[:4096] not in result.data
    assert len(result.data) < 100_000
    # Taken as sRGB: the same pixels as the file without a profile.
    plain = CODEC.decode(_image_with_profile(fmt, b"", mode), MAX)
    assert np.array_equal(raster.pixels, plain.pixels)


def test_real_srgb_profile_is_kept_byte_for_byte() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    result = PIPELINE.run(_image_with_profile("JPEG", srgb), AS_IS)
    assert _profile_of(result.data) == srgb


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def display_p3_like_profile() -> bytes:
    """A minimal ICC v2 matrix/TRC display profile with Display P3's D50 primaries."""

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)

    name = b"Display P3 (test)\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(name)) + name + b"\0" * (4 + 4 + 2 + 1 + 67)
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.5151, 0.2412, -0.0011)),
        (b"gXYZ", xyz(0.2920, 0.6922, 0.0419)),
        (b"bXYZ", xyz(0.1571, 0.0666, 0.7841)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    table, body = b"", b""
    offset = 128 + 4 + 12 * len(tags)
    for signature, tag in tags:
        padded = tag + b"\0" * (-len(tag) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(padded))
        body += padded
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"\0\0\0\0"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 2026, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"\0" * 24
        + b"\0\0\0\0"  # rendering intent
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\0" * 48
    )
    assert 128 == len(header)
    return header + struct.pack(">I", len(tags)) + table + body


def test_wide_gamut_profile_is_still_converted_to_srgb() -> None:
    """A real non-sRGB profile is honoured as before: pixels converted, sRGB embedded."""
    p3 = display_p3_like_profile()
    assert "Display P3" in _description(p3)
    data = _image_with_profile("PNG", p3)

    raster = CODEC.decode(data, MAX)
    result = PIPELINE.run(data, AS_IS)

    assert raster.icc_profile is not None
    assert "sRGB" in _description(raster.icc_profile)
    assert "sRGB" in _description(_profile_of(result.data) or b"")
    plain = CODEC.decode(_image_with_profile("PNG", b""), MAX).pixels.astype(int)
    # P3 is wider: its saturated colours become more saturated in sRGB.
    assert np.abs(raster.pixels.astype(int) - plain).mean() > 2


# ------------------------------------------------------------------ files on disk


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The common 022 umask, under which files used to come out world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("loose_umask")
def test_database_files_are_owner_only(tmp_path: Path) -> None:
    """The database with the password hashes, and its WAL files: 0600 (were 0644)."""
    path = tmp_path / "data" / "cropedly.sqlite3"
    database = Database(path)
    try:
        SqliteResultRepository(database).add_many([_result("a")])
        assert 0o600 == _mode(path)
        for companion in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert 0o600 == _mode(companion), companion.name
        assert 0o700 == _mode(path.parent)
    finally:
        database.close()


@pytest.mark.usefixtures("loose_umask")
def test_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "cropedly.sqlite3"
    Database(path).close()
    path.chmod(0o644)
    Database(path).close()
    assert 0o600 == _mode(path)


@pytest.mark.usefixtures("loose_umask")
def test_local_blobs_are_owner_only(tmp_path: Path) -> None:
    store = FsspecBlobStore(str(tmp_path / "blobs"))
    store.put("results/owner/one.png", b"image bytes")
    assert b"image bytes" == store.get("results/owner/one.png")
    assert 0o600 == _mode(tmp_path / "blobs" / "results" / "owner" / "one.png")
    for folder in ("blobs", "blobs/results", "blobs/results/owner"):
        assert 0o700 == _mode(tmp_path / folder), folder


def _result(result_id: str, name: str = "x.png") -> StoredImage:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return StoredImage(
        id=result_id,
        owner_id="owner",
        blob_key=f"results/owner/{result_id}.png",
        mime_type="image/png",
        size=1,
        width=1,
        height=1,
        original_name=name,
        etag="e" * 32,
        created_at=now,
        expires_at=now + timedelta(hours=1),
    )


def test_full_database_is_storage_full_and_rolled_back(tmp_path: Path) -> None:
    """SQLITE_FULL ('database or disk is full') is StorageFull; the batch is not half in."""
    database = Database(tmp_path / "cropedly.sqlite3")
    try:
        results = SqliteResultRepository(database)
        with database.locked() as db:
            pages = int(db.execute("PRAGMA page_count").fetchone()[0])
            db.execute(f"PRAGMA max_page_count = {pages + 2}")  # the disk is nearly full
        batch = [_result(f"r{n}", "n" * 2000) for n in range(20)]
        with pytest.raises(StorageFull) as caught:
            results.add_many(batch)
        assert "storage-full" == caught.value.slug
        assert results.get("r0") is None
        results.add_many([_result("small")])  # the connection is usable afterwards
        assert results.get("small") is not None
    finally:
        database.close()


def _fail_half_way(real: Callable[..., object]) -> Callable[..., object]:
    """A writer that writes half its bytes, then finds the disk full."""

    def write(target: object, data: bytes) -> object:
        real(target, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write


def test_blob_store_disk_full_is_storage_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC from the filesystem is StorageFull, and no partial blob is left behind."""
    store = FsspecBlobStore("memory://full-disk-test")
    monkeypatch.setattr(store.fs, "pipe_file", _fail_half_way(store.fs.pipe_file))
    with pytest.raises(StorageFull):
        store.put("results/owner/one.png", b"x" * 10_000)
    assert [] == list(store.keys())
    assert [] == store.fs.find(store.root)


def test_local_blob_store_disk_full_is_storage_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FsspecBlobStore(str(tmp_path / "blobs"))
    with monkeypatch.context() as patch:
        patch.setattr(os, "write", _fail_half_way(os.write))
        patch.setattr(store.fs, "pipe_file", _fail_half_way(store.fs.pipe_file))
        with pytest.raises(StorageFull):
            store.put("results/owner/one.png", b"x" * 10_000)
    assert [] == list(store.keys())
    assert [] == [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
