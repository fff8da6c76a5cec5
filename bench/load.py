"""Bounded load test on loopback: ``nox -s load`` (or ``python bench/load.py``).

Starts a real ``cropedly serve`` per configuration, then drives three scenarios
against it for a fixed time each with an asyncio/httpx load driver: sign-in
(``POST /auth/v1/login``, argon2id on every call), enhance of a small JPEG
(``POST /images/v1``) and the catalog listing (``GET`` of 50 reference images).
Reports requests/s, p50/p99 latency and the error rate (any answer but the
expected status, or a transport error), prints a markdown table and writes
``docs/benchmarks-load.md`` with the machine it ran on.

A configuration is one entry of ``CONFIGURATIONS``: its settings and the extra
processes it needs (the queue workers and their Redis). The per-minute rate
limits are raised for the run: they would otherwise answer 429 within seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from machine import cpu_model, serving
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the loopback Redis the tests start, not a copy

EMAIL, PASSWORD = "bench@example.com", "a long measuring secret 4"
CATALOG = "/images/v1/enterprise-resources/images"
CATALOG_IMAGES = 50


# ------------------------------------------------------------------ configurations


@dataclass
class Configuration:
    """How the server runs: settings, and the processes to start beside it."""

    name: str
    settings: dict[str, str] = field(default_factory=dict)
    # Starts what the configuration needs and returns more settings (e.g. a Redis URL).
    beside: Callable[[ExitStack, dict[str, str]], dict[str, str]] | None = None


def _cropedly(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cropedly.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )


@contextmanager
def _stopped_at_exit(process: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _redis_and_two_workers(stack: ExitStack, env: dict[str, str]) -> dict[str, str]:
    from engines import redis_server  # noqa: PLC0415 - only this configuration needs it

    redis = stack.enter_context(redis_server())
    queued = {"CROPEDLY_REDIS_URL": redis.url, "CROPEDLY_IMAGE_QUEUE": "redis"}
    for _ in range(2):
        worker = _cropedly({**env, **queued}, "worker", "--concurrency", "1")
        stack.enter_context(_stopped_at_exit(worker))
    return queued


CONFIGURATIONS = [
    Configuration("embedded: SQLite, files, local pool (2 image workers)"),
    Configuration(
        "queue: SQLite, files, Redis, 2 `cropedly worker` (1 image each)",
        beside=_redis_and_two_workers,
    ),
]


# ----------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    name: str
    concurrency: int
    expected: int
    send: Callable[[httpx.AsyncClient], object]  # returns the awaitable request


@dataclass
class Outcome:
    scenario: str
    concurrency: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    kinds: Counter[str] = field(default_factory=Counter)  # what the errors were

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + self.errors

    def row(self) -> str:
        ordered = sorted(self.latencies_ms) or [float("nan")]

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

        rate = self.requests / self.seconds
        error_rate = self.errors / self.requests if self.requests else 0.0
        kinds = ", ".join(f"{n} x {kind}" for kind, n in self.kinds.most_common())
        return (
            f"| {self.scenario} | {self.concurrency} | {self.requests} | {rate:.1f} | "
            f"{pct(50):.0f} | {pct(99):.0f} | {error_rate:.1%}{f' ({kinds})' if kinds else ''} |"
        )


def small_jpeg(width: int = 320, height: int = 240) -> bytes:
    out = io.BytesIO()
    gradient = Image.linear_gradient("L").resize((width, height))
    Image.merge("RGB", (gradient, gradient.rotate(90).resize((width, height)), gradient)).save(
        out, "JPEG", quality=90
    )
    return out.getvalue()


def scenarios(token: str) -> list[Scenario]:
    auth = {"Authorization": f"Bearer {token}"}
    photo = small_jpeg()
    login_form = {"email": (None, EMAIL), "password": (None, PASSWORD)}
    return [
        Scenario("login", 4, 200, lambda c: c.post("/auth/v1/login", files=login_form)),
        Scenario(
            "enhance 320x240 JPEG",
            4,
            200,
            lambda c: c.post("/images/v1", files=[("images", ("photo.jpg", photo))], headers=auth),
        ),
        Scenario("catalog listing (50)", 8, 200, lambda c: c.get(CATALOG, headers=auth)),
    ]


async def drive(base: str, scenario: Scenario, seconds: float) -> Outcome:
    """``concurrency`` loops sending one request after the other until time is up."""
    latencies: list[float] = []
    errors = 0
    kinds: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=scenario.concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=120.0, limits=limits) as client:
        start = time.perf_counter()
        deadline = start + seconds

        async def loop() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    response = await scenario.send(client)  # type: ignore[misc]
                except httpx.TransportError as exc:
                    errors += 1
                    kinds[type(exc).__name__] += 1
                    continue
                if response.status_code == scenario.expected:
                    latencies.append((time.perf_counter() - sent) * 1000)
                else:
                    errors += 1
                    try:
                        problem = str(response.json().get("type", ""))
                    except ValueError:  # not a problem document
                        problem = ""
                    kinds[f"{response.status_code} {problem.rsplit('/', 1)[-1]}".strip()] += 1

        await asyncio.gather(*(loop() for _ in range(scenario.concurrency)))
        elapsed = time.perf_counter() - start
    return Outcome(scenario.name, scenario.concurrency, elapsed, latencies, errors, kinds)


def prepare(base: str, env: dict[str, str]) -> str:
    """The Enterprise account's token, with ``CATALOG_IMAGES`` reference images uploaded.

    The account is made by the CLI in the server's data folder (SQLite takes both).
    """
    created = subprocess.run(
        [sys.executable, "-m", "cropedly.cli", "users", "create", "--email", EMAIL,
         "--name", "Load", "--password", PASSWORD, "--plan", "enterprise"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if created.returncode and "already" not in created.stderr:
        raise RuntimeError(created.stderr)
    with httpx.Client(base_url=base, timeout=120.0) as client:
        login = client.post(
            "/auth/v1/login", files={"email": (None, EMAIL), "password": (None, PASSWORD)}
        )
        login.raise_for_status()
        token = str(login.json()["token"])
        auth = {"Authorization": f"Bearer {token}"}
        for n in range(CATALOG_IMAGES):
            uploaded = client.post(
                f"{CATALOG}/upload",
                files=[("images", (f"ref-{n}.jpg", small_jpeg(64, 48)))],
                headers=auth,
            )
            uploaded.raise_for_status()
        # One enhance first: the workers load their models before the clock starts.
        warm = client.post("/images/v1", files=[("images", ("w.jpg", small_jpeg()))], headers=auth)
        warm.raise_for_status()
    return token


def run(configuration: Configuration, seconds: float) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="cropedly-load-") as data, ExitStack() as stack:
        env = {
            **os.environ,
            "CROPEDLY_DATA_DIR": data,
            "CROPEDLY_LOG_LEVEL": "WARNING",
            # Limits that would answer 429 within seconds of a load test.
            "CROPEDLY_ENTERPRISE_REQUESTS_PER_MINUTE": "10000000",
            "CROPEDLY_QUEUE_LIMIT": "64",
            **configuration.settings,
        }
        if configuration.beside is not None:
            env.update(configuration.beside(stack, env))
        # Long: the queue workers load the models beside the server on the same cores.
        with serving(env, startup_seconds=180) as base:
            token = prepare(base, env)
            return [asyncio.run(drive(base, s, seconds)) for s in scenarios(token)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per scenario")
    parser.add_argument("--only", help="run the configurations whose name starts with this")
    parser.add_argument("--no-write", action="store_true", help="print, do not write docs/")
    args = parser.parse_args()
    chosen = [c for c in CONFIGURATIONS if not args.only or c.name.startswith(args.only)]
    load_before = os.getloadavg()[0]
    sections = []
    for configuration in chosen:
        print(f"## {configuration.name}", flush=True)
        rows = [o.row() for o in run(configuration, args.seconds)]
        table = "\n".join(
            [
                "| scenario | concurrency | requests | requests/s | p50 ms | p99 ms | errors |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
                *rows,
            ]
        )
        print(table, flush=True)
        sections.append(f"### {configuration.name}\n\n{table}\n")
    if args.no_write:
        return
    machine = (
        f"{cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; load average "
        f"{load_before:.1f} when the run started (the cores are shared with other jobs)"
    )
    (ROOT / "docs" / "benchmarks-load.md").write_text(
        "# Load test on loopback\n\n"
        f"`nox -s load` ({args.seconds:.0f} s per scenario), "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on {machine}.\n\n"
        "Each configuration is a fresh `cropedly serve` (one HTTP worker, the default\n"
        "settings: SQLite and files in a temporary data folder, the learned models)\n"
        "with an Enterprise account holding 50 reference images; the load driver\n"
        "(bench/load.py, asyncio + httpx on the same machine) keeps `concurrency`\n"
        "requests in flight for the whole time. An error is any answer but 200 or a\n"
        "transport error. The per-minute rate limit is raised for the run.\n\n"
        "Login runs argon2id (19 MiB, t=2) on every call by design, so it is bound by\n"
        "the cores; enhance by the image workers; the listing by one HTTP worker.\n\n"
        "The queue configuration runs Redis and both `cropedly worker` processes on the\n"
        "same cores as the server and the driver: it shows the queue's overhead on one\n"
        "machine, not what more machines add. With a load average above the number of\n"
        "CPUs, every figure here is a lower bound.\n\n"
        + "\n".join(sections)
    )


if __name__ == "__main__":
    main()
