"""``/auth/v1/keys`` and ``/auth/v1/token``: API keys of servers, and their exchange for a JWT."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.dto import DataclassDTO
from litestar.params import Parameter
from msgspec import Meta

from cropedly.http.auth import BEARER
from cropedly.http.auth_routes import FORM, TokenResponse, token_response
from cropedly.http.forms import bounded_form
from cropedly.http.views import CAMEL, iso
from cropedly_core.api_keys import MAX_KEY_LENGTH, MAX_NAME_LENGTH, ApiKey, ApiKeys
from cropedly_core.users import User


@dataclass
class NewKeyForm:
    name: Annotated[str, Meta(max_length=4 * MAX_NAME_LENGTH)]


@dataclass
class ExchangeForm:
    apiKey: Annotated[str, Meta(max_length=MAX_KEY_LENGTH)]  # noqa: N815 - the API's field name


@dataclass
class ApiKeyView:
    id: str
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None


@dataclass
class NewApiKey(ApiKeyView):
    key: str  # shown once: only its hash is stored


def key_view(key: ApiKey) -> ApiKeyView:
    return ApiKeyView(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=iso(key.created_at),
        last_used_at=None if key.last_used_at is None else iso(key.last_used_at),
    )


class ApiKeyController(Controller):
    path = "/auth/v1"
    tags = ["auth"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post(
        "/keys",
        status_code=201,
        sync_to_thread=True,
        summary="Create an API key",
        description="Multipart field `name`. The answer's `key` (`cpk_` and 256 random bits) "
        "is shown this once; the server keeps only its SHA-256. At most 20 keys per account.",
        security=BEARER,
        before_request=bounded_form,
        return_dto=DataclassDTO[Annotated[NewApiKey, CAMEL]],
    )
    def create_key(
        self,
        data: Annotated[NewKeyForm, FORM],
        user: NamedDependency[User],
        keys: NamedDependency[ApiKeys],
    ) -> NewApiKey:
        key, secret = keys.create(user, data.name)
        view = key_view(key)
        return NewApiKey(**vars(view), key=secret)

    @get(
        "/keys",
        sync_to_thread=True,
        summary="List the caller's API keys",
        description="Name, prefix, creation and last use of each key, oldest first; never the key.",
        security=BEARER,
        return_dto=DataclassDTO[Annotated[ApiKeyView, CAMEL]],
    )
    def list_keys(
        self, user: NamedDependency[User], keys: NamedDependency[ApiKeys]
    ) -> list[ApiKeyView]:
        return [key_view(key) for key in keys.list(user)]

    @delete(
        "/keys/{key_id:str}",
        status_code=204,
        sync_to_thread=True,
        summary="Revoke an API key",
        description="The key's next exchange fails; tokens it gave live out their 72 hours.",
        security=BEARER,
    )
    def revoke_key(
        self,
        user: NamedDependency[User],
        keys: NamedDependency[ApiKeys],
        key_id: Annotated[str, Parameter(max_length=64)],
    ) -> None:
        keys.revoke(user, key_id)

    @post(
        "/token",
        status_code=200,
        sync_to_thread=True,
        summary="Exchange an API key for a token",
        description="Multipart field `apiKey`. The same JWT as a login (72 hours, the "
        "account's plan and roles now), so every other route has one way to authenticate.",
        before_request=bounded_form,
        return_dto=DataclassDTO[Annotated[TokenResponse, CAMEL]],
    )
    def exchange_key(
        self, data: Annotated[ExchangeForm, FORM], keys: NamedDependency[ApiKeys]
    ) -> TokenResponse:
        return token_response(keys.exchange(data.apiKey))
