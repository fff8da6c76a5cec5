"""A real ``cropedly serve`` process and the ``cropedly users`` commands, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from servers import create_user, cropedly, running_server, server_env

EMAIL, PASSWORD, NAME = "ops@example.com", "a long operator secret", "Ops Person"

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of every command: a fresh data folder, no model to load."""
    return server_env(tmp_path)


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """``cropedly serve`` on a free loopback port; yields its base URL."""
    create_user(env, EMAIL, PASSWORD, NAME, "pro")
    with running_server(env, tmp_path) as running:
        yield running.base


class TestServerProcess:
    def test_login_and_me_over_http(self, server: str, env: dict[str, str]) -> None:
        """A CLI-created account logs in over real HTTP and its token works on /auth/v1/me."""
        with httpx.Client(base_url=server, timeout=10.0) as http:
            response = http.post(
                "/auth/v1/login", files={"email": (None, EMAIL), "password": (None, PASSWORD)}
            )
            assert 200 == response.status_code, response.text
            token = response.json()["token"]
            me = http.get("/auth/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert 200 == me.status_code, me.text
            assert (EMAIL, NAME, "pro") == (
                me.json()["email"],
                me.json()["name"],
                me.json()["plan"],
            )
            wrong = http.post(
                "/auth/v1/login",
                files={"email": (None, EMAIL), "password": (None, "nope nope nope")},
            )
            assert 401 == wrong.status_code
            assert "application/problem+json" == wrong.headers["content-type"].split(";")[0]
        keys = list((Path(env["CROPEDLY_DATA_DIR"]) / "keys").glob("*.pem"))
        assert 1 == len(keys)
        assert 0o600 == keys[0].stat().st_mode & 0o777


class TestUsersCommands:
    def test_create_list_set_plan(self, env: dict[str, str]) -> None:
        """users create/list/set-plan work on the SQLite file of the data folder."""
        created = cropedly(
            env,
            "users",
            "create",
            "--email",
            "Cli@Example.com",
            "--password",
            PASSWORD,
            "--name",
            "Cli User",
        )
        assert 0 == created.returncode, created.stderr
        assert "cli@example.com" in created.stdout
        listed = cropedly(env, "users", "list")
        assert 0 == listed.returncode, listed.stderr
        row = next(line for line in listed.stdout.splitlines() if "cli@example.com" in line)
        assert "free" in row.split()
        changed = cropedly(
            env, "users", "set-plan", "--email", "CLI@example.com", "--plan", "enterprise"
        )
        assert 0 == changed.returncode, changed.stderr
        row = next(
            line for line in cropedly(env, "users", "list").stdout.splitlines() if "cli@" in line
        )
        assert "enterprise" in row.split()

    def test_errors_exit_non_zero(self, env: dict[str, str]) -> None:
        """Duplicate accounts and unknown e-mails fail with a message, no traceback."""
        assert (
            0
            == cropedly(
                env,
                "users",
                "create",
                "--email",
                "a@example.com",
                "--password",
                PASSWORD,
                "--name",
                "A",
            ).returncode
        )
        for args in (
            ("users", "create", "--email", "A@example.com", "--password", PASSWORD, "--name", "A"),
            ("users", "set-plan", "--email", "nobody@example.com", "--plan", "pro"),
        ):
            result = cropedly(env, *args)
            assert 0 != result.returncode
            assert result.stderr.startswith("error:")
            assert "Traceback" not in result.stderr
