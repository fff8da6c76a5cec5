"""Limits shared through Redis by separate ``cropedly serve`` processes, and Redis down.

Two server processes on one data folder and one Redis stand for several HTTP workers
or machines: failed logins and the plan's requests per minute are counted once for
all of them. With Redis unreachable, what counts a limit answers 503
``limits-unavailable`` with ``Retry-After`` (fail closed), never 500, never a pass.
"""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from test_processes import one_client_per_worker

from cropedly.http.problems import PROBLEM_BASE
from servers import create_user, running_server, server_env

PASSWORD = "correct horse battery staple 42"
WRONG = "not the password at all 17"


def login(base: str, email: str, password: str) -> httpx.Response:
    form = {"email": (None, email), "password": (None, password)}
    return httpx.post(f"{base}/auth/v1/login", files=form, timeout=30)


def test_two_processes_share_one_login_budget(tmp_path: Path, redis_url: str) -> None:
    """Four failures alternate between the processes; the fifth is refused by either, once."""
    env = server_env(
        tmp_path,
        redis_url=redis_url,
        login_failures_per_email="4",
        login_failures_per_client="100",
        free_requests_per_minute="3",
    )
    create_user(env, "victim@example.com", PASSWORD, "Victim", "free")
    create_user(env, "user@example.com", PASSWORD, "User", "free")
    with running_server(env, tmp_path) as first, running_server(env, tmp_path) as second:
        servers = [first.base, second.base]
        answers = [login(servers[n % 2], "victim@example.com", WRONG).status_code for n in range(4)]
        assert [401, 401, 401, 401] == answers
        for base in servers:
            refused = login(base, "victim@example.com", WRONG)
            assert 429 == refused.status_code, refused.text
            assert PROBLEM_BASE + "too-many-attempts" == refused.json()["type"]
            assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60

        # The plan's requests per minute: three /me calls spread over both, the fourth refused.
        token = login(first.base, "user@example.com", PASSWORD).json()["token"]
        _well_inside_a_minute()
        me = [
            httpx.get(
                f"{servers[n % 2]}/auth/v1/me",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            for n in range(4)
        ]
        assert [200, 200, 200, 429] == [r.status_code for r in me]
        assert ['"minute";r=2;', '"minute";r=1;', '"minute";r=0;'] == [
            r.headers["RateLimit"].split("t=")[0] for r in me[:3]
        ]


def test_serve_with_two_workers_shares_one_login_budget(tmp_path: Path, redis_url: str) -> None:
    """``cropedly serve --workers 2``: failures alternate between the two worker PIDs; the
    limit is hit once, at the configured count, whichever worker answers."""
    env = server_env(
        tmp_path,
        workers="2",
        redis_url=redis_url,
        login_failures_per_email="4",
        login_failures_per_client="100",
    )
    create_user(env, "victim@example.com", PASSWORD, "Victim", "free")
    with running_server(env, tmp_path) as server:
        clients = one_client_per_worker(server)
        try:
            pids = [server.pid_serving(client.get("/health")) for client in clients]
            assert 2 == len(set(pids))
            form = {"email": (None, "victim@example.com"), "password": (None, WRONG)}
            answers = [
                clients[n % 2].post("/auth/v1/login", files=form).status_code for n in range(4)
            ]
            assert [401, 401, 401, 401] == answers
            for client in clients:
                refused = client.post("/auth/v1/login", files=form)
                assert 429 == refused.status_code, refused.text
                assert pids[clients.index(client)] == server.pid_serving(refused)
        finally:
            for client in clients:
                client.close()


def test_redis_unreachable_fails_closed_with_503(tmp_path: Path) -> None:
    """Nothing listens at the Redis URL: login and sign-up answer 503 with Retry-After, not 500."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = sock.getsockname()[1]
        url = f"redis://:hunter2-secret@127.0.0.1:{port}/0"
        env = server_env(tmp_path, redis_url=url, log_level="INFO")
        create_user(env, "user@example.com", PASSWORD, "User", "free")
        with running_server(env, tmp_path) as server:
            answers = [
                login(server.base, "user@example.com", PASSWORD),
                httpx.post(
                    f"{server.base}/auth/v1/register",
                    files={
                        "email": (None, "new@example.com"),
                        "password": (None, PASSWORD),
                        "name": (None, "New"),
                    },
                    timeout=30,
                ),
            ]
            for answer in answers:
                assert 503 == answer.status_code, answer.text
                assert PROBLEM_BASE + "limits-unavailable" == answer.json()["type"]
                assert 0 < int(answer.headers["Retry-After"]) <= 60
            assert 200 == httpx.get(f"{server.base}/health", timeout=10).status_code
            log = server.stderr.read_text()
    assert "hunter2-secret" not in log
    assert f"redis://***@127.0.0.1:{port}/0" in log


def _well_inside_a_minute() -> None:
    """Wait for a fresh minute when less than 15 s are left (the per-minute window ends with it)."""
    second = datetime.now(UTC).second
    if second >= 45:
        time.sleep(61 - second)
