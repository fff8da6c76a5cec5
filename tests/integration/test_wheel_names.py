"""The wheel installs only names of ours, beside PyPI's ``entrypoints`` and ``adapters``.

Before, the wheel installed top-level ``adapters`` and ``entrypoints`` packages,
which silently shadowed (or shared files with) those PyPI distributions. The
two foreign wheels are downloaded by ``nox -s tests`` into ``.nox/wheelhouse``
before the tests run, so this test itself needs no network.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = Path(os.environ.get("CROPEDLY_WHEELHOUSE", ROOT / ".nox" / "wheelhouse"))

_PROBE = """
import importlib.util
import cropedly, cropedly_core, cropedly_adapters
import entrypoints
from entrypoints import get_group_all            # PyPI's entrypoints 0.4, not shadowed
print(cropedly.__version__, cropedly.enhance.__name__, entrypoints.__file__)
# AdapterHub's package was installed with --no-deps: it resolves to its own files and
# imports until it needs its own dependency (torch), never into anything of ours.
print(importlib.util.find_spec("adapters").origin)
try:
    import adapters
except ModuleNotFoundError as exc:
    assert exc.name in {"torch", "transformers"}, exc
    print("adapters needs", exc.name)
"""


def _run(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [str(a) for a in args], capture_output=True, text=True, check=False, **kwargs
    )


@pytest.mark.slow
def test_the_wheel_coexists_with_the_pypi_entrypoints_and_adapters(tmp_path):
    foreign = sorted(WHEELHOUSE.glob("*.whl"))
    if not any(w.name.startswith("entrypoints-") for w in foreign) or not any(
        w.name.startswith("adapters-") for w in foreign
    ):
        pytest.fail(
            f"{WHEELHOUSE} lacks the entrypoints and adapters wheels; "
            "nox -s tests downloads them (pip download --no-deps entrypoints==0.4 adapters)"
        )
    build = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path, ROOT)
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("cropedly-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        tops = {name.split("/")[0] for name in zf.namelist()}
        for typed in ("cropedly", "cropedly_core", "cropedly_adapters"):
            assert f"{typed}/py.typed" in zf.namelist()
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in zf.namelist())
    ours = {t for t in tops if not t.endswith(".dist-info")}
    assert ours == {"cropedly", "cropedly_core", "cropedly_adapters"}
    for other in foreign:  # no file of theirs has a path of ours
        with zipfile.ZipFile(other) as zf:
            assert not {n.split("/")[0] for n in zf.namelist()} & ours

    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", "--without-pip", venv).returncode == 0
    python = venv / "bin" / "python"
    # Ours and theirs go into the fresh venv's own site-packages, without the network;
    # cropedly's third-party dependencies come from this test environment, appended last.
    target = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip()
    )
    install = _run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        "--target",
        target,
        wheel,
        *foreign,
    )
    assert install.returncode == 0, install.stderr
    (target / "zz_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    probe = _run(python, "-c", _PROBE, cwd=tmp_path, env={"PATH": os.environ["PATH"]})
    assert probe.returncode == 0, probe.stderr
    lines = probe.stdout.splitlines()
    assert lines[0].split()[2].startswith(str(target))  # theirs, from the venv
    assert lines[1] == str(target / "adapters" / "__init__.py")

    cli = _run(
        python, "-m", "cropedly.cli", "--help", cwd=tmp_path, env={"PATH": os.environ["PATH"]}
    )
    assert cli.returncode == 0, cli.stderr
    assert "enhance" in cli.stdout
