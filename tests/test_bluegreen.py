"""CodeDeploy blue/green: the deployment group per stack, the config choice, and wiring."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.bluegreen import PREDEFINED_CONFIGS, choose_deployment_config
from components.release_provider import render_appspec
from components.settings import DeploySettings, TrafficShift
from deplight.harness import read_stack_config, run_program
from tests.conftest import program_run
from tests.snapshots import assert_snapshot

GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
RELEASE = "pulumi-python:dynamic/deplight:Release"


def test_predefined_configs_are_chosen_by_name() -> None:
    assert choose_deployment_config("p", DeploySettings(traffic=TrafficShift.ALL_AT_ONCE)).name == (
        "CodeDeployDefault.ECSAllAtOnce"
    )
    for (traffic, pct, minutes), name in PREDEFINED_CONFIGS.items():
        choice = choose_deployment_config(
            "p", DeploySettings(traffic=traffic, percent=pct, interval_minutes=minutes)
        )
        assert (choice.name, choice.custom) == (name, False)


@given(
    traffic=st.sampled_from([TrafficShift.CANARY, TrafficShift.LINEAR]),
    percent=st.integers(min_value=1, max_value=99),
    minutes=st.integers(min_value=1, max_value=2880),
)
def test_config_choice_property(traffic: TrafficShift, percent: int, minutes: int) -> None:
    choice = choose_deployment_config(
        "web-prod", DeploySettings(traffic=traffic, percent=percent, interval_minutes=minutes)
    )
    predefined = (traffic, percent, minutes) in PREDEFINED_CONFIGS
    assert choice.custom is not predefined
    assert (choice.percent, choice.interval_minutes) == (percent, minutes)
    if choice.custom:
        assert choice.name.startswith("web-prod-") and not choice.name.startswith("CodeDeploy")


def test_appspec_snapshot() -> None:
    appspec = render_appspec(
        task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/web-prod:7",
        container_name="web", container_port=8080,
        subnets=["subnet-0a1b2c3d4e5f60718", "subnet-1b2c3d4e5f6071829", "subnet-2c3d4e5f607182930"],
        security_groups=["sg-0123456789abcdef0"], assign_public_ip=False, platform_version="LATEST",
    )  # fmt: skip
    assert_snapshot("appspec_prod", appspec)
    props = appspec["Resources"][0]["TargetService"]["Properties"]
    assert props["LoadBalancerInfo"] == {"ContainerName": "web", "ContainerPort": 8080}
    assert props["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    assert props["PlatformVersion"] == "LATEST"


def test_prod_deployment_group() -> None:
    run = program_run("prod")
    group = run.one(GROUP).inputs
    assert group["deploymentStyle"] == {
        "deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL",
    }  # fmt: skip
    assert group["autoRollbackConfiguration"]["enabled"] is True
    assert set(group["autoRollbackConfiguration"]["events"]) == {
        "DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM",
    }  # fmt: skip
    alarms = group["alarmConfiguration"]
    assert alarms["enabled"] is True
    assert sorted(alarms["alarms"]) == sorted(run.outputs["rollback_alarm_names"])
    pair = group["loadBalancerInfo"]["targetGroupPairInfo"]
    assert pair["prodTrafficRoute"]["listenerArns"] == [run.outputs["prod_listener_arn"]]
    assert pair["testTrafficRoute"]["listenerArns"] == [run.outputs["test_listener_arn"]]
    assert [t["name"] for t in pair["targetGroups"]] == [
        run.outputs["blue_target_group_name"], run.outputs["green_target_group_name"],
    ]  # fmt: skip
    bg = group["blueGreenDeploymentConfig"]
    assert bg["deploymentReadyOption"]["actionOnTimeout"] == "CONTINUE_DEPLOYMENT"
    term = bg["terminateBlueInstancesOnDeploymentSuccess"]
    assert (term["action"], int(term["terminationWaitTimeInMinutes"])) == (
        "TERMINATE", run.settings.deploy.blue_termination_minutes,
    )  # fmt: skip
    assert group["deploymentConfigName"] == "CodeDeployDefault.ECSCanary10Percent5Minutes"
    assert group["ecsService"] == {"clusterName": run.outputs["cluster_name"],
                                   "serviceName": run.outputs["service_name"]}  # fmt: skip
    role = run.one("aws:iam/role:Role", "codedeploy-role")
    assert group["serviceRoleArn"] == role.outputs["arn"]
    assert "codedeploy.amazonaws.com" in role.inputs["assumeRolePolicy"]


def test_release_resource_inputs_and_outputs() -> None:
    run = program_run("prod")
    release = run.one(RELEASE)
    i = release.inputs
    assert i["task_definition_arn"] == run.outputs["task_definition_arn"]
    assert (i["container_name"], int(i["container_port"])) == ("web", 8080)
    assert i["all_at_once"] is False
    assert int(i["timeout_seconds"]) == run.settings.deploy.timeout_minutes * 60
    group = run.one(GROUP)
    assert group.urn in release.depends_on
    assert run.outputs["serving_task_definition_arn"] == run.outputs["task_definition_arn"]
    assert run.outputs["release_deployment_id"].startswith("d-")
    assert run.outputs["codedeploy_application_name"] == "web-prod"
    assert release.outputs["deployment_status"] == "Succeeded"


def test_release_has_its_own_type_and_keeps_existing_state() -> None:
    release = program_run("prod").one(RELEASE)
    assert release.urn.endswith("deplight:deploy:BlueGreen$pulumi-python:dynamic/deplight:Release"
                                "::web-prod-release")  # fmt: skip
    # without the alias, existing stacks would replace the resource: a new CodeDeploy deployment
    assert release.alias_types == ("pulumi-python:dynamic:Resource",)


@pytest.mark.parametrize("nat", ["per_az", "none"])
def test_release_carries_the_services_network_and_platform(nat: str) -> None:
    """ECS refuses network and platform changes on a CODE_DEPLOY service: the AppSpec carries
    exactly what the service was created with, so a subnet or security group change is
    released by CodeDeploy."""
    config = read_stack_config("prod")
    config["deplight:network"] = {**config["deplight:network"], "nat": nat}
    run = run_program("prod", config)
    i = run.one(RELEASE).inputs
    net = run.one("aws:ecs/service:Service").inputs["networkConfiguration"]
    assert (
        i["subnets"]
        == net["subnets"]
        == run.outputs["public_subnet_ids" if nat == "none" else "private_subnet_ids"]
    )
    assert i["security_groups"] == net["securityGroups"]
    assert i["assign_public_ip"] is net["assignPublicIp"] is (nat == "none")
    assert i["platform_version"] == run.one("aws:ecs/service:Service").inputs["platformVersion"]


def test_release_uses_the_stacks_region_and_profile() -> None:
    config = read_stack_config("prod")
    assert "profile" not in program_run("prod").one(RELEASE).inputs  # default credential chain
    config["aws:region"] = "eu-west-1"
    config["aws:profile"] = "deplight-prod"
    release = run_program("prod", config).one(RELEASE).inputs
    assert (release["region"], release["profile"]) == ("eu-west-1", "deplight-prod")


def variant(**deploy: Any) -> Any:
    config = read_stack_config("prod")
    config["deplight:deploy"] = {**config["deplight:deploy"], **deploy}
    return config


def test_rollback_release_shifts_all_traffic_at_once() -> None:
    config = read_stack_config("prod")
    config["deplight:release"] = {"kind": "rollback"}
    assert run_program("prod", config).one(RELEASE).inputs["all_at_once"] is True


def test_custom_deployment_config_when_no_predefined_one_matches() -> None:
    run = run_program("prod", variant(traffic="linear", percent=20, interval_minutes=2))
    cfg = run.one("aws:codedeploy/deploymentConfig:DeploymentConfig").inputs
    assert cfg["computePlatform"] == "ECS"
    routing = cfg["trafficRoutingConfig"]
    assert routing["type"] == "TimeBasedLinear"
    assert (int(routing["timeBasedLinear"]["percentage"]),
            int(routing["timeBasedLinear"]["interval"])) == (20, 2)  # fmt: skip
    assert run.one(GROUP).inputs["deploymentConfigName"] == cfg["deploymentConfigName"]


def test_rolling_creates_no_codedeploy_resources() -> None:
    for run in (program_run("dev"), run_program("prod", variant(strategy="rolling"))):
        assert not [r for r in run.resources if r.type.startswith("aws:codedeploy/")]
        assert not run.of_type(RELEASE)
        assert "codedeploy_application_name" not in run.outputs
        assert run.outputs["serving_task_definition_arn"] == run.outputs["task_definition_arn"]


def test_bootstrap_creates_no_release() -> None:
    config = read_stack_config("prod")
    del config["deplight:image_tag"]
    run = run_program("prod", config)
    assert not run.of_type(RELEASE) and not run.of_type(GROUP)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plan_shows_the_release_tree(stack: str) -> None:
    from deplight.plan import render_text

    text = render_text(program_run(stack))
    if stack == "prod":
        assert "deplight:deploy:BlueGreen" in text and "web-prod-release" in text
        assert "task_definition_arn:" in text
    else:
        assert "deplight:deploy:BlueGreen" not in text
