"""``cropedly serve`` and the CLI's data commands on PostgreSQL (CROPEDLY_DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg
import pytest

from imaging import png_bytes
from servers import create_user, cropedly, running_server, server_env

EMAIL, PASSWORD, NAME = "ent@example.com", "a long enterprise secret", "Ent Person"
CATALOG = "/images/v1/enterprise-resources/images"

pytestmark = pytest.mark.slow


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_serve_and_cli_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    """A CLI-made account logs in, enhances and uses the catalog; every row is in PostgreSQL."""
    env = server_env(tmp_path, database_url=postgres_url)
    create_user(env, EMAIL, PASSWORD, NAME, "enterprise")
    added = cropedly(env, "domains", "add", "--email", EMAIL, "--origin", "https://App.Example")
    assert 0 == added.returncode, added.stderr
    listed = cropedly(env, "users", "list")
    assert 0 == listed.returncode, listed.stderr
    assert EMAIL in listed.stdout
    with (
        running_server(env, tmp_path) as server,
        httpx.Client(base_url=server.base, timeout=30.0) as http,
    ):
        login = http.post(
            "/auth/v1/login", files={"email": (None, EMAIL), "password": (None, PASSWORD)}
        )
        assert 200 == login.status_code, login.text
        auth = {"Authorization": f"Bearer {login.json()['token']}"}

        enhanced = http.post(
            "/images/v1", files=[("images", ("a.png", png_bytes(12, 9)))], headers=auth
        )
        assert 200 == enhanced.status_code, enhanced.text
        [result] = enhanced.json()
        download = http.get(result["url"])
        assert 200 == download.status_code
        assert result["size"] == len(download.content)

        uploaded = http.post(
            f"{CATALOG}/upload", files=[("images", ("ref.png", png_bytes(16, 16)))], headers=auth
        )
        assert 204 == uploaded.status_code, uploaded.text
        page = http.get(CATALOG, headers=auth)
        assert 200 == page.status_code, page.text
        assert ["ref.png"] == [item["originalName"] for item in page.json()]
        ready = http.get("/health/ready")
        assert 200 == ready.status_code, ready.text
        assert "ok" == ready.json()["checks"]["database"]  # PostgreSQL's pooled SELECT 1
        log = server.stderr.read_text()
    assert (1, 1, 1, 1) == tuple(
        _count(postgres_url, t) for t in ("users", "user_domains", "results", "catalog_images")
    )
    # The other data commands run on the same database.
    purged = cropedly(env, "purge")
    assert 0 == purged.returncode, purged.stderr
    assert "purged 0 expired result(s)" in purged.stdout  # the result is a day from expiry
    plan = cropedly(env, "users", "set-plan", "--email", EMAIL, "--plan", "pro")
    assert 0 == plan.returncode, plan.stderr
    assert "pro" in next(ln for ln in cropedly(env, "users", "list").stdout.splitlines() if EMAIL in ln)
    # Nothing went to the embedded database.
    assert not (Path(env["CROPEDLY_DATA_DIR"]) / "cropedly.sqlite3").exists()
    assert "Traceback" not in log


def test_an_unreachable_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A refused connection stops the command with one line naming the redacted address."""
    env = server_env(tmp_path, database_url="postgresql://ann:hunter2@127.0.0.1:1/cropedly")
    for args in (("users", "create", "--email", EMAIL, "--password", PASSWORD, "--name", NAME),
                 ("serve", "--port", "1")):  # fmt: skip
        result = cropedly(env, *args)
        assert 2 == result.returncode, result.stderr
        lines = result.stderr.strip().splitlines()
        assert 1 == len(lines), result.stderr
        assert lines[0].startswith(
            "error: cannot connect to PostgreSQL at postgresql://ann@127.0.0.1:1/"
        )
        assert "hunter2" not in result.stderr


def test_another_scheme_is_a_settings_error(tmp_path: Path) -> None:
    """CROPEDLY_DATABASE_URL accepts postgresql:// only; the value is not echoed."""
    env = server_env(tmp_path, database_url="mysql://root:hunter2@db/app")
    result = cropedly(env, "users", "list")
    assert 2 == result.returncode
    assert "CROPEDLY_DATABASE_URL" in result.stderr
    assert "hunter2" not in result.stderr
