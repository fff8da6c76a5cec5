"""The ``cropedly`` command line."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from cropedly.bootstrap import Services, build_services
from cropedly.settings import Settings, UpscalerKind
from cropedly_core.errors import BatchRejected, DomainError
from cropedly_core.images.service import Upload
from cropedly_core.users import Plan

PLANS = [p.value for p in Plan]


def _serve(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    # The factory runs in each worker process and reads its settings from the
    # environment, so the flags travel there.
    os.environ["CROPEDLY_HOST"] = args.host
    os.environ["CROPEDLY_PORT"] = str(args.port)
    settings = Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Create keys and run migrations once, before the workers race to do it.
    build_services(settings).close()
    uvicorn.run(
        "cropedly.asgi:create",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        server_header=False,
    )
    return 0


def _with_services(action: Callable[[Services, argparse.Namespace], int]) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        services = build_services(Settings.from_env())
        try:
            return action(services, args)
        finally:
            services.close()

    return run


def _users_create(services: Services, args: argparse.Namespace) -> int:
    password = args.password
    if password is None and not args.google:
        password = os.environ.get("CROPEDLY_NEW_PASSWORD") or getpass.getpass("Password: ")
    user = services.accounts.register(
        args.email, None if args.google else password, args.name, Plan(args.plan)
    )
    print(f"created {user.email} ({user.plan.value}) id={user.id}")
    return 0


def _users_list(services: Services, _: argparse.Namespace) -> int:
    print(f"{'id':24} {'email':32} {'plan':10} {'password':8} name")
    for user in services.accounts.users.list():
        has_password = "yes" if user.password_hash else "google"
        print(f"{user.id:24} {user.email:32} {user.plan.value:10} {has_password:8} {user.name}")
    return 0


def _users_set_plan(services: Services, args: argparse.Namespace) -> int:
    user = services.accounts.set_plan(args.email, Plan(args.plan))
    print(f"{user.email} is now on the {user.plan.value} plan")
    return 0


def _users_set_origins(services: Services, args: argparse.Namespace) -> int:
    user = services.accounts.set_origins(args.email, frozenset(args.origin))
    print(f"{user.email} origins: {', '.join(sorted(user.origins)) or '(none)'}")
    return 0


def _users_set_password(services: Services, args: argparse.Namespace) -> int:
    user = services.accounts.users.get_by_email(args.email.strip().lower())
    if user is None:
        print(f"error: no account with e-mail {args.email!r}", file=sys.stderr)
        return 1
    password = args.password or getpass.getpass("New password: ")
    services.accounts.set_password(user.id, password)
    print(f"password of {user.email} changed; tokens issued before now no longer work")
    return 0


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


def _inputs(paths: Sequence[str]) -> list[Path]:
    """Files as given, and the image files directly inside given folders."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                sorted(
                    p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                )
            )
        else:
            found.append(path)
    return found


