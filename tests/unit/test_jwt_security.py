"""Security properties of ``JwtTokens``: what a forged, stale or mangled token gets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey

from cropedly_adapters.jose_tokens import ALGORITHM, JwtTokens, load_or_create_keys, new_key
from cropedly_adapters.memory import ManualClock
from cropedly_core.errors import InvalidToken
from cropedly_core.users import Plan, User
from doubles import in_memory_services

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ISS, AUD = "cropedly", "cropedly-api"
ANN = User(
    id="u-0123456789abcdef",
    email="ann@example.com",
    name="Ann",
    plan=Plan.PRO,
    password_hash=None,
    created_at=NOW,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(unb64(header)), json.loads(unb64(payload)), signature


def encode_json(value: dict[str, Any]) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


@pytest.fixture(scope="module")
def key() -> OKPKey:
    return new_key()


@pytest.fixture(scope="module")
def tokens(key: OKPKey) -> JwtTokens:
    return JwtTokens([key], ISS, AUD)


@pytest.fixture(scope="module")
def token(tokens: JwtTokens) -> str:
    return tokens.issue(ANN, NOW).token


def sign(key: OKPKey, payload: dict[str, Any], **header: Any) -> str:
    """A token signed with ``key`` over any payload (a valid signature on chosen claims)."""
    head = {"alg": ALGORITHM, "typ": "JWT", "kid": key.kid, **header}
    return jwt.encode(head, payload, key, algorithms=[ALGORITHM])


def good_payload() -> dict[str, Any]:
    iat = int(NOW.timestamp())
    return {
        "sub": ANN.id,
        "name": "Ann",
        "authorities": ["ROLE_USER", "PLAN_PRO"],
        "iat": iat,
        "exp": iat + 72 * 3600,
        "iss": ISS,
        "aud": AUD,
        "jti": "j1",
        "ver": 0,
    }


class TestJwtShape:
    def test_header_is_ed25519_jwt_with_kid(
        self, tokens: JwtTokens, key: OKPKey, token: str
    ) -> None:
        """The header names typ=JWT, alg=Ed25519 and the signing key's kid."""
        header, _, _ = parts(token)
        assert {"typ": "JWT", "alg": "Ed25519", "kid": key.kid} == header

    def test_payload_claims(self, token: str) -> None:
        """The payload carries sub (the id, not the e-mail), name, authorities and the std claims."""
        _, payload, _ = parts(token)
        assert ANN.id == payload["sub"]
        assert "Ann" == payload["name"]
        assert ["ROLE_USER", "PLAN_PRO"] == payload["authorities"]
        assert {"sub", "name", "authorities", "iat", "exp", "iss", "aud", "jti"} <= payload.keys()
        assert (ISS, AUD) == (payload["iss"], payload["aud"])
        assert "ann@example.com" not in json.dumps(payload)

    def test_exp_is_iat_plus_72_hours_exactly(self, token: str) -> None:
        """exp - iat is 259 200 seconds and iat is the issue time."""
        _, payload, _ = parts(token)
        assert int(NOW.timestamp()) == payload["iat"]
        assert 72 * 3600 == payload["exp"] - payload["iat"]

    def test_hand_signed_good_payload_verifies(self, tokens: JwtTokens, key: OKPKey) -> None:
        """The forging helper is sound: a correct payload signed with our key is accepted."""
        assert ANN.id == tokens.verify(sign(key, good_payload()), NOW).sub


