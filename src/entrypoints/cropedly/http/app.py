"""The Litestar application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from litestar import Litestar, MediaType, Response, get
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ControllerRouterHandler

import cropedly
from cropedly import metrics
from cropedly.bootstrap import Services
from cropedly.http.account_routes import AccountController
from cropedly.http.auth import provide_user
from cropedly.http.auth_routes import AuthController
from cropedly.http.catalog_routes import CATALOG_ROUTES, CatalogViews
from cropedly.http.console import CONSOLE_ROUTES
from cropedly.http.cors import cors_middleware
from cropedly.http.forms import MAX_PARTS
from cropedly.http.google_routes import GoogleController, GoogleFlow
from cropedly.http.image_routes import IMAGE_ROUTES
from cropedly.http.job_routes import JOB_ROUTES, AsyncJobs
from cropedly.http.key_routes import ApiKeyController
from cropedly.http.limits import rate_limit_headers
from cropedly.http.observe import observe
from cropedly.http.openapi import complete_openapi, docs_plugins, operation_id
from cropedly.http.problems import EXCEPTION_HANDLERS, problem
from cropedly.http.views import Downloads, SignedUrls
from cropedly.settings import Settings, Switch
from cropedly_core.accounts import registrable_origin

log = logging.getLogger("cropedly")


@get("/", summary="Service information", tags=["meta"], sync_to_thread=False)
def index(settings: NamedDependency[Settings]) -> dict[str, Any]:
    base = settings.base_url
    return {
        "name": "cropedly",
        "version": cropedly.__version__,
        "links": {
            "openapi": f"{base}/schema/openapi.json",
            "docs": f"{base}/schema",
            "health": f"{base}/health",
            "jwks": f"{base}/.well-known/jwks.json",
            "login": f"{base}/auth/v1/login",
            "images": f"{base}/images/v1",
        },
    }


@get("/health", summary="Liveness (as /health/live)", tags=["meta"], sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/health/live",
    summary="Liveness",
    description="The process is up and answering; nothing else is checked.",
    tags=["meta"],
    sync_to_thread=False,
)
def liveness() -> dict[str, str]:
    return {"status": "ok"}


READY_SECONDS = 5.0  # per check: a check that hangs is a failing check
Readiness = list[tuple[str, Callable[[], None]]]


@get(
    "/health/ready",
    summary="Readiness",
    description="Every readiness check passes (the database answers, the image workers are "
    "alive, ...): send traffic here. A 503 names the failing checks.",
    tags=["meta"],
)
async def readiness(readiness_checks: NamedDependency[Readiness]) -> Response[dict[str, Any]]:
    checks: dict[str, str] = {}
    for name, check in readiness_checks:
        try:
            await asyncio.wait_for(asyncio.to_thread(check), READY_SECONDS)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; logged
            log.warning("readiness check %s failed: %s", name, exc or type(exc).__name__)
            checks[name] = "failed"
        else:
            checks[name] = "ok"
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        return problem(
            503,
            "not-ready",
            "Not ready",
            f"Failing readiness check(s): {', '.join(failed)}.",
            {"Retry-After": "5"},
            checks=checks,
        )
    return Response({"status": "ok", "checks": checks})


@get(
    "/metrics",
    summary="Prometheus metrics",
    description="Requests by route and status, latency, images processed, pipeline step "
    "timings, queue depth and worker restarts, in the Prometheus text format, summed over "
    "every server process. No user data. Off with `CROPEDLY_METRICS=off`.",
    tags=["meta"],
    media_type=MediaType.TEXT,
    sync_to_thread=False,
)
def get_metrics() -> Response[bytes]:
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


@get(
    "/.well-known/jwks.json",
    summary="Public keys of issued tokens",
    tags=["auth"],
    sync_to_thread=False,
)
def jwks(jwks_source: NamedDependency[Callable[[], dict[str, Any]]]) -> dict[str, Any]:
    return jwks_source()


async def _purge_periodically(services: Services) -> None:
    """Delete expired results now and then; every worker may do it, it is idempotent."""
    interval = services.settings.purge_interval_minutes * 60
    while True:
        try:
            purged = await asyncio.to_thread(services.images.purge_expired)
            if purged:
                log.info("purged %d expired result(s)", purged)
            await asyncio.to_thread(services.jobs.purge_expired)
        except Exception:
            log.exception("purging expired results failed; will retry")
        await asyncio.sleep(interval)


def _dependencies(services: Services, async_jobs: AsyncJobs) -> dict[str, Provide]:
    """Each handler asks for the use cases it uses, never for the whole bag."""
    urls = async_jobs.urls
    values: dict[str, object] = {
        "settings": services.settings,
        "accounts": services.accounts,
        "images": services.images,
        "catalog": services.catalog,
        "resets": services.resets,
        "keys": services.keys,
        "domains": services.domains,
        "usage": services.usage,
        "google": GoogleFlow(
            services.google,
            services.sign_in,
            services.links,
            services.clock,
            services.settings.base_url,
        ),
        "urls": urls,
        "async_jobs": async_jobs,
        "downloads": Downloads(urls, services.blobs),
        "catalog_views": CatalogViews(urls, services.images.result_ttl),
        "jwks_source": services.jwks,
        "readiness_checks": services.readiness,
    }
    return {
        name: Provide(_constant(value), use_cache=True, sync_to_thread=False)
        for name, value in values.items()
    }


def _constant(value: object) -> Callable[[], Any]:
    def provide() -> Any:
        return value

    return provide


def _own_origin(base_url: str) -> str | None:
    """The origin of the public URL (the console's): a path behind a proxy is not part of it."""
    parts = urlsplit(base_url)
    return registrable_origin(f"{parts.scheme}://{parts.netloc}")


def create_app(
    services: Services,
    extra_handlers: Sequence[ControllerRouterHandler] = (),
    *,
    debug: bool = False,
) -> Litestar:
    """Build the HTTP app around already-built services (one composition root)."""
    async_jobs = AsyncJobs(
        services.jobs,
        services.images,
        services.usage,
        SignedUrls(services.links, services.settings.base_url, services.clock),
        services.webhooks,
        services.webhook_key,
    )

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        log.info("cropedly %s ready", cropedly.__version__)
        log.log(*services.mail_note)
        log.log(*services.limits_note)
        log.info("database: %s", services.settings.database_address)  # password redacted
        purger = asyncio.create_task(_purge_periodically(services))
        try:
            yield
        finally:
            purger.cancel()
            # Async jobs in flight finish (or are recorded as failed) before storage closes.
            await async_jobs.drain(services.settings.shutdown_seconds)
            services.close()
            metrics.process_exiting()

    settings = services.settings
    app = Litestar(
        route_handlers=[
            index,
            health,
            liveness,
            readiness,
            *([get_metrics] if settings.metrics is Switch.ON else []),
            jwks,
            AuthController,
            ApiKeyController,
            AccountController,
            GoogleController,
            *IMAGE_ROUTES,
            *JOB_ROUTES,
            *CATALOG_ROUTES,
            *CONSOLE_ROUTES,
            *extra_handlers,
        ],
        dependencies={
            **_dependencies(services, async_jobs),
            "user": Provide(provide_user, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        # Litestar's default would put its own handler and format on the root logger;
        # cropedly.logs sets up the one format of the whole process instead.
        logging_config=None,
        # Set explicitly: an app built another way (from_config) loses Litestar's default
        # limit and then answers 500 to bodies; tests check both 413 and no 500.
        request_max_body_size=settings.max_request_bytes,
        lifespan=[lifespan],
        middleware=[
            cors_middleware(services.accounts.origin_allowed, _own_origin(settings.base_url)),
            rate_limit_headers,
        ],
        # Litestar's limit of parts applies where its own parser runs; ours has MAX_PARTS.
        multipart_form_part_limit=MAX_PARTS,
        openapi_config=OpenAPIConfig(
            title="Cropedly API",
            version=cropedly.__version__,
            description="AI image enhancement. Errors are RFC 9457 application/problem+json.",
            path="/schema",
            render_plugins=docs_plugins(),  # Redoc served from the package: works offline
            operation_id_creator=operation_id,
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
        ),
        debug=debug,
    )
    # Outside Litestar's routing and exception handling: every request gets its id.
    app.asgi_handler = observe(app.asgi_handler, metrics.record_request)
    return complete_openapi(app)  # error responses and the Problem schema
