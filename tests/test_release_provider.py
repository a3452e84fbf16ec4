"""The release provider against moto's CodeDeploy and ECS over HTTP, and failure paths via Stubber.

moto implements CreateApplication, CreateDeploymentGroup (with ``ecsServices``), CreateDeployment,
GetDeployment, GetDeploymentGroup and ECS's services and task sets (DescribeServices with
``taskSets``, UpdateServicePrimaryTaskSet), but its deployments never progress and it has no
ListDeploymentTargets: the tests play CodeDeploy's part by setting the deployment's status in
moto's backend and switching the primary task set as CodeDeploy does at a swap or a rollback.
Transient failures are injected on the wire by a loopback proxy in front of moto
(``tests/aws_faults.py``): throttling, 503, a front end's 502, a dropped connection, a refused
one. Failure, stop-on-alarm, rollback and the traffic-shift lifecycle use botocore's Stubber
(moto lacks ListDeploymentTargets/GetDeploymentTarget and never fails a deployment) with
responses shaped as in the CodeDeploy API reference.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto.backends import get_backend

from components.release_provider import (
    ENDPOINT_ENV,
    MAX_BACKOFF_SECONDS,
    NOT_FOUND_STATUS,
    ReleaseConfigError,
    ReleaseFailedError,
    ReleaseProvider,
    ReleaseReadError,
    aws_session,
    backoff_seconds,
    follow_deployment,
    release,
    release_changes,
    wait_for_traffic,
)
from tests.aws_faults import FaultProxy

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


SUBNETS = ["subnet-0a1b2c3d4e5f60718", "subnet-1b2c3d4e5f6071829"]
SGS = ["sg-0123456789abcdef0"]


def props(task_definition: str, **extra: Any) -> dict[str, Any]:
    return {
        "application_name": "web-prod", "deployment_group_name": "web-prod",
        "task_definition_arn": task_definition, "container_name": "web", "container_port": 8080,
        "subnets": SUBNETS, "security_groups": SGS, "assign_public_ip": False,
        "platform_version": "LATEST",
        "region": REGION, "all_at_once": False, "timeout_seconds": 30, "poll_seconds": 0.01,
        **extra,
    }  # fmt: skip


def set_status(deployment_id: str, status: str) -> None:
    """Plays CodeDeploy: the deployment's status as GetDeployment will report it."""
    get_backend("codedeploy")[ACCOUNT][REGION].deployments[deployment_id].status = status


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
        assert target["NetworkConfiguration"] == {
            "AwsvpcConfiguration": {
                "Subnets": SUBNETS,
                "SecurityGroups": SGS,
                "AssignPublicIp": "DISABLED",
            }
        }
        assert target["PlatformVersion"] == "LATEST"
        assert created.outs["deployment_status"] == "Succeeded"

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


def test_a_transient_status_error_is_a_warning_that_says_when_it_polls_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stubber: one throttled GetDeployment (ThrottlingException), then the deployment done."""
    client, stub = stubbed()
    ids = {"deploymentId": "d-ABCDEF123"}
    stub.add_client_error("get_deployment", "ThrottlingException", "Rate exceeded", 400,
                          expected_params=ids)  # fmt: skip
    stub.add_response("get_deployment", deployment("Succeeded"), ids)
    sleeps: list[float] = []
    with stub, caplog.at_level(logging.INFO, logger="deplight.release"):
        log = wait_for_traffic(client, "d-ABCDEF123", timeout_seconds=60, poll_seconds=7,
                               sleep=sleeps.append)  # fmt: skip
    assert sleeps == [7] and log == ["Succeeded: production traffic is on the new task set"]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "d-ABCDEF123: status poll 1 failed (An error occurred "
         "(ThrottlingException) when calling the GetDeployment operation: Rate exceeded); "
         "trying again in 7 s"),
        (logging.INFO, "d-ABCDEF123: Succeeded: production traffic is on the new task set"),
    ]  # fmt: skip


# --- what a release is (diff) -------------------------------------------------------------------
def test_a_network_or_platform_change_is_a_release_too() -> None:
    provider = ReleaseProvider()
    old = {**props(TD1), "serving_task_definition_arn": TD1}
    assert provider.diff("d-1", old, props(TD1, subnets=[*SUBNETS, "subnet-2c3d4e5f607182930"])
                         ).changes is True  # fmt: skip
    assert provider.diff("d-1", old, props(TD1, security_groups=["sg-0fedcba9876543210"])).changes
    assert provider.diff("d-1", old, props(TD1, assign_public_ip=True)).changes is True
    assert provider.diff("d-1", old, props(TD1, platform_version="1.4.0")).changes is True
    # the same subnets in another order are the same network
    assert provider.diff("d-1", old, props(TD1, subnets=SUBNETS[::-1])).changes is False
    assert release_changes(old, props(TD2, subnets=SUBNETS[:1])) == ["task_definition_arn",
                                                                      "subnets"]  # fmt: skip


def test_a_state_from_before_the_appspec_carried_the_network_is_not_a_release() -> None:
    """States written by the previous provider have no network keys; an up with the same task
    definition must not start a CodeDeploy deployment just because the keys appeared."""
    old = {
        k: v
        for k, v in props(TD1).items()
        if k not in ("subnets", "security_groups", "assign_public_ip", "platform_version")
    }
    old["serving_task_definition_arn"] = TD1
    assert ReleaseProvider().diff("d-1", old, props(TD1)).changes is False
    assert ReleaseProvider().diff("d-1", old, props(TD2)).changes is True


# --- transient errors while a canary runs: injected on the wire in front of moto ----------------
@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    p = FaultProxy(moto_endpoint).start()
    yield p
    p.stop()


def through(proxy: FaultProxy, attempts: int = 1) -> Any:
    """A CodeDeploy client through the proxy. ``attempts=1``: botocore does not retry, so each
    injected fault is one that outlived botocore's own retries."""
    return boto3.client(
        "codedeploy", region_name=REGION, endpoint_url=proxy.url,
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts},
                      connect_timeout=2, read_timeout=10),
    )  # fmt: skip


