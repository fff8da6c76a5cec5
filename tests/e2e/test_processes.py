"""``cropedly serve`` as processes: two HTTP workers sharing one data folder.

Which process answered is read from the kernel, not from the app: each test
keeps one connection per worker open and finds the PID holding the server end
of it (``Server.pid_serving``), so a token, an upload or a result made by one
process is then used through the other.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from imaging import png_bytes
from servers import Server, create_user, running_server, server_env

EMAIL, PASSWORD, NAME = "multi@example.com", "a long shared-data secret", "Multi Worker"
CATALOG = "/images/v1/enterprise-resources/images"

pytestmark = pytest.mark.slow


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Server]:
    env = server_env(tmp_path, workers="2")
    create_user(env, EMAIL, PASSWORD, NAME, "enterprise")
    with running_server(env, tmp_path) as server:
        yield server


def one_client_per_worker(server: Server, workers: int = 2) -> list[httpx.Client]:
    """Kept-alive connections, one held by each HTTP worker process (loud if one never answers)."""
    chosen: dict[int, httpx.Client] = {}
    spare: list[httpx.Client] = []
    for _ in range(60):
        client = httpx.Client(base_url=server.base, timeout=60.0)
        pid = server.pid_serving(client.get("/health"))
        if pid in chosen:
            spare.append(client)  # kept open: its worker stays busy with it
        else:
            chosen[pid] = client
        if len(chosen) == workers:
            break
    for client in spare:
        client.close()
    assert workers == len(chosen), f"only PIDs {sorted(chosen)} answered 60 connections"
    assert server.pid not in chosen, "the supervisor itself answered; workers did not start"
    return list(chosen.values())


def login(client: httpx.Client) -> dict[str, str]:
    response = client.post(
        "/auth/v1/login", files={"email": (None, EMAIL), "password": (None, PASSWORD)}
    )
    assert 200 == response.status_code, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


class TestTwoWorkers:
    def test_tokens_uploads_results_and_links_work_whichever_process_answers(
        self, two_workers: Server
    ) -> None:
        """Everything one worker makes (token, catalog image, result, signed link), the other uses."""
        first, second = one_client_per_worker(two_workers)
        pids = {two_workers.pid_serving(c.get("/health")) for c in (first, second)}
        assert 2 == len(pids)
        for maker, user in ((first, second), (second, first)):
            auth = login(maker)
            me = user.get("/auth/v1/me", headers=auth)
            assert 200 == me.status_code, me.text
            assert EMAIL == me.json()["email"]

            name = f"ref-{two_workers.pid_serving(maker.get('/health'))}.png"
            uploaded = maker.post(
                f"{CATALOG}/upload", files=[("images", (name, png_bytes(16, 12)))], headers=auth
            )
            assert 204 == uploaded.status_code, uploaded.text
            listed = user.get(CATALOG, headers=auth)
            assert 200 == listed.status_code, listed.text
            item = next(i for i in listed.json() if i["originalName"] == name)
            download = maker.get(path_of(item["url"]))
            assert 200 == download.status_code
            assert item["size"] == len(download.content)

            enhanced = maker.post(
                "/images/v1",
                files=[("images", ("photo.jpg", png_bytes(40, 30, fmt="JPEG")))],
                data={"upscale": "2", "format": "png", "referenceId": item["id"]},
                headers=auth,
            )
            assert 200 == enhanced.status_code, enhanced.text
            result = user.get(path_of(enhanced.json()[0]["url"]))
            assert 200 == result.status_code, result.text
            assert (80, 60) == Image.open(io.BytesIO(result.content)).size
        for client in (first, second):
            client.close()

    def test_concurrent_writes_from_both_processes_never_fail(
        self, two_workers: Server, tmp_path: Path
    ) -> None:
        """Catalog uploads and API keys written at once by both workers: no 500, nothing lost.

        Both processes write the same SQLite file (WAL, busy timeout, BEGIN
        IMMEDIATE); a "database is locked" would surface as a 500 here.
        """
        clients = one_client_per_worker(two_workers)
        auth = login(clients[0])
        per_client = 12

        def write(index: int) -> list[int]:
            client = clients[index % 2]
            statuses = []
            for n in range(per_client):
                if n % 3 == 0:
                    made = client.post("/auth/v1/keys", files={"name": (None, f"k{index}-{n}")},
                                       headers=auth)  # fmt: skip
                else:
                    made = client.post(
                        f"{CATALOG}/upload",
                        files=[("images", (f"w{index}-{n}.png", png_bytes(12, 9)))],
                        headers=auth,
                    )
                statuses.append(made.status_code)
            return statuses

        # Two threads per connection would serialise on it; so one connection per thread,
        # each pinned to the worker its index names.
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(write, range(2)))
        statuses = [s for batch in results for s in batch]
        assert statuses.count(500) == 0, statuses
        assert {201, 204} >= set(statuses), statuses

        listed = clients[1].get(CATALOG, params={"limit": 200}, headers=auth)
        uploads = 2 * (per_client - len(range(0, per_client, 3)))
        assert uploads == len(listed.json())
        keys = clients[0].get("/auth/v1/keys", headers=auth)
        assert 2 * len(range(0, per_client, 3)) == len(keys.json())
        for client in clients:
            client.close()
        database = Path(two_workers.stderr).parent / "data" / "cropedly.sqlite3"
        with sqlite3.connect(database) as db:
            assert "wal" == db.execute("PRAGMA journal_mode").fetchone()[0]
        assert "database is locked" not in two_workers.stderr.read_text()
