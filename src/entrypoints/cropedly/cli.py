"""The ``cropedly`` command line (docs/cli.md).

Exit codes: 0 everything done; 1 some files of ``enhance`` failed; 2 the command
could not run (usage, settings, data folder or output folder). Errors are one
``error: ...`` line on stderr, never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import importlib.metadata
import json
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import attrs
import click

from cropedly.settings import Settings, SettingsError, ToneKind, UpscalerKind
from cropedly_core.errors import BatchRejected, DomainError
from cropedly_core.images.formats import TRAITS, resolve_output_format
from cropedly_core.images.model import EnhanceOptions, ImageLimits, OutputFormat
from cropedly_core.users import Plan, normalise_email

if TYPE_CHECKING:
    from rich.progress import Progress, Task, TaskID
    from rich.text import Text

    from cropedly.bootstrap import Services
    from cropedly_core.images.pipeline import EnhancementPipeline

PLANS = [p.value for p in Plan]
USAGE_EXIT = 2
INTERRUPTED_EXIT = 130


class CliError(click.ClickException):
    """A one-line error that stops the command; ``main`` prints it as ``error: ...``."""

    exit_code = USAGE_EXIT


def _note(message: str) -> None:
    click.echo(message, err=True)


# ---------------------------------------------------------------- settings and data


def _load_settings(**overrides: object) -> Settings:
    """Settings from the environment; ``SettingsError`` reaches ``main`` (exit 2)."""
    settings = Settings.from_env(None, **overrides)
    # Quiet by default on a terminal; CROPEDLY_LOG_LEVEL (validated above) turns it up.
    level = settings.log_level.value if os.environ.get("CROPEDLY_LOG_LEVEL") else "WARNING"
    logging.basicConfig(level=level)
    return settings


@attrs.define
class _DataFolder:
    """The data folder a command uses, until it has been named on stderr."""

    path: Path | None = None
    created: bool = False

    def line(self) -> str:
        return f"data folder: {self.path}{' (created)' if self.created else ''}"


_DATA_FOLDER = _DataFolder()


def _announce() -> None:
    """Name the data folder on stderr, once, before the command's first output.

    Not printed on loading: a command that then fails names the folder in its
    one ``error:`` line instead (see ``_error``), so stderr stays that one line.
    """
    if _DATA_FOLDER.path is not None:
        _note(_DATA_FOLDER.line())
        _DATA_FOLDER.path = None


def _error(message: str) -> None:
    folder, _DATA_FOLDER.path = _DATA_FOLDER.path, None
    where = f" ({_DataFolder(folder, _DATA_FOLDER.created).line()})" if folder else ""
    _note(f"error: {message}{where}")


def _data_settings(*, create: bool, **overrides: object) -> Settings:
    """Settings whose data folder exists; ``_announce`` names it.

    Commands that only read or change data refuse a missing folder: run from the
    wrong directory they would otherwise start an empty ``./data`` and report
    "no users" instead of the real ones.
    """
    settings = _load_settings(**overrides)
    folder = Path(os.path.abspath(settings.data_dir))  # noqa: PTH100 - absolute without resolving links
    created = False
    if folder.is_dir():
        pass
    elif create:
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)  # keys and hashes live here
        except OSError as exc:
            raise CliError(f"cannot create data folder {folder}: {exc.strerror or exc}") from None
        created = True
    else:
        raise CliError(
            f"no data folder at {folder} "
            "(set CROPEDLY_DATA_DIR or run from the folder that holds it)"
        )
    _DATA_FOLDER.path, _DATA_FOLDER.created = folder, created
    return settings


@contextmanager
def _opened(settings: Settings) -> Iterator[Services]:
    """The services for one command, closed when it is done."""
    from cropedly.bootstrap import build_services  # noqa: PLC0415 - keeps --help fast

    # No image worker processes: these commands never enhance an image.
    services = build_services(settings, start_workers=False)
    try:
        yield services
    finally:
        services.close()


# ---------------------------------------------------------------------- the group


def _show_version(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    try:
        version = importlib.metadata.version("cropedly")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown (not installed)"
    click.echo(f"cropedly {version}")
    ctx.exit(0)


CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 100}


@click.group(
    context_settings=CONTEXT,
    epilog="Exit codes: 0 done, 1 some files failed (enhance), 2 usage, settings, "
    "data folder or output folder error. Settings come from CROPEDLY_* variables "
    "(docs/operations.md); see docs/cli.md.",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_show_version,
    help="Show the installed version and exit.",
)
def cli() -> None:
    """Cropedly image enhancement: the API server, batch enhancement and account admin."""


# ------------------------------------------------------------------------- serve


@cli.command()
@click.option("--host", show_default="CROPEDLY_HOST or 127.0.0.1", help="Interface to bind.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    show_default="CROPEDLY_PORT or 8000",
    help="TCP port.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    show_default="CROPEDLY_WORKERS or 1",
    help="uvicorn worker processes.",
)
def serve(host: str | None, port: int | None, workers: int | None) -> int:
    """Run the HTTP API (creates the data folder if missing)."""
    # The factory runs in each worker process and reads its settings from the
    # environment, so the flags travel there.
    if host is not None:
        os.environ["CROPEDLY_HOST"] = host
    if port is not None:
        os.environ["CROPEDLY_PORT"] = str(port)
    settings = _data_settings(create=True, workers=workers)
    # Before anything imports prometheus_client (cropedly.metrics): every HTTP worker
    # then keeps its counts in this folder and /metrics sums them.
    metrics_dir = _metrics_folder()
    try:
        from cropedly.bootstrap import build_services  # noqa: PLC0415
        from cropedly.logs import configure as configure_logs  # noqa: PLC0415

        # One log format for this process and every worker (cropedly.logs); uvicorn's
        # own logging setup is skipped (log_config=None) so its records come to ours.
        configure_logs(settings.log_level.value, settings.log_format)
        # Create keys and run migrations once, before the workers race to do it; and
        # clean what a crash (SIGKILL, power loss) left half-done, before anything new
        # is written.
        services = build_services(settings, start_workers=False)
        try:
            services.sweep_crash_leftovers()
        finally:
            services.close()
        _announce()
        _run_uvicorn(settings)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _metrics_folder() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` for this server: the operator's, emptied, or a fresh one.

    Returns the folder to delete on exit (ours), or None (the operator's). Files left by
    an earlier run would add its counts to ours, hence emptied.
    """
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink(missing_ok=True)
        return None
    made = tempfile.mkdtemp(prefix="cropedly-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made


def _run_uvicorn(settings: Settings) -> None:
    import uvicorn  # noqa: PLC0415 - only serve needs the server

    uvicorn.run(
        "cropedly.asgi:create",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        log_config=None,
        proxy_headers=True,
        server_header=False,
        # SIGTERM: stop accepting, let requests in flight finish (an enhance included),
        # then the lifespan's shutdown drains the image pool; past this, cancel them.
        timeout_graceful_shutdown=settings.shutdown_seconds,
        # With --workers, the supervisor kills a worker that does not answer its ping in
        # time and starts another; uvicorn's 5 s default is shorter than a worker's
        # imports on a loaded machine, which then never finishes starting.
        timeout_worker_healthcheck=60,
    )


@cli.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    show_default="CROPEDLY_IMAGE_WORKERS or 2",
    help="Pool processes, each running one image at a time.",
)
def worker(concurrency: int | None) -> int:
    """Take image jobs from the Redis queue (CROPEDLY_REDIS_URL) until stopped.

    For servers run with CROPEDLY_IMAGE_QUEUE=redis; start as many as the images
    need, on any machine that reaches Redis. SIGTERM lets running jobs finish.
    """
    from cropedly.bootstrap import pipeline_factory  # noqa: PLC0415 - keeps --help fast

    settings = _load_settings(image_workers=concurrency)
    if not settings.redis_url:
        raise CliError("cropedly worker needs CROPEDLY_REDIS_URL (the queue's Redis).")
    from cropedly.logs import configure as configure_logs  # noqa: PLC0415
    from cropedly_adapters.celery_workers import run_worker  # noqa: PLC0415

    # The server's log format here too; Celery keeps a root logger that has a handler.
    configure_logs(settings.log_level.value, settings.log_format)
    run_worker(
        settings.redis_url,
        pipeline_factory(settings),
        concurrency=settings.image_workers,
        seconds_per_image=settings.seconds_per_image,
        log_level=settings.log_level.value,
    )
    return 0


