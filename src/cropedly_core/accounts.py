"""Account use cases: register, log in, authenticate, manage plans and passwords."""

from __future__ import annotations

import re
from datetime import timedelta

import attrs

from cropedly_core.errors import (
    CurrentPasswordWrong,
    EmailTaken,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    OriginNotAllowed,
    PlanRequired,
    TooManyAttempts,
    UserNotFound,
)
from cropedly_core.passwords import MAX_LENGTH as MAX_PASSWORD_LENGTH
from cropedly_core.passwords import check_password
from cropedly_core.ports import (
    Clock,
    IdGenerator,
    PasswordHasher,
    TokenIssuer,
    TokenVerifier,
    UserRepository,
)
from cropedly_core.throttle import LoginThrottle, RateLimit
from cropedly_core.tokens import TokenGrant
from cropedly_core.users import (
    MAX_EMAIL_LENGTH,
    Plan,
    Role,
    User,
    clean_name,
    normalise_email,
)

MAX_NAME_LENGTH = 200


@attrs.define
class Accounts:
    """The account use cases, built from ports by the composition root."""

    users: UserRepository
    hasher: PasswordHasher
    issuer: TokenIssuer
    verifier: TokenVerifier
    clock: Clock
    ids: IdGenerator
    throttle: LoginThrottle = attrs.field(factory=LoginThrottle)
    signups: RateLimit = attrs.field(factory=lambda: RateLimit("signup", 10, timedelta(hours=1)))
    _dummy_hash: str | None = attrs.field(default=None, init=False)

    def register(
        self,
        email: str,
        password: str | None,
        name: str,
        plan: Plan = Plan.FREE,
        *,
        roles: frozenset[Role] = frozenset({Role.USER}),
        client: str | None = None,
    ) -> User:
        """Create an account; ``password=None`` is a Google sign-in account.

        Sign-ups through the API pass their ``client`` address and are rate limited
        per address: ``EmailTaken`` tells a stranger that an address has an account,
        and the limit keeps that from becoming a fast enumeration (docs/security.md).
        """
        if client is not None:
            wait = self.signups.take(client, self.clock.now())
            if wait:
                raise TooManyAttempts(wait, "Too many sign-ups from this address")
        normalised = normalise_email(email)
        clean_name = _check_name(name)
        if password is not None:
            check_password(password, email=normalised, name=clean_name)
        if self.users.get_by_email(normalised) is not None:
            raise EmailTaken("An account with this e-mail already exists.")
        user = User(
            id=self.ids.new_id(),
            email=normalised,
            name=clean_name,
            plan=plan,
            password_hash=None if password is None else self.hasher.hash(password),
            created_at=self.clock.now(),
            roles=roles | {Role.USER},
        )
        self.users.add(user)
        return user

    def login(self, email: str, password: str, client: str = "unknown") -> TokenGrant:
        """Exchange e-mail and password for a token.

        Unknown e-mails, wrong passwords and password-less accounts all raise the
        same ``InvalidCredentials`` after one hash computation, so neither the
        answer nor its timing tells which e-mails exist.
        """
        now = self.clock.now()
        try:
            key = normalise_email(email)
        except InvalidInput:
            # Never an account's e-mail, but throttled and timed like one.
            key = email[: 4 * MAX_EMAIL_LENGTH].strip().lower()
        if len(password) > MAX_PASSWORD_LENGTH:
            password = ""  # never a stored password (the policy caps them); same work follows
        # Reserved atomically with the check, so logins in flight at the same time
        # cannot together overrun the budget.
        wait = self.throttle.reserve(key, client, now)
        if wait:
            raise TooManyAttempts(wait)
        try:
            user = self.users.get_by_email(key) if password else None
            if user is None or user.password_hash is None:
                self.hasher.verify(self._dummy(), password)
                self.throttle.record_failure(key, client, now)
                raise InvalidCredentials
            if not self.hasher.verify(user.password_hash, password):
                self.throttle.record_failure(key, client, now)
                raise InvalidCredentials
        finally:
            self.throttle.release(key, client)
        self.throttle.record_success(key)
        if self.hasher.needs_rehash(user.password_hash):
            user = attrs.evolve(user, password_hash=self.hasher.hash(password))
            self.users.update(user)
        return self.issuer.issue(user, now)

    def authenticate(self, token: str) -> User:
        """The user a bearer token stands for; raises ``InvalidToken``."""
        claims = self.verifier.verify(token, self.clock.now())
        user = self.users.get(claims.sub)
        if user is None:
            raise InvalidToken("The token's account no longer exists.")
        if claims.token_version != user.token_version:
            raise InvalidToken("The token was issued before the password last changed.")
        return user

    def set_password(self, user_id: str, password: str) -> User:
        """Set a new password (also for Google accounts); older tokens stop working."""
        user = self._get(user_id)
        check_password(password, email=user.email, name=user.name)
        updated = attrs.evolve(
            user,
            password_hash=self.hasher.hash(password),
            token_version=user.token_version + 1,
        )
        self.users.update(updated)
        return updated

    def change_password(
        self, user: User, current: str, new: str, client: str = "unknown"
    ) -> TokenGrant:
        """A signed-in user's new password; every older token stops working.

        The current password is checked under the login throttle: a stolen token
        must not become a way to guess the password behind it. Accounts without a
        password (Google sign-in) set their first one through forgot-password.
        """
        now = self.clock.now()
        if user.password_hash is None:
            raise CurrentPasswordWrong(
                "This account has no password yet: set one through forgot-password."
            )
        wait = self.throttle.reserve(user.email, client, now)
        if wait:
            raise TooManyAttempts(wait)
        try:
            right = len(current) <= MAX_PASSWORD_LENGTH and self.hasher.verify(
                user.password_hash, current
            )
            if not right:
                self.throttle.record_failure(user.email, client, now)
                raise CurrentPasswordWrong("The current password is not correct.")
        finally:
            self.throttle.release(user.email, client)
        self.throttle.record_success(user.email)
        return self.issuer.issue(self.set_password(user.id, new), now)

    def set_plan(self, email: str, plan: Plan) -> User:
        user = self.users.get_by_email(normalise_email(email))
        if user is None:
            raise UserNotFound(f"No account with e-mail {email!r}.")
        updated = attrs.evolve(user, plan=plan)
        self.users.update(updated)
        return updated

    def set_origins(self, email: str, origins: frozenset[str]) -> User:
        user = self.users.get_by_email(normalise_email(email))
        if user is None:
            raise UserNotFound(f"No account with e-mail {email!r}.")
        updated = attrs.evolve(user, origins=frozenset(normalise_origin(o) for o in origins))
        self.users.update(updated)
        return updated

    def origin_allowed(self, origin: str) -> bool:
        """Whether some Enterprise account registered this browser origin (for CORS)."""
        normalised = registrable_origin(origin)
        if normalised is None:
            return False
        return any(u.plan.includes(Plan.ENTERPRISE) for u in self.users.with_origin(normalised))

    def _get(self, user_id: str) -> User:
        user = self.users.get(user_id)
        if user is None:
            raise UserNotFound("No such account.")
        return user

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash("dummy password for timing parity")
        return self._dummy_hash


