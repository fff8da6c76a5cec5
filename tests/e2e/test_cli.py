"""The ``cropedly`` command line itself: version, help, exit codes, settings, data folder."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cropedly.cli import main
from imaging import png_bytes

pytestmark = pytest.mark.slow

PASSWORD = "a long operator secret"


def cropedly(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cropedly.cli`` in ``cwd`` with only the CROPEDLY_* variables in ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CROPEDLY_")}
    return subprocess.run(
        [sys.executable, "-m", "cropedly.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env={"CROPEDLY_UPSCALER": "lanczos", **clean, **(env or {})},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def one_error_line(run: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert 1 == len(lines), run.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_version(tmp_path: Path) -> None:
    run = cropedly("--version", cwd=tmp_path)
    assert 0 == run.returncode, run.stderr
    assert f"cropedly {importlib.metadata.version('cropedly')}" == run.stdout.strip()


def test_help_works_with_bad_settings(tmp_path: Path) -> None:
    """Help needs no settings, so a broken variable cannot hide it."""
    for args in (["--help"], ["serve", "--help"], ["enhance", "--help"]):
        run = cropedly(*args, cwd=tmp_path, env={"CROPEDLY_PORT": "abc"})
        assert 0 == run.returncode, run.stderr
        assert run.stdout.startswith("Usage: cropedly")
        assert "" == run.stderr
    enhance_help = cropedly("enhance", "--help", cwd=tmp_path).stdout
    assert "hopper.gif.png" in enhance_help
    assert "[default: auto]" in enhance_help


@pytest.mark.parametrize(
    ("variable", "value", "args"),
    [
        ("CROPEDLY_PORT", "abc", ["users", "list"]),
        ("CROPEDLY_PORT", "abc", ["serve"]),
        ("CROPEDLY_PORT", "abc", ["purge"]),
        ("CROPEDLY_UPSCALER", "bogus", ["enhance", "in.png", "--out", "out"]),
        ("CROPEDLY_LOG_LEVEL", "loud", ["users", "create", "--email", "a@b.c", "--name", "A"]),
    ],
)
def test_bad_settings_exit_2_with_one_line(
    tmp_path: Path, variable: str, value: str, args: list[str]
) -> None:
    """A bad variable stops any command that needs settings: one line naming it, nothing made."""
    (tmp_path / "in.png").write_bytes(png_bytes())
    run = cropedly(*args, cwd=tmp_path, env={variable: value})
    assert 2 == run.returncode
    assert variable in one_error_line(run)
    assert ["in.png"] == [p.name for p in tmp_path.iterdir()]


@pytest.mark.parametrize(
    "args",
    [
        ["users", "list"],
        ["users", "set-plan", "--email", "a@example.com", "--plan", "pro"],
        ["users", "set-origins", "--email", "a@example.com", "--origin", "https://a.example"],
        ["users", "set-password", "--email", "a@example.com", "--password", PASSWORD],
        ["purge"],
    ],
)
def test_data_commands_need_an_existing_data_folder(tmp_path: Path, args: list[str]) -> None:
    """Run from the wrong folder, they say where they looked instead of creating ./data."""
    run = cropedly(*args, cwd=tmp_path)
    assert 2 == run.returncode
    line = one_error_line(run)
    assert f"no data folder at {tmp_path / 'data'}" in line
    assert "CROPEDLY_DATA_DIR" in line
    assert [] == list(tmp_path.iterdir())


def test_users_create_makes_the_data_folder_and_says_so(tmp_path: Path) -> None:
    """create may start a data folder; it names it, then list finds the account there."""
    data = tmp_path / "data"
    created = cropedly(
        *("users", "create", "--email", "Op@Example.com", "--name", "Op"),
        *("--password", PASSWORD),
        cwd=tmp_path,
    )
    assert 0 == created.returncode, created.stderr
    assert f"data folder: {data} (created)" == created.stderr.strip()
    assert "op@example.com" in created.stdout
    listed = cropedly("users", "list", cwd=tmp_path)
    assert 0 == listed.returncode, listed.stderr
    assert f"data folder: {data}" == listed.stderr.strip()
    assert any("op@example.com" in line for line in listed.stdout.splitlines())
    elsewhere = cropedly("users", "list", cwd=tmp_path, env={"CROPEDLY_DATA_DIR": str(data)})
    assert listed.stdout == elsewhere.stdout


def test_users_create_takes_a_piped_password(tmp_path: Path) -> None:
    """Without --password and without a terminal, the password is the first line of stdin."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CROPEDLY_")}
    env = {**clean, "CROPEDLY_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "cropedly.cli", "users", "create"]
    args = ["--email", "p@example.com", "--name", "P"]
    piped = subprocess.run(
        [*command, *args],
        input=f"{PASSWORD}\n",
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert 0 == piped.returncode, piped.stderr
    empty = subprocess.run(
        [*command, "--email", "q@example.com", "--name", "Q"],
        input="",
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert 2 == empty.returncode
    assert "no password given" in empty.stderr
    assert "Traceback" not in empty.stderr


def test_unknown_account_exits_2_naming_the_data_folder(tmp_path: Path) -> None:
    """A failing data command's one error line says which data folder it looked in."""
    (tmp_path / "data").mkdir()
    for args in (
        ["users", "set-password", "--email", "nobody@example.com", "--password", PASSWORD],
        ["users", "set-plan", "--email", "nobody@example.com", "--plan", "pro"],
    ):
        run = cropedly(*args, cwd=tmp_path)
        assert 2 == run.returncode
        line = one_error_line(run)
        assert "nobody@example.com" in line
        assert line.endswith(f"(data folder: {tmp_path / 'data'})")


@pytest.mark.parametrize(
    "args",
    [
        ["enhance", "a.png", "--out", "out", "--quality", "101"],
        ["enhance", "a.png", "--out", "out", "--upscale", "3"],
        ["enhance", "a.png", "--out", "out", "--format", "gif"],
        ["enhance", "a.png"],
        ["nonsense"],
        ["users", "create", "--email", "a@b.c"],
    ],
)
def test_usage_errors_exit_2_in_one_line(tmp_path: Path, args: list[str]) -> None:
    run = cropedly(*args, cwd=tmp_path)
    assert 2 == run.returncode
    one_error_line(run)
    assert [] == list(tmp_path.iterdir())


def test_no_command_shows_help_and_exits_2(tmp_path: Path) -> None:
    run = cropedly(cwd=tmp_path)
    assert 2 == run.returncode
    assert "Usage: cropedly" in run.stderr
    assert "Traceback" not in run.stderr


def test_main_returns_the_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``main`` returns codes rather than exiting, for callers that embed it."""
    monkeypatch.chdir(tmp_path)
    assert 0 == main(["--version"])
    assert 2 == main(["enhance", "x.png", "--out", "out", "--quality", "101"])
    monkeypatch.setenv("CROPEDLY_PORT", "abc")
    assert 2 == main(["users", "list"])
    assert "error: CROPEDLY_PORT='abc'" in capsys.readouterr().err


class TestDomains:
    def test_add_list_remove(self, tmp_path: Path) -> None:
        """An operator manages an Enterprise account's origins; they are stored normalised."""
        create = ["users", "create", "--email", "e@example.com", "--name", "E"]
        made = cropedly(*create, "--password", PASSWORD, "--plan", "enterprise", cwd=tmp_path)
        assert 0 == made.returncode, made.stderr
        email = ["--email", "e@example.com"]
        added = cropedly(
            "domains", "add", *email, "--origin", "HTTPS://App.Example:443/", cwd=tmp_path
        )
        assert 0 == added.returncode, added.stderr
        assert added.stdout.strip().endswith("https://app.example")
        listed = cropedly("domains", "list", *email, cwd=tmp_path)
        assert [added.stdout.strip()] == listed.stdout.strip().splitlines()
        removed = cropedly(
            "domains", "remove", *email, "--origin", "https://app.example", cwd=tmp_path
        )
        assert 0 == removed.returncode, removed.stderr
        assert "" == cropedly("domains", "list", *email, cwd=tmp_path).stdout

    def test_wildcards_and_pro_accounts_are_refused_in_one_line(self, tmp_path: Path) -> None:
        create = ["users", "create", "--email", "p@example.com", "--name", "P"]
        assert (
            0 == cropedly(*create, "--password", PASSWORD, "--plan", "pro", cwd=tmp_path).returncode
        )
        email = ["--email", "p@example.com"]
        run = cropedly("domains", "add", *email, "--origin", "https://*.example", cwd=tmp_path)
        assert 2 == run.returncode
        assert "enterprise" in one_error_line(run)
