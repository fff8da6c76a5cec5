"""Synthetic tone and colour faults, drawn at random: training data and the benchmark's.

Every fault works on float RGB in [0, 1] (sRGB-encoded). Exposure and casts act in
linear light, as a camera's would; contrast, fading and saturation act on the encoded
values, as an editor's slider would.
"""

from __future__ import annotations

import numpy as np

FAMILIES = ("exposure", "contrast", "cast", "fading", "saturation")
LUMA = np.array([0.299, 0.587, 0.114])


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _either(rng: np.random.Generator, low: tuple[float, float], high: tuple[float, float]) -> float:
    return float(rng.uniform(*low) if rng.random() < 0.5 else rng.uniform(*high))


def apply_fault(rgb: np.ndarray, family: str, rng: np.random.Generator) -> np.ndarray:
    """``rgb`` with one fault of ``family`` at a random strength and direction."""
    if family == "exposure":  # both ways, in stops of linear light
        ev = _either(rng, (-1.6, -0.5), (0.4, 1.0))
        return linear_to_srgb(srgb_to_linear(rgb) * 2.0**ev)
    if family == "contrast":  # flatter or harder around mid-grey
        c = _either(rng, (0.5, 0.8), (1.2, 1.45))
        return np.clip(0.5 + (rgb - 0.5) * c, 0, 1)
    if family == "cast":  # white balance off in any hue direction
        theta = rng.uniform(0, 2 * np.pi)
        strength = rng.uniform(0.12, 0.35)
        log_gain = strength * np.cos(theta - np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3]))
        gain = np.exp(log_gain - float(LUMA @ log_gain))
        return linear_to_srgb(srgb_to_linear(rgb) * gain)
    if family == "fading":  # lifted blacks, dimmed whites, washed colour
        lift, drop = rng.uniform(0.08, 0.25), rng.uniform(0.0, 0.12)
        y = (rgb @ LUMA)[..., None]
        washed = y + rng.uniform(0.6, 0.95) * (rgb - y)
        return np.clip(lift + (1 - lift - drop) * washed, 0, 1)
    if family == "saturation":
        s = _either(rng, (0.45, 0.8), (1.25, 1.6))
        y = (rgb @ LUMA)[..., None]
        return np.clip(y + s * (rgb - y), 0, 1)
    raise ValueError(family)


def random_faults(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Training faults: none (a photo that needs nothing), one, or two families in random order."""
    r = rng.random()
    if r < 0.15:
        return rgb
    count = 1 if r < 0.7 else 2
    out = rgb
    for family in rng.permutation(FAMILIES)[:count]:
        out = apply_fault(out, str(family), rng)
    return out
