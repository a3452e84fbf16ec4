"""Strategy ecs_bluegreen: ECS's built-in blue/green, canary and linear releases (staging)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.contract import Strategy
from components.ecs_service import ecs_deployment_configuration
from components.observability import rollback_alarm_names
from components.settings import DeploySettings, SettingsError, TrafficShift
from deplight.harness import read_stack_config, run_program
from policies.rules import ecs as ecs_rules
from tests.conftest import program_run

SERVICE = "aws:ecs/service:Service"
RULE = "aws:lb/listenerRule:ListenerRule"


def test_staging_uses_ecs_bluegreen() -> None:
    assert program_run("staging").settings.deploy.strategy is Strategy.ECS_BLUEGREEN


@pytest.mark.parametrize(
    ("traffic", "expected"),
    [
        (TrafficShift.ALL_AT_ONCE, {"strategy": "BLUE_GREEN", "bake_time_in_minutes": "15"}),
        (TrafficShift.CANARY, {"strategy": "CANARY", "bake_time_in_minutes": "15",
                               "canary_configuration": {"canary_percent": 10.0,
                                                        "canary_bake_time_in_minutes": "5"}}),
        (TrafficShift.LINEAR, {"strategy": "LINEAR", "bake_time_in_minutes": "15",
                               "linear_configuration": {"step_percent": 10.0,
                                                        "step_bake_time_in_minutes": "5"}}),
    ],
)  # fmt: skip
def test_deployment_configuration(traffic: TrafficShift, expected: dict[str, Any]) -> None:
    deploy = DeploySettings(strategy=Strategy.ECS_BLUEGREEN, traffic=traffic, percent=10,
                            interval_minutes=5, bake_time_minutes=15)  # fmt: skip
    assert ecs_deployment_configuration(deploy) == expected


def test_service_listener_rules_role_alarms_and_breaker() -> None:
    run = program_run("staging")
    svc = run.one(SERVICE)
    i = svc.inputs
    assert i["deploymentController"]["type"] == "ECS"
    assert i["deploymentConfiguration"]["strategy"] == "CANARY"
    assert i["deploymentConfiguration"]["bakeTimeInMinutes"] == "15"
    assert i["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert i["alarms"] == {"enable": True, "rollback": True,
                           "alarmNames": rollback_alarm_names("web-staging")}  # fmt: skip
    registered = {a.inputs["name"] for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert set(i["alarms"]["alarmNames"]) <= registered, "the service names alarms that exist"
    assert set(svc.ignore_changes) == {"desiredCount", "loadBalancers"}

    rules = {r.name.removeprefix("web-staging-"): r for r in run.of_type(RULE)}
    assert set(rules) == {"prod-rule", "test-rule"}
    for r in rules.values():
        assert r.ignore_changes == ("actions",), "ECS rewrites the rules' actions"
    listeners = {int(x.inputs["port"]): x for x in run.of_type("aws:lb/listener:Listener")}
    assert rules["prod-rule"].inputs["listenerArn"] == listeners[443].outputs["arn"]
    assert rules["test-rule"].inputs["listenerArn"] == listeners[8443].outputs["arn"]
    blue = run.one("aws:lb/targetGroup:TargetGroup", "blue").outputs["arn"]
    green = run.one("aws:lb/targetGroup:TargetGroup", "green").outputs["arn"]
    assert rules["prod-rule"].inputs["actions"][0]["targetGroupArn"] == blue

    (lb,) = i["loadBalancers"]
    adv = lb["advancedConfiguration"]
    assert lb["targetGroupArn"] == blue and adv["alternateTargetGroupArn"] == green
    assert adv["productionListenerRule"] == rules["prod-rule"].outputs["arn"]
    assert adv["testListenerRule"] == rules["test-rule"].outputs["arn"]
    role = run.one("aws:iam/role:Role", "web-staging-ecs-infrastructure-role")
    assert adv["roleArn"] == role.outputs["arn"]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ecs.amazonaws.com"}
    (attachment,) = [a for a in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                     if "infrastructure" in a.name]  # fmt: skip
    assert attachment.inputs["policyArn"].endswith(
        "AmazonECSInfrastructureRolePolicyForLoadBalancers"
    )
    assert {r.urn for r in run.of_type(RULE)} <= set(svc.depends_on)


def test_no_codedeploy_resources_and_outputs_name_the_strategy() -> None:
    run = program_run("staging")
    assert not [r for r in run.resources if r.type.startswith("aws:codedeploy/")]
    assert not run.of_type("pulumi-python:dynamic/deplight:Release")
    assert not [r for r in run.resources if r.type.startswith("pulumi-python:dynamic/deplight")]
    assert run.outputs["deploy_strategy"] == "ecs_bluegreen"


def test_other_strategies_have_no_listener_rules() -> None:
    for stack in ("dev", "prod"):
        assert not program_run(stack).of_type(RULE)
        assert "alarms" not in program_run(stack).one(SERVICE).inputs


@pytest.mark.parametrize(
    ("deploy", "key"),
    [
        (
            {"strategy": "ecs_bluegreen", "interval_minutes": 2000},
            "deplight:deploy.interval_minutes",
        ),
        (
            {"strategy": "ecs_bluegreen", "traffic": "linear", "percent": 2},
            "deplight:deploy.percent",
        ),
        (
            {"strategy": "ecs_bluegreen", "bake_time_minutes": 1500},
            "deplight:deploy.bake_time_minutes",
        ),
    ],
)
def test_settings_validate_ecs_limits(deploy: dict[str, Any], key: str) -> None:
    config = read_stack_config("staging")
    config["deplight:deploy"] = deploy
    with pytest.raises(SettingsError) as info:
        run_program("staging", config)
    assert any(e.startswith(key) for e in info.value.errors), info.value.errors


def test_policy_accepts_ecs_bluegreen_only_with_alarm_rollback_or_breaker() -> None:
    alarms = {"enable": True, "rollback": True, "alarmNames": ["web-staging-5xx-rate"]}
    base = {"deploymentController": {"type": "ECS"},
            "deploymentConfiguration": {"strategy": "BLUE_GREEN"}}  # fmt: skip
    check = ecs_rules.check_rollback_capable
    assert check("aws:ecs/service:Service", {**base, "alarms": alarms}, {}) == []
    assert check("aws:ecs/service:Service", {**base, "deploymentCircuitBreaker":
                                             {"enable": True, "rollback": True}}, {}) == []  # fmt: skip
    assert check("aws:ecs/service:Service", {**base, "alarms": {**alarms, "rollback": False}}, {})
    assert check("aws:ecs/service:Service", {**base, "alarms": {**alarms, "alarmNames": []}}, {})
    assert check("aws:ecs/service:Service", base, {})