# ------------------------------------------------------------------------- users


@cli.group()
def users() -> None:
    """Manage accounts in the data folder's database."""


def _password(given: str | None, prompt: str) -> str:
    if given:
        return given
    if not sys.stdin.isatty():  # a script pipes it in; getpass would warn about echo
        line = sys.stdin.readline().rstrip("\r\n")
        if line:
            return line
        raise CliError("no password given: pass --password or pipe it on stdin")
    try:
        return getpass.getpass(prompt)
    except EOFError:  # no terminal to ask on (a script, CI)
        raise CliError("no password given: pass --password") from None


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--password",
    help="Omit to be asked (or set CROPEDLY_NEW_PASSWORD).",
)
@click.option("--plan", type=click.Choice(PLANS), default="free")
@click.option("--google", is_flag=True, help="A Google account without password.")
def users_create(email: str, name: str, password: str | None, plan: str, google: bool) -> int:
    """Create an account (creates the data folder if missing)."""
    settings = _data_settings(create=True)
    if not google:
        password = _password(password or os.environ.get("CROPEDLY_NEW_PASSWORD"), "Password: ")
    with _opened(settings) as services:
        user = services.accounts.register(email, None if google else password, name, Plan(plan))
    _announce()
    click.echo(f"created {user.email} ({user.plan.value}) id={user.id}")
    return 0


