"""JSON Web Tokens with the standard library only: RS256 verification against an OIDC issuer's
JWKS, and RS256 signing (the GitHub App's JWT). The same discovery fetch that finds the JWKS gives
the release page the issuer's authorization and token endpoints.

RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017, section 8.2) is modular exponentiation plus a fixed
encoding, so ``pow()`` does the arithmetic; no third-party package is needed in the Lambda zip.
Only ``RS256`` is accepted: ``none``, ``HS*`` (which would turn the public key into an HMAC
secret), ``RS384``/``PS*``/``ES*`` are refused before any key is looked at.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ALGORITHM = "RS256"
MIN_KEY_BITS = 2048
LEEWAY_S = 60
"""Clock skew tolerated on ``exp``, ``nbf`` and ``iat``."""
MAX_TOKEN_BYTES = 16 * 1024
JWKS_TTL_S = 15 * 60
JWKS_MIN_REFRESH_S = 30
"""An unknown ``kid`` refetches the JWKS (the issuer rotated keys), at most this often."""
HTTP_TIMEOUT_S = 5

# DER of the DigestInfo AlgorithmIdentifier for SHA-256 (RFC 8017, section 9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


class TokenError(Exception):
    """The bearer token is missing, malformed, unsigned, badly signed, expired or not for us."""


class IssuerUnavailableError(Exception):
    """The issuer's discovery document or JWKS cannot be fetched or read."""


@dataclass(frozen=True)
class RsaPublicKey:
    n: int
    e: int

    @property
    def size(self) -> int:
        return (self.n.bit_length() + 7) // 8


@dataclass(frozen=True)
class RsaPrivateKey:
    n: int
    e: int
    d: int

    @property
    def size(self) -> int:
        return (self.n.bit_length() + 7) // 8


def b64url_decode(text: str) -> bytes:
    if not isinstance(text, str) or any(c in text for c in "=+/ \n"):
        raise ValueError("not base64url without padding")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _encoded_message(message: bytes, size: int) -> bytes:
    """EMSA-PKCS1-v1_5 encoding of SHA-256(message) for a key of ``size`` bytes."""
    t = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    if size < len(t) + 11:
        raise ValueError("key too small")
    return b"\x00\x01" + b"\xff" * (size - len(t) - 3) + b"\x00" + t


def rs256_verify(key: RsaPublicKey, message: bytes, signature: bytes) -> bool:
    if len(signature) != key.size:
        return False
    s = int.from_bytes(signature, "big")
    if s >= key.n:
        return False
    em = pow(s, key.e, key.n).to_bytes(key.size, "big")
    return hmac.compare_digest(em, _encoded_message(message, key.size))


def rs256_sign(key: RsaPrivateKey, message: bytes) -> bytes:
    m = int.from_bytes(_encoded_message(message, key.size), "big")
    return pow(m, key.d, key.n).to_bytes(key.size, "big")


