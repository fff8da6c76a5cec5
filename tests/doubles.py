"""The services on in-memory adapters *and* test doubles, for tests only.

``build_memory_services`` gives an embedding app real defaults (system clock,
random ids, argon2id); tests want a clock they move, ids they can predict and a
hasher that takes microseconds, so they ask for those here, explicitly.
"""

from __future__ import annotations

from typing import Any

from cropedly.bootstrap import Services, build_memory_services
from cropedly.settings import Settings
from cropedly_adapters.memory import FastPasswordHasher, ManualClock, SeededIds


def in_memory_services(settings: Settings | None = None, **overrides: Any) -> Services:
    """``build_memory_services`` with a manual clock, seeded ids and the fast hasher."""
    doubles: dict[str, Any] = {
        "clock": ManualClock(),
        "ids": SeededIds(),
        "hasher": FastPasswordHasher(),
    }
    doubles.update(overrides)
    return build_memory_services(settings or Settings(upscaler="lanczos"), **doubles)
