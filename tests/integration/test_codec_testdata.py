"""PillowCodec and the real pipeline against the shared valid and hostile files."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageOps

from cropedly_adapters.image_pipeline import default_pipeline
from cropedly_adapters.pillow_codec import PillowCodec, sniff_format
from cropedly_core.errors import ImageRejected
from cropedly_core.images.model import Adjust, EnhanceOptions, OutputFormat, Restore
from strategies import encode

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
TESTDATA = SHARED / "testdata"
if not (TESTDATA / "valid").is_dir():
    pytest.fail(f"{TESTDATA} is missing: the shared test images must sit next to the repository")

VALID = sorted((TESTDATA / "valid").iterdir())
HOSTILE = sorted((TESTDATA / "hostile").iterdir())
CODEC = PillowCodec()
PIPELINE = default_pipeline()
MAX = 50_000_000

EXPECTED_SLUG = {
    "broken.png": "corrupt-image",
    "broken_data_stream.png": "corrupt-image",
    "crash-0c7e0e8e11ce787078f00b5b0ca409a167f070e0.tif": "corrupt-image",
    "decompression_bomb.gif": "decompression-bomb",
    "decompression_bomb_extents.gif": "decompression-bomb",
    "oom-225817ca0f8c663be7ab4b9e717b02c661e66834.tif": "corrupt-image",
    "png_decompression_dos.png": "decompression-bomb",
    "timeout-1ee28a249896e05b83840ae8140622de8e648ba9.psd": "unsupported-format",
    "truncated_image.png": "corrupt-image",
    "truncated_jpeg.jpg": "corrupt-image",
}
PERSONAL = (b"Exif\x00\x00", b"http://ns.adobe.com/xap", b"Photoshop 3.0", b"8BIM", b"GPS")


def _open(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def _assert_clean(data: bytes) -> None:
    out = _open(data)
    assert not out.getexif(), "EXIF left in the output"
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "photoshop", "comment", "gps"):
        assert key not in out.info, f"{key} left in the output"
    for marker in PERSONAL:
        assert marker not in data, f"{marker!r} left in the output"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_every_valid_file_is_enhanced_without_personal_metadata(path):
    data = path.read_bytes()
    info = CODEC.probe(data, MAX)

    result = PIPELINE.run(data, EnhanceOptions(upscale=2))

    out = _open(result.data)
    out.load()
    assert out.size == (result.width, result.height)
    with Image.open(io.BytesIO(data)) as original:
        stored_size = original.size
        upright = ImageOps.exif_transpose(original)
    assert out.size == (upright.width * 2, upright.height * 2)
    assert {info.width, info.height} == set(stored_size)
    _assert_clean(result.data)


@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: p.name)
def test_every_hostile_file_is_refused_quickly(path):
    data = path.read_bytes()
    started = time.monotonic()
    with pytest.raises(ImageRejected) as ran:
        PIPELINE.run(data, EnhanceOptions())
    assert time.monotonic() - started < 2.0
    assert ran.value.slug == EXPECTED_SLUG[path.name]
    # The header-only probe may pass truncated files; whatever it refuses, it
    # refuses for the same reason.
    try:
        CODEC.probe(data, MAX)
    except ImageRejected as probed:
        assert probed.slug == ran.value.slug  # noqa: PT017 - the probe is optional here


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_orientation_files_match_the_upright_original(orientation):
    upright = CODEC.decode((TESTDATA / "valid" / "hopper.jpg").read_bytes(), MAX).pixels
    turned = CODEC.decode(
        (TESTDATA / "valid" / f"hopper_orientation_{orientation}.jpg").read_bytes(), MAX
    ).pixels
    assert turned.shape == upright.shape
    assert np.abs(turned.astype(int) - upright).mean() < 12


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_eight_exif_orientations_are_applied_and_dropped(orientation):
    rng = np.random.default_rng(orientation)
    stored = np.kron(
        rng.integers(0, 256, (3, 5, 3), dtype=np.uint8), np.ones((16, 16, 1), np.uint8)
    )
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())

    decoded = CODEC.decode(data, MAX).pixels

    oracle = np.asarray(ImageOps.exif_transpose(_open(data)))
    assert decoded.shape == oracle.shape
    assert np.array_equal(decoded, oracle)
    result = PIPELINE.run(data, EnhanceOptions(adjust=Adjust.NONE))
    assert 0x0112 not in _open(result.data).getexif()


@pytest.mark.parametrize("name", ["pil123rgba.png", "rgb_trns.png"])
@pytest.mark.parametrize("fmt", [OutputFormat.AUTO, OutputFormat.WEBP])
def test_transparency_is_kept(name, fmt):
    data = (TESTDATA / "valid" / name).read_bytes()
    result = PIPELINE.run(data, EnhanceOptions(format=fmt))
    out = _open(result.data)
    assert out.mode in ("RGBA", "LA")
    assert np.asarray(out)[..., -1].min() < 255


@pytest.mark.parametrize("name", ["icc_profile.png", "flower2.jpg"])
def test_colour_profile_is_kept(name):
    result = PIPELINE.run((TESTDATA / "valid" / name).read_bytes(), EnhanceOptions())
    assert _open(result.data).info.get("icc_profile")


def test_cmyk_is_converted_to_rgb():
    raster = CODEC.decode((TESTDATA / "valid" / "pil_sample_cmyk.jpg").read_bytes(), MAX)
    assert raster.pixels.shape[2] == 3
    # The sample is red lettering on black; a wrong Adobe inversion turns it cyan on white.
    red = (raster.pixels[..., 0] > 200) & (raster.pixels[..., 1] < 80)
    assert 0.02 < red.mean() < 0.5
    assert raster.pixels.mean() < 100


def test_sixteen_bit_tiff_becomes_eight_bit_grey_png():
    data = (TESTDATA / "valid" / "16bit.cropped.tif").read_bytes()
    raster = CODEC.decode(data, MAX)
    assert raster.pixels.dtype == np.uint8
    assert raster.grey
    with Image.open(io.BytesIO(data)) as original:
        sixteen = np.asarray(original).astype(int)
    # Scaled by 255/65535 with rounding, not clipped at 255 or cut to the low byte.
    assert np.array_equal(raster.pixels[..., 0], (sixteen + 128) // 257)
    result = PIPELINE.run(data, EnhanceOptions(adjust=Adjust.NONE))
    assert _open(result.data).format == "PNG"
    assert _open(result.data).mode == "L"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("GIF", "PNG"), ("BMP", "PNG"), ("TIFF", "PNG"), ("WEBP", "WEBP"), ("JPEG", "JPEG")],
)
def test_auto_format_keeps_the_family(fmt, expected):
    image = Image.fromarray(np.full((12, 10, 3), 120, np.uint8))
    result = PIPELINE.run(encode(image, fmt), EnhanceOptions(adjust=Adjust.NONE))
    assert _open(result.data).format == expected


def test_heic_is_read_and_becomes_jpeg():
    image = Image.fromarray(np.full((16, 16, 3), 120, np.uint8))
    heif = pillow_heif.from_pillow(image)
    buffer = io.BytesIO()
    heif.save(buffer, quality=90)
    data = buffer.getvalue()
    assert sniff_format(data) == "HEIF"
    result = PIPELINE.run(data, EnhanceOptions(adjust=Adjust.NONE))
    assert _open(result.data).format == "JPEG"


def test_format_comes_from_the_bytes_not_the_name():
    assert sniff_format((TESTDATA / "valid" / "hopper.png").read_bytes()) == "PNG"
    with pytest.raises(ImageRejected) as caught:
        CODEC.probe(b"<svg xmlns='http://www.w3.org/2000/svg'/>", MAX)
    assert caught.value.slug == "unsupported-format"


def test_pixel_limit_is_checked_from_the_header():
    data = (TESTDATA / "valid" / "hopper.jpg").read_bytes()
    with pytest.raises(ImageRejected) as caught:
        CODEC.probe(data, 128 * 128 - 1)
    assert caught.value.slug == "too-many-pixels"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", [OutputFormat.AUTO, OutputFormat.JPEG, OutputFormat.PNG])
def test_transcode_is_decode_then_encode_byte_for_byte(path, fmt):
    """The pipeline's path for a job that changes no pixel skips NumPy, nothing else."""
    data = path.read_bytes()
    direct = CODEC.transcode(data, MAX, fmt, None)
    # Equal bytes: no metadata the general path drops can survive the direct one.
    assert direct == CODEC.encode(CODEC.decode(data, MAX), fmt, None)


def test_a_job_that_changes_no_pixel_takes_the_direct_path():
    data = (TESTDATA / "valid" / "exif_gps.jpg").read_bytes()
    options = EnhanceOptions(adjust=Adjust.NONE, restore=Restore.NONE)
    result = PIPELINE.run(data, options)
    assert result == CODEC.transcode(data, MAX, OutputFormat.AUTO, None)
    _assert_clean(result.data)
