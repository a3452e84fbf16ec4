"""AWS Chatbot: a Slack channel can only read, whatever the person typing in it may do.

A Chatbot channel configuration without guardrail policies gets ``AdministratorAccess`` as its
guardrail (AWS's default), so anyone in the channel could run any command their own role allows.
The rule demands explicit guardrails, refuses AWS's broad managed policies as guardrails, and
(at stack level, where the policy documents are visible) refuses a guardrail or channel role
policy of this stack that allows anything but reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .common import as_document, as_list, resource_policy, statements, violation
from .stack import Res, stack_policy

CHANNEL = "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration"
POLICY = "aws:iam/policy:Policy"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE = "aws:iam/role:Role"
BROAD_MANAGED = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")
READ_VERBS = ("Describe", "Get", "List")


def _managed_name(arn: str) -> str | None:
    """``AdministratorAccess`` for ``arn:aws:iam::aws:policy/AdministratorAccess``; ``None`` for
    customer policies (account id instead of ``aws``)."""
    if ":iam::aws:policy/" not in arn:
        return None
    return arn.rsplit("/", 1)[-1]


def check_channel(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    arns = [str(a) for a in as_list(props.get("guardrailPolicyArns"))]
    if not arns:
        out.append(violation(arns, "no guardrail policy: AWS applies AdministratorAccess",
                             "keep the Notifications component's read-only guardrail"))  # fmt: skip
    broad = [a for a in arns if (n := _managed_name(a)) and (n in BROAD_MANAGED
                                                              or n.endswith("FullAccess"))]  # fmt: skip
    if broad:
        out.append(violation(broad, "a guardrail lets the channel change the account",
                             "use the stack's read-only CloudWatch guardrail"))  # fmt: skip
    if props.get("userAuthorizationRequired") is not True:
        out.append(violation(props.get("userAuthorizationRequired"),
                             "channel members are not required to authorise with their own role",
                             "set user_authorization_required (the Notifications component does)"))  # fmt: skip
    return out


def writes(doc: Any) -> list[str]:
    """Allowed actions that are not read-only (``service:Describe*``/``Get*``/``List*``)."""
    out = []
    for st in statements(as_document(doc)):
        if st.get("Effect") != "Allow":
            continue
        if st.get("NotAction") is not None:
            out.append("NotAction " + ", ".join(map(str, as_list(st.get("NotAction")))))
        for action in map(str, as_list(st.get("Action"))):
            verb = action.split(":", 1)[-1]
            if action == "*" or not verb.startswith(READ_VERBS):
                out.append(action)
    return out


def check_chatbot_read_only(
    resources: Sequence[Res], _cfg: Mapping[str, Any]
) -> list[tuple[Res, str]]:
    channels = [r for r in resources if r.type == CHANNEL]
    if not channels:
        return []
    guardrails = {str(a) for c in channels for a in as_list(c.props.get("guardrailPolicyArns"))}
    roles = {str(c.props.get("iamRoleArn")) for c in channels}
    role_names = {str(r.props.get("name")) for r in resources
                  if r.type == ROLE and str(r.props.get("arn")) in roles}  # fmt: skip
    out = []
    for r in resources:
        if r.type == POLICY and str(r.props.get("arn")) in guardrails:
            what = "guardrail policy"
        elif r.type == ROLE_POLICY and str(r.props.get("role")) in role_names:
            what = "channel role policy"
        else:
            continue
        bad = writes(r.props.get("policy"))
        if bad:
            out.append((r, violation(bad, f"the Chatbot {what} allows more than reading",
                                     "allow only Describe*/Get*/List* actions")))  # fmt: skip
    return out


POLICIES = [
    resource_policy(
        name="chatbot-guardrails",
        description="Chatbot channels have explicit, narrow guardrails and per-user authorisation.",
        types=(CHANNEL,),
        check=check_channel,
    ),
    stack_policy(
        name="chatbot-read-only",
        description="The Chatbot guardrail and channel role of the stack only read.",
        check=check_chatbot_read_only,
    ),
]
