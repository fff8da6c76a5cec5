"""The one composition root: builds the core's use cases from cropedly_adapters."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import attrs

from cropedly import logs
from cropedly.settings import MailerKind, QueueKind, Settings, ToneKind, UpscalerKind
from cropedly_adapters.argon2_hasher import Argon2PasswordHasher
from cropedly_adapters.authlib_oidc import OidcProvider
from cropedly_adapters.fsspec_blobs import FsspecBlobStore
from cropedly_adapters.httpx_webhooks import HttpxWebhooks
from cropedly_adapters.image_pipeline import default_pipeline
from cropedly_adapters.jose_tokens import JwtTokens, load_or_create_keys
from cropedly_adapters.lanczos_upscaler import LanczosUpscaler
from cropedly_adapters.memory import (
    InlineWorkers,
    InMemoryApiKeyRepository,
    InMemoryBlobStore,
    InMemoryCatalogRepository,
    InMemoryJobRepository,
    InMemoryMailer,
    InMemoryResultRepository,
    InMemoryTokens,
    InMemoryUsageCounters,
    InMemoryUserRepository,
)
from cropedly_adapters.outbox_mailer import OutboxMailer
from cropedly_adapters.pg_api_keys import PostgresApiKeyRepository
from cropedly_adapters.pg_catalog import PostgresCatalogRepository
from cropedly_adapters.pg_db import PostgresDatabase
from cropedly_adapters.pg_jobs import PostgresJobRepository
from cropedly_adapters.pg_results import PostgresResultRepository
from cropedly_adapters.pg_users import PostgresUserRepository
from cropedly_adapters.process_workers import ProcessWorkers
from cropedly_adapters.redis_limits import (
    RedisAttemptLog,
    RedisUsageCounters,
    connect,
    redact,
)
from cropedly_adapters.secret_files import load_link_secrets, load_webhook_key
from cropedly_adapters.smtp_mailer import NoMailer, SmtpMailer
from cropedly_adapters.sqlite_api_keys import SqliteApiKeyRepository
from cropedly_adapters.sqlite_catalog import SqliteCatalogRepository
from cropedly_adapters.sqlite_db import Database
from cropedly_adapters.sqlite_jobs import SqliteJobRepository
from cropedly_adapters.sqlite_results import SqliteResultRepository
from cropedly_adapters.sqlite_users import SqliteUserRepository
from cropedly_adapters.system import RandomIds, SystemClock
from cropedly_core.accounts import Accounts
from cropedly_core.api_keys import ApiKeyRepository, ApiKeys
from cropedly_core.catalog import Catalog, CatalogRepository, Quota
from cropedly_core.domains import Domains
from cropedly_core.images.jobs import JobRepository, Jobs
from cropedly_core.images.model import ImageLimits
from cropedly_core.images.pipeline import EnhancementPipeline
from cropedly_core.images.results import ResultRepository
from cropedly_core.images.service import ImageService, ImageWorkers
from cropedly_core.links import LinkSigner
from cropedly_core.password_reset import Mailer, PasswordResets
from cropedly_core.ports import BlobStore, Clock, IdGenerator, PasswordHasher, UserRepository
from cropedly_core.recovery import SweepReport, sweep_orphans
from cropedly_core.sign_in import ExternalSignIn, IdentityProvider
from cropedly_core.throttle import (
    AttemptLog,
    InProcessAttemptLog,
    LoginThrottle,
    RateLimit,
    ThrottlePolicy,
)
from cropedly_core.usage import PlanLimits, Usage, UsageCounters
from cropedly_core.users import Plan
from cropedly_core.webhooks import WebhookSender

log = logging.getLogger("cropedly")

# How a reset token is used, in the API's words (the core speaks no HTTP).
RESET_INSTRUCTIONS = (
    "Send it with your new password to POST /auth/v1/reset-password "
    "(multipart fields 'token' and 'password')."
)


@attrs.define
class Services:
    """What the entrypoints use; built once per process.

    Attributes:
        settings: the settings the services were built from.
        accounts: account use cases.
        jwks: returns the public key set (empty for opaque in-memory tokens).
        images: the enhance use case.
        catalog: the Enterprise reference catalog.
        resets: forgot / reset password.
        keys: API keys of servers.
        sign_in: turns a provider's verified identity into our account and token.
        google: the OpenID provider of "Sign in with Google"; None when not configured.
        domains: the browser origins Enterprise accounts register.
        usage: per-plan rate limits, monthly image quotas and the usage report.
        links: signs and checks download links.
        blobs: the blob store behind results and catalog images.
        clock: the clock the services share.
        closers: called on shutdown.
        mail_note: the start-up log line (level, text) saying where reset mail goes.
        jobs: async enhance jobs (``Prefer: respond-async``).
        webhooks: delivers their signed completion webhooks.
        webhook_key: the server key each account's webhook secret derives from.
        limits_note: the start-up log line saying where throttles and counters live.
        readiness: named checks behind ``GET /health/ready``; each raises when its
            dependency cannot serve (the database, the image workers, ...).
    """

    settings: Settings
    accounts: Accounts
    jwks: Callable[[], dict[str, Any]]
    images: ImageService
    links: LinkSigner
    blobs: BlobStore
    clock: Clock
    catalog: Catalog
    resets: PasswordResets
    keys: ApiKeys
    sign_in: ExternalSignIn
    google: IdentityProvider | None
    domains: Domains
    usage: Usage
    jobs: Jobs
    webhooks: WebhookSender
    webhook_key: bytes
    closers: list[Callable[[], None]] = attrs.field(factory=list)
    mail_note: tuple[int, str] = (logging.INFO, "reset mail is kept in memory (embedded)")
    limits_note: tuple[int, str] = (logging.INFO, "throttles and rate limits are per process")
    readiness: list[tuple[str, Callable[[], None]]] = attrs.field(factory=list)

    def sweep_crash_leftovers(self) -> SweepReport | None:
        """Remove what a killed process left half-done (``cropedly_core.recovery``).

        None when ``CROPEDLY_SWEEP_HORIZON_MINUTES`` is 0 (the sweep is off).
        """
        if not self.settings.sweep_horizon_minutes:
            return None
        return sweep_orphans(
            self.blobs,
            self.images.results,
            self.catalog.images,
            self.clock.now(),
            timedelta(minutes=self.settings.sweep_horizon_minutes),
        )

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        self.closers.clear()


def _throttle(settings: Settings, log: AttemptLog) -> LoginThrottle:
    return LoginThrottle(
        ThrottlePolicy(
            per_email=settings.login_failures_per_email,
            per_client=settings.login_failures_per_client,
            window=timedelta(minutes=settings.login_window_minutes),
        ),
        log,
    )


@attrs.frozen
class SharedLimits:
    """Where throttles, rate limits and usage counters keep their state.

    Attributes:
        counters: the per-plan rate limit and monthly usage counters.
        attempts: failed logins, sign-ups and reset mails (the throttles' log).
        note: the start-up log line saying where they live.
        check: the readiness check of a shared store (raises unless it answers now).
    """

    counters: UsageCounters
    attempts: AttemptLog
    note: tuple[int, str]
    check: Callable[[], None] | None = None


def in_process_limits(clock: Clock) -> SharedLimits:
    """Each process counts alone: N processes give N times the budget (docs/operations.md)."""
    return SharedLimits(
        counters=InMemoryUsageCounters(clock),
        attempts=InProcessAttemptLog(),
        note=(logging.INFO, "throttles and rate limits are per process (no CROPEDLY_REDIS_URL)"),
    )


def shared_limits(
    settings: Settings, clock: Clock, closers: list[Callable[[], None]]
) -> SharedLimits:
    """Redis when ``CROPEDLY_REDIS_URL`` is set, so every process shares one budget."""
    if not settings.redis_url:
        return in_process_limits(clock)
    client = connect(settings.redis_url)
    closers.append(client.close)

    def check() -> None:
        client.ping()

    return SharedLimits(
        counters=RedisUsageCounters(client, clock.now),
        attempts=RedisAttemptLog(client),
        # The password never reaches a log line.
        note=(
            logging.INFO,
            f"throttles and rate limits are shared in {redact(settings.redis_url)}",
        ),
        check=check,
    )


def blob_storage_options(settings: Settings) -> dict[str, Any]:
    """s3fs's options for an ``s3://`` blob URL from the settings; none for other URLs.

    Without a key pair s3fs (botocore) takes the standard AWS chain: the
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` variables, ``~/.aws/credentials``,
    an instance or task role.
    """
    if not settings.blobs.startswith(("s3://", "s3a://")):
        return {}
    options: dict[str, Any] = {}
    if settings.s3_endpoint_url:
        options["endpoint_url"] = settings.s3_endpoint_url
    if settings.s3_region:
        options["client_kwargs"] = {"region_name": settings.s3_region}
    if settings.s3_access_key_id:
        options["key"] = settings.s3_access_key_id
        options["secret"] = settings.s3_secret_access_key
    return options


def plan_limits(settings: Settings) -> dict[Plan, PlanLimits]:
    return {
        Plan.FREE: PlanLimits(settings.free_requests_per_minute, images_per_month=0),
        Plan.PRO: PlanLimits(settings.pro_requests_per_minute, settings.pro_images_per_month),
        Plan.ENTERPRISE: PlanLimits(
            settings.enterprise_requests_per_minute, settings.enterprise_images_per_month
        ),
    }


def image_limits(settings: Settings) -> ImageLimits:
    return settings.image_limits


def mailer(settings: Settings) -> Mailer:
    if settings.mail is MailerKind.OFF:
        return NoMailer()
    if settings.mail is MailerKind.OUTBOX:
        return OutboxMailer(settings.outbox_dir, sender=settings.smtp_sender)
    return SmtpMailer(
        settings.smtp_host,
        settings.smtp_port,
        sender=settings.smtp_sender,
        username=settings.smtp_username,
        password=settings.smtp_password,
        security=settings.smtp_security.value,
    )


def google_provider(settings: Settings) -> IdentityProvider | None:
    """The configured OpenID provider (Google's issuer by default), or None without a client id."""
    if not settings.google_client_id:
        return None
    return OidcProvider(
        settings.google_issuer,
        settings.google_client_id,
        settings.google_client_secret,
        f"{settings.base_url}/auth/v1/google/callback",
    )


def describe_mail(settings: Settings) -> tuple[int, str]:
    """The start-up log line about password-reset mail, and its level."""
    if settings.mail is MailerKind.OFF:
        return logging.WARNING, (
            "mail is turned off (CROPEDLY_MAILER=off): forgot-password answers 202 "
            "but sends no reset mail"
        )
    if settings.mail is MailerKind.OUTBOX:
        return logging.INFO, (
            f"reset mail is written to {settings.outbox_dir.resolve()} as .eml files "
            "(set CROPEDLY_SMTP_HOST to send it)"
        )
    return logging.INFO, f"reset mail goes through SMTP {settings.smtp_host}:{settings.smtp_port}"


def catalog_quota(settings: Settings) -> Quota:
    return Quota(max_images=settings.catalog_max_images, max_bytes=settings.catalog_max_bytes)


def worker_pipeline(
    upscaler: UpscalerKind,
    onnx_threads: int,
    limits: ImageLimits,
    tone: ToneKind = ToneKind.CLASSIC,
) -> EnhancementPipeline:
    """Builds the pipeline inside a worker process (module-level so that it pickles).

    ``onnx`` brings the learned restoration and upscaling, and the learned tone and
    colour step when ``tone`` is ``learned``; ``lanczos`` the classic steps, which
    need no model.
    """
    if upscaler is UpscalerKind.ONNX:
        # Imported here: importing them loads onnxruntime, which lanczos never needs.
        from cropedly_adapters.onnx_restorer import OnnxRestorer  # noqa: PLC0415
        from cropedly_adapters.onnx_tone import OnnxToneCorrector  # noqa: PLC0415
        from cropedly_adapters.onnx_upscaler import OnnxUpscaler  # noqa: PLC0415

        return default_pipeline(
            OnnxUpscaler(threads=onnx_threads),
            limits,
            restorer=OnnxRestorer(threads=onnx_threads),
            toner=OnnxToneCorrector(threads=onnx_threads) if tone is ToneKind.LEARNED else None,
        )
    return default_pipeline(LanczosUpscaler(), limits)


def pipeline_factory(settings: Settings) -> Callable[[], EnhancementPipeline]:
    """What builds the pipeline in a worker process (picklable: a partial of a module function)."""
    return partial(
        worker_pipeline,
        settings.upscaler,
        settings.onnx_threads,
        image_limits(settings),
        settings.tone,
    )


def link_signer(settings: Settings) -> LinkSigner:
    """Signs with the link secret active now; the others in ``keys/`` still verify."""
    signing, previous = load_link_secrets(settings.keys_dir, datetime.now(UTC))
    return LinkSigner(signing, previous)


def _assemble(
    settings: Settings,
    *,
    clock: Clock,
    ids: IdGenerator,
    users: UserRepository,
    hasher: PasswordHasher,
    tokens: JwtTokens | InMemoryTokens,
    workers: ImageWorkers,
    blobs: BlobStore,
    results: ResultRepository,
    catalog_images: CatalogRepository,
    links: LinkSigner,
    mail: Mailer,
    api_keys: ApiKeyRepository,
    jobs: JobRepository,
    webhook_key: bytes,
    closers: list[Callable[[], None]] | None = None,
    mail_note: tuple[int, str] | None = None,
    readiness: list[tuple[str, Callable[[], None]]] | None = None,
    limits: SharedLimits | None = None,
) -> Services:
    """The use cases over whichever adapters the caller chose: one wiring for both builders."""
    limits = limits or in_process_limits(clock)
    accounts = Accounts(
        users=users,
        hasher=hasher,
        issuer=tokens,
        verifier=tokens,
        clock=clock,
        ids=ids,
        throttle=_throttle(settings, limits.attempts),
        signups=RateLimit(
            "signup", settings.registrations_per_client, timedelta(hours=1), limits.attempts
        ),
    )
    images = ImageService(
        workers=workers,
        blobs=blobs,
        results=results,
        ids=ids,
        clock=clock,
        limits=image_limits(settings),
        result_ttl=timedelta(hours=settings.result_ttl_hours),
    )
    catalog = Catalog(
        workers=workers,
        blobs=blobs,
        images=catalog_images,
        ids=ids,
        clock=clock,
        limits=image_limits(settings),
        quota=catalog_quota(settings),
        page_size=settings.catalog_page_size,
    )
    return Services(
        settings=settings,
        accounts=accounts,
        jwks=tokens.jwks if isinstance(tokens, JwtTokens) else dict,
        images=images,
        catalog=catalog,
        resets=PasswordResets(
            accounts,
            links,
            mail,
            instructions=RESET_INSTRUCTIONS,
            reset_url=f"{settings.base_url}/console/reset",
        ),
        keys=ApiKeys(accounts, api_keys),
        sign_in=ExternalSignIn(accounts),
        google=google_provider(settings),
        domains=Domains(accounts, settings.domains_per_account),
        usage=Usage(limits.counters, plan_limits(settings)),
        # Jobs are kept as long as their results.
        jobs=Jobs(jobs, ids, clock, ttl=timedelta(hours=settings.result_ttl_hours)),
        webhooks=HttpxWebhooks(allow_private=settings.webhook_allow_private),
        webhook_key=webhook_key,
        links=links,
        blobs=blobs,
        clock=clock,
        closers=closers or [],
        limits_note=limits.note,
        readiness=readiness or [],
        **({} if mail_note is None else {"mail_note": mail_note}),
    )


@attrs.frozen
class Repositories:
    """The persisted state, on one database, and how to close it."""

    users: UserRepository
    results: ResultRepository
    catalog: CatalogRepository
    api_keys: ApiKeyRepository
    jobs: JobRepository
    close: Callable[[], None]
    ping: Callable[[], None]  # the readiness check: raises unless the database answers now


def open_repositories(settings: Settings) -> Repositories:
    """PostgreSQL when ``CROPEDLY_DATABASE_URL`` is set, else the SQLite file in the data folder.

    Either runs its migrations first. An unreachable PostgreSQL raises
    ``DatabaseUnavailable`` (an ``OSError``, one line without the password).
    """
    if settings.database_url:
        pg = PostgresDatabase(
            settings.database_url,
            pool_size=settings.database_pool_size,
            pool_timeout=settings.database_pool_timeout,
        )
        log.debug("database: PostgreSQL at %s, schema version %d", pg.address, pg.version)
        return Repositories(
            users=PostgresUserRepository(pg),
            results=PostgresResultRepository(pg),
            catalog=PostgresCatalogRepository(pg),
            api_keys=PostgresApiKeyRepository(pg),
            jobs=PostgresJobRepository(pg),
            close=pg.close,
            ping=pg.ping,
        )
    sqlite = Database(settings.database_path)
    return Repositories(
        users=SqliteUserRepository(sqlite),
        results=SqliteResultRepository(sqlite),
        catalog=SqliteCatalogRepository(sqlite),
        api_keys=SqliteApiKeyRepository(sqlite),
        jobs=SqliteJobRepository(sqlite),
        close=sqlite.close,
        ping=sqlite.ping,
    )


def build_services(settings: Settings, *, start_workers: bool = True) -> Services:
    """The production wiring: SQLite or PostgreSQL, argon2id, Ed25519 JWTs, blobs by settings.

    ``start_workers=False`` runs images on a thread instead of worker processes
    (the CLI's one-shot commands).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    repositories = open_repositories(settings)
    closers: list[Callable[[], None]] = [repositories.close]
    readiness: list[tuple[str, Callable[[], None]]] = [("database", repositories.ping)]
    workers: ImageWorkers
    if start_workers:
        # Imported here, not at the top: image worker processes import this module
        # for worker_pipeline and must not load the metrics (they report timings
        # with each result instead), and serve sets PROMETHEUS_MULTIPROC_DIR first.
        from cropedly import metrics  # noqa: PLC0415
    if start_workers and settings.image_queue is QueueKind.REDIS:
        # Imported here: only a server on the queue needs Celery.
        from cropedly_adapters.celery_workers import CeleryWorkers  # noqa: PLC0415

        queue = CeleryWorkers(
            settings.redis_url,
            queue_limit=settings.queue_limit,
            seconds_per_image=settings.seconds_per_image,
            queue_wait_seconds=settings.queue_wait_seconds,
        )
        closers.append(queue.close)
        readiness.append(("image-workers", queue.check))
        workers = metrics.MeteredWorkers(queue)
    elif start_workers:
        pool = ProcessWorkers(
            pipeline_factory(settings),
            processes=settings.image_workers,
            queue_limit=settings.queue_limit,
            seconds_per_image=settings.seconds_per_image,
            # Workers log like the server (same format, request ids): resolved here,
            # where "auto" still sees the server's stderr.
            initializer=partial(
                logs.configure, settings.log_level.value, logs.resolved(settings.log_format)
            ),
            on_restart=metrics.worker_restarted,
        )
        closers.append(pool.close)
        readiness.append(("image-workers", pool.check))
        workers = metrics.MeteredWorkers(pool)
    else:
        workers = InlineWorkers(
            worker_pipeline(
                settings.upscaler, settings.onnx_threads, image_limits(settings), settings.tone
            )
        )
    clock = SystemClock()
    limits = shared_limits(settings, clock, closers)
    if limits.check is not None:
        readiness.append(("redis", limits.check))
    blobs = FsspecBlobStore(settings.blobs, blob_storage_options(settings))
    if blob_storage_options(settings) or settings.blobs.startswith("s3"):
        readiness.append(("blobs", blobs.check))
    return _assemble(
        settings,
        clock=clock,
        ids=RandomIds(),
        users=repositories.users,
        hasher=Argon2PasswordHasher(),
        tokens=JwtTokens(
            load_or_create_keys(settings.keys_dir), settings.jwt_issuer, settings.jwt_audience
        ),
        workers=workers,
        blobs=blobs,
        results=repositories.results,
        catalog_images=repositories.catalog,
        links=link_signer(settings),
        mail=mailer(settings),
        api_keys=repositories.api_keys,
        jobs=repositories.jobs,
        webhook_key=load_webhook_key(settings.keys_dir),
        closers=closers,
        mail_note=describe_mail(settings),
        limits=limits,
        readiness=readiness,
    )


def build_memory_services(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    users: UserRepository | None = None,
    hasher: PasswordHasher | None = None,
    blobs: BlobStore | None = None,
    mail: Mailer | None = None,
    api_keys: ApiKeyRepository | None = None,
    jwt: bool = True,
) -> Services:
    """Every use case on in-memory storage, in this process: for apps embedding Cropedly.

    The defaults are production-grade: the system clock, random 128-bit ids,
    argon2id passwords and Ed25519 JWTs. Only storage lives in memory (users,
    results, catalog, blobs, mail), and images run on a thread of this process with
    the learned upscaler unless ``settings.upscaler`` says otherwise. Tests pass
    their doubles (``ManualClock``, ``SeededIds``, ``FastPasswordHasher``) explicitly.
    """
    settings = settings or Settings()
    return _assemble(
        settings,
        clock=clock or SystemClock(),
        ids=ids or RandomIds(),
        users=users or InMemoryUserRepository(),
        hasher=hasher or Argon2PasswordHasher(),
        tokens=(
            JwtTokens.generate(settings.jwt_issuer, settings.jwt_audience)
            if jwt
            else InMemoryTokens()
        ),
        workers=InlineWorkers(
            worker_pipeline(
                settings.upscaler, settings.onnx_threads, image_limits(settings), settings.tone
            )
        ),
        blobs=blobs or InMemoryBlobStore(),
        results=InMemoryResultRepository(),
        catalog_images=InMemoryCatalogRepository(),
        links=LinkSigner(secrets.token_bytes(32)),
        mail=mail or InMemoryMailer(),
        api_keys=api_keys or InMemoryApiKeyRepository(),
        jobs=InMemoryJobRepository(),
        webhook_key=secrets.token_bytes(32),
    )