def encode_rs256(claims: Mapping[str, Any], key: RsaPrivateKey) -> str:
    """A compact RS256 JWT of ``claims`` (the GitHub App's authentication token)."""
    header = b64url_encode(json.dumps({"alg": ALGORITHM, "typ": "JWT"}).encode())
    payload = b64url_encode(json.dumps(dict(claims), separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    return f"{header}.{payload}.{b64url_encode(rs256_sign(key, signing_input))}"


# -- PEM private keys (GitHub App keys are PKCS#1; PKCS#8 is accepted too) ------------------------


def _der(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """One DER element at ``pos``: (tag, value, position after it)."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, data[pos : pos + length], pos + length


def _items(body: bytes) -> list[tuple[int, bytes]]:
    """The elements inside a constructed DER value."""
    items, pos = [], 0
    while pos < len(body):
        tag, value, pos = _der(body, pos)
        items.append((tag, value))
    return items


def _sequence(data: bytes) -> list[tuple[int, bytes]]:
    tag, body, _ = _der(data, 0)
    if tag != 0x30:
        raise ValueError("expected a DER SEQUENCE")
    return _items(body)


_RSA_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1 rsaEncryption


def load_private_key(pem: str) -> RsaPrivateKey:
    """An RSA private key from PEM (``RSA PRIVATE KEY`` PKCS#1 or ``PRIVATE KEY`` PKCS#8)."""
    lines = [ln.strip() for ln in pem.strip().splitlines() if ln.strip()]
    if (
        len(lines) < 3
        or not lines[0].startswith("-----BEGIN ")
        or not lines[-1].startswith("-----END ")
    ):
        raise ValueError("not a PEM block")
    kind = lines[0].removeprefix("-----BEGIN ").removesuffix("-----")
    try:
        der = base64.b64decode("".join(lines[1:-1]), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"PEM body is not base64: {exc}") from None
    if kind == "PRIVATE KEY":  # PKCS#8: version, AlgorithmIdentifier, OCTET STRING(PKCS#1)
        items = _sequence(der)
        if len(items) < 3 or items[1][0] != 0x30 or items[2][0] != 0x04:
            raise ValueError("not a PKCS#8 private key")
        algorithm = _items(items[1][1])
        if not algorithm or algorithm[0] != (0x06, _RSA_OID):
            raise ValueError("PKCS#8 key is not an RSA key")
        der = items[2][1]
    elif kind != "RSA PRIVATE KEY":
        raise ValueError(f"expected an RSA PRIVATE KEY or PRIVATE KEY block, found {kind!r}")
    items = _sequence(der)
    if len(items) < 4 or any(t != 0x02 for t, _ in items[:4]):
        raise ValueError("not a PKCS#1 RSA private key")
    n, e, d = (int.from_bytes(v, "big") for _, v in items[1:4])
    return RsaPrivateKey(n=n, e=e, d=d)


# -- verification ---------------------------------------------------------------------------------


def _segment_json(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment))
    except (ValueError, UnicodeDecodeError):
        raise TokenError(f"the token's {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise TokenError(f"the token's {what} is not a JSON object")
    return value


def _http_json(url: str, opener: Callable[..., Any]) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   "User-Agent": "deplight-release-api"})  # fmt: skip
    try:
        with opener(request, timeout=HTTP_TIMEOUT_S) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        raise IssuerUnavailableError(f"cannot read {url}: {exc}") from None


def jwk_to_key(jwk: Mapping[str, Any]) -> RsaPublicKey | None:
    """An RS256 signing key from a JWK, or ``None`` for keys that are not (EC, encryption, ...)."""
    if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
        return None
    if jwk.get("alg", ALGORITHM) != ALGORITHM:
        return None
    try:
        key = RsaPublicKey(int.from_bytes(b64url_decode(jwk["n"]), "big"),
                           int.from_bytes(b64url_decode(jwk["e"]), "big"))  # fmt: skip
    except (KeyError, ValueError, TypeError):
        return None
    return key if key.n.bit_length() >= MIN_KEY_BITS and key.e >= 3 else None


_UNSAFE_IN_URL = re.compile(r"[\s;,'\"\\]")


def provider_url(issuer: str, doc: Mapping[str, Any], name: str, where: str) -> str:
    """``doc[name]`` if it is an https URL (or one on the issuer's own origin, as a test issuer on
    127.0.0.1 is) without a fragment and without characters that would break out of a header
    (the page's Content-Security-Policy names the token endpoint)."""
    value = doc.get(name)
    url = urllib.parse.urlsplit(str(value or ""))
    issuer_url = urllib.parse.urlsplit(issuer)
    same_origin = (url.scheme, url.netloc) == (issuer_url.scheme, issuer_url.netloc)
    if (
        not isinstance(value, str)
        or not url.netloc
        or not (url.scheme == "https" or same_origin)
        or url.fragment
        or _UNSAFE_IN_URL.search(value)
    ):
        raise IssuerUnavailableError(
            f"{where}: {name} must be an https URL (or on the issuer's origin) without a "
            f"fragment, spaces, quotes, ';' or ',', found {value!r}"
        )
    return value


@dataclass(frozen=True)
class Endpoints:
    """The identity provider's endpoints the release page uses (authorization code + PKCE)."""

    authorization: str
    token: str


@dataclass
class Jwks:
    """The issuer's signing keys, found through OIDC discovery and cached between invocations."""

    issuer: str
    opener: Callable[..., Any] = urllib.request.urlopen
    clock: Callable[[], float] = time.time
    keys: dict[str, RsaPublicKey] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict)
    """The issuer's discovery document, from the same fetch as the keys."""
    fetched_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _fetch(self) -> None:
        discovery_url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = _http_json(discovery_url, self.opener)
        if not isinstance(doc, dict) or doc.get("issuer") != self.issuer:
            found = doc.get("issuer") if isinstance(doc, dict) else doc
            raise IssuerUnavailableError(
                f"{discovery_url} names issuer {found!r}, expected {self.issuer!r}"
            )
        jwks_uri = provider_url(self.issuer, doc, "jwks_uri", discovery_url)
        jwks = _http_json(jwks_uri, self.opener)
        raw = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(raw, list):
            raise IssuerUnavailableError(
                f"{jwks_uri}: expected a JWK set with 'keys', found {jwks!r}"
            )
        keys: dict[str, RsaPublicKey] = {}
        for i, jwk in enumerate(raw):
            if isinstance(jwk, dict) and (key := jwk_to_key(jwk)) is not None:
                keys[str(jwk.get("kid", f"#{i}"))] = key
        self.keys, self.document, self.fetched_at = keys, doc, self.clock()

    def key(self, kid: str | None) -> RsaPublicKey:
        with self._lock:
            now = self.clock()
            if self.fetched_at is None or now - self.fetched_at > JWKS_TTL_S:
                self._fetch()
            found = self._find(kid)
            if (
                found is None
                and self.fetched_at is not None
                and (now - self.fetched_at >= JWKS_MIN_REFRESH_S)
            ):
                self._fetch()  # the issuer may have rotated its keys
                found = self._find(kid)
        if found is None:
            raise TokenError(
                f"the token's signing key {kid!r} is not an RS256 key of at least "
                f"{MIN_KEY_BITS} bits in the issuer's JWKS"
                if kid else "the token names no key (kid) and the issuer has several"
            )  # fmt: skip
        return found

    def endpoints(self) -> Endpoints:
        """Where the release page sends the browser to sign in and exchanges the code, from the
        discovery document (fetched with the keys, cached as long)."""
        with self._lock:
            if self.fetched_at is None or self.clock() - self.fetched_at > JWKS_TTL_S:
                self._fetch()
            doc = self.document
        where = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        return Endpoints(authorization=provider_url(self.issuer, doc, "authorization_endpoint",
                                                    where),
                         token=provider_url(self.issuer, doc, "token_endpoint", where))  # fmt: skip

    def _find(self, kid: str | None) -> RsaPublicKey | None:
        if kid is not None:
            return self.keys.get(kid)
        return next(iter(self.keys.values())) if len(self.keys) == 1 else None


_JWKS: dict[str, Jwks] = {}


def jwks_for(issuer: str) -> Jwks:
    """One cached :class:`Jwks` per issuer for the life of the Lambda container."""
    if issuer not in _JWKS:
        _JWKS[issuer] = Jwks(issuer)
    return _JWKS[issuer]


def verify(token: str, *, issuer: str, audiences: Sequence[str], jwks: Jwks,
           now: float | None = None) -> dict[str, Any]:  # fmt: skip
    """The claims of ``token`` after checking, in this order: shape, ``alg`` is RS256, the
    signature against the issuer's key, ``iss``, ``aud``, ``exp``, ``nbf`` and ``iat``.
    Raises :class:`TokenError` naming the first problem."""
    if not token or len(token) > MAX_TOKEN_BYTES:
        raise TokenError("no bearer token, or one longer than 16 KiB")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError(f"the token is not a signed JWT (expected 3 parts, found {len(parts)})")
    header = _segment_json(parts[0], "header")
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise TokenError(f"the token's algorithm must be {ALGORITHM}, found {alg!r}")
    if "crit" in header:
        raise TokenError(f"the token has critical header extensions {header['crit']!r}")
    claims = _segment_json(parts[1], "payload")
    try:
        signature = b64url_decode(parts[2])
    except ValueError:
        raise TokenError("the token's signature is not base64url") from None
    if not signature:
        raise TokenError("the token is unsigned")
    kid = header.get("kid")
    key = jwks.key(str(kid) if kid is not None else None)
    if not rs256_verify(key, f"{parts[0]}.{parts[1]}".encode(), signature):
        raise TokenError("the token's signature does not verify with the issuer's key")
    if claims.get("iss") != issuer:
        raise TokenError(f"the token's issuer must be {issuer!r}, found {claims.get('iss')!r}")
    aud = claims.get("aud")
    token_audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not set(map(str, token_audiences)) & set(audiences):
        raise TokenError(f"the token's audience must include one of {sorted(audiences)}, "
                         f"found {aud!r}")  # fmt: skip
    now = time.time() if now is None else now
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise TokenError(f"the token has no numeric expiry (exp), found {exp!r}")
    if now >= exp + LEEWAY_S:
        raise TokenError(f"the token expired at {int(exp)} (now {int(now)})")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and not isinstance(nbf, bool) and now < nbf - LEEWAY_S:
        raise TokenError(f"the token is not valid before {int(nbf)} (now {int(now)})")
    iat = claims.get("iat")
    if isinstance(iat, int | float) and not isinstance(iat, bool) and iat > now + LEEWAY_S:
        raise TokenError(f"the token was issued in the future ({int(iat)}, now {int(now)})")
    return claims
