"""The numeric steps of ``adjust=auto``: clean, tone and colour, local contrast, sharpen.

Design notes (the why):

* Global corrections (levels, midtones, white balance) are folded into one 256-entry
  lookup table per channel and applied once: no float copy of the image, so a 50 MP
  photo costs one uint8 pass.
* Statistics come from a strided sample of at most 65,536 pixels (a 256 x 256
  thumbnail's worth): percentiles and means are stable long before that, the cost
  no longer grows with image size, and on a 2 MP photo planning takes about a
  quarter of the time 250 k samples took (the share of the job it took was larger
  than decoding and encoding together).
* Local steps (local contrast, sharpen) change lightness only: one delta is added to
  R, G and B alike, which leaves the colour-difference signals (Cb, Cr) untouched, so
  hues, skin tones included, cannot drift. They run over strips of rows so the float
  working set stays around a megapixel whatever the image size.
* Every correction has a dead zone: an image whose black point, white point, midtones
  and grey balance are already fine gets an identity table and changes little.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import attrs
import numpy as np
from numpy.typing import NDArray

from cropedly_core.images.model import Pixels
from cropedly_core.images.ports import Blur, Denoiser
from cropedly_core.images.quality import (
    LUMA_WEIGHTS,
    Plane,
    centre_crop,
    estimate_blockiness,
    estimate_noise,
    linear_to_srgb,
    luma,
    srgb_to_linear,
)

Curves = NDArray[np.uint8]
"""3 x 256 lookup table, one row per channel."""

_STRIP_PIXELS = 1 << 20


@attrs.frozen
class AdjustSettings:
    """Tuning of the automatic steps; defaults were measured on the SR data set.

    Attributes:
        clip_percent: share of darkest and brightest pixels levels may clip, each side.
        black_tolerance: a black point at or below this is left alone (0-255).
        white_tolerance: a white point at or above ``255 - white_tolerance`` is left alone.
        max_gain: the strongest contrast stretch levels may apply.
        levels_strength: share of the measured black/white point gap that is closed.
        midtone_range: median lightness (0-1) outside which midtones are pulled back.
        max_gamma: the strongest midtone correction, either way.
        wb_min_cast: casts weaker than this (log of the channel gain) are left alone.
        wb_strength: share of the estimated cast that is removed.
        wb_max_gain: the largest per-channel gain white balance may apply.
        skin_guard: share of skin-coloured pixels at which white balance is off.
        local_contrast: the strongest local contrast boost (0 disables it).
        local_contrast_target: detail level (0-255 std) above which no boost is added.
        noise_threshold: estimated noise (0-255 std) below which nothing is denoised.
        blockiness_threshold: JPEG blocking ratio below which nothing is deblocked.
        learned_blockiness_threshold: the same for the learned restorer, which is
            gentler on clean detail than the classic denoiser: on Set5 degraded with
            JPEG 45-75 the ratio measured 1.09-1.38 while clean images read 1.0.
        sharpen_amount: unsharp-mask amount at 1x output.
        sharpen_threshold: detail smaller than this (0-255) is not sharpened (noise).
    """

    clip_percent: float = 0.3
    black_tolerance: float = 6.0
    white_tolerance: float = 8.0
    max_gain: float = 3.0
    midtone_range: tuple[float, float] = (0.25, 0.62)
    max_gamma: float = 1.6
    levels_strength: float = 0.75
    wb_min_cast: float = 0.05
    wb_strength: float = 0.85
    wb_max_gain: float = 1.25
    skin_guard: float = 0.3
    local_contrast: float = 0.35
    local_contrast_target: float = 14.0
    noise_threshold: float = 2.5
    blockiness_threshold: float = 1.2
    learned_blockiness_threshold: float = 1.05
    sharpen_amount: float = 0.45
    sharpen_threshold: float = 2.0


# --- sampling -------------------------------------------------------------------------


def sample_rgb(
    rgb: Pixels, alpha: Pixels | None = None, max_samples: int = 65_536
) -> NDArray[np.float64]:
    """N x 3 floats in 0..1 from a regular grid over the (mostly) opaque pixels."""
    h, w = rgb.shape[:2]
    step = max(1, math.ceil(math.sqrt(h * w / max_samples)))
    flat = rgb[::step, ::step, :3].reshape(-1, 3)
    if alpha is not None:
        opaque = alpha[::step, ::step].reshape(-1) >= 128
        if opaque.any():
            flat = flat[opaque]
    return flat.astype(np.float64) / 255.0


def _strips(height: int, width: int) -> Iterator[tuple[int, int]]:
    rows = max(8, _STRIP_PIXELS // max(1, width))
    for top in range(0, height, rows):
        yield top, min(height, top + rows)


def _add_lightness(rgb: Pixels, delta: Plane) -> Pixels:
    """rgb + delta on every channel, rounded and clipped to uint8."""
    work = rgb[..., :3].astype(np.float32)
    work += delta[..., None]
    np.rint(work, out=work)
    np.clip(work, 0, 255, out=work)
    return work.astype(np.uint8)


def _protect_extremes(y: Plane) -> Plane:
    """Weight 1 in the midtones falling to 0 at black and white: no clipping from local steps."""
    t = y * np.float32(1 / 255)
    weight = np.float32(4.5) * t * (np.float32(1) - t)
    np.clip(weight, 0, 1, out=weight)
    return weight


# --- global tone and colour ---------------------------------------------------------


@attrs.frozen
class TonePlan:
    """What the global correction decided, kept for reports and tests."""

    black: float
    white: float
    gamma: float
    gains: tuple[float, float, float]

    @property
    def is_identity(self) -> bool:
        return (
            self.black == 0.0
            and self.white == 255.0
            and self.gamma == 1.0
            and self.gains == (1.0, 1.0, 1.0)
        )


def _levels(samples: NDArray[np.float64], settings: AdjustSettings) -> tuple[float, float]:
    lo = float(np.percentile(samples.min(axis=1), settings.clip_percent)) * 255
    hi = float(np.percentile(samples.max(axis=1), 100 - settings.clip_percent)) * 255
    black = 0.0 if lo <= settings.black_tolerance else min(lo, 80.0)
    white = 255.0 if hi >= 255 - settings.white_tolerance else max(hi, 128.0)
    if white - black < 255 / settings.max_gain:
        # Too flat to stretch fully (fog, a blank wall): stretch as far as allowed,
        # centred on the content.
        mid = (white + black) / 2
        half = 255 / settings.max_gain / 2
        black, white = max(0.0, mid - half), min(255.0, mid + half)
    # Close only part of the gap: hazy photos are often hazy on purpose.
    k = settings.levels_strength
    return black * k, 255 - (255 - white) * k


def _gamma(lightness: NDArray[np.float64], settings: AdjustSettings) -> float:
    median = float(np.median(lightness))
    lo, hi = settings.midtone_range
    if lo <= median <= hi or median <= 0.0 or median >= 1.0:
        return 1.0
    target = lo if median < lo else hi
    gamma = math.log(target) / math.log(median)
    return float(min(settings.max_gamma, max(1 / settings.max_gamma, gamma)))


def _chromaticity(rgb: NDArray[np.float64]) -> NDArray[np.float64]:
    total = float(rgb.sum())
    return rgb / total if total > 0 else np.full(3, 1 / 3)


def _grey_pixels(px: NDArray[np.float64]) -> NDArray[np.float64]:
    """Mean colour of the pixels that look neutral, tightening around the estimate.

    Starts within a wide radius of neutral (a cast moves greys by about 0.07 in
    rg-chromaticity; skin sits at 0.14 and beyond); falls back to neutral when too
    few pixels qualify (a sunset, a close-up of a face).
    """
    chroma = px / px.sum(axis=1, keepdims=True)
    centre = np.full(3, 1 / 3)
    for radius in (0.1, 0.07, 0.05):
        near = np.linalg.norm(chroma - centre, axis=1) < radius
        if near.sum() < max(50, 0.02 * px.shape[0]):
            return np.full(3, 1 / 3)
        centre = _chromaticity(px[near].mean(axis=0))
    return centre


def _cast_log_gains(linear: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """Per-channel log gains that neutralise the light's colour, by consensus.

    Grey-world (the mean), white-patch (the brightest unclipped pixels) and
    grey-pixel estimates each fail on some scenes: a forest is "green" to grey-world,
    a blue sky to white-patch. A real cast moves all three the same way, scene
    content rarely does, so the per-channel median of the three is used: one
    fooled estimator cannot recolour a good photo.
    """
    bright = linear.sum(axis=1)
    usable = (bright > 0.06) & (linear.max(axis=1) < 0.97)
    px = linear[usable]
    if px.shape[0] < 100:
        return None
    lum = px @ np.array([0.2126, 0.7152, 0.0722])
    top = px[lum >= np.percentile(lum, 95)]
    estimates = np.stack(
        [_chromaticity(px.mean(axis=0)), _chromaticity(top.mean(axis=0)), _grey_pixels(px)]
    )
    log_gains = np.log(1 / 3) - np.log(np.clip(estimates, 1e-4, None))
    log_gains -= log_gains.mean(axis=1, keepdims=True)
    # Per channel: the grey-pixel estimate, when grey-world agrees on the direction
    # (white-patch breaks ties), never more than the larger of the other two.
    grey_world, white_patch, grey_pixel = log_gains
    agree = (np.sign(grey_pixel) == np.sign(grey_world)) & (
        np.sign(grey_pixel) == np.sign(white_patch)
    )
    bound = np.maximum(np.abs(grey_world), np.abs(white_patch))
    chosen = np.sign(grey_pixel) * np.minimum(np.abs(grey_pixel), bound)
    return np.where(agree, chosen, 0.0)


def skin_fraction(samples: NDArray[np.float64]) -> float:
    """Share of pixels in the usual skin cluster (Chai and Ngan's Cb/Cr box).

    The box is wide enough to hold skin under the casts white balance is asked to
    remove, which is the point: a face close-up is not a cast to be corrected.
    """
    rgb = samples * 255
    cb = 128 - 0.168736 * rgb[:, 0] - 0.331264 * rgb[:, 1] + 0.5 * rgb[:, 2]
    cr = 128 + 0.5 * rgb[:, 0] - 0.418688 * rgb[:, 1] - 0.081312 * rgb[:, 2]
    # Cr from 138 rather than the usual 133 so that warm-cast greys do not count.
    skin = (cb >= 77) & (cb <= 122) & (cr >= 138) & (cr <= 173)
    return float(skin.mean()) if skin.size else 0.0


def _white_balance(
    linear: NDArray[np.float64], settings: AdjustSettings, skin: float
) -> tuple[float, float, float]:
    log_gains = _cast_log_gains(linear)
    if log_gains is None:
        return (1.0, 1.0, 1.0)
    # Where skin fills the frame the estimators read the skin as a warm cast;
    # fade the correction out rather than turn faces grey.
    log_gains = log_gains * max(0.0, 1 - skin / settings.skin_guard)
    log_gains = log_gains - log_gains.mean()
    # Soft dead zone: small estimated casts are scene content, not light.
    magnitude = np.abs(log_gains)
    shrunk = np.sign(log_gains) * np.clip(magnitude - settings.wb_min_cast, 0, None)
    if not shrunk.any():
        return (1.0, 1.0, 1.0)
    limit = math.log(settings.wb_max_gain)
    g = np.exp(np.clip(shrunk * settings.wb_strength, -limit, limit))
    # Keep luminance, then back off if the gains would push highlights past white.
    lum = np.array([0.2126, 0.7152, 0.0722])
    mean = linear.mean(axis=0)
    g = g * float(lum @ mean) / float(lum @ (g * mean))
    peak = float(np.percentile((linear * g).max(axis=1), 99.7))
    if peak > 1.0:
        g = g / peak
    return (float(g[0]), float(g[1]), float(g[2]))


def plan_tone(
    rgb: Pixels, settings: AdjustSettings, *, alpha: Pixels | None = None, grey: bool = False
) -> TonePlan:
    """Decide levels, midtones and white balance from a sample of the image."""
    samples = sample_rgb(rgb, alpha)
    if samples.shape[0] == 0:
        return TonePlan(0.0, 255.0, 1.0, (1.0, 1.0, 1.0))
    black, white = _levels(samples, settings)
    stretched = np.clip((samples * 255 - black) / (white - black), 0, 1)
    gamma = _gamma(stretched @ np.array(LUMA_WEIGHTS), settings)
    gains = (1.0, 1.0, 1.0)
    if not grey:
        gains = _white_balance(srgb_to_linear(stretched**gamma), settings, skin_fraction(samples))
    return TonePlan(black, white, gamma, gains)


def tone_curves(plan: TonePlan) -> Curves:
    """The plan as one lookup table per channel."""
    v = np.arange(256, dtype=np.float64)
    t = np.clip((v - plan.black) / (plan.white - plan.black), 0, 1) ** plan.gamma
    curves = np.empty((3, 256), dtype=np.uint8)
    if plan.gains == (1.0, 1.0, 1.0):
        curves[:] = np.rint(t * 255).astype(np.uint8)
        return curves
    linear = srgb_to_linear(t)
    for c, gain in enumerate(plan.gains):
        curves[c] = np.rint(np.clip(linear_to_srgb(linear * gain), 0, 1) * 255).astype(np.uint8)
    return curves


def apply_curves(rgb: Pixels, curves: Curves) -> Pixels:
    out = np.empty((*rgb.shape[:2], 3), dtype=np.uint8)
    for c in range(3):
        out[..., c] = curves[c][rgb[..., c]]
    return out


# --- local contrast --------------------------------------------------------------------


def _downsampled_luma(rgb: Pixels, k: int) -> Plane:
    """Block means of luma over k x k tiles, computed strip by strip."""
    h, w = rgb.shape[:2]
    hs, ws = h // k, w // k
    out = np.empty((hs, ws), dtype=np.float32)
    rows = max(1, _STRIP_PIXELS // max(1, w * k)) * k
    for top in range(0, hs * k, rows):
        bottom = min(hs * k, top + rows)
        y = luma(rgb[top:bottom, : ws * k])
        out[top // k : bottom // k] = y.reshape((bottom - top) // k, k, ws, k).mean(axis=(1, 3))
    return out


def _bilinear_axis(
    n_full: int, n_small: int, k: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], Plane]:
    pos = (np.arange(n_full, dtype=np.float32) + 0.5) / k - 0.5
    np.clip(pos, 0, n_small - 1, out=pos)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_small - 1)
    return i0, i1, (pos - i0).astype(np.float32)


def local_contrast(rgb: Pixels, blur: Blur, settings: AdjustSettings) -> Pixels:
    """Boost detail against a large-radius base layer of lightness, where the image is flat.

    The base is built at ~512 px on the long side, blurred there and interpolated back
    per strip: the radius stays proportional to the picture, the cost does not grow
    with the blur radius and a 50 MP image never needs a full-size float plane.
    """
    h, w = rgb.shape[:2]
    k = max(1, math.ceil(max(h, w) / 512))
    if h // k < 4 or w // k < 4 or settings.local_contrast <= 0:
        return rgb
    small = _downsampled_luma(rgb, k)
    base = blur.blur(small, sigma=max(2.0, max(small.shape) / 64))
    detail_std = float(np.std(small - base))
    amount = settings.local_contrast * min(
        1.0, max(0.0, 1 - detail_std / settings.local_contrast_target)
    )
    if amount < 0.02:
        return rgb
    hs, ws = base.shape
    x0, x1, fx = _bilinear_axis(w, ws, k)
    out = np.empty((h, w, 3), dtype=np.uint8)
    for top, bottom in _strips(h, w):
        y0, y1, fy = _bilinear_axis(h, hs, k)
        rows = (
            base[y0[top:bottom]] * (1 - fy[top:bottom, None])
            + base[y1[top:bottom]] * fy[top:bottom, None]
        )
        base_full = rows[:, x0] * (1 - fx) + rows[:, x1] * fx
        y = luma(rgb[top:bottom])
        delta = (y - base_full.astype(np.float32)) * _protect_extremes(y) * np.float32(amount)
        out[top:bottom] = _add_lightness(rgb[top:bottom], delta)
    return out


# --- clean and sharpen ----------------------------------------------------------------


@attrs.frozen
class CleanPlan:
    noise: float
    blockiness: float
    sigma: float


def plan_clean(rgb: Pixels, source_format: str, settings: AdjustSettings) -> CleanPlan:
    """Estimate noise (and JPEG blocking) on a full-resolution crop and pick a strength."""
    y = luma(centre_crop(rgb, 1024))
    noise = estimate_noise(y)
    blockiness = estimate_blockiness(y) if source_format.upper() in {"JPEG", "MPO"} else 1.0
    sigma = noise if noise >= settings.noise_threshold else 0.0
    if blockiness >= settings.blockiness_threshold:
        sigma = max(sigma, min(8.0, 2.0 + 10 * (blockiness - settings.blockiness_threshold)))
    return CleanPlan(noise, blockiness, min(sigma, 20.0))


def clean(rgb: Pixels, denoiser: Denoiser, source_format: str, settings: AdjustSettings) -> Pixels:
    plan = plan_clean(rgb, source_format, settings)
    if plan.sigma <= 0:
        return rgb
    return denoiser.denoise(np.ascontiguousarray(rgb), plan.sigma)


def sharpen(rgb: Pixels, blur: Blur, factor: int, settings: AdjustSettings) -> Pixels:
    """Unsharp mask on lightness whose radius follows the upscale factor.

    After an n-times enlargement the finest real detail is about n pixels wide, so the
    radius grows with sqrt(n) and the amount a little; a fixed 1x radius would only
    sharpen interpolation ripple.
    """
    if settings.sharpen_amount <= 0:
        return rgb
    sigma = 0.7 * math.sqrt(factor)
    amount = np.float32(settings.sharpen_amount * (1 + 0.15 * math.log2(factor)))
    threshold = np.float32(settings.sharpen_threshold)
    halo = math.ceil(3 * sigma) + 1
    h, w = rgb.shape[:2]
    out = np.empty((h, w, 3), dtype=np.uint8)
    for top, bottom in _strips(h, w):
        lo, hi = max(0, top - halo), min(h, bottom + halo)
        y = luma(rgb[lo:hi])
        detail = (y - blur.blur(y, sigma))[top - lo : bottom - lo]
        # Soft threshold: small (noise-sized) wiggles are left as they are.
        mag = np.abs(detail)
        soft = np.clip((mag - threshold) / np.maximum(mag, np.float32(1e-3)), 0, 1)
        yc = y[top - lo : bottom - lo]
        delta = detail * soft * _protect_extremes(yc) * amount
        out[top:bottom] = _add_lightness(rgb[top:bottom], delta)
    return out


def auto_tone(
    rgb: Pixels,
    blur: Blur,
    settings: AdjustSettings,
    *,
    alpha: Pixels | None = None,
    grey: bool = False,
) -> Pixels:
    """Levels, midtones and white balance, then local contrast; returns H x W x 3.

    Transparent pixels (``alpha`` < 128) are left out of the statistics: their colour
    is often junk nobody sees.
    """
    plan = plan_tone(rgb, settings, alpha=alpha, grey=grey)
    out = rgb if plan.is_identity else apply_curves(rgb, tone_curves(plan))
    return local_contrast(out, blur, settings)
