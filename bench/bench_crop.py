"""How often a crop keeps the subject: ``smart``, ``faces`` and ``center``.

Evaluation set, built here on every run and never saved (the data sets may not be
copied into the project's history):

- objects: a patch of one photo (its middle, under a feathered elliptical mask) pasted
  at a uniformly random place into another photo; 6-14 % of the picture's area. The
  patch is never enlarged (a photographed subject is in focus, an enlarged patch is
  not); the set as first built, which enlarged the small photos' patches up to 1.8x,
  is measured too and reported on its own row.
- faces: a head (the face box found by the detector, widened for hair and chin, under
  the same kind of mask) cut from the few photos of ``shared/datasets/sr`` with a
  confirmed face, pasted at a random place into another photo; faces 70-110 px.

Backgrounds are the data set's photos cut to 4:3 and scaled to 640 x 480. The
subject's mask is the ground truth. For each case and each mode the crop window of
half the picture's area (1:1 and 16:9) is placed with the real adapters, and the
share of the subject's mask inside it is recorded; a case is kept when at least 90 %
of the subject is inside.

Writes the table between the ``crop-eval`` markers in docs/enhancement.md and the
synthetic before/after strip docs/img/crop-example.jpg.

    python bench/bench_crop.py            # 3 x 150 object cases, 100 face cases
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import cpu_model
from synthetic import scene

from cropedly_adapters.image_pipeline import default_pipeline
from cropedly_adapters.opencv_faces import OpenCvFaceDetector
from cropedly_adapters.opencv_saliency import OpenCvSaliency
from cropedly_adapters.pillow_resampler import PillowResampler
from cropedly_core.images.crop import place_window
from cropedly_core.images.geometry import Crop, Fit, Rect, Resize
from cropedly_core.images.model import Adjust, EnhanceOptions, OutputFormat, Restore

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "sr"
DOC = ROOT / "docs" / "enhancement.md"
EXAMPLE = ROOT / "docs" / "img" / "crop-example.jpg"
W, H = 640, 480
ASPECTS = {"1:1": (1, 1), "16:9": (16, 9)}
MODES = (Crop.SMART, Crop.FACES, Crop.CENTER)
KEEP = 0.9

RESAMPLER = PillowResampler()
SALIENCY = OpenCvSaliency()


class _CachedFaces:
    """The real detector, asked once per picture (every mode and aspect sees the same one)."""

    def __init__(self) -> None:
        self.detector = OpenCvFaceDetector()
        self.seen: dict[str, list[Rect]] = {}

    def detect(self, rgb: np.ndarray) -> list[Rect]:
        key = hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()
        if key not in self.seen:
            self.seen = {key: self.detector.detect(rgb)}
        return list(self.seen[key])


FACES = _CachedFaces()


def _photos() -> list[Path]:
    paths = sorted(p for p in DATA.glob("*/*") if p.suffix.lower() in {".png", ".jpg"})
    if not paths:
        sys.exit(f"no photos under {DATA}")
    return paths


def _background(path: Path) -> np.ndarray:
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    return np.asarray(ImageOps.fit(image, (W, H), Image.Resampling.LANCZOS))


def _ellipse(w: int, h: int) -> np.ndarray:
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, w - 1, h - 1), fill=255)
    return np.asarray(mask.filter(ImageFilter.GaussianBlur(max(1, min(w, h) // 25))))


def _paste(
    background: np.ndarray, patch: Image.Image, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The composite and the subject's mask (True where the subject is)."""
    pw, ph = patch.size
    x = int(rng.integers(0, W - pw + 1))
    y = int(rng.integers(0, H - ph + 1))
    alpha = _ellipse(pw, ph).astype(np.float32)[..., None] / 255
    out = background.astype(np.float32)
    out[y : y + ph, x : x + pw] = (
        alpha * np.asarray(patch, np.float32) + (1 - alpha) * out[y : y + ph, x : x + pw]
    )
    mask = np.zeros((H, W), bool)
    mask[y : y + ph, x : x + pw] = alpha[..., 0] > 0.5
    return np.clip(out, 0, 255).astype(np.uint8), mask


