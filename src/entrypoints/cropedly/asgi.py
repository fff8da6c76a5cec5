"""ASGI entry for uvicorn: ``uvicorn --factory cropedly.asgi:create``."""

from __future__ import annotations

import logging
import re

from litestar import Litestar

from cropedly.bootstrap import build_services
from cropedly.http.app import create_app
from cropedly.settings import Settings

# The signature of a result link is a 24-hour credential: keep it out of access logs.
_SIGNATURE = re.compile(r"([?&]sig=)[^&\s]*")


class RedactLinkSignatures(logging.Filter):
    """Replaces ``sig=...`` in uvicorn's access-log arguments with ``sig=REDACTED``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SIGNATURE.sub(r"\1REDACTED", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def create() -> Litestar:
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level.value,
        format="%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
    )
    # Added here, in every server process, after uvicorn configured its loggers.
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactLinkSignatures) for f in access.filters):
        access.addFilter(RedactLinkSignatures())
    return create_app(build_services(settings))
