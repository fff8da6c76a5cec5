"""The learned restore and tone adapters beyond their contract, and the pipeline's switches."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cropedly_adapters.image_pipeline import default_pipeline
from cropedly_adapters.onnx_restorer import OnnxRestorer
from cropedly_adapters.onnx_tone import OnnxToneCorrector
from cropedly_core.errors import InvalidInput
from cropedly_core.images.model import Adjust, EnhanceOptions, OutputFormat, Raster, Restore


def _photo_like(h: int, w: int, noise: float = 12.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([128 + 90 * np.sin(xx / 9 + c) * np.cos(yy / 7 - c) for c in range(3)], -1)
    base[h // 3 : h // 2, :] += 50
    base += rng.normal(0, noise, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def restorer() -> OnnxRestorer:
    return OnnxRestorer(threads=1, tile=24)


@pytest.fixture(scope="module")
def toner() -> OnnxToneCorrector:
    return OnnxToneCorrector(threads=1)


class TestRestorer:
    def test_tiled_equals_whole_image(self, restorer):
        """Tiles read the receptive margin, so tiling changes no pixel."""
        img = _photo_like(61, 77)
        whole = OnnxRestorer(threads=1, tile=4096).restore(img)
        assert np.array_equal(whole, restorer.restore(img))

    def test_tiles_off_the_strided_grid_are_aligned(self):
        """A tile side that is no multiple of the model's stride is rounded up to one, so
        the strided stages see the whole-image grid; odd image sides work too."""
        img = _photo_like(45, 59, seed=3)
        whole = OnnxRestorer(threads=1, tile=4096).restore(img)
        assert np.array_equal(whole, OnnxRestorer(threads=1, tile=17).restore(img))

    def test_rejects_alpha_and_other_types(self, restorer):
        with pytest.raises(InvalidInput):
            restorer.restore(np.zeros((4, 4, 4), np.uint8))
        with pytest.raises(InvalidInput):
            restorer.restore(np.zeros((4, 4, 3), np.float32))


class TestTone:
    def test_applies_the_params_it_reports(self, toner):
        """The Pillow lookup-table path computes the model's correction (to a level or two)."""
        img = _photo_like(48, 64, noise=4)
        dark = (img * 0.5).astype(np.uint8)
        params = toner.params(Image.fromarray(dark))
        expected = np.rint(params.transform(dark / 255.0) * 255)
        assert np.abs(toner.correct(dark).astype(int) - expected).max() <= 2

    def test_transparent_pixels_do_not_steer(self, toner):
        img = _photo_like(32, 32, noise=4)
        alpha = np.full((32, 32), 255, np.uint8)
        alpha[:, :16] = 0
        junk = img.copy()
        junk[:, :16] = (255, 0, 255)
        assert np.array_equal(toner.correct(img[:, 16:].copy()).shape, (32, 16, 3))
        p1 = toner.params(Image.fromarray(junk), alpha)
        p2 = toner.params(
            Image.fromarray(np.where(alpha[..., None] > 0, img, 0).astype(np.uint8)), alpha
        )
        assert np.allclose(p1.white, p2.white, atol=1e-6)

    def test_rejects_bad_pixels(self, toner):
        with pytest.raises(InvalidInput):
            toner.correct(np.zeros((4, 4), np.uint8))


@pytest.fixture(scope="module")
def pipeline(restorer, toner):
    return default_pipeline(restorer=restorer, toner=toner)


class TestPipelineSwitches:
    def test_both_none_leaves_pixels_alone(self, pipeline):
        img = _photo_like(40, 40)
        raster = Raster(img, "PNG")
        out = pipeline.process(raster, EnhanceOptions(adjust=Adjust.NONE, restore=Restore.NONE))
        assert np.array_equal(img, out.pixels)

    def test_clean_input_is_not_restored(self, pipeline):
        """The noise/blocking estimate gates the network: clean pixels pass untouched."""
        img = _photo_like(64, 64, noise=0)
        out = pipeline.process(Raster(img, "PNG"), EnhanceOptions(adjust=Adjust.NONE))
        assert np.array_equal(img, out.pixels)

    def test_noisy_input_is_restored(self, pipeline):
        img = _photo_like(64, 64, noise=12)
        out = pipeline.process(Raster(img, "PNG"), EnhanceOptions(adjust=Adjust.NONE))
        assert not np.array_equal(img, out.pixels)

    def test_grey_stays_grey(self, pipeline):
        grey = np.repeat(_photo_like(32, 32)[..., :1] // 2, 3, axis=2)
        out = pipeline.process(Raster(grey, "PNG", grey=True), EnhanceOptions(upscale=2))
        assert np.array_equal(out.pixels[..., 0], out.pixels[..., 2])

    def test_alpha_survives_every_step(self, pipeline):
        rgba = np.dstack([_photo_like(20, 20), np.full((20, 20), 128, np.uint8)])
        buf = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(buf, "PNG")
        result = pipeline.run(buf.getvalue(), EnhanceOptions(upscale=2, format=OutputFormat.PNG))
        out = np.asarray(Image.open(io.BytesIO(result.data)))
        assert out.shape == (40, 40, 4)
        assert abs(int(out[..., 3].mean()) - 128) <= 1
