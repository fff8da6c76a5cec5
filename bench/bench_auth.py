"""Auth benchmark: login and API-key exchange over real HTTP, token checks, hashing, policy.

Run ``python bench/bench_auth.py``; prints a markdown table and writes
``docs/benchmarks-auth.md``. Starts ``cropedly serve`` (uvicorn, uvloop, httptools)
on loopback with a temporary SQLite data folder and the production argon2id.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from machine import cpu_model, serving
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from cropedly.bootstrap import build_services
from cropedly.settings import Settings
from cropedly_adapters.argon2_hasher import Argon2PasswordHasher
from cropedly_adapters.jose_tokens import JwtTokens
from cropedly_core.errors import WeakPassword
from cropedly_core.passwords import check_password
from cropedly_core.users import Plan, User

REQUESTS_PER_LEVEL = 200
LEVELS = (1, 8)
PASSWORD = "a long measuring secret 7"
ROOT = Path(__file__).resolve().parents[1]


def email_of(n: int) -> str:
    return f"client{n}@example.com"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return ordered[index]


async def login_level(base: str, concurrency: int, total: int) -> tuple[list[float], float]:
    """``total`` logins from ``concurrency`` clients; latencies (ms) and wall time (s)."""
    latencies: list[float] = []
    queue = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30.0, limits=limits) as http:

        async def worker(n: int) -> None:
            for _ in queue:
                start = time.perf_counter()
                response = await http.post(
                    "/auth/v1/login",
                    files={"email": (None, email_of(n)), "password": (None, PASSWORD)},
                )
                latencies.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"login failed: {response.status_code} {response.text}")

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return latencies, time.perf_counter() - started


def exchange_keys(base: str, total: int) -> list[float]:
    """Create an API key, then exchange it ``total`` times from one client; latencies (ms)."""
    with httpx.Client(base_url=base, timeout=30.0) as http:
        login = http.post(
            "/auth/v1/login", files={"email": (None, email_of(0)), "password": (None, PASSWORD)}
        ).json()
        created = http.post(
            "/auth/v1/keys",
            headers={"Authorization": f"Bearer {login['token']}"},
            files={"name": (None, "bench")},
        )
        key = created.json()["key"]
        latencies = []
        for _ in range(total):
            start = time.perf_counter()
            response = http.post("/auth/v1/token", files={"apiKey": (None, key)})
            latencies.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"exchange failed: {response.status_code} {response.text}")
    return latencies


def bench_policy() -> list[tuple[str, float]]:
    """Median milliseconds of check_password on a few kinds of password."""
    words = FREQUENCY_LISTS["english_wikipedia"][2000:6000]
    kinds = {
        "breached, top 1,000 of the list (refused)": FREQUENCY_LISTS["passwords"][:1000],
        "4-word passphrases (accepted)": [
            " ".join(words[(n * 7 + k * 131) % len(words)] for k in range(4)) for n in range(300)
        ],
        "72 characters of sequences (refused by zxcvbn)": [
            ("abcdefghijklmnopqrstuvwxyz0123456789" * 2)[n : n + 72] for n in range(20)
        ],
        "256-character passphrases (the longest accepted)": [
            (" ".join(words[(n * 11 + k * 17) % len(words)] for k in range(60)))[:256]
            for n in range(20)
        ],
    }
    rows = []
    for kind, passwords in kinds.items():
        times = []
        for password in passwords:
            start = time.perf_counter()
            with contextlib.suppress(WeakPassword):
                check_password(password)
            times.append((time.perf_counter() - start) * 1000)
        rows.append((kind, statistics.median(times), max(times)))
    return rows


def bench_http() -> tuple[list[tuple[int, float, float, float]], list[float]]:
    """(clients, p50 ms, p99 ms, requests/s) per login concurrency level; key exchanges (ms)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="cropedly-bench-") as data:
        env = {
            **os.environ,
            "CROPEDLY_DATA_DIR": data,
            "CROPEDLY_LOG_LEVEL": "WARNING",
            "CROPEDLY_UPSCALER": "lanczos",
        }
        # One account per client, as real clients log in their own accounts.
        services = build_services(Settings(data_dir=Path(data)))
        for n in range(max(LEVELS)):
            services.accounts.register(email_of(n), PASSWORD, f"Bench {n}", Plan.PRO)
        services.close()
        with serving(env) as base:
            asyncio.run(login_level(base, 1, 5))  # warm-up
            for clients in LEVELS:
                latencies, wall = asyncio.run(login_level(base, clients, REQUESTS_PER_LEVEL))
                rows.append(
                    (
                        clients,
                        statistics.median(latencies),
                        percentile(latencies, 99),
                        REQUESTS_PER_LEVEL / wall,
                    )
                )
            exchanges = exchange_keys(base, REQUESTS_PER_LEVEL)
    return rows, exchanges


