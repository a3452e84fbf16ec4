"""ECS services: no public IP, and a deployment controller that can roll back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import as_list, resource_policy, violation
from .stack_keys import fix

SERVICE_TYPES = ("aws:ecs/service:Service",)


def check_public_ip(t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    net = props.get("networkConfiguration") or {}
    if net.get("assignPublicIp") is True:
        return [violation(True, "tasks get public IP addresses",
                          fix(t, "assignPublicIp", "single (or per_az)", "run tasks in private "
                              "subnets behind NAT with assignPublicIp false"))]  # fmt: skip
    return []


def check_rollback_capable(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    controller = (props.get("deploymentController") or {}).get("type") or "ECS"
    if controller == "CODE_DEPLOY":
        return []
    breaker = props.get("deploymentCircuitBreaker") or {}
    alarms = props.get("alarms") or {}
    if controller == "ECS" and breaker.get("enable") is True and breaker.get("rollback") is True:
        return []
    # ECS blue/green (BLUE_GREEN, CANARY, LINEAR strategies) counts only with alarm rollback
    if (controller == "ECS" and alarms.get("enable") is True and alarms.get("rollback") is True
            and as_list(alarms.get("alarmNames"))):  # fmt: skip
        return []
    return [violation(
        {"deploymentController": controller, "deploymentCircuitBreaker": dict(breaker),
         "alarms": dict(alarms)},
        "a failed deployment does not roll back",
        "use the CODE_DEPLOY controller, or the ECS controller with deploymentCircuitBreaker "
        "{enable: true, rollback: true} or alarms {enable: true, rollback: true, alarmNames}",
    )]  # fmt: skip


POLICIES = [
    resource_policy(
        name="ecs-service-no-public-ip",
        description="ECS tasks run without public IP addresses.",
        types=SERVICE_TYPES,
        check=check_public_ip,
    ),
    resource_policy(
        name="ecs-service-rollback-capable",
        description="ECS services use a deployment controller that rolls back a failed release.",
        types=SERVICE_TYPES,
        check=check_rollback_capable,
    ),
]
