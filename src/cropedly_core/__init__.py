"""Cropedly's domain core: users, plans, tokens, the enhancement pipeline and the catalog.

Imports no web, storage, codec or token library; the outside world comes in
through the ports in :mod:`cropedly_core.ports` and :mod:`cropedly_core.images.ports`.
"""

from importlib.metadata import PackageNotFoundError, version

from cropedly_core.accounts import Accounts, require_plan
from cropedly_core.tokens import TOKEN_LIFETIME, Claims, TokenGrant
from cropedly_core.users import Plan, Role, User

__all__ = [
    "TOKEN_LIFETIME",
    "Accounts",
    "Claims",
    "Plan",
    "Role",
    "TokenGrant",
    "User",
    "require_plan",
]
try:
    __version__ = version("cropedly")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
