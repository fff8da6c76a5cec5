"""``/auth/v1``: register, login, me."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body

from cropedly.bootstrap import Services
from cropedly.http.auth import BEARER, client_address
from cropedly_core.users import User


@dataclass
class LoginForm:
    email: str
    password: str


@dataclass
class RegisterForm:
    email: str
    password: str
    name: str


@dataclass
class ForgotForm:
    email: str


@dataclass
class ResetForm:
    token: str
    password: str


@dataclass
class Accepted:
    detail: str


@dataclass
class TokenResponse:
    token: str
    tokenType: str  # noqa: N815 - the API's JSON names are camelCase
    expiresAt: str  # noqa: N815


@dataclass
class Me:
    id: str
    email: str
    name: str
    plan: str
    authorities: list[str]
    createdAt: str  # noqa: N815


def me_of(user: User) -> Me:
    return Me(
        id=user.id,
        email=user.email,
        name=user.name,
        plan=user.plan.value,
        authorities=user.authorities,
        createdAt=user.created_at.isoformat(),
    )


class AuthController(Controller):
    path = "/auth/v1"
    tags = ["auth"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post(
        "/login",
        status_code=200,
        sync_to_thread=True,
        summary="Log in with e-mail and password",
        description="Returns a JWT (Ed25519) valid 72 hours. Wrong e-mail, wrong password and "
        "Google accounts without a password all get the same 401. Failed logins are "
        "throttled per e-mail and per client address (429 with Retry-After).",
    )
    def login(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.MULTI_PART)],
        services: NamedDependency[Services],
    ) -> TokenResponse:
        grant = services.accounts.login(data.email, data.password, client_address(request))
        return TokenResponse(
            token=grant.token,
            tokenType="Bearer",
            expiresAt=grant.expires_at.isoformat().replace("+00:00", "Z"),
        )

    @post(
        "/register",
        status_code=201,
        sync_to_thread=True,
        summary="Create a free account",
    )
    def register(
        self,
        data: Annotated[RegisterForm, Body(media_type=RequestEncodingType.MULTI_PART)],
        services: NamedDependency[Services],
    ) -> Me:
        return me_of(services.accounts.register(data.email, data.password, data.name))

    @get("/me", sync_to_thread=False, summary="The caller's account", security=BEARER)
    def me(self, user: NamedDependency[User]) -> Me:
        return me_of(user)

    @post(
        "/forgot-password",
        status_code=202,
        sync_to_thread=True,
        summary="Mail a password-reset token",
        description="Always 202, whether or not the e-mail has an account. Google users "
        "set their first password this way. At most 3 requests per e-mail per 30 minutes.",
    )
    def forgot_password(
        self,
        data: Annotated[ForgotForm, Body(media_type=RequestEncodingType.MULTI_PART)],
        services: NamedDependency[Services],
    ) -> Accepted:
        services.resets.request(data.email)
        return Accepted("If the e-mail has an account, a reset token is on its way.")

    @post(
        "/reset-password",
        status_code=204,
        sync_to_thread=True,
        summary="Set a new password with a mailed reset token",
        description="The token works once and for 30 minutes; tokens issued before stop "
        "working. A weak password is refused with 422.",
    )
    def reset_password(
        self,
        data: Annotated[ResetForm, Body(media_type=RequestEncodingType.MULTI_PART)],
        services: NamedDependency[Services],
    ) -> None:
        services.resets.reset(data.token, data.password)
