"""The ``UserRepository`` contract, run against the in-memory, SQLite and PostgreSQL adapters."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
)

from cropedly_adapters.memory import InMemoryUserRepository
from cropedly_adapters.pg_users import PostgresUserRepository
from cropedly_adapters.sqlite_db import Database
from cropedly_adapters.sqlite_users import SqliteUserRepository
from cropedly_core.errors import EmailTaken, UserNotFound
from cropedly_core.ports import UserRepository
from cropedly_core.users import Plan, User, normalise_email
from repo_databases import KINDS, RepositoryDatabases, machine_postgres
from strategies import colliding_emails, created_ats, names, plans, users

RepoFactory = Callable[[], UserRepository]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _user(n: int, email: str, created_at: datetime = T0) -> User:
    return User(
        id=f"{n:032x}",
        email=normalise_email(email),
        name=f"User {n}",
        plan=Plan.FREE,
        password_hash="h",
        created_at=created_at,
    )


@pytest.fixture(scope="module", params=KINDS)
def make_repo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RepoFactory]:
    """Builds a fresh, empty repository of one adapter kind on each call."""
    with RepositoryDatabases(request, tmp_path_factory) as databases:

        def make() -> UserRepository:
            if request.param == "memory":
                return InMemoryUserRepository()
            if request.param == "sqlite":
                return SqliteUserRepository(databases.sqlite())
            return PostgresUserRepository(databases.postgres())

        yield make


class TestUserRepositoryContract:
    def test_added_user_is_found_by_id_and_email(self, make_repo: RepoFactory) -> None:
        """A stored user comes back equal, by id and by e-mail."""
        repo = make_repo()
        user = _user(1, "ann@example.com")
        repo.add(user)
        assert user == repo.get(user.id)
        assert user == repo.get_by_email("ann@example.com")

    def test_unknown_id_and_email_give_none(self, make_repo: RepoFactory) -> None:
        """Lookups of what was never stored return None rather than raising."""
        repo = make_repo()
        repo.add(_user(1, "ann@example.com"))
        assert repo.get("nope") is None
        assert repo.get_by_email("bob@example.com") is None

    def test_duplicate_email_raises_email_taken(self, make_repo: RepoFactory) -> None:
        """A second account with the same (normalised) e-mail is refused and not stored."""
        repo = make_repo()
        repo.add(_user(1, "ann@example.com"))
        with pytest.raises(EmailTaken):
            repo.add(_user(2, "ANN@Example.COM"))
        assert repo.get(f"{2:032x}") is None
        assert 1 == len(repo.list())

    def test_update_replaces_the_stored_user(self, make_repo: RepoFactory) -> None:
        """Update stores every changed field of the user with that id."""
        repo = make_repo()
        user = _user(1, "ann@example.com")
        repo.add(user)
        changed = attrs.evolve(
            user,
            email="ann2@example.com",
            plan=Plan.ENTERPRISE,
            token_version=3,
            password_hash=None,
            origins=frozenset({"https://a.example"}),
        )
        repo.update(changed)
        assert changed == repo.get(user.id)
        assert repo.get_by_email("ann@example.com") is None

    def test_update_of_unknown_user_raises(self, make_repo: RepoFactory) -> None:
        """Updating an id that was never added raises UserNotFound and stores nothing."""
        repo = make_repo()
        with pytest.raises(UserNotFound):
            repo.update(_user(1, "ann@example.com"))
        assert [] == repo.list()

    def test_update_to_another_users_email_raises(self, make_repo: RepoFactory) -> None:
        """An update may not take an e-mail that belongs to someone else."""
        repo = make_repo()
        ann, bob = _user(1, "ann@example.com"), _user(2, "bob@example.com")
        repo.add(ann)
        repo.add(bob)
        with pytest.raises(EmailTaken):
            repo.update(attrs.evolve(bob, email=ann.email))
        assert bob == repo.get(bob.id)

    def test_with_origin_finds_exactly_the_accounts_that_registered_it(
        self, make_repo: RepoFactory
    ) -> None:
        """with_origin() matches whole origins, never prefixes or other accounts' origins."""
        repo = make_repo()
        ann = attrs.evolve(_user(1, "ann@example.com"), origins=frozenset({"https://a.example"}))
        bob = attrs.evolve(
            _user(2, "bob@example.com"),
            origins=frozenset({"https://a.example", "http://b.example:8080"}),
        )
        repo.add(ann)
        repo.add(bob)
        repo.add(_user(3, "cy@example.com"))
        assert {ann.id, bob.id} == {u.id for u in repo.with_origin("https://a.example")}
        assert [bob.id] == [u.id for u in repo.with_origin("http://b.example:8080")]
        assert [] == repo.with_origin("https://a.exampl")
        assert [] == repo.with_origin("null")

    def test_list_is_oldest_first(self, make_repo: RepoFactory) -> None:
        """list() orders by creation time, whatever the insertion order."""
        repo = make_repo()
        newer = _user(1, "a@example.com", T0 + timedelta(seconds=1))
        older = _user(2, "b@example.com", T0)
        newest = _user(3, "c@example.com", T0 + timedelta(days=1, microseconds=1))
        for user in (newer, newest, older):
            repo.add(user)
        assert [older, newer, newest] == repo.list()

    @settings(max_examples=40, deadline=None)
    @given(user=users())
    def test_any_user_round_trips(self, make_repo: RepoFactory, user: User) -> None:
        """Every field of any valid user survives storage unchanged."""
        repo = make_repo()
        repo.add(user)
        assert user == repo.get(user.id)
        assert [user] == repo.list()


