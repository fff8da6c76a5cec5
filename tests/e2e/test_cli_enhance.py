"""``cropedly enhance`` and ``cropedly purge`` as a user runs them: a real subprocess."""

from __future__ import annotations

import os
import shutil
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
from imaging import png_bytes

pytestmark = pytest.mark.slow

VALID = ("hopper.jpg", "rgb_trns.png")
HOSTILE = "truncated_jpeg.jpg"


def cropedly(tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cropedly.cli`` with the Lanczos upscaler and a private data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROPEDLY_")}
    env |= {
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


def enhance_args(out: Path, *files: Path, fmt: str = "png") -> list[str | Path]:
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
        fmt,
    ]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def one_error_line(run: subprocess.CompletedProcess[str]) -> str:
    """The run's stderr is exactly one ``error: ...`` line, no traceback."""
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert 1 == len(lines), run.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_one_failed_file_exits_1_and_the_rest_is_written(tmp_path: Path, testdata: Path) -> None:
    """Valid files become ``<name>.png`` at twice the size; the hostile one is named, exit 1."""
    valid = [testdata / "valid" / name for name in VALID]
    hostile = testdata / "hostile" / HOSTILE
    out = tmp_path / "out"
    run = cropedly(tmp_path, *enhance_args(out, valid[0], hostile, valid[1]))
    assert 1 == run.returncode, run.stderr
    assert sorted(f"{p.name}.png" for p in valid) == sorted(p.name for p in out.iterdir())
    for source in valid:
        with Image.open(source) as original, Image.open(out / f"{source.name}.png") as result:
            assert "PNG" == result.format
            assert (original.width * 2, original.height * 2) == result.size
    assert "enhanced 2 of 3 file(s)" in run.stdout
    failed = [line for line in run.stderr.splitlines() if line.startswith("failed:")]
    assert 1 == len(failed)
    assert HOSTILE in failed[0]
    assert not any(name in failed[0] for name in VALID)
    assert "Traceback" not in run.stderr


def test_only_valid_files_exit_0_with_a_line_per_file(tmp_path: Path, testdata: Path) -> None:
    """Every file enhanced: exit 0, a summary, and off a terminal one plain line per file."""
    out = tmp_path / "out"
    run = cropedly(tmp_path, *enhance_args(out, *(testdata / "valid" / n for n in VALID)))
    assert 0 == run.returncode, run.stderr
    assert "enhanced 2 of 2 file(s)" in run.stdout
    assert 2 == len(list(out.iterdir()))
    progress = run.stderr.splitlines()
    assert 2 == len(progress), run.stderr
    assert {"[1/2]", "[2/2]"} == {line.split()[0] for line in progress}
    assert all(" ok " in line for line in progress)


def test_same_folder_in_and_out_keeps_the_originals(tmp_path: Path, testdata: Path) -> None:
    """hopper.gif and hopper.png side by side: two outputs with their origin in the name.

    A second run in the same folder would take the first run's outputs as inputs
    whose names are outputs: refused before any work, nothing touched.
    """
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("hopper.gif", "hopper.png"):
        shutil.copy(testdata / "valid" / name, folder / name)
    originals = snapshot(folder)
    run = cropedly(tmp_path, "enhance", folder, "--out", folder)
    assert 0 == run.returncode, run.stderr
    after = snapshot(folder)
    assert ["hopper.gif", "hopper.gif.png", "hopper.png", "hopper.png.png"] == sorted(after)
    assert all(after[name] == data for name, data in originals.items())
    with Image.open(folder / "hopper.gif.png") as result:
        assert "PNG" == result.format

    again = cropedly(tmp_path, "enhance", folder, "--out", folder, "--overwrite")
    assert 2 == again.returncode
    assert "choose another --out folder" in one_error_line(again)
    assert after == snapshot(folder)


def test_existing_output_is_a_failed_file_unless_overwrite(tmp_path: Path) -> None:
    """An output already there is kept (exit 1, named); ``--overwrite`` replaces it whole."""
    source = tmp_path / "in" / "a.png"
    source.parent.mkdir()
    source.write_bytes(png_bytes(12, 10))
    fresh = tmp_path / "in" / "b.png"
    fresh.write_bytes(png_bytes(10, 8))
    out = tmp_path / "out"
    out.mkdir()
    existing = out / "a.png.png"
    existing.write_bytes(b"precious")

    kept = cropedly(tmp_path, *enhance_args(out, source, fresh))
    assert 1 == kept.returncode, kept.stderr
    assert b"precious" == existing.read_bytes()
    assert (out / "b.png.png").is_file()
    failed = [line for line in kept.stderr.splitlines() if line.startswith("failed:")]
    assert 1 == len(failed)
    assert "a.png: exists:" in failed[0]
    assert "--overwrite" in failed[0]

    replaced = cropedly(tmp_path, *enhance_args(out, source, fresh), "--overwrite")
    assert 0 == replaced.returncode, replaced.stderr
    with Image.open(existing) as result:
        assert (24, 20) == result.size
    assert ["a.png.png", "b.png.png"] == sorted(p.name for p in out.iterdir())  # no temp files


def test_inputs_that_would_share_an_output_name_are_refused(tmp_path: Path) -> None:
    """Two folders each holding a.png: exit 2 before any work, no output folder."""
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.png").write_bytes(png_bytes())
    out = tmp_path / "out"
    run = cropedly(tmp_path, "enhance", tmp_path / "one", tmp_path / "two", "--out", out)
    assert 2 == run.returncode
    assert "a.png" in one_error_line(run)
    assert not out.exists()


def test_missing_input_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    """A typo in one path stops the run before the output folder exists."""
    real = tmp_path / "a.png"
    real.write_bytes(png_bytes())
    out = tmp_path / "out" / "nested"
    run = cropedly(tmp_path, "enhance", real, tmp_path / "nope.png", "--out", out)
    assert 2 == run.returncode
    assert "nope.png" in one_error_line(run)
    assert not (tmp_path / "out").exists()


def test_folder_without_images_exits_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = cropedly(tmp_path, "enhance", tmp_path / "empty", "--out", tmp_path / "out")
    assert 2 == run.returncode
    assert "no image files" in one_error_line(run)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("below", ["", "sub"], ids=["file-as-out", "folder-under-a-file"])
def test_unwritable_out_exits_2_with_one_line(tmp_path: Path, below: str) -> None:
    """A regular file as --out, or a folder under one: one line, the file untouched.

    Tests run as root, which ignores a read-only mode, so a file stands in for
    every output path that cannot be written.
    """
    source = tmp_path / "a.png"
    source.write_bytes(png_bytes())
    blocker = tmp_path / "somefile"
    blocker.write_bytes(b"keep me")
    out = blocker / below if below else blocker
    run = cropedly(tmp_path, "enhance", source, "--out", out)
    assert 2 == run.returncode
    assert "--out" in one_error_line(run)
    assert b"keep me" == blocker.read_bytes()
    assert "" == run.stdout


def test_jobs_1_gives_the_same_files(tmp_path: Path, testdata: Path) -> None:
    """``--jobs 1`` (one worker process) writes what the parallel default writes."""
    files = [testdata / "valid" / name for name in ("hopper.gif", "hopper.webp", "hopper.jpg")]
    run = cropedly(tmp_path, "enhance", *files, "--out", tmp_path / "out", "--jobs", "1")
    assert 0 == run.returncode, run.stderr
    assert ["hopper.gif.png", "hopper.jpg.jpg", "hopper.webp.webp"] == sorted(
        p.name for p in (tmp_path / "out").iterdir()
    )


def test_purge_runs(tmp_path: Path) -> None:
    """``cropedly purge`` on an empty data folder exits 0, names the folder and its count."""
    (tmp_path / "data").mkdir()
    run = cropedly(tmp_path, "purge")
    assert 0 == run.returncode, run.stderr
    assert "purged 0 expired result(s)" in run.stdout
    assert f"data folder: {tmp_path / 'data'}" == run.stderr.strip()


def test_purge_without_a_data_folder_exits_2(tmp_path: Path) -> None:
    """No data folder: nothing to purge, and none is created."""
    run = cropedly(tmp_path, "purge")
    assert 2 == run.returncode
    assert f"no data folder at {tmp_path / 'data'}" in one_error_line(run)
    assert not (tmp_path / "data").exists()


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


def test_restore_and_adjust_switch_the_learned_steps(tmp_path: Path) -> None:
    """--restore/--adjust none leave the pixels; --restore auto cleans a noisy file."""
    import numpy as np  # noqa: PLC0415 - only this test looks at pixels

    rng = np.random.default_rng(0)
    noisy = np.clip(128 + rng.normal(0, 12, (48, 64, 3)), 0, 255).astype(np.uint8)
    src = tmp_path / "noisy.png"
    Image.fromarray(noisy).save(src)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROPEDLY_")}
    env |= {"CROPEDLY_UPSCALER": "onnx", "CROPEDLY_DATA_DIR": str(tmp_path / "data")}
    outputs = {}
    for restore in ("none", "auto"):
        out = tmp_path / restore
        run = subprocess.run(
            [sys.executable, "-m", "cropedly.cli", "enhance", src, "--out", out,
             "--restore", restore, "--adjust", "none", "--format", "png"],
            capture_output=True, text=True, env=env, timeout=180, check=False,
        )  # fmt: skip
        assert 0 == run.returncode, run.stderr
        outputs[restore] = np.asarray(Image.open(out / "noisy.png.png").convert("RGB"))
    assert np.array_equal(noisy, outputs["none"])
    assert outputs["auto"].astype(float).std() < 0.7 * noisy.astype(float).std()