def require_plan(user: User, plan: Plan, origin: str | None = None) -> None:
    """Check the plan rules of the API.

    Server-side calls need at least ``plan`` (Pro for the API). Browser calls,
    recognised by their ``Origin`` header, need Enterprise and a registered origin.
    ``null`` (sandboxed frames, ``file:`` and ``data:`` pages) is a browser call from
    an origin that can never be registered.
    """
    if origin is not None:
        if not user.plan.includes(Plan.ENTERPRISE):
            raise PlanRequired(
                Plan.ENTERPRISE.value,
                "Calls from a browser (requests with an Origin) need the enterprise plan.",
            )
        if registrable_origin(origin) not in user.origins:
            raise OriginNotAllowed(
                f"The origin {origin[:200]!r} is not registered for this account "
                "(register it under /account/v1/domains)."
            )
    if not user.plan.includes(plan):
        raise PlanRequired(plan.value)


def registrable_origin(origin: str) -> str | None:
    """The normalised origin, or None for one no account can register (``null``, junk)."""
    try:
        return normalise_origin(origin)
    except InvalidInput:
        return None


MAX_ORIGIN_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise_origin(origin: str) -> str:
    """``scheme://host[:port]``: lower case, default port dropped, IDN host in punycode.

    Browsers send origins in this form already; accounts type them in any form
    (``https://Bücher.example:443/``) and are matched exactly after this. Refused:
    ``null``, wildcards, user info, paths, queries, fragments and schemes other
    than http and https.
    """
    if len(origin) > MAX_ORIGIN_LENGTH:
        raise InvalidInput("The origin is too long.", "origin")
    value = origin.strip()
    scheme, sep, rest = value.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        raise InvalidInput(
            f"Not an origin: {origin[:200]!r} (expected http(s)://host[:port]).", "origin"
        )
    rest = rest.removesuffix("/")
    if any(c in rest for c in "/?#@\\*") or not rest:
        raise InvalidInput(
            f"Not an origin: {origin[:200]!r} (no path, query, user, or wildcard).", "origin"
        )
    host, port = _split_port(rest, origin)
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidInput(f"Not a valid host name: {host[:200]!r}.", "origin") from None
    if not _valid_host(ascii_host):
        raise InvalidInput(f"Not a valid host name: {host[:200]!r}.", "origin")
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{ascii_host}"
    return f"{scheme}://{ascii_host}:{port}"


def _split_port(rest: str, origin: str) -> tuple[str, int | None]:
    if rest.startswith("["):  # an IPv6 literal: [::1]:8080
        host, _, tail = rest.partition("]")
        host += "]"
        if tail and not tail.startswith(":"):
            raise InvalidInput(f"Not an origin: {origin[:200]!r}.", "origin")
        raw_port = tail[1:] if tail else ""
    else:
        host, _, raw_port = rest.partition(":")
    if not raw_port:
        return host, None
    if not (raw_port.isascii() and raw_port.isdecimal() and len(raw_port) <= 5):
        raise InvalidInput(f"Not a valid port in {origin[:200]!r}.", "origin")
    port = int(raw_port)
    if not 1 <= port <= 65535:
        raise InvalidInput(f"Not a valid port in {origin[:200]!r}.", "origin")
    return host, port


def _valid_host(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        return len(host) > 2 and all(c in "0123456789abcdef:." for c in host[1:-1])
    labels = host.split(".")
    return len(host) <= 253 and all(_HOST_LABEL.match(label) for label in labels)


def _check_name(name: str) -> str:
    return clean_name(name, MAX_NAME_LENGTH)
