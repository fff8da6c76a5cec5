"""Learned restoration on ONNX Runtime (CPU): the ``Restorer`` port's adapter.

``restore_x1.onnx`` (training/restore.py) removes noise and JPEG artefacts at the
image's own size, before any upscaling, so one network serves x1, x2 and x4. It is
tiled like the upscalers: every tile is read with the network's receptive margin and
the margin dropped, so tiled and whole-image results are the same.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Final

import numpy as np

from cropedly_adapters.onnx_upscaler import OnnxModel, run_tiled
from cropedly_core.errors import InvalidInput

if TYPE_CHECKING:
    from cropedly_core.images.model import Pixels

MODEL: Final = "restore_x1.onnx"


class OnnxRestorer:
    """Attributes: threads (ONNX Runtime intra-op threads), tile (side in pixels)."""

    def __init__(self, threads: int = 1, tile: int = 256) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        if tile < 16:
            raise ValueError("tile must be at least 16 pixels")
        self.threads = threads
        self.tile = tile
        self._model: OnnxModel | None = None
        self._lock = threading.Lock()

    def restore(self, rgb: Pixels) -> Pixels:
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise InvalidInput("pixels must be H x W x 3 uint8", field="pixels")
        with self._lock:
            if self._model is None:
                self._model = OnnxModel(MODEL, self.threads)
        return run_tiled(self._model, rgb, self.tile)
