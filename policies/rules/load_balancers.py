"""Load balancers and listeners: invalid headers dropped, deletion protection, HTTPS only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .common import as_list, resource_policy, violation
from .stack import Res, stack_policy
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


def check_access_logs(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    logs = props.get("accessLogs") or {}
    if _application(props) and not (logs.get("enabled") is True and logs.get("bucket")):
        return [violation(dict(logs) or None, "the ALB writes no access logs",
                          "set ingress.access_logs: true (the stack creates its log bucket) or "
                          "ingress.access_logs_bucket")]  # fmt: skip
    return []


def check_desync(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    mode = props.get("desyncMitigationMode") or "defensive"  # AWS's default
    if _application(props) and mode not in ("defensive", "strictest"):
        return [violation(mode, "HTTP desync mitigation only monitors",
                          "set desyncMitigationMode to defensive (the default) or strictest")]  # fmt: skip
    return []


WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WEB_ACL_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"


def check_waf(resources: Sequence[Res], _cfg: Mapping[str, Any]) -> list[tuple[Res, str]]:
    """Every internet-facing ALB is associated with a web ACL; when every ACL it has is this
    stack's, one of them has rules (an ACL from outside the stack is taken as it is)."""
    acls = {str(r.props.get("arn")): r for r in resources if r.type == WEB_ACL}
    protected: dict[str, list[str]] = {}
    for assoc in (r for r in resources if r.type == WEB_ACL_ASSOCIATION):
        protected.setdefault(str(assoc.props.get("resourceArn")), []).append(
            str(assoc.props.get("webAclArn"))
        )
    out = []
    for lb in (r for r in resources if r.type in LB_TYPES):
        if not _application(lb.props) or lb.props.get("internal") is True:
            continue
        arns = protected.get(str(lb.props.get("arn")), [])
        if not arns:
            out.append((lb, violation(None, "the internet-facing ALB has no WAF web ACL",
                                      "set ingress.waf: true (managed rule groups and a rate "
                                      "limit)")))  # fmt: skip
        elif all(a in acls and not as_list(acls[a].props.get("rules")) for a in arns):
            out.append((lb, violation(arns, "the ALB's web ACL has no rules",
                                      "give the web ACL the managed rule groups and a rate "
                                      "limit")))  # fmt: skip
    return out


POLICIES = [
    resource_policy(
        name="alb-access-logs",
        description="Application load balancers write access logs to S3.",
        types=LB_TYPES,
        check=check_access_logs,
    ),
    resource_policy(
        name="alb-desync-mitigation",
        description="Application load balancers mitigate HTTP desync (defensive or strictest).",
        types=LB_TYPES,
        check=check_desync,
    ),
    stack_policy(
        name="alb-waf",
        description="Internet-facing application load balancers sit behind a WAF web ACL.",
        check=check_waf,
    ),
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