def bench_verify(calls: int = 5000) -> float:
    """Mean milliseconds of one JwtTokens.verify."""
    tokens = JwtTokens.generate()
    now = datetime.now(UTC)
    user = User("u" * 22, "b@example.com", "Bench", Plan.PRO, None, now)
    token = tokens.issue(user, now).token
    for _ in range(200):
        tokens.verify(token, now)
    start = time.perf_counter()
    for _ in range(calls):
        tokens.verify(token, now)
    return (time.perf_counter() - start) * 1000 / calls


def bench_argon2(hashes: int = 10) -> tuple[float, float]:
    """Median milliseconds of one argon2id hash and one verify (OWASP parameters)."""
    hasher = Argon2PasswordHasher()
    hash_times, verify_times = [], []
    stored = hasher.hash(PASSWORD)
    for _ in range(hashes):
        start = time.perf_counter()
        hasher.hash(PASSWORD)
        hash_times.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        verify_times.append((time.perf_counter() - start) * 1000)
    return statistics.median(hash_times), statistics.median(verify_times)


def main() -> int:
    verify_ms = bench_verify()
    hash_ms, argon_verify_ms = bench_argon2()
    policy_rows = bench_policy()
    http_rows, exchanges = bench_http()
    load = os.getloadavg()
    lines = [
        "# Auth benchmark",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        (
            f"- CPU: {cpu_model()} ({os.cpu_count()} logical CPUs); load average at the end "
            f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
        ),
        (
            f"- Python {platform.python_version()}, one `cropedly serve` worker (uvicorn, uvloop, "
            "httptools) on loopback, SQLite data folder, argon2id 19 MiB / t=2 / p=1"
        ),
        (
            f"- {REQUESTS_PER_LEVEL} successful logins per level, one account per client; "
            "the client runs on the same machine"
        ),
        "",
        "| Measure | Value |",
        "|---|---|",
    ]
    for clients, p50, p99, rps in http_rows:
        lines.append(
            f"| Login, {clients} concurrent client(s): p50 / p99 | "
            f"{p50:.1f} ms / {p99:.1f} ms ({rps:.1f} req/s) |"
        )
    lines.append(
        f"| API key exchange (POST /auth/v1/token), 1 client: p50 / p99 | "
        f"{statistics.median(exchanges):.1f} ms / {percentile(exchanges, 99):.1f} ms |"
    )
    lines += [
        f"| Password policy, {kind}: median / max | {median:.2f} ms / {worst:.1f} ms |"
        for kind, median, worst in policy_rows
    ]
    goal = "meets" if verify_ms < 0.1 else "misses"
    lines += [
        f"| JwtTokens.verify per call (goal < 0.1 ms) | {verify_ms * 1000:.1f} µs ({goal} it) |",
        f"| argon2id hash | {hash_ms:.1f} ms |",
        f"| argon2id verify | {argon_verify_ms:.1f} ms |",
        "",
        "Reproduce with `python bench/bench_auth.py` (rewrites this file).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = ROOT / "docs" / "benchmarks-auth.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