@users.command("list")
def users_list() -> int:
    """List accounts."""
    with _opened(_data_settings(create=False)) as services:
        _announce()
        click.echo(f"{'id':24} {'email':32} {'plan':10} {'password':8} name")
        for user in services.accounts.users.list():
            has_password = "yes" if user.password_hash else "google"
            click.echo(
                f"{user.id:24} {user.email:32} {user.plan.value:10} {has_password:8} {user.name}"
            )
    return 0


@users.command("set-plan")
@click.option("--email", required=True)
@click.option("--plan", type=click.Choice(PLANS), required=True)
def users_set_plan(email: str, plan: str) -> int:
    """Change an account's plan."""
    with _opened(_data_settings(create=False)) as services:
        user = services.accounts.set_plan(email, Plan(plan))
    _announce()
    click.echo(f"{user.email} is now on the {user.plan.value} plan")
    return 0


@users.command("set-origins")
@click.option("--email", required=True)
@click.option("--origin", "origins", multiple=True, help="Repeat for several; none clears them.")
def users_set_origins(email: str, origins: tuple[str, ...]) -> int:
    """Replace all browser origins of an account at once (see also `cropedly domains`)."""
    with _opened(_data_settings(create=False)) as services:
        user = services.accounts.set_origins(email, frozenset(origins))
    _announce()
    click.echo(f"{user.email} origins: {', '.join(sorted(user.origins)) or '(none)'}")
    return 0


@users.command("set-password")
@click.option("--email", required=True)
@click.option("--password", help="Omit to be asked.")
def users_set_password(email: str, password: str | None) -> int:
    """Set an account's password (also for Google accounts); older tokens stop working."""
    with _opened(_data_settings(create=False)) as services:
        user = services.accounts.users.get_by_email(normalise_email(email))
        if user is None:
            raise CliError(f"no account with e-mail {email!r}")
        services.accounts.set_password(user.id, _password(password, "New password: "))
    _announce()
    click.echo(f"password of {user.email} changed; tokens issued before now no longer work")
    return 0


# ------------------------------------------------------------------------ domains


@cli.group()
def domains() -> None:
    """Browser origins of Enterprise accounts (also under /account/v1/domains)."""


@domains.command("add")
@click.option("--email", required=True)
@click.option("--origin", required=True, help="http(s)://host[:port]; stored normalised.")
def domains_add(email: str, origin: str) -> int:
    """Register a browser origin for an Enterprise account."""
    with _opened(_data_settings(create=False)) as services:
        user = services.domains.by_email(email)
        domain = services.domains.add(user, origin)
    _announce()
    click.echo(f"{domain.id}  {domain.origin}")
    return 0


