"""Shared fixtures, grouped by area; add a new group under its own heading."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from litestar.testing import TestClient

from cropedly.bootstrap import Services
from cropedly.http.app import create_app
from cropedly.settings import Settings
from cropedly_adapters.memory import ManualClock
from cropedly_core.users import Plan
from doubles import in_memory_services
from engines import (
    MotoServer,
    Postgres,
    Redis,
    S3Target,
    moto_server,
    postgres_server,
    redis_server,
)
from imaging import bearer
from repo_databases import bind_cluster

# --------------------------------------------------------------------------- generic

# Property tests check behaviour, not speed (speed is measured by nox -s bench): no
# per-example deadline, which a loaded 2-core CI machine trips at random (262 ms against
# Hypothesis's default 200 ms in test_case_variant_is_taken).
hypothesis_settings.register_profile("cropedly", deadline=None)
hypothesis_settings.load_profile("cropedly")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The team's shared folder (spec, test data) next to the repository."""
    path = Path(__file__).resolve().parents[1].parent / "shared"
    if not path.is_dir():
        pytest.fail(f"the shared folder {path} is missing; it holds the spec and test data")
    return path


# ------------------------------------------------------------------ accounts and auth


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when a test advances it."""
    return ManualClock()


@pytest.fixture
def memory_services(clock: ManualClock) -> Services:
    """Everything in memory (JWT tokens, fast hasher), on the manual ``clock``."""
    return in_memory_services(Settings(), clock=clock)


@pytest.fixture
def client(memory_services: Services) -> Iterator[TestClient]:  # type: ignore[type-arg]
    """A Litestar test client on an app around ``memory_services``."""
    with TestClient(app=create_app(memory_services)) as test_client:
        yield test_client


# ------------------------------------------------------------- images (enhance API)
# Fixtures for tests/e2e/test_images_*.py, tests/integration/test_workers.py.


@pytest.fixture(scope="session")
def testdata(shared_dir: Path) -> Path:
    """``shared/testdata`` with its ``valid`` and ``hostile`` images."""
    path = shared_dir / "testdata"
    if not (path / "valid").is_dir() or not (path / "hostile").is_dir():
        pytest.fail(f"{path} must hold valid/ and hostile/ test images (see its README.md)")
    return path


@pytest.fixture
def image_services(clock: ManualClock) -> Services:
    """In-memory services with the Lanczos upscaler (no model load), on ``clock``."""
    return in_memory_services(Settings(upscaler="lanczos"), clock=clock)


@pytest.fixture
def image_client(image_services: Services) -> Iterator[TestClient]:  # type: ignore[type-arg]
    """A test client on an app around ``image_services``."""
    with TestClient(app=create_app(image_services)) as test_client:
        yield test_client


@pytest.fixture
def pro_headers(image_services: Services) -> dict[str, str]:
    """Authorization of a Pro account on ``image_services``."""
    return bearer(image_services, "pro@example.com", Plan.PRO)


# ------------------------------------------------------- engines (scale-out adapters)
# Real servers on loopback (tests/engines.py): started once per session, when first asked.


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster from Debian's packages."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: Postgres) -> str:
    """A fresh, empty database of its own for each test."""
    return postgres.new_database()


@pytest.fixture(scope="session")
def redis() -> Iterator[Redis]:
    """A Redis server from Debian's packages."""
    with redis_server() as server:
        yield server


@pytest.fixture
def redis_url(redis: Redis) -> str:
    """The Redis server, emptied before each test."""
    redis.flush()
    return redis.url


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    """moto's S3 API server."""
    with moto_server() as server:
        yield server


@pytest.fixture
def s3_target(moto: MotoServer) -> S3Target:
    """A fresh bucket of its own for each test."""
    return moto.new_bucket()


@pytest.fixture
def postgres_machines(postgres: Postgres) -> None:
    """Lets hypothesis state machines (which take no fixtures) open PostgreSQL databases."""
    bind_cluster(postgres)