class TestJwtForgery:
    def test_tampered_payload(self, tokens: JwtTokens, token: str) -> None:
        """Raising one's plan in the payload breaks the signature."""
        header, payload, signature = token.split(".")
        claims = json.loads(unb64(payload))
        claims["authorities"] = ["ROLE_ADMIN", "ROLE_USER", "PLAN_ENTERPRISE"]
        with pytest.raises(InvalidToken):
            tokens.verify(f"{header}.{encode_json(claims)}.{signature}", NOW)

    def test_tampered_signature(self, tokens: JwtTokens, token: str) -> None:
        """Flipping one bit of the signature is detected."""
        header, payload, signature = token.split(".")
        raw = bytearray(unb64(signature))
        raw[0] ^= 1
        with pytest.raises(InvalidToken):
            tokens.verify(f"{header}.{payload}.{b64(bytes(raw))}", NOW)

    @pytest.mark.parametrize("alg", ["none", "None", "NONE"])
    def test_alg_none(self, tokens: JwtTokens, key: OKPKey, alg: str) -> None:
        """Unsigned tokens are refused whatever the spelling of 'none'."""
        header = encode_json({"alg": alg, "typ": "JWT", "kid": key.kid})
        body = encode_json(good_payload())
        for forged in (f"{header}.{body}.", f"{header}.{body}.{b64(b'x')}"):
            with pytest.raises(InvalidToken):
                tokens.verify(forged, NOW)

    @pytest.mark.parametrize("form", ["pem", "raw", "jwk-x"])
    def test_hs256_signed_with_the_public_key(
        self, tokens: JwtTokens, key: OKPKey, form: str
    ) -> None:
        """The algorithm-confusion attack (HMAC keyed with the public key) fails."""
        secret = {
            "pem": key.as_pem(private=False),
            "raw": unb64(key.as_dict(private=False)["x"]),
            "jwk-x": key.as_dict(private=False)["x"].encode(),
        }[form]
        signing_input = (
            f"{encode_json({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}."
            f"{encode_json(good_payload())}"
        )
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        with pytest.raises(InvalidToken):
            tokens.verify(f"{signing_input}.{b64(mac)}", NOW)

    @pytest.mark.parametrize("same_kid", [True, False])
    def test_foreign_ed25519_key(self, tokens: JwtTokens, key: OKPKey, same_kid: bool) -> None:
        """A well-formed token signed by another Ed25519 key is refused, even under our kid."""
        kid = key.kid if same_kid else "20990101000000-deadbeef"
        foreign = OKPKey.generate_key("Ed25519", parameters={"kid": kid})
        with pytest.raises(InvalidToken):
            tokens.verify(sign(foreign, good_payload()), NOW)
        with pytest.raises(InvalidToken):
            tokens.verify(JwtTokens([foreign], ISS, AUD).issue(ANN, NOW).token, NOW)

    @pytest.mark.parametrize("header", [{"typ": "at+jwt"}, {"kid": "unknown"}])
    def test_unexpected_header(
        self, tokens: JwtTokens, key: OKPKey, header: dict[str, str]
    ) -> None:
        """Our own signature under a header we never issue (other typ or kid) is refused."""
        with pytest.raises(InvalidToken):
            tokens.verify(sign(key, good_payload(), **header), NOW)


class TestJwtClaimsChecks:
    def test_expired(self, tokens: JwtTokens) -> None:
        """A token issued 72 h and 1 s ago has expired."""
        old = tokens.issue(ANN, NOW - timedelta(hours=72, seconds=1)).token
        with pytest.raises(InvalidToken, match="expired"):
            tokens.verify(old, NOW)

    def test_iat_in_the_future(self, tokens: JwtTokens) -> None:
        """A token issued an hour from now is refused; a few seconds of skew are tolerated."""
        with pytest.raises(InvalidToken):
            tokens.verify(tokens.issue(ANN, NOW + timedelta(hours=1)).token, NOW)
        assert ANN.id == tokens.verify(tokens.issue(ANN, NOW + timedelta(seconds=5)).token, NOW).sub

    def test_lifetime_longer_than_72_hours(self, tokens: JwtTokens, key: OKPKey) -> None:
        """Even correctly signed, a token whose exp is not iat + 72 h is refused."""
        payload = good_payload()
        payload["exp"] += 3600
        with pytest.raises(InvalidToken):
            tokens.verify(sign(key, payload), NOW)

    @pytest.mark.parametrize(("claim", "value"), [("iss", "someone-else"), ("aud", "other-api")])
    def test_wrong_issuer_or_audience(
        self, tokens: JwtTokens, key: OKPKey, claim: str, value: str
    ) -> None:
        """Our key's signature does not make a token for another service acceptable."""
        payload = {**good_payload(), claim: value}
        with pytest.raises(InvalidToken):
            tokens.verify(sign(key, payload), NOW)
        other = JwtTokens(
            [key],
            **{"issuer": ISS, "audience": AUD, {"iss": "issuer", "aud": "audience"}[claim]: value},
        )
        with pytest.raises(InvalidToken):
            tokens.verify(other.issue(ANN, NOW).token, NOW)

    @pytest.mark.parametrize(
        "claim", ["sub", "name", "authorities", "iat", "exp", "iss", "aud", "jti", "ver"]
    )
    def test_missing_claim(self, tokens: JwtTokens, key: OKPKey, claim: str) -> None:
        """A signed token lacking any required claim is refused."""
        payload = good_payload()
        del payload[claim]
        with pytest.raises(InvalidToken):
            tokens.verify(sign(key, payload), NOW)

    @pytest.mark.parametrize(
        ("claim", "value"), [("exp", "soon"), ("iat", None), ("authorities", 5), ("ver", "x")]
    )
    def test_mistyped_claim(
        self, tokens: JwtTokens, key: OKPKey, claim: str, value: object
    ) -> None:
        """Claims of the wrong type raise InvalidToken, not TypeError or ValueError."""
        with pytest.raises(InvalidToken):
            tokens.verify(sign(key, {**good_payload(), claim: value}), NOW)

    @pytest.mark.parametrize(
        "bad",
        [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "!!!.@@@.###",
            "é.é.é",
            "eyJhbGciOiJFZDI1NTE5In0.e30",
            "eyJ.eyJ.sig",
            "a." * 5000 + "b",
            "a" * 9000 + ".b.c",
            "a" * 4000 + "." + "b" * 4000 + ".c",
        ],
        ids=lambda s: s[:20] if len(s) < 30 else f"len{len(s)}",
    )
    def test_malformed(self, tokens: JwtTokens, bad: str) -> None:
        """Malformed strings of any size raise InvalidToken and nothing else."""
        with pytest.raises(InvalidToken):
            tokens.verify(bad, NOW)


