"""``UserRepository`` on SQLite through sqlite-utils."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from cropedly_adapters.sqlite_db import Database
from cropedly_core.errors import EmailTaken, UserNotFound
from cropedly_core.users import Plan, Role, User


class SqliteUserRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    def add(self, user: User) -> None:
        try:
            with self._database.transaction() as db:
                db.table("users").insert(_row(user))
        except sqlite3.IntegrityError as exc:
            raise EmailTaken("An account with this e-mail already exists.") from exc

    def get(self, user_id: str) -> User | None:
        return self._one("SELECT * FROM users WHERE id = ?", user_id)

    def get_by_email(self, email: str) -> User | None:
        return self._one("SELECT * FROM users WHERE email = ?", email)

    def update(self, user: User) -> None:
        try:
            with self._database.transaction() as db:
                cursor = db.execute(
                    "UPDATE users SET email=?, name=?, plan=?, password_hash=?, created_at=?,"
                    " token_version=?, roles=?, origins=? WHERE id=?",
                    [*list(_row(user).values())[1:], user.id],
                )
                if cursor.rowcount == 0:
                    raise UserNotFound("No such account.")
        except sqlite3.IntegrityError as exc:
            raise EmailTaken("An account with this e-mail already exists.") from exc

    def with_origin(self, origin: str) -> list[User]:
        with self._database.locked() as db:
            rows = db.execute_returning_dicts(
                "SELECT * FROM users WHERE EXISTS"
                " (SELECT 1 FROM json_each(users.origins) WHERE json_each.value = ?)"
                " ORDER BY created_at, id",
                [origin],
            )
        return [_user(r) for r in rows]

    def list(self) -> list[User]:
        with self._database.locked() as db:
            rows = db.execute_returning_dicts("SELECT * FROM users ORDER BY created_at, id")
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
        "origins": json.dumps(sorted(user.origins)),
    }


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
