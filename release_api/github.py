"""Dispatching ``rollback.yml`` through GitHub's REST API with a token from Secrets Manager.

The secret (``DEPLIGHT_GITHUB_TOKEN_SECRET``) holds one of:

- a GitHub App installation, JSON ``{"app_id": ..., "installation_id": ..., "private_key":
  "-----BEGIN RSA PRIVATE KEY-----..."}`` (preferred): the handler signs an App JWT and asks for
  an installation token limited to this one repository and ``actions: write``, valid one hour,
  so no long-lived credential can dispatch workflows;
- a plain token (a fine-grained personal access token with ``Actions: Read and write`` on the
  repository), as the secret string itself or JSON ``{"token": "..."}``.

Tokens are cached for the life of the Lambda container: installation tokens until five minutes
before they expire, plain tokens for five minutes (so a rotated secret takes effect quickly).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from release_api.tokens import encode_rs256, load_private_key

API_VERSION = "2022-11-28"
HTTP_TIMEOUT_S = 10
PLAIN_TOKEN_CACHE_S = 300
APP_TOKEN_MARGIN_S = 300


class GithubError(Exception):
    """GitHub did not accept the dispatch; ``status`` is what the API answers (502 or 429)."""

    def __init__(self, message: str, *, status: int = 502, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class GithubTarget:
    api_url: str
    """``https://api.github.com`` (``GITHUB_API_URL`` overrides, e.g. GitHub Enterprise)."""
    server_url: str
    """``https://github.com`` (``GITHUB_SERVER_URL``), for the link to the workflow's runs."""
    repository: str
    workflow: str
    ref: str

    def runs_url(self) -> str:
        return f"{self.server_url.rstrip('/')}/{self.repository}/actions/workflows/{self.workflow}"


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: Any


def _call(method: str, url: str, *, token: str, body: Any = None,
          opener: Callable[..., Any] = urllib.request.urlopen) -> Response:  # fmt: skip
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": "deplight-release-api",
        **({"Content-Type": "application/json"} if data is not None else {}),
    })  # fmt: skip
    try:
        with opener(request, timeout=HTTP_TIMEOUT_S) as response:
            raw, status, headers = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        raw, status, headers = exc.read(), exc.code, dict(exc.headers or {})
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise GithubError(f"cannot reach GitHub at {url.split('/', 3)[2]}: {exc}") from None
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")[:200]
    return Response(status, {k.lower(): v for k, v in headers.items()}, parsed)


def _message(response: Response) -> str:
    body = response.body
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(body or "no message")[:200]


def _rate_limited(response: Response, now: float) -> GithubError | None:
    if response.status not in (403, 429):
        return None
    if (
        response.status == 403
        and response.headers.get("x-ratelimit-remaining") != "0"
        and ("retry-after" not in response.headers)
    ):
        return None
    retry: int | None = None
    if response.headers.get("retry-after", "").isdigit():
        retry = int(response.headers["retry-after"])
    elif response.headers.get("x-ratelimit-reset", "").isdigit():
        retry = max(1, int(response.headers["x-ratelimit-reset"]) - int(now))
    return GithubError(
        f"GitHub's rate limit for this token is exhausted ({response.status}: "
        f"{_message(response)}); nothing was dispatched, retry later",
        status=429, retry_after=retry,
    )  # fmt: skip


# -- credentials ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppCredentials:
    app_id: str
    installation_id: str
    private_key: str


