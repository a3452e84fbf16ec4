"""IAM: no administrator statements, and GitHub OIDC trust pinned to one repository."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .common import as_document, as_list, resource_policy, statements, violation
from .stack import Res, stack_policy

ROLE = "aws:iam/role:Role"
POLICY_DOC_TYPES = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
GITHUB = "token.actions.githubusercontent.com"
SPECIFIC_SUB = re.compile(r"^repo:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+:.+$")


def documents(type_: str, props: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    if type_ == ROLE:
        for p in as_list(props.get("inlinePolicies")):
            if isinstance(p, Mapping):
                yield f"inline policy {p.get('name')!r}", p.get("policy")
    elif type_ in POLICY_DOC_TYPES:
        yield "policy", props.get(POLICY_DOC_TYPES[type_])


def is_admin(st: Mapping[str, Any]) -> bool:
    if st.get("Effect") != "Allow":
        return False
    actions = [str(a) for a in as_list(st.get("Action"))]
    resources = [str(r) for r in as_list(st.get("Resource"))]
    wide = any(a == "*" or a.endswith(":*") for a in actions)
    return wide and "*" in resources


def check_no_admin(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    for where, raw in documents(type_, props):
        for st in statements(as_document(raw)):
            if is_admin(st):
                out.append(violation(
                    {"Action": st.get("Action"), "Resource": st.get("Resource")},
                    f"{where} allows a wildcard action on every resource",
                    "list the actions the workload needs and scope Resource to its ARNs",
                ))  # fmt: skip
    return out


def check_github_trust(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if type_ != ROLE:
        return []
    out = []
    for st in statements(as_document(props.get("assumeRolePolicy"))):
        federated = " ".join(str(p) for p in as_list((st.get("Principal") or {}).get("Federated")))
        if GITHUB not in federated or st.get("Effect") != "Allow":
            continue
        cond = st.get("Condition") or {}
        if any(op.startswith(("ForAllValues:", "ForAnyValue:")) for op in cond):
            out.append(violation(sorted(cond), "the trust policy uses a set operator",
                                 "use StringEquals/StringLike on aud and sub"))  # fmt: skip
        aud = (cond.get("StringEquals") or {}).get(f"{GITHUB}:aud")
        if as_list(aud) != ["sts.amazonaws.com"]:
            out.append(violation(aud, "aud is not pinned to sts.amazonaws.com",
                                 f"add StringEquals {GITHUB}:aud = sts.amazonaws.com"))  # fmt: skip
        subs = [s for op in ("StringEquals", "StringLike")
                for s in as_list((cond.get(op) or {}).get(f"{GITHUB}:sub"))]  # fmt: skip
        bad = [s for s in subs if not SPECIFIC_SUB.match(str(s))
               or "*" in str(s).split(":")[1]]  # fmt: skip
        if not subs or bad:
            out.append(violation(bad or None, "sub does not name one repository",
                                 "add a sub condition repo:<owner>/<name>:<environment or ref>"))  # fmt: skip
    return out


READ_VERBS = ("Describe", "Get", "List", "BatchGet")
READ_ACTIONS = ("apigateway:GET",)
"""Reads that are not named like one: API Gateway's IAM actions are HTTP verbs."""
LOCKS = "/.pulumi/locks/*"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED = "aws:iam/policy:Policy"


def github_subjects(props: Mapping[str, Any]) -> list[str]:
    """The ``sub`` values a role's trust policy accepts from GitHub's OIDC provider."""
    subs: list[str] = []
    for st in statements(as_document(props.get("assumeRolePolicy"))):
        federated = " ".join(str(p) for p in as_list((st.get("Principal") or {}).get("Federated")))
        if GITHUB not in federated or st.get("Effect") != "Allow":
            continue
        cond = st.get("Condition") or {}
        subs += [str(s) for op in ("StringEquals", "StringLike")
                 for s in as_list((cond.get(op) or {}).get(f"{GITHUB}:sub"))]  # fmt: skip
    return subs


def writes(doc: Any) -> list[str]:
    """Allowed actions that are not reads (Describe/Get/List), ignoring Pulumi lock files."""
    out = []
    for st in statements(as_document(doc)):
        if st.get("Effect") != "Allow":
            continue
        locks_only = all(str(r).endswith(LOCKS) for r in as_list(st.get("Resource")))
        for action in (str(a) for a in as_list(st.get("Action") or st.get("NotAction"))):
            verb = action.split(":", 1)[-1]
            read = verb.startswith(READ_VERBS) or action in READ_ACTIONS
            if "NotAction" in st or action == "*" or not read:
                if not (locks_only and action in ("s3:PutObject", "s3:DeleteObject")):
                    out.append(action)
    return out


