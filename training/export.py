"""ONNX export, checked against the PyTorch model before it is written."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from model import RGBUpscaler, SRNet


def export_onnx(model: SRNet, out: Path, meta: dict) -> None:
    model.eval()
    # The adapter reads these to size its tile overlap and to check the factor.
    info = {"scale": model.scale, "receptive_radius": model.receptive_radius, **meta}
    export_checked(RGBUpscaler(model).eval(), "rgb_hr", ("H", "W"), info, out)


def export_checked(
    wrapper: torch.nn.Module, output: str, output_axes: tuple[str, str], info: dict, out: Path
) -> None:
    """Export a uint8 RGB in/out wrapper to ONNX (opset 17, any size) with ``info`` as
    metadata, check ONNX against PyTorch on a random image, write it to ``out``."""
    buf = io.BytesIO()
    torch.onnx.export(
        wrapper,
        torch.zeros(64, 64, 3, dtype=torch.uint8),
        buf,
        input_names=["rgb"],
        output_names=[output],
        dynamic_axes={"rgb": {0: "h", 1: "w"}, output: dict(enumerate(output_axes))},
        opset_version=17,
        dynamo=False,  # the TorchScript exporter needs no onnxscript
    )
    proto = onnx.load_from_string(buf.getvalue())
    for key, value in info.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    data = proto.SerializeToString()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    with torch.no_grad():
        ref = wrapper(torch.from_numpy(x)).numpy().astype(int)
    got = sess.run(None, {"rgb": x})[0]
    if got.shape != ref.shape or np.abs(got.astype(int) - ref).max() > 1:
        raise SystemExit("ONNX export differs from PyTorch")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
