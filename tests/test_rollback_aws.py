"""The boto3 paths against moto's server over HTTP on 127.0.0.1: ECR images, ECS services and task
definitions, target health, the DynamoDB audit table, CodeDeploy listings.

Where moto lacks the behaviour, botocore's ``Stubber`` answers with responses shaped as in the AWS
API references, as each test says: CodeDeploy deployment states and ``StopDeployment`` (moto's
deployments never leave ``Created``, and it has no ``ListDeploymentTargets``), and target health
states other than ``healthy`` (moto reports every registered IP target healthy).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from components import contract as out
from rollback import aws as awsapi
from rollback.audit import DynamoAudit, new_handle, unfinished
from rollback.aws import Aws
from rollback.errors import AuditError
from rollback.verify import aws_state, verify_release
from tests.test_rollback_support import (
    REGION,
    SHA,
    FakeAutoStack,
    MotoWorld,
    NoSleep,
    adapter,
)

A, B = SHA["A"], SHA["B"]


def test_clients_honour_the_endpoint_override(aws_endpoint: str) -> None:
    assert Aws(REGION).client("ecr").meta.endpoint_url == aws_endpoint


def test_image_exists(aws_endpoint: str) -> None:
    world = MotoWorld(aws_endpoint)
    world.push(A)
    ecr = world.aws.client("ecr")
    found, text = awsapi.image_exists(ecr, world.prefix, A)
    assert found and f"web-dev:{A} is in ECR (pushed" in text
    found, text = awsapi.image_exists(ecr, world.prefix, B)
    assert not found and "not in ECR" in text and "lifecycle policy" in text
    found, text = awsapi.image_exists(ecr, "web-nope", A)
    assert not found and "repository web-nope does not exist" in text


def test_service_state_of_a_rolling_service(aws_endpoint: str) -> None:
    world = MotoWorld(aws_endpoint)
    td = world.run(A, running=1)
    state = awsapi.service_state(world.aws.client("ecs"), world.prefix, world.prefix)
    assert state is not None
    assert (state.task_definition, state.running, state.desired) == (td, 1, 2)
    assert state.target_groups == (world.tg_arn,) and state.controller == "ECS"
    assert awsapi.container_image(world.aws.client("ecs"), td, "web") == f"{world.repo_uri}:{A}"
    assert awsapi.service_state(world.aws.client("ecs"), world.prefix, "absent") is None


def test_service_state_of_a_codedeploy_service_uses_the_primary_task_set(aws_endpoint: str) -> None:
    world = MotoWorld(aws_endpoint, "prod")
    ecs = world.aws.client("ecs")
    td = ecs.register_task_definition(
        family="web-prod", containerDefinitions=[{"name": "web", "image": "x", "memory": 512}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=world.prefix, serviceName=world.prefix, desiredCount=3,
                       deploymentController={"type": "CODE_DEPLOY"}, taskDefinition=td)  # fmt: skip
    green = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-prod-green/1a2b"
    task_set = ecs.create_task_set(
        cluster=world.prefix, service=world.prefix, taskDefinition=td,
        loadBalancers=[{"targetGroupArn": green, "containerName": "web", "containerPort": 8080}],
    )["taskSet"]["taskSetArn"]  # fmt: skip
    ecs.update_service_primary_task_set(cluster=world.prefix, service=world.prefix,
                                        primaryTaskSet=task_set)  # fmt: skip
    state = awsapi.service_state(ecs, world.prefix, world.prefix)
    assert state is not None and state.controller == "CODE_DEPLOY"
    assert state.task_definition == td and state.target_groups == (green,)


def test_target_health_and_group_lookup(aws_endpoint: str) -> None:
    world = MotoWorld(aws_endpoint)
    elbv2 = world.aws.client("elbv2")
    assert awsapi.target_group_arn(elbv2, "web-dev-blue") == world.tg_arn
    assert awsapi.target_group_arn(elbv2, "web-dev-none") is None
    health = awsapi.target_health(elbv2, world.tg_arn)
    assert sorted(h[0] for h in health) == ["10.10.1.10:8080", "10.10.1.11:8080"]
    assert {h[1] for h in health} == {"healthy"}


def test_codedeploy_without_an_active_deployment(aws_endpoint: str) -> None:
    world = MotoWorld(aws_endpoint, "prod")
    world.codedeploy()
    assert awsapi.active_deployment(world.aws.client("codedeploy"), "web-prod", "web-prod") is None


def _stubbed(client_name: str) -> tuple[Any, Stubber]:
    client = boto3.client(client_name, region_name=REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")  # fmt: skip
    return client, Stubber(client)


def _deployment(dep_id: str, status: str, **extra: Any) -> dict[str, Any]:
    """GetDeployment output (CodeDeploy API reference, DeploymentInfo)."""
    return {"deploymentInfo": {"deploymentId": dep_id, "status": status, "computePlatform": "ECS",
                               "createTime": datetime(2024, 5, 1, tzinfo=UTC), **extra}}  # fmt: skip


def test_stop_with_rollback_when_the_deployment_already_completed() -> None:
    """Stubber: StopDeployment's DeploymentAlreadyCompletedException (API reference, Errors)."""
    cd, stub = _stubbed("codedeploy")
    stub.add_client_error("stop_deployment", "DeploymentAlreadyCompletedException",
                          "The deployment is already completed", 400,
                          expected_params={"deploymentId": "d-1", "autoRollbackEnabled": True})  # fmt: skip
    with stub:
        stopped, text = awsapi.stop_with_rollback(cd, "d-1")
    assert not stopped and "completed before it could be stopped" in text


