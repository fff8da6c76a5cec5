"""The Saliency port on OpenCV: how unlike the rest of the picture each patch is.

Context-aware rarity (after Goferman, Zelnik-Manor and Tal, 2010): the picture is cut
into ``CELL`` x ``CELL`` patches described by their CIELAB mean and spread and their
edge energy and direction; a patch is salient when even its nearest ``NEAREST`` share
of the other patches are far from it in that feature space. Background (sky, grass,
walls, texture) repeats, so each of its patches has many close neighbours; a subject
is rare, so its patches must reach across to unlike ones. The map is smoothed and
squared, which favours the strongest region over widespread mild contrast.

Chosen by ``bench/bench_crop.py`` on a development split (seed 13) over spectral
residual, centre-surround colour contrast, edge density, global colour-histogram
contrast and their sums; the figures in docs/enhancement.md are from a different split.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from cropedly_core.images.model import Pixels

CELL = 8
"""Patch side in pixels of the analysis copy (the core hands over about 256 px)."""

NEAREST = 0.15
"""Share of the other patches whose mean distance makes a patch's rarity."""


def _norm(plane: NDArray[np.float32]) -> NDArray[np.float32]:
    lo, hi = float(plane.min()), float(plane.max())
    if hi - lo < 1e-6:  # flat: nothing stands out
        return np.zeros(plane.shape, dtype=np.float32)
    return ((plane - lo) / (hi - lo)).astype(np.float32)


def _features(rgb: Pixels, cell: int) -> NDArray[np.float32]:
    """(rows, cols, 8) per-patch features, each standardised over the picture."""
    h, w = rgb.shape[:2]
    rows, cols = h // cell, w // cell
    lab = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2LAB).astype(np.float32)
    gx = cv2.Sobel(lab[..., 0], cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lab[..., 0], cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.asarray(cv2.magnitude(gx, gy), dtype=np.float32)

    def cells(plane: NDArray[np.float32]) -> NDArray[np.float32]:
        cut = plane[: rows * cell, : cols * cell]
        return cut.reshape(rows, cell, cols, cell, -1)

    colour = cells(lab)
    edges = cells(magnitude[..., None]).mean(axis=(1, 3))
    horizontal = cells(np.abs(gx)[..., None]).mean(axis=(1, 3)) / (1 + edges)
    feats = np.concatenate(
        [colour.mean(axis=(1, 3)), colour.std(axis=(1, 3)), edges, horizontal], axis=-1
    ).reshape(rows * cols, -1)
    spread = feats.std(axis=0)
    out: NDArray[np.float32] = ((feats - feats.mean(axis=0)) / (spread + 1e-6)).astype(np.float32)
    return out


class OpenCvSaliency:
    """Patch rarity (see the module docstring)."""

    def saliency(self, rgb: Pixels) -> NDArray[np.float32]:
        h, w = rgb.shape[:2]
        cell = CELL if min(h, w) >= 4 * CELL else max(1, min(h, w) // 4)
        rows, cols = h // cell, w // cell
        if rows * cols < 2:  # a single patch has nothing to differ from
            return np.zeros((h, w), dtype=np.float32)
        feats = _features(rgb, cell)
        # Squared distances by the dot-product identity: no n x n x 8 temporary.
        sq = (feats * feats).sum(axis=1)
        dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * feats @ feats.T, 0))
        k = max(1, round(NEAREST * (len(feats) - 1)))
        nearest = np.partition(dist, k, axis=1)[:, 1 : k + 1]
        rarity = nearest.mean(axis=1).reshape(rows, cols).astype(np.float32)
        full = cv2.resize(rarity, (w, h), interpolation=cv2.INTER_LINEAR)
        smooth = cv2.GaussianBlur(full, (0, 0), 3.0)
        return np.square(_norm(np.asarray(smooth, dtype=np.float32)))
