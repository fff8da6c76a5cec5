"""Account use cases on in-memory adapters: register, login, authenticate, plans."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cropedly.settings import Settings
from cropedly_adapters.memory import FastPasswordHasher, InMemoryTokens, ManualClock
from cropedly_core.accounts import Accounts, normalise_origin, require_plan
from cropedly_core.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    OriginNotAllowed,
    PlanRequired,
    TooManyAttempts,
    UserNotFound,
    WeakPassword,
)
from cropedly_core.users import Plan, Role, User
from doubles import in_memory_services
from strategies import case_variants, origins, padded, plans

SECRET = "a long enough secret"


class CountingHasher(FastPasswordHasher):
    """The in-memory hasher, counting its calls (a fake, not a mock)."""

    def __init__(self, version: int = 1) -> None:
        super().__init__(version)
        self.hashes = 0
        self.verifies = 0

    def hash(self, password: str) -> str:
        self.hashes += 1
        return super().hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self.verifies += 1
        return super().verify(password_hash, password)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def accounts(clock: ManualClock, hasher: CountingHasher) -> Accounts:
    return in_memory_services(
        Settings(login_failures_per_email=3, login_failures_per_client=5),
        clock=clock,
        hasher=hasher,
    ).accounts


@pytest.fixture
def ann(accounts: Accounts) -> User:
    return accounts.register("Ann@Example.com", SECRET, "Ann", Plan.PRO)


class TestRegister:
    def test_stores_a_normalised_user(self, accounts: Accounts, clock: ManualClock) -> None:
        """The e-mail is normalised, the name tidied, the password hashed, ROLE_USER granted."""
        user = accounts.register("  Ann@Example.COM ", SECRET, "  Ann   Example ")
        assert "ann@example.com" == user.email
        assert "Ann Example" == user.name
        assert Plan.FREE == user.plan
        assert frozenset({Role.USER}) == user.roles
        assert clock.now() == user.created_at
        assert user.password_hash is not None
        assert SECRET not in user.password_hash
        assert user == accounts.users.get(user.id)

    @given(data=st.data())
    def test_case_variant_is_taken(self, data: st.DataObject) -> None:
        """A case or whitespace variant of a registered e-mail is refused."""
        accounts = in_memory_services().accounts
        accounts.register("ann@example.com", SECRET, "Ann")
        variant = data.draw(case_variants("ann@example.com").flatmap(padded))
        with pytest.raises(EmailTaken):
            accounts.register(variant, SECRET, "Other")

    def test_weak_password_stores_nothing(self, accounts: Accounts) -> None:
        """A refused password leaves no account behind."""
        with pytest.raises(WeakPassword):
            accounts.register("ann@example.com", "short", "Ann")
        assert [] == accounts.users.list()

    def test_google_account_has_no_password(self, accounts: Accounts) -> None:
        """password=None makes a Google sign-in account without a hash."""
        assert accounts.register("g@example.com", None, "G").password_hash is None

    @pytest.mark.parametrize("name", ["", "   ", "x" * 201])
    def test_bad_names(self, accounts: Accounts, name: str) -> None:
        """Empty or overlong names are refused on the name field."""
        with pytest.raises(InvalidInput) as caught:
            accounts.register("ann@example.com", SECRET, name)
        assert "name" == caught.value.field

    def test_admin_role_keeps_user_role(self, accounts: Accounts) -> None:
        """Extra roles never drop ROLE_USER."""
        user = accounts.register("a@example.com", SECRET, "A", roles=frozenset({Role.ADMIN}))
        assert frozenset({Role.ADMIN, Role.USER}) == user.roles


class TestLogin:
    def test_right_password_gives_a_token_for_the_user(self, accounts: Accounts, ann: User) -> None:
        """A correct login issues a token that authenticates as that user."""
        grant = accounts.login(" ANN@example.com ", SECRET)
        assert ann == accounts.authenticate(grant.token)
        assert ann.id == grant.claims.sub

    def test_all_failures_look_the_same(self, accounts: Accounts, ann: User) -> None:
        """Wrong password, unknown e-mail and Google account raise the same error and detail."""
        accounts.register("google@example.com", None, "G")
        details = set()
        for email, password in [
            ("ann@example.com", "wrong password!"),
            ("nobody@example.com", SECRET),
            ("google@example.com", SECRET),
        ]:
            with pytest.raises(InvalidCredentials) as caught:
                accounts.login(email, password, client=email)
            details.add(caught.value.detail)
        assert 1 == len(details)

    @pytest.mark.parametrize("email", ["nobody@example.com", "google@example.com"])
    def test_failures_without_a_hash_still_hash(
        self, accounts: Accounts, hasher: CountingHasher, email: str
    ) -> None:
        """Unknown e-mails and Google accounts cost one verify, like a wrong password."""
        accounts.register("google@example.com", None, "G")
        for _ in range(2):
            before = hasher.verifies
            with pytest.raises(InvalidCredentials):
                accounts.login(email, SECRET)
            assert 1 == hasher.verifies - before

    def test_throttled_after_n_failures_per_email(
        self, accounts: Accounts, ann: User, clock: ManualClock, hasher: CountingHasher
    ) -> None:
        """After N failures the failing client gets TooManyAttempts without hashing; the owner elsewhere gets in."""
        for _ in range(3):
            with pytest.raises(InvalidCredentials):
                accounts.login("ann@example.com", "wrong password!", client="attacker")
        before = hasher.verifies
        with pytest.raises(TooManyAttempts) as caught:
            accounts.login("ann@example.com", SECRET, client="attacker")
        assert before == hasher.verifies
        assert 0 < caught.value.retry_after <= 15 * 60
        accounts.login("ann@example.com", SECRET, client="owner")
        clock.advance(timedelta(seconds=caught.value.retry_after))
        accounts.login("ann@example.com", SECRET, client="attacker")

    def test_success_resets_the_email_budget(self, accounts: Accounts, ann: User) -> None:
        """A correct login forgives earlier failures of that e-mail."""
        for _ in range(2):
            with pytest.raises(InvalidCredentials):
                accounts.login("ann@example.com", "wrong password!", client="a")
        accounts.login("ann@example.com", SECRET, client="b")
        for _ in range(2):
            with pytest.raises(InvalidCredentials):
                accounts.login("ann@example.com", "wrong password!", client="c")

    def test_successes_do_not_use_up_the_client_budget(self, accounts: Accounts, ann: User) -> None:
        """Many correct logins from one address never throttle it."""
        for _ in range(12):
            accounts.login("ann@example.com", SECRET, client="office")

    def test_concurrent_failures_respect_the_budget(self) -> None:
        """Logins in flight at the same moment cannot together exceed the per-e-mail budget."""
        arrived = threading.Barrier(10, timeout=0.5)

        class SlowHasher(CountingHasher):
            def verify(self, password_hash: str, password: str) -> bool:
                result = super().verify(password_hash, password)
                # hold every caller until all ten have arrived (or give up)
                with contextlib.suppress(threading.BrokenBarrierError):
                    arrived.wait()
                return result

        hasher = SlowHasher()
        accounts = in_memory_services(Settings(login_failures_per_email=3), hasher=hasher).accounts
        accounts.register("ann@example.com", SECRET, "Ann")
        outcomes: list[str] = []

        def guess(n: int) -> None:
            try:
                accounts.login("ann@example.com", f"guess number {n}", client="attacker")
            except (InvalidCredentials, TooManyAttempts) as exc:
                outcomes.append(type(exc).__name__)

        threads = [threading.Thread(target=guess, args=(n,)) for n in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert 3 == hasher.verifies
        assert ["InvalidCredentials"] * 3 + ["TooManyAttempts"] * 7 == sorted(outcomes)

    def test_outdated_hash_is_upgraded(self, clock: ManualClock) -> None:
        """A hash made with older parameters is replaced on the next successful login."""
        services = in_memory_services(clock=clock, hasher=FastPasswordHasher(version=1))
        user = services.accounts.register("ann@example.com", SECRET, "Ann")
        upgraded = attrs.evolve(services.accounts, hasher=FastPasswordHasher(version=2))
        upgraded.login("ann@example.com", SECRET)
        stored = upgraded.users.get(user.id)
        assert stored is not None
        assert stored.password_hash is not None
        assert stored.password_hash.startswith("sha256$2$")
        assert upgraded.login("ann@example.com", SECRET).claims.sub == user.id


class TestAuthenticate:
    def test_token_of_unknown_account(self, accounts: Accounts) -> None:
        """A validly signed token whose account does not exist is refused."""
        ghost = User("ghost", "g@example.com", "G", Plan.PRO, None, ManualClock().now())
        token = accounts.issuer.issue(ghost, accounts.clock.now()).token
        with pytest.raises(InvalidToken):
            accounts.authenticate(token)

    def test_expired_token(self, accounts: Accounts, ann: User, clock: ManualClock) -> None:
        """72 hours after login the token stops working."""
        token = accounts.login("ann@example.com", SECRET).token
        clock.advance(timedelta(hours=72))
        with pytest.raises(InvalidToken):
            accounts.authenticate(token)

    def test_password_change_revokes_tokens_with_opaque_tokens_too(
        self, clock: ManualClock
    ) -> None:
        """token_version is enforced by the use case, whatever the token adapter."""
        accounts = in_memory_services(clock=clock, jwt=False).accounts
        assert isinstance(accounts.verifier, InMemoryTokens)
        user = accounts.register("ann@example.com", SECRET, "Ann")
        token = accounts.login("ann@example.com", SECRET).token
        accounts.set_password(user.id, "another long secret")
        with pytest.raises(InvalidToken):
            accounts.authenticate(token)


class TestPlansAndOrigins:
    def test_set_plan(self, accounts: Accounts, ann: User) -> None:
        """set_plan finds the account case-insensitively and stores the new plan."""
        assert Plan.ENTERPRISE == accounts.set_plan("ANN@example.com", Plan.ENTERPRISE).plan
        assert Plan.ENTERPRISE == accounts.users.get(ann.id).plan  # type: ignore[union-attr]

    def test_unknown_account(self, accounts: Accounts) -> None:
        """Plan and origin changes of unknown e-mails raise UserNotFound."""
        with pytest.raises(UserNotFound):
            accounts.set_plan("nobody@example.com", Plan.PRO)
        with pytest.raises(UserNotFound):
            accounts.set_origins("nobody@example.com", frozenset())
        with pytest.raises(UserNotFound):
            accounts.set_password("nope", SECRET)

    def test_origins_are_normalised(self, accounts: Accounts, ann: User) -> None:
        """Registered origins are stored lower-case without a trailing slash."""
        user = accounts.set_origins("ann@example.com", frozenset({"HTTPS://App.Example/"}))
        assert frozenset({"https://app.example"}) == user.origins

    @given(origin=origins, data=st.data())
    def test_normalise_origin_is_idempotent_and_case_blind(
        self, origin: str, data: st.DataObject
    ) -> None:
        """Case and a trailing slash never matter."""
        variant = data.draw(case_variants(origin)) + data.draw(st.sampled_from(["", "/"]))
        assert normalise_origin(origin) == normalise_origin(variant)
        assert normalise_origin(origin) == normalise_origin(normalise_origin(origin))

    @pytest.mark.parametrize("bad", ["example.com", "https://a.example/path", ""])
    def test_not_an_origin(self, bad: str) -> None:
        """Values without a scheme or with a path are refused on the origin field."""
        with pytest.raises(InvalidInput):
            normalise_origin(bad)


def _user(plan: Plan, origins: frozenset[str] = frozenset()) -> User:
    return User("u", "u@example.com", "U", plan, None, ManualClock().now(), origins=origins)


class TestRequirePlan:
    @given(have=plans, need=plans)
    def test_server_side_calls_need_the_plan(self, have: Plan, need: Plan) -> None:
        """Without an Origin, the call passes exactly when the user's plan includes the needed one."""
        if have.includes(need):
            require_plan(_user(have), need)
        else:
            with pytest.raises(PlanRequired) as caught:
                require_plan(_user(have), need)
            assert need.value == caught.value.plan

    @given(have=plans, need=plans, origin=origins)
    def test_browser_calls_need_enterprise(self, have: Plan, need: Plan, origin: str) -> None:
        """With an Origin, anything below enterprise is refused with the enterprise plan named."""
        user = _user(have, frozenset({normalise_origin(origin)}))
        if have is Plan.ENTERPRISE:
            require_plan(user, need, origin)
        else:
            with pytest.raises(PlanRequired) as caught:
                require_plan(user, need, origin)
            assert "enterprise" == caught.value.plan

    @given(need=plans, registered=origins, asked=origins, data=st.data())
    def test_browser_calls_need_a_registered_origin(
        self, need: Plan, registered: str, asked: str, data: st.DataObject
    ) -> None:
        """An enterprise user passes from a registered origin (any case) and no other."""
        user = _user(Plan.ENTERPRISE, frozenset({normalise_origin(registered)}))
        require_plan(user, need, data.draw(case_variants(registered)))
        if normalise_origin(asked) != normalise_origin(registered):
            with pytest.raises(OriginNotAllowed):
                require_plan(user, need, asked)
