"""Real engines for the scale-out adapters, started on loopback by the tests.

PostgreSQL and Redis come from Debian's packages (``.ci/run`` and ``nox -s tests``
install them); the S3 API server is moto's server mode, from PyPI. Each starts once
per test session in a private temporary folder, on a free port, and stops at the end.
A test that needs an engine that cannot start fails with the reason: it never skips.

Fixtures (in ``conftest.py``): ``postgres_url`` (a fresh empty database per test),
``redis_url`` (an emptied server per test), ``s3_target`` (a fresh bucket per test).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fail(what: str, detail: str) -> None:
    pytest.fail(f"cannot start {what} for the tests: {detail}", pytrace=False)


def _wait(
    ready: Callable[[], bool], what: str, proc: subprocess.Popen[bytes] | None, log: Path
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            _fail(what, f"it exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if ready():
                return
        except (OSError, httpx.HTTPError):
            pass  # not listening yet
        time.sleep(0.1)
    _fail(what, f"not ready after {STARTUP_TIMEOUT:.0f} s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


def _redis_command(port: int, *words: str) -> bytes:
    """One RESP command on a fresh connection; the fixtures need no client library."""
    payload = f"*{len(words)}\r\n".encode() + b"".join(
        f"${len(w.encode())}\r\n{w}\r\n".encode() for w in words
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        return sock.recv(65536)


# ----------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class Postgres:
    """A running PostgreSQL cluster on loopback, trust authentication for ``user``."""

    port: int
    user: str
    socket_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> None:
        subprocess.run(
            [_pg_bin("psql"), "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url(database), "-c", sql],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    on_path = shutil.which(name)
    if on_path is None:
        _fail("PostgreSQL", f"{name} not found: apt-get install postgresql (nox -s tests does)")
        raise AssertionError  # unreachable: pytest.fail raises
    return on_path


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """initdb + pg_ctl start in a temporary folder; as root, the server runs as ``postgres``."""
    root = Path(tempfile.mkdtemp(prefix="cropedly-pg-"))
    data, sockets, log = root / "data", root / "run", root / "server.log"
    sockets.mkdir()
    port = _free_port()
    as_root = os.geteuid() == 0
    run_as: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    user = "postgres" if as_root else getpass.getuser()
    if as_root:
        # PostgreSQL refuses to run as root; the Debian package made the postgres user.
        root.chmod(0o755)
        shutil.chown(sockets, "postgres")
        log.touch()
        shutil.chown(log, "postgres")
        data.mkdir()
        shutil.chown(data, "postgres")
    init = subprocess.run(
        [*run_as, _pg_bin("initdb"), "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8",
         "--no-sync", "--locale=C.UTF-8"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if init.returncode != 0:
        _fail("PostgreSQL", f"initdb failed:\n{init.stderr[-2000:]}")
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    start = subprocess.run(
        [*run_as, _pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w",
         "-t", str(int(STARTUP_TIMEOUT)), "start"],
        capture_output=True, text=True, timeout=STARTUP_TIMEOUT + 10, check=False,
    )  # fmt: skip
    if start.returncode != 0:
        _fail("PostgreSQL", f"pg_ctl start failed:\n{start.stderr}\n{_tail(log)}")
    try:
        yield Postgres(port=port, user=user, socket_dir=sockets)
    finally:
        subprocess.run(
            [*run_as, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------- Redis


@dataclass(frozen=True)
class Redis:
    """A running Redis server on loopback, no persistence."""

    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def flush(self) -> None:
        reply = _redis_command(self.port, "FLUSHALL")
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL answered {reply!r}")


@contextmanager
def redis_server() -> Iterator[Redis]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        _fail("Redis", "redis-server not found: apt-get install redis-server (nox -s tests does)")

    def argv(root: Path, port: int) -> list[str]:
        return [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                "--appendonly", "no", "--dir", str(root), "--protected-mode", "yes"]  # fmt: skip

    def ready(port: int) -> bool:
        return _redis_command(port, "PING").startswith(b"+PONG")

    with _spawned("cropedly-redis-", argv, "Redis", ready) as port:
        yield Redis(port=port)


# --------------------------------------------------------------------- S3 (moto)


@dataclass(frozen=True)
class S3Target:
    """Where a test's blobs go: moto's endpoint and a bucket of the test's own."""

    endpoint_url: str
    bucket: str
    access_key_id: str = "testing"
    secret_access_key: str = "testing"
    region: str = "us-east-1"


@dataclass(frozen=True)
class MotoServer:
    endpoint_url: str

    def new_bucket(self) -> S3Target:
        name = f"t-{uuid.uuid4().hex[:16]}"
        # moto accepts unsigned requests; the adapter under test signs its own.
        response = httpx.put(f"{self.endpoint_url}/{name}", timeout=10)
        if response.status_code != 200:
            raise RuntimeError(f"creating bucket {name}: {response.status_code} {response.text}")
        return S3Target(endpoint_url=self.endpoint_url, bucket=name)


@contextmanager
def moto_server() -> Iterator[MotoServer]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

    def argv(_root: Path, port: int) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]

    def ready(port: int) -> bool:
        return httpx.get(f"http://127.0.0.1:{port}/moto-api/", timeout=2).status_code < 500

    what = "moto (S3 API server; pip install 'moto[server]')"
    with _spawned("cropedly-moto-", argv, what, ready, env) as port:
        yield MotoServer(endpoint_url=f"http://127.0.0.1:{port}")


@contextmanager
def _spawned(
    prefix: str,
    argv: Callable[[Path, int], list[str]],
    what: str,
    ready: Callable[[int], bool],
    env: dict[str, str] | None = None,
) -> Iterator[int]:
    """A server process in a temporary folder on a free port, until the block ends; its port."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    log = root / "server.log"
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv(root, port),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    try:
        _wait(lambda: ready(port), what, proc, log)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
