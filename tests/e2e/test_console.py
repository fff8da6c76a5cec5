"""The minimal console pages: served from the package, nothing remote, tokens only in fragments."""

from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient

EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


class TestConsolePages:
    @pytest.mark.parametrize("path", ["/console", "/console/reset"])
    def test_pages_are_local_and_locked_down(self, client: TestClient, path: str) -> None:  # type: ignore[type-arg]
        """HTML from the package, no remote reference, scripts only from this server, no referrer."""
        page = client.get(path)
        assert 200 == page.status_code
        assert page.headers["content-type"].startswith("text/html")
        assert [] == EXTERNAL.findall(page.text)
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "no-referrer" == page.headers["referrer-policy"]
        assert "no-store" == page.headers["cache-control"]
        for script in re.findall(r'<script src="([^"]+)"', page.text):
            served = client.get(script)
            assert 200 == served.status_code, script
            assert "javascript" in served.headers["content-type"]

    @pytest.mark.parametrize("script", ["console.js", "reset.js"])
    def test_scripts_read_the_fragment_and_clear_it(self, client: TestClient, script: str) -> None:  # type: ignore[type-arg]
        """The token comes from location.hash (never sent to a server) and leaves the address bar."""
        source = client.get(f"/console/static/{script}").text
        assert "window.location.hash" in source
        assert "history.replaceState" in source
        assert "location.search" not in source

    def test_the_console_keeps_the_token_in_session_storage(self, client: TestClient) -> None:  # type: ignore[type-arg]
        source = client.get("/console/static/console.js").text
        assert "sessionStorage.setItem" in source
        assert "localStorage" not in source

    def test_pages_are_not_api_operations(self, client: TestClient) -> None:  # type: ignore[type-arg]
        paths = client.get("/schema/openapi.json").json()["paths"]
        assert not [p for p in paths if p.startswith("/console")]
