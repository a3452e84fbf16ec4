"""Which Deplight stack setting decides a resource property.

Deplight's users never write resource properties: they set keys in ``Pulumi.<stack>.yaml`` and
the components derive the properties. So where a key decides the offending property, a
violation's "Fix:" names the key to set (``deplight:ingress.deletion_protection: true``) and
mentions the property only in passing. Where no key decides it (a property Deplight always sets
the safe way), the fix names the property, because only changed code can produce the violation.

This module imports nothing from ``components`` (the pack runs in its own process); a test checks
that every key named here exists in ``components.settings``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

STACK_FILE = "Pulumi.<stack>.yaml"
"""``deplight check`` puts the checked stack's name in."""

Resolver = Callable[[Mapping[str, Any]], str | None]
"""Resource properties -> the stack key that decides them here, or ``None`` if none does."""

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
FLOW_LOGS_SUFFIX = "/vpc-flow-logs"


def _log_group_key(props: Mapping[str, Any]) -> str | None:
    name = str(props.get("name") or "")
    if name.endswith(FLOW_LOGS_SUFFIX):
        return "deplight:network.flow_logs_retention_days"
    if name.startswith("/ecs/"):
        return "deplight:observability.log_retention_days"
    return None


def _image_key(props: Mapping[str, Any]) -> str | None:
    return (
        "deplight:service.xray_daemon_image"
        if props.get("name") == "xray-daemon"
        else ("deplight:image_tag")
    )


SETTING_FOR: dict[tuple[str, str], str | Resolver] = {
    ("aws:lb/loadBalancer:LoadBalancer", "enableDeletionProtection"):
        "deplight:ingress.deletion_protection",
    ("aws:alb/loadBalancer:LoadBalancer", "enableDeletionProtection"):
        "deplight:ingress.deletion_protection",
    ("aws:lb/listener:Listener", "sslPolicy"): "deplight:ingress.ssl_policy",
    ("aws:alb/listener:Listener", "sslPolicy"): "deplight:ingress.ssl_policy",
    ("aws:lb/listener:Listener", "certificateArn"): "deplight:ingress.certificate_arn",
    ("aws:alb/listener:Listener", "certificateArn"): "deplight:ingress.certificate_arn",
    ("aws:ecr/repository:Repository", "imageTagMutability"): "deplight:service.ecr_immutable_tags",
    ("aws:ecs/service:Service", "assignPublicIp"): "deplight:network.nat",
    ("aws:ecs/service:Service", "desiredCount"): "deplight:service.min_count",
    ("aws:appautoscaling/target:Target", "minCapacity"): "deplight:service.min_count",
    ("aws:ecs/service:Service", "subnets"): "deplight:network.az_count",
    (LOG_GROUP, "retentionInDays"): _log_group_key,
    ("aws:ecs/taskDefinition:TaskDefinition", "image"): _image_key,
}  # fmt: skip


def setting_for(
    resource_type: str, prop: str, props: Mapping[str, Any] | None = None
) -> str | None:
    """The stack key that decides ``prop`` of a ``resource_type``, if one does."""
    entry = SETTING_FOR.get((resource_type, prop))
    if entry is None or isinstance(entry, str):
        return entry
    return entry(props or {})


def fix(resource_type: str, prop: str, value: str, otherwise: str,
        props: Mapping[str, Any] | None = None) -> str:  # fmt: skip
    """``set <key>: <value> in the stack file (<prop>)`` where a key decides ``prop``, else
    ``otherwise`` (the fix in terms of the resource property)."""
    key = setting_for(resource_type, prop, props)
    if key is None:
        return otherwise
    return f"set {key}: {value} in {STACK_FILE} (it sets {prop})"
