"""Set5 PSNR of the PyTorch model during training (monitoring only)."""

from __future__ import annotations

import numpy as np
import torch
from data import VAL_DIR, degrade, rgb_to_y
from PIL import Image


def psnr_y(a: np.ndarray, b: np.ndarray, border: int) -> float:
    # Studio-range BT.601 Y (16-235) as in the published tables; a, b are full-range in [0, 1].
    a = 16.0 + 219.0 * np.clip(a, 0, 1)
    b = 16.0 + 219.0 * np.clip(b, 0, 1)
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(255.0**2 / mse)


def set5_psnr(model: torch.nn.Module, scale: int) -> float:
    scores = []
    for path in sorted(VAL_DIR.glob("*.png")):
        hr, lr = degrade(Image.open(path).convert("RGB"), scale)
        with torch.no_grad():
            out = model(torch.from_numpy(rgb_to_y(np.asarray(lr)))[None, None]).numpy()[0, 0]
        # Round like the adapter's uint8 output would.
        out = np.round(np.clip(out, 0, 1) * 255) / 255
        scores.append(psnr_y(out, rgb_to_y(np.asarray(hr)), scale))
    return float(np.mean(scores))