def check_production_gate(
    resources: Sequence[Res], cfg: Mapping[str, Any]
) -> list[tuple[Res, str]]:
    """A GitHub-trusted role that can write trusts no pull request and, in production
    (``environmentsOnly``, the default), only ``environment:<name>`` subjects: the environment's
    required reviewers are the gate. Read-only roles (the PR preview role) may trust PRs."""
    environments_only = bool(cfg.get("environmentsOnly", True))
    policy_docs = {str(r.props.get("arn")): r.props.get("policy")
                   for r in resources if r.type == MANAGED}  # fmt: skip
    out = []
    for role in (r for r in resources if r.type == ROLE):
        subs = github_subjects(role.props)
        if not subs:
            continue
        name = str(role.props.get("name") or role.name)
        can_write = [a for _, doc in documents(ROLE, role.props) for a in writes(doc)]
        for r in resources:
            attached = str(r.props.get("role")) in (name, str(role.props.get("id")))
            if r.type == ROLE_POLICY and attached:
                can_write += writes(r.props.get("policy"))
            elif r.type == ATTACHMENT and attached:
                arn = str(r.props.get("policyArn"))
                doc = policy_docs.get(arn)
                # An AWS-managed policy counts as writing unless it is a ReadOnlyAccess one.
                can_write += writes(doc) if doc is not None else (
                    [] if arn.endswith("ReadOnlyAccess") else [arn])  # fmt: skip
        if not can_write:
            continue
        pr = [s for s in subs if s.endswith(":pull_request")]
        if pr:
            out.append((role, violation(pr, "a role that can write trusts pull requests, which "
                                        "run the pull request's own unreviewed code",
                                        "trust pull_request only in the read-only preview role")))  # fmt: skip
        gated = [s for s in subs if ":environment:" not in s or "*" in s.split(":environment:")[-1]]
        if environments_only and gated:
            out.append((role, violation(gated, "a production role that can write trusts subjects "
                                        "other than its GitHub environments, so a job can assume "
                                        "it without the environment's required reviewers",
                                        "trust only repo:<owner>/<name>:environment:<name>")))  # fmt: skip
        own = own_environments(role, cfg)
        foreign = [s for s in subs if own and ":environment:" in s and s not in gated
                   and s.split(":environment:")[-1] not in own]  # fmt: skip
        if environments_only and foreign:
            out.append((role, violation(foreign, "a production role that can write trusts another "
                                        "stack's GitHub environment, whose reviewers are not this "
                                        "stack's gate", f"trust only environment:{' or '.join(own)}"
                                        " (or list more in the policy's environments config)")))  # fmt: skip
    return out


def own_environments(role: Res, cfg: Mapping[str, Any]) -> list[str]:
    """The GitHub environments a stack's roles may trust: ``environments`` from the config, else
    the stack's own and its automatic-rollback one (``<stack>``, ``<stack>-rollback``), the stack
    read from the resource's URN (``urn:pulumi:<stack>::...``; the engine always sends one, a
    test double without it checks nothing here)."""
    if cfg.get("environments"):
        return [str(e) for e in as_list(cfg["environments"])]
    stack = role.urn.split(":", 3)[2] if role.urn.startswith("urn:pulumi:") else ""
    return [stack, f"{stack}-rollback"] if stack else []


BROAD_MANAGED = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")
ATTACHMENT_TYPES = (
    ATTACHMENT,
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
    ROLE,
)


def broad_managed(arn: str) -> bool:
    """An AWS-managed policy that grants a whole service or more (``*FullAccess`` included)."""
    if ":iam::aws:policy/" not in arn:
        return False
    name = arn.rsplit("/", 1)[-1]
    return name in BROAD_MANAGED or name.endswith("FullAccess")


def check_managed_attachments(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]
                              ) -> list[str]:  # fmt: skip
    arns = [props.get("policyArn")] if type_ != ROLE else []
    arns += as_list(props.get("policyArns")) + as_list(props.get("managedPolicyArns"))
    return [
        violation(
            str(a),
            "a role any workload or CI assumes gets an AWS-managed policy that "
            "grants whole services",
            "attach a policy that lists the actions the role needs, scoped to the stack's ARNs",
        )  # fmt: skip
        for a in arns
        if a and broad_managed(str(a))
    ]


ESCALATION_ALWAYS = (
    "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:CreateAccessKey",
    "iam:CreateLoginProfile", "iam:UpdateLoginProfile", "iam:AddUserToGroup",
    "iam:AttachUserPolicy", "iam:AttachGroupPolicy", "iam:PutUserPolicy", "iam:PutGroupPolicy",
    "iam:DeleteRolePermissionsBoundary", "iam:DeleteUserPermissionsBoundary",
    "iam:PutUserPermissionsBoundary",
)  # fmt: skip
"""Actions that grant more whatever the target carries: no permissions boundary bounds them."""
ESCALATION_UNLESS_BOUNDED = (
    "iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy",
    "iam:PutRolePermissionsBoundary",
)  # fmt: skip
"""Role writes that escalate unless the statement requires a permissions boundary
(``iam:PermissionsBoundary`` condition) on the role they write."""


