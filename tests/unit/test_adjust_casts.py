"""Known limit of the automatic white balance: a frame-filling blue sky fools it.

Grey-world, white-patch and grey-pixel estimates all read a pale-blue sky as a blue
cast, so a warm cast is pushed warmer, and the levels stretch adds chroma to a cool
one. Strict xfails: they start failing (and must be turned into plain tests) when the
white balance learns to tell sky from light.
"""

from __future__ import annotations

import numpy as np
import pytest

from cropedly_adapters.opencv_filters import OpenCvBlur
from cropedly_core.images.adjust import AdjustSettings, auto_tone
from cropedly_core.images.quality import linear_to_srgb, srgb_to_lab, srgb_to_linear


def _sky_scene() -> np.ndarray:
    """Mostly pale-blue sky over green ground, with a grey card: hard for grey-world."""
    h, w = 120, 180
    t = np.linspace(0, 1, h)[:, None, None]
    sky = (1 - t) * np.array([90, 140, 200]) + t * np.array([200, 215, 225])
    image = np.broadcast_to(sky, (h, w, 3)).copy()
    image[80:, :] = (60, 110, 60)
    image[90:110, 70:100] = (128, 128, 128)
    rng = np.random.default_rng(0)
    return np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)


def _cast(pixels: np.ndarray, gains: tuple[float, float, float]) -> np.ndarray:
    linear = srgb_to_linear(pixels / 255.0) * np.asarray(gains)
    return np.rint(np.clip(linear_to_srgb(np.clip(linear, 0, 1)), 0, 1) * 255).astype(np.uint8)


def _card_b(pixels: np.ndarray) -> float:
    return float(srgb_to_lab(pixels[92:108, 72:98]).reshape(-1, 3)[:, 2].mean())


@pytest.mark.xfail(strict=True, reason="global illuminant estimators read sky as a cast")
class TestCastsOnSkyScenes:
    def test_a_warm_cast_does_not_get_warmer(self) -> None:
        """The grey card's b* (yellowness) does not grow under adjust=auto."""
        warm = _cast(_sky_scene(), (1.15, 1.0, 0.78))
        out = auto_tone(warm, OpenCvBlur(), AdjustSettings())
        assert _card_b(out) <= _card_b(warm) + 1.0

    def test_a_cool_cast_does_not_get_cooler(self) -> None:
        """The grey card's b* does not fall further under adjust=auto."""
        cool = _cast(_sky_scene(), (0.82, 1.0, 1.2))
        out = auto_tone(cool, OpenCvBlur(), AdjustSettings())
        assert _card_b(out) >= _card_b(cool) - 1.0
