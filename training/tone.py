"""Train the tone and colour model and export it to ONNX.

    python training/tone.py --seed 0   # writes src/adapters/cropedly_adapters/models/tone.onnx

A tiny CNN looks at a 64 x 64 thumbnail and predicts eight numbers of one global
correction: a black and a white point per channel (exposure, contrast, fading, casts),
one midtone gamma and one saturation. The adapter turns them into lookup tables that
Pillow applies at full resolution in C, so the cost per pixel does not depend on the
network and no halo can appear. Training pairs are thumbnails of the training photos
with faults drawn at random (training/faults.py); the pristine thumbnail is the target
and 15 % of the inputs carry no fault, so a good photo is left (nearly) as it is.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import onnx
import onnxruntime as ort
import torch
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import TRAIN_DIR
from faults import random_faults
from model import count_params

MODELS_DIR = Path(__file__).resolve().parents[1] / "src" / "adapters" / "cropedly_adapters" / "models"
THUMB = 64
LUMA = (0.299, 0.587, 0.114)


class ToneNet(nn.Module):
    """Thumbnail (1, 3, 64, 64) in [0, 1] -> (1, 8): black[3], white[3], gamma, saturation."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(3, w // 2, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
            nn.Conv2d(w // 2, w, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
            nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1), nn.LeakyReLU(0.1),
        )  # fmt: skip
        # Pooled features plus per-channel mean, spread and extremes of the thumbnail.
        self.head = nn.Sequential(nn.Linear(4 * w + 12, 64), nn.LeakyReLU(0.1), nn.Linear(64, 8))
        last = self.head[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)  # start as the identity correction
        nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        flat = x.flatten(2)
        stats = [flat.mean(2), flat.std(2), flat.amax(2), flat.amin(2)]
        z = self.head(torch.cat([f.mean((2, 3)), f.amax((2, 3)), *stats], dim=1))
        t = torch.tanh(z)
        black = 0.25 * t[:, 0:3]
        white = torch.exp(0.7 * t[:, 3:6])
        gamma = torch.exp(0.7 * t[:, 6:7])
        saturation = torch.exp(0.7 * t[:, 7:8])
        return torch.cat([black, white, gamma, saturation], dim=1)


def correct(rgb: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """The correction on (N, 3, H, W) in [0, 1]; the adapter's lookup tables compute the same."""
    black = params[:, 0:3, None, None]
    white = params[:, 3:6, None, None]
    gamma = params[:, 6:7, None, None]
    sat = params[:, 7:8, None, None]
    x = torch.clamp((rgb - black) / (white - black), 1e-4, 1.0) ** gamma
    y = sum(w * x[:, c : c + 1] for c, w in enumerate(LUMA))
    return torch.clamp(y + sat * (x - y), 0.0, 1.0)


def thumbnail(im: Image.Image) -> np.ndarray:
    return np.asarray(im.resize((THUMB, THUMB), Image.BOX), dtype=np.float64) / 255.0


def crop_bank(seed: int, per_image: int = 40) -> np.ndarray:
    """Pristine thumbnails of random crops (60-100 % of each side) of every training photo."""
    rng = np.random.default_rng(seed)
    bank = []
    for path in sorted(TRAIN_DIR.iterdir()):
        if path.suffix.lower() not in {".png", ".jpg", ".jpeg"}:
            continue
        im = Image.open(path).convert("RGB")
        im.thumbnail((256, 256), Image.BOX)
        for _ in range(per_image):
            cw, ch = (int(s * rng.uniform(0.6, 1.0)) for s in im.size)
            x, y = int(rng.integers(0, im.width - cw + 1)), int(rng.integers(0, im.height - ch + 1))
            bank.append(thumbnail(im.crop((x, y, x + cw, y + ch))))
    return np.stack(bank)


def export_onnx(net: ToneNet, out: Path, meta: dict) -> None:
    net.eval()
    buf = io.BytesIO()
    torch.onnx.export(
        net,
        torch.zeros(1, 3, THUMB, THUMB),
        buf,
        input_names=["thumbnail"],
        output_names=["params"],
        opset_version=17,
        dynamo=False,
    )
    proto = onnx.load_from_string(buf.getvalue())
    for key, value in {"thumbnail": THUMB, **meta}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    data = proto.SerializeToString()
    x = np.random.default_rng(0).random((1, 3, THUMB, THUMB), dtype=np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"thumbnail": x})[0]
    if np.abs(got - ref).max() > 1e-4:
        raise SystemExit("ONNX export differs from PyTorch")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=MODELS_DIR / "tone.onnx")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    bank = crop_bank(args.seed)
    rng = np.random.default_rng(args.seed + 1)
    net = ToneNet()
    print(f"tone: {count_params(net)} parameters, {len(bank)} thumbnails", flush=True)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(i / args.steps, 1.0)))
    )
    running = 0.0
    for step in range(1, args.steps + 1):
        idx = rng.integers(0, len(bank), args.batch)
        clean = bank[idx]
        if rng.random() < 0.5:
            clean = clean[:, :, ::-1]
        bad = np.stack([random_faults(c, rng) for c in clean])
        x = torch.from_numpy(bad.transpose(0, 3, 1, 2).astype(np.float32))
        target = torch.from_numpy(np.ascontiguousarray(clean.transpose(0, 3, 1, 2), np.float32))
        loss = (correct(x, net(x)) - target).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += loss.item()
        if step % 250 == 0:
            elapsed = round(time.perf_counter() - t0, 1)
            print(json.dumps({"step": step, "loss": running / 250, "elapsed_s": elapsed}), flush=True)
            running = 0.0
    meta = {
        "kind": "tone",
        "steps": args.steps,
        "batch": args.batch,
        "seed": args.seed,
        "threads": args.threads,
        "train_seconds": round(time.perf_counter() - t0, 1),
        "params": count_params(net),
    }
    export_onnx(net, args.out, meta)
    print(json.dumps({"done": meta, "out": str(args.out)}), flush=True)


if __name__ == "__main__":
    main()
