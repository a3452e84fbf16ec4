"""Log groups keep logs long enough to investigate an incident."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import resource_policy, violation
from .stack_keys import fix

LOG_TYPES = ("aws:cloudwatch/logGroup:LogGroup",)


def check_retention(t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    minimum = int(cfg.get("minRetentionDays", 365))
    remedy = fix(
        t,
        "retentionInDays",
        f"{minimum} or more",
        f"set retentionInDays to at least {minimum}",
        props,
    )
    days = props.get("retentionInDays")
    if days in (None, 0):
        if cfg.get("allowNeverExpire", False):
            return []
        return [violation(days, "logs never expire (no retention set)", remedy)]
    if int(days) < minimum:
        return [violation(int(days), f"retention is below {minimum} days", remedy)]
    return []


def check_kms(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    key = str(props.get("kmsKeyId") or "")
    if not key or ":alias/aws/" in key or key.startswith("alias/aws/"):
        return [violation(key or None, "logs are not encrypted with a customer-managed KMS key",
                          "set observability.customer_managed_key: true (the stack's own key) or "
                          "observability.log_kms_key_arn")]  # fmt: skip
    return []


POLICIES = [
    resource_policy(
        name="log-group-kms",
        description="Log groups are encrypted with a customer-managed KMS key.",
        types=LOG_TYPES,
        check=check_kms,
    ),
    resource_policy(
        name="log-group-retention",
        description="Log groups keep logs at least N days (and never 'never expire' unless allowed).",
        types=LOG_TYPES,
        check=check_retention,
        schema={
            "minRetentionDays": {"type": "integer", "default": 365},
            "allowNeverExpire": {"type": "boolean", "default": False},
        },  # fmt: skip
    ),
]
