"""The release provider against moto's CodeDeploy over HTTP, and failure paths via Stubber.

moto implements CreateApplication, CreateDeploymentGroup, CreateDeployment and GetDeployment, but
its deployments never progress and it has no ListDeploymentTargets: the happy-path tests play
CodeDeploy's part by marking the deployment Succeeded in moto's backend. Failure, stop-on-alarm,
rollback and the traffic-shift lifecycle use botocore's Stubber with responses shaped as in the
CodeDeploy API reference (GetDeployment, ListDeploymentTargets, GetDeploymentTarget).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.backends import get_backend

from components.release_provider import (
    ReleaseFailedError,
    ReleaseProvider,
    release,
    wait_for_traffic,
)

ACCOUNT, REGION = "123456789012", "us-east-1"
TD1 = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web-prod:1"
TD2 = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web-prod:2"


@pytest.fixture
def codedeploy(aws_endpoint: str) -> Any:
    """The CodeDeploy application and group on the session's moto server (reset for this test)."""
    client = boto3.client("codedeploy", region_name=REGION, endpoint_url=aws_endpoint)
    client.create_application(applicationName="web-prod", computePlatform="ECS")
    client.create_deployment_group(
        applicationName="web-prod", deploymentGroupName="web-prod",
        serviceRoleArn=f"arn:aws:iam::{ACCOUNT}:role/web-prod-codedeploy",
        deploymentStyle={"deploymentType": "BLUE_GREEN",
                         "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    )  # fmt: skip
    return client


def props(task_definition: str, **extra: Any) -> dict[str, Any]:
    return {
        "application_name": "web-prod", "deployment_group_name": "web-prod",
        "task_definition_arn": task_definition, "container_name": "web", "container_port": 8080,
        "region": REGION, "all_at_once": False, "timeout_seconds": 30, "poll_seconds": 0.01,
        **extra,
    }  # fmt: skip


def complete_deployments_in_moto(status: str = "Succeeded") -> threading.Event:
    """Plays CodeDeploy: marks every deployment moto holds as ``status`` shortly after creation."""
    stop = threading.Event()
    backend = get_backend("codedeploy")[ACCOUNT][REGION]

    def run() -> None:
        while not stop.is_set():
            for dep in list(backend.deployments.values()):
                dep.status = status
            stop.wait(0.005)

    threading.Thread(target=run, daemon=True).start()
    return stop


def test_create_then_update_with_a_new_task_definition(codedeploy: Any) -> None:
    stop = complete_deployments_in_moto()
    try:
        provider = ReleaseProvider()
        created = provider.create(props(TD1))
        assert created.id and created.outs["serving_task_definition_arn"] == TD1
        info = codedeploy.get_deployment(deploymentId=created.id)["deploymentInfo"]
        assert info["applicationName"] == "web-prod" and info["deploymentGroupName"] == "web-prod"
        appspec = json.loads(info["revision"]["appSpecContent"]["content"])
        target = appspec["Resources"][0]["TargetService"]["Properties"]
        assert target["TaskDefinition"] == TD1
        assert target["LoadBalancerInfo"] == {"ContainerName": "web", "ContainerPort": 8080}

        diff = provider.diff(created.id, created.outs, props(TD2))
        assert diff.changes is True and not diff.replaces
        updated = provider.update(created.id, created.outs, props(TD2, all_at_once=True))
        assert updated.outs["deployment_id"] != created.id
        assert updated.outs["serving_task_definition_arn"] == TD2
        info = codedeploy.get_deployment(deploymentId=updated.outs["deployment_id"])
        assert info["deploymentInfo"]["deploymentConfigName"] == "CodeDeployDefault.ECSAllAtOnce"
    finally:
        stop.set()


def test_no_op_diff_when_only_other_inputs_change() -> None:
    provider = ReleaseProvider()
    old = props(TD1)
    assert provider.diff("d-1", old, dict(old)).changes is False
    assert (
        provider.diff("d-1", old, props(TD1, timeout_seconds=99, all_at_once=True)).changes is False
    )


def test_moto_deployment_that_fails_fails_the_resource(codedeploy: Any) -> None:
    stop = complete_deployments_in_moto("Failed")
    try:
        with pytest.raises(ReleaseFailedError, match=r"CodeDeploy deployment \S+ ended Failed"):
            release(props(TD1))
    finally:
        stop.set()


# --- Stubber: states and APIs moto lacks --------------------------------------------------------
def stubbed() -> tuple[Any, Stubber]:
    client = boto3.client("codedeploy", region_name=REGION, endpoint_url="http://127.0.0.1:9")
    return client, Stubber(client)


def deployment(status: str, **extra: Any) -> dict[str, Any]:
    return {"deploymentInfo": {"deploymentId": "d-ABCDEF123", "applicationName": "web-prod",
                               "deploymentGroupName": "web-prod", "status": status, **extra}}  # fmt: skip


def target(events: dict[str, str]) -> dict[str, Any]:
    return {
        "deploymentTarget": {
            "deploymentTargetType": "ECSTarget",
            "ecsTarget": {
                "deploymentId": "d-ABCDEF123", "targetId": "web-prod:web-prod", "status": "InProgress",
                "lifecycleEvents": [{"lifecycleEventName": k, "status": v} for k, v in events.items()],
            },
        }
    }  # fmt: skip


def test_returns_once_traffic_is_on_green_without_waiting_for_blue_termination() -> None:
    client, stub = stubbed()
    ids = {"deploymentId": "d-ABCDEF123"}
    shifting = {"BeforeInstall": "Succeeded", "Install": "Succeeded", "AfterInstall": "Succeeded",
                "AllowTestTraffic": "Succeeded", "AfterAllowTestTraffic": "Succeeded",
                "BeforeAllowTraffic": "Succeeded", "AllowTraffic": "InProgress",
                "AfterAllowTraffic": "Pending"}  # fmt: skip
    stub.add_response("get_deployment", deployment("InProgress"), ids)
    stub.add_response("list_deployment_targets", {"targetIds": ["web-prod:web-prod"]}, ids)
    stub.add_response("get_deployment_target", target(shifting),
                      {**ids, "targetId": "web-prod:web-prod"})  # fmt: skip
    stub.add_response("get_deployment", deployment("InProgress"), ids)
    stub.add_response("list_deployment_targets", {"targetIds": ["web-prod:web-prod"]}, ids)
    stub.add_response(
        "get_deployment_target",
        target({**shifting, "AllowTraffic": "Succeeded", "AfterAllowTraffic": "Succeeded"}),
        {**ids, "targetId": "web-prod:web-prod"},
    )
    with stub:
        log = wait_for_traffic(client, "d-ABCDEF123", timeout_seconds=60, poll_seconds=0,
                               sleep=lambda _s: None)  # fmt: skip
    stub.assert_no_pending_responses()
    assert "blue stays up" in log[-1]


def test_keeps_waiting_while_after_allow_traffic_runs() -> None:
    # AllowTraffic done but its AfterAllowTraffic hooks still running: the shift is not finished
    # (the hooks can still fail it), so the release must poll again instead of returning.
    client, stub = stubbed()
    ids = {"deploymentId": "d-ABCDEF123"}
    target_ids = {**ids, "targetId": "web-prod:web-prod"}
    polls = [{"AllowTraffic": "Succeeded", "AfterAllowTraffic": "InProgress"},
             {"AllowTraffic": "Succeeded", "AfterAllowTraffic": "Succeeded"}]  # fmt: skip
    for events in polls:
        stub.add_response("get_deployment", deployment("InProgress"), ids)
        stub.add_response("list_deployment_targets", {"targetIds": ["web-prod:web-prod"]}, ids)
        stub.add_response("get_deployment_target", target(events), target_ids)
    sleeps: list[float] = []
    with stub:
        log = wait_for_traffic(client, "d-ABCDEF123", timeout_seconds=60, poll_seconds=7,
                               sleep=sleeps.append)  # fmt: skip
    stub.assert_no_pending_responses()
    assert sleeps == [7]
    assert log == ["InProgress (AllowTraffic done)",
                   "InProgress (AllowTraffic, AfterAllowTraffic done)",
                   "production traffic fully on green; blue stays up for the termination wait"]  # fmt: skip


@pytest.mark.parametrize(
    ("status", "extra", "expected"),
    [
        ("Failed", {"errorInformation": {"code": "HEALTH_CONSTRAINTS",
                                         "message": "The ECS task set is unhealthy"}},
         r"d-ABCDEF123 ended Failed: HEALTH_CONSTRAINTS: The ECS task set is unhealthy"),
        ("Stopped", {"errorInformation": {"code": "ALARM_ACTIVE",
                                          "message": "One or more alarms have been activated: "
                                                     "web-prod-5xx-rate"}},
         r"d-ABCDEF123 ended Stopped: ALARM_ACTIVE: .*web-prod-5xx-rate"),
        ("InProgress", {"rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK01",
                                         "rollbackMessage": "Deployment rolled back by alarm"}},
         r"d-ABCDEF123 ended InProgress: .*rollback: Deployment rolled back by alarm"),
    ],
)  # fmt: skip
def test_failure_stop_on_alarm_and_rollback_fail_the_release(status: str, extra: dict[str, Any],
                                                              expected: str) -> None:  # fmt: skip
    client, stub = stubbed()
    stub.add_response("get_deployment", deployment(status, **extra),
                      {"deploymentId": "d-ABCDEF123"})  # fmt: skip
    with stub, pytest.raises(ReleaseFailedError, match=expected) as info:
        wait_for_traffic(client, "d-ABCDEF123", timeout_seconds=60, poll_seconds=0)
    assert "previous (blue) task set" in str(info.value)


def test_timeout_fails_with_the_deployment_id() -> None:
    client, stub = stubbed()
    ids = {"deploymentId": "d-ABCDEF123"}
    now = iter([0.0, 0.0, 100.0])
    for _ in range(2):
        stub.add_response("get_deployment", deployment("InProgress"), ids)
        stub.add_response("list_deployment_targets", {"targetIds": []}, ids)
    with stub, pytest.raises(ReleaseFailedError, match=r"d-ABCDEF123 did not shift .* within 60 s"):
        wait_for_traffic(client, "d-ABCDEF123", timeout_seconds=60, poll_seconds=0,
                         clock=lambda: next(now), sleep=lambda _s: None)  # fmt: skip
