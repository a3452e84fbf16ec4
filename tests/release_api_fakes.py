"""Fakes for the release API handler tests, each a small ``http.server`` thread on 127.0.0.1.

- :class:`FakeIssuer`: an OIDC identity provider, with a discovery document, a JWKS and tokens
  signed by a real RSA key (``cryptography``, a test-only dependency), plus the ways a token can
  be wrong: expired, another audience or issuer, unsigned, ``alg: none``, HS256 keyed with the
  public key, signed by a key the issuer does not publish. For the release page it also signs
  in: ``/v1/authorize`` redirects back with a code at once (the user said yes), ``/v1/token``
  exchanges it only for the PKCE verifier whose S256 hash is the challenge.
- :class:`FakeGithub`: the two REST endpoints the handler calls (workflow dispatch, App
  installation token), recording every request, with scripted failures.
- :func:`api_event`: an API Gateway HTTP API (payload 2.0) event as the JWT authorizer passes
  it: claims flattened to strings, arrays as ``"[a b]"``.
- :class:`FakeApiGateway`: the HTTP API on 127.0.0.1 in front of the real handler: each request
  becomes a payload 2.0 event; routes with the JWT authorizer get the token checked first (401
  ``{"message": "Unauthorized"}`` as API Gateway answers) and its claims passed on; routes the
  API does not have are 404 ``{"message": "Not Found"}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from release_api import handler, tokens

AUDIENCE = "api://deplight-release"
PAGE_CLIENT_ID = "0oa1deplightreleasepage"


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


@dataclass
class Grant:
    """An authorization code the issuer handed out, and what it was bound to."""

    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    used: bool = False


class FakeIssuer:
    """An OIDC issuer at ``http://127.0.0.1:<port>/oauth2/default``."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "key-1"
        self.jwks_requests = 0
        self.url = ""
        self.redirect_uris: set[str] = set()
        """Where the page's client may be sent back to (registered with the provider)."""
        self.grants: dict[str, Grant] = {}
        self.token_answers: list[tuple[int, dict[str, Any]]] = []
        """Every ``/v1/token`` answer, in order."""
        self.issued: list[str] = []
        """The access tokens ``/v1/token`` issued."""
        self.deny: str | None = None
        """An OAuth error code ``/v1/authorize`` answers with instead of a code."""
        self.authorize_queries: list[dict[str, str]] = []
        """The query of every ``/v1/authorize`` request, in order."""

    @contextmanager
    def running(self) -> Iterator[FakeIssuer]:
        issuer = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/oauth2/default/.well-known/openid-configuration":
                    self.reply(200, {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/v1/keys",
                                     "authorization_endpoint": f"{issuer.url}/v1/authorize",
                                     "token_endpoint": f"{issuer.url}/v1/token",
                                     "code_challenge_methods_supported": ["S256"],
                                     "id_token_signing_alg_values_supported": ["RS256"]})  # fmt: skip
                elif url.path == "/oauth2/default/v1/keys":
                    issuer.jwks_requests += 1
                    self.reply(200, {"keys": [jwk(issuer.key, issuer.kid)]})
                elif url.path == "/oauth2/default/v1/authorize":
                    status, location = issuer.authorize(
                        {k: v[0] for k, v in parse_qs(url.query).items()}
                    )
                    if location is None:
                        self.reply(status, {"error": "invalid_request"})
                    else:
                        self.reply(status, headers={"Location": location})
                else:
                    self.reply(404, {"error": "not found"})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if urlsplit(self.path).path != "/oauth2/default/v1/token":
                    self.reply(404, {"error": "not found"})
                    return
                status, body = issuer.exchange({k: v[0] for k, v in parse_qs(raw).items()})
                issuer.token_answers.append((status, body))
                # A public client's token endpoint answers pages on other origins (CORS).
                self.reply(status, body, {"Access-Control-Allow-Origin":
                                          self.headers.get("Origin", "*"),
                                          "Cache-Control": "no-store"})  # fmt: skip

        with serve(Handler) as base:
            self.url = f"{base}/oauth2/default"
            yield self

    def authorize(self, q: Mapping[str, str]) -> tuple[int, str | None]:
        """The user signs in and consents at once: a redirect back with a code, bound to the
        client, the redirect URI, the S256 challenge and the nonce."""
        self.authorize_queries.append(dict(q))
        if (
            q.get("response_type") != "code"
            or q.get("client_id") != PAGE_CLIENT_ID
            or q.get("redirect_uri") not in self.redirect_uris
            or q.get("code_challenge_method") != "S256"
            or not re.fullmatch(r"[A-Za-z0-9_-]{43}", q.get("code_challenge", ""))
            or "openid" not in q.get("scope", "").split()
            or not q.get("state")
            or not q.get("nonce")
        ):
            return 400, None
        if self.deny:
            denied = {"error": self.deny, "error_description": "the user said no",
                      "state": q["state"]}  # fmt: skip
            return 302, f"{q['redirect_uri']}?{urlencode(denied)}"
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(
            PAGE_CLIENT_ID, q["redirect_uri"], q["code_challenge"], q["nonce"]
        )
        return 302, f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"

    def exchange(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """``grant_type=authorization_code``: one use per code, the same client and redirect URI,
        and BASE64URL(SHA256(code_verifier)) equal to the challenge (RFC 7636, section 4.6)."""
        grant = self.grants.get(form.get("code", ""))
        if form.get("grant_type") != "authorization_code" or grant is None or grant.used:
            return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
        grant.used = True
        if (form.get("client_id"), form.get("redirect_uri")) != (grant.client_id,
                                                                 grant.redirect_uri):  # fmt: skip
            return 400, {"error": "invalid_grant", "error_description": "client or redirect_uri "
                         "differs from the authorization request"}  # fmt: skip
        verifier = form.get("code_verifier", "")
        if b64url(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
            return 400, {"error": "invalid_grant",
                         "error_description": "PKCE verification failed"}  # fmt: skip
        access = self.token()
        self.issued.append(access)
        return 200, {"token_type": "Bearer", "expires_in": 600, "scope": "openid email",
                     "access_token": access,
                     "id_token": self.token(aud=PAGE_CLIENT_ID, nonce=grant.nonce)}  # fmt: skip

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


class FakeApiGateway:
    """API Gateway's HTTP API (``$default`` stage) in front of :func:`release_api.handler.handle`
    on 127.0.0.1. ``authorized`` routes go through a JWT authorizer for the function's issuer and
    audiences (its own key cache, as API Gateway has); ``public`` routes go straight to the
    handler; anything else is API Gateway's 404."""

    def __init__(self, env: dict[str, str], deps: handler.Deps, *, authorized: Collection[str],
                 public: Collection[str]) -> None:  # fmt: skip
        self.env, self.deps = env, deps
        self.authorized, self.public = set(authorized), set(public)
        self.requests: list[Recorded] = []
        self.url = ""
        self._jwks: tokens.Jwks | None = None

    def _authorize(self, header: str) -> dict[str, Any] | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        issuer = self.env["DEPLIGHT_JWT_ISSUER"]
        if self._jwks is None or self._jwks.issuer != issuer:
            self._jwks = tokens.Jwks(issuer)
        audiences = tuple(a for a in self.env["DEPLIGHT_JWT_AUDIENCES"].split(",") if a)
        try:
            return tokens.verify(token, issuer=issuer, audiences=audiences, jwks=self._jwks)
        except (tokens.TokenError, tokens.IssuerUnavailableError):
            return None

    def answer(self, method: str, target: str, headers: Mapping[str, str],
               body: str | None) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
        url = urlsplit(target)
        key = f"{method} {url.path}"
        self.requests.append(Recorded(method, target, dict(headers), body))
        auth = headers.get("authorization", "")

        def gateway(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
            return (
                status,
                {"content-type": "application/json"},
                json.dumps({"message": message}).encode(),
            )

        claims = None
        if key in self.authorized:
            claims = self._authorize(auth)
            if claims is None:
                return gateway(401, "Unauthorized")
        elif key not in self.public:
            return gateway(404, "Not Found")
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        token = auth.partition(" ")[2] if auth else None
        event = api_event(method, url.path, token=token, claims=claims, query=query or None,
                          body=body or None, source_ip="127.0.0.1")  # fmt: skip
        resp = handler.handle(event, self.deps, self.env)
        data = resp.get("body") or ""
        raw = base64.b64decode(data) if resp.get("isBase64Encoded") else data.encode()
        return int(resp["statusCode"]), dict(resp.get("headers") or {}), raw

    @contextmanager
    def running(self) -> Iterator[FakeApiGateway]:
        gateway = self

        class Handler(_Quiet):
            def _relay(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else None
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, out, raw = gateway.answer(method, self.path, headers, body)
                self.send_response(status)
                for k, v in out.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self._relay("GET")

            def do_POST(self) -> None:
                self._relay("POST")

        with serve(Handler) as base:
            self.url = base
            yield self


def page_requests(gateway: FakeApiGateway, path: str) -> list[Recorded]:
    """The requests the gateway got for ``path`` (any query)."""
    return [r for r in gateway.requests if urlsplit(r.path).path == path]
