"""The release page as the API serves it: its three files and the settings it reads first.

``GET /``, ``GET /index.html``, ``GET /page.css`` and ``GET /page.js`` answer the page's files,
which ``components.release_api`` puts into the zip as ``release_api/static/`` from
``deplight/page/`` (one copy in the repository: the files ``deplight dashboard`` serves).
``GET /stacks`` answers what the page needs before anyone has signed in: the stack this API
serves and how to sign in (issuer, the page's public client id, scopes, and the authorization and
token endpoints from the issuer's discovery document). None of them holds release data, so API
Gateway serves them without the JWT authorizer; every data route keeps it.

Each file goes out with a Content-Security-Policy that lets the page load only its own files and
connect only to its own origin and the issuer's token endpoint (no inline script or style, no
framing), ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``, so the
sign-in callback's code never leaves in a ``Referer``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from release_api.config import Config
from release_api.contract import CONFIRM_PROD
from release_api.tokens import Endpoints

PAGE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
    "page.js": "text/javascript; charset=utf-8",
}
"""The page's files and their content types."""
FILE_ROUTES = {
    "GET /": "index.html",
    "GET /index.html": "index.html",
    "GET /page.css": "page.css",
    "GET /page.js": "page.js",
}
CONFIG_ROUTE = "GET /stacks"
"""The same route ``deplight dashboard`` answers (there with ``sign_in: false``)."""
PUBLIC_ROUTES = (*FILE_ROUTES, CONFIG_ROUTE)
"""The routes without the JWT authorizer: the page and its sign-in settings, no data."""
STATIC_DIR = Path(__file__).resolve().parent / "static"
"""Where the page's files are in the Lambda zip (absent from the repository's own package)."""


def content_security_policy(token_endpoint: str) -> str:
    """The page's own files only; ``fetch`` to its origin and the token endpoint (scheme, host
    and path: CSP matches a source with a path exactly)."""
    token = urlsplit(token_endpoint)
    return "; ".join((
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
        f"connect-src 'self' {token.scheme}://{token.netloc}{token.path}", "base-uri 'none'",
        "form-action 'self'", "frame-ancestors 'none'",
    ))  # fmt: skip


def file_headers(name: str, token_endpoint: str) -> dict[str, str]:
    return {
        "content-type": PAGE_FILES[name],
        "cache-control": "no-cache",
        "content-security-policy": content_security_policy(token_endpoint),
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
        "cross-origin-opener-policy": "same-origin",
    }


def sign_in_settings(cfg: Config, endpoints: Endpoints) -> dict[str, Any]:
    """``GET /stacks``: the stack, and how the page signs in (authorization code with PKCE, a
    public client: there is no secret to hand out)."""
    return {
        "stacks": [cfg.stack],
        "source": "api",
        "confirm_prod": CONFIRM_PROD,
        "sign_in": {
            "issuer": cfg.issuer,
            "client_id": cfg.page_client_id,
            "scopes": list(cfg.page_scopes),
            **({"audience": cfg.page_audience} if cfg.page_audience else {}),
            "authorization_endpoint": endpoints.authorization,
            "token_endpoint": endpoints.token,
        },
    }
