"""``IdentityProvider`` over OpenID Connect: authlib builds the requests, joserfc checks tokens.

Discovery (``<issuer>/.well-known/openid-configuration``) and the key set are
fetched on first use and cached; an ID token signed with a key id we have not
seen refreshes the key set once (providers rotate keys). Every HTTP call has a
timeout and a size cap, and any failure to talk to the provider is
``SignInUnavailable``, never a traceback.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from cropedly_core.sign_in import (
    Authorization,
    SignInRefused,
    SignInUnavailable,
    VerifiedIdentity,
)

MAX_RESPONSE_BYTES = 256 * 1024  # discovery, key sets and token answers are a few KB
SIGNING_ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA"]
CLOCK_SKEW = 60  # seconds of leeway on exp/iat between our clock and the provider's


class OidcProvider:
    """A relying party of one provider: authorization URL, code exchange, ID-token checks."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        *,
        timeout: float = 10.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.timeout = timeout
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # the secret never shows in a log or traceback
        return f"OidcProvider(issuer={self.issuer!r}, client_id={self.client_id!r})"

    def begin(self) -> Authorization:
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)  # 64 characters, inside RFC 7636's 43-128
        url = prepare_grant_uri(
            self._endpoint("authorization_endpoint"),
            self.client_id,
            "code",
            redirect_uri=self.redirect_uri,
            scope="openid email profile",
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return Authorization(url=url, state=state, nonce=nonce, verifier=verifier)

    def finish(self, code: str, nonce: str, verifier: str) -> VerifiedIdentity:
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=self.redirect_uri,
            code_verifier=verifier,
        )
        answer = self._post(self._endpoint("token_endpoint"), body)
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise SignInRefused("The provider's token answer has no ID token.")
        claims = self._verify(id_token, nonce)
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise SignInRefused("The ID token carries no e-mail address.")
        name = claims.get("name")
        return VerifiedIdentity(
            subject=str(claims["sub"]),
            email=email,
            email_verified=claims.get("email_verified") is True,
            name=name if isinstance(name, str) else "",
        )

    # ------------------------------------------------------------------ checks

    def _verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        """Signature from the provider's key set, then iss, aud, exp, iat, sub and nonce."""
        if len(id_token) > 16_384:
            raise SignInRefused("The ID token is too long.")
        try:
            token = self._decode(id_token, self._key_set(refresh=False))
        except (JoseError, ValueError):
            # Perhaps signed with a key the provider rotated in since we fetched the set.
            try:
                token = self._decode(id_token, self._key_set(refresh=True))
            except (JoseError, ValueError) as exc:
                raise SignInRefused(
                    f"The ID token's signature is not valid or it is malformed ({exc})."
                ) from None
        claims: dict[str, Any] = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            leeway=CLOCK_SKEW,
            iss={"essential": True, "value": self.issuer},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise SignInRefused(f"The ID token was refused: {exc}.") from None
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences:
            raise SignInRefused("The ID token was issued to another client (aud).")
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != self.client_id:
            raise SignInRefused("The ID token's authorized party (azp) is another client.")
        return claims

    @staticmethod
    def _decode(id_token: str, keys: KeySet) -> jwt.Token:
        return jwt.decode(id_token, keys, algorithms=SIGNING_ALGORITHMS)

    # ------------------------------------------------------------------ HTTP

    def _endpoint(self, name: str) -> str:
        value = self._discover().get(name)
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise SignInUnavailable(f"The provider's discovery document has no {name}.")
        return value

    def _discover(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None:
                metadata = self._get(f"{self.issuer}/.well-known/openid-configuration")
                if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
                    raise SignInUnavailable(
                        "The provider's discovery document names another issuer."
                    )
                self._metadata = metadata
            return self._metadata

    def _key_set(self, *, refresh: bool) -> KeySet:
        uri = self._endpoint("jwks_uri")
        with self._lock:
            if self._keys is None or refresh:
                try:
                    self._keys = KeySet.import_key_set(self._get(uri))  # type: ignore[arg-type]
                except (ValueError, JoseError) as exc:
                    raise SignInUnavailable(
                        f"The provider's key set is unusable ({exc})."
                    ) from None
            return self._keys

    def _get(self, url: str) -> dict[str, Any]:
        status, parsed = self._call("GET", url)
        if status >= 400:
            raise SignInUnavailable(f"The provider answered {status} for {url}.")
        return parsed

    def _post(self, url: str, body: str) -> dict[str, Any]:
        status, parsed = self._call(
            "POST",
            url,
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=(self.client_id, self._client_secret),  # client_secret_basic
        )
        if status >= 400:  # invalid_grant: a used, expired or foreign code, a wrong verifier
            error = str(parsed.get("error", "error"))[:100]
            raise SignInRefused(f"The provider refused the code exchange ({status} {error}).")
        return parsed

    def _call(self, method: str, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        started = time.monotonic()
        try:
            with (
                httpx.Client(timeout=self.timeout, follow_redirects=False) as client,
                client.stream(method, url, **kwargs) as response,
            ):
                data = b""
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_RESPONSE_BYTES:
                        raise SignInUnavailable("The provider's answer is too large.")
                status = response.status_code
        except httpx.HTTPError as exc:
            waited = time.monotonic() - started
            raise SignInUnavailable(
                f"The sign-in provider could not be reached ({type(exc).__name__} "
                f"after {waited:.1f} s)."
            ) from None
        try:
            parsed = httpx.Response(200, content=data).json()
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise SignInUnavailable(f"The provider answered {status} without a JSON object.")
        return status, parsed