@domains.command("list")
@click.option("--email", required=True)
def domains_list(email: str) -> int:
    """The origins an Enterprise account registered: id and origin, one a line."""
    with _opened(_data_settings(create=False)) as services:
        found = services.domains.list(services.domains.by_email(email))
    _announce()
    for domain in found:
        click.echo(f"{domain.id}  {domain.origin}")
    return 0


@domains.command("remove")
@click.option("--email", required=True)
@click.option("--origin", required=True, help="The origin, or its id from `domains list`.")
def domains_remove(email: str, origin: str) -> int:
    """Remove a registered origin; its pages are refused from the next request."""
    with _opened(_data_settings(create=False)) as services:
        domain = services.domains.remove(services.domains.by_email(email), origin)
    _announce()
    click.echo(f"removed {domain.origin}")
    return 0


# -------------------------------------------------------------------------- keys


@cli.group()
def keys() -> None:
    """Rotate and list the JWT signing keys and link-signing secrets (<data dir>/keys)."""


def _link_lifetime(settings: Settings) -> timedelta:
    """The longest a signed link lives: result and catalog links, reset links."""
    from cropedly_core.password_reset import RESET_LIFETIME  # noqa: PLC0415

    return max(timedelta(hours=settings.result_ttl_hours), RESET_LIFETIME)


@keys.command("rotate")
@click.option(
    "--activate-in",
    type=click.FloatRange(0, 30 * 24 * 60),
    default=0,
    help="Minutes until the new key and secret start signing. With several machines, "
    "copy keys/ to each and restart them all within this time.",
)
def keys_rotate(activate_in: float) -> int:
    """Add a new signing key and link secret; remove those retired long enough.

    The previous ones keep verifying: tokens for 72 hours plus an hour, links for
    the result lifetime plus an hour after the new ones took over. Restart every
    server process afterwards: each reads keys/ when it starts.
    """
    from cropedly_adapters.jose_tokens import rotate_keys  # noqa: PLC0415
    from cropedly_adapters.secret_files import rotate_link_secret  # noqa: PLC0415

    settings = _data_settings(create=False)
    now = datetime.now(UTC)
    active = now + timedelta(minutes=activate_in)
    kept = _link_lifetime(settings) + timedelta(hours=1)
    try:
        kid, gone_keys = rotate_keys(settings.keys_dir, now, active)
        secret, gone_secrets = rotate_link_secret(settings.keys_dir, now, active, kept)
    except OSError as exc:
        raise CliError(f"cannot rotate the keys in {settings.keys_dir}: {exc}") from None
    _announce()
    when = f"{active:%Y-%m-%d %H:%M:%S} UTC"
    click.echo(f"new JWT signing key {kid}, signs from {when}")
    click.echo(f"new link secret {secret}, signs from {when}")
    for name in gone_keys:
        click.echo(f"removed retired JWT signing key {name}")
    for name in gone_secrets:
        click.echo(f"removed retired link secret {name}")
    _note("restart every `cropedly serve` process (on every machine sharing keys/) to load them")
    return 0


@keys.command("list")
def keys_list() -> int:
    """The keys and secrets by name (never their bytes), and which one signs now."""
    from cropedly_adapters.secret_files import LINK_SECRETS, activation_of  # noqa: PLC0415

    settings = _data_settings(create=False)
    now = datetime.now(UTC)
    _announce()
    groups = (
        ("jwt", sorted(p.stem for p in settings.keys_dir.glob("*.pem"))),
        ("link", sorted(p.name for p in (settings.keys_dir / LINK_SECRETS).glob("*"))),
    )
    click.echo(f"{'kind':6} {'name':32} {'active from (UTC)':20} state")
    for kind, names in groups:
        starts = {n: activation_of(n) for n in names}
        signing = max((n for n, at in starts.items() if at is None or at <= now), default=None)
        for name in names:
            at = starts[name]
            state = "signs" if name == signing else "staged" if at and at > now else "verifies"
            shown = f"{at:%Y-%m-%d %H:%M:%S}" if at else "-"
            click.echo(f"{kind:6} {name:32} {shown:20} {state}")
    if (settings.keys_dir / "link-secret").exists():
        click.echo(
            f"{'link':6} {'link-secret':32} {'-':20} " + ("verifies" if groups[1][1] else "signs")
        )
    return 0


