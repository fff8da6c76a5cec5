"""Cropedly: self-hostable AI image enhancement.

The public surface for apps that embed it::

    import cropedly

    result = cropedly.enhance("photo.jpg", upscale=2)        # one image, in this process
    services = cropedly.build_memory_services()              # the whole product, in memory
    app = cropedly.create_app(services)                      # ... served over HTTP (Litestar)

Deeper modules (``cropedly_core`` for the domain, ``cropedly_adapters`` for the
adapters) stay importable, but this list is what we keep stable.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from litestar import Litestar

try:
    __version__ = version("cropedly")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

from cropedly.bootstrap import Services, build_memory_services, build_services
from cropedly.embed import EnhancedImage, enhance
from cropedly.settings import Settings, SettingsError
from cropedly_core.images.geometry import Crop, Fit, Resize


def create_app(services: Services) -> "Litestar":
    """The Litestar app around ``services`` (imported here so ``import cropedly`` stays light)."""
    from cropedly.http.app import create_app as _create_app  # noqa: PLC0415

    return _create_app(services)


__all__ = [
    "Crop",
    "EnhancedImage",
    "Fit",
    "Resize",
    "Services",
    "Settings",
    "SettingsError",
    "__version__",
    "build_memory_services",
    "build_services",
    "create_app",
    "enhance",
]
