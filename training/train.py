"""Train the luminance super-resolution network and export it to ONNX.

    python training/train.py --scale 2 --seed 0   # writes src/adapters/cropedly_adapters/models/sr_x2.onnx
    python training/train.py --scale 4 --seed 0   # writes src/adapters/cropedly_adapters/models/sr_x4.onnx

The defaults are the shipped model's settings (docs/model.md).

A fixed number of steps (not a time budget) keeps a run reproducible for a given seed
and thread count.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

# Sleep rather than spin while waiting at OpenMP barriers: on a machine shared with
# other work, spinning threads burn the CPU time the other thread needs (set before
# torch loads its OpenMP runtime).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from torch.nn import functional as nnf

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import PatchSampler, load_hr_images
from export import export_onnx
from model import SRNet, count_params
from validate import set5_psnr

MODELS_DIR = Path(__file__).resolve().parents[1] / "src" / "adapters" / "cropedly_adapters" / "models"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=int, choices=(2, 4), default=2)
    ap.add_argument("--channels", type=int, default=48)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--steps", type=int, default=None, help="default: 5000 (x2), 6000 (x4)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr-patch", type=int, default=None, help="default: 32 (x2), 24 (x4)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--run-dir", type=Path, default=None)
    ap.add_argument(
        "--out", type=Path, default=None, help="the .onnx to write (default: the packaged one)"
    )
    ap.add_argument(
        "--export-checkpoint",
        type=Path,
        default=None,
        help="skip training: export this state dict (e.g. a run's last.pt) and exit",
    )
    args = ap.parse_args()
    # The shipped models' settings; x4 takes smaller LR patches (24 px, 96-px HR targets).
    args.steps = args.steps or {2: 5000, 4: 6000}[args.scale]
    args.lr_patch = args.lr_patch or {2: 32, 4: 24}[args.scale]
    if args.out is None:
        args.out = MODELS_DIR / f"sr_x{args.scale}.onnx"
    if args.export_checkpoint is not None:
        model = SRNet(args.scale, args.channels, args.layers)
        model.load_state_dict(torch.load(args.export_checkpoint, weights_only=True))
        done = args.export_checkpoint.with_name("meta.json")
        if not done.exists():  # a run stopped early
            done = done.with_name("progress.json")
        meta = json.loads(done.read_text())
        export_onnx(model, args.out, meta)
        print(json.dumps({"exported": meta, "out": str(args.out)}), flush=True)
        return

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    run_dir = (
        args.run_dir or Path(__file__).resolve().parent / "runs" / f"x{args.scale}-seed{args.seed}"
    )
    run_dir.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    sampler = PatchSampler(load_hr_images(), args.scale, args.lr_patch, args.seed)
    model = SRNet(args.scale, args.channels, args.layers)
    print(
        f"x{args.scale}: {count_params(model)} parameters, {len(sampler.pairs)} images", flush=True
    )
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    # Cosine decay to ~1% of the start: the last steps polish rather than wander.
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(i / args.steps, 1.0)))
    )
    running = 0.0
    for step in range(1, args.steps + 1):
        lr_np, hr_np = sampler.batch(args.batch)
        loss = nnf.l1_loss(model(torch.from_numpy(lr_np)), torch.from_numpy(hr_np))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += loss.item()
        if step % args.log_every == 0 or step == args.steps:
            msg = {
                "step": step,
                "loss": running / args.log_every,
                "lr": sched.get_last_lr()[0],
                "elapsed_s": round(time.perf_counter() - t0, 1),
            }
            running = 0.0
            if step % (args.log_every * 4) == 0 or step == args.steps:
                # Monitoring only: the shipped weights are the last step's, never picked on Set5.
                model.eval()
                msg["set5_psnr"] = round(set5_psnr(model, args.scale), 3)
                model.train()
            print(json.dumps(msg), flush=True)
            torch.save(model.state_dict(), run_dir / "last.pt")
            progress = {**vars(args), "steps_done": step, "train_seconds": msg["elapsed_s"]}
            progress = {k: str(v) if isinstance(v, Path) else v for k, v in progress.items()}
            (run_dir / "progress.json").write_text(json.dumps(progress))
    elapsed = time.perf_counter() - t0
    model.eval()
    meta = {
        "scale": args.scale,
        "channels": args.channels,
        "layers": args.layers,
        "steps": args.steps,
        "batch": args.batch,
        "lr_patch": args.lr_patch,
        "seed": args.seed,
        "threads": args.threads,
        "train_seconds": round(elapsed, 1),
        "params": count_params(model),
    }
    export_onnx(model, args.out, meta)
    (run_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    print(json.dumps({"done": meta, "out": str(args.out)}), flush=True)


if __name__ == "__main__":
    main()
