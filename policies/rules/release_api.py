"""API Gateway and Lambda exposed to the internet (the release API): authorizer on every route
but the release page's own files and sign-in settings, throttling and access logs on every stage,
no anonymous way to invoke a function, and Lambda roles scoped to ARNs."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .common import as_document, as_list, resource_policy, statements, violation
from .stack import Res, stack_policy

ROUTE = "aws:apigatewayv2/route:Route"
AUTHORIZER = "aws:apigatewayv2/authorizer:Authorizer"
STAGE = "aws:apigatewayv2/stage:Stage"
PERMISSION = "aws:lambda/permission:Permission"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
FUNCTION = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"

AUTHORIZED = ("JWT", "CUSTOM", "AWS_IAM")
PAGE_ROUTES = ("GET /", "GET /index.html", "GET /page.css", "GET /page.js", "GET /stacks")
"""The release page's files and its sign-in settings (``release_api.site.PUBLIC_ROUTES``): no
data, and the page needs them before anyone has a token. Any other route needs an authorizer."""
BROAD_MANAGED = re.compile(r":policy/(AdministratorAccess|PowerUserAccess|[A-Za-z0-9]*FullAccess)$")
ONLY_STAR = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
"""Actions AWS grants on ``Resource: *`` only (a traced Lambda needs them)."""


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def check_route_authorizer(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    kind = props.get("authorizationType") or "NONE"
    if kind not in AUTHORIZED:
        if props.get("routeKey") in PAGE_ROUTES:
            return []
        return [violation(kind, f"route {props.get('routeKey')!r} has no authorizer",
                          "set authorizationType JWT and authorizerId (the API's JWT authorizer); "
                          "only the release page's files and GET /stacks may be public")]  # fmt: skip
    if kind in ("JWT", "CUSTOM") and not props.get("authorizerId"):
        return [violation(props.get("authorizerId"), f"route {props.get('routeKey')!r} names no "
                          "authorizer", "set authorizerId to the API's JWT authorizer")]  # fmt: skip
    return []


def check_jwt_authorizer(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if props.get("authorizerType") != "JWT":
        return []
    jwt = props.get("jwtConfiguration") or {}
    out = []
    issuer = str(jwt.get("issuer") or "")
    if not issuer.startswith("https://"):
        out.append(violation(jwt.get("issuer"), "the JWT authorizer has no https issuer",
                             "set jwtConfiguration.issuer to the identity provider's issuer URL"))  # fmt: skip
    if not [a for a in as_list(jwt.get("audiences")) if str(a).strip()]:
        out.append(violation(jwt.get("audiences"), "the JWT authorizer accepts any audience",
                             "set jwtConfiguration.audiences to the API's audience"))  # fmt: skip
    return out


def check_stage_throttling(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    default = props.get("defaultRouteSettings") or {}
    rate, burst = default.get("throttlingRateLimit"), default.get("throttlingBurstLimit")
    if _positive(rate) and _positive(burst):
        return []
    return [violation({"throttlingRateLimit": rate, "throttlingBurstLimit": burst},
                      "the stage does not throttle its routes",
                      "set defaultRouteSettings.throttlingRateLimit and throttlingBurstLimit")]  # fmt: skip


def check_stage_access_logs(
    _t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]
) -> list[str]:
    logs = props.get("accessLogSettings") or {}
    if logs.get("destinationArn") and logs.get("format"):
        return []
    return [violation(logs or None, "the stage writes no access log",
                      "set accessLogSettings.destinationArn (a log group) and format")]  # fmt: skip


def check_no_public_invoke(
    type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]
) -> list[str]:
    if type_ == FUNCTION_URL:
        if props.get("authorizationType") == "AWS_IAM":
            return []
        return [violation(props.get("authorizationType"), "the function URL lets anyone invoke the "
                          "function", "remove the function URL (put API Gateway with an "
                          "authorizer in front) or use authorizationType AWS_IAM")]  # fmt: skip
    principal = str(props.get("principal") or "")
    if props.get("functionUrlAuthType") == "NONE":
        return [violation("NONE", "the permission opens an unauthenticated function URL",
                          "do not grant lambda:InvokeFunctionUrl with functionUrlAuthType NONE")]  # fmt: skip
    scoped = (
        props.get("sourceArn")
        or props.get("principalOrgId")
        or (props.get("sourceAccount") and principal != "*")
    )
    if (principal == "*" or principal.endswith(".amazonaws.com")) and not scoped:
        return [violation(principal, "any caller (or any account's resource of that service) may "
                          "invoke the function", "set sourceArn to the one API (or resource) "
                          "that may invoke it")]  # fmt: skip
    return []


def check_lambda_roles(resources: Sequence[Res], _cfg: Mapping[str, Any]) -> list[tuple[Res, str]]:
    """Roles that Lambda functions run as: every Allow statement names actions and ARNs (no
    ``*`` resource, no wildcard action), and no broad AWS managed policy is attached."""
    roles = {str(r.props.get("arn")): r for r in resources if r.type == ROLE and r.props.get("arn")}
    used = {str(f.props.get("role")) for f in resources if f.type == FUNCTION}
    out: list[tuple[Res, str]] = []
    for arn in sorted(used & set(roles)):
        role = roles[arn]
        name = str(role.props.get("name") or arn.rsplit("/", 1)[-1])
        docs = [(f"inline policy {p.get('name')!r}", p.get("policy"))
                for p in as_list(role.props.get("inlinePolicies")) if isinstance(p, Mapping)]  # fmt: skip
        docs += [(f"role policy {r.name}", r.props.get("policy")) for r in resources
                 if r.type == ROLE_POLICY and str(r.props.get("role")) in (name, arn)]  # fmt: skip
        for where, raw in docs:
            for st in statements(as_document(raw)):
                if st.get("Effect") != "Allow":
                    continue
                actions = [str(a) for a in as_list(st.get("Action"))]
                wild = [a for a in actions if a == "*" or a.endswith("*")]
                star = "*" in [str(x) for x in as_list(st.get("Resource"))] or "NotResource" in st
                if wild or "NotAction" in st:
                    out.append((role, violation(wild or st.get("NotAction"), f"Lambda role {name}: "
                                                f"{where} grants wildcard actions",
                                                "list the actions the function calls")))  # fmt: skip
                elif star and set(actions) - ONLY_STAR:
                    out.append((role, violation(sorted(set(actions) - ONLY_STAR),
                                                f"Lambda role {name}: {where} grants actions on "
                                                "every resource", "scope Resource to the ARNs "
                                                "the function uses")))  # fmt: skip
        for att in resources:
            if (
                att.type == ATTACHMENT
                and str(att.props.get("role")) in (name, arn)
                and (BROAD_MANAGED.search(str(att.props.get("policyArn") or "")))
            ):
                out.append((att, violation(att.props.get("policyArn"), f"Lambda role {name} has a "
                                           "broad managed policy attached",
                                           "grant the function's actions in an inline policy")))  # fmt: skip
    return out


POLICIES = [
    resource_policy(name="apigateway-route-authorizer",
                    description="Every API Gateway route is behind an authorizer, except the "
                    "release page's files and sign-in settings.",
                    types=(ROUTE,), check=check_route_authorizer),
    resource_policy(name="apigateway-jwt-authorizer-pinned",
                    description="JWT authorizers name an https issuer and an audience.",
                    types=(AUTHORIZER,), check=check_jwt_authorizer),
    resource_policy(name="apigateway-stage-throttling",
                    description="API Gateway stages throttle every route (rate and burst).",
                    types=(STAGE,), check=check_stage_throttling),
    resource_policy(name="apigateway-stage-access-logs",
                    description="API Gateway stages write access logs.",
                    types=(STAGE,), check=check_stage_access_logs),
    resource_policy(name="lambda-no-public-invoke",
                    description="No function URL or invoke permission open to anyone (or to a "
                    "whole service) without a source ARN.",
                    types=(FUNCTION_URL, PERMISSION), check=check_no_public_invoke),
    stack_policy(name="lambda-role-least-privilege",
                 description="Lambda roles grant listed actions on ARNs, no wildcards, no broad "
                 "managed policies.", check=check_lambda_roles),
]  # fmt: skip
