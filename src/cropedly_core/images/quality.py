"""Image measurements: colour conversions, colour differences, noise and blocking estimates.

Pure numpy so that the pipeline's decisions ("does this image need cleaning?") and
the benchmark's scores ("how far is the result from the original?") share one
implementation and can be tested without a codec.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from cropedly_core.images.model import Pixels

Plane = NDArray[np.float32]
"""H x W float32, one channel."""

FloatImage = NDArray[np.float64]

# Rec. 601 luma weights on gamma-encoded values: the "lightness" the local steps act on.
# Adding one delta to R, G and B leaves Cb and Cr, hence hue and saturation, unchanged.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])


def srgb_to_linear(values: NDArray[np.floating]) -> FloatImage:
    """sRGB-encoded values in 0..1 to linear light (IEC 61966-2-1)."""
    v = np.asarray(values, dtype=np.float64)
    out: FloatImage = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return out


def linear_to_srgb(values: NDArray[np.floating]) -> FloatImage:
    """Linear light in 0..1 to sRGB-encoded values (no clipping)."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, None)
    out: FloatImage = np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)
    return out


def srgb_to_lab(pixels: Pixels) -> FloatImage:
    """H x W x 3 (or 4, alpha ignored) uint8 sRGB to CIE L*a*b* (D65)."""
    rgb = srgb_to_linear(pixels[..., :3].astype(np.float64) / 255.0)
    xyz = rgb @ _SRGB_TO_XYZ.T / _D65_WHITE
    eps = 216 / 24389
    kappa = 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    lab = np.empty_like(f)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return np.asarray(lab, dtype=np.float64)


def delta_e_76(lab1: FloatImage, lab2: FloatImage) -> FloatImage:
    """CIE76: Euclidean distance in L*a*b*."""
    return np.asarray(np.sqrt(np.sum((lab1 - lab2) ** 2, axis=-1)), dtype=np.float64)


def delta_e_2000(lab1: FloatImage, lab2: FloatImage) -> FloatImage:
    """CIEDE2000 (Sharma, Wu and Dalal 2005), kL = kC = kH = 1."""
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c1 = np.hypot(a1, b1)
    c2 = np.hypot(a2, b2)
    c_bar7 = ((c1 + c2) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p = (1 + g) * a1
    a2p = (1 + g) * a2
    c1p = np.hypot(a1p, b1)
    c2p = np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360

    dLp = L2 - L1
    dCp = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dHp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)

    Lbp = (L1 + L2) / 2
    Cbp = (c1p + c2p) / 2
    hsum = h1p + h2p
    hbp = np.where(
        c1p * c2p == 0,
        hsum,
        np.where(
            np.abs(h1p - h2p) <= 180,
            hsum / 2,
            np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2),
        ),
    )
    t = (
        1
        - 0.17 * np.cos(np.radians(hbp - 30))
        + 0.24 * np.cos(np.radians(2 * hbp))
        + 0.32 * np.cos(np.radians(3 * hbp + 6))
        - 0.20 * np.cos(np.radians(4 * hbp - 63))
    )
    d_theta = 30 * np.exp(-(((hbp - 275) / 25) ** 2))
    cbp7 = Cbp**7
    rc = 2 * np.sqrt(cbp7 / (cbp7 + 25.0**7))
    sl = 1 + 0.015 * (Lbp - 50) ** 2 / np.sqrt(20 + (Lbp - 50) ** 2)
    sc = 1 + 0.045 * Cbp
    sh = 1 + 0.015 * Cbp * t
    rt = -np.sin(np.radians(2 * d_theta)) * rc
    return np.asarray(
        np.sqrt((dLp / sl) ** 2 + (dCp / sc) ** 2 + (dHp / sh) ** 2 + rt * (dCp / sc) * (dHp / sh)),
        dtype=np.float64,
    )


