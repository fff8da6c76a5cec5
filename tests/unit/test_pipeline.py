"""EnhancementPipeline end to end on in-memory files: sizes, modes, formats."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cropedly_adapters.image_pipeline import default_pipeline
from cropedly_adapters.memory_images import (
    BoxBlur,
    ContrastSaliency,
    FixedFaces,
    IndexResampler,
    MeanDenoiser,
    NearestUpscaler,
)
from cropedly_adapters.pillow_codec import PillowCodec
from cropedly_core.errors import ImageRejected
from cropedly_core.images.framing import Framing
from cropedly_core.images.model import (
    Adjust,
    EnhanceOptions,
    ImageInfo,
    ImageLimits,
    OutputFormat,
    Raster,
    Restore,
)
from cropedly_core.images.pipeline import EnhancementPipeline, check_output_size
from cropedly_core.images.quality import mean_delta_e
from strategies import encode, pil_images

PIPELINE = default_pipeline()


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    image=pil_images(max_side=48),
    upscale=st.sampled_from([1, 2, 4]),
    fmt=st.sampled_from(list(OutputFormat)),
    adjust=st.sampled_from(list(Adjust)),
)
def test_output_has_the_right_size_mode_and_format(image, upscale, fmt, adjust):
    result = PIPELINE.run(encode(image), EnhanceOptions(upscale=upscale, adjust=adjust, format=fmt))

    out = Image.open(io.BytesIO(result.data))
    expected_format = "PNG" if fmt is OutputFormat.AUTO else fmt.value.upper()
    assert out.format == expected_format
    assert out.size == (image.width * upscale, image.height * upscale)
    assert (result.width, result.height) == out.size
    grey = image.mode in ("L", "LA", "I;16")
    alpha = _has_alpha(image) and expected_format != "JPEG"
    if expected_format in ("PNG", "JPEG"):
        assert out.mode == ("LA" if alpha else "L") if grey else ("RGBA" if alpha else "RGB")
    else:
        assert ("A" in out.mode) == alpha
    assert result.mime_type == f"image/{expected_format.lower()}"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_classic_path_preserves_the_picture(fmt):
    rng = np.random.default_rng(1)
    # 16-pixel patches: chroma subsampling smears colour edges by a few pixels.
    patches = rng.integers(30, 220, (4, 5, 3), dtype=np.uint8)
    smooth = np.kron(patches, np.ones((16, 16, 1), np.uint8))
    data = encode(Image.fromarray(smooth), fmt, quality=95)

    # restore=none too: the as-is path (restore=auto may deblock what JPEG left).
    result = PIPELINE.run(data, EnhanceOptions(adjust=Adjust.NONE, restore=Restore.NONE))

    decoded = np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB"))
    assert mean_delta_e(smooth, decoded) < 3.0


def test_transparent_input_to_jpeg_is_composited_on_white():
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[:8, :, :] = (200, 30, 30, 255)
    data = encode(Image.fromarray(rgba, "RGBA"))

    result = PIPELINE.run(data, EnhanceOptions(adjust=Adjust.NONE, format=OutputFormat.JPEG))

    out = np.asarray(Image.open(io.BytesIO(result.data)))
    assert out.shape == (16, 16, 3)
    assert out[12:, :].min() > 245  # the transparent half is white


def test_pure_ports_run_the_whole_pipeline():
    pipeline = EnhancementPipeline(
        PillowCodec(),
        NearestUpscaler(),
        denoiser=MeanDenoiser(),
        blur=BoxBlur(),
        framing=Framing(IndexResampler(), ContrastSaliency(), FixedFaces()),
    )
    image = Image.fromarray(np.full((10, 12, 3), 90, np.uint8))

    result = pipeline.run(encode(image), EnhanceOptions(upscale=2))

    assert (result.width, result.height) == (24, 20)


def test_output_size_is_checked_before_work():
    limits = ImageLimits(max_output_pixels=1000)
    with pytest.raises(ImageRejected) as caught:
        check_output_size(ImageInfo("PNG", 20, 20), EnhanceOptions(upscale=2), limits)
    assert caught.value.slug == "too-many-pixels"
    check_output_size(ImageInfo("PNG", 20, 20), EnhanceOptions(upscale=1), limits)


def test_grey_images_stay_grey_under_auto():
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (40, 40), dtype=np.uint8)
    raster = PIPELINE.codec.decode(encode(Image.fromarray(grey, "L")), 10_000)
    assert isinstance(raster, Raster)
    assert raster.grey

    out = PIPELINE.process(raster, EnhanceOptions(upscale=2))

    assert np.array_equal(out.pixels[..., 0], out.pixels[..., 1])
    assert np.array_equal(out.pixels[..., 0], out.pixels[..., 2])