def parse_secret(secret_id: str, text: str) -> str | AppCredentials:
    """A plain token, or GitHub App credentials; error messages never contain the secret."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        if not stripped or any(c.isspace() for c in stripped):
            raise GithubError(f"secret {secret_id}: expected a GitHub token (one word) or JSON, "
                              "found an empty or multi-word string")  # fmt: skip
        return stripped
    try:
        doc = json.loads(stripped)
    except ValueError:
        raise GithubError(f"secret {secret_id}: starts with '{{' but is not valid JSON") from None
    if isinstance(doc, dict) and isinstance(doc.get("token"), str) and doc["token"].strip():
        return str(doc["token"]).strip()
    app_keys = ("app_id", "installation_id", "private_key")
    if isinstance(doc, dict) and all(doc.get(k) not in (None, "") for k in app_keys):
        return AppCredentials(str(doc["app_id"]), str(doc["installation_id"]),
                              str(doc["private_key"]))  # fmt: skip
    found = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
    raise GithubError(
        f'secret {secret_id}: expected {{"token": ...}} or {{"app_id", "installation_id", '
        f'"private_key"}}, found keys {found}'
    )


class TokenSource:
    """Reads the secret and turns it into a token that may dispatch workflows; caches it."""

    def __init__(self, secrets_client: Any, secret_id: str, target: GithubTarget,
                 *, clock: Callable[[], float] = time.time,
                 opener: Callable[..., Any] = urllib.request.urlopen) -> None:  # fmt: skip
        self.secrets, self.secret_id, self.target = secrets_client, secret_id, target
        self.clock, self.opener = clock, opener

    def token(self) -> str:
        key = (self.secret_id, self.target.api_url, self.target.repository)
        with _CACHE_LOCK:
            cached = _CACHE.get(key)
            if cached and cached[1] > self.clock():
                return cached[0]
        text = self._read_secret()
        parsed = parse_secret(self.secret_id, text)
        if isinstance(parsed, str):
            token, until = parsed, self.clock() + PLAIN_TOKEN_CACHE_S
        else:
            token, until = self._installation_token(parsed)
        with _CACHE_LOCK:
            _CACHE[key] = (token, until)
        return token

    def _read_secret(self) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            value = self.secrets.get_secret_value(SecretId=self.secret_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise GithubError(f"cannot read the GitHub token secret {self.secret_id} ({code}): "
                              f"{exc.response.get('Error', {}).get('Message', '')}") from None  # fmt: skip
        except BotoCoreError as exc:
            raise GithubError(
                f"cannot read the GitHub token secret {self.secret_id}: {exc}"
            ) from None
        if "SecretString" not in value:
            raise GithubError(f"secret {self.secret_id}: expected a string secret, found binary")
        return str(value["SecretString"])

    def _installation_token(self, app: AppCredentials) -> tuple[str, float]:
        try:
            key = load_private_key(app.private_key)
        except ValueError as exc:
            raise GithubError(f"secret {self.secret_id}: private_key is not a usable RSA PEM key "
                              f"({exc})") from None  # fmt: skip
        now = int(self.clock())
        # GitHub: iat 60 s in the past against clock drift, expiry at most 10 minutes ahead.
        app_jwt = encode_rs256({"iat": now - 60, "exp": now + 540, "iss": app.app_id}, key)
        repo_name = self.target.repository.split("/", 1)[1]
        response = _call(
            "POST", f"{self.target.api_url.rstrip('/')}/app/installations/"
            f"{app.installation_id}/access_tokens", token=app_jwt, opener=self.opener,
            body={"repositories": [repo_name], "permissions": {"actions": "write"}},
        )  # fmt: skip
        if (limited := _rate_limited(response, self.clock())) is not None:
            raise limited
        if (
            response.status != 201
            or not isinstance(response.body, dict)
            or not isinstance(response.body.get("token"), str)
        ):
            raise GithubError(
                f"GitHub refused an installation token for app {app.app_id}, installation "
                f"{app.installation_id} ({response.status}: {_message(response)}): is the app "
                f"installed on {self.target.repository} with Actions: write?"
            )
        until = self.clock() + 3600 - APP_TOKEN_MARGIN_S
        expires = response.body.get("expires_at")
        if isinstance(expires, str):
            try:
                until = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp() - (
                    APP_TOKEN_MARGIN_S
                )
            except ValueError:
                pass
        return str(response.body["token"]), until


_CACHE: dict[tuple[str, str, str], tuple[str, float]] = {}
_CACHE_LOCK = threading.Lock()


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


# -- dispatch -------------------------------------------------------------------------------------


def dispatch(target: GithubTarget, token: str, inputs: Mapping[str, str], *,
             clock: Callable[[], float] = time.time,
             opener: Callable[..., Any] = urllib.request.urlopen) -> None:  # fmt: skip
    """``POST /repos/{owner}/{repo}/actions/workflows/{file}/dispatches``; raises
    :class:`GithubError` with what GitHub said and what to check."""
    where = f"{target.workflow} in {target.repository}"
    response = _call(
        "POST", f"{target.api_url.rstrip('/')}/repos/{target.repository}/actions/workflows/"
        f"{target.workflow}/dispatches", token=token, opener=opener,
        body={"ref": target.ref, "inputs": dict(inputs)},
    )  # fmt: skip
    if response.status in (200, 204):
        return
    if (limited := _rate_limited(response, clock())) is not None:
        raise limited
    detail = f"{response.status}: {_message(response)}"
    if response.status == 401:
        raise GithubError(f"GitHub rejected the token ({detail}): check the secret's token")
    if response.status == 403:
        raise GithubError(f"the token may not dispatch {where} ({detail}): it needs "
                          "Actions: Read and write on the repository")  # fmt: skip
    if response.status == 404:
        raise GithubError(f"workflow {where} not found, or the token cannot see the repository "
                          f"({detail})")  # fmt: skip
    if response.status == 422:
        raise GithubError(f"GitHub rejected the dispatch of {where} on ref {target.ref} "
                          f"({detail}): does the workflow on that ref accept these inputs?")  # fmt: skip
    raise GithubError(f"GitHub could not dispatch {where} ({detail})")
