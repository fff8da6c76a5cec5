"""Pure-numpy stand-ins for the image ports: fast to build, deterministic, for tests.

They are correct enough to exercise the pipeline's logic (shapes, alpha, grey
handling) without opencv or Pillow.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from cropedly_core.images.geometry import Rect
from cropedly_core.images.model import Pixels


def _box(plane: NDArray[np.float32], radius: int, axis: int) -> NDArray[np.float32]:
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius + 1, radius)
    padded = np.pad(plane.astype(np.float64), pad, mode="edge")
    csum = np.cumsum(padded, axis=axis)
    n = plane.shape[axis]
    upper = np.take(csum, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
    lower = np.take(csum, np.arange(n), axis=axis)
    return ((upper - lower) / (2 * radius + 1)).astype(np.float32)


class BoxBlur:
    """Three box passes per axis: within a few per cent of a Gaussian of the same sigma."""

    def blur(self, plane: NDArray[np.float32], sigma: float) -> NDArray[np.float32]:
        # Three boxes of width w have variance 3 * (w^2 - 1) / 12 = sigma^2.
        radius = max(0, round((math.sqrt(4 * sigma * sigma + 1) - 1) / 2))
        out = plane.astype(np.float32)
        if radius == 0:
            return out
        for axis in (0, 1):
            for _ in range(3):
                out = _box(out, radius, axis)
        return out


class MeanDenoiser:
    """Blends towards a 3 x 3 mean, more for stronger noise; no edge preservation."""

    def denoise(self, rgb: Pixels, sigma: float) -> Pixels:
        weight = min(1.0, sigma / 10)
        src = rgb.astype(np.float32)
        padded = np.pad(src, ((1, 1), (1, 1), (0, 0)), mode="edge")
        h, w = rgb.shape[:2]
        mean = sum(
            padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)
        ) / np.float32(9)
        out = src * (1 - weight) + mean * weight
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class NearestUpscaler:
    """Pixel repetition: exact sizes, every channel (alpha included) carried along."""

    def upscale(self, pixels: Pixels, factor: int) -> Pixels:
        return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


class MeanRestorer:
    """The ``Restorer`` stand-in: a 3 x 3 mean blended in half; same shape, less noise."""

    def restore(self, rgb: Pixels) -> Pixels:
        out: Pixels = MeanDenoiser().denoise(rgb, 5.0)
        return out


class LevelsToneCorrector:
    """The ``ToneCorrector`` stand-in: each channel's 1st-99th percentile stretched to 0-255."""

    def correct(self, rgb: Pixels, alpha: Pixels | None = None) -> Pixels:
        sample = rgb if alpha is None or not (alpha >= 128).any() else rgb[alpha >= 128][None]
        lo, hi = np.percentile(sample.reshape(-1, 3), [1, 99], axis=0)
        scale = 255.0 / np.maximum(hi - lo, 1.0)
        out = (rgb.astype(np.float32) - lo.astype(np.float32)) * scale.astype(np.float32)
        result: Pixels = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        return result


class IndexResampler:
    """Exact-size resizing by picking source rows and columns: fast and deterministic.

    Test stand-in only: it aliases when shrinking, which the real adapter must not.
    """

    def resize(self, pixels: Pixels, width: int, height: int) -> Pixels:
        h, w = pixels.shape[:2]
        rows = np.minimum((np.arange(height) * h) // height, h - 1)
        cols = np.minimum((np.arange(width) * w) // width, w - 1)
        return np.ascontiguousarray(pixels[rows][:, cols])


class FixedFaces:
    """Reports the faces it was given, scaled from the size they were given for."""

    def __init__(
        self, faces: list[Rect] | None = None, size: tuple[int, int] | None = None
    ) -> None:
        self.faces = list(faces or [])
        self.size = size

    def detect(self, rgb: Pixels) -> list[Rect]:
        if self.size is None:
            return list(self.faces)
        sx = rgb.shape[1] / self.size[0]
        sy = rgb.shape[0] / self.size[1]
        return [
            Rect(round(f.x * sx), round(f.y * sy), round(f.w * sx), round(f.h * sy))
            for f in self.faces
        ]


class ContrastSaliency:
    """Distance of each pixel's colour from the image's mean colour."""

    def saliency(self, rgb: Pixels) -> NDArray[np.float32]:
        src = rgb[..., :3].astype(np.float32)
        mean = src.reshape(-1, 3).mean(axis=0)
        out: NDArray[np.float32] = np.sqrt(((src - mean) ** 2).sum(axis=2)).astype(np.float32)
        return out
