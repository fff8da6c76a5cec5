"""ASGI entry for uvicorn: ``uvicorn --factory cropedly.asgi:create``."""

from __future__ import annotations

import logging

from litestar import Litestar

from cropedly.bootstrap import build_services
from cropedly.http.app import create_app
from cropedly.settings import Settings


def create() -> Litestar:
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
    )
    return create_app(build_services(settings))
