"""Log groups keep logs long enough to investigate an incident."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import resource_policy, violation
from .stack_keys import fix

LOG_TYPES = ("aws:cloudwatch/logGroup:LogGroup",)


def check_retention(t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    minimum = int(cfg.get("minRetentionDays", 30))
    remedy = fix(t, "retentionInDays", f"{minimum} or more",
                 f"set retentionInDays to at least {minimum}", props)
    days = props.get("retentionInDays")
    if days in (None, 0):
        if cfg.get("allowNeverExpire", False):
            return []
        return [violation(days, "logs never expire (no retention set)", remedy)]
    if int(days) < minimum:
        return [violation(int(days), f"retention is below {minimum} days", remedy)]
    return []


POLICIES = [
    resource_policy(
        name="log-group-retention",
        description="Log groups keep logs at least N days (and never 'never expire' unless allowed).",
        types=LOG_TYPES,
        check=check_retention,
        schema={
            "minRetentionDays": {"type": "integer", "default": 30},
            "allowNeverExpire": {"type": "boolean", "default": False},
        },  # fmt: skip
    )
]
