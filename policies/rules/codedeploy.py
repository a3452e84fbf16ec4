"""CodeDeploy deployment groups must be blue/green and roll themselves back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import as_list, resource_policy, violation

GROUP_TYPES = ("aws:codedeploy/deploymentGroup:DeploymentGroup",)
REQUIRED_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM")


def check_deployment_group(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    style = props.get("deploymentStyle") or {}
    found = (style.get("deploymentType"), style.get("deploymentOption"))
    if found != ("BLUE_GREEN", "WITH_TRAFFIC_CONTROL"):
        out.append(violation(found, "deployment style is not blue/green with traffic control",
                             "set deploymentStyle to BLUE_GREEN + WITH_TRAFFIC_CONTROL"))  # fmt: skip
    rollback = props.get("autoRollbackConfiguration") or {}
    events = set(as_list(rollback.get("events")))
    missing = [e for e in REQUIRED_EVENTS if e not in events]
    if not rollback.get("enabled") or missing:
        out.append(violation(
            {"enabled": rollback.get("enabled"), "events": sorted(events)},
            "automatic rollback is not enabled on " + " and ".join(missing or REQUIRED_EVENTS),
            "enable autoRollbackConfiguration with DEPLOYMENT_FAILURE and DEPLOYMENT_STOP_ON_ALARM",
        ))  # fmt: skip
    alarms = props.get("alarmConfiguration") or {}
    if not alarms.get("enabled") or not as_list(alarms.get("alarms")):
        out.append(violation(
            {"enabled": alarms.get("enabled"), "alarms": as_list(alarms.get("alarms"))},
            "no alarm can stop a bad release",
            "enable alarmConfiguration with the stack's rollback alarms (5xx, latency, health)",
        ))  # fmt: skip
    return out


POLICIES = [
    resource_policy(
        name="codedeploy-blue-green-rollback",
        description="CodeDeploy groups are blue/green and roll back on failure and on alarm.",
        types=GROUP_TYPES,
        check=check_deployment_group,
    )
]