def start_deployment(client: Any) -> str:
    request = {
        "applicationName": "web-prod", "deploymentGroupName": "web-prod",
        "revision": {"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
    }  # fmt: skip
    deployment_id: str = client.create_deployment(**request)["deploymentId"]
    set_status(deployment_id, "InProgress")
    return deployment_id


class Timeline:
    """Fake time: ``sleep`` advances ``clock`` and runs what the world does meanwhile."""

    def __init__(self, on_sleep: Any = None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep or (lambda _n: None)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.on_sleep(len(self.sleeps))


def test_throttling_5xx_and_dropped_connections_do_not_fail_the_release(
    codedeploy: Any, proxy: FaultProxy
) -> None:
    client = through(proxy)
    deployment_id = start_deployment(client)

    def world(n: int) -> None:
        if n == 1:  # after the first good poll: the API stumbles while CodeDeploy finishes
            proxy.fail("GetDeployment", "throttle", "unavailable", "bad_gateway", "drop")
            set_status(deployment_id, "Succeeded")

    t = Timeline(world)
    events, status = follow_deployment(client, deployment_id, timeout_seconds=3600,
                                       poll_seconds=10, clock=t.clock, sleep=t.sleep)  # fmt: skip
    assert status == "Succeeded" and "Succeeded" in events[-1]
    assert proxy.operations("GetDeployment") == [
        "forwarded",
        "throttle",
        "unavailable",
        "bad_gateway",
        "drop",
        "forwarded",
    ]
    # one normal poll interval, then backing off: 10, 20, 40 and capped at 60 s
    assert t.sleeps == [10, 10, 20, 40, 60]


def test_a_refused_connection_is_tolerated_until_the_endpoint_is_back(
    codedeploy: Any, proxy: FaultProxy
) -> None:
    client = through(proxy)
    deployment_id = start_deployment(client)

    def world(n: int) -> None:
        if n == 1:
            proxy.stop()  # EndpointConnectionError: nothing listens on the port any more
        if n == 3:
            set_status(deployment_id, "Succeeded")
            proxy.start()

    t = Timeline(world)
    assert wait_for_traffic(client, deployment_id, timeout_seconds=3600, poll_seconds=10,
                            clock=t.clock, sleep=t.sleep)[-1].startswith("Succeeded")  # fmt: skip
    assert t.sleeps == [10, 10, 20]
    assert proxy.operations("GetDeployment") == ["forwarded", "forwarded"]  # two refused between


def test_an_error_that_outlived_botocores_own_retries(codedeploy: Any, proxy: FaultProxy) -> None:
    client = through(proxy, attempts=2)
    deployment_id = start_deployment(client)
    set_status(deployment_id, "Succeeded")
    proxy.fail("GetDeployment", "throttle", "throttle")
    t = Timeline()
    _, status = follow_deployment(client, deployment_id, timeout_seconds=3600, poll_seconds=10,
                                  clock=t.clock, sleep=t.sleep)  # fmt: skip
    assert status == "Succeeded"
    # botocore retried the first throttle itself; the second one reached the release, which
    # backed off once and polled again
    assert proxy.operations("GetDeployment") == ["throttle", "throttle", "forwarded"]
    assert t.sleeps == [10]


def test_the_deployments_own_failure_still_fails_after_transient_errors(
    codedeploy: Any, proxy: FaultProxy
) -> None:
    client = through(proxy)
    deployment_id = start_deployment(client)
    proxy.fail("GetDeployment", "unavailable")
    t = Timeline(lambda n: set_status(deployment_id, "Stopped") if n == 1 else None)
    with pytest.raises(ReleaseFailedError, match=rf"{deployment_id} ended Stopped"):
        follow_deployment(client, deployment_id, timeout_seconds=3600, poll_seconds=10,
                          clock=t.clock, sleep=t.sleep)  # fmt: skip


def test_access_denied_is_not_transient_and_fails_at_once(codedeploy: Any,
                                                          proxy: FaultProxy) -> None:  # fmt: skip
    client = through(proxy)
    deployment_id = start_deployment(client)
    proxy.fail("GetDeployment", "denied")
    t = Timeline()
    with pytest.raises(ReleaseFailedError, match=rf"cannot read CodeDeploy deployment "
                       rf"{deployment_id}: .*AccessDeniedException.*may still be running"):  # fmt: skip
        follow_deployment(client, deployment_id, timeout_seconds=3600, poll_seconds=10,
                          clock=t.clock, sleep=t.sleep)  # fmt: skip
    assert t.sleeps == []


def test_an_outage_longer_than_the_timeout_fails_with_the_last_error(
    codedeploy: Any, proxy: FaultProxy
) -> None:
    client = through(proxy)
    deployment_id = start_deployment(client)
    proxy.stop()
    t = Timeline()
    with pytest.raises(ReleaseFailedError) as info:
        follow_deployment(client, deployment_id, timeout_seconds=120, poll_seconds=10,
                          clock=t.clock, sleep=t.sleep)  # fmt: skip
    message = str(info.value)
    assert f"{deployment_id} did not shift production traffic within 120 s" in message
    assert "status unknown: the last 5 status poll(s) failed" in message
    assert "Could not connect to the endpoint URL" in message and "may still be running" in message
    assert t.sleeps == [10, 20, 40, 50] and sum(t.sleeps) == 120  # never sleeps past the deadline


def test_backoff_doubles_and_is_bounded() -> None:
    assert [backoff_seconds(10, n) for n in range(1, 7)] == [10, 20, 40, 60, 60, 60]
    assert backoff_seconds(0, 1) == 1.0  # a zero poll interval still backs off
    assert all(backoff_seconds(p, n) <= MAX_BACKOFF_SECONDS for p in (0, 5, 300)
               for n in range(1, 20))  # fmt: skip


# --- refresh: what really serves ----------------------------------------------------------------
@pytest.fixture
def ecs_release(codedeploy: Any, moto_endpoint: str) -> SimpleNamespace:
    """A CODE_DEPLOY service with its blue task set serving revision 1, and its deployment group."""
    name = f"web-{uuid.uuid4().hex[:8]}"
    ecs = boto3.client("ecs", region_name=REGION, endpoint_url=moto_endpoint)
    ecs.create_cluster(clusterName=name)
    tds = [
        ecs.register_task_definition(
            family=name, containerDefinitions=[{"name": "web", "image": f"r:{tag}", "memory": 512}]
        )["taskDefinition"]["taskDefinitionArn"]
        for tag in ("3f2a9c1", "9b8c7d6")
    ]
    ecs.create_service(cluster=name, serviceName=name, taskDefinition=tds[0], desiredCount=2,
                       deploymentController={"type": "CODE_DEPLOY"}, launchType="FARGATE")  # fmt: skip
    blue = ecs.create_task_set(cluster=name, service=name, taskDefinition=tds[0],
                               launchType="FARGATE")["taskSet"]["taskSetArn"]  # fmt: skip
    ecs.update_service_primary_task_set(cluster=name, service=name, primaryTaskSet=blue)
    codedeploy.create_application(applicationName=name, computePlatform="ECS")
    codedeploy.create_deployment_group(
        applicationName=name, deploymentGroupName=name,
        serviceRoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}-codedeploy",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
        ecsServices=[{"serviceName": name, "clusterName": name}],
    )  # fmt: skip
    return SimpleNamespace(name=name, ecs=ecs, tds=tds, blue=blue)


def released(env: SimpleNamespace) -> tuple[ReleaseProvider, dict[str, Any]]:
    """Releases revision 2 the way CodeDeploy would: green task set created and made primary."""
    provider = ReleaseProvider()
    stop = complete_deployments_in_moto()
    try:
        outs = provider.create(props(env.tds[1], application_name=env.name,
                                     deployment_group_name=env.name)).outs  # fmt: skip
    finally:
        stop.set()
    green = env.ecs.create_task_set(cluster=env.name, service=env.name, taskDefinition=env.tds[1],
                                    launchType="FARGATE")["taskSet"]["taskSetArn"]  # fmt: skip
    env.ecs.update_service_primary_task_set(cluster=env.name, service=env.name,
                                            primaryTaskSet=green)  # fmt: skip
    return provider, outs


def test_refresh_of_a_healthy_release_changes_nothing(ecs_release: SimpleNamespace) -> None:
    provider, outs = released(ecs_release)
    read = provider.read(outs["deployment_id"], outs)
    assert read.id == outs["deployment_id"]
    assert read.outs["deployment_status"] == "Succeeded"
    assert read.outs["serving_task_definition_arn"] == ecs_release.tds[1]
    news = props(ecs_release.tds[1], application_name=ecs_release.name,
                 deployment_group_name=ecs_release.name)  # fmt: skip
    assert provider.diff(read.id, read.outs, news).changes is False


def test_refresh_after_a_rollback_shows_what_really_serves(ecs_release: SimpleNamespace) -> None:
    provider, outs = released(ecs_release)
    # A CodeDeploy rollback on an alarm and the fast path's StopDeployment(autoRollbackEnabled)
    # end the same way in AWS: the deployment Stopped, the blue task set primary again.
    set_status(outs["deployment_id"], "Stopped")
    ecs_release.ecs.update_service_primary_task_set(
        cluster=ecs_release.name, service=ecs_release.name, primaryTaskSet=ecs_release.blue
    )
    read = provider.read(outs["deployment_id"], outs)
    assert read.outs["deployment_status"] == "Stopped"
    assert read.outs["serving_task_definition_arn"] == ecs_release.tds[0]
    assert read.outs["task_definition_arn"] == ecs_release.tds[1], "what was asked for stays"
    # the next up releases revision 2 again, unless the config moved on to what serves
    same = props(ecs_release.tds[1], application_name=ecs_release.name,
                 deployment_group_name=ecs_release.name)  # fmt: skip
    assert provider.diff(read.id, read.outs, same).changes is True
    assert provider.diff(read.id, read.outs, {**same, "task_definition_arn": ecs_release.tds[0]}
                         ).changes is False  # fmt: skip


def test_refresh_when_the_service_or_the_deployment_is_gone(ecs_release: SimpleNamespace) -> None:
    provider, outs = released(ecs_release)
    ecs_release.ecs.delete_service(cluster=ecs_release.name, service=ecs_release.name, force=True)
    read = provider.read(outs["deployment_id"], outs)
    assert read.outs["serving_task_definition_arn"] is None, "nothing serves"
    gone = provider.read("d-NOTKNOWN1", outs)
    assert gone.outs["deployment_status"] == NOT_FOUND_STATUS


def test_refresh_refuses_to_guess_when_the_group_names_no_service(codedeploy: Any) -> None:
    stop = complete_deployments_in_moto()
    try:
        outs = ReleaseProvider().create(props(TD1)).outs  # group web-prod has no ecsServices
    finally:
        stop.set()
    with pytest.raises(ReleaseReadError, match=r"deployment group web-prod names no ECS service"):
        ReleaseProvider().read(outs["deployment_id"], outs)


# --- aws:region and aws:profile ------------------------------------------------------------------
@pytest.fixture
def profile_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An AWS config with profile ``deplight-prod`` (whose own region differs from the stack's)."""
    (tmp_path / "config").write_text("[profile deplight-prod]\nregion = eu-west-1\n")
    (tmp_path / "credentials").write_text(
        "[deplight-prod]\naws_access_key_id = AKIAPROFILEEXAMPLE01\n"
        "aws_secret_access_key = profile-secret\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    return "deplight-prod"


def test_session_uses_the_stacks_profile_over_ambient_credentials(profile_files: str) -> None:
    session = aws_session("us-east-1", profile_files)
    assert session.get_credentials().access_key == "AKIAPROFILEEXAMPLE01"  # not the env's
    assert session.region_name == "us-east-1", "aws:region wins over the profile's region"
    assert aws_session("us-east-1", None).get_credentials().access_key == "testing"


def test_the_release_calls_aws_with_the_stacks_region_and_profile(
    codedeploy: Any, proxy: FaultProxy, profile_files: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, proxy.url)
    stop = complete_deployments_in_moto()
    try:
        outs = ReleaseProvider().create(props(TD1, profile=profile_files)).outs
    finally:
        stop.set()
    assert outs["deployment_status"] == "Succeeded"
    scopes = {s.split("/")[0] + "/" + "/".join(s.split("/")[2:4]) for s in proxy.credential_scopes}
    assert scopes == {"AKIAPROFILEEXAMPLE01/us-east-1/codedeploy"}, scopes


def test_an_unknown_profile_fails_before_anything_is_started(codedeploy: Any) -> None:
    backend = get_backend("codedeploy")[ACCOUNT][REGION]
    before = len(backend.deployments)
    with pytest.raises(ReleaseConfigError, match=r"aws:profile: the stack's profile 'nope'"):
        ReleaseProvider().create(props(TD1, profile="nope"))
    assert len(backend.deployments) == before
