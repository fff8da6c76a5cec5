"""``/account/v1``: registered browser domains and the account's usage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.dto import DataclassDTO
from litestar.params import Parameter
from msgspec import Meta

from cropedly.http.auth import BEARER
from cropedly.http.auth_routes import FORM
from cropedly.http.forms import bounded_form
from cropedly.http.views import CAMEL, iso, origin_of
from cropedly_core.accounts import MAX_ORIGIN_LENGTH, Accounts, require_plan
from cropedly_core.catalog import Catalog
from cropedly_core.domains import Domain, Domains
from cropedly_core.usage import Usage
from cropedly_core.users import Plan, User


@dataclass
class NewDomainForm:
    origin: Annotated[str, Meta(max_length=MAX_ORIGIN_LENGTH)]


@dataclass
class DomainView:
    id: str
    origin: str


@dataclass
class UsageView:
    plan: str
    period_start: str
    period_end: str
    images_processed: int
    images_limit: int
    bytes_stored: int
    bytes_limit: int
    catalog_images: int
    catalog_images_limit: int
    requests_per_minute: int


def domain_view(domain: Domain) -> DomainView:
    return DomainView(id=domain.id, origin=domain.origin)


class AccountController(Controller):
    path = "/account/v1"
    tags = ["account"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/domains",
        sync_to_thread=True,
        summary="List the registered browser domains",
        description="Enterprise only. The origins whose pages may call the API from a "
        "browser with this account's tokens, sorted.",
        security=BEARER,
        return_dto=DataclassDTO[Annotated[DomainView, CAMEL]],
    )
    def list_domains(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[User],
        domains: NamedDependency[Domains],
    ) -> list[DomainView]:
        return [domain_view(d) for d in domains.list(user, origin_of(request))]

    @post(
        "/domains",
        status_code=201,
        sync_to_thread=True,
        summary="Register a browser domain",
        description="Enterprise only. Multipart field `origin`: `http(s)://host[:port]`, "
        "stored normalised (lower case, default port dropped, IDN as punycode). Refused: "
        "wildcards, `null`, paths, other schemes. Registering one again is not an error. "
        "At most `CROPEDLY_DOMAINS_PER_ACCOUNT` (20) per account.",
        security=BEARER,
        before_request=bounded_form,
        return_dto=DataclassDTO[Annotated[DomainView, CAMEL]],
    )
    def add_domain(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[NewDomainForm, FORM],
        user: NamedDependency[User],
        domains: NamedDependency[Domains],
    ) -> DomainView:
        return domain_view(domains.add(user, data.origin, origin_of(request)))

    @delete(
        "/domains/{domain_id:str}",
        status_code=204,
        sync_to_thread=True,
        summary="Remove a registered browser domain",
        description="Enterprise only. Pages of that origin are refused from the next request.",
        security=BEARER,
    )
    def remove_domain(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[User],
        domains: NamedDependency[Domains],
        domain_id: Annotated[str, Parameter(max_length=64)],
    ) -> None:
        domains.remove(user, domain_id, origin_of(request))

    @get(
        "/usage",
        sync_to_thread=True,
        summary="Usage this month against the plan's limits",
        description="Images enhanced this calendar month (UTC) and bytes stored in the "
        "reference catalog, with the plan's limits and request rate. Any plan.",
        security=BEARER,
        return_dto=DataclassDTO[Annotated[UsageView, CAMEL]],
    )
    def get_usage(
        self,
        request: Request[Any, Any, Any],
        user: NamedDependency[User],
        usage: NamedDependency[Usage],
        catalog: NamedDependency[Catalog],
        accounts: NamedDependency[Accounts],
    ) -> UsageView:
        require_plan(user, Plan.FREE, origin_of(request))
        quota = catalog.quota
        report = usage.report(
            user,
            accounts.clock.now(),
            catalog.images.usage(user.id),
            (quota.max_images, quota.max_bytes),
        )
        return UsageView(
            plan=report.plan.value,
            period_start=iso(report.period_start),
            period_end=iso(report.period_end),
            images_processed=report.images_processed,
            images_limit=report.images_limit,
            bytes_stored=report.bytes_stored,
            bytes_limit=report.bytes_limit,
            catalog_images=report.catalog_images,
            catalog_images_limit=report.catalog_images_limit,
            requests_per_minute=report.requests_per_minute,
        )
