"""The function's configuration: environment variables set by ``components/release_api.py``.

Endpoints default to the real services; tests (or GitHub Enterprise) override them with
``GITHUB_API_URL``, ``GITHUB_SERVER_URL`` and ``DEPLIGHT_AWS_ENDPOINT_URL``. The issuer is the
identity provider's own URL, so a test issuer on 127.0.0.1 needs no override.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from release_api.contract import ENDPOINT_ENV, PRODUCTION_TIER
from release_api.github import GithubTarget

STRATEGIES = ("codedeploy", "rolling", "ecs_bluegreen")
DEFAULT_PAGE_SCOPES = ("openid", "email")
REQUIRED = (
    "DEPLIGHT_STACK", "DEPLIGHT_TIER", "DEPLIGHT_AUDIT_TABLE", "DEPLIGHT_STRATEGY",
    "DEPLIGHT_JWT_ISSUER", "DEPLIGHT_JWT_AUDIENCES", "DEPLIGHT_GITHUB_REPOSITORY",
    "DEPLIGHT_GITHUB_WORKFLOW", "DEPLIGHT_GITHUB_REF", "DEPLIGHT_GITHUB_TOKEN_SECRET",
)  # fmt: skip


class ConfigError(Exception):
    """The function's environment is incomplete or inconsistent (a deployment bug, not the
    caller's): every problem, one per line."""


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


@dataclass(frozen=True)
class Config:
    stack: str
    tier: str
    audit_table: str
    strategy: str
    codedeploy_application: str | None
    codedeploy_group: str | None
    cluster: str | None
    service: str | None
    rollback_alarms: tuple[str, ...]
    issuer: str
    audiences: tuple[str, ...]
    production_group: str | None
    groups_claim: str
    page_client_id: str | None
    """The public OIDC client the release page signs in with; ``None``: the API serves no page."""
    page_scopes: tuple[str, ...]
    """What the page asks the identity provider for (always with ``openid``)."""
    page_audience: str | None
    """The ``audience`` the page names in its authorization request (Auth0), or ``None``."""
    github: GithubTarget
    token_secret: str
    aws_endpoint: str | None
    region: str | None

    @property
    def production(self) -> bool:
        return self.tier == PRODUCTION_TIER

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        problems = [f"{k} is not set" for k in REQUIRED if not env.get(k, "").strip()]
        strategy = env.get("DEPLIGHT_STRATEGY", "")
        if strategy and strategy not in STRATEGIES:
            problems.append(f"DEPLIGHT_STRATEGY: expected one of {', '.join(STRATEGIES)}, "
                            f"found {strategy!r}")  # fmt: skip
        if env.get("DEPLIGHT_TIER") == PRODUCTION_TIER and not env.get("DEPLIGHT_PRODUCTION_GROUP"):
            problems.append("a production stack needs DEPLIGHT_PRODUCTION_GROUP (the group whose "
                            "members may roll it back)")  # fmt: skip
        if (
            env.get("DEPLIGHT_GITHUB_REPOSITORY")
            and env["DEPLIGHT_GITHUB_REPOSITORY"].count("/") != 1
        ):
            problems.append("DEPLIGHT_GITHUB_REPOSITORY: expected owner/name, found "
                            f"{env['DEPLIGHT_GITHUB_REPOSITORY']!r}")  # fmt: skip
        page_scopes = _csv(env.get("DEPLIGHT_PAGE_SCOPES")) or DEFAULT_PAGE_SCOPES
        if env.get("DEPLIGHT_PAGE_CLIENT_ID") and "openid" not in page_scopes:
            problems.append("DEPLIGHT_PAGE_SCOPES: expected a list with openid (the page checks "
                            f"the ID token's nonce), found {','.join(page_scopes)!r}")  # fmt: skip
        if problems:
            raise ConfigError("\n".join(problems))
        return cls(
            stack=env["DEPLIGHT_STACK"],
            tier=env["DEPLIGHT_TIER"],
            audit_table=env["DEPLIGHT_AUDIT_TABLE"],
            strategy=strategy,
            codedeploy_application=env.get("DEPLIGHT_CODEDEPLOY_APPLICATION") or None,
            codedeploy_group=env.get("DEPLIGHT_CODEDEPLOY_GROUP") or None,
            cluster=env.get("DEPLIGHT_CLUSTER") or None,
            service=env.get("DEPLIGHT_SERVICE") or None,
            rollback_alarms=_csv(env.get("DEPLIGHT_ROLLBACK_ALARMS")),
            issuer=env["DEPLIGHT_JWT_ISSUER"],
            audiences=_csv(env["DEPLIGHT_JWT_AUDIENCES"]),
            production_group=env.get("DEPLIGHT_PRODUCTION_GROUP") or None,
            groups_claim=env.get("DEPLIGHT_GROUPS_CLAIM") or "groups",
            page_client_id=env.get("DEPLIGHT_PAGE_CLIENT_ID") or None,
            page_scopes=page_scopes,
            page_audience=env.get("DEPLIGHT_PAGE_AUDIENCE") or None,
            github=GithubTarget(
                api_url=env.get("GITHUB_API_URL") or "https://api.github.com",
                server_url=env.get("GITHUB_SERVER_URL") or "https://github.com",
                repository=env["DEPLIGHT_GITHUB_REPOSITORY"],
                workflow=env["DEPLIGHT_GITHUB_WORKFLOW"],
                ref=env["DEPLIGHT_GITHUB_REF"],
            ),
            token_secret=env["DEPLIGHT_GITHUB_TOKEN_SECRET"],
            aws_endpoint=env.get(ENDPOINT_ENV) or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        )
