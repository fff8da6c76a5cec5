"""The browser console at ``/console``, and the reset-password page.

Plain HTML, CSS and JavaScript shipped in the package (``static/console/``): no
build step, nothing from a CDN. The console signs in (password, or Google, whose
token arrives in the URL fragment that browsers do not send to servers), enhances
dropped images with a before/after slider, manages the reference catalog and the
registered domains, and shows usage. Its calls are same-origin, so the server
treats them as first-party (``cors.py``). The pages stay out of the API's schema.
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
    # blob: for the before image of the comparison, read from the dropped file.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; img-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
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
