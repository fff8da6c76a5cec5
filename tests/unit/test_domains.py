"""Registered browser domains: Enterprise only, normalised, bounded, ids derived from origins."""

from __future__ import annotations

import pytest

from cropedly_core.domains import Domains, TooManyDomains, domain_id
from cropedly_core.errors import InvalidInput, NotFound, PlanRequired
from cropedly_core.users import Plan, User
from doubles import in_memory_services
from imaging import PASSWORD


def account(plan: Plan = Plan.ENTERPRISE) -> tuple[Domains, User]:
    services = in_memory_services()
    user = services.accounts.register(f"{plan.value}@example.com", PASSWORD, "D", plan)
    return Domains(services.accounts, max_per_account=2), user


class TestDomains:
    def test_added_origins_are_normalised_and_listed(self) -> None:
        domains, user = account()
        added = domains.add(user, "HTTPS://Shop.Example:443/")
        assert ("https://shop.example", domain_id("https://shop.example")) == (
            added.origin,
            added.id,
        )
        assert [added] == domains.list(domains.by_email(user.email))

    def test_adding_again_is_not_an_error_and_not_counted_twice(self) -> None:
        domains, user = account()
        for _ in range(3):
            domains.add(user, "https://a.example")
        assert 1 == len(domains.list(domains.by_email(user.email)))

    def test_at_most_the_configured_number(self) -> None:
        domains, user = account()
        domains.add(user, "https://a.example")
        domains.add(user, "https://b.example")
        with pytest.raises(TooManyDomains):
            domains.add(user, "https://c.example")

    @pytest.mark.parametrize(
        "origin", ["null", "https://*.example", "https://a.example/app", "ws://a.example"]
    )
    def test_refused_origins(self, origin: str) -> None:
        domains, user = account()
        with pytest.raises(InvalidInput):
            domains.add(user, origin)

    def test_removed_by_id_or_by_origin(self) -> None:
        domains, user = account()
        first = domains.add(user, "https://a.example")
        domains.add(user, "https://b.example")
        assert first == domains.remove(user, first.id)
        assert "https://b.example" == domains.remove(user, "HTTPS://B.EXAMPLE").origin
        assert [] == domains.list(domains.by_email(user.email))

    def test_unknown_ids_are_not_found(self) -> None:
        domains, user = account()
        with pytest.raises(NotFound):
            domains.remove(user, "abc")

    @pytest.mark.parametrize("plan", [Plan.FREE, Plan.PRO])
    def test_enterprise_only(self, plan: Plan) -> None:
        domains, user = account(plan)
        with pytest.raises(PlanRequired):
            domains.add(user, "https://a.example")
        with pytest.raises(PlanRequired):
            domains.list(user)
