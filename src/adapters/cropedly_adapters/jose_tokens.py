"""JWT tokens signed with Ed25519 through joserfc (authlib's JOSE library).

The signing keys live as PEM files (mode 0600) in a folder of the data
directory, named ``<kid>.pem`` where the kid starts with the key's activation
time (``YYYYmmddHHMMSS-xxxxxxxx``, UTC). Every key in the folder verifies; the
newest *active* one signs, chosen at each issue, so a key staged with a future
activation time (``cropedly keys rotate --activate-in``) can be copied to every
machine first and then takes over everywhere at the same moment. ``rotate_keys``
adds a key and removes those retired for longer than a token lives.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

from cropedly_adapters.secret_files import (
    activation_of,
    after_all,
    retired,
    stamped_name,
    write_private,
)
from cropedly_core.errors import InvalidToken
from cropedly_core.tokens import TOKEN_LIFETIME, Claims, TokenGrant
from cropedly_core.users import User

ALGORITHM = "Ed25519"  # RFC 9864's fully specified name for EdDSA over Ed25519
_LEEWAY_SECONDS = 30  # tolerated clock skew for iat between server processes
_MAX_TOKEN_LENGTH = 8192
_CACHE_SIZE = 10_000  # verified tokens remembered (about 3 MB)


class JwtTokens:
    """Issues and verifies JWTs; implements ``TokenIssuer`` and ``TokenVerifier``."""

    def __init__(self, keys: list[OKPKey], issuer: str, audience: str) -> None:
        """``keys`` newest first (as ``load_or_create_keys`` returns them)."""
        if not keys:
            raise ValueError("at least one signing key is needed")
        self._by_age = list(keys)
        self._keys = KeySet(list(keys))
        self._kids = {k.kid for k in keys}
        self.issuer = issuer
        self.audience = audience
        self._verified: OrderedDict[bytes, Claims] = OrderedDict()
        self._cache_lock = threading.Lock()

    @classmethod
    def generate(cls, issuer: str = "cropedly", audience: str = "cropedly-api") -> JwtTokens:
        """A tokens service with a fresh key held only in memory."""
        return cls([new_key()], issuer, audience)

    def signing_key(self, now: datetime) -> OKPKey:
        """The newest key active at ``now``; the oldest if none is (a clock set back)."""
        for key in self._by_age:
            active = activation_of(str(key.kid))
            if active is None or active <= now:
                return key
        return self._by_age[-1]

    def issue(self, user: User, now: datetime) -> TokenGrant:
        signing = self.signing_key(now)
        iat = now.replace(microsecond=0)
        exp = iat + TOKEN_LIFETIME
        jti = secrets.token_urlsafe(16)
        payload = {
            "sub": user.id,
            "name": user.name,
            "authorities": user.authorities,
            "iat": int(iat.timestamp()),
            "exp": int(exp.timestamp()),
            "iss": self.issuer,
            "aud": self.audience,
            "jti": jti,
            "ver": user.token_version,
        }
        header = {"alg": ALGORITHM, "typ": "JWT", "kid": signing.kid}
        token = jwt.encode(header, payload, signing, algorithms=[ALGORITHM])
        claims = Claims(
            sub=user.id,
            name=user.name,
            authorities=tuple(user.authorities),
            iat=iat,
            exp=exp,
            jti=jti,
            token_version=user.token_version,
        )
        return TokenGrant(token=token, expires_at=exp, claims=claims)

    def verify(self, token: str, now: datetime) -> Claims:
        # Clients send the same token for up to 72 hours, and an Ed25519 check costs
        # 0.1-0.6 ms: a verified token's claims are remembered under its SHA-256 (never
        # the token itself) and only the time checks run again.
        key = hashlib.sha256(token.encode()).digest()
        with self._cache_lock:
            cached = self._verified.get(key)
            if cached is not None:
                self._verified.move_to_end(key)
        if cached is not None:
            if cached.exp.timestamp() <= now.timestamp():
                raise InvalidToken("The token has expired.")
            if cached.iat.timestamp() > now.timestamp() + _LEEWAY_SECONDS:
                raise InvalidToken("The token's times are not valid.")
            return cached
        claims = self._verify_signed(token, now)
        with self._cache_lock:
            self._verified[key] = claims
            if len(self._verified) > _CACHE_SIZE:
                self._verified.popitem(last=False)
        return claims

    def _verify_signed(self, token: str, now: datetime) -> Claims:
        if len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise InvalidToken("The token is malformed.")
        try:
            decoded = jwt.decode(token, self._keys, algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidToken("The token's signature or format is invalid.") from exc
        header = decoded.header
        if header.get("typ") != "JWT" or header.get("kid") not in self._kids:
            raise InvalidToken("The token's header is not one this server issues.")
        return self._claims(decoded.claims, now)

    def _claims(self, raw: dict[str, Any], now: datetime) -> Claims:
        try:
            iat = int(raw["iat"])
            exp = int(raw["exp"])
            sub, name, jti = str(raw["sub"]), str(raw["name"]), str(raw["jti"])
            authorities = tuple(str(a) for a in raw["authorities"])
            version = int(raw["ver"])
            iss, aud = raw["iss"], raw["aud"]
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidToken("The token lacks required claims.") from exc
        if iss != self.issuer or aud != self.audience:
            raise InvalidToken("The token was issued for another service.")
        stamp = now.timestamp()
        if exp <= stamp:
            raise InvalidToken("The token has expired.")
        if iat > stamp + _LEEWAY_SECONDS or exp - iat != int(TOKEN_LIFETIME.total_seconds()):
            raise InvalidToken("The token's times are not valid.")
        return Claims(
            sub=sub,
            name=name,
            authorities=authorities,
            iat=datetime.fromtimestamp(iat, UTC),
            exp=datetime.fromtimestamp(exp, UTC),
            jti=jti,
            token_version=version,
        )

    def jwks(self) -> dict[str, Any]:
        """The public keys, for ``/.well-known/jwks.json``."""
        return {
            "keys": [
                {**k.as_dict(private=False), "alg": ALGORITHM, "use": "sig"}
                for k in self._keys.keys
            ]
        }


# A key stays in the folder this long after a newer one took over: the last token it
# signed may live that long, plus the clock skew between machines we tolerate.
RETIRED_KEY_KEPT = TOKEN_LIFETIME + timedelta(hours=1)


def new_key(active_from: datetime | None = None) -> OKPKey:
    kid = stamped_name(active_from or datetime.now(UTC))
    return OKPKey.generate_key("Ed25519", parameters={"kid": kid})


def load_or_create_keys(folder: Path) -> list[OKPKey]:
    """Every ``*.pem`` key in ``folder``, newest first; one is made on first start."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = sorted(folder.glob("*.pem"), reverse=True)
    if not paths:
        key = new_key()
        path = folder / f"{key.kid}.pem"
        write_private(path, key.as_pem(private=True))
        paths = [path]
    return [OKPKey.import_key(p.read_bytes(), parameters={"kid": p.stem}) for p in paths]


def rotate_keys(folder: Path, now: datetime, active_from: datetime) -> tuple[str, list[str]]:
    """Add a signing key active from ``active_from``; remove keys retired long enough.

    Returns the new kid and the kids removed.
    """
    existing = [str(k.kid) for k in load_or_create_keys(folder)]  # made as a server would
    key = new_key(after_all(existing, active_from))
    write_private(folder / f"{key.kid}.pem", key.as_pem(private=True))
    gone = retired([p.stem for p in folder.glob("*.pem")], now, RETIRED_KEY_KEPT)
    for kid in gone:
        (folder / f"{kid}.pem").unlink()
    return str(key.kid), gone
