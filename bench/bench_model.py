"""Benchmark of the learned upscaler: Set5 quality, speed and peak memory.

    python bench/bench_model.py                 # writes docs/benchmarks-model.md and prints it
    python bench/bench_model.py --quick         # Set5 only, no 12 MP runs

Quality follows the super-resolution literature: LR = Pillow bicubic downscale of the
(scale-cropped) HR image; PSNR and SSIM on the Y channel of BT.601 YCbCr (studio range),
with ``scale`` border pixels cropped. Speed and memory run in a fresh subprocess per case
so each peak RSS belongs to one call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from machine import cpu_model
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SET5 = ROOT.parent / "shared" / "datasets" / "sr" / "val"
PHOTO = ROOT.parent / "shared" / "datasets" / "sr" / "train"
OUT = ROOT / "docs" / "benchmarks-model.md"

# Published Set5 figures (PSNR dB / SSIM), as tabulated in the EDSR and LapSRN papers.
PUBLISHED = {
    2: {"Bicubic": (33.66, 0.9299), "FSRCNN": (37.05, 0.9560), "EDSR": (38.11, 0.9601)},
    4: {"Bicubic": (28.42, 0.8104), "FSRCNN": (30.72, 0.8660), "EDSR": (32.46, 0.8968)},
}


def y_studio(rgb: np.ndarray) -> np.ndarray:
    f = rgb.astype(np.float64)
    return 16.0 + (65.481 * f[..., 0] + 128.553 * f[..., 1] + 24.966 * f[..., 2]) / 255.0


def psnr(a: np.ndarray, b: np.ndarray, border: int) -> float:
    ya, yb = (
        y_studio(a)[border:-border, border:-border],
        y_studio(b)[border:-border, border:-border],
    )
    return float(10 * np.log10(255.0**2 / np.mean((ya - yb) ** 2)))


def _gauss_valid(img: np.ndarray) -> np.ndarray:
    x = np.arange(11) - 5
    w = np.exp(-(x**2) / (2 * 1.5**2))
    w /= w.sum()
    n0, n1 = img.shape[0] - 10, img.shape[1] - 10
    rows = sum(w[k] * img[k : k + n0, :] for k in range(11))
    return sum(w[k] * rows[:, k : k + n1] for k in range(11))


def ssim(a: np.ndarray, b: np.ndarray, border: int) -> float:
    """Wang et al. (2004): 11x11 Gaussian window, sigma 1.5, on the Y channel."""
    x, y = y_studio(a)[border:-border, border:-border], y_studio(b)[border:-border, border:-border]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _gauss_valid(x), _gauss_valid(y)
    sxx = _gauss_valid(x * x) - mx * mx
    syy = _gauss_valid(y * y) - my * my
    sxy = _gauss_valid(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(m.mean())


def set5_pairs(scale: int) -> list[tuple[str, np.ndarray, Image.Image]]:
    if not SET5.is_dir():
        raise SystemExit(f"Set5 not found at {SET5}")
    pairs = []
    for path in sorted(SET5.glob("*.png")):
        hr = Image.open(path).convert("RGB")
        hr = hr.crop((0, 0, hr.width // scale * scale, hr.height // scale * scale))
        lr = hr.resize((hr.width // scale, hr.height // scale), Image.Resampling.BICUBIC)
        pairs.append((path.stem, np.asarray(hr), lr))
    return pairs


def _has_x4_model() -> bool:
    from importlib import resources  # noqa: PLC0415

    return resources.files("cropedly_adapters.models").joinpath("sr_x4.onnx").is_file()


def quality() -> dict[int, dict[str, list[tuple[float, float]]]]:
    from cropedly_adapters.onnx_upscaler import OnnxUpscaler  # noqa: PLC0415

    up = OnnxUpscaler(threads=2)
    results: dict[int, dict[str, list[tuple[float, float]]]] = {}
    for s in (2, 4):
        rows: dict[str, list[tuple[float, float]]] = {}
        for _name, hr, lr in set5_pairs(s):
            outs = {
                "Bicubic (Pillow)": np.asarray(
                    lr.resize((hr.shape[1], hr.shape[0]), Image.Resampling.BICUBIC)
                ),
                "Lanczos (Pillow)": np.asarray(
                    lr.resize((hr.shape[1], hr.shape[0]), Image.Resampling.LANCZOS)
                ),
                "Model": up.upscale(np.asarray(lr), s),
            }
            if s == 4 and _has_x4_model():
                outs["Model x2 twice"] = up.upscale(up.upscale(np.asarray(lr), 2), 2)
            for method, out in outs.items():
                rows.setdefault(method, []).append((psnr(out, hr, s), ssim(out, hr, s)))
        results[s] = rows
    return results


def _photo(megapixels: float) -> np.ndarray:
    src = Image.open(min(PHOTO.glob("*.jpg"))).convert("RGB")
    w = round((megapixels * 1e6 * 4 / 3) ** 0.5)
    h = round(w * 3 / 4)
    return np.asarray(src.resize((w, h), Image.Resampling.LANCZOS))


def one_case(megapixels: float, factor: int, threads: int, restore: bool) -> dict[str, float]:
    """Run in a subprocess: one upscale (after restoration if asked), its time and peak RSS."""
    from cropedly_adapters.onnx_restorer import OnnxRestorer  # noqa: PLC0415
    from cropedly_adapters.onnx_upscaler import OnnxUpscaler  # noqa: PLC0415

    img = _photo(megapixels)
    up = OnnxUpscaler(threads=threads)
    restorer = OnnxRestorer(threads=threads)
    up.upscale(img[:64, :64], factor)  # load the model(s) outside the timing
    restorer.restore(img[:64, :64])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # CPU time as well as wall time: on a shared machine the wall clock also counts other
    # people's work, CPU seconds give the per-core throughput.
    cpu0 = time.process_time()
    t = time.perf_counter()
    out = up.upscale(restorer.restore(img) if restore else img, factor)
    dt = time.perf_counter() - t
    cpu = time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "input_mp": img.shape[0] * img.shape[1] / 1e6,
        "output_mp": out.shape[0] * out.shape[1] / 1e6,
        "seconds": dt,
        "cpu_seconds": cpu,
        "peak_rss_mib": peak,
        "rss_before_mib": before,
        "output_mib": out.nbytes / 2**20,
    }


def speed(cases: list[tuple[float, int, int, int]]) -> list[dict[str, float]]:
    rows = []
    for mp, factor, threads, restore in cases:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", f"{mp},{factor},{threads},{restore}"],
            check=True,
            capture_output=True,
            text=True,
        )
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row.update(
            {
                "factor": factor,
                "threads": threads,
                "restore": restore,
                "mp_per_s": row["output_mp"] / row["seconds"],
                "mp_per_cpu_s": row["output_mp"] / row["cpu_seconds"],
            }
        )
        rows.append(row)
        sys.stderr.write(json.dumps(row) + "\n")
    return rows


def _mean_psnr(scores: list[tuple[float, float]]) -> float:
    return float(np.mean([p for p, _ in scores]))


def render(q: dict, sp: list[dict[str, float]]) -> str:
    lines = [
        "# Learned upscaler benchmark",
        "",
        (
            f"Generated by `python bench/bench_model.py` on {cpu_model()} ({os.cpu_count()} "
            f"logical CPUs), Python {platform.python_version()}."
        ),
        "",
        "## Set5 (PSNR dB / SSIM, Y channel, border = scale cropped)",
        "",
        "| method | x2 PSNR | x2 SSIM | x4 PSNR | x4 SSIM |",
        "|---|---|---|---|---|",
    ]
    methods = list(q[4])
    for m in methods:
        cells = []
        for s in (2, 4):
            if m in q[s]:
                p, ss = np.mean([v[0] for v in q[s][m]]), np.mean([v[1] for v in q[s][m]])
                cells += [f"{p:.2f}", f"{ss:.4f}"]
            else:
                cells += ["-", "-"]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    for ref in PUBLISHED[2]:
        (p2, s2), (p4, s4) = PUBLISHED[2][ref], PUBLISHED[4][ref]
        lines.append(f"| {ref} (published) | {p2:.2f} | {s2:.4f} | {p4:.2f} | {s4:.4f} |")
    lan2 = _mean_psnr(q[2]["Lanczos (Pillow)"])
    lan4 = _mean_psnr(q[4]["Lanczos (Pillow)"])
    lines += [
        "",
        (
            f"Gain of the model over Lanczos: x2 {_mean_psnr(q[2]['Model']) - lan2:+.2f} dB, "
            f"x4 {_mean_psnr(q[4]['Model']) - lan4:+.2f} dB."
        ),
        "",
        "Per image PSNR (dB):",
        "",
        "| image | x2 Lanczos | x2 model | x4 Lanczos | x4 model |",
        "|---|---|---|---|---|",
    ]
    names = [n for n, _, _ in set5_pairs(2)]
    for i, n in enumerate(names):
        lines.append(
            f"| {n} | {q[2]['Lanczos (Pillow)'][i][0]:.2f} | {q[2]['Model'][i][0]:.2f} "
            f"| {q[4]['Lanczos (Pillow)'][i][0]:.2f} | {q[4]['Model'][i][0]:.2f} |"
        )
    if sp:
        lines += [
            "",
            "## Speed and peak memory (`OnnxUpscaler`, tile 256)",
            "",
            (
                "restore = `OnnxRestorer` (tile 256) first, as for a noisy or blocky input "
                "(clean input skips it)."
            ),
            "",
            (
                "| input | factor | restore | threads | output MP | wall s | CPU s | output MP/s (wall) "
                "| output MP per CPU-second | peak RSS MiB | RSS before call MiB "
                "| output array MiB |"
            ),
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sp:
            lines.append(
                f"| {r['input_mp']:.1f} MP | x{r['factor']} | {'yes' if r['restore'] else 'no'} "
                f"| {r['threads']} "
                f"| {r['output_mp']:.1f} "
                f"| {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['mp_per_s']:.2f} "
                f"| {r['mp_per_cpu_s']:.2f} "
                f"| {r['peak_rss_mib']:.0f} | {r['rss_before_mib']:.0f} | {r['output_mib']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="Set5 only")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if args.one:
        mp, factor, threads, restore = args.one.split(",")
        case = one_case(float(mp), int(factor), int(threads), restore == "1")
        sys.stdout.write(json.dumps(case) + "\n")
        return
    q = quality()
    cases = (
        []
        if args.quick
        else [
            (2.0, 2, 1, 0),
            (2.0, 2, 1, 1),
            (2.0, 2, 2, 0),
            (2.0, 4, 1, 0),
            (2.0, 4, 1, 1),
            (2.0, 4, 2, 0),
            (12.0, 2, 1, 0),
            (12.0, 2, 1, 1),
            (12.0, 2, 2, 0),
            (12.0, 4, 2, 0),
        ]
    )
    text = render(q, speed(cases))
    if not args.quick:
        args.out.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