def test_wait_for_rollback_reports_a_failed_rollback() -> None:
    """Stubber: GetDeployment with rollbackInfo and a failed rollback deployment; targets unknown
    (ListDeploymentTargets answered with an error, as for a deployment without ECS targets)."""
    cd, stub = _stubbed("codedeploy")

    def state(dep_id: str, resp: dict[str, Any]) -> None:
        stub.add_response("get_deployment", resp, {"deploymentId": dep_id})
        stub.add_client_error("list_deployment_targets", "InvalidDeploymentIdException", "n/a", 400)

    state("d-1", _deployment("d-1", "InProgress"))
    state("d-1", _deployment("d-1", "Stopped", rollbackInfo={"rollbackDeploymentId": "d-2"}))
    state("d-2", _deployment("d-2", "Failed",
                             errorInformation={"code": "ECS_UPDATE_ERROR", "message": "tasks died"}))  # fmt: skip
    seen: list[str] = []
    env = NoSleep()
    with stub:
        ok, text = awsapi.wait_for_rollback(cd, "d-1", timeout_s=60, poll_s=5,
                                            report=lambda s: seen.append(s.describe()),
                                            sleep=env.sleep, clock=env.clock)  # fmt: skip
    assert not ok and text == "rollback deployment d-2 failed: tasks died"
    assert seen[0] == "CodeDeploy d-1: InProgress" and env.t == 5


def test_wait_for_rollback_times_out() -> None:
    """Stubber: a deployment that stays InProgress (GetDeployment)."""
    cd, stub = _stubbed("codedeploy")
    for _ in range(3):
        stub.add_response(
            "get_deployment", _deployment("d-1", "InProgress"), {"deploymentId": "d-1"}
        )
        stub.add_client_error("list_deployment_targets", "InvalidDeploymentIdException", "n/a", 400)
    env = NoSleep()
    with stub:
        ok, text = awsapi.wait_for_rollback(cd, "d-1", timeout_s=20, poll_s=10,
                                            report=lambda s: None, sleep=env.sleep, clock=env.clock)  # fmt: skip
    assert not ok and "not finished after 20 s" in text


def test_wait_for_service_rollback_times_out_reporting_each_change_once() -> None:
    """Stubber (moto lacks DescribeServiceDeployments): a service deployment that stays
    ROLLBACK_IN_PROGRESS."""
    ecs, stub = _stubbed("ecs")
    arn = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/web-prod/web-prod/AbCdEf0123"
    for stage in ("BAKE_TIME", "ROLLBACK_IN_PROGRESS", "ROLLBACK_IN_PROGRESS"):
        stub.add_response("describe_service_deployments", {"serviceDeployments": [
            {"serviceDeploymentArn": arn, "status": "ROLLBACK_IN_PROGRESS",
             "lifecycleStage": stage}], "failures": []}, {"serviceDeploymentArns": [arn]})  # fmt: skip
    seen: list[str] = []
    env = NoSleep()
    with stub:
        ok, text = awsapi.wait_for_service_rollback(
            ecs, arn, timeout_s=20, poll_s=10, report=lambda s: seen.append(s.describe()),
            sleep=env.sleep, clock=env.clock,
        )  # fmt: skip
        stub.assert_no_pending_responses()
    last = "ECS service deployment AbCdEf0123: ROLLBACK_IN_PROGRESS, ROLLBACK_IN_PROGRESS"
    assert not ok and text == f"ECS rollback not finished after 20 s ({last})"
    assert seen == ["ECS service deployment AbCdEf0123: ROLLBACK_IN_PROGRESS, BAKE_TIME", last]
    assert env.t == 20


