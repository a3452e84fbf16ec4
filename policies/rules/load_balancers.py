"""Load balancers and listeners: invalid headers dropped, deletion protection, HTTPS only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import as_list, resource_policy, violation
from .stack_keys import fix

LB_TYPES = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LISTENER_TYPES = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
HTTP_PORT = 80
MODERN_TLS_PREFIXES = ("ELBSecurityPolicy-TLS13-", "ELBSecurityPolicy-FS-1-2-",
                       "ELBSecurityPolicy-TLS-1-2-")  # fmt: skip


def _application(props: Mapping[str, Any]) -> bool:
    return (props.get("loadBalancerType") or "application") == "application"


def check_drop_invalid_headers(
    _t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]
) -> list[str]:
    if _application(props) and props.get("dropInvalidHeaderFields") is not True:
        return [violation(props.get("dropInvalidHeaderFields"), "the ALB forwards invalid headers",
                          "set dropInvalidHeaderFields: true (request smuggling defence)")]  # fmt: skip
    return []


def check_deletion_protection(
    _t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]
) -> list[str]:
    if props.get("enableDeletionProtection") is not True:
        return [violation(props.get("enableDeletionProtection"), "deletion protection is off",
                          fix(_t, "enableDeletionProtection", "true",
                              "set enableDeletionProtection: true"))]  # fmt: skip
    return []


def check_https(t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    protocol = props.get("protocol")
    if protocol == "HTTPS":
        policy = str(props.get("sslPolicy") or "")
        allowed = tuple(cfg.get("allowedSslPolicyPrefixes", MODERN_TLS_PREFIXES))
        if not policy.startswith(allowed):
            return [violation(policy, "the HTTPS listener allows old TLS versions",
                              fix(t, "sslPolicy", "ELBSecurityPolicy-TLS13-1-2-2021-06",
                                  "use ELBSecurityPolicy-TLS13-1-2-2021-06 or newer"))]  # fmt: skip
        return []
    if protocol == "HTTP":
        actions = [a for a in as_list(props.get("defaultActions")) if isinstance(a, Mapping)]
        redirects = actions and all(
            a.get("type") == "redirect" and (a.get("redirect") or {}).get("protocol") == "HTTPS"
            for a in actions
        )
        if redirects:
            return []
        port = props.get("port")
        port = int(port) if isinstance(port, (int, float)) else port
        certificate = fix(t, "certificateArn", "<an ACM certificate ARN>", "")
        if port in (HTTP_PORT, None):
            on = " on port 80" if port else ""
            problem = f"a plain HTTP listener{on} serves traffic instead of redirecting"
            remedy = (f"{certificate}: port 443 then serves HTTPS and port 80 redirects to it"
                      if certificate else
                      "serve HTTPS with a certificate and make port 80 redirect to HTTPS")  # fmt: skip
        else:
            problem = f"the listener on port {port} serves plain HTTP"
            remedy = (f"{certificate}: the listener on port {port} then serves HTTPS"
                      if certificate else f"serve HTTPS on port {port} with a certificate")  # fmt: skip
        return [violation([a.get("type") for a in actions], problem, remedy)]
    return []


POLICIES = [
    resource_policy(
        name="alb-drop-invalid-headers",
        description="Application load balancers drop invalid HTTP header fields.",
        types=LB_TYPES,
        check=check_drop_invalid_headers,
    ),
    resource_policy(
        name="alb-deletion-protection",
        description="Load balancers have deletion protection (relaxed where dev is disposable).",
        types=LB_TYPES,
        check=check_deletion_protection,
    ),
    resource_policy(
        name="listener-https-only",
        description="Listeners serve HTTPS with a modern TLS policy; HTTP only redirects to HTTPS.",
        types=LISTENER_TYPES,
        check=check_https,
        schema={
            "allowedSslPolicyPrefixes": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(MODERN_TLS_PREFIXES),
            }
        },  # fmt: skip
    ),
]
