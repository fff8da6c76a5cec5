"""Reference-guided colour: give an image the colour and tone of a reference.

A bounded statistics transfer in CIE L*a*b* (Reinhard et al., 2001): each
channel's mean and spread move toward the reference's, but the spread ratio,
the mean shift and the overall strength are capped so that a strongly tinted
reference tints the result, and never turns it into a different picture.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import numpy as np
from numpy.typing import NDArray

from cropedly_core.images.model import Pixels
from cropedly_core.images.quality import linear_to_srgb, srgb_to_lab

_SAMPLE_SIDE = 256  # statistics from at most ~256x256 pixels: stable and cheap
_STRIP_ROWS = 256  # rows converted at a time, so a 50 MP image never holds a float copy
_SCALE_RANGE = (0.7, 1.4)
_MAX_SHIFT = (15.0, 12.0, 12.0)  # L*, a*, b* units
_XYZ_TO_SRGB = np.linalg.inv(
    np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])


@attrs.frozen
class ColourStats:
    """Mean and standard deviation of L*, a*, b* over an image."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def as_list(self) -> list[float]:
        return [*self.mean, *self.std]

    @classmethod
    def from_list(cls, values: list[float]) -> ColourStats:
        m, s = values[:3], values[3:6]
        return cls((m[0], m[1], m[2]), (s[0], s[1], s[2]))


def _sample(pixels: Pixels) -> Pixels:
    step = max(1, int(max(pixels.shape[0], pixels.shape[1]) // _SAMPLE_SIDE))
    return pixels[::step, ::step, :3]


def colour_stats(pixels: Pixels) -> ColourStats:
    """Statistics of an image, from a regular subsample of its pixels."""
    lab = srgb_to_lab(_sample(pixels)).reshape(-1, 3)
    mean, std = lab.mean(axis=0), lab.std(axis=0)
    return ColourStats(
        (float(mean[0]), float(mean[1]), float(mean[2])),
        (float(std[0]), float(std[1]), float(std[2])),
    )


def lab_to_linear(lab: NDArray[np.float64]) -> NDArray[np.float64]:
    """CIE L*a*b* (D65) to linear sRGB, not clipped (outside 0..1 means out of gamut)."""
    fy = (lab[..., 0] + 16) / 116
    fx = fy + lab[..., 1] / 500
    fz = fy - lab[..., 2] / 200
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.stack([fx, fy, fz], axis=-1)
    cubed = f**3
    xyz = np.where(cubed > eps, cubed, (116 * f - 16) / kappa) * _D65_WHITE
    return np.asarray(xyz @ _XYZ_TO_SRGB.T, dtype=np.float64)


def lab_to_srgb8(lab: NDArray[np.float64]) -> Pixels:
    """CIE L*a*b* (D65) to uint8 sRGB, clipped to the gamut."""
    rgb = linear_to_srgb(np.clip(lab_to_linear(lab), 0.0, 1.0))
    return np.asarray(np.clip(np.rint(rgb * 255), 0, 255), dtype=np.uint8)


_GAMUT_SLACK = 0.5 / 255  # half a code value: rounding, not a real excursion
_BACKOFF = (0.75, 0.5, 0.25, 0.0)


def _in_gamut(lab: NDArray[np.float64]) -> NDArray[np.bool_]:
    linear = lab_to_linear(lab)
    inside: NDArray[np.bool_] = np.all(
        (linear >= -_GAMUT_SLACK) & (linear <= 1 + _GAMUT_SLACK), axis=-1
    )
    return inside


def _move_within_gamut(lab: NDArray[np.float64], step: NDArray[np.float64]) -> NDArray[np.float64]:
    """``lab + step``, with the step shortened where it would leave the sRGB gamut.

    Clipping an out-of-gamut colour changes it by more than the step (and in another
    direction); shortening the step keeps every change within the caps. The
    original colour is in gamut, so the shortest step (none) always is.
    """
    moved = lab + step
    outside = ~_in_gamut(moved)
    for factor in _BACKOFF:
        if not outside.any():
            break
        candidate = lab[outside] + factor * step[outside]
        moved[outside] = candidate
        still = ~_in_gamut(candidate)
        outside[outside] = still
    return moved


def _strips(height: int) -> Iterator[slice]:
    for top in range(0, height, _STRIP_ROWS):
        yield slice(top, min(height, top + _STRIP_ROWS))


def transfer_colour(pixels: Pixels, reference: ColourStats, strength: float = 0.7) -> Pixels:
    """The image moved toward ``reference``'s colour statistics; alpha untouched."""
    source = colour_stats(pixels)
    mean_s, std_s = np.array(source.mean), np.array(source.std)
    mean_r, std_r = np.array(reference.mean), np.array(reference.std)
    scale = np.clip(std_r / np.maximum(std_s, 1e-3), *_SCALE_RANGE)
    shift = np.clip(mean_r - mean_s, -np.array(_MAX_SHIFT), np.array(_MAX_SHIFT))
    out = pixels.copy()
    for rows in _strips(pixels.shape[0]):
        lab = srgb_to_lab(pixels[rows, :, :3])
        moved = (lab - mean_s) * scale + mean_s + shift
        out[rows, :, :3] = lab_to_srgb8(_move_within_gamut(lab, strength * (moved - lab)))
    return out
