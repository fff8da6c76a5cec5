"""The numeric steps of adjust=auto and the measurements they rely on."""

from __future__ import annotations

import numpy as np
import pytest

from cropedly_adapters.memory_images import BoxBlur, MeanDenoiser
from cropedly_core.images.adjust import (
    AdjustSettings,
    auto_tone,
    clean,
    local_contrast,
    plan_clean,
    plan_tone,
    sharpen,
)
from cropedly_core.images.quality import (
    delta_e_2000,
    estimate_noise,
    linear_to_srgb,
    mean_delta_e,
    srgb_to_linear,
)

SETTINGS = AdjustSettings()
BLUR = BoxBlur()


def _scene(seed: int = 0, size: int = 96) -> np.ndarray:
    """A well-exposed synthetic photo: smooth colour field, neutral patches, deep shadow, white."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.05, 0.95, (6, 6, 3))
    field = np.kron(coarse, np.ones((size // 6, size // 6, 1)))
    ramp = np.linspace(0.0, 1.0, size)[None, :, None]
    field[: size // 6] = ramp  # a neutral grey ramp, black to white
    field[-size // 6 :, : size // 2] = 0.5  # a mid-grey card
    return np.rint(np.clip(field, 0, 1) * 255).astype(np.uint8)


def _linear_op(pixels: np.ndarray, gains) -> np.ndarray:
    lin = srgb_to_linear(pixels / 255.0) * np.asarray(gains)
    return np.rint(np.clip(linear_to_srgb(np.clip(lin, 0, 1)), 0, 1) * 255).astype(np.uint8)


# Sharma, Wu and Dalal (2005), test pairs 1, 2, 3, 7, 13, 17 and 18.
@pytest.mark.parametrize(
    ("lab1", "lab2", "expected"),
    [
        ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
        ((50, 3.1571, -77.2803), (50, 0, -82.7485), 2.8615),
        ((50, 2.8361, -74.0200), (50, 0, -82.7485), 3.4412),
        ((50, 0, 0), (50, -1, 2), 2.3669),
        ((50, 2.49, -0.001), (50, -2.49, 0.0009), 7.1792),
        ((50, 2.5, 0), (73, 25, -18), 27.1492),
        ((50, 2.5, 0), (61, -5, 29), 22.8977),
    ],
)
def test_ciede2000_matches_the_published_test_data(lab1, lab2, expected):
    got = delta_e_2000(np.array([lab1], float), np.array([lab2], float))
    assert got[0] == pytest.approx(expected, abs=1e-4)


def test_noise_estimate_finds_added_noise_and_ignores_texture():
    rng = np.random.default_rng(5)
    flat = np.full((128, 128), 120.0, np.float32)
    noisy = flat + rng.normal(0, 6.0, flat.shape).astype(np.float32)
    assert estimate_noise(noisy) == pytest.approx(6.0, rel=0.25)
    # Strong texture on half the frame must not read as noise.
    textured = flat.copy()
    textured[:, :64] += (np.indices((128, 64)).sum(axis=0) % 2) * 60
    assert estimate_noise(textured) < 1.0


def test_good_images_change_little():
    for seed in range(4):
        scene = _scene(seed)
        assert mean_delta_e(scene, auto_tone(scene, BLUR, SETTINGS)) < 1.5


# White balance is deliberately conservative (see docs/enhancement.md): casts are
# only required to shrink, exposure and contrast faults to shrink by a quarter.
@pytest.mark.parametrize(
    ("fault", "ratio"),
    [
        pytest.param(lambda p: _linear_op(p, 0.45), 0.75, id="under-exposed"),
        pytest.param(
            lambda p: np.rint(p * 0.55 + 0.2 * 255).astype(np.uint8), 0.75, id="low-contrast"
        ),
        pytest.param(lambda p: _linear_op(p, (1.15, 1.0, 0.78)), 1.0, id="warm-cast"),
        pytest.param(lambda p: _linear_op(p, (0.82, 1.0, 1.2)), 1.0, id="cool-cast"),
    ],
)
def test_faults_are_reduced(fault, ratio):
    scene = _scene(1)
    faulty = fault(scene)
    before = mean_delta_e(scene, faulty)
    after = mean_delta_e(scene, auto_tone(faulty, BLUR, SETTINGS))
    assert after < ratio * before


def test_grey_images_get_no_white_balance():
    grey = np.repeat(_scene(2)[..., 1:2], 3, axis=2)
    plan = plan_tone(_linear_op(grey, (1.2, 1.0, 0.8)), SETTINGS, grey=True)
    assert plan.gains == (1.0, 1.0, 1.0)


def test_highlights_are_not_blown():
    scene = _scene(3)
    out = auto_tone(_linear_op(scene, (1.15, 1.0, 0.78)), BLUR, SETTINGS)
    clipped_before = np.mean(scene.max(axis=2) == 255)
    assert np.mean(out.max(axis=2) == 255) <= clipped_before + 0.01


def test_local_steps_change_lightness_only():
    rng = np.random.default_rng(9)
    rgb = np.clip(_scene(4).astype(int) + rng.integers(-20, 20, (96, 96, 1)), 0, 255).astype(
        np.uint8
    )
    for out in (
        local_contrast(rgb, BLUR, AdjustSettings(local_contrast_target=1000)),
        sharpen(rgb, BLUR, 2, SETTINGS),
    ):
        assert out.shape == rgb.shape
        changed = (out.astype(int) - rgb.astype(int))[..., 0]
        assert np.abs(changed).max() > 0
        # One delta on every channel (except where clipped), so Cb and Cr stay put.
        unclipped = (rgb.min(axis=2) > 40) & (rgb.max(axis=2) < 215)
        diff = out.astype(int) - rgb.astype(int)
        assert np.abs(diff[..., 0] - diff[..., 2])[unclipped].max() <= 1


def test_clean_only_acts_on_noisy_images():
    scene = _scene(5)
    assert clean(scene, MeanDenoiser(), "PNG", SETTINGS) is scene
    rng = np.random.default_rng(6)
    noisy = np.clip(scene + rng.normal(0, 8, scene.shape), 0, 255).astype(np.uint8)
    plan = plan_clean(noisy, "PNG", SETTINGS)
    assert plan.sigma > SETTINGS.noise_threshold
    cleaned = clean(noisy, MeanDenoiser(), "PNG", SETTINGS)
    assert np.abs(cleaned.astype(int) - scene).mean() < np.abs(noisy.astype(int) - scene).mean()
