"""The deployment-in-progress readers with botocore's Stubber, where moto lacks the APIs: CodeDeploy
ListDeploymentTargets/GetDeploymentTarget and ECS ListServiceDeployments/
DescribeServiceDeployments. Responses are shaped as in the AWS API references (ECSTarget,
ServiceDeployment). The moto-backed paths are in test_release_api_handler.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from release_api import deployment

T = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")  # fmt: skip
    return client, Stubber(client)


def test_codedeploy_stages_and_traffic_on_green() -> None:
    cd, stub = stubbed("codedeploy")
    stub.add_response("list_deployments", {"deployments": ["d-ABC123"]}, {
        "applicationName": "web-prod", "deploymentGroupName": "web-prod",
        "includeOnlyStatuses": list(deployment.CODEDEPLOY_ACTIVE)})  # fmt: skip
    stub.add_response("get_deployment", {"deploymentInfo": {
        "deploymentId": "d-ABC123", "status": "InProgress", "createTime": T,
        "deploymentConfigName": "web-prod-canary-10-5", "computePlatform": "ECS"}},
        {"deploymentId": "d-ABC123"})  # fmt: skip
    stub.add_response("list_deployment_targets", {"targetIds": ["web-prod:web-prod"]},
                      {"deploymentId": "d-ABC123"})  # fmt: skip
    events = [("BeforeInstall", "Succeeded"), ("Install", "Succeeded"),
              ("AfterInstall", "Succeeded"), ("BeforeAllowTraffic", "Succeeded"),
              ("AllowTraffic", "InProgress"), ("AfterAllowTraffic", "Pending")]  # fmt: skip
    stub.add_response("get_deployment_target", {"deploymentTarget": {
        "deploymentTargetType": "ECSTarget", "ecsTarget": {
            "deploymentId": "d-ABC123", "targetId": "web-prod:web-prod", "status": "InProgress",
            "lifecycleEvents": [{"lifecycleEventName": n, "status": s, "startTime": T}
                                for n, s in events],
            "taskSetsInfo": [
                {"identifer": "ecs-svc/1", "taskSetLabel": "Blue", "trafficWeight": 90.0,
                 "status": "PRIMARY", "desiredCount": 3, "runningCount": 3},
                {"identifer": "ecs-svc/2", "taskSetLabel": "Green", "trafficWeight": 10.0,
                 "status": "ACTIVE", "desiredCount": 3, "runningCount": 3},
            ]}}}, {"deploymentId": "d-ABC123", "targetId": "web-prod:web-prod"})  # fmt: skip
    with stub:
        found = deployment.codedeploy_deployment(cd, "web-prod", "web-prod")
    assert found is not None
    assert (found["id"], found["status"], found["deployment_config"]) == (
        "d-ABC123",
        "InProgress",
        "web-prod-canary-10-5",
    )
    assert [(s["name"], s["state"]) for s in found["stages"]] == events
    assert found["traffic"] == {"blue": 90.0, "green": 10.0} and found["green_percent"] == 10.0
    assert found["created"] == T.isoformat()


def test_codedeploy_without_an_active_deployment() -> None:
    cd, stub = stubbed("codedeploy")
    stub.add_response("list_deployments", {"deployments": []})
    with stub:
        assert deployment.codedeploy_deployment(cd, "web-prod", "web-prod") is None


def test_ecs_bluegreen_stages_and_requested_traffic() -> None:
    ecs, stub = stubbed("ecs")
    arn = "arn:aws:ecs:us-east-1:123456789012:service-deployment/web-staging/web-staging/AbCd"
    stub.add_response("list_service_deployments", {"serviceDeployments": [
        {"serviceDeploymentArn": arn, "status": "IN_PROGRESS"}]},
        {"cluster": "web-staging", "service": "web-staging", "status": ["PENDING", "IN_PROGRESS"]})  # fmt: skip
    stub.add_response("describe_service_deployments", {"serviceDeployments": [{
        "serviceDeploymentArn": arn, "status": "IN_PROGRESS", "createdAt": T,
        "lifecycleStage": "PRODUCTION_TRAFFIC_SHIFT",
        "deploymentConfiguration": {"strategy": "CANARY"},
        "targetServiceRevision": {"arn": "arn:aws:ecs:us-east-1:123456789012:service-revision/x",
                                  "requestedTaskCount": 2, "runningTaskCount": 2,
                                  "pendingTaskCount": 0, "requestedProductionTrafficWeight": 10.0},
    }]}, {"serviceDeploymentArns": [arn]})  # fmt: skip
    with stub:
        found = deployment.ecs_bluegreen_deployment(ecs, "web-staging", "web-staging")
    assert found is not None and found["id"] == "AbCd" and found["strategy"] == "CANARY"
    states = {s["name"]: s["state"] for s in found["stages"]}
    assert states["SCALE_UP"] == "done" and states["PRODUCTION_TRAFFIC_SHIFT"] == "current"
    assert states["BAKE_TIME"] == "pending" and list(states) == list(deployment.ECS_STAGES)
    assert found["green_percent"] == 10.0 and found["traffic"] == {"green": 10.0, "blue": 90.0}
    assert found["tasks"] == {"running": 2, "desired": 2}


def test_ecs_bluegreen_with_a_boto3_that_predates_the_api() -> None:
    class OldEcs:
        pass

    with pytest.raises(LookupError, match="no ECS ListServiceDeployments"):
        deployment.ecs_bluegreen_deployment(OldEcs(), "c", "s")


def test_codedeploy_stage_detail_error_keeps_the_status() -> None:
    cd, stub = stubbed("codedeploy")
    stub.add_response("list_deployments", {"deployments": ["d-1"]})
    stub.add_response("get_deployment", {"deploymentInfo": {"deploymentId": "d-1",
                                                            "status": "Baking"}})  # fmt: skip
    stub.add_client_error("list_deployment_targets", "AccessDeniedException", "no")
    with stub:
        found = deployment.codedeploy_deployment(cd, "a", "g")
    assert found is not None and found["status"] == "Baking" and found["stages"] == []
    assert found["detail_error"] == "cannot read the deployment's target: AccessDeniedException"