def mean_delta_e(reference: Pixels, candidate: Pixels, *, metric: str = "2000") -> float:
    """Mean colour difference between two same-sized sRGB images."""
    if reference.shape[:2] != candidate.shape[:2]:
        raise ValueError("images differ in size")
    lab1 = srgb_to_lab(reference)
    lab2 = srgb_to_lab(candidate)
    de = delta_e_2000(lab1, lab2) if metric == "2000" else delta_e_76(lab1, lab2)
    return float(de.mean())


def luma(rgb: NDArray[np.uint8]) -> Plane:
    """Rec. 601 luma of gamma-encoded RGB, float32 in 0..255."""
    r, g, b = LUMA_WEIGHTS
    out = rgb[..., 0].astype(np.float32) * np.float32(r)
    out += rgb[..., 1].astype(np.float32) * np.float32(g)
    out += rgb[..., 2].astype(np.float32) * np.float32(b)
    return out


def centre_crop(pixels: Pixels, side: int) -> Pixels:
    """At most side x side from the middle: enough pixels for a statistic, bounded cost."""
    h, w = pixels.shape[:2]
    top = max(0, (h - side) // 2)
    left = max(0, (w - side) // 2)
    # Keep the crop on the 8 x 8 JPEG grid so blocking stays measurable.
    top -= top % 8
    left -= left % 8
    return pixels[top : top + side, left : left + side]


def estimate_noise(plane: Plane, block: int = 16, flat_fraction: float = 0.1) -> float:
    """Standard deviation of additive noise, in the plane's units.

    Immerkaer's Laplacian-difference estimator (1996), made robust to texture by
    averaging over the flattest ``flat_fraction`` of ``block`` x ``block`` tiles
    instead of the whole image: edges and texture inflate the global figure.
    """
    h, w = plane.shape
    if h < 3 or w < 3:
        return 0.0
    p = plane.astype(np.float32, copy=False)
    # The mask [[1,-2,1],[-2,4,-2],[1,-2,1]] is the outer product of [1,-2,1] with itself.
    rows = p[:-2, :] - 2 * p[1:-1, :] + p[2:, :]
    resp = np.abs(rows[:, :-2] - 2 * rows[:, 1:-1] + rows[:, 2:])
    rh, rw = resp.shape
    bh, bw = rh // block, rw // block
    factor = math.sqrt(math.pi / 2) / 6
    if bh == 0 or bw == 0:
        return float(resp.mean() * factor)
    tiles = resp[: bh * block, : bw * block].reshape(bh, block, bw, block).mean(axis=(1, 3))
    flat = np.sort(tiles.ravel())
    count = max(1, int(flat.size * flat_fraction))
    return float(flat[:count].mean() * factor)


def estimate_blockiness(plane: Plane) -> float:
    """How much stronger steps are across the 8-pixel JPEG grid than inside blocks.

    1.0 means no visible blocking; 1.3 and above is usually visible. Measured in
    flat-ish areas only, because real edges cross the grid by chance.
    """
    h, w = plane.shape
    if h < 16 or w < 16:
        return 1.0
    p = plane.astype(np.float32, copy=False)
    dx = np.abs(np.diff(p, axis=1))
    dy = np.abs(np.diff(p, axis=0))
    # Differences larger than this are image edges, not blocking.
    dx = np.where(dx < 12, dx, np.nan)
    dy = np.where(dy < 12, dy, np.nan)
    col = np.arange(dx.shape[1])
    row = np.arange(dy.shape[0])
    across = np.concatenate([dx[:, col % 8 == 7].ravel(), dy[row % 8 == 7, :].ravel()])
    inside = np.concatenate([dx[:, col % 8 != 7].ravel(), dy[row % 8 != 7, :].ravel()])
    across_mean = float(np.nanmean(across)) if np.isfinite(across).any() else 0.0
    inside_mean = float(np.nanmean(inside)) if np.isfinite(inside).any() else 0.0
    return (across_mean + 0.25) / (inside_mean + 0.25)
