"""Fakes for the release API handler tests, each a small ``http.server`` thread on 127.0.0.1.

- :class:`FakeIssuer`: an OIDC identity provider, with a discovery document, a JWKS and tokens
  signed by a real RSA key (``cryptography``, a test-only dependency), plus the ways a token can
  be wrong: expired, another audience or issuer, unsigned, ``alg: none``, HS256 keyed with the
  public key, signed by a key the issuer does not publish.
- :class:`FakeGithub`: the two REST endpoints the handler calls (workflow dispatch, App
  installation token), recording every request, with scripted failures.
- :func:`api_event`: an API Gateway HTTP API (payload 2.0) event as the JWT authorizer passes
  it: claims flattened to strings, arrays as ``"[a b]"``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

AUDIENCE = "api://deplight-release"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(key: RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    size = (numbers.n.bit_length() + 7) // 8
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": b64url(numbers.n.to_bytes(size, "big")), "e": b64url(numbers.e.to_bytes(3, "big"))}  # fmt: skip


def sign_rs256(key: RSAPrivateKey, signing_input: bytes) -> bytes:
    return key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(
        self, status: int, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeIssuer:
    """An OIDC issuer at ``http://127.0.0.1:<port>/oauth2/default``."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "key-1"
        self.jwks_requests = 0
        self.url = ""

    @contextmanager
    def running(self) -> Iterator[FakeIssuer]:
        issuer = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                if self.path == "/oauth2/default/.well-known/openid-configuration":
                    self.reply(200, {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/v1/keys",
                                     "id_token_signing_alg_values_supported": ["RS256"]})  # fmt: skip
                elif self.path == "/oauth2/default/v1/keys":
                    issuer.jwks_requests += 1
                    self.reply(200, {"keys": [jwk(issuer.key, issuer.kid)]})
                else:
                    self.reply(404, {"error": "not found"})

        with serve(Handler) as base:
            self.url = f"{base}/oauth2/default"
            yield self

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url, "aud": AUDIENCE, "sub": "00u1oncall", "email": "alice@example.com",
            "groups": ["engineering"], "iat": now, "nbf": now, "exp": now + 600,
        }  # fmt: skip
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, *, header: Mapping[str, Any] | None = None, key: RSAPrivateKey | None = None,
              **claims: Any) -> str:  # fmt: skip
        head = {"alg": "RS256", "typ": "JWT", "kid": self.kid, **(header or {})}
        signing_input = (f"{b64url(json.dumps(head).encode())}."
                         f"{b64url(json.dumps(self.claims(**claims)).encode())}")  # fmt: skip
        return f"{signing_input}.{b64url(sign_rs256(key or self.key, signing_input.encode()))}"

    def unsigned(self, alg: str = "none") -> str:
        head = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        return f"{head}.{b64url(json.dumps(self.claims()).encode())}."

    def hs256_with_public_key(self) -> str:
        """The algorithm-confusion attack: HMAC keyed with the issuer's public key (PEM)."""
        secret = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        head = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": self.kid}).encode())
        signing_input = f"{head}.{b64url(json.dumps(self.claims()).encode())}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(mac)}"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGithub:
    """``POST /repos/{owner}/{repo}/actions/workflows/{file}/dispatches`` and
    ``POST /app/installations/{id}/access_tokens``."""

    requests: list[Recorded] = field(default_factory=list)
    script: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    """Answers for the next dispatches, in order; afterwards 204."""
    app_public_key: Any = None
    app_id: str = "123456"
    installation_token: str = "ghs_installation0000000000000000000000"
    url: str = ""

    def dispatches(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/dispatches")]

    @contextmanager
    def running(self) -> Iterator[FakeGithub]:
        fake = self

        class Handler(_Quiet):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                rec = Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                               json.loads(raw) if raw else None)  # fmt: skip
                fake.requests.append(rec)
                if re.fullmatch(
                    r"/repos/[^/]+/[^/]+/actions/workflows/[^/]+/dispatches", self.path
                ):
                    if fake.script:
                        status, body, headers = fake.script.pop(0)
                        self.reply(status, body, headers)
                    else:
                        self.reply(204)
                elif m := re.fullmatch(r"/app/installations/(\d+)/access_tokens", self.path):
                    self.reply(*fake._installation(rec, m.group(1)))
                else:
                    self.reply(404, {"message": "Not Found"})

        with serve(Handler) as base:
            self.url = base
            yield self

    def _installation(self, rec: Recorded, installation: str) -> tuple[int, Any]:
        """Verifies the App JWT as GitHub does: RS256 by the app's key, iss = app id, a short
        lifetime."""
        token = rec.headers.get("authorization", "").removeprefix("Bearer ")
        head, payload, sig = token.split(".")
        try:
            self.app_public_key.verify(
                base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)),
                f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256(),
            )  # fmt: skip
        except Exception:
            return 401, {"message": "A JSON web token could not be decoded"}
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if str(claims.get("iss")) != self.app_id or claims["exp"] - claims["iat"] > 600:
            return 401, {"message": "'Issuer' claim ('iss') must be the app id"}
        return 201, {"token": self.installation_token, "expires_at": "2099-01-01T00:00:00Z",
                     "installation": installation}  # fmt: skip


def api_event(method: str, path: str, *, token: str | None, claims: Mapping[str, Any] | None,
              query: Mapping[str, str] | None = None, body: Any = None,
              source_ip: str = "203.0.113.7") -> dict[str, Any]:  # fmt: skip
    """An HTTP API payload 2.0 event. ``claims`` are what the JWT authorizer validated (``None``
    for a route without an authorizer); API Gateway hands them on as strings."""
    ctx: dict[str, Any] = {
        "http": {"method": method, "path": path, "sourceIp": source_ip, "protocol": "HTTP/1.1"},
        "requestId": "abcdefghijk=", "stage": "$default",
    }  # fmt: skip
    if claims is not None:
        flat = {k: ("[" + " ".join(map(str, v)) + "]") if isinstance(v, list) else str(v)
                for k, v in claims.items()}  # fmt: skip
        ctx["authorizer"] = {"jwt": {"claims": flat, "scopes": None}}
    headers = {"content-type": "application/json", "user-agent": "curl/8"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return {
        "version": "2.0", "routeKey": f"{method} {path}", "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": headers, "queryStringParameters": dict(query) if query else None,
        "requestContext": ctx, "isBase64Encoded": False,
        "body": json.dumps(body) if body is not None and not isinstance(body, str) else body,
    }  # fmt: skip