class UserRepositoryMachine(RuleBasedStateMachine):
    """Random add/get/get_by_email/update sequences checked against a dict model."""

    def __init__(self) -> None:
        super().__init__()
        self.repo = self.make_repo()
        self.model: dict[str, User] = {}
        self.counter = 0

    def make_repo(self) -> UserRepository:
        raise NotImplementedError

    def teardown(self) -> None:
        pass

    ids = Bundle("ids")

    def _owner_of(self, email: str) -> User | None:
        return next((u for u in self.model.values() if u.email == email), None)

    @rule(target=ids, email=colliding_emails(), created_at=created_ats, name=names)
    def add(self, email: str, created_at: datetime, name: str) -> str:
        self.counter += 1
        user = User(
            id=f"{self.counter:032x}",
            email=normalise_email(email),  # the core normalises before storing
            name=name,
            plan=Plan.FREE,
            password_hash=None,
            created_at=created_at,
        )
        if self._owner_of(user.email) is not None:
            with pytest.raises(EmailTaken):
                self.repo.add(user)
        else:
            self.repo.add(user)
            self.model[user.id] = user
        return user.id

    @rule(user_id=ids)
    def get(self, user_id: str) -> None:
        assert self.model.get(user_id) == self.repo.get(user_id)

    @rule(email=colliding_emails())
    def get_by_email(self, email: str) -> None:
        normalised = normalise_email(email)
        assert self._owner_of(normalised) == self.repo.get_by_email(normalised)

    @rule(user_id=ids, email=colliding_emails(), plan=plans, name=names)
    def update(self, user_id: str, email: str, plan: Plan, name: str) -> None:
        current = self.model.get(user_id)
        base = current or _user(10**6, "ghost@example.com")
        changed = attrs.evolve(
            base,
            id=user_id,
            email=normalise_email(email),
            plan=plan,
            name=name,
            token_version=base.token_version + 1,
        )
        owner = self._owner_of(changed.email)
        if current is None:
            with pytest.raises(UserNotFound):
                self.repo.update(changed)
        elif owner is not None and owner.id != user_id:
            with pytest.raises(EmailTaken):
                self.repo.update(changed)
        else:
            self.repo.update(changed)
            self.model[user_id] = changed

    @rule(user_id=consumes(ids))
    def forget_id(self, user_id: str) -> None:
        """Drop an id from the bundle so others get drawn (the repository has no delete)."""

    @invariant()
    def list_matches_model(self) -> None:
        expected = sorted(self.model.values(), key=lambda u: (u.created_at, u.id))
        assert expected == self.repo.list()


class InMemoryUserRepositoryMachine(UserRepositoryMachine):
    def make_repo(self) -> UserRepository:
        return InMemoryUserRepository()


class SqliteUserRepositoryMachine(UserRepositoryMachine):
    def make_repo(self) -> UserRepository:
        # A stateful example has no fixture of its own: a fresh file per example.
        self._folder = tempfile.TemporaryDirectory(prefix="cropedly-users-")
        self._database = Database(Path(self._folder.name) / "users.sqlite3")
        return SqliteUserRepository(self._database)

    def teardown(self) -> None:
        self._database.close()
        self._folder.cleanup()


class PostgresUserRepositoryMachine(UserRepositoryMachine):
    def make_repo(self) -> UserRepository:
        self._pg = machine_postgres()
        return PostgresUserRepository(self._pg)

    def teardown(self) -> None:
        self._pg.close()


_STATEFUL = settings(max_examples=25, stateful_step_count=20, deadline=None)
TestInMemoryUserRepositoryStateful = InMemoryUserRepositoryMachine.TestCase
TestInMemoryUserRepositoryStateful.settings = _STATEFUL
TestSqliteUserRepositoryStateful = SqliteUserRepositoryMachine.TestCase
TestSqliteUserRepositoryStateful.settings = _STATEFUL
TestPostgresUserRepositoryStateful = pytest.mark.usefixtures("postgres_machines")(
    PostgresUserRepositoryMachine.TestCase
)
TestPostgresUserRepositoryStateful.settings = _STATEFUL
