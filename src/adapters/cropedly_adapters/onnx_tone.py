"""Learned tone and colour on ONNX Runtime plus Pillow: the ``ToneCorrector`` port's adapter.

``tone.onnx`` (training/tone.py) is a small network that reads statistics of a
64 x 64 thumbnail (``tone_features``: per-channel and luma quantiles, means, spreads,
grey-world and bright-pixel colour ratios, colourfulness) and answers eight
numbers: a black and a white point per channel, a midtone gamma and a saturation.
Quantiles rather than a CNN on the pixels: with 148 training photos a CNN's
features did not generalise (on the validation images it made good photos worse),
and the statistics are what levels, gamma and white balance are decided from.
They become lookup tables applied at full resolution by Pillow's C code: 3 x 256
curves with ``Image.point``, then, unless saturation is left alone, ``Image.blend``
of the result with its own grey (Pillow's ``L`` uses the model's BT.601 luma weights,
and a blend factor above 1 extrapolates: the same operation; one ``Color3DLUT`` pass
measured about ten times slower, a YCbCr round trip three times). The cost per
pixel is a few table look-ups whatever the network, and a global table cannot draw
halos.
"""

from __future__ import annotations

import threading
from importlib import resources
from typing import TYPE_CHECKING, Final

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from PIL import Image

from cropedly_core.errors import InvalidInput

if TYPE_CHECKING:
    from cropedly_core.images.model import Pixels

MODEL: Final = "tone.onnx"
_LUMA: Final = np.array([0.299, 0.587, 0.114])
# Saturation this close to 1 changes no pixel by more than about a level.
_SATURATION_DEAD_ZONE: Final = 0.01


_QUANTILES: Final = (0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98, 0.995)


def tone_features(thumb: NDArray[np.float64]) -> NDArray[np.float32]:
    """The network's input: statistics of an h x w x 3 thumbnail in [0, 1] (training too)."""
    px = thumb.reshape(-1, 3).astype(np.float64)
    y = px @ _LUMA
    lin = np.where(px <= 0.04045, px / 12.92, ((px + 0.055) / 1.055) ** 2.4)
    mean_lin = lin.mean(axis=0) + 1e-4
    bright = lin[y >= np.quantile(y, 0.9)].mean(axis=0) + 1e-4
    spread = px.max(axis=1) - px.min(axis=1)
    parts = [
        np.quantile(px, _QUANTILES, axis=0).T.reshape(-1),
        np.quantile(y, _QUANTILES),
        px.mean(axis=0),
        px.std(axis=0),
        np.log(mean_lin[[0, 2]] / mean_lin[1]),
        np.log(bright[[0, 2]] / bright[1]),
        [spread.mean(), np.quantile(spread, 0.9)],
    ]
    return np.concatenate([np.asarray(v, dtype=np.float64).reshape(-1) for v in parts]).astype(
        np.float32
    )


class ToneParams:
    """The network's answer; ``transform`` is the correction on floats in [0, 1]."""

    def __init__(self, raw: NDArray[np.float32]) -> None:
        values = np.asarray(raw, dtype=np.float64).reshape(8)
        self.black = values[0:3]
        self.white = values[3:6]
        self.gamma = float(values[6])
        self.saturation = float(values[7])

    def curves(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per-channel part; ``x`` is ... x 3."""
        t = np.clip((x - self.black) / (self.white - self.black), 1e-4, 1.0)
        return np.asarray(t**self.gamma)

    def transform(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        t = self.curves(x)
        y = (t @ _LUMA)[..., None]
        return np.asarray(np.clip(y + self.saturation * (t - y), 0.0, 1.0))


class OnnxToneCorrector:
    """Attributes: threads (ONNX Runtime intra-op threads)."""

    def __init__(self, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.threads = threads
        self._session: ort.InferenceSession | None = None
        self._thumb = 64
        self._lock = threading.Lock()

    def _load(self) -> ort.InferenceSession:
        with self._lock:
            if self._session is None:
                data = resources.files("cropedly_adapters.models").joinpath(MODEL).read_bytes()
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
                meta = session.get_modelmeta().custom_metadata_map
                self._thumb = int(meta.get("thumbnail", "64"))
                self._session = session
            return self._session

    def params(self, image: Image.Image, alpha: Pixels | None = None) -> ToneParams:
        """What the network asks for, from a thumbnail of the (opaque part of the) image."""
        session = self._load()
        size = (self._thumb, self._thumb)
        # Box filter with Pillow's reducing gap: a 50 MP photo shrinks in tens of ms.
        thumb = image.resize(size, Image.Resampling.BOX, reducing_gap=3.0)
        x = np.asarray(thumb, dtype=np.float64) / 255.0
        if alpha is not None:
            cover = Image.fromarray(alpha).resize(size, Image.Resampling.BOX, reducing_gap=3.0)
            opaque = np.asarray(cover) >= 128
            if opaque.any() and not opaque.all():
                # Transparent pixels' colour is junk nobody sees: let it not steer.
                x = x[opaque][None]
        raw = session.run(None, {"features": tone_features(x)[None]})[0]
        return ToneParams(np.asarray(raw, dtype=np.float32))

    def correct(self, rgb: Pixels, alpha: Pixels | None = None) -> Pixels:
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise InvalidInput("pixels must be H x W x 3 uint8", field="pixels")
        image = Image.fromarray(np.ascontiguousarray(rgb))
        params = self.params(image, alpha)
        levels = np.repeat((np.arange(256) / 255.0)[:, None], 3, axis=1)
        table = np.rint(params.curves(levels) * 255).astype(np.uint8).T.reshape(-1)
        out = image.point(table.tolist())
        if abs(params.saturation - 1.0) >= _SATURATION_DEAD_ZONE:
            out = Image.blend(out.convert("L").convert("RGB"), out, params.saturation)
        return np.asarray(out)
