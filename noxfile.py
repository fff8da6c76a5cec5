"""Developer tasks: ``nox -s tests``, ``lint``, ``typecheck``, ``bench``, ``serve``, ``train``."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests"]

PYTHON = "3.11"
# The CPU build that these machines hold locally; a bare "torch" pulls a multi-GB CUDA build.
TORCH = "torch==2.13.0"
CHROMIUM = "/usr/bin/chromium"
# Servers the tests start for real, from Debian's packages (a glob where the path holds a version):
# headless Chromium for /schema offline and the Playwright console tests (never a browser download),
# PostgreSQL and Redis for the scale-out adapters' contract suites (tests/engines.py).
DEBIAN_PACKAGES = {
    "chromium": CHROMIUM,
    "postgresql": "/usr/lib/postgresql/*/bin/initdb",  # the folder names the major version
    "redis-server": "/usr/bin/redis-server",
}


def _installed(pattern: str) -> bool:
    return any(Path("/").glob(pattern.lstrip("/")))


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite, unit to end-to-end, with the core-purity contract."""
    missing = [package for package, path in DEBIAN_PACKAGES.items() if not _installed(path)]
    if missing:
        apt = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-q", external=True, env=apt)
        install = ("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing)
        session.run(*install, external=True, env=apt)
    session.install("-e", ".[test]")
    # Wheels of the PyPI projects whose names we once shadowed, for the offline wheel test.
    session.run(
        "pip", "download", "--quiet", "--no-deps", "--dest", ".nox/wheelhouse",
        "entrypoints==0.4", "adapters==1.3.0",
    )
    session.run("lint-imports")
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "noxfile.py", "bench", "training")
    session.run("ruff", "format", "--check", "src")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Login, token, access, pipeline and model figures, written under docs/."""
    session.install("-e", ".[test]")
    scripts = (
        "bench/bench_auth.py",
        "bench/bench_access.py",
        "bench/bench_pipeline.py",
        "bench/bench_model.py",
        "bench/measure_enhancement.py",
    )
    for script in scripts:
        if Path(script).exists():
            session.run("python", script)


@nox.session(python=PYTHON)
def load(session: nox.Session) -> None:
    """Bounded load test on loopback (20 s per scenario and configuration): login, enhance and
    catalog listing against a real ``cropedly serve``, with the local pool and with 2 queue
    workers on Redis; writes docs/benchmarks-load.md. ``-- --seconds 5`` for a quick run."""
    if not _installed(DEBIAN_PACKAGES["redis-server"]):
        apt = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-q", external=True, env=apt)
        install = ("apt-get", "install", "-y", "-q", "--no-install-recommends", "redis-server")
        session.run(*install, external=True, env=apt)
    session.install("-e", ".[test]")
    session.run("python", "bench/load.py", *session.posargs)


@nox.session(python=PYTHON)
def serve(session: nox.Session) -> None:
    """Run the API on the embedded default: SQLite and files under ./data."""
    session.install("-e", ".")
    session.run("cropedly", "serve", *session.posargs)


@nox.session(python=PYTHON)
def cli(session: nox.Session) -> None:
    """The ``cropedly`` command line, e.g. ``nox -s cli -- users create ...``."""
    session.install("-e", ".")
    session.run("cropedly", *session.posargs)


@nox.session(python=PYTHON)
def train(session: nox.Session) -> None:
    """Train every shipped model on CPU (seed 0) into cropedly_adapters/models/.

    About 50 min for the two super-resolution models, 40 min for the restoration model
    and 15 min for the tone model on 2 shared cores (docs/model.md, docs/enhancement.md);
    ``nox -s train -- --scale 2`` trains one SR model, ``-- restore`` or ``-- tone`` one
    of the others.
    """
    # attrs: training/tone.py imports the adapter's feature code, whose package needs it.
    session.install(TORCH, "numpy", "pillow", "onnx", "onnxruntime", "attrs")
    if session.posargs in (["restore"], ["tone"]):
        session.run("python", f"training/{session.posargs[0]}.py", "--seed", "0")
        return
    if session.posargs:
        session.run("python", "training/train.py", *session.posargs)
        return
    for scale in ("2", "4"):
        session.run("python", "training/train.py", "--scale", scale, "--seed", "0")
    session.run("python", "training/restore.py", "--seed", "0")
    session.run("python", "training/tone.py", "--seed", "0")
