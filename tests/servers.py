"""Real ``cropedly`` processes for black-box tests: the CLI, and ``cropedly serve``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """A fresh data folder, the Lanczos upscaler (no model to load), one image worker."""
    env = {
        **os.environ,
        "CROPEDLY_DATA_DIR": str(tmp_path / "data"),
        "CROPEDLY_UPSCALER": "lanczos",
        "CROPEDLY_IMAGE_WORKERS": "1",
        "CROPEDLY_LOG_LEVEL": "WARNING",
    }
    env.update({f"CROPEDLY_{k.upper()}": v for k, v in settings.items()})
    return env


def cropedly(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with this interpreter (works in any venv)."""
    return subprocess.run(
        [sys.executable, "-m", "cropedly.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def create_user(env: dict[str, str], email: str, password: str, name: str, plan: str) -> None:
    created = cropedly(
        env,
        "users",
        "create",
        "--email",
        email,
        "--password",
        password,
        "--name",
        name,
        "--plan",
        plan,
    )
    assert 0 == created.returncode, created.stderr


@dataclass
class Server:
    base: str
    pid: int
    stderr: Path  # stdout and stderr of the server, in order

    def rss_bytes(self) -> int:
        """Resident memory of the server process (not its image workers)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


@contextmanager
def running_server(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    """``cropedly serve`` on a free loopback port until the block ends."""
    port = free_port()
    stderr_path = tmp_path / f"server-{port}.stderr"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cropedly.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=stderr,  # uvicorn's access log goes to stdout: keep it with the rest
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"cropedly serve exited with {process.returncode}:\n{stderr_path.read_text()}"
                )
            try:
                if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"cropedly serve not healthy after {STARTUP_TIMEOUT} s:\n"
                    f"{stderr_path.read_text()}"
                )
            time.sleep(0.2)
        yield Server(base, process.pid, stderr_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
