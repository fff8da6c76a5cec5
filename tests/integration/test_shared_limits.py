"""With ``CROPEDLY_REDIS_URL``, separately built services (processes) share one budget."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cropedly.bootstrap import build_services
from cropedly.settings import Settings
from cropedly_core.usage import RateLimited
from cropedly_core.users import Plan, User

USER = User(
    id="u1",
    email="a@example.com",
    name="A",
    plan=Plan.FREE,
    password_hash=None,
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def _inside_a_minute() -> datetime:
    """Now, at least ten seconds before the minute ends (the counters' window ends with it)."""
    now = datetime.now(UTC)
    if now.second >= 50:
        time.sleep(61 - now.second)
        now = datetime.now(UTC)
    return now


def test_two_builds_on_one_redis_share_the_rate_limit(tmp_path: Path, redis_url: str) -> None:
    """Three requests a minute, taken alternately by two service builds: the fourth is refused."""
    settings = Settings(
        data_dir=tmp_path, upscaler="lanczos", redis_url=redis_url, free_requests_per_minute=3
    )
    first = build_services(settings, start_workers=False)
    second = build_services(settings, start_workers=False)
    try:
        assert "redis://" in first.limits_note[1]
        now = _inside_a_minute()
        remaining = [
            services.usage.take_request(USER, now).remaining for services in (first, second, first)
        ]
        assert [2, 1, 0] == remaining
        with pytest.raises(RateLimited):
            second.usage.take_request(USER, now)
    finally:
        first.close()
        second.close()


def test_without_redis_each_build_counts_alone(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, upscaler="lanczos", free_requests_per_minute=1)
    first = build_services(settings, start_workers=False)
    second = build_services(settings, start_workers=False)
    try:
        now = _inside_a_minute()
        assert 0 == first.usage.take_request(USER, now).remaining
        assert 0 == second.usage.take_request(USER, now).remaining
        assert "per process" in first.limits_note[1]
    finally:
        first.close()
        second.close()
