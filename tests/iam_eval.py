"""A small, strict IAM policy evaluator for the tests (identity policies and a boundary).

No maintained Python library evaluates a request against IAM policies offline: cloudsplaining and
parliament lint documents, policy_sentry describes actions, moto's access control ignores
conditions. This implements the part of AWS's evaluation logic the stack's documents use, and
refuses (``UnsupportedPolicyError``) anything else, so a document that grows a new operator cannot be
silently misjudged:

- explicit Deny in any policy (identity or boundary) wins; otherwise the request needs an Allow in
  the identity policies *and*, when there is a boundary, an Allow in the boundary;
- ``Action``/``NotAction`` with ``*``/``?`` wildcards, case-insensitive;
- ``Resource``/``NotResource``: ``*``, or ARNs matched segment by segment (the first five colons),
  ``*``/``?`` within a segment, case-sensitive;
- conditions: ``StringEquals``, ``StringNotEquals``, ``StringLike``, ``ArnEquals``, ``ArnLike``,
  ``Null``, ``Bool``, with their ``ForAnyValue:``/``ForAllValues:`` forms; every operator in a
  statement and every key in an operator must match (AND), any value of a key may (OR). A missing
  key fails every operator except the negated ``StringNotEquals`` and ``Null``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class UnsupportedPolicyError(ValueError):
    """The document uses an element or operator this evaluator does not implement."""


@dataclass(frozen=True)
class Request:
    """One authorization: an action on one resource ARN with a request context."""

    action: str
    resource: str
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _glob(pattern: str, text: str, *, case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, 0 if case else re.IGNORECASE) is not None


def action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern, action, case=False)


def arn_matches(pattern: str, arn: str) -> bool:
    """IAM's resource matching: ``*`` alone matches everything; otherwise the six ARN parts are
    compared one by one (the resource part may contain colons)."""
    if pattern == "*":
        return True
    p_parts, a_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(p_parts) != 6 or len(a_parts) != 6:
        return _glob(pattern, arn, case=True)
    return all(_glob(p, a, case=True) for p, a in zip(p_parts, a_parts, strict=True))


_SINGLE = {
    "StringEquals": lambda want, got: want == got,
    "StringLike": lambda want, got: _glob(want, got, case=True),
    "ArnEquals": lambda want, got: want == got,
    "ArnLike": lambda want, got: arn_matches(want, got),
    "Bool": lambda want, got: str(want).lower() == str(got).lower(),
}


def _condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, Any]) -> bool:
    values = [str(v) for v in _as_list(wanted)]
    if operator == "Null":
        (want,) = values
        return (key not in context) == (want.lower() == "true")
    qualifier, _, base = operator.rpartition(":")
    negated = base == "StringNotEquals"
    compare = _SINGLE.get("StringEquals" if negated else base)
    if compare is None or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedPolicyError(f"condition operator {operator}")
    if key not in context:
        return negated or qualifier == "ForAllValues"
    got = [str(v) for v in _as_list(context[key])]
    if qualifier == "ForAllValues":
        ok = all(any(compare(w, g) for w in values) for g in got)
    elif qualifier == "ForAnyValue" or len(got) == 1:
        ok = any(compare(w, g) for w in values for g in got)
    else:
        raise UnsupportedPolicyError(f"{operator} on the multi-valued key {key}")
    return not ok if negated else ok


def statement_matches(st: Mapping[str, Any], request: Request) -> bool:
    known = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
    if set(st) - known:
        raise UnsupportedPolicyError(f"statement elements {sorted(set(st) - known)}")
    if "Action" in st:
        if not any(action_matches(a, request.action) for a in _as_list(st["Action"])):
            return False
    elif any(action_matches(a, request.action) for a in _as_list(st.get("NotAction"))):
        return False
    if "Resource" in st:
        if not any(arn_matches(r, request.resource) for r in _as_list(st["Resource"])):
            return False
    elif any(arn_matches(r, request.resource) for r in _as_list(st.get("NotResource"))):
        return False
    for operator, keys in (st.get("Condition") or {}).items():
        for key, wanted in keys.items():
            if not _condition_holds(operator, key, wanted, request.context):
                return False
    return True


def _statements(docs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [st for doc in docs for st in _as_list(doc.get("Statement"))]


def decide(request: Request, identity: Sequence[Mapping[str, Any]],
           boundary: Mapping[str, Any] | None = None) -> str:  # fmt: skip
    """``"allow"``, ``"explicit-deny"`` or ``"implicit-deny"`` (no Allow, or none in the
    boundary)."""
    everything = _statements([*identity, *([boundary] if boundary else [])])
    if any(st["Effect"] == "Deny" and statement_matches(st, request) for st in everything):
        return "explicit-deny"
    allowed = any(
        st["Effect"] == "Allow" and statement_matches(st, request) for st in _statements(identity)
    )
    if allowed and boundary is not None:
        allowed = any(
            st["Effect"] == "Allow" and statement_matches(st, request)
            for st in _statements([boundary])
        )
    return "allow" if allowed else "implicit-deny"


def allowed(request: Request, identity: Sequence[Mapping[str, Any]],
            boundary: Mapping[str, Any] | None = None) -> bool:  # fmt: skip
    return decide(request, identity, boundary) == "allow"


def trust_allows(doc: Mapping[str, Any], *, federated: str, action: str,
                 context: Mapping[str, str | Sequence[str]]) -> bool:  # fmt: skip
    """Whether a role's trust policy lets ``federated`` (an OIDC provider ARN) call ``action``
    with these token claims (``<host>:sub``, ``<host>:aud``). Deny wins, as in any policy."""
    decision = False
    for st in _as_list(doc.get("Statement")):
        principals = _as_list((st.get("Principal") or {}).get("Federated"))
        body = {k: v for k, v in st.items() if k != "Principal"}
        if federated not in principals and st["Effect"] == "Allow":
            continue
        if statement_matches(body, Request(action=action, resource="*", context=context)):
            if st["Effect"] == "Deny":
                return False
            decision = True
    return decision
