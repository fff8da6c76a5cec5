"""A minimal browser console: where Google sign-in lands, and the reset-password page.

Plain HTML and JavaScript shipped in the package (``static/console/``), nothing
from a CDN. Tokens reach these pages only in the URL fragment, which browsers do
not send to servers, so they appear in no access log and no ``Referer``. The full
console is another issue's; these pages stay small and out of the API's schema.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Response, get
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

CONSOLE_DIR = Path(__file__).resolve().parent / "static" / "console"
# Scripts only from this server; no inline script, no framing, no referrer.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _page(name: str) -> Response[bytes]:
    return Response(
        (CONSOLE_DIR / name).read_bytes(), media_type="text/html; charset=utf-8", headers=HEADERS
    )


@get("/console", include_in_schema=False, sync_to_thread=False)
def console_page() -> Response[bytes]:
    return _page("index.html")


@get("/console/reset", include_in_schema=False, sync_to_thread=False)
def reset_page() -> Response[bytes]:
    return _page("reset.html")


CONSOLE_ROUTES: list[ControllerRouterHandler] = [
    console_page,
    reset_page,
    create_static_files_router(
        path="/console/static",
        directories=[CONSOLE_DIR],
        name="console-static",
        cache_control=CacheControlHeader(max_age=3600, public=True),
        include_in_schema=False,
    ),
]
