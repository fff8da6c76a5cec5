"""ONNX export, checked against the PyTorch model before it is written."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from model import SRNet


def export_onnx(model: SRNet, out: Path, meta: dict) -> None:
    model.eval()
    buf = io.BytesIO()
    torch.onnx.export(
        model,
        torch.zeros(1, 1, 64, 64),
        buf,
        input_names=["y"],
        output_names=["y_hr"],
        dynamic_axes={"y": {2: "h", 3: "w"}, "y_hr": {2: "H", 3: "W"}},
        opset_version=17,
        dynamo=False,  # the TorchScript exporter needs no onnxscript
    )
    proto = onnx.load_from_string(buf.getvalue())
    # The adapter reads these to size its tile overlap and to check the factor.
    info = {"scale": model.scale, "receptive_radius": model.receptive_radius, **meta}
    for key, value in info.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    data = proto.SerializeToString()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 1, 37, 53), dtype=np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = sess.run(None, {"y": x})[0]
    err = float(np.abs(got - ref).max())
    if err > 1e-4:
        raise SystemExit(f"ONNX export differs from PyTorch by {err}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