# -- audit ----------------------------------------------------------------------------------------


def test_audit_intent_and_outcome_cannot_duplicate(aws_endpoint: str) -> None:
    world = MotoWorld(aws_endpoint)
    audit = DynamoAudit(world.aws.client("dynamodb"), world.table, "dev")
    handle = new_handle("dev", "rollback", datetime(2024, 5, 1, 10, tzinfo=UTC))
    assert handle.sk.startswith("2024-05-01T10:00:00.000000Z#rollback-")
    record = {"operation": "rollback", "who": "octocat", "from_tag": B, "to_tag": A, "reason": ""}
    audit.begin(handle, record)
    audit.begin(handle, record)  # a retried put of the same intent: still one record
    [started] = audit.records()
    assert "result" not in started and "reason" not in started, "empty values are not stored"
    assert unfinished(audit.records()) == [started]
    assert started[out.AUDIT_RELEASE_ID] == handle.release_id

    audit.finish(handle, {"result": "succeeded", "duration_s": 12.5, "update_id": "x"})
    audit.finish(handle, {"result": "succeeded", "duration_s": 12.5, "update_id": "x"})  # retry
    [done] = audit.records()
    assert done["result"] == "succeeded" and done["duration_s"] == 12.5 and unfinished([done]) == []
    with pytest.raises(AuditError, match="already has an outcome"):
        audit.finish(handle, {"result": "failed"})
    other = new_handle("dev", "rollback", datetime(2024, 5, 1, 10, tzinfo=UTC))
    with pytest.raises(AuditError, match="missing"):
        audit.finish(other, {"result": "failed"})
    # found through the release-id index too
    by_id = world.ddb.query(
        TableName=world.table, IndexName=out.AUDIT_RELEASE_INDEX,
        KeyConditionExpression="#r = :r", ExpressionAttributeNames={"#r": out.AUDIT_RELEASE_ID},
        ExpressionAttributeValues={":r": {"S": handle.release_id}},
    )["Items"]  # fmt: skip
    assert len(by_id) == 1


def test_audit_records_newest_first_per_stack(aws_endpoint: str) -> None:
    world = MotoWorld(aws_endpoint)
    ddb = world.aws.client("dynamodb")
    for stack, hour in (("dev", 9), ("dev", 11), ("prod", 10), ("dev", 10)):
        DynamoAudit(ddb, world.table, stack).complete(
            new_handle(stack, "deploy", datetime(2024, 5, 1, hour, tzinfo=UTC)), {"result": "ok"}
        )
    records = DynamoAudit(ddb, world.table, "dev").records()
    assert [r["sk"][:13] for r in records] == ["2024-05-01T11", "2024-05-01T10", "2024-05-01T09"]


def test_audit_write_errors_are_audit_errors(aws_endpoint: str) -> None:
    world = MotoWorld(aws_endpoint)
    audit = DynamoAudit(world.aws.client("dynamodb"), "no-such-table", "dev")
    with pytest.raises(AuditError, match="cannot write record"):
        audit.begin(new_handle("dev", "deploy", datetime.now(UTC)), {"who": "x"})


# -- verification ---------------------------------------------------------------------------------


def test_verification_facts_and_differences(aws_endpoint: str, tmp_path: Path) -> None:
    world = MotoWorld(aws_endpoint)
    world.run(A, running=1)
    facts, diffs = aws_state(world.aws, world.outputs(), A)
    assert facts[0].startswith(f"primary deployment runs {world.repo_uri}:{A}")
    assert diffs == ["1 task(s) running, 2 desired"]
    facts, diffs = aws_state(world.aws, world.outputs(), B)
    assert f"expected {world.repo_uri}:{B}" in diffs[0]
    _, diffs = aws_state(world.aws, {}, A)
    assert "stack output cluster_name is missing" in diffs

    # polls until the timeout, then reports; the preview is not run on a failed AWS check
    fake = FakeAutoStack("dev", {})
    env = NoSleep()
    result = verify_release(adapter(fake, tmp_path), world.aws, world.outputs(), A,
                            timeout_s=30, poll_s=10, sleep=env.sleep, clock=env.clock)  # fmt: skip
    assert not result.ok and env.t == 30 and fake.ops() == []


