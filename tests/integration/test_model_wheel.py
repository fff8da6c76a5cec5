"""The ONNX models ship inside the wheel and load from an installed copy of it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import sys, numpy as np
import cropedly_adapters.onnx_upscaler as m
assert m.__file__.startswith(sys.argv[1]), m.__file__
out = m.OnnxUpscaler().upscale(np.full((8, 8, 3), 100, np.uint8), 4)
print(out.shape)
"""


@pytest.mark.slow
def test_packaged_models_load_from_the_installed_wheel(tmp_path):
    """Build the wheel, unpack it as an install would, and upscale with it in a clean process."""
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("cropedly-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert "cropedly_adapters/models/sr_x2.onnx" in names
        assert "cropedly_adapters/models/sr_x4.onnx" in names
        assert "cropedly_adapters/models/restore_x1.onnx" in names
        assert "cropedly_adapters/models/tone.onnx" in names
        assert "cropedly_adapters/models/__init__.py" in names
        zf.extractall(tmp_path / "site")
    site = str(tmp_path / "site")
    # The unpacked wheel comes first on the path, ahead of any editable checkout.
    env = {**os.environ, "PYTHONPATH": site}
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, site],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "(32, 32, 3)" in run.stdout
