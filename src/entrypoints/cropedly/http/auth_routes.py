"""``/auth/v1``: register, login, me, forgot and reset password."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.dto import DataclassDTO
from litestar.enums import RequestEncodingType
from litestar.params import Body
from msgspec import Meta

from cropedly.http.auth import BEARER, client_address
from cropedly.http.forms import bounded_form
from cropedly.http.views import CAMEL, iso
from cropedly_core.accounts import Accounts
from cropedly_core.password_reset import PasswordResets
from cropedly_core.passwords import MAX_LENGTH as MAX_PASSWORD_LENGTH
from cropedly_core.tokens import TokenGrant
from cropedly_core.users import MAX_EMAIL_LENGTH, User

# Bounds checked while the form is parsed, before any other work (see forms.py).
Email = Annotated[str, Meta(max_length=MAX_EMAIL_LENGTH)]
Password = Annotated[str, Meta(max_length=MAX_PASSWORD_LENGTH)]
Name = Annotated[str, Meta(max_length=200)]
Token = Annotated[str, Meta(max_length=1024)]
FORM = Body(media_type=RequestEncodingType.MULTI_PART)


@dataclass
class LoginForm:
    email: Email
    password: Password


@dataclass
class RegisterForm:
    email: Email
    password: Password
    name: Name


@dataclass
class ForgotForm:
    email: Email


@dataclass
class ResetForm:
    token: Token
    password: Password


@dataclass
class ChangePasswordForm:
    currentPassword: Password  # noqa: N815 - the form field's name in the API
    newPassword: Password  # noqa: N815


@dataclass
class Accepted:
    detail: str


@dataclass
class TokenResponse:
    token: str
    token_type: str
    expires_at: str


@dataclass
class Me:
    id: str
    email: str
    name: str
    plan: str
    authorities: list[str]
    created_at: str


def token_response(grant: TokenGrant) -> TokenResponse:
    return TokenResponse(
        token=grant.token,
        token_type="Bearer",  # noqa: S106 - the OAuth token type, not a secret
        expires_at=iso(grant.expires_at),
    )


def me_of(user: User) -> Me:
    return Me(
        id=user.id,
        email=user.email,
        name=user.name,
        plan=user.plan.value,
        authorities=user.authorities,
        created_at=iso(user.created_at),
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
        before_request=bounded_form,
        return_dto=DataclassDTO[Annotated[TokenResponse, CAMEL]],
    )
    def login(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[LoginForm, FORM],
        accounts: NamedDependency[Accounts],
    ) -> TokenResponse:
        return token_response(accounts.login(data.email, data.password, client_address(request)))

    @post(
        "/register",
        status_code=201,
        sync_to_thread=True,
        summary="Create a free account",
        description="Sign-ups are rate limited per client address (429 with Retry-After).",
        before_request=bounded_form,
        return_dto=DataclassDTO[Annotated[Me, CAMEL]],
    )
    def register(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[RegisterForm, FORM],
        accounts: NamedDependency[Accounts],
    ) -> Me:
        user = accounts.register(
            data.email, data.password, data.name, client=client_address(request)
        )
        return me_of(user)

    @get(
        "/me",
        sync_to_thread=False,
        summary="The caller's account",
        security=BEARER,
        return_dto=DataclassDTO[Annotated[Me, CAMEL]],
    )
    def me(self, user: NamedDependency[User]) -> Me:
        return me_of(user)

    @post(
        "/forgot-password",
        status_code=202,
        sync_to_thread=True,
        summary="Mail a password-reset token",
        description="Always 202, whether or not the e-mail has an account: the mail is sent "
        "after the answer, so neither the answer nor its timing tells. Google users "
        "set their first password this way. At most 3 requests per e-mail per 30 minutes.",
        before_request=bounded_form,
    )
    def forgot_password(
        self,
        data: Annotated[ForgotForm, FORM],
        resets: NamedDependency[PasswordResets],
    ) -> Response[Accepted]:
        accepted = resets.accept(data.email)
        return Response(
            Accepted("If the e-mail has an account, a reset token is on its way."),
            status_code=202,
            background=None if accepted is None else BackgroundTask(resets.send, accepted),
        )

    @post(
        "/reset-password",
        status_code=204,
        sync_to_thread=True,
        summary="Set a new password with a mailed reset token",
        description="The token works once and for 30 minutes; tokens issued before stop "
        "working. A weak password is refused with 422.",
        before_request=bounded_form,
    )
    def reset_password(
        self,
        data: Annotated[ResetForm, FORM],
        resets: NamedDependency[PasswordResets],
    ) -> None:
        resets.reset(data.token, data.password)

    @post(
        "/password",
        status_code=200,
        sync_to_thread=True,
        summary="Change the caller's password",
        description="Multipart fields `currentPassword` and `newPassword`. Every token "
        "issued before stops working, the caller's too: the answer carries a fresh one. "
        "A wrong current password is 403 and counts as a failed login (429 past the "
        "limit); accounts without a password (Google) set one through forgot-password.",
        security=BEARER,
        before_request=bounded_form,
        return_dto=DataclassDTO[Annotated[TokenResponse, CAMEL]],
    )
    def change_password(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[ChangePasswordForm, FORM],
        user: NamedDependency[User],
        accounts: NamedDependency[Accounts],
    ) -> TokenResponse:
        grant = accounts.change_password(
            user, data.currentPassword, data.newPassword, client_address(request)
        )
        return token_response(grant)
