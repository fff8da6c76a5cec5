"""Content-aware placement of a crop window: ``smart``, ``faces`` and ``center``.

Works on a small analysis copy (longest side ``ANALYSIS_SIDE``): a saliency map and
face boxes come from ports, every candidate window position is scored at once with a
summed-area table, and the best position is scaled back to source pixels.

Scores, for a window position:
- ``smart``: the share of the image's saliency inside the window, plus, for every face
  kept whole with headroom above it, a bonus larger than any saliency share (so faces
  are never cut when they can be kept), weighted by face area so a crowd of small
  background faces does not outvote the main one.
- ``faces``: the face bonus alone (every face when they fit together), ties broken
  by closeness to the faces' centre; no faces falls back to ``smart``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from cropedly_core.images.geometry import Crop, Rect, center_window
from cropedly_core.images.model import Pixels
from cropedly_core.images.ports import FaceDetector, Resampler, Saliency

ANALYSIS_SIDE = 256
"""Longest side of the saliency copy: placement needs the layout, not the detail."""

FACE_SIDE = 640
"""Longest side of the copy the face detector sees: small enough to be fast, large
enough that faces of a tenth of the picture are still 40+ pixels."""

HEADROOM = 0.5
"""Space kept above a face, in face heights: a crop that starts at the hairline looks cut."""

EDGE_STRIP = 3
"""Width, in analysis pixels, of the strip along a cut edge whose saliency counts against it."""

EDGE_PENALTY = 8.0
"""Weight of the saliency a cut edge slices through (see ``_saliency_score``)."""

CHIN_ROOM = 0.25
SIDE_ROOM = 0.15


def _small(pixels: Pixels, side: int, resampler: Resampler) -> tuple[Pixels, float]:
    h, w = pixels.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale >= 1.0:
        return pixels[..., :3], 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return resampler.resize(np.ascontiguousarray(pixels[..., :3]), *size), scale


def _window_sums(sal: NDArray[np.float64], ww: int, wh: int) -> NDArray[np.float64]:
    """Sum of ``sal`` in every ww x wh window: (H - wh + 1) x (W - ww + 1)."""
    table = np.zeros((sal.shape[0] + 1, sal.shape[1] + 1))
    table[1:, 1:] = sal.cumsum(0).cumsum(1)
    return table[wh:, ww:] - table[:-wh, ww:] - table[wh:, :-ww] + table[:-wh, :-ww]


def _saliency_score(sal: NDArray[np.float64], ww: int, wh: int) -> NDArray[np.float64]:
    """Share of the saliency inside each window, less what its cut edges slice through.

    The edge term makes a window step past a salient object rather than through it:
    keeping 80 % of everything but cutting the subject in half is the worse crop.
    """
    total = max(float(sal.sum()), 1e-9)
    score = _window_sums(sal, ww, wh) / total
    sh, sw = sal.shape
    t = EDGE_STRIP
    if ww < sw and ww > 2 * t:  # left and right edges cut the picture
        strip = _window_sums(sal, t, wh)
        score -= EDGE_PENALTY * (strip[:, : score.shape[1]] + strip[:, ww - t :]) / total
    if wh < sh and wh > 2 * t:  # top and bottom edges cut the picture
        strip = _window_sums(sal, ww, t)
        score -= EDGE_PENALTY * (strip[: score.shape[0]] + strip[wh - t :]) / total
    return score


def _face_kept(
    faces: Sequence[Rect], ww: int, wh: int, ny: int, nx: int, *, room: bool
) -> NDArray[np.float64]:
    """For every window position, the area-weighted share of faces kept whole."""
    ys = np.arange(ny)[:, None]
    xs = np.arange(nx)[None, :]
    total = sum(f.w * f.h for f in faces) or 1
    kept = np.zeros((ny, nx))
    for f in faces:
        top = f.y - (round(HEADROOM * f.h) if room else 0)
        bottom = f.bottom + (round(CHIN_ROOM * f.h) if room else 0)
        left = f.x - (round(SIDE_ROOM * f.w) if room else 0)
        right = f.right + (round(SIDE_ROOM * f.w) if room else 0)
        # Room is wanted, not required: clip it to the image, never ask for the impossible.
        top, left = max(top, 0), max(left, 0)
        bottom, right = min(bottom, ny - 1 + wh), min(right, nx - 1 + ww)
        inside = (ys <= top) & (ys + wh >= bottom) & (xs <= left) & (xs + ww >= right)
        kept += inside * (f.w * f.h / total)
    return kept


def _best(score: NDArray[np.float64], prefer: tuple[float, float]) -> tuple[int, int]:
    """The (y, x) of the highest score; among near-ties, the one nearest ``prefer``."""
    top = score.max()
    ys, xs = np.nonzero(score >= top - 1e-6 * max(1.0, abs(float(top))))
    dist = (ys - prefer[0]) ** 2 + (xs - prefer[1]) ** 2
    i = int(np.argmin(dist))
    return int(ys[i]), int(xs[i])


def place_window(
    pixels: Pixels,
    region: Rect,
    window: tuple[int, int],
    mode: Crop,
    *,
    resampler: Resampler,
    saliency: Saliency,
    faces: FaceDetector,
) -> Rect:
    """The window's position in source pixels, inside ``region``."""
    if mode is Crop.CENTER or window == (region.w, region.h):
        return center_window(region, window)
    part = pixels[region.y : region.bottom, region.x : region.right]
    # One pass over the full-size pixels: the saliency copy is made from the face copy
    # (a 12 MP picture is shrunk once, not twice).
    medium, medium_scale = _small(part, FACE_SIDE, resampler)
    found = _faces(medium, medium_scale, faces)
    small, small_scale = _small(medium, ANALYSIS_SIDE, resampler)
    scale = medium_scale * small_scale
    sh, sw = small.shape[:2]
    ww = min(sw, max(1, round(window[0] * scale)))
    wh = min(sh, max(1, round(window[1] * scale)))
    ny, nx = sh - wh + 1, sw - ww + 1
    faces_small = [
        Rect(
            round(f.x * scale),
            round(f.y * scale),
            max(1, round(f.w * scale)),
            max(1, round(f.h * scale)),
        )
        for f in found
    ]
    centre = ((ny - 1) / 2, (nx - 1) / 2)
    if mode is Crop.FACES and faces_small:
        kept = _face_kept(faces_small, ww, wh, ny, nx, room=True)
        kept += 0.5 * _face_kept(faces_small, ww, wh, ny, nx, room=False)
        left = min(f.x for f in faces_small)
        right = max(f.right for f in faces_small)
        top = min(f.y for f in faces_small)
        bottom = max(f.bottom for f in faces_small)
        fy = (top + bottom) / 2 - wh / 2 - HEADROOM * (bottom - top) / 4
        fx = (left + right) / 2 - ww / 2
        y, x = _best(kept, (fy, fx))
    else:
        sal = np.asarray(saliency.saliency(small), dtype=np.float64)
        score = _saliency_score(sal, ww, wh)
        if faces_small:
            score = score + 2 * _face_kept(faces_small, ww, wh, ny, nx, room=True)
            score = score + _face_kept(faces_small, ww, wh, ny, nx, room=False)
        y, x = _best(score, centre)
    # Back to source pixels; the exact window size is kept and clamped inside the region.
    sx = round(x / scale) if scale < 1 else x
    sy = round(y / scale) if scale < 1 else y
    sx = max(0, min(region.w - window[0], sx))
    sy = max(0, min(region.h - window[1], sy))
    return Rect(region.x + sx, region.y + sy, window[0], window[1])


def _faces(small: Pixels, scale: float, detector: FaceDetector) -> list[Rect]:
    """Faces found in ``small`` (the picture shrunk by ``scale``), in the picture's pixels."""
    boxes = detector.detect(np.ascontiguousarray(small))
    return [
        Rect(round(b.x / scale), round(b.y / scale), round(b.w / scale), round(b.h / scale))
        for b in boxes
    ]