def object_cases(
    count: int, rng: np.random.Generator, *, blur: float = 0.0, enlarge: bool = False
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``blur`` > 0 defocuses the background (sigma in pixels), as a wide aperture does.

    ``enlarge`` is the set as first built: the middle half of the photo scaled to the patch,
    enlarged (so softened) when the photo is small (the 321 x 481 BSDS photos).
    """
    photos = _photos()
    cases = []
    for _ in range(count):
        src, dst = rng.choice(len(photos), 2, replace=False)
        image = ImageOps.exif_transpose(Image.open(photos[src])).convert("RGB")
        iw, ih = image.size
        area = rng.uniform(0.06, 0.14) * W * H * 4 / math.pi  # the ellipse covers pi/4
        aspect = rng.uniform(0.6, 1.6)
        pw = min(W - 1, round(math.sqrt(area * aspect)))
        ph = min(H - 1, round(math.sqrt(area / aspect)))
        if enlarge:
            bw, bh = iw // 2, ih // 2
        else:
            # The middle half of the photo, widened where it is smaller than the patch so the
            # subject is never enlarged: an enlarged patch is softer than the photo it is
            # pasted into, where a photographed subject is in focus.
            bw, bh = min(iw, max(iw // 2, pw)), min(ih, max(ih // 2, ph))
        middle = image.crop(((iw - bw) // 2, (ih - bh) // 2, (iw + bw) // 2, (ih + bh) // 2))
        patch = middle.resize((pw, ph), Image.Resampling.LANCZOS)
        background = _background(photos[dst])
        if blur > 0:
            background = np.asarray(
                Image.fromarray(background).filter(ImageFilter.GaussianBlur(blur))
            )
        cases.append(_paste(background, patch, rng))
    return cases


def _heads() -> list[tuple[Path, Image.Image]]:
    """Head patches around every confirmed face of the data set (face, hair, chin)."""
    heads = []
    for path in _photos():
        image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
        for f in FACES.detector.detect(np.asarray(image)):
            box = (
                max(0, f.x - f.w * 3 // 10),
                max(0, f.y - f.h * 5 // 10),
                min(image.width, f.right + f.w * 3 // 10),
                min(image.height, f.bottom + f.h * 4 // 10),
            )
            heads.append((path, image.crop(box)))
    return heads


def face_cases(
    count: int, rng: np.random.Generator
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[str]]:
    photos = _photos()
    heads = _heads()
    cases = []
    for _ in range(count):
        path, head = heads[int(rng.integers(len(heads)))]
        face_w = rng.uniform(70, 110)
        scale = face_w / (head.width / 1.6)
        size = (round(head.width * scale), round(head.height * scale))
        patch = head.resize(size, Image.Resampling.LANCZOS)
        others = [p for p in photos if p != path]
        cases.append(_paste(_background(others[int(rng.integers(len(others)))]), patch, rng))
    return cases, sorted({p.name for p, _ in heads})


def half_area_window(aspect: tuple[int, int]) -> tuple[int, int]:
    aw, ah = aspect
    ww = round(math.sqrt(0.5 * W * H * aw / ah))
    return min(W, ww), min(H, round(ww * ah / aw))


def kept(mask: np.ndarray, r: Rect) -> float:
    return float(mask[r.y : r.bottom, r.x : r.right].sum() / mask.sum())


def evaluate(
    cases: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[dict[tuple[str, Crop], list[float]], list[float]]:
    shares: dict[tuple[str, Crop], list[float]] = {}
    seconds: list[float] = []
    for pixels, mask in cases:
        for name, aspect in ASPECTS.items():
            window = half_area_window(aspect)
            for mode in MODES:
                started = time.perf_counter()
                r = place_window(
                    pixels,
                    Rect(0, 0, W, H),
                    window,
                    mode,
                    resampler=RESAMPLER,
                    saliency=SALIENCY,
                    faces=FACES,
                )
                if mode is Crop.SMART and name == "1:1":  # the first call detects faces
                    seconds.append(time.perf_counter() - started)
                shares.setdefault((name, mode), []).append(kept(mask, r))
    return shares, seconds


def _rows(label: str, shares: dict[tuple[str, Crop], list[float]]) -> list[str]:
    rows = []
    for name in ASPECTS:
        cells = []
        for mode in MODES:
            values = np.asarray(shares[name, mode])
            cells.append(f"{100 * (values >= KEEP).mean():.0f} % ({100 * values.mean():.0f} %)")
        rows.append(f"| {label} | {name} | " + " | ".join(cells) + " |")
    return rows


def twelve_mp() -> float:
    """Seconds to place a smart 1:1 window on a 4000 x 3000 picture (best of 3)."""
    photo = Image.open(_photos()[0]).convert("RGB").resize((4000, 3000))
    pixels = np.asarray(photo)
    detector = OpenCvFaceDetector()  # uncached: every run detects
    times = []
    for _ in range(3):
        started = time.perf_counter()
        place_window(
            pixels,
            Rect(0, 0, 4000, 3000),
            (3000, 3000),
            Crop.SMART,
            resampler=RESAMPLER,
            saliency=SALIENCY,
            faces=detector,
        )
        times.append(time.perf_counter() - started)
    return min(times)


def pipeline_timings() -> list[str]:
    """Whole-pipeline wall time for a shrink and an enlargement (real adapters)."""
    rows = []
    from cropedly.bootstrap import worker_pipeline  # noqa: PLC0415 - loads the model
    from cropedly.settings import UpscalerKind  # noqa: PLC0415

    onnx = worker_pipeline(UpscalerKind.ONNX, 1, default_pipeline().limits)
    photo = Image.open(_photos()[0]).convert("RGB")
    for (sw, sh), (tw, th) in (((1024, 768), (512, 512)), ((320, 240), (800, 800))):
        raster = onnx.codec.decode(_jpeg(photo.resize((sw, sh))), onnx.limits.max_pixels)
        options = EnhanceOptions(
            adjust=Adjust.NONE,
            restore=Restore.NONE,
            format=OutputFormat.PNG,
            resize=Resize(width=tw, height=th, fit=Fit.COVER),
        )
        onnx.process(raster, options)  # warm the model
        times = []
        for _ in range(3):
            started = time.perf_counter()
            onnx.process(raster, options)
            times.append(time.perf_counter() - started)
        rows.append(f"| {sw} x {sh} -> {tw} x {th} cover, smart | {1000 * min(times):.0f} ms |")
    return rows


def _jpeg(image: Image.Image) -> bytes:
    import io  # noqa: PLC0415

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def example() -> None:
    """Original | center 1:1 | smart 1:1, on a synthetic scene with a person at one side."""
    image = scene(people=True, seed=3)
    pixels = np.asarray(image)
    h, w = pixels.shape[:2]
    window = (h, h)
    strip = [image]
    for mode in (Crop.CENTER, Crop.SMART):
        r = place_window(
            pixels,
            Rect(0, 0, w, h),
            window,
            mode,
            resampler=RESAMPLER,
            saliency=SALIENCY,
            faces=FACES,
        )
        strip.append(image.crop((r.x, r.y, r.right, r.bottom)))
    out = Image.new("RGB", (sum(i.width for i in strip) + 16 * (len(strip) - 1), h), "white")
    x = 0
    for part in strip:
        out.paste(part, (x, 0))
        x += part.width + 16
    out.save(EXAMPLE, quality=88)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=150)
    parser.add_argument("--faces", type=int, default=100)
    # Parameters were tuned on seed 13; the documented figures use another split.
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    objects, object_seconds = evaluate(object_cases(args.objects, rng))
    defocused, blur_seconds = evaluate(object_cases(args.objects, rng, blur=2.5))
    cases, sources = face_cases(args.faces, rng)
    faces, face_seconds = evaluate(cases)
    # Drawn last so the sets above stay the same cases whether or not this one is kept.
    enlarged, enlarged_seconds = evaluate(object_cases(args.objects, rng, enlarge=True))
    seconds = object_seconds + blur_seconds + face_seconds + enlarged_seconds
    table = [
        (
            f"Measured by `bench/bench_crop.py --seed {args.seed}` on {cpu_model()} (2 cores): "
            f"{args.objects} object cases on sharp backgrounds, {args.objects} on defocused ones "
            f"(Gaussian blur 2.5 px) and {args.faces} face cases (heads from {len(sources)} confirmed faces in "
            f"{', '.join(sources)}), 640 x 480, windows of half the area. Each cell: the share "
            "of cases that keep at least 90 % of the subject (in brackets: the mean share of "
            "the subject kept)."
        ),
        "",
        "| set | crop | smart | faces | center |",
        "|---|---|---:|---:|---:|",
        *_rows("objects", objects),
        *_rows("objects, defocused background", defocused),
        *_rows("faces", faces),
        *_rows("objects, subject enlarged (the set before 2026-11-29)", enlarged),
        "",
        (
            f"Placing a smart window takes {1000 * float(np.median(seconds)):.0f} ms (median; "
            f"95th percentile {1000 * float(np.percentile(seconds, 95)):.0f} ms) per 640 x 480 "
            f"picture, face detection included, and {1000 * twelve_mp():.0f} ms at 12 MP "
            "(4000 x 3000, best of 3). Whole pipeline (decode done, `adjust=none`, `restore=none`, "
            "learned upscaler, one thread; best of 3):"
        ),
        "",
        "| job | time |",
        "|---|---:|",
        *pipeline_timings(),
    ]
    text = "\n".join(table)
    print(text)
    if args.no_write:
        return
    doc = DOC.read_text()
    block = f"<!-- crop-eval:start -->\n{text}\n<!-- crop-eval:end -->"
    doc = re.sub(r"<!-- crop-eval:start -->.*<!-- crop-eval:end -->", block, doc, flags=re.DOTALL)
    DOC.write_text(doc)
    example()


if __name__ == "__main__":
    main()
