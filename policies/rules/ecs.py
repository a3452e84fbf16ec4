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


def check_container_insights(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]
                             ) -> list[str]:  # fmt: skip
    values = {str(s.get("name")): s.get("value") for s in as_list(props.get("settings"))
              if isinstance(s, Mapping)}  # fmt: skip
    if values.get("containerInsights") not in ("enabled", "enhanced"):
        return [violation(values.get("containerInsights"), "Container Insights is off (the "
                          "healthy-hosts rollback alarm reads its desired task count)",
                          "set the cluster setting containerInsights: enabled")]  # fmt: skip
    return []


def check_min_healthy(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    """An ECS-controller deployment keeps full capacity: old tasks stop only once new ones are
    healthy. CODE_DEPLOY keeps the blue task set whole by itself."""
    if (props.get("deploymentController") or {}).get("type", "ECS") != "ECS":
        return []
    minimum = float(cfg.get("minHealthyPercent", 100))
    low = props.get("deploymentMinimumHealthyPercent")
    high = props.get("deploymentMaximumPercent")
    low = 100.0 if low is None else float(low)  # ECS's defaults: 100 and 200
    high = 200.0 if high is None else float(high)
    out = []
    if low < minimum:
        out.append(violation(low, f"a deployment may drop below {minimum:g}% of the desired "
                             "tasks", f"set deploymentMinimumHealthyPercent to {minimum:g}"))  # fmt: skip
    if high <= low:
        out.append(violation({"min": low, "max": high}, "a deployment has no room to start new "
                             "tasks before old ones stop", "set deploymentMaximumPercent above "
                             "the minimum (200)"))  # fmt: skip
    return out


POLICIES = [
    resource_policy(
        name="ecs-container-insights",
        description="ECS clusters have Container Insights on.",
        types=("aws:ecs/cluster:Cluster",),
        check=check_container_insights,
    ),
    resource_policy(
        name="ecs-deployment-keeps-capacity",
        description="ECS deployments keep the minimum healthy percent at 100 and room above it.",
        types=SERVICE_TYPES,
        check=check_min_healthy,
        schema={"minHealthyPercent": {"type": "number", "default": 100}},
    ),
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
