"""Origins are normalised to scheme://host[:port] and everything else is refused."""

from __future__ import annotations

import pytest

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
