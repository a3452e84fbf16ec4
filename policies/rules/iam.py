"""IAM: no administrator statements, and GitHub OIDC trust pinned to one repository."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from .common import as_document, as_list, resource_policy, statements, violation

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
]
