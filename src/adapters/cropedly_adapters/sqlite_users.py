"""``UserRepository`` on SQLite through sqlite-utils; origins live in ``user_domains``."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

import sqlite_utils

from cropedly_adapters.sqlite_db import Database
from cropedly_core.errors import EmailTaken, UserNotFound
from cropedly_core.users import Plan, Role, User

# Every column of a user, and its origins as a JSON array.
_SELECT = (
    "SELECT users.*, (SELECT json_group_array(origin) FROM user_domains"
    " WHERE user_domains.user_id = users.id) AS origins FROM users"
)


class SqliteUserRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    def add(self, user: User) -> None:
        try:
            with self._database.transaction() as db:
                db.table("users").insert(_row(user))
                _set_origins(db, user)
        except sqlite3.IntegrityError as exc:
            raise EmailTaken("An account with this e-mail already exists.") from exc

    def get(self, user_id: str) -> User | None:
        return self._one(f"{_SELECT} WHERE id = ?", user_id)

    def get_by_email(self, email: str) -> User | None:
        return self._one(f"{_SELECT} WHERE email = ?", email)

    def update(self, user: User) -> None:
        try:
            with self._database.transaction() as db:
                cursor = db.execute(
                    "UPDATE users SET email=?, name=?, plan=?, password_hash=?, created_at=?,"
                    " token_version=?, roles=? WHERE id=?",
                    [*list(_row(user).values())[1:], user.id],
                )
                if cursor.rowcount == 0:
                    raise UserNotFound("No such account.")
                db.execute("DELETE FROM user_domains WHERE user_id = ?", [user.id])
                _set_origins(db, user)
        except sqlite3.IntegrityError as exc:
            raise EmailTaken("An account with this e-mail already exists.") from exc

    def with_origin(self, origin: str) -> list[User]:
        with self._database.locked() as db:
            rows = db.execute_returning_dicts(
                f"{_SELECT} WHERE id IN (SELECT user_id FROM user_domains WHERE origin = ?)"  # noqa: S608 - fixed text
                " ORDER BY created_at, id",
                [origin],
            )
        return [_user(r) for r in rows]

    def list(self) -> list[User]:
        with self._database.locked() as db:
            rows = db.execute_returning_dicts(f"{_SELECT} ORDER BY created_at, id")
        return [_user(r) for r in rows]

    def _one(self, sql: str, value: str) -> User | None:
        with self._database.locked() as db:
            rows = db.execute_returning_dicts(sql, [value])
        return _user(rows[0]) if rows else None


def _row(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "plan": user.plan.value,
        "password_hash": user.password_hash,
        "created_at": user.created_at.isoformat(),
        "token_version": user.token_version,
        "roles": json.dumps(sorted(r.value for r in user.roles)),
    }


def _set_origins(db: sqlite_utils.Database, user: User) -> None:
    if user.origins:
        db.conn.executemany(
            "INSERT INTO user_domains (user_id, origin) VALUES (?, ?)",
            [(user.id, origin) for origin in sorted(user.origins)],
        )


def _user(row: dict[str, Any]) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        plan=Plan(row["plan"]),
        password_hash=row["password_hash"],
        created_at=datetime.fromisoformat(row["created_at"]),
        token_version=int(row["token_version"]),
        roles=frozenset(Role(r) for r in json.loads(row["roles"])),
        origins=frozenset(json.loads(row["origins"])),
    )
