"""Shared fixtures, grouped by area; add a new group under its own heading."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from adapters.memory import ManualClock
from entrypoints.bootstrap import Services, build_memory_services
from entrypoints.http.app import create_app
from entrypoints.settings import Settings

# --------------------------------------------------------------------------- generic


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
    return build_memory_services(Settings(), clock=clock)


@pytest.fixture
def client(memory_services: Services) -> Iterator[TestClient]:  # type: ignore[type-arg]
    """A Litestar test client on an app around ``memory_services``."""
    with TestClient(app=create_app(memory_services)) as test_client:
        yield test_client
