"""Origins are normalised to scheme://host[:port] and everything else is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cropedly_core.accounts import normalise_origin, registrable_origin
from cropedly_core.errors import InvalidInput


class TestNormaliseOrigin:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("https://app.example.com", "https://app.example.com"),
            ("HTTPS://App.Example.COM/", "https://app.example.com"),
            ("https://app.example.com:443", "https://app.example.com"),
            ("http://app.example.com:80", "http://app.example.com"),
            ("http://app.example.com:443", "http://app.example.com:443"),
            ("https://app.example.com:8443", "https://app.example.com:8443"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
            ("https://BÜCHER.example:443/", "https://xn--bcher-kva.example"),
            ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
            ("http://[::1]:8000", "http://[::1]:8000"),
            ("  https://a.example  ", "https://a.example"),
        ],
    )
    def test_normal_form(self, raw: str, expected: str) -> None:
        assert expected == normalise_origin(raw)

    @pytest.mark.parametrize(
        "raw",
        [
            "null",
            "*",
            "https://*.example.com",
            "https://app.example.com/path",
            "https://app.example.com?q=1",
            "https://app.example.com#x",
            "https://user@app.example.com",
            "ftp://app.example.com",
            "file:///etc/passwd",
            "javascript://x",
            "app.example.com",
            "https://",
            "https://app.example.com:0",
            "https://app.example.com:99999",
            "https://app.example.com:http",
            "https://-bad-.example",
            "https://a..example",
            "https://" + "a" * 3000,
        ],
    )
    def test_refused(self, raw: str) -> None:
        with pytest.raises(InvalidInput):
            normalise_origin(raw)

    def test_null_is_never_registrable(self) -> None:
        assert None is registrable_origin("null")


LABEL = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", fullmatch=True)


@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "Https"]),
    labels=st.lists(LABEL, min_size=1, max_size=4),
    port=st.one_of(st.none(), st.integers(1, 65535)),
)
def test_normalising_is_idempotent_and_lower_case(
    scheme: str, labels: list[str], port: int | None
) -> None:
    """The normal form normalises to itself, so stored and incoming origins compare exactly."""
    raw = f"{scheme}://{'.'.join(labels)}" + ("" if port is None else f":{port}")
    once = normalise_origin(raw)
    assert once == normalise_origin(once)
    assert once == once.lower()
    default = {"http": 80, "https": 443}[scheme.lower()]
    assert (port in {None, default}) == (once.count(":") == 1)
