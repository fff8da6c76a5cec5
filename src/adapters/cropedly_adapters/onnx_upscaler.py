"""Learned super-resolution on ONNX Runtime (CPU): the ``Upscaler`` port's quality adapter.

The network sees only luminance (BT.601 Y, full range): that is where the eye looks
for detail, and it keeps the model small. Chroma is enlarged bicubically; the colour
conversion, that chroma path and the rounding run inside the ONNX graph (uint8 RGB in,
uint8 RGB out), so no per-pixel work is left to NumPy. Transparency is enlarged on its
own with Pillow's Lanczos.

Large images are processed in tiles of the low-resolution input. Each tile is read
with ``receptive_radius`` extra pixels on every side (the model says how many in its
metadata) and that margin is cropped from the result, so every output pixel sees
exactly the context it would see in a single whole-image pass: tiled and untiled
outputs are the same, while memory stays bounded by the tile size.
"""

from __future__ import annotations

import threading
from importlib import resources
from typing import TYPE_CHECKING, Final

import numpy as np
import onnxruntime as ort
from PIL import Image

from cropedly_core.errors import InvalidInput

if TYPE_CHECKING:
    from cropedly_core.images.model import Pixels

_MODELS_PACKAGE: Final = "cropedly_adapters.models"


class OnnxModel:
    """One ONNX session and what its metadata says about it."""

    def __init__(self, name: str, threads: int) -> None:
        data = resources.files(_MODELS_PACKAGE).joinpath(name).read_bytes()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # A server spends most of its time idle: do not burn cores spin-waiting.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.scale = int(meta["scale"])
        self.radius = int(meta["receptive_radius"])
        # A model with strided stages sees the same grid in a tile as in the whole image
        # only when the tile starts on a multiple of its stride; older models say nothing.
        self.align = int(meta.get("align", 1))
        self.input_name = self.session.get_inputs()[0].name

    def run(self, rgb: Pixels) -> Pixels:
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(rgb)})[0]
        return np.asarray(out, dtype=np.uint8)


class OnnxUpscaler:
    """Upscales by 2 with ``sr_x2.onnx`` and by 4 with ``sr_x4.onnx``.

    When no ``sr_x4.onnx`` is packaged, x4 is two x2 passes.

    Attributes:
        threads: ONNX Runtime intra-op threads per call.
        tile: side of a low-resolution tile, in pixels; bounds memory per call.
    """

    def __init__(self, threads: int = 1, tile: int = 256) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        if tile < 16:
            raise ValueError("tile must be at least 16 pixels")
        self.threads = threads
        self.tile = tile
        self._models: dict[int, OnnxModel] = {}
        self._lock = threading.Lock()

    def upscale(self, pixels: Pixels, factor: int) -> Pixels:
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
            raise InvalidInput("pixels must be H x W x 3 or 4 uint8", field="pixels")
        if factor not in (1, 2, 4):
            raise InvalidInput("the upscale factor must be 1, 2 or 4", field="upscale")
        if factor == 1:
            return pixels.copy()
        out = pixels
        for model in self._plan(factor):
            out = self._upscale_once(model, out)
        return out

    def _plan(self, factor: int) -> list[OnnxModel]:
        direct = self._model(factor)
        if direct is not None:
            return [direct]
        half = self._model(2)
        if factor != 4 or half is None:
            raise FileNotFoundError("no packaged super-resolution model for this factor")
        return [half, half]

    def _model(self, factor: int) -> OnnxModel | None:
        with self._lock:
            if factor not in self._models:
                name = f"sr_x{factor}.onnx"
                if not resources.files(_MODELS_PACKAGE).joinpath(name).is_file():
                    return None
                self._models[factor] = OnnxModel(name, self.threads)
            return self._models[factor]

    def _upscale_once(self, model: OnnxModel, pixels: Pixels) -> Pixels:
        s = model.scale
        h, w, channels = pixels.shape
        out = np.empty((h * s, w * s, channels), dtype=np.uint8)
        out[..., :3] = run_tiled(model, pixels[..., :3], self.tile)
        if channels == 4:
            # One whole-plane resize (1 byte per output pixel): Pillow's per-box resizes
            # differ by a level or two at box edges at x4, which would break tiled ==
            # untiled.
            alpha = Image.fromarray(np.ascontiguousarray(pixels[..., 3]))
            out[..., 3] = np.asarray(alpha.resize((w * s, h * s), Image.Resampling.LANCZOS))
        return out


def run_tiled(model: OnnxModel, rgb: Pixels, tile: int) -> Pixels:
    """``model`` over ``tile``-sized pieces of ``rgb``, each read with its receptive margin."""
    s, a = model.scale, model.align
    h, w = rgb.shape[:2]
    out = np.empty((h * s, w * s, 3), dtype=np.uint8)
    # Tiles and margins on multiples of the model's alignment, so every tile read
    # starts on the strided grid the whole-image pass uses.
    tile = -(-tile // a) * a
    r = -(-model.radius // a) * a
    for y0 in range(0, h, tile):
        y1 = min(y0 + tile, h)
        for x0 in range(0, w, tile):
            x1 = min(x0 + tile, w)
            # Read the tile with its margin (clipped at the image edge, where the
            # network pads exactly as in a whole-image pass), then drop the margin.
            ty0, tx0 = max(y0 - r, 0), max(x0 - r, 0)
            ty1, tx1 = min(y1 + r, h), min(x1 + r, w)
            hr = model.run(rgb[ty0:ty1, tx0:tx1])
            oy, ox = (y0 - ty0) * s, (x0 - tx0) * s
            out[y0 * s : y1 * s, x0 * s : x1 * s] = hr[
                oy : oy + (y1 - y0) * s, ox : ox + (x1 - x0) * s
            ]
    return out
