"""Password policy: long enough, not common, not the account's own name."""

from __future__ import annotations

from cropedly_core.errors import WeakPassword

MIN_LENGTH = 10
MAX_LENGTH = 256  # argon2 takes any length; a cap stops multi-megabyte "passwords"

# The most common passwords of public breach corpora that pass the length rule,
# lower-cased; the length rule already removes the shorter ones.
_COMMON = frozenset(
    [
        "1234567890",
        "12345678910",
        "0123456789",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "qwertyuiop",
        "password12",
        "password123",
        "password1234",
        "passw0rd123",
        "iloveyou12",
        "princess12",
        "qwerty1234",
        "qwerty12345",
        "qwertyuiop1",
        "abcdefghij",
        "abc1234567",
        "1111111111",
        "0000000000",
        "9876543210",
        "asdfghjkl1",
        "zxcvbnm123",
        "football12",
        "baseball12",
        "superman12",
        "sunshine12",
        "dragon1234",
        "letmein123",
        "welcome123",
        "monkey1234",
        "trustno1234",
        "computer12",
        "internet12",
        "starwars12",
        "whatever12",
        "adminadmin",
        "administrator",
        "changeme123",
        "123qweasdzxc",
        "qazwsxedcrfv",
        "1q2w3e4r5t6y",
        "password!!",
        "p@ssw0rd123",
        "passwordpassword",
        "12345qwert",
        "qwert12345",
    ]
)


def check_password(password: str, *, email: str = "", name: str = "") -> None:
    """Raise ``WeakPassword`` with the reason when the password is refused."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"The password must have at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"The password must have at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in _COMMON or len(set(lowered)) < 4:
        raise WeakPassword("The password is too common or too repetitive.")
    local = email.split("@", 1)[0].lower()
    if (len(local) >= 4 and local in lowered) or (len(name) >= 4 and name.lower() in lowered):
        raise WeakPassword("The password must not contain your e-mail or name.")
