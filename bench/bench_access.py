"""Access benchmark: what browser rules, CORS and rate limits cost per request.

Run ``python bench/bench_access.py``; prints a markdown table and writes
``docs/benchmarks-access.md``. Starts ``cropedly serve`` on loopback with a temporary
SQLite data folder, an Enterprise account with one registered origin, and measures
sequential requests: a server-side call, a browser call from the registered origin,
its preflight, and a refused preflight; plus the in-process cost of counting a
request (``Usage.take_request``) and of normalising an origin.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from machine import cpu_model, serving

from cropedly.bootstrap import build_services
from cropedly.settings import Settings
from cropedly_adapters.memory import InMemoryUsageCounters
from cropedly_adapters.system import SystemClock
from cropedly_core.accounts import normalise_origin
from cropedly_core.usage import PlanLimits, Usage
from cropedly_core.users import Plan, User

REQUESTS = 500
PASSWORD = "a long measuring secret 7"
ORIGIN = "https://shop.example"
ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def timed(call: Callable[[], httpx.Response], expected: int) -> list[float]:
    for _ in range(20):  # warm-up
        call()
    latencies = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        response = call()
        latencies.append((time.perf_counter() - start) * 1000)
        assert expected == response.status_code, response.text
    return latencies


def bench_http() -> list[tuple[str, list[float]]]:
    with tempfile.TemporaryDirectory(prefix="cropedly-bench-") as data:
        env = {
            **os.environ,
            "CROPEDLY_DATA_DIR": data,
            "CROPEDLY_LOG_LEVEL": "WARNING",
            "CROPEDLY_UPSCALER": "lanczos",
            # The measurement must not hit the limit it measures.
            "CROPEDLY_ENTERPRISE_REQUESTS_PER_MINUTE": "1000000",
        }
        services = build_services(Settings(data_dir=Path(data)), start_workers=False)
        user = services.accounts.register("e@example.com", PASSWORD, "Bench", Plan.ENTERPRISE)
        services.domains.add(user, ORIGIN)
        services.close()
        with serving(env) as base, httpx.Client(base_url=base) as client:
            form = {"email": (None, "e@example.com"), "password": (None, PASSWORD)}
            token = client.post("/auth/v1/login", files=form).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            usage = "/account/v1/usage"
            preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
            stranger = {**preflight, "Origin": "https://stranger.example"}
            return [
                (
                    "GET /health (no auth, no Origin): baseline",
                    timed(lambda: client.get("/health"), 200),
                ),
                (
                    "GET /account/v1/usage, server-side (no Origin)",
                    timed(lambda: client.get(usage, headers=auth), 200),
                ),
                (
                    "GET /account/v1/usage, browser call from the registered origin",
                    timed(lambda: client.get(usage, headers={**auth, "Origin": ORIGIN}), 200),
                ),
                (
                    "OPTIONS preflight, registered origin (204)",
                    timed(lambda: client.options(usage, headers=preflight), 204),
                ),
                (
                    "OPTIONS preflight, unregistered origin (403)",
                    timed(lambda: client.options(usage, headers=stranger), 403),
                ),
            ]


def per_call_us(call: Callable[[], object], calls: int = 20_000) -> float:
    for _ in range(500):
        call()
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) * 1e6 / calls


def main() -> int:
    clock = SystemClock()
    limits = {plan: PlanLimits(10**9, 10**9) for plan in Plan}
    usage = Usage(InMemoryUsageCounters(clock), limits)
    user = User("u" * 22, "b@example.com", "Bench", Plan.PRO, None, clock.now())
    take_us = per_call_us(lambda: usage.take_request(user, clock.now()))
    origin_us = per_call_us(lambda: normalise_origin("HTTPS://Bücher.Example:443/"))
    http_rows = bench_http()
    load = os.getloadavg()
    lines = [
        "# Access benchmark: browser rules, CORS, rate limits",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        (
            f"- CPU: {cpu_model()} ({os.cpu_count()} logical CPUs), shared; load average at "
            f"the end {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
        ),
        (
            f"- Python {platform.python_version()}, one `cropedly serve` worker (uvicorn, uvloop, "
            "httptools) on loopback, SQLite data folder; one client on the same machine, "
            f"{REQUESTS} sequential requests per row after 20 warm-up requests"
        ),
        "- `python bench/bench_access.py` (also run by `nox -s bench`) rewrites this file.",
        "",
        "| Measure | p50 | p99 |",
        "|---|---|---|",
    ]
    for name, latencies in http_rows:
        lines.append(
            f"| {name} | {statistics.median(latencies):.2f} ms | {percentile(latencies, 99):.2f} ms |"
        )
    lines += [
        "",
        "| In process | per call |",
        "|---|---|",
        f"| `Usage.take_request` (count one request, in-memory counters) | {take_us:.1f} µs |",
        f"| `normalise_origin` (an IDN origin with the default port) | {origin_us:.1f} µs |",
        "",
        "The authenticated rows include the JWT check and the account read from SQLite; the",
        "difference between the server-side and the browser row is what the origin check and",
        "the CORS headers add (the registered-origin lookup reads the users table).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "docs" / "benchmarks-access.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
