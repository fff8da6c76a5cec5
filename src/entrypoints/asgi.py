"""ASGI entry for uvicorn: ``uvicorn --factory entrypoints.asgi:create``."""

from __future__ import annotations

import logging

from litestar import Litestar

from entrypoints.bootstrap import build_services
from entrypoints.http.app import create_app
from entrypoints.settings import Settings


def create() -> Litestar:
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
    )
    return create_app(build_services(settings))
