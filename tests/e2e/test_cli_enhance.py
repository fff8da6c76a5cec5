"""``cropedly enhance`` and ``cropedly purge`` as a user runs them: a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from cropedly.bootstrap import build_services
from cropedly.settings import Settings
from cropedly_adapters.fsspec_blobs import FsspecBlobStore
from cropedly_core.images.results import StoredImage

pytestmark = pytest.mark.slow

VALID = ("hopper.jpg", "rgb_trns.png")
HOSTILE = "truncated_jpeg.jpg"


def cropedly(tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cropedly.cli`` with the Lanczos upscaler and a private data folder."""
    env = {
        **os.environ,
        "CROPEDLY_UPSCALER": "lanczos",
        "CROPEDLY_DATA_DIR": str(tmp_path / "data"),
        "CROPEDLY_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "cropedly.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def enhance_args(out: Path, *files: Path) -> list[str | Path]:
    return [
        "enhance",
        *files,
        "--out",
        out,
        "--upscale",
        "2",
        "--adjust",
        "none",
        "--format",
        "png",
    ]


def test_one_failed_file_exits_1_and_the_rest_is_written(tmp_path: Path, testdata: Path) -> None:
    """Valid files are written as ``<stem>.png`` at twice the size; the hostile one is named, exit 1."""
    valid = [testdata / "valid" / name for name in VALID]
    hostile = testdata / "hostile" / HOSTILE
    out = tmp_path / "out"
    run = cropedly(tmp_path, *enhance_args(out, valid[0], hostile, valid[1]))
    assert 1 == run.returncode, run.stderr
    assert sorted(f"{p.stem}.png" for p in valid) == sorted(p.name for p in out.iterdir())
    for source in valid:
        with Image.open(source) as original, Image.open(out / f"{source.stem}.png") as result:
            assert "PNG" == result.format
            assert (original.width * 2, original.height * 2) == result.size
    assert "enhanced 2 of 3 file(s)" in run.stdout
    failed = [line for line in run.stderr.splitlines() if line.startswith("failed:")]
    assert 1 == len(failed)
    assert HOSTILE in failed[0]
    assert not any(name in run.stderr for name in VALID)


def test_only_valid_files_exit_0(tmp_path: Path, testdata: Path) -> None:
    """With every file enhanced the command exits 0 and prints its summary."""
    out = tmp_path / "out"
    run = cropedly(tmp_path, *enhance_args(out, *(testdata / "valid" / n for n in VALID)))
    assert 0 == run.returncode, run.stderr
    assert "enhanced 2 of 2 file(s)" in run.stdout
    assert 2 == len(list(out.iterdir()))


def test_purge_runs(tmp_path: Path) -> None:
    """``cropedly purge`` on a fresh data folder exits 0 and reports what it purged."""
    run = cropedly(tmp_path, "purge")
    assert 0 == run.returncode, run.stderr
    assert "purged 0 expired result(s)" in run.stdout


def test_purge_deletes_expired_results_and_bytes(tmp_path: Path) -> None:
    """``cropedly purge`` removes an expired result's row and blob and keeps a live one."""
    services = build_services(
        Settings(data_dir=tmp_path / "data", upscaler="lanczos"), start_workers=False
    )
    now = datetime.now(UTC)
    stored = [
        StoredImage(
            id=f"{n:032x}",
            owner_id="u1",
            blob_key=f"results/u1/{n:032x}.png",
            mime_type="image/png",
            size=1,
            width=1,
            height=1,
            original_name="a.png",
            etag="e",
            created_at=now - timedelta(days=2),
            expires_at=now + timedelta(hours=hours),
        )
        for n, hours in ((1, -1), (2, 1))
    ]
    try:
        services.images.results.add_many(stored)
        for meta in stored:
            services.blobs.put(meta.blob_key, b"x")
    finally:
        services.close()
    run = cropedly(tmp_path, "purge")
    assert 0 == run.returncode, run.stderr
    assert "purged 1 expired result(s)" in run.stdout
    assert [stored[1].blob_key] == list(FsspecBlobStore(services.settings.blobs).keys())
