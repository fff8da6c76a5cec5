"""Debian's Chromium for browser tests: where it is and how it runs on these machines."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
APT_CHROMIUM = "apt-get update && apt-get install -y --no-install-recommends chromium"
# No sandbox (tests run as root), no GPU, and none of Chromium's own network traffic:
# this machine's closed network refuses it, many connections at a time.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def require_chromium() -> Path:
    """The executable, or a loud failure naming the install command (never a skip)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; install it with: {APT_CHROMIUM}")
    return CHROMIUM
