"""Contracts of the ``Restorer`` and ``ToneCorrector`` ports: in-memory stand-ins and the
learned ONNX adapters (the packaged models, loaded for real)."""

from __future__ import annotations

import numpy as np
import pytest

from cropedly_adapters.memory_images import LevelsToneCorrector, MeanRestorer
from cropedly_adapters.onnx_restorer import OnnxRestorer
from cropedly_adapters.onnx_tone import OnnxToneCorrector
from cropedly_core.images.ports import Restorer, ToneCorrector


def _scene(h: int, w: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([128 + 90 * np.sin(xx / 9 + c) * np.cos(yy / 7 - c) for c in range(3)], -1)
    base[h // 3 : h // 2, :] += 50
    base += rng.normal(0, noise, base.shape) if noise else 0
    return np.clip(base, 0, 255).astype(np.uint8)


@pytest.fixture(params=["memory", "onnx"])
def restorer(request: pytest.FixtureRequest) -> Restorer:
    return MeanRestorer() if request.param == "memory" else OnnxRestorer(threads=1, tile=32)


@pytest.fixture(params=["memory", "onnx"])
def toner(request: pytest.FixtureRequest) -> ToneCorrector:
    return LevelsToneCorrector() if request.param == "memory" else OnnxToneCorrector(threads=1)


class TestRestorerContract:
    def test_same_shape_and_type(self, restorer):
        out = restorer.restore(_scene(23, 41, noise=5))
        assert (23, 41, 3) == out.shape
        assert np.uint8 == out.dtype

    def test_noise_goes_down(self, restorer):
        clean = _scene(64, 64)
        noisy = _scene(64, 64, noise=10, seed=3)
        before = np.abs(noisy.astype(int) - clean).mean()
        after = np.abs(restorer.restore(noisy).astype(int) - clean).mean()
        assert after < 0.8 * before

    def test_input_is_not_modified(self, restorer):
        img = _scene(20, 20, noise=8)
        copy = img.copy()
        restorer.restore(img)
        assert np.array_equal(img, copy)


class TestToneContract:
    def test_same_shape_and_type(self, toner):
        out = toner.correct(_scene(23, 41))
        assert (23, 41, 3) == out.shape
        assert np.uint8 == out.dtype

    def test_under_exposure_is_lifted(self, toner):
        img = _scene(64, 64, noise=3)
        dark = (img * 0.45).astype(np.uint8)
        out = toner.correct(dark)
        assert np.abs(out.astype(int) - img).mean() < 0.6 * np.abs(dark.astype(int) - img).mean()

    def test_alpha_is_accepted(self, toner):
        img = _scene(16, 16)
        alpha = np.zeros((16, 16), np.uint8)
        alpha[:, 8:] = 255
        assert toner.correct(img, alpha).shape == (16, 16, 3)
