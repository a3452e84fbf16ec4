"""Helpers shared by the rules: config with strict defaults, documents, violation messages."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

Check = Callable[[str, Mapping[str, Any], Mapping[str, Any]], list[str]]
"""(resource type, properties, config) -> violation messages (without the resource name)."""

ANYWHERE = ("0.0.0.0/0", "::/0")


def violation(found: Any, problem: str, fix: str) -> str:
    """One violation: what is wrong, the offending value, how to fix it."""
    return f"{problem} (found {found!r}). Fix: {fix}"


def as_document(value: Any) -> dict[str, Any] | None:
    """A policy document given as a JSON string or an object; ``None`` if unreadable."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            doc = json.loads(value)
        except json.JSONDecodeError:
            return None
        return doc if isinstance(doc, dict) else None
    return None


def as_list(value: Any) -> list[Any]:
    """A value that may be one item or a sequence (the pack's proxies are Sequences, not lists)."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


def statements(doc: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not doc:
        return []
    return [s for s in as_list(doc.get("Statement")) if isinstance(s, Mapping)]


def resource_policy(
    *,
    name: str,
    description: str,
    types: Iterable[str],
    check: Check,
    schema: Mapping[str, Mapping[str, Any]] | None = None,
) -> ResourceValidationPolicy:
    """Wraps a pure check as a mandatory ``ResourceValidationPolicy`` for some resource types.

    Config defaults live in the schema *and* in each check (``cfg.get(key, strictest)``), so the
    pack is at its strictest even when the engine sends no config at all.
    """
    wanted = frozenset(types)

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type not in wanted:
            return
        cfg = args.get_config() or {}
        for message in check(args.resource_type, args.props, cfg):
            report(f"{args.name}: {message}", None)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(
            properties={k: dict(v) for k, v in (schema or {}).items()}
        ),
    )
