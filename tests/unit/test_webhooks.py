"""The callback URL policy (SSRF) and the webhook signature; no traffic is sent."""

from __future__ import annotations

import pytest

from cropedly_core.errors import InvalidInput
from cropedly_core.webhooks import (
    MAX_URL_LENGTH,
    account_secret,
    checked_addresses,
    parse_callback_url,
    refusal,
    signature,
    verify,
)

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.9.9.9", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("fd00::1", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("fe80::1%eth0", "link-local"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "not public"),  # carrier-grade NAT
    ("192.0.2.10", "private"),  # documentation
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:10.0.0.1", "private"),
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    assert why == refusal(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(address) is None


def resolver(*addresses: str):
    return lambda host, port: list(addresses)


def test_one_private_address_among_public_ones_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        checked_addresses("https://hooks.example/x", resolver("8.8.8.8", "10.0.0.1"))
    assert "callbackUrl" == refused.value.field
    assert "private" in refused.value.detail


def test_the_operator_may_allow_private_addresses() -> None:
    parts, addresses = checked_addresses(
        "http://hooks.internal:8080/x", resolver("10.0.0.1"), allow_private=True
    )
    assert ("hooks.internal", 8080, ["10.0.0.1"]) == (parts.hostname, parts.port, addresses)


def test_a_host_that_does_not_resolve_is_refused() -> None:
    def fails(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(InvalidInput, match="does not resolve"):
        checked_addresses("https://nowhere.example/", fails)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example/x",
        "file:///etc/passwd",
        "gopher://hooks.example/",
        "https:///no-host",
        "https://user:pass@hooks.example/",
        "https://hooks.example:99999/",
        "https://hooks.example/a b",
        "https://hooks.éxample/",
        "https://hooks.example/" + "a" * MAX_URL_LENGTH,
        "javascript:alert(1)",
    ],
)
def test_malformed_callback_urls_are_refused_by_name(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_callback_url(url)
    assert "callbackUrl" == refused.value.field


def test_a_signature_verifies_and_nothing_else_does() -> None:
    secret = account_secret(b"k" * 32, "account-1")
    body = b'{"id":"j1","status":"succeeded"}'
    header = signature(secret, 1_800_000_000, body)
    assert header.startswith("t=1800000000,v1=")
    assert verify(secret, header, body, now=1_800_000_010)
    assert not verify(secret, header, body + b" ", now=1_800_000_010)  # body changed
    assert not verify(account_secret(b"k" * 32, "account-2"), header, body, now=1_800_000_010)
    assert not verify(secret, header, body, now=1_800_000_000 + 3600)  # replayed later
    assert not verify(secret, "v1=abc", body, now=1_800_000_000)


def test_secrets_are_per_account_and_follow_the_server_key() -> None:
    assert account_secret(b"a" * 32, "u1") != account_secret(b"a" * 32, "u2")
    assert account_secret(b"a" * 32, "u1") != account_secret(b"b" * 32, "u1")
    assert account_secret(b"a" * 32, "u1") == account_secret(b"a" * 32, "u1")
