"""The Saliency port on OpenCV: how unlike the rest of the picture each patch is.

Context-aware rarity (after Goferman, Zelnik-Manor and Tal, 2010): the picture is cut
into square patches (``CELLS``) described by their CIELAB mean and spread and their
edge energy and direction; a patch is salient when even its nearest ``NEAREST`` share
of the other patches are far from it in that feature space. Background (sky, grass,
walls, texture) repeats, so each of its patches has many close neighbours; a subject
is rare, so its patches must reach across to unlike ones. The map is smoothed and
squared, which favours the strongest region over widespread mild contrast.

Chosen by ``bench/bench_crop.py`` on a development split (seed 13) over spectral
residual, centre-surround colour contrast, edge density, global colour-histogram
contrast and their sums; the figures in docs/enhancement.md are from a different split.

Depth of field: when much of the picture is out of focus (a wide aperture's defocused
background), the rarity is weighted by local sharpness, so the in-focus subject wins
over a rare but blurred background shape. The weight is gated by how much of the
picture is soft, so an all-sharp picture keeps the plain rarity (on the development
split this moved defocused-background cases from 91/89 % to 94/92 % kept, 1:1/16:9,
and left sharp ones unchanged; a boundary-background colour prior and a thresholded
"keep blobs whole" window score were tried there too and lost).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from cropedly_core.images.model import Pixels

CELLS = (8, 12)
"""Patch sides in pixels of the analysis copy (the core hands over about 256 px); the
rarity maps at both scales are averaged (on the development split, 8 and 12 together
kept 1-2 % more subjects than 8 alone)."""

NEAREST = 0.15
"""Share of the other patches whose mean distance makes a patch's rarity."""

FOCUS_SIGMA = 4.0
"""Scale, in analysis pixels, over which sharpness is pooled."""

SOFT = 0.4
"""A pixel is soft when its sharpness is below this share of the picture's 90th percentile."""

GATE = (0.4, 0.7)
"""Share of soft pixels at which the sharpness weight starts to count and fully counts."""


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


def _focus_weight(rgb: Pixels) -> NDArray[np.float32]:
    """Per-pixel weight in [0, 1]: 1 everywhere unless much of the picture is defocused.

    Sharpness is Laplacian energy over local contrast, so a low-contrast but in-focus
    surface is not taken for a blurred one.
    """
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    energy = cv2.GaussianBlur(np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=1)), (0, 0), FOCUS_SIGMA)
    detail = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 3.0))
    contrast = cv2.GaussianBlur(detail, (0, 0), FOCUS_SIGMA) + 4.0  # + 4: flat areas are not sharp
    sharp = energy / contrast
    top = float(np.percentile(sharp, 90))
    if top <= 1e-6:
        return np.ones(grey.shape, dtype=np.float32)
    share = np.clip(sharp / top, 0, 1)
    lo, hi = GATE
    gate = float(np.clip(((share < SOFT).mean() - lo) / (hi - lo), 0, 1))
    return np.asarray(1 - gate + gate * share, dtype=np.float32)


class OpenCvSaliency:
    """Patch rarity (see the module docstring)."""

    def saliency(self, rgb: Pixels) -> NDArray[np.float32]:
        h, w = rgb.shape[:2]
        rarity = np.zeros((h, w), dtype=np.float32)
        for side in CELLS:
            rarity += _rarity(rgb, side if min(h, w) >= 4 * side else max(1, min(h, w) // 4))
        weighted = rarity / len(CELLS) * _focus_weight(rgb)
        return np.square(weighted)


def _rarity(rgb: Pixels, cell: int) -> NDArray[np.float32]:
    """Each pixel's patch rarity at one patch size, smoothed and scaled to [0, 1]."""
    h, w = rgb.shape[:2]
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
    return _norm(np.asarray(smooth, dtype=np.float32))