# ------------------------------------------------------------------ purge, openapi


@cli.command()
def purge() -> int:
    """Delete expired results now (the server also does it on a timer)."""
    with _opened(_data_settings(create=False)) as services:
        purged = services.images.purge_expired()
    _announce()
    click.echo(f"purged {purged} expired result(s)")
    return 0


def openapi_document() -> dict[str, object]:
    """The OpenAPI document the server serves, built from in-memory services."""
    from cropedly.bootstrap import build_memory_services  # noqa: PLC0415
    from cropedly.http.app import create_app  # noqa: PLC0415

    app = create_app(build_memory_services(Settings(upscaler=UpscalerKind.LANCZOS)))
    document: dict[str, object] = app.openapi_schema.to_schema()
    return document


@cli.command()
def openapi() -> int:
    """Print the OpenAPI document (JSON) the server serves."""
    click.echo(json.dumps(openapi_document(), indent=2, sort_keys=True))
    return 0


# ----------------------------------------------------------------------- enhance

IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".gif",
    ".tif",
    ".tiff",
    ".bmp",
    ".avif",
    ".heic",
    ".heif",
}
WRITE_MODE = 0o666


@attrs.frozen
class _Input:
    path: Path
    identity: tuple[int, int]  # (st_dev, st_ino): the same file under two names is one input


def _images_in(folder: Path) -> list[Path]:
    try:
        children = sorted(folder.iterdir())
    except OSError as exc:
        raise CliError(f"cannot list folder {folder}: {exc.strerror or exc}") from None
    return [c for c in children if c.suffix.lower() in IMAGE_SUFFIXES and c.is_file()]


def _inputs(paths: Sequence[Path]) -> list[_Input]:
    """Files as given, and the image files directly inside given folders, each once.

    Every path is checked before anything is created, so a typo leaves no trace.
    """
    found: list[_Input] = []
    seen: set[tuple[int, int]] = set()

    def add(path: Path, info: os.stat_result) -> None:
        identity = (info.st_dev, info.st_ino)
        if identity not in seen:
            seen.add(identity)
            found.append(_Input(path, identity))

    for path in paths:
        try:
            info = path.stat()
        except OSError as exc:
            raise CliError(f"cannot read input {path}: {exc.strerror or exc}") from None
        if path.is_dir():
            for child in _images_in(path):
                add(child, child.stat())
        elif path.is_file():
            add(path, info)
        else:
            raise CliError(f"input {path} is neither a file nor a folder")
    if not found:
        raise CliError("no image files found in the given paths")
    return found


def _output_extensions(fmt: OutputFormat) -> set[str]:
    """Every extension an output may get: all of them for ``auto`` (decided by the bytes)."""
    if fmt is OutputFormat.AUTO:
        return {traits.extension for traits in TRAITS.values()}
    return {TRAITS[fmt].extension}


def _check_names(files: Sequence[_Input], out: Path, fmt: OutputFormat) -> None:
    """Refuse, before any work, a batch whose outputs could clash or replace an input."""
    by_name: dict[str, Path] = {}
    for item in files:
        other = by_name.setdefault(item.path.name, item.path)
        if other != item.path:
            raise CliError(
                f"{other} and {item.path} would both be written as {item.path.name}.<ext>; "
                "enhance them into separate --out folders"
            )
    # An input path spelled as given and with links resolved; outputs likewise.
    inputs: dict[Path, Path] = {}
    for item in files:
        inputs[Path(os.path.abspath(item.path))] = item.path  # noqa: PTH100
        inputs[item.path.resolve()] = item.path
    folders = {Path(os.path.abspath(out)), out.resolve()}  # noqa: PTH100
    for item in files:
        for extension in sorted(_output_extensions(fmt)):
            name = f"{item.path.name}.{extension}"
            for folder in folders:
                victim = inputs.get(folder / name)
                if victim is not None:
                    raise CliError(
                        f"{victim} is an input and also the output name of {item.path} "
                        "(an earlier run's result?); choose another --out folder"
                    )