class TestTokenVersion:
    def test_password_change_revokes_older_tokens(self) -> None:
        """Accounts.authenticate refuses a token issued before the password changed."""
        clock = ManualClock(NOW)
        accounts = in_memory_services(clock=clock).accounts
        user = accounts.register("ann@example.com", "first long secret", "Ann")
        old = accounts.login("ann@example.com", "first long secret").token
        assert user.id == accounts.authenticate(old).id
        clock.advance(timedelta(minutes=1))
        accounts.set_password(user.id, "second long secret")
        with pytest.raises(InvalidToken):
            accounts.authenticate(old)
        new = accounts.login("ann@example.com", "second long secret").token
        assert user.id == accounts.authenticate(new).id


class TestKeyFiles:
    def test_key_file_is_private(self, tmp_path: Path) -> None:
        """The first start writes one PEM key with mode 0600 in a 0700 folder."""
        folder = tmp_path / "keys"
        load_or_create_keys(folder)
        files = list(folder.glob("*.pem"))
        assert 1 == len(files)
        assert 0o600 == stat.S_IMODE(files[0].stat().st_mode)
        assert 0 == stat.S_IMODE(folder.stat().st_mode) & 0o077  # no group/other access

    def test_key_is_reused_on_restart(self, tmp_path: Path) -> None:
        """A restart loads the same key, so tokens issued before it still verify."""
        folder = tmp_path / "keys"
        first = JwtTokens(load_or_create_keys(folder), ISS, AUD)
        token = first.issue(ANN, NOW).token
        second = JwtTokens(load_or_create_keys(folder), ISS, AUD)
        assert 1 == len(list(folder.glob("*.pem")))
        assert first.jwks() == second.jwks()
        assert ANN.id == second.verify(token, NOW).sub

    def test_rotation(self, tmp_path: Path) -> None:
        """With two keys the newest signs and both verify; removing the old one revokes its tokens."""
        folder = tmp_path / "keys"
        folder.mkdir()
        old_key = OKPKey.generate_key("Ed25519", parameters={"kid": "20250101000000-0ld0"})
        new_key_ = OKPKey.generate_key("Ed25519", parameters={"kid": "20260101000000-new0"})
        (folder / "20250101000000-0ld0.pem").write_bytes(old_key.as_pem(private=True))
        old_token = JwtTokens(load_or_create_keys(folder), ISS, AUD).issue(ANN, NOW).token
        (folder / "20260101000000-new0.pem").write_bytes(new_key_.as_pem(private=True))
        rotated = JwtTokens(load_or_create_keys(folder), ISS, AUD)
        assert "20260101000000-new0" == parts(rotated.issue(ANN, NOW).token)[0]["kid"]
        assert ANN.id == rotated.verify(old_token, NOW).sub
        assert {"20250101000000-0ld0", "20260101000000-new0"} == {
            k["kid"] for k in rotated.jwks()["keys"]
        }
        (folder / "20250101000000-0ld0.pem").unlink()
        with pytest.raises(InvalidToken):
            JwtTokens(load_or_create_keys(folder), ISS, AUD).verify(old_token, NOW)

    def test_jwks_has_public_keys_only(self, tokens: JwtTokens) -> None:
        """The published key set has no private part ('d')."""
        for published in tokens.jwks()["keys"]:
            assert "d" not in published
            assert ("OKP", "Ed25519", "Ed25519", "sig") == (
                published["kty"],
                published["crv"],
                published["alg"],
                published["use"],
            )
