"""A small OpenID Connect provider on loopback, for the Google sign-in tests: no internet.

It serves discovery, a key set, an authorization endpoint that approves at once
(redirecting back with a code) and a token endpoint that checks the client's
credentials and the PKCE verifier and returns an RS256-signed ID token. Tests bend
its ID tokens (``claims``: other audience, nonce, expiry, unverified e-mail) or
sign them with a key it does not publish (``forge``) to see each refusal.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "cropedly-test-client"
CLIENT_SECRET = "loopback-client-secret"


@cache
def _keys() -> tuple[RSAKey, RSAKey]:
    """The published signing key and a forged one with the same kid (RSA keys are slow to make)."""
    return (
        RSAKey.generate_key(2048, {"kid": "test-1"}),
        RSAKey.generate_key(2048, {"kid": "test-1"}),
    )


@dataclass
class Person:
    sub: str = "google-sub-1"
    email: str = "gina@example.com"
    email_verified: bool = True
    name: str = "Gina Google"


@dataclass
class Provider:
    """State of the loopback provider; tests change ``person``, ``claims`` and ``forge``."""

    issuer: str = ""
    key: RSAKey = field(default_factory=lambda: _keys()[0])
    # same kid, never published: a token signed with it has a bad signature
    forged_key: RSAKey = field(default_factory=lambda: _keys()[1])
    person: Person = field(default_factory=Person)
    claims: dict[str, Any] = field(default_factory=dict)  # overrides of the next ID tokens
    forge: bool = False
    down: bool = False  # answers every request with a bare 500, as a broken provider does
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)

    def id_token(self, client_id: str, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client_id,
            "sub": self.person.sub,
            "email": self.person.email,
            "email_verified": self.person.email_verified,
            "name": self.person.name,
            "nonce": nonce,
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(self.claims)
        key = self.forged_key if self.forge else self.key
        return jwt.encode({"alg": "RS256", "kid": "test-1"}, claims, key)


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _down(self) -> bool:
            if provider.down:
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
            return provider.down

        def do_GET(self) -> None:
            if self._down():
                return
            url = urlsplit(self.path)
            if url.path == "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": provider.issuer,
                        "authorization_endpoint": f"{provider.issuer}/authorize",
                        "token_endpoint": f"{provider.issuer}/token",
                        "jwks_uri": f"{provider.issuer}/jwks",
                        "response_types_supported": ["code"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "code_challenge_methods_supported": ["S256"],
                    },
                )
            elif url.path == "/jwks":
                self._json(200, {"keys": [provider.key.as_dict(private=False)]})
            elif url.path == "/authorize":
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                provider.authorize_requests.append(query)
                code = secrets.token_urlsafe(16)
                provider.codes[code] = query
                back = urlencode({"code": code, "state": query.get("state", "")})
                self.send_response(302)
                self.send_header("Location", f"{query['redirect_uri']}?{back}")
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if self._down():
                return
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if self.headers.get("Authorization") != f"Basic {expected}":
                self._json(401, {"error": "invalid_client"})
                return
            asked = provider.codes.pop(form.get("code", ""), None)
            if asked is None or form.get("grant_type") != "authorization_code":
                self._json(400, {"error": "invalid_grant"})
                return
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if asked.get("code_challenge") != challenge or form.get("redirect_uri") != asked.get(
                "redirect_uri"
            ):
                self._json(400, {"error": "invalid_grant"})
                return
            self._json(
                200,
                {
                    "access_token": secrets.token_urlsafe(16),
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "id_token": provider.id_token(CLIENT_ID, asked.get("nonce", "")),
                },
            )

    return Handler


@contextmanager
def running_provider() -> Iterator[Provider]:
    """The provider on a free loopback port until the block ends."""
    provider = Provider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    # a short poll interval: shutdown() waits up to one interval, and every probe starts one
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