def _progress(done: int, total: int, name: str) -> None:
    if not sys.stderr.isatty():
        return
    width = 30
    filled = width * done // max(total, 1)
    bar = "#" * filled + "-" * (width - filled)
    sys.stderr.write(f"\r[{bar}] {done}/{total} {name[:40]:40}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _enhance(args: argparse.Namespace) -> int:
    from cropedly.bootstrap import image_limits, worker_pipeline  # noqa: PLC0415
    from cropedly.http.uploads import parse_options  # noqa: PLC0415
    from cropedly_core.errors import ImageRejected  # noqa: PLC0415
    from cropedly_core.images.service import check_batch, run_job  # noqa: PLC0415

    settings = Settings.from_env()
    options = parse_options(
        {
            "upscale": args.upscale,
            "adjust": args.adjust,
            "format": args.format,
            "quality": str(args.quality or ""),
        }
    )
    limits = image_limits(settings)
    pipeline = worker_pipeline(settings.upscaler, settings.onnx_threads, limits)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = _inputs(args.paths)
    if not files:
        print("error: no image files found", file=sys.stderr)
        return 2
    failed: list[str] = []
    used: set[str] = set()
    started = time.perf_counter()
    for number, path in enumerate(files, start=1):
        _progress(number - 1, len(files), path.name)
        try:
            data = path.read_bytes()
            check_batch([Upload(path.name, data)], attrs.evolve(limits, max_files=1))
            result = run_job(pipeline, data, options).image
        except (OSError, DomainError) as exc:
            reason = exc.detail if isinstance(exc, DomainError) else str(exc)
            if isinstance(exc, BatchRejected):
                reason = "; ".join(p.detail for p in exc.problems)
            slug = exc.slug if isinstance(exc, ImageRejected) else "error"
            failed.append(f"{path}: {slug}: {reason}")
            continue
        name = f"{path.stem}.{result.extension}"
        counter = 1
        while name in used:
            name = f"{path.stem}-{counter}.{result.extension}"
            counter += 1
        used.add(name)
        (out / name).write_bytes(result.data)
    _progress(len(files), len(files), "")
    seconds = time.perf_counter() - started
    print(
        f"enhanced {len(files) - len(failed)} of {len(files)} file(s) into {out} in {seconds:.1f} s"
    )
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if failed else 0


def _purge(_: argparse.Namespace) -> int:
    services = build_services(Settings.from_env(), start_workers=False)
    try:
        print(f"purged {services.images.purge_expired()} expired result(s)")
    finally:
        services.close()
    return 0


def openapi_document() -> dict[str, object]:
    """The OpenAPI document the server serves, built from in-memory services."""
    from cropedly.bootstrap import build_memory_services  # noqa: PLC0415
    from cropedly.http.app import create_app  # noqa: PLC0415

    app = create_app(build_memory_services(Settings(upscaler=UpscalerKind.LANCZOS)))
    document: dict[str, object] = app.openapi_schema.to_schema()
    return document


def _openapi(_: argparse.Namespace) -> int:
    print(json.dumps(openapi_document(), indent=2, sort_keys=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cropedly", description="Cropedly image enhancement")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default=os.environ.get("CROPEDLY_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("CROPEDLY_PORT", "8000")))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("CROPEDLY_WORKERS", "1")))
    serve.set_defaults(func=_serve)

    enhance = commands.add_parser("enhance", help="enhance files without a server")
    enhance.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    enhance.add_argument("--out", required=True, help="folder for the results")
    enhance.add_argument("--upscale", choices=["1", "2", "4"], default="1")
    enhance.add_argument("--adjust", choices=["auto", "none"], default="auto")
    enhance.add_argument(
        "--format", choices=["auto", "jpeg", "png", "webp", "avif"], default="auto"
    )
    enhance.add_argument("--quality", type=int, choices=range(1, 101), metavar="1-100")
    enhance.set_defaults(func=_enhance)

    commands.add_parser("purge", help="delete expired results").set_defaults(func=_purge)
    commands.add_parser("openapi", help="print the OpenAPI document").set_defaults(func=_openapi)

    users = commands.add_parser("users", help="manage accounts").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", help="create an account")
    create.add_argument("--email", required=True)
    create.add_argument("--password", help="omit to be asked (or set CROPEDLY_NEW_PASSWORD)")
    create.add_argument("--name", required=True)
    create.add_argument("--plan", choices=PLANS, default="free")
    create.add_argument("--google", action="store_true", help="a Google account without password")
    create.set_defaults(func=_with_services(_users_create))

    users.add_parser("list", help="list accounts").set_defaults(func=_with_services(_users_list))

    set_plan = users.add_parser("set-plan", help="change an account's plan")
    set_plan.add_argument("--email", required=True)
    set_plan.add_argument("--plan", choices=PLANS, required=True)
    set_plan.set_defaults(func=_with_services(_users_set_plan))

    origins = users.add_parser("set-origins", help="browser origins of an enterprise account")
    origins.add_argument("--email", required=True)
    origins.add_argument("--origin", action="append", default=[], help="repeat for several")
    origins.set_defaults(func=_with_services(_users_set_origins))

    set_password = users.add_parser("set-password", help="set an account's password")
    set_password.add_argument("--email", required=True)
    set_password.add_argument("--password")
    set_password.set_defaults(func=_with_services(_users_set_password))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("CROPEDLY_LOG_LEVEL", "WARNING").upper())
    try:
        code: int = args.func(args)
    except DomainError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