def _prepare_out(out: Path) -> None:
    """Create ``out`` and prove it writable, so a bad --out stops the run before any work."""
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise CliError(f"cannot write into --out {out}: {exc.strerror or exc}") from None


@attrs.frozen
class _Job:
    """What every worker needs; sent once, to its initializer."""

    upscaler: UpscalerKind
    onnx_threads: int
    tone: ToneKind
    limits: ImageLimits
    options: EnhanceOptions
    out: Path
    overwrite: bool
    file_mode: int
    inputs: frozenset[tuple[int, int]]


@attrs.frozen
class _Outcome:
    """One file's result, small enough to send back from a worker."""

    source: str
    output: str | None = None
    slug: str = ""
    reason: str = ""


class _WouldReplaceInput(Exception):
    """--overwrite met an input under an output's name (a link, or a case-folding disk)."""


@attrs.define
class _Worker:
    job: _Job | None = None
    pipeline: EnhancementPipeline | None = None


_WORKER = _Worker()


def _start_worker(job: _Job) -> None:
    """Pool initializer: build the pipeline once per process, not once per file."""
    from cropedly.bootstrap import worker_pipeline  # noqa: PLC0415

    # Ctrl-C reaches the whole process group; the parent stops the pool cleanly
    # instead of every worker printing a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER.job = job
    _WORKER.pipeline = worker_pipeline(job.upscaler, job.onnx_threads, job.limits, job.tone)


def _write(target: Path, data: bytes, job: _Job) -> bool:
    """Write ``target`` whole or not at all; False when it exists and may not be replaced."""
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), job.file_mode)  # mkstemp makes 0600 files
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # the bytes are on disk before the name points at them
        if job.overwrite:
            with contextlib.suppress(FileNotFoundError):
                info = target.stat()
                if (info.st_dev, info.st_ino) in job.inputs:
                    raise _WouldReplaceInput(f"{target} is an input; not replacing it")
            Path(temp).replace(target)
            return True
        try:
            os.link(temp, target)  # unlike rename, never replaces an existing name
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}:
                raise
            # A file system without hard links: exclusive create is still no-clobber.
            try:
                with target.open("xb") as handle:
                    handle.write(data)
            except FileExistsError:
                return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(temp).unlink()


class _Failed(Exception):
    """One file failed; ``slug`` and ``reason`` go into its ``failed:`` line."""

    def __init__(self, slug: str, reason: str) -> None:
        super().__init__(reason)
        self.slug = slug
        self.reason = reason


def _exists(target: Path) -> _Failed:
    return _Failed("exists", f"{target} exists (pass --overwrite to replace it)")


def _enhance_file(path: Path, job: _Job, pipeline: EnhancementPipeline) -> Path:
    """Read, check, enhance and write one file; returns the output written."""
    from cropedly_core.images.service import Upload, check_batch, run_job  # noqa: PLC0415

    size = path.stat().st_size
    if size > job.limits.max_file_bytes:
        limit = job.limits.max_file_bytes
        raise _Failed("file-too-large", f"{size:,} bytes; the limit is {limit:,}")
    data = path.read_bytes()
    check_batch([Upload(path.name, data)], attrs.evolve(job.limits, max_files=1))
    # The header decides the format (and so the name): skip an existing output
    # before spending seconds on the pixels.
    info = pipeline.codec.probe(data, job.limits.max_pixels)
    extension = TRAITS[resolve_output_format(info.format, job.options.format)].extension
    target = job.out / f"{path.name}.{extension}"
    if not job.overwrite and os.path.lexists(target):
        raise _exists(target)
    image = run_job(pipeline, data, job.options).image
    target = job.out / f"{path.name}.{image.extension}"
    if not _write(target, image.data, job):
        raise _exists(target)
    return target


def _enhance_one(source: str) -> _Outcome:
    """What a worker does with one file; every expected failure becomes an outcome."""
    job, pipeline = _WORKER.job, _WORKER.pipeline
    if job is None or pipeline is None:
        raise RuntimeError("_enhance_one runs in a pool started with _start_worker")
    try:
        return _Outcome(source, output=str(_enhance_file(Path(source), job, pipeline)))
    except _Failed as exc:
        slug, reason = exc.slug, exc.reason
    except _WouldReplaceInput as exc:
        slug, reason = "is-input", str(exc)
    except BatchRejected as exc:
        slug, reason = exc.slug, "; ".join(p.detail for p in exc.problems)
    except DomainError as exc:
        slug, reason = exc.slug, exc.detail
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        slug, reason = "io-error", f"{exc.strerror or exc}{where}"
    return _Outcome(source, slug=slug, reason=reason)


