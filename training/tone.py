"""Train the tone and colour model and export it to ONNX.

    python training/tone.py --seed 0   # writes src/adapters/cropedly_adapters/models/tone.onnx

A small network reads statistics of a 64 x 64 thumbnail (``tone_features`` in the
adapter, imported from there so training and serving cannot drift apart) and
predicts eight numbers of one global correction: a black and a white point per channel (exposure, contrast, fading, casts),
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

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "src" / "adapters")]
from cropedly_adapters.onnx_tone import tone_features  # noqa: E402 - after the path

FEATURES = len(tone_features(np.zeros((4, 4, 3))))

MODELS_DIR = Path(__file__).resolve().parents[1] / "src" / "adapters" / "cropedly_adapters" / "models"
THUMB = 64
LUMA = (0.299, 0.587, 0.114)


class ToneNet(nn.Module):
    """Features (N, F) -> (N, 8): black[3], white[3], gamma, saturation."""

    def __init__(self, width: int = 128) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(FEATURES, width), nn.LeakyReLU(0.1),
            nn.Linear(width, width), nn.LeakyReLU(0.1),
            nn.Linear(width, 8),
        )  # fmt: skip
        last = self.body[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)  # start as the identity correction
        nn.init.zeros_(last.bias)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        t = torch.tanh(self.body(f))
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
        torch.zeros(1, FEATURES),
        buf,
        input_names=["features"],
        output_names=["params"],
        opset_version=17,
        dynamo=False,
    )
    proto = onnx.load_from_string(buf.getvalue())
    for key, value in {"thumbnail": THUMB, **meta}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    data = proto.SerializeToString()
    x = tone_features(np.random.default_rng(0).random((THUMB, THUMB, 3)))[None]
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"features": x})[0]
    if np.abs(got - ref).max() > 1e-4:
        raise SystemExit("ONNX export differs from PyTorch")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
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
        # Faults on the thumbnail's 8-bit values, as the adapter sees a faulty photo.
        bad = np.stack([np.rint(random_faults(c, rng) * 255) / 255 for c in clean])
        feats = torch.from_numpy(np.stack([tone_features(b) for b in bad]))
        x = torch.from_numpy(bad.transpose(0, 3, 1, 2).astype(np.float32))
        target = torch.from_numpy(np.ascontiguousarray(clean.transpose(0, 3, 1, 2), np.float32))
        loss = (correct(x, net(feats)) - target).abs().mean()
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
