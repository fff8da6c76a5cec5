"""OpenCV implementations of the filter ports (Blur, Denoiser)."""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from cropedly_core.images.model import Pixels

_STRIP_PIXELS = 2 << 20


class OpenCvBlur:
    """Separable Gaussian blur, replicated borders (so strips stitch without seams)."""

    def blur(self, plane: NDArray[np.float32], sigma: float) -> NDArray[np.float32]:
        src = np.ascontiguousarray(plane, dtype=np.float32)
        ksize = 2 * math.ceil(3 * sigma) + 1
        out = cv2.GaussianBlur(
            src, (ksize, ksize), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE
        )
        return np.asarray(out, dtype=np.float32)


class OpenCvDenoiser:
    """Non-local means on small images, a bilateral filter beyond.

    Non-local means removes noise and JPEG blocking best but runs at well under
    1 MP/s; past ``nlmeans_max_pixels`` the bilateral filter (tens of MP/s) keeps a
    big photo within the worker's time budget. Both run over strips with a halo.
    The result is blended with the input so the step stays gentle.
    """

    def __init__(self, nlmeans_max_pixels: int = 3_000_000, blend: float = 0.8) -> None:
        self._nlmeans_max_pixels = nlmeans_max_pixels
        self._blend = blend

    def denoise(self, rgb: Pixels, sigma: float) -> Pixels:
        h, w = rgb.shape[:2]
        src = np.ascontiguousarray(rgb[..., :3])
        use_nlm = h * w <= self._nlmeans_max_pixels
        halo = 12 if use_nlm else 4
        rows = max(16, _STRIP_PIXELS // max(1, w))
        out = np.empty_like(src)
        for top in range(0, h, rows):
            bottom = min(h, top + rows)
            lo, hi = max(0, top - halo), min(h, bottom + halo)
            part = np.ascontiguousarray(src[lo:hi])
            if use_nlm:
                filtered = cv2.fastNlMeansDenoisingColored(
                    part,
                    None,
                    h=float(0.9 * sigma),
                    hColor=float(0.9 * sigma),
                    templateWindowSize=5,
                    searchWindowSize=15,
                )
            else:
                filtered = cv2.bilateralFilter(
                    part,
                    d=5,
                    sigmaColor=float(3 * sigma),
                    sigmaSpace=1.5,
                    borderType=cv2.BORDER_REPLICATE,
                )
            out[top:bottom] = cv2.addWeighted(filtered, self._blend, part, 1 - self._blend, 0.0)[
                top - lo : bottom - lo
            ]
        return out