class _Display:
    """A rich progress bar on a terminal; one plain line per file otherwise (logs, CI)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> Self:
        if sys.stderr.isatty():
            from rich.console import Console  # noqa: PLC0415 - only a terminal needs rich
            from rich.progress import (  # noqa: PLC0415
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("enhancing"),
                BarColumn(),
                MofNCompleteColumn(),
                _rate_column(),
                TimeElapsedColumn(),
                TextColumn("elapsed"),
                TimeRemainingColumn(),
                TextColumn("left"),
                console=Console(stderr=True),
            )
            self.progress.start()
            self.task = self.progress.add_task("enhance", total=self.total)
        return self

    def advance(self, outcome: _Outcome) -> None:
        self.done += 1
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task)
            return
        counter = f"[{self.done}/{self.total}]"
        if outcome.output is not None:
            _note(f"{counter} ok {outcome.source} -> {outcome.output}")
        else:
            _note(f"{counter} failed {outcome.source} ({outcome.slug})")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.progress is not None:
            self.progress.stop()


def _rate_column() -> Any:
    """Files per second (rich's own speed column counts bytes)."""
    from rich.progress import ProgressColumn  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("? files/s" if speed is None else f"{speed:.2f} files/s")

    return RateColumn()


def _written(future: Future[_Outcome]) -> bool:
    if not future.done() or future.cancelled() or future.exception() is not None:
        return False
    return future.result().output is not None


def _collect(
    futures: dict[Future[_Outcome], _Input], display: _Display
) -> Iterable[tuple[_Input, _Outcome]]:
    for future in as_completed(futures):
        item = futures[future]
        try:
            outcome = future.result()
        except BrokenProcessPool:
            outcome = _Outcome(
                str(item.path),
                slug="worker-died",
                reason="a worker process died (out of memory, or a crash while decoding)",
            )
        except Exception as exc:  # noqa: BLE001 - one file's bug must not stop the batch
            outcome = _Outcome(
                str(item.path), slug="internal-error", reason=f"{type(exc).__name__}: {exc}"
            )
        display.advance(outcome)
        yield item, outcome


@cli.command(
    epilog="Outputs are named <input name with its extension>.<output extension>: "
    "hopper.gif -> hopper.gif.png, hopper.png -> hopper.png.png. Inputs are never "
    "written over; an existing output is a failed file unless --overwrite is given. "
    "Exit codes: 0 all done, 1 some files failed, 2 usage or settings error "
    "(nothing was enhanced)."
)
@click.argument(
    "paths",
    nargs=-1,
    required=True,
    metavar="FILE_OR_DIR...",
    type=click.Path(path_type=Path),
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for the results (created if missing; may be an input folder).",
)
@click.option("--upscale", type=click.Choice(["1", "2", "4"]), default="1", help="Scale factor.")
@click.option(
    "--restore",
    type=click.Choice(["auto", "none"]),
    default="auto",
    help="auto: remove noise and JPEG artefacts when the image has them; none: leave them.",
)
@click.option(
    "--adjust",
    type=click.Choice(["auto", "none"]),
    default="auto",
    help="auto: correct exposure, contrast, white balance and saturation; none: leave them.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in OutputFormat]),
    default="auto",
    help="Output format; auto keeps the input's family (GIF, BMP, TIFF -> PNG; HEIC -> JPEG).",
)
@click.option(
    "--quality",
    type=click.IntRange(1, 100),
    show_default="per format",
    help="Encoder quality (JPEG and WebP 90, AVIF 80 when not given; PNG is lossless).",
)
@click.option("--width", help="Target width in pixels (an alternative to --upscale).")
@click.option("--height", help="Target height in pixels.")
@click.option(
    "--fit",
    type=click.Choice(["contain", "cover", "fill", "pad"]),
    help="contain (default with a box), cover (default with --aspect or a --crop mode), "
    "fill (stretch) or pad.",
)
@click.option("--aspect", help="Aspect ratio such as 16:9, instead of a box.")
@click.option("--crop", help="smart (default for cover), center, faces, or x,y,w,h in pixels.")
@click.option("--background", help="Padding for --fit pad: transparent (default), white, #rrggbb.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (atomically).")
@click.option(
    "--jobs",
    type=click.IntRange(1, 256),
    show_default="number of CPUs",
    help="Files processed in parallel, one process each.",
)
def enhance(  # click passes every option by name
    *,
    paths: tuple[Path, ...],
    out: Path,
    upscale: str,
    restore: str,
    adjust: str,
    fmt: str,
    quality: int | None,
    width: str | None,
    height: str | None,
    fit: str | None,
    aspect: str | None,
    crop: str | None,
    background: str | None,
    overwrite: bool,
    jobs: int | None,
) -> int:
    """Enhance image files without a server.

    FILE_OR_DIR: image files, or folders whose image files (not subfolders) are
    enhanced. Each file becomes OUT/<its name>.<ext>, e.g. hopper.gif ->
    hopper.gif.png, so outputs never take an input's name.
    """
    from cropedly.http.uploads import parse_options  # noqa: PLC0415 - the API's own rules

    settings = _load_settings()
    geometry = {"width": width, "height": height, "fit": fit, "aspect": aspect}
    geometry |= {"crop": crop, "background": background}
    options = parse_options(
        {
            "upscale": upscale,
            "restore": restore,
            "adjust": adjust,
            "format": fmt,
            "quality": str(quality or ""),
        }
        | {name: value for name, value in geometry.items() if value is not None}
    )
    files = _inputs(paths)
    _check_names(files, out, options.format)
    _prepare_out(out)
    umask = os.umask(0)
    os.umask(umask)
    job = _Job(
        upscaler=settings.upscaler,
        onnx_threads=settings.onnx_threads,
        tone=settings.tone,
        limits=settings.image_limits,
        options=options,
        out=out,
        overwrite=overwrite,
        file_mode=WRITE_MODE & ~umask,
        inputs=frozenset(item.identity for item in files),
    )
    workers = min(jobs or os.cpu_count() or 1, len(files))
    started = time.perf_counter()
    outcomes: dict[Path, _Outcome] = {}
    futures: dict[Future[_Outcome], _Input] = {}
    # spawn: a clean interpreter per worker (no forked locks or onnxruntime threads).
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(job,),
    )
    try:
        with _Display(len(files)) as display:
            futures = {pool.submit(_enhance_one, str(item.path)): item for item in files}
            for item, outcome in _collect(futures, display):
                outcomes[item.path] = outcome
    except KeyboardInterrupt:
        pool.shutdown(wait=True, cancel_futures=True)  # files under way are finished
        written = sum(1 for f in futures if _written(f))
        _note(f"error: interrupted; {written} file(s) written into {out}")
        return INTERRUPTED_EXIT
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    seconds = time.perf_counter() - started
    failed = [outcomes[item.path] for item in files if outcomes[item.path].output is None]
    click.echo(
        f"enhanced {len(files) - len(failed)} of {len(files)} file(s) into {out} in {seconds:.1f} s"
    )
    for outcome in failed:
        _note(f"failed: {outcome.source}: {outcome.slug}: {outcome.reason}")
    return 1 if failed else 0


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code instead of exiting (tests call it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    _DATA_FOLDER.path = None
    code = USAGE_EXIT
    try:
        result = cli.main(args=args, prog_name="cropedly", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help(), err=True)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        _error(f"{exc.format_message()}{hint}")
    except click.ClickException as exc:
        _error(exc.format_message())
        code = exc.exit_code
    except SettingsError as exc:
        _error(str(exc))
    except DomainError as exc:
        _error(exc.detail)
    except click.Abort:
        _error("interrupted")
        code = INTERRUPTED_EXIT
    except OSError as exc:  # the data folder or a file in it: unreadable, full, ...
        where = f": {exc.filename}" if exc.filename else ""
        _error(f"{exc.strerror or exc}{where}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
