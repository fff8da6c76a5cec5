"""Look-alike e-mails and names (security review, finding 7)."""
# ruff: noqa: RUF001 - look-alike characters are what these tests are about

from __future__ import annotations

import pytest

from cropedly_core.errors import EmailTaken, InvalidInput
from cropedly_core.users import normalise_email
from doubles import in_memory_services

PLAIN = "alice@example.com"
PASSWORD = "a long passphrase"

INVISIBLE = {
    "zero-width space": "alice\u200b@example.com",
    "zero-width joiner": "ali\u200dce@example.com",
    "soft hyphen": "ali\u00adce@example.com",
    "right-to-left mark": "alice\u200f@example.com",
    "bidi override": "\u202ealice@example.com",
    "NUL": "alice\x00@example.com",
    "BOM": "\ufeffalice@example.com",
}


@pytest.mark.parametrize("email", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_invisible_characters_are_refused(email):
    with pytest.raises(InvalidInput) as refused:
        normalise_email(email)
    assert "invisible or control" in refused.value.detail


def test_fullwidth_letters_fold_onto_the_plain_address():
    services = in_memory_services()
    services.accounts.register(PLAIN, PASSWORD, "Alice")
    with pytest.raises(EmailTaken):
        services.accounts.register("ａｌｉｃｅ@ｅｘａｍｐｌｅ.ｃｏｍ", PASSWORD, "Mallory")


def test_mixed_scripts_in_one_label_are_refused():
    with pytest.raises(InvalidInput, match="mixes alphabets"):
        normalise_email("\u0430lice@example.com")  # Cyrillic a


def test_other_scripts_alone_are_accepted():
    assert normalise_email("иван@пример.рф") == "иван@пример.рф"
    assert normalise_email("JÖSE@Example.de") == "jöse@example.de"


def test_an_oversized_email_is_refused_before_normalising():
    with pytest.raises(InvalidInput, match="too long"):
        normalise_email("a" * 10_000_000 + "@example.com")


@pytest.mark.parametrize("name", ["Bob\x00", "Bob\u202eevil", "Bob\x1b[31m", "\u2066Bob"])
def test_names_with_control_or_direction_characters_are_refused(name):
    with pytest.raises(InvalidInput) as refused:
        in_memory_services().accounts.register(PLAIN, PASSWORD, name)
    assert refused.value.field == "name"


def test_reset_mail_never_goes_to_a_look_alike():
    services = in_memory_services()
    services.accounts.register(PLAIN, PASSWORD, "Alice")
    for email in INVISIBLE.values():
        services.resets.request(email)  # refused silently, like an unknown e-mail
    services.resets.request("ＡＬＩＣＥ@example.com")
    outbox = services.resets.mailer
    assert [m.to for m in outbox.outbox] == [PLAIN]  # type: ignore[attr-defined]
