"""The standard-library JWT code against ``cryptography`` (test-only): RS256 both ways, PEM keys,
OIDC discovery and the JWKS rules. Fake HTTP answers come from an injected opener: no sockets."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from release_api import tokens
from tests.release_api_fakes import b64url, jwk, sign_rs256

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ISSUER = "https://login.example.com/oauth2/default"


def test_rs256_agrees_with_cryptography_both_ways() -> None:
    numbers = KEY.public_key().public_numbers()
    public = tokens.RsaPublicKey(numbers.n, numbers.e)
    signature = sign_rs256(KEY, b"header.payload")
    assert tokens.rs256_verify(public, b"header.payload", signature)
    assert not tokens.rs256_verify(public, b"header.payload!", signature)
    assert not tokens.rs256_verify(public, b"header.payload", signature[:-1])
    tampered = bytes([signature[0] ^ 1]) + signature[1:]
    assert not tokens.rs256_verify(public, b"header.payload", tampered)
    for fmt in (serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8):
        pem = KEY.private_bytes(serialization.Encoding.PEM, fmt,
                                serialization.NoEncryption()).decode()  # fmt: skip
        ours = tokens.rs256_sign(tokens.load_private_key(pem), b"app jwt")
        KEY.public_key().verify(ours, b"app jwt", padding.PKCS1v15(), hashes.SHA256())
        with pytest.raises(InvalidSignature):
            KEY.public_key().verify(ours, b"other", padding.PKCS1v15(), hashes.SHA256())


def test_private_key_errors_are_specific() -> None:
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()  # fmt: skip
    for pem, phrase in (("nonsense", "not a PEM block"),
                        (ec_pem, "not an RSA key"),
                        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
                         "expected an RSA PRIVATE KEY")):  # fmt: skip
        with pytest.raises(ValueError, match=phrase):
            tokens.load_private_key(pem)


class Opener:
    """Answers urllib requests from a dict of URL -> JSON document; counts calls."""

    def __init__(self, docs: Mapping[str, Any]) -> None:
        self.docs, self.calls = dict(docs), []

    def __call__(self, request: Any, timeout: float) -> Any:
        self.calls.append(request.full_url)
        if request.full_url not in self.docs:
            raise OSError(f"connection refused: {request.full_url}")
        return io.BytesIO(json.dumps(self.docs[request.full_url]).encode())


def discovery(keys: list[dict[str, Any]], *, issuer: str = ISSUER,
              jwks_uri: str = f"{ISSUER}/v1/keys") -> Opener:  # fmt: skip
    return Opener({f"{ISSUER}/.well-known/openid-configuration": {"issuer": issuer,
                                                                   "jwks_uri": jwks_uri},
                   jwks_uri: {"keys": keys}})  # fmt: skip


def token(claims: Mapping[str, Any], kid: str | None = "k1", key: Any = KEY) -> str:
    header: dict[str, Any] = {"alg": "RS256"} | ({"kid": kid} if kid else {})
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(sign_rs256(key, signing_input.encode()))}"


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": ["api://other", "api://deplight"], "sub": "u1", "exp": now + 60,
            **over}  # fmt: skip


def verify(tok: str, opener: Opener, **kw: Any) -> dict[str, Any]:
    return tokens.verify(tok, issuer=ISSUER, audiences=("api://deplight",),
                         jwks=tokens.Jwks(ISSUER, opener=opener), **kw)  # fmt: skip


def test_audience_lists_kid_less_tokens_and_clock_leeway() -> None:
    opener = discovery([jwk(KEY, "k1")])
    assert verify(token(claims()), opener)["sub"] == "u1"
    assert verify(token(claims(), kid=None), opener)["sub"] == "u1"  # one key: no kid needed
    now = time.time()
    assert verify(token(claims(exp=int(now) - 30)), opener, now=now)  # within 60 s of skew
    with pytest.raises(tokens.TokenError, match="expired"):
        verify(token(claims(exp=int(now) - 61)), opener, now=now)
    with pytest.raises(tokens.TokenError, match="issued in the future"):
        verify(token(claims(iat=int(now) + 3600)), opener, now=now)


def test_discovery_must_name_the_issuer_and_an_https_jwks() -> None:
    with pytest.raises(tokens.IssuerUnavailableError, match="names issuer"):
        verify(token(claims()), discovery([jwk(KEY, "k1")], issuer="https://evil.example.com"))
    with pytest.raises(tokens.IssuerUnavailableError, match="jwks_uri must be an https URL"):
        verify(token(claims()), discovery([jwk(KEY, "k1")], jwks_uri="http://evil.example.com/k"))
    with pytest.raises(tokens.IssuerUnavailableError, match="cannot read"):
        verify(token(claims()), Opener({}))


def test_weak_foreign_and_encryption_keys_are_never_used() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    enc = {**jwk(KEY, "enc"), "use": "enc"}
    opener = discovery([jwk(small, "small"), enc, {"kty": "EC", "kid": "ec", "crv": "P-256"}])
    for kid, key in (("small", small), ("enc", KEY), ("ec", KEY)):
        with pytest.raises(tokens.TokenError, match=f"signing key '{kid}'"):
            verify(token(claims(), kid=kid, key=key), opener)


def test_critical_headers_and_several_keys_without_kid_are_refused() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    opener = discovery([jwk(KEY, "k1"), jwk(other, "k2")])
    with pytest.raises(tokens.TokenError, match="names no key"):
        verify(token(claims(), kid=None), opener)
    header = b64url(json.dumps({"alg": "RS256", "kid": "k1", "crit": ["exp"]}).encode())
    signing_input = f"{header}.{b64url(json.dumps(claims()).encode())}"
    crit = f"{signing_input}.{b64url(sign_rs256(KEY, signing_input.encode()))}"
    with pytest.raises(tokens.TokenError, match="critical header"):
        verify(crit, opener)


def test_keys_are_cached_and_refetched_only_for_an_unknown_kid() -> None:
    opener = discovery([jwk(KEY, "k1")])
    clock = [1000.0]
    jwks = tokens.Jwks(ISSUER, opener=opener, clock=lambda: clock[0])
    for _ in range(3):
        tokens.verify(token(claims()), issuer=ISSUER, audiences=("api://deplight",), jwks=jwks)
    assert len(opener.calls) == 2  # discovery + JWKS, once
    with pytest.raises(tokens.TokenError):  # unknown kid right after a fetch: no refetch storm
        tokens.verify(token(claims(), kid="new"), issuer=ISSUER, audiences=("api://deplight",),
                      jwks=jwks)  # fmt: skip
    assert len(opener.calls) == 2
    clock[0] += tokens.JWKS_MIN_REFRESH_S
    with pytest.raises(tokens.TokenError):
        tokens.verify(token(claims(), kid="new"), issuer=ISSUER, audiences=("api://deplight",),
                      jwks=jwks)  # fmt: skip
    assert len(opener.calls) == 4  # the issuer may have rotated: fetched again


def test_sign_in_endpoints_come_from_the_keys_discovery_and_must_be_safe_urls() -> None:
    where = f"{ISSUER}/.well-known/openid-configuration"
    doc = {"issuer": ISSUER, "jwks_uri": f"{ISSUER}/v1/keys",
           "authorization_endpoint": f"{ISSUER}/v1/authorize",
           "token_endpoint": "https://tokens.example.com/oauth2/token"}  # fmt: skip
    opener = Opener({where: doc, f"{ISSUER}/v1/keys": {"keys": [jwk(KEY, "k1")]}})
    jwks = tokens.Jwks(ISSUER, opener=opener)
    assert jwks.endpoints() == tokens.Endpoints(authorization=f"{ISSUER}/v1/authorize",
                                                token="https://tokens.example.com/oauth2/token")  # fmt: skip
    tokens.verify(token(claims()), issuer=ISSUER, audiences=("api://deplight",), jwks=jwks)
    assert len(opener.calls) == 2  # one discovery and one JWKS fetch serve both
    for bad in ("http://tokens.example.com/token", "https://idp.example.com/t; script-src *",
                "https://idp.example.com/t#frag", "https://idp.example.com/a'b", "/v1/token", None):  # fmt: skip
        broken = Opener({where: {**doc, "token_endpoint": bad},
                         f"{ISSUER}/v1/keys": {"keys": [jwk(KEY, "k1")]}})  # fmt: skip
        with pytest.raises(tokens.IssuerUnavailableError,
                           match="token_endpoint must be an https URL") as info:  # fmt: skip
            tokens.Jwks(ISSUER, opener=broken).endpoints()
        assert repr(bad) in str(info.value)
