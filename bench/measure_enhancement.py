"""The enhancement's quality tables, measured on images no model was trained on.

    python bench/measure_enhancement.py            # writes the tables into the docs
    python bench/measure_enhancement.py --print    # only prints them

Restoration and super-resolution (docs/model.md): the validation images (Set5) are
cut to a multiple of 2, downscaled with Pillow's bicubic, then degraded as photos
arrive (Gaussian noise and/or JPEG, seeded), encoded, and sent through the same
pipeline `cropedly enhance` builds (`--upscale 2 --adjust none`, restore auto or none,
PNG out). Score: PSNR of BT.601 Y (studio range), border 2, against the original,
next to Pillow's Lanczos and bicubic on the same degraded input.

Tone and colour (docs/enhancement.md): every validation image with faults of each
family drawn at random (training/faults.py, seeded, a different stream from
training), corrected by the learned model, by the classic hand-tuned ``adjust`` and
by autocontrast + grey-world; mean CIEDE2000 to the original. Before/after pictures
are made from synthetic scenes (bench/synthetic.py), never from the data sets.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from machine import cpu_model
from PIL import Image, ImageOps
from synthetic import scene

from cropedly.bootstrap import worker_pipeline
from cropedly.settings import UpscalerKind
from cropedly_adapters.onnx_tone import OnnxToneCorrector
from cropedly_adapters.opencv_filters import OpenCvBlur
from cropedly_core.images.adjust import AdjustSettings, auto_tone
from cropedly_core.images.model import (
    Adjust,
    EnhanceOptions,
    ImageLimits,
    OutputFormat,
    Restore,
)
from cropedly_core.images.quality import mean_delta_e

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))
from faults import FAMILIES, apply_fault  # noqa: E402 - training/ is not a package

VAL = ROOT.parent / "shared" / "datasets" / "sr" / "val"
DRAWS = 8  # faults drawn per image and family


def psnr_y(a: np.ndarray, b: np.ndarray, border: int = 2) -> float:
    def y(rgb: np.ndarray) -> np.ndarray:
        f = rgb.astype(np.float64)
        return 16 + (65.481 * f[..., 0] + 128.553 * f[..., 1] + 24.966 * f[..., 2]) / 255

    d = (y(a) - y(b))[border:-border, border:-border]
    return float(10 * np.log10(255.0**2 / np.mean(d * d)))


Step = Callable[[Image.Image, np.random.Generator], tuple[Image.Image, bytes | None]]


def _noise(sigma: float) -> Step:
    def add(im: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, bytes | None]:
        a = np.asarray(im, dtype=np.float64) + rng.normal(0, sigma, (im.height, im.width, 3))
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8)), None

    return add


def _jpeg(quality: int) -> Step:
    def save(im: Image.Image, _rng: np.random.Generator) -> tuple[Image.Image, bytes | None]:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), buf.getvalue()

    return save


# name -> degradation steps after the bicubic x2 downscale
PROTOCOLS: dict[str, list[Step]] = {
    "clean (bicubic)": [],
    "noise 6 + JPEG 45": [_noise(6), _jpeg(45)],
    "noise 10": [_noise(10)],
    "JPEG 60": [_jpeg(60)],
    "noise 3 + JPEG 75": [_noise(3), _jpeg(75)],
    # A phone photo in dim light: visible noise, saved at high quality.
    "noise 10 + JPEG 90": [_noise(10), _jpeg(90)],
}


def sr_table() -> list[str]:
    pipeline = worker_pipeline(UpscalerKind.ONNX, 2, ImageLimits())
    images = sorted(VAL.glob("*.png"))
    rows = [
        f"Set5 ({len(images)} images), x2, PSNR-Y (dB, border 2); mean over images.",
        "",
        "| input | bicubic | Lanczos | restore=none | restore=auto | auto - Lanczos |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, steps in PROTOCOLS.items():
        rng = np.random.default_rng(16)
        scores: list[list[float]] = [[], [], [], []]
        for path in images:
            hr = Image.open(path).convert("RGB")
            hr = hr.crop((0, 0, hr.width // 2 * 2, hr.height // 2 * 2))
            lr = hr.resize((hr.width // 2, hr.height // 2), Image.Resampling.BICUBIC)
            data: bytes | None = None
            for step in steps:
                lr, data = step(lr, rng)
            if data is None:  # the last step was not JPEG: send a lossless file
                buf = io.BytesIO()
                lr.save(buf, "PNG")
                data = buf.getvalue()
            original = np.asarray(hr)
            for k, kernel in ((0, Image.Resampling.BICUBIC), (1, Image.Resampling.LANCZOS)):
                scores[k].append(psnr_y(original, np.asarray(lr.resize(hr.size, kernel))))
            for k, restore in ((2, Restore.NONE), (3, Restore.AUTO)):
                options = EnhanceOptions(
                    upscale=2, adjust=Adjust.NONE, format=OutputFormat.PNG, restore=restore
                )
                out = Image.open(io.BytesIO(pipeline.run(data, options).data)).convert("RGB")
                scores[k].append(psnr_y(original, np.asarray(out)))
        m = [float(np.mean(v)) for v in scores]
        rows.append(
            f"| {name} | {m[0]:.2f} | {m[1]:.2f} | {m[2]:.2f} | {m[3]:.2f} | {m[3] - m[1]:+.2f} |"
        )
        print(rows[-1], flush=True)
    return rows


def grey_world(pixels: np.ndarray) -> np.ndarray:
    """Plain per-channel autocontrast (0.5 % cut) then grey-world gains."""
    stretched = np.asarray(ImageOps.autocontrast(Image.fromarray(pixels), cutoff=0.5), float)
    means = stretched.reshape(-1, 3).mean(axis=0)
    gains = means.mean() / np.maximum(means, 1e-6)
    return np.clip(np.rint(stretched * gains), 0, 255).astype(np.uint8)


def _to8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def tone_table() -> list[str]:
    toner = OnnxToneCorrector(threads=2)
    blur, settings = OpenCvBlur(), AdjustSettings()
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "faulty input": lambda p: p,
        "autocontrast + grey-world": grey_world,
        "classic adjust": lambda p: auto_tone(p, blur, settings),
        "learned adjust": toner.correct,
    }
    images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(VAL.glob("*.png"))]
    rng = np.random.default_rng(2016)  # not the training seeds
    rows = [
        (
            f"{len(images)} validation images (Set5) x {DRAWS} random faults per family; "
            "mean CIEDE2000 to the original (lower is better)."
        ),
        "",
        "| fault | " + " | ".join(methods) + " | learned cut |",
        "|---|" + "---:|" * (len(methods) + 1),
    ]
    for family in ("none", *FAMILIES):
        scores: dict[str, list[float]] = {m: [] for m in methods}
        for original in images:
            for _ in range(1 if family == "none" else DRAWS):
                faulty = original
                if family != "none":
                    faulty = _to8(apply_fault(original / 255.0, family, rng))
                for m, fn in methods.items():
                    scores[m].append(mean_delta_e(original, fn(faulty)))
        means = [float(np.mean(scores[m])) for m in methods]
        cut = "" if family == "none" else f"{1 - means[-1] / means[0]:.0%}"
        rows.append(f"| {family} | " + " | ".join(f"{v:.2f}" for v in means) + f" | {cut} |")
        print(rows[-1], flush=True)
    return rows


def tone_examples() -> list[str]:
    """faulty | learned | original strips of a synthetic scene, under docs/img/."""
    toner = OnnxToneCorrector(threads=2)
    original = np.asarray(scene(people=True))
    rng = np.random.default_rng(7)
    lines = []
    for family in ("exposure", "contrast", "cast", "fading"):
        faulty = _to8(apply_fault(original / 255.0, family, rng))
        strip = np.concatenate([faulty, toner.correct(faulty), original], axis=1)
        name = f"tone-{family}.jpg"
        Image.fromarray(strip).save(ROOT / "docs" / "img" / name, quality=85)
        lines.append(f"![{family}: faulty, learned adjust, original](img/{name})")
    return lines


def _splice(path: Path, tag: str, rows: list[str]) -> None:
    text = path.read_text()
    start, end = f"<!-- {tag} -->", f"<!-- /{tag} -->"
    block = f"{start}\n" + "\n".join(rows) + f"\n{end}"
    if start in text:
        text = re.sub(
            re.escape(start) + ".*?" + re.escape(end), lambda _m: block, text, flags=re.DOTALL
        )
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--print", action="store_true", help="print only, write nothing")
    ap.add_argument("--only", choices=("sr", "tone"), default=None)
    args = ap.parse_args()
    stamp = (
        f"Measured by `bench/measure_enhancement.py` on {time.strftime('%Y-%m-%d', time.gmtime())}, "
        f"{cpu_model()} ({os.cpu_count()} logical CPUs)."
    )
    if args.only in (None, "sr"):
        rows = [stamp, "", *sr_table()]
        if not args.print:
            _splice(ROOT / "docs" / "model.md", "measure_enhancement:sr", rows)
    if args.only in (None, "tone"):
        rows = [stamp, "", *tone_table()]
        if not args.print:
            rows += ["", *tone_examples()]
            _splice(ROOT / "docs" / "enhancement.md", "measure_enhancement:tone", rows)


if __name__ == "__main__":
    main()
