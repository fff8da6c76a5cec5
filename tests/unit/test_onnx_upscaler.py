"""The ONNX upscaler adapter: shapes, tiling, transparency, validation (packaged models)."""

from __future__ import annotations

import numpy as np
import pytest

from cropedly_adapters.onnx_upscaler import OnnxUpscaler
from cropedly_core.errors import InvalidInput


def _photo_like(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus edges and noise: enough structure to exercise the network."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack(
        [128 + 100 * np.sin(xx / 7 + c) * np.cos(yy / 5 - c) for c in range(channels)], axis=-1
    )
    base[h // 3 : h // 2, :] += 60
    base += rng.normal(0, 12, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def upscaler() -> OnnxUpscaler:
    return OnnxUpscaler(threads=1, tile=24)


class TestShapes:
    @pytest.mark.parametrize("factor", [1, 2, 4])
    @pytest.mark.parametrize("channels", [3, 4])
    def test_output_is_factor_times_larger_uint8(self, upscaler, factor, channels):
        """Every factor and channel count yields (H*f) x (W*f) x C uint8."""
        out = upscaler.upscale(_photo_like(21, 34, channels), factor)
        assert (21 * factor, 34 * factor, channels) == out.shape
        assert np.uint8 == out.dtype

    def test_factor_one_is_a_copy(self, upscaler):
        """x1 returns the same pixels, not a view of the caller's array."""
        img = _photo_like(10, 12)
        out = upscaler.upscale(img, 1)
        assert np.array_equal(img, out)
        assert not np.shares_memory(img, out)

    def test_tiny_image(self, upscaler):
        """A 1x1 image upscales (tiles smaller than the network's margin still work)."""
        out = upscaler.upscale(np.full((1, 1, 3), 77, np.uint8), 2)
        assert out.shape == (2, 2, 3)


class TestTiling:
    @pytest.mark.parametrize("factor", [2, 4])
    @pytest.mark.parametrize("tile", [16, 23])
    def test_tiled_equals_untiled_exactly(self, factor, tile):
        """Tiles read the network's full receptive field, so tiling changes no pixel at all."""
        img = _photo_like(61, 75, channels=4, seed=factor + tile)
        whole = OnnxUpscaler(tile=4096).upscale(img, factor)
        tiled = OnnxUpscaler(tile=tile).upscale(img, factor)
        assert np.array_equal(whole, tiled)

    def test_thread_count_does_not_change_output(self):
        """Threads are a speed knob only (allow 1 LSB for a different summation order)."""
        img = _photo_like(40, 50, seed=3)
        one = OnnxUpscaler(threads=1).upscale(img, 2).astype(int)
        two = OnnxUpscaler(threads=2).upscale(img, 2).astype(int)
        assert np.abs(one - two).max() <= 1


class TestFactorFour:
    def test_x4_runs_the_dedicated_model_in_one_pass(self, upscaler):
        """sr_x4.onnx is packaged (it measured better than two x2 passes) and is used."""
        plan = upscaler._plan(4)
        assert [4] == [model.scale for model in plan]

    def test_x4_falls_back_to_two_x2_passes(self, upscaler, monkeypatch):
        """Without a dedicated x4 model, x4 chains two x2 passes."""
        fallback = OnnxUpscaler(tile=24)
        real = fallback._model
        monkeypatch.setattr(fallback, "_model", lambda f: None if f == 4 else real(f))
        img = _photo_like(20, 26, channels=4, seed=5)
        expected = upscaler.upscale(upscaler.upscale(img, 2), 2)
        assert np.array_equal(expected, fallback.upscale(img, 4))


class TestTransparency:
    def test_alpha_is_upscaled_separately(self, upscaler):
        """Alpha is resampled on its own: an opaque image stays opaque, a hole stays a hole."""
        img = _photo_like(30, 30, channels=4)
        img[..., 3] = 255
        img[10:20, 10:20, 3] = 0
        out = upscaler.upscale(img, 2)
        assert (out[..., 3][:8, :] == 255).all()
        assert (out[27:33, 27:33, 3] == 0).all()

    def test_colour_does_not_depend_on_alpha(self, upscaler):
        """The RGB result is the same whatever the transparency."""
        rgb = _photo_like(25, 31)
        rgba = np.concatenate([rgb, _photo_like(25, 31, channels=1, seed=9)], axis=-1)
        assert np.array_equal(upscaler.upscale(rgb, 2), upscaler.upscale(rgba, 2)[..., :3])


class TestQualitySanity:
    def test_flat_grey_stays_flat(self, upscaler):
        """A uniform image comes out uniform (no ringing or tint) away from the borders."""
        out = upscaler.upscale(np.full((40, 40, 3), 128, np.uint8), 2).astype(int)
        assert np.abs(out[16:-16, 16:-16] - 128).max() <= 1

    def test_close_to_the_source_when_downscaled_back(self, upscaler):
        """Downscaling the result by area averaging gives back roughly the input."""
        img = _photo_like(32, 32)
        out = upscaler.upscale(img, 2).astype(float)
        back = out.reshape(32, 2, 32, 2, 3).mean(axis=(1, 3))
        assert np.abs(back - img)[4:-4, 4:-4].mean() < 6


class TestValidation:
    @pytest.mark.parametrize("factor", [0, 3, 8])
    def test_rejects_unsupported_factor(self, upscaler, factor):
        with pytest.raises(InvalidInput):
            upscaler.upscale(_photo_like(8, 8), factor)

    @pytest.mark.parametrize(
        "pixels",
        [
            np.zeros((8, 8), np.uint8),
            np.zeros((8, 8, 2), np.uint8),
            np.zeros((8, 8, 3), np.float32),
        ],
    )
    def test_rejects_bad_pixels(self, upscaler, pixels):
        with pytest.raises(InvalidInput):
            upscaler.upscale(pixels, 2)

    @pytest.mark.parametrize(("threads", "tile"), [(0, 256), (1, 4)])
    def test_rejects_bad_settings(self, threads, tile):
        with pytest.raises(ValueError, match="at least"):
            OnnxUpscaler(threads=threads, tile=tile)
