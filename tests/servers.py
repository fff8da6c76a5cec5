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

STARTUP_TIMEOUT = 60.0  # two HTTP workers importing on 2 shared, loaded cores


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
    process: subprocess.Popen[bytes] | None = None  # for signals and the exit code

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def descendants(self) -> list[int]:
        """PIDs of every process below the server (HTTP workers, image workers)."""
        found: list[int] = []
        todo = [self.pid]
        while todo:
            pid = todo.pop()
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    children = (task / "children").read_text().split()
                except OSError:  # the thread or process has just exited
                    continue
                for child in map(int, children):
                    if child not in found:
                        found.append(child)
                        todo.append(child)
        return found

    def pid_serving(self, response: httpx.Response) -> int:
        """The server process holding the TCP connection ``response`` came on (kept alive)."""
        client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
        inode = _socket_inode(self.port, client_port)
        for pid in [self.pid, *self.descendants()]:
            try:
                links = [str(fd.readlink()) for fd in Path(f"/proc/{pid}/fd").iterdir()]
            except OSError:
                continue
            if f"socket:[{inode}]" in links:
                return pid
        raise AssertionError(f"no server process holds the connection from port {client_port}")

    def rss_bytes(self) -> int:
        """Resident memory of the server process (not its image workers)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


def _socket_inode(server_port: int, client_port: int) -> str:
    """The inode of the server side of a loopback TCP connection (from /proc/net/tcp)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if (
                int(local.rsplit(":", 1)[1], 16) == server_port
                and int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                return inode
    raise AssertionError(f"no connection {server_port} <- {client_port} in /proc/net/tcp")


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
        yield Server(base, process.pid, stderr_path, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
