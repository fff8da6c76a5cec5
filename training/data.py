"""Training pairs: high-resolution Y patches and their bicubic-downscaled counterparts.

The degradation is the benchmark's own (Pillow bicubic on the RGB uint8 image, then
rounding), applied to whole images once, so the network sees exactly what the
``Upscaler`` adapter will feed it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "sr"
TRAIN_DIR = SHARED / "train"
VAL_DIR = SHARED / "val"


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """Full-range BT.601 luma in [0, 1] (what the model consumes)."""
    f = rgb.astype(np.float32) / 255.0
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def load_hr_images(train_dir: Path = TRAIN_DIR) -> list[Image.Image]:
    """All training images; the JPEGs are halved first so their block artefacts shrink away."""
    if not train_dir.is_dir():
        raise SystemExit(f"training data not found at {train_dir}")
    images = []
    for path in sorted(train_dir.iterdir()):
        if path.suffix.lower() not in {".png", ".jpg", ".jpeg"}:
            continue
        im = Image.open(path).convert("RGB")
        if path.suffix.lower() in {".jpg", ".jpeg"}:
            im = im.resize((im.width // 2, im.height // 2), Image.BICUBIC)
        images.append(im)
    return images


def degrade(hr: Image.Image, scale: int) -> tuple[Image.Image, Image.Image]:
    """Crop to a multiple of ``scale`` and downscale: the standard bicubic benchmark pair."""
    w, h = hr.width // scale * scale, hr.height // scale * scale
    hr = hr.crop((0, 0, w, h))
    return hr, hr.resize((w // scale, h // scale), Image.BICUBIC)


class PatchSampler:
    """Random aligned patch pairs with the 8 flips/rotations, drawn from a seeded generator."""

    def __init__(self, images: list[Image.Image], scale: int, lr_patch: int, seed: int) -> None:
        self.scale = scale
        self.lr_patch = lr_patch
        self.rng = np.random.default_rng(seed)
        self.pairs = []
        for im in images:
            hr, lr = degrade(im, scale)
            self.pairs.append((rgb_to_y(np.asarray(lr)), rgb_to_y(np.asarray(hr))))
        # Sample images in proportion to their area so every pixel is equally likely.
        areas = np.array([lr.size for lr, _ in self.pairs], dtype=np.float64)
        self.weights = areas / areas.sum()

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        p, s = self.lr_patch, self.scale
        lrs = np.empty((size, 1, p, p), np.float32)
        hrs = np.empty((size, 1, p * s, p * s), np.float32)
        idx = self.rng.choice(len(self.pairs), size=size, p=self.weights)
        for n, i in enumerate(idx):
            lr, hr = self.pairs[i]
            y = int(self.rng.integers(0, lr.shape[0] - p + 1))
            x = int(self.rng.integers(0, lr.shape[1] - p + 1))
            a = lr[y : y + p, x : x + p]
            b = hr[y * s : (y + p) * s, x * s : (x + p) * s]
            k = int(self.rng.integers(0, 4))
            a, b = np.rot90(a, k), np.rot90(b, k)
            if self.rng.integers(0, 2):
                a, b = a[:, ::-1], b[:, ::-1]
            lrs[n, 0] = a
            hrs[n, 0] = b
        return lrs, hrs
