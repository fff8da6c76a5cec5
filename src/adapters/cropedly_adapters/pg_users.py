"""``UserRepository`` on PostgreSQL; registered origins live in ``user_domains``."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from cropedly_adapters.pg_db import PostgresDatabase, Row, utc
from cropedly_core.errors import EmailTaken, UserNotFound
from cropedly_core.users import Plan, Role, User

# Every column of a user, and its origins as an array (empty when it has none).
_SELECT = (
    "SELECT u.*, ARRAY(SELECT d.origin FROM user_domains d WHERE d.user_id = u.id) AS origins"
    " FROM users u"
)


class PostgresUserRepository:
    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    def add(self, user: User) -> None:
        try:
            with self._database.transaction() as conn:
                conn.execute(
                    "INSERT INTO users (id, email, name, plan, password_hash, created_at,"
                    " token_version, roles) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    [user.id, *_values(user)],
                )
                _set_origins(conn, user)
        except psycopg.errors.UniqueViolation as exc:
            _raise_taken(exc)
            raise

    def get(self, user_id: str) -> User | None:
        return self._one(f"{_SELECT} WHERE u.id = %s", user_id)

    def get_by_email(self, email: str) -> User | None:
        return self._one(f"{_SELECT} WHERE lower(u.email) = lower(%s)", email)

    def update(self, user: User) -> None:
        try:
            with self._database.transaction() as conn:
                cursor = conn.execute(
                    "UPDATE users SET email = %s, name = %s, plan = %s, password_hash = %s,"
                    " created_at = %s, token_version = %s, roles = %s WHERE id = %s",
                    [*_values(user), user.id],
                )
                if cursor.rowcount == 0:
                    raise UserNotFound("No such account.")
                conn.execute("DELETE FROM user_domains WHERE user_id = %s", [user.id])
                _set_origins(conn, user)
        except psycopg.errors.UniqueViolation as exc:
            _raise_taken(exc)
            raise

    def with_origin(self, origin: str) -> list[User]:
        return _fetch(
            self._database,
            f"{_SELECT} WHERE u.id IN (SELECT user_id FROM user_domains WHERE origin = %s)"  # noqa: S608 - fixed text
            " ORDER BY u.created_at, u.id",
            [origin],
        )

    def list(self) -> list[User]:
        return _fetch(self._database, f"{_SELECT} ORDER BY u.created_at, u.id", [])

    def _one(self, sql: str, value: str) -> User | None:
        found = _fetch(self._database, sql, [value])
        return found[0] if found else None


def _fetch(database: PostgresDatabase, sql: str, values: list[Any]) -> list[User]:
    with database.transaction() as conn:
        rows = conn.execute(sql, values).fetchall()
    return [_user(r) for r in rows]


def _values(user: User) -> list[Any]:
    """The columns after ``id``, in the order of the INSERT and UPDATE above."""
    return [
        user.email,
        user.name,
        user.plan.value,
        user.password_hash,
        user.created_at,
        user.token_version,
        Jsonb(sorted(r.value for r in user.roles)),
    ]


def _set_origins(conn: psycopg.Connection[Row], user: User) -> None:
    if user.origins:
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO user_domains (user_id, origin) VALUES (%s, %s)",
                [(user.id, origin) for origin in sorted(user.origins)],
            )


def _raise_taken(exc: psycopg.errors.UniqueViolation) -> None:
    if exc.diag.constraint_name == "users_email":
        raise EmailTaken("An account with this e-mail already exists.") from exc


def _user(row: Row) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        plan=Plan(row["plan"]),
        password_hash=row["password_hash"],
        created_at=utc(row["created_at"]),
        token_version=int(row["token_version"]),
        roles=frozenset(Role(r) for r in row["roles"]),
        origins=frozenset(row["origins"]),
    )
