"""The packaged super-resolution models beat Lanczos on the validation set (Set5).

Protocol of the literature and of docs/model.md: LR = Pillow bicubic downscale of the
HR image cropped to a multiple of the scale; PSNR on the Y channel of BT.601 YCbCr
(studio range) with ``scale`` border pixels cropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cropedly_adapters.onnx_upscaler import OnnxUpscaler

SET5 = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "sr" / "val"

# Mean gain over Lanczos the shipped models must keep: the goal of issue 5 at x2 (+2.5 dB;
# measured +2.72) and the measured x4 gain (+1.96) less 0.2 dB of allowance.
MIN_MEAN_GAIN_DB = {2: 2.5, 4: 1.75}


def _y(rgb: np.ndarray) -> np.ndarray:
    f = rgb.astype(np.float64)
    return 16.0 + (65.481 * f[..., 0] + 128.553 * f[..., 1] + 24.966 * f[..., 2]) / 255.0


def _psnr(a: np.ndarray, b: np.ndarray, border: int) -> float:
    d = (_y(a) - _y(b))[border:-border, border:-border]
    return float(10 * np.log10(255.0**2 / np.mean(d**2)))


@pytest.fixture(scope="module")
def set5() -> list[Path]:
    paths = sorted(SET5.glob("*.png"))
    if not paths:
        pytest.fail(
            f"Set5 validation images not found in {SET5}: the shared data folder must sit "
            "next to the repository (../shared/datasets/sr/val)"
        )
    return paths


@pytest.mark.parametrize("scale", [2, 4])
def test_model_beats_lanczos_on_set5(set5, scale):
    """On every Set5 image the model's PSNR beats Lanczos, and the mean gain holds."""
    upscaler = OnnxUpscaler(threads=2)
    gains = {}
    for path in set5:
        hr = Image.open(path).convert("RGB")
        hr = hr.crop((0, 0, hr.width // scale * scale, hr.height // scale * scale))
        lr = hr.resize((hr.width // scale, hr.height // scale), Image.Resampling.BICUBIC)
        lanczos = np.asarray(lr.resize(hr.size, Image.Resampling.LANCZOS))
        model = upscaler.upscale(np.asarray(lr), scale)
        target = np.asarray(hr)
        gains[path.stem] = _psnr(model, target, scale) - _psnr(lanczos, target, scale)
    assert all(g > 0 for g in gains.values()), gains
    assert np.mean(list(gains.values())) >= MIN_MEAN_GAIN_DB[scale], gains
