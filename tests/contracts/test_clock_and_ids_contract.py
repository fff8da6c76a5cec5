"""The ``Clock`` and ``IdGenerator`` contracts: system adapters and their test doubles."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest

from cropedly_adapters.memory import ManualClock, SeededIds
from cropedly_adapters.system import RandomIds, SystemClock
from cropedly_core.ports import Clock, IdGenerator

_URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


@pytest.fixture(params=["system", "manual"])
def any_clock(request: pytest.FixtureRequest) -> Clock:
    return SystemClock() if request.param == "system" else ManualClock()


@pytest.fixture(params=["random", "seeded"])
def ids(request: pytest.FixtureRequest) -> IdGenerator:
    return RandomIds() if request.param == "random" else SeededIds(seed=7)


class TestClockContract:
    def test_now_is_aware_utc(self, any_clock: Clock) -> None:
        """now() is timezone-aware with a zero UTC offset."""
        now = any_clock.now()
        assert timedelta(0) == now.utcoffset()
        assert now.tzinfo is not None

    def test_now_never_goes_backwards(self, any_clock: Clock) -> None:
        """Successive readings are non-decreasing."""
        readings = [any_clock.now() for _ in range(50)]
        assert sorted(readings) == readings

    def test_manual_clock_moves_only_when_advanced(self) -> None:
        """The manual double stands still until advanced, then moves by exactly the delta."""
        clock = ManualClock()
        start = clock.now()
        assert start == clock.now()
        clock.advance(timedelta(hours=72))
        assert start + timedelta(hours=72) == clock.now()
        assert clock.now().tzinfo == UTC


class TestIdGeneratorContract:
    def test_ids_are_unique(self, ids: IdGenerator) -> None:
        """A few thousand ids never repeat."""
        drawn = [ids.new_id() for _ in range(5000)]
        assert len(drawn) == len(set(drawn))

    def test_ids_are_url_safe_and_long_enough(self, ids: IdGenerator) -> None:
        """Ids use only URL-safe characters and carry at least 122 bits."""
        for _ in range(100):
            new = ids.new_id()
            assert _URL_SAFE.match(new), new
            # at worst 4 bits a character (hex); base64url carries 6
            assert len(new) * 6 >= 122
            assert len(new) >= 22

    def test_seeded_ids_are_reproducible(self) -> None:
        """The same seed gives the same sequence (tests rely on it)."""
        first, second = SeededIds(seed=3), SeededIds(seed=3)
        assert [first.new_id() for _ in range(5)] == [second.new_id() for _ in range(5)]
