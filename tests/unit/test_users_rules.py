"""Core rules of users: e-mail normalisation, plan ordering, authorities."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cropedly_core.errors import InvalidInput
from cropedly_core.users import Plan, Role, authorities_for, normalise_email
from strategies import case_variants, emails, padded, plans, roles


class TestNormaliseEmail:
    @given(email=emails())
    def test_idempotent(self, email: str) -> None:
        """Normalising a normalised e-mail changes nothing."""
        once = normalise_email(email)
        assert once == normalise_email(once)

    @given(data=st.data(), email=emails())
    def test_case_and_padding_do_not_matter(self, data: st.DataObject, email: str) -> None:
        """Any case variant, with surrounding whitespace, normalises to the same address."""
        variant = data.draw(case_variants(email).flatmap(padded))
        assert normalise_email(email) == normalise_email(variant)

    @given(email=emails())
    def test_result_is_lower_case_and_trimmed(self, email: str) -> None:
        """The stored form is lower-case without surrounding whitespace."""
        normalised = normalise_email(f"  {email}\n")
        assert email.lower() == normalised

    @given(raw=st.text(max_size=400))
    def test_any_text_is_normalised_or_refused(self, raw: str) -> None:
        """Arbitrary text gives a fixed point or InvalidInput on the email field, nothing else."""
        try:
            normalised = normalise_email(raw)
        except InvalidInput as exc:
            field = exc.field
            assert "email" == field
            return
        assert normalised == normalise_email(normalised)

    @pytest.mark.parametrize(
        "bad",
        [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@@example.com",
            "a b@example.com",
            "ann@example.c",
            "x" * 65 + "@example.com",
            "ann@" + "d" * 320 + ".com",
        ],
    )
    def test_invalid_addresses_are_refused(self, bad: str) -> None:
        """Malformed or oversized addresses raise InvalidInput naming the email field."""
        with pytest.raises(InvalidInput) as caught:
            normalise_email(bad)
        assert "email" == caught.value.field


class TestPlan:
    def test_order(self) -> None:
        """free < pro < enterprise."""
        assert [Plan.FREE, Plan.PRO, Plan.ENTERPRISE] == sorted(Plan, key=lambda p: p.rank)

    @given(a=plans, b=plans)
    def test_includes_follows_rank(self, a: Plan, b: Plan) -> None:
        """A plan includes another exactly when it ranks at least as high."""
        assert (a.rank >= b.rank) == a.includes(b)

    @given(a=plans, b=plans)
    def test_includes_is_a_total_order(self, a: Plan, b: Plan) -> None:
        """Reflexive, total, and antisymmetric."""
        assert a.includes(a)
        assert a.includes(b) or b.includes(a)
        if a.includes(b) and b.includes(a):
            assert a == b

    @given(a=plans, b=plans, c=plans)
    def test_includes_is_transitive(self, a: Plan, b: Plan, c: Plan) -> None:
        """If a includes b and b includes c then a includes c."""
        if a.includes(b) and b.includes(c):
            assert a.includes(c)


class TestAuthorities:
    @given(plan=plans, extra=roles)
    def test_shape(self, plan: Plan, extra: frozenset[Role]) -> None:
        """Sorted roles always including ROLE_USER, then exactly one PLAN_ authority last."""
        authorities = authorities_for(plan, extra)
        *role_names, plan_name = authorities
        assert f"PLAN_{plan.value.upper()}" == plan_name
        assert sorted(role_names) == role_names
        assert "ROLE_USER" in role_names
        assert len(set(authorities)) == len(authorities)
        assert {r.value for r in extra | {Role.USER}} == set(role_names)

    def test_example(self) -> None:
        """An admin on Pro gets the documented authorities."""
        assert ["ROLE_ADMIN", "ROLE_USER", "PLAN_PRO"] == authorities_for(
            Plan.PRO, frozenset({Role.ADMIN})
        )
