"""The engines the scale-out tests rely on start and answer (tests/engines.py)."""

from __future__ import annotations

import subprocess

import httpx

from engines import Postgres, S3Target, _pg_bin, _redis_command


def test_postgres_gives_each_test_an_empty_database(postgres: Postgres, postgres_url: str) -> None:
    out = subprocess.run(
        [_pg_bin("psql"), "-At", "-d", postgres_url, "-c", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert out.stdout.strip() == "0"


def test_redis_answers(redis_url: str) -> None:
    port = int(redis_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0])
    assert _redis_command(port, "PING").startswith(b"+PONG")


def test_moto_holds_a_bucket_per_test(s3_target: S3Target) -> None:
    listing = httpx.get(f"{s3_target.endpoint_url}/{s3_target.bucket}", timeout=10)
    assert listing.status_code == 200
    assert "<ListBucketResult" in listing.text