def escalations(st: Mapping[str, Any]) -> list[str]:
    """The escalation actions an Allow statement grants without the condition that bounds them."""
    if st.get("Effect") != "Allow":
        return []
    if "NotAction" in st:
        return [f"NotAction {as_list(st.get('NotAction'))}"]
    cond_keys = {k.lower() for op in (st.get("Condition") or {}).values()
                 if isinstance(op, Mapping) for k in op}  # fmt: skip
    found = []
    for pattern in (str(a).lower() for a in as_list(st.get("Action"))):
        for action in (*ESCALATION_ALWAYS, *ESCALATION_UNLESS_BOUNDED, "iam:PassRole"):
            if not fnmatch.fnmatchcase(action.lower(), pattern):
                continue
            if action == "iam:PassRole" and "iam:passedtoservice" in cond_keys:
                continue
            if action in ESCALATION_UNLESS_BOUNDED and "iam:permissionsboundary" in cond_keys:
                continue
            found.append(action)
    return sorted(set(found))


def check_escalation(type_: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    for where, raw in documents(type_, props):
        for st in statements(as_document(raw)):
            if found := escalations(st):
                out.append(violation(found, f"{where} lets a role grant itself or others more "
                                     "(privilege escalation)", "require iam:PermissionsBoundary "
                                     "on role writes, iam:PassedToService on PassRole, and drop "
                                     "policy-version, user and group writes"))  # fmt: skip
    return out


UNSCOPABLE_WRITES = (
    "codedeploy:StopDeployment", "elasticloadbalancing:SetWebACL", "xray:PutTraceSegments",
    "xray:PutTelemetryRecords", "xray:GetSamplingTargets",
)  # fmt: skip
"""Writes AWS authorizes only on Resource "*" (no resource-level permission, no condition key
that could scope them), as the stack uses them."""


def check_unconstrained_writes(type_: str, props: Mapping[str, Any], cfg: Mapping[str, Any]
                               ) -> list[str]:  # fmt: skip
    allowed = {str(a) for a in as_list(cfg.get("allowedUnscopedWrites", UNSCOPABLE_WRITES))}
    out = []
    for where, raw in documents(type_, props):
        for st in statements(as_document(raw)):
            if st.get("Effect") != "Allow" or st.get("Condition") or is_admin(st) or (
                    "*" not in [str(r) for r in as_list(st.get("Resource"))]):  # fmt: skip
                continue
            found = [a for a in writes({"Statement": [st]}) if a not in allowed]
            if found:
                out.append(violation(found, f"{where} allows writes on every resource without "
                                     "a condition", "scope Resource to the stack's ARNs or add a "
                                     "tag condition (aws:ResourceTag / aws:RequestTag)"))  # fmt: skip
    return out


POLICIES = [
    resource_policy(
        name="iam-no-admin-statements",
        description="No IAM statement allows '*' or 'service:*' on every resource.",
        types=(ROLE, *POLICY_DOC_TYPES),
        check=check_no_admin,
    ),
    resource_policy(
        name="iam-github-oidc-trust",
        description="GitHub OIDC trust pins aud and a repository-scoped sub.",
        types=(ROLE,),
        check=check_github_trust,
    ),
    stack_policy(
        name="iam-github-production-gate",
        description="GitHub-trusted roles that can write trust no pull request and, in "
        "production, only their own GitHub environments.",
        check=check_production_gate,
        schema={
            "environmentsOnly": {"type": "boolean", "default": True},
            "environments": {"type": "array", "items": {"type": "string"}, "default": []},
        },
    ),
    resource_policy(
        name="iam-managed-policy-attachments",
        description="No role gets AdministratorAccess, PowerUserAccess, IAMFullAccess or any "
        "*FullAccess AWS-managed policy.",
        types=ATTACHMENT_TYPES,
        check=check_managed_attachments,
    ),
    resource_policy(
        name="iam-privilege-escalation",
        description="No IAM statement lets a role grant more without a permissions boundary.",
        types=(ROLE, *POLICY_DOC_TYPES),
        check=check_escalation,
    ),
    resource_policy(
        name="iam-no-unconstrained-writes",
        description="No IAM statement allows writes on '*' without a condition (except what AWS "
        "cannot scope).",
        types=(ROLE, *POLICY_DOC_TYPES),
        check=check_unconstrained_writes,
        schema={
            "allowedUnscopedWrites": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(UNSCOPABLE_WRITES),
            }
        },
    ),
]
