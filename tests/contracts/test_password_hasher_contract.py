"""The ``PasswordHasher`` contract: fast SHA-256 fake and argon2id with real parameters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cropedly_adapters.argon2_hasher import Argon2PasswordHasher
from cropedly_adapters.memory import FastPasswordHasher
from cropedly_core.ports import PasswordHasher

PASSWORD = "correct horse battery staple"
# Hashes made by other hashers or other parameters: never "ours".
FOREIGN_HASHES = [
    "sha256$99$abcd$00",
    "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObGmUqEgNWX6ac",
]
GARBAGE = ["", "$", "not a hash", "$argon2id$v=19$m=1$broken", "sha256$1$x"]


@pytest.fixture(scope="module", params=["fast", "argon2"])
def hasher(request: pytest.FixtureRequest) -> PasswordHasher:
    """Each adapter; argon2 runs with the production (OWASP) parameters."""
    if request.param == "fast":
        return FastPasswordHasher()
    return Argon2PasswordHasher()


@pytest.fixture(scope="module")
def stored(hasher: PasswordHasher) -> str:
    """One hash of ``PASSWORD``, shared so argon2 runs only a few times."""
    return hasher.hash(PASSWORD)


class TestPasswordHasherContract:
    def test_right_password_verifies(self, hasher: PasswordHasher, stored: str) -> None:
        """The password a hash was made from verifies against it."""
        assert hasher.verify(stored, PASSWORD) is True

    @pytest.mark.parametrize("wrong", ["", PASSWORD.upper(), PASSWORD + " ", PASSWORD[:-1]])
    def test_wrong_password_is_false_not_an_error(
        self, hasher: PasswordHasher, stored: str, wrong: str
    ) -> None:
        """A wrong password returns False rather than raising."""
        assert hasher.verify(stored, wrong) is False

    @pytest.mark.parametrize("garbage", GARBAGE)
    def test_garbage_hash_is_false_not_an_error(self, hasher: PasswordHasher, garbage: str) -> None:
        """A malformed stored hash never verifies and never raises."""
        assert hasher.verify(garbage, PASSWORD) is False

    def test_hashes_are_salted(self, hasher: PasswordHasher, stored: str) -> None:
        """Hashing the same password twice gives two different strings, both valid."""
        again = hasher.hash(PASSWORD)
        assert stored != again
        assert hasher.verify(again, PASSWORD) is True

    def test_hash_does_not_contain_the_password(self, stored: str) -> None:
        """The stored string does not reveal the password."""
        assert PASSWORD not in stored

    def test_fresh_hash_needs_no_rehash(self, hasher: PasswordHasher, stored: str) -> None:
        """A hash made with today's parameters is kept."""
        assert hasher.needs_rehash(stored) is False

    @pytest.mark.parametrize("other", [*FOREIGN_HASHES, "", "not a hash"])
    def test_foreign_or_garbage_hash_needs_rehash(self, hasher: PasswordHasher, other: str) -> None:
        """Hashes from other hashers or parameters (or no hash at all) are flagged for rehashing."""
        assert hasher.needs_rehash(other) is True

    @settings(max_examples=3, deadline=None)
    @given(password=st.text(max_size=300))
    def test_any_password_round_trips(self, hasher: PasswordHasher, password: str) -> None:
        """Any text, including empty and non-ASCII, verifies against its own hash only."""
        hashed = hasher.hash(password)
        assert hasher.verify(hashed, password) is True
        assert hasher.verify(hashed, password + "x") is False
