"""Password policy in the spirit of NIST SP 800-63B section 3.1.1.2.

At least ``MIN_LENGTH`` characters and no composition rules (no "one digit, one
symbol"): long passphrases are welcome. A password is refused when it is on the
breached-password list (the 30,000 most common passwords of the Xato corpus that
zxcvbn ships as package data), when the zxcvbn strength estimator can guess it
(score below ``MIN_SCORE``, judged in lower case), or when it contains the
account's e-mail or name.
The refusal says which rule failed, and zxcvbn's hint when it has one.
"""

from __future__ import annotations

from functools import cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from cropedly_core.errors import WeakPassword

MIN_LENGTH = 10
MAX_LENGTH = 256  # argon2 takes any length; a cap stops multi-megabyte "passwords"
# zxcvbn's own cap: its matching grows quickly with length (5 s at 256 repeated
# characters, 0.16 s at most at 72), so it judges the first 72 characters only.
ESTIMATED_LENGTH = 72
# 3 of 4: "safely unguessable, moderate protection from an offline slow-hash attack".
MIN_SCORE = 3


@cache
def breached() -> frozenset[str]:
    """The breached-password list, lower-cased (loaded once, on first use)."""
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password(password: str, *, email: str = "", name: str = "") -> None:
    """Raise ``WeakPassword`` with the reason when the password is refused."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"The password must have at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"The password must have at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in breached():
        raise WeakPassword("The password is too common: it is on a list of breached passwords.")
    if len(set(lowered)) < 4:
        raise WeakPassword("The password is too common or too repetitive.")
    local = email.split("@", 1)[0].lower()
    if (len(local) >= 4 and local in lowered) or (len(name) >= 4 and name.lower() in lowered):
        raise WeakPassword("The password must not contain your e-mail or name.")
    inputs = [value for value in (local, *name.lower().split()) if len(value) >= 3]
    # Judged in lower case: crackers try every capitalisation of a known password
    # first, so "QwErTyUiOp" is no safer than "qwertyuiop" (zxcvbn would credit it).
    verdict = zxcvbn(lowered[:ESTIMATED_LENGTH], user_inputs=inputs)
    if verdict["score"] < MIN_SCORE:
        hint = verdict["feedback"]["warning"] or "Add more words or characters."
        raise WeakPassword(
            f"The password is too easy to guess (strength {verdict['score']} of 4, "
            f"at least {MIN_SCORE} needed): {hint}"
        )
