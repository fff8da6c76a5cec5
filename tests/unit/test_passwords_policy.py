"""The password policy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cropedly_core.errors import WeakPassword
from cropedly_core.passwords import _COMMON, MAX_LENGTH, MIN_LENGTH, check_password
from strategies import strong_passwords


class TestCheckPassword:
    @given(password=strong_passwords())
    def test_strong_passwords_pass(self, password: str) -> None:
        """Long-enough, varied, uncommon passwords are accepted."""
        check_password(password)

    @given(password=st.text(max_size=MIN_LENGTH - 1))
    def test_short_passwords_fail(self, password: str) -> None:
        """Anything under the minimum length is refused with the length as reason."""
        with pytest.raises(WeakPassword, match=str(MIN_LENGTH)):
            check_password(password)

    def test_length_bounds(self) -> None:
        """Exactly MIN_LENGTH and MAX_LENGTH pass; one more than MAX_LENGTH fails."""
        check_password("abcdefghi!"[:MIN_LENGTH])
        check_password(("abcd" * MAX_LENGTH)[:MAX_LENGTH])
        with pytest.raises(WeakPassword, match=str(MAX_LENGTH)):
            check_password(("abcd" * MAX_LENGTH)[: MAX_LENGTH + 1])

    @given(common=st.sampled_from(sorted(_COMMON)), data=st.data())
    def test_common_passwords_fail_in_any_case(self, common: str, data: st.DataObject) -> None:
        """Breach-list passwords are refused whatever their case."""
        variant = "".join(c.upper() if data.draw(st.booleans()) else c for c in common)
        with pytest.raises(WeakPassword, match="common"):
            check_password(variant)

    @given(chars=st.text(min_size=1, max_size=3), length=st.integers(MIN_LENGTH, 40))
    def test_repetitive_passwords_fail(self, chars: str, length: int) -> None:
        """Fewer than four distinct characters is too repetitive."""
        with pytest.raises(WeakPassword):
            check_password((chars * length)[:length])

    @pytest.mark.parametrize(
        ("password", "email", "name"),
        [
            ("xx-annabel-2024!", "annabel@example.com", ""),
            ("my ANNABEL pass 9", "annabel@example.com", ""),
            ("i am Bobby Tables!", "x@example.com", "bobby tables"),
        ],
    )
    def test_own_email_or_name_fails(self, password: str, email: str, name: str) -> None:
        """A password containing the e-mail's local part or the name is refused with that reason."""
        with pytest.raises(WeakPassword, match="e-mail or name"):
            check_password(password, email=email, name=name)

    def test_short_local_part_is_not_checked(self) -> None:
        """A 3-letter local part is too short to judge, so containing it is fine."""
        check_password("the bob zebra 42", email="bob@example.com", name="Bo")
