"""The FaceDetector port on OpenCV's Haar cascades (shipped inside the opencv wheel).

One cascade alone finds faces in foliage, masonry and clouds (31 of the 153 photos of
our training set had one, nearly all false); a face is reported only where two
differently trained frontal cascades agree (``default`` and ``alt2``, boxes
overlapping by ``AGREEMENT`` IoU), which kept every real face we checked by eye and
dropped the false ones (docs/enhancement.md, "Content-aware crop").
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from cropedly_core.images.geometry import Rect
from cropedly_core.images.model import Pixels

PRIMARY = "haarcascade_frontalface_default.xml"
SECOND = "haarcascade_frontalface_alt2.xml"
AGREEMENT = 0.4
SCALE_STEP = 1.1
"""Ratio between the scales searched; 1.15 was no faster here and let false faces through."""


def _load(name: str) -> cv2.CascadeClassifier:
    # The stubs do not declare cv2.data; the wheel has it (opencv-python-headless < 5).
    path = Path(cv2.data.haarcascades) / name  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise FileNotFoundError(f"cannot load the face cascade {path}")
    return cascade


def _iou(a: Rect, b: Rect) -> float:
    w = max(0, min(a.right, b.right) - max(a.x, b.x))
    h = max(0, min(a.bottom, b.bottom) - max(a.y, b.y))
    inter = w * h
    return inter / (a.w * a.h + b.w * b.h - inter)


class OpenCvFaceDetector:
    """Viola-Jones frontal faces, confirmed by a second cascade.

    Attributes:
        min_fraction: smallest face side, as a share of the image's shorter side;
            tinier boxes are mostly false positives in textures.
    """

    def __init__(self, min_fraction: float = 0.06) -> None:
        self._primary = _load(PRIMARY)
        self._second = _load(SECOND)
        self.min_fraction = min_fraction
        # A classifier object is not safe to share between threads.
        self._lock = threading.Lock()

    def detect(self, rgb: Pixels) -> list[Rect]:
        grey = cv2.equalizeHist(
            cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2GRAY)
        )
        side = max(20, round(min(grey.shape) * self.min_fraction))
        if min(grey.shape) < side:
            return []
        with self._lock:
            first = self._primary.detectMultiScale(grey, SCALE_STEP, 5, minSize=(side, side))
            if len(first) == 0:
                # Nothing to confirm: most pictures, and half the time of searching twice.
                # (Searching only around the candidates was tried: a shifted search grid
                # confirmed false faces the whole-picture search does not.)
                return []
            second = self._second.detectMultiScale(grey, SCALE_STEP, 3, minSize=(side, side))
        confirm = [Rect(int(x), int(y), int(w), int(h)) for x, y, w, h in second]
        found = [Rect(int(x), int(y), int(w), int(h)) for x, y, w, h in first]
        return [f for f in found if any(_iou(f, c) > AGREEMENT for c in confirm)]
