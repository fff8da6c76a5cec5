"""``/auth/v1/google``: "Sign in with Google" (OpenID Connect, authorization code + PKCE).

``login`` sends the browser to the provider with a fresh ``state``, ``nonce`` and PKCE
challenge, and keeps ``state``, ``nonce`` and the verifier in a short-lived cookie
that only this path receives (HttpOnly, SameSite=Lax so that the provider's
redirect back carries it, Secure on https), HMAC-signed so it cannot be forged.
``callback`` checks the returned ``state`` against that cookie, lets the adapter
exchange the code and verify the ID token, signs the person in, and hands our JWT
to the console in the URL fragment (``/console#token=...``): browsers never send a
fragment to a server, so the token is in no access log, query string or Referer.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Annotated, Any

import attrs
from litestar import Controller, Request, Response, get
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Redirect

from cropedly_core.errors import LinkInvalid
from cropedly_core.links import LinkSigner
from cropedly_core.ports import Clock
from cropedly_core.sign_in import (
    ExternalSignIn,
    IdentityProvider,
    SignInNotConfigured,
    SignInRefused,
)

PATH = "/auth/v1/google"
COOKIE = "cropedly_oidc"
LIFETIME = timedelta(minutes=10)  # time to choose an account at the provider
_KIND = "oidc-login"
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@attrs.frozen
class GoogleFlow:
    """What the two routes share: the provider (None when off), the cookie signer, our sign-in."""

    provider: IdentityProvider | None
    sign_in: ExternalSignIn
    links: LinkSigner
    clock: Clock
    base_url: str

    def begin(self) -> tuple[str, Cookie]:
        """The provider's URL and the signed cookie that remembers this sign-in."""
        started = self._provider().begin()
        pending = f"{started.state}.{started.nonce}.{started.verifier}"
        stamp, signature = self.links.sign(_KIND, pending, self.clock.now() + LIFETIME)
        cookie = Cookie(
            key=COOKIE,
            value=f"{pending}.{stamp}.{signature}",
            path=PATH,
            max_age=int(LIFETIME.total_seconds()),
            httponly=True,
            secure=self.base_url.startswith("https://"),
            samesite="lax",
        )
        return started.url, cookie

    def finish(self, cookie: str, state: str | None, code: str | None, error: str | None) -> str:
        """Check everything, sign in, and return the console URL with the token in its fragment."""
        provider = self._provider()
        if error is not None:
            raise SignInRefused(f"The provider did not sign you in ({error}).")
        if not state or not code:
            raise SignInRefused("The provider's answer lacks `state` or `code`.")
        parts = cookie[:1024].split(".")
        if len(parts) != 5:
            raise SignInRefused("No sign-in is in progress in this browser (no login cookie).")
        expected_state, nonce, verifier, stamp, signature = parts
        try:
            self.links.check(_KIND, ".".join(parts[:3]), stamp, signature, self.clock.now())
        except LinkInvalid:
            raise SignInRefused("The sign-in cookie is forged or has expired.") from None
        if not hmac.compare_digest(expected_state.encode(), state.encode("utf-8", "replace")):
            raise SignInRefused("The `state` does not match this browser's sign-in.")
        grant = self.sign_in.sign_in(provider.finish(code, nonce, verifier))
        return f"{self.base_url}/console#token={grant.token}"

    def _provider(self) -> IdentityProvider:
        if self.provider is None:
            raise SignInNotConfigured(
                "Google sign-in is not configured on this server "
                "(CROPEDLY_GOOGLE_CLIENT_ID and CROPEDLY_GOOGLE_CLIENT_SECRET)."
            )
        return self.provider


class GoogleController(Controller):
    path = PATH
    tags = ["auth"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/login",
        status_code=302,
        sync_to_thread=True,
        summary="Start signing in with Google",
        description="Redirects (302) to the provider's authorization endpoint with `state`, "
        "`nonce` and a PKCE S256 challenge, and sets a short-lived signed cookie for the "
        "callback. 404 when Google sign-in is not configured; 503 when the provider's "
        "discovery document cannot be fetched.",
    )
    def google_login(self, google: NamedDependency[GoogleFlow]) -> Redirect:
        url, cookie = google.begin()
        return Redirect(url, status_code=302, headers=_NO_STORE, cookies=[cookie])

    @get(
        "/callback",
        status_code=303,
        sync_to_thread=True,
        summary="Finish signing in with Google",
        description="The provider's redirect back. Checks `state` against the login cookie, "
        "exchanges `code` (with the PKCE verifier), verifies the ID token (signature from the "
        "provider's key set, `iss`, `aud`, `exp`, `nonce`, `email_verified`), signs in the "
        "account with that e-mail or creates a Free one without a password, and redirects "
        "(303) to `/console#token=<JWT>`. Any failed check is 401 `sign-in-refused`.",
    )
    def google_callback(
        self,
        request: Request[Any, Any, Any],
        google: NamedDependency[GoogleFlow],
        returned_state: Annotated[str | None, QueryParameter(name="state", max_length=512)] = None,
        code: Annotated[str | None, QueryParameter(max_length=4096)] = None,
        error: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> Response[Any]:
        console = google.finish(request.cookies.get(COOKIE, ""), returned_state, code, error)
        response: Response[Any] = Redirect(console, status_code=303, headers=_NO_STORE)
        response.delete_cookie(COOKIE, path=PATH)
        return response