def test_verification_logs_each_wait_with_what_it_waits_for(
    aws_endpoint: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = MotoWorld(aws_endpoint)
    world.run(A, running=1)
    env = NoSleep()
    with caplog.at_level(logging.INFO, logger="rollback.verify"):
        result = verify_release(adapter(FakeAutoStack("dev", {}), tmp_path), world.aws,
                                world.outputs(), A, timeout_s=25, poll_s=10, sleep=env.sleep,
                                clock=env.clock)  # fmt: skip
    # waits at 0, 10 and 20 s (the last pause is not cut to the timeout); 30 s is past it
    assert not result.ok and env.t == 30
    waits = [(r.levelno, r.getMessage()) for r in caplog.records if "waiting" in r.getMessage()]
    assert waits == [(logging.INFO, "verify: waiting 10s: 1 task(s) running, 2 desired")] * 3


def test_desired_count_changed_outside_pulumi_fails_verification(aws_endpoint: str,
                                                                 tmp_path: Path) -> None:  # fmt: skip
    """Pulumi ignores desiredCount (autoscaling owns it), so neither the state nor a refreshing
    preview sees a service scaled to 0 by hand; the autoscaling range read from AWS does."""
    world = MotoWorld(aws_endpoint)
    world.run(A)
    facts, diffs = aws_state(world.aws, world.outputs(), A)
    assert "desired count 2 within the autoscaling range 1-4" in facts and diffs == []

    world.ecs.update_service(cluster=world.prefix, service=world.prefix, desiredCount=0)
    fake = FakeAutoStack("dev", {})
    env = NoSleep()
    result = verify_release(adapter(fake, tmp_path), world.aws, world.outputs(), A,
                            timeout_s=20, poll_s=10, sleep=env.sleep, clock=env.clock)  # fmt: skip
    assert not result.ok and fake.ops() == [], "the preview runs only once AWS checks pass"
    assert result.differences == [
        "ECS service web-dev desired count 0 is outside its autoscaling range 1-4: changed "
        "outside Pulumi and autoscaling"
    ]

    world.autoscaling.deregister_scalable_target(
        ServiceNamespace="ecs", ResourceId="service/web-dev/web-dev",
        ScalableDimension="ecs:service:DesiredCount",
    )  # fmt: skip
    facts, diffs = aws_state(world.aws, world.outputs(), A)
    assert "desired count 0 (no autoscaling target registered: no range to check it against)" in (
        facts
    )


def test_verification_preview_refreshes_and_says_what_it_checked(aws_endpoint: str,
                                                                  tmp_path: Path) -> None:  # fmt: skip
    world = MotoWorld(aws_endpoint)
    world.run(A)
    fake = FakeAutoStack("dev", {})
    result = verify_release(adapter(fake, tmp_path), world.aws, world.outputs(), A, timeout_s=0)
    assert result.ok, result.differences
    assert result.verified[-1] == (
        "preview --refresh: no changes: the resources in the stack's state, read back from AWS, "
        "match the program and its config"
    )
    [(_, preview)] = [c for c in fake.calls if c[0] == "preview"]
    assert preview["refresh"] is True and preview["expect_no_changes"] is True


def test_unhealthy_targets_fail_verification(aws_endpoint: str) -> None:
    """Stubber for ELBv2 DescribeTargetHealth (API reference, TargetHealthDescription): moto
    reports every registered IP target healthy."""
    world = MotoWorld(aws_endpoint)
    world.run(A)
    elbv2, stub = _stubbed("elbv2")

    def target(ip: str, state: str, reason: str | None = None) -> dict[str, Any]:
        health = {"State": state, **({"Reason": reason} if reason else {})}
        return {"Target": {"Id": ip, "Port": 8080}, "TargetHealth": health}

    stub.add_response("describe_target_health", {"TargetHealthDescriptions": [
        target("10.10.1.10", "healthy"), target("10.10.1.11", "unhealthy", "Target.Timeout"),
        target("10.10.1.12", "draining", "Target.DeregistrationInProgress"),
    ]}, {"TargetGroupArn": world.tg_arn})  # fmt: skip
    aws = Aws(REGION, clients={"ecs": world.aws.client("ecs"), "elbv2": elbv2})
    with stub:
        _, diffs = aws_state(aws, world.outputs(), A)
    assert diffs == ["target group web-dev-blue: not healthy: 10.10.1.11:8080 unhealthy "
                     "(Target.Timeout)"]  # fmt: skip


def test_client_errors_are_not_swallowed(aws_endpoint: str) -> None:
    ecr = Aws(REGION).client("ecr")
    with pytest.raises(ClientError):
        awsapi.repository_uri(ecr, "web-nope")
