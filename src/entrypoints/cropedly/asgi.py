"""ASGI entry for uvicorn: ``uvicorn --factory cropedly.asgi:create``."""

from __future__ import annotations

from litestar import Litestar

from cropedly.bootstrap import build_services
from cropedly.http.app import create_app
from cropedly.logs import configure
from cropedly.settings import Settings


def create() -> Litestar:
    settings = Settings.from_env()
    # In every server process, after uvicorn set up its own loggers: one format for
    # all, link signatures and other credentials redacted (cropedly.logs).
    configure(settings.log_level.value, settings.log_format)
    return create_app(build_services(settings))
