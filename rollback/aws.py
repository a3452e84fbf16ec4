"""The boto3 calls of the release commands: ECR images, CodeDeploy deployments, ECS service state,
target health, the autoscaling range. Read-only except :func:`stop_with_rollback` and
:func:`stop_service_deployment`.

Every client honours ``DEPLIGHT_AWS_ENDPOINT_URL`` (one endpoint for all services, e.g. a moto or
LocalStack server); without it boto3 resolves real AWS endpoints from the region as usual.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from components.contract import ENDPOINT_ENV
from components.poll import poll

_RETRIES = Config(retries={"mode": "standard", "max_attempts": 5})

# CodeDeploy deployment statuses (API reference, DeploymentStatus): still able to stop and roll back.
ACTIVE_STATUSES = ("Created", "Queued", "InProgress", "Baking", "Ready")
TERMINAL_STATUSES = ("Succeeded", "Failed", "Stopped")


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class Aws:
    """Lazily created boto3 clients for one region; ``clients`` injects prepared ones (tests)."""

    def __init__(self, region: str | None, *, endpoint_url: str | None = None,
                 clients: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        self.region = region
        self.endpoint_url = endpoint_url or os.environ.get(ENDPOINT_ENV) or None
        self._clients: dict[str, Any] = dict(clients or {})

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service, region_name=self.region, endpoint_url=self.endpoint_url, config=_RETRIES
            )
        return self._clients[service]


def state_bucket_client(url: str) -> Any:
    """S3 client for a self-managed ``s3://bucket?region=...`` state backend (lock files)."""
    regions = parse_qs(urlparse(url).query).get("region")
    region = regions[0] if regions else None
    return boto3.client(
        "s3", region_name=region, endpoint_url=os.environ.get(ENDPOINT_ENV) or None, config=_RETRIES
    )


# -- ECR ------------------------------------------------------------------------------------------


def image_exists(ecr: Any, repository: str, tag: str) -> tuple[bool, str]:
    """Whether ``repository:tag`` is in ECR, and a sentence saying so."""
    try:
        details = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])[
            "imageDetails"
        ]
    except ClientError as exc:
        if error_code(exc) == "ImageNotFoundException":
            return False, (
                f"image {repository}:{tag} is not in ECR (never pushed, or expired by the "
                "repository's lifecycle policy)"
            )
        if error_code(exc) == "RepositoryNotFoundException":
            return False, f"ECR repository {repository} does not exist"
        raise
    if not details:
        return False, f"image {repository}:{tag} is not in ECR"
    pushed = details[0].get("imagePushedAt")
    when = f" (pushed {pushed:%Y-%m-%d %H:%M} UTC)" if pushed else ""
    return True, f"image {repository}:{tag} is in ECR{when}"


def repository_uri(ecr: Any, repository: str) -> str:
    return str(ecr.describe_repositories(repositoryNames=[repository])["repositories"][0][
        "repositoryUri"
    ])  # fmt: skip


# -- CodeDeploy -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeploymentState:
    """One CodeDeploy deployment as the progress lines and the fast path need it."""

    id: str
    status: str
    termination_wait: bool = False
    """Traffic has shifted and CodeDeploy waits before terminating the blue task set."""
    step: str | None = None
    """The current (or last finished) ECS lifecycle event, e.g. ``AllowTraffic Succeeded``."""
    traffic: Mapping[str, float] = field(default_factory=dict)
    """Task set label (``Blue``/``Green``) -> percent of production traffic."""
    rollback_id: str | None = None
    error: str | None = None

    def describe(self) -> str:
        parts = [f"CodeDeploy {self.id}: {self.status}"]
        if self.termination_wait:
            parts.append("blue termination wait")
        if self.step:
            parts.append(self.step)
        if self.traffic:
            parts.append(
                "traffic "
                + ", ".join(f"{k.lower()} {v:g}%" for k, v in sorted(self.traffic.items()))
            )
        if self.rollback_id:
            parts.append(f"rollback deployment {self.rollback_id}")
        if self.error:
            parts.append(self.error)
        return ", ".join(parts)


def deployment_state(cd: Any, deployment_id: str) -> DeploymentState:
    info = cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    step, traffic = None, {}
    try:
        targets = cd.list_deployment_targets(deploymentId=deployment_id).get("targetIds", [])
        if targets:
            target = cd.get_deployment_target(deploymentId=deployment_id, targetId=targets[0])
            ecs = target["deploymentTarget"].get("ecsTarget", {})
            events = ecs.get("lifecycleEvents", [])
            running = [e for e in events if e.get("status") == "InProgress"]
            done = [e for e in events if e.get("status") in ("Succeeded", "Failed")]
            if running or done:
                event = (running or done)[-1]
                step = f"{event['lifecycleEventName']} {event['status']}"
            traffic = {
                ts.get("taskSetLabel", ts.get("identifer", "?")): float(ts.get("trafficWeight", 0))
                for ts in ecs.get("taskSetsInfo", [])
            }
    except ClientError:
        pass  # progress detail only; the deployment status is what decides
    error = info.get("errorInformation", {}).get("message")
    return DeploymentState(
        id=deployment_id,
        status=info["status"],
        termination_wait=bool(info.get("instanceTerminationWaitTimeStarted", False)),
        step=step,
        traffic=traffic,
        rollback_id=info.get("rollbackInfo", {}).get("rollbackDeploymentId"),
        error=error,
    )


def active_deployment(cd: Any, application: str, group: str) -> DeploymentState | None:
    """The deployment of this group that can still be stopped and rolled back, if any."""
    ids: list[str] = []
    for page in cd.get_paginator("list_deployments").paginate(
        applicationName=application, deploymentGroupName=group,
        includeOnlyStatuses=list(ACTIVE_STATUSES),
    ):  # fmt: skip
        ids.extend(page.get("deployments", []))
    if not ids:
        return None
    states = [deployment_state(cd, i) for i in ids]
    return next((s for s in states if s.status in ACTIVE_STATUSES), None)


def stop_with_rollback(cd: Any, deployment_id: str) -> tuple[bool, str]:
    """``StopDeployment`` with ``autoRollbackEnabled``: traffic returns to the blue task set.
    ``False`` when the deployment completed in the meantime (nothing left to stop)."""
    try:
        resp = cd.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
    except ClientError as exc:
        if error_code(exc) == "DeploymentAlreadyCompletedException":
            return False, f"deployment {deployment_id} completed before it could be stopped"
        raise
    status = f"{resp.get('status', '?')}: {resp.get('statusMessage', '')}".strip(": ")
    return True, f"StopDeployment(autoRollbackEnabled) {status}"


def wait_for_rollback(
    cd: Any, deployment_id: str, *, timeout_s: float, poll_s: float,
    report: Callable[[DeploymentState], None],
    sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
) -> tuple[bool, str]:  # fmt: skip
    """Waits until the stopped deployment (and its rollback deployment, when CodeDeploy creates
    one) is over. ``True`` when traffic is back on the original task set."""
    last = ""

    def seen(state: DeploymentState) -> None:
        nonlocal last
        if state.describe() != last:
            report(state)
            last = state.describe()

    def step() -> tuple[bool, str] | None:
        state = deployment_state(cd, deployment_id)
        seen(state)
        if state.status not in TERMINAL_STATUSES:
            return None
        if state.rollback_id is None:
            if state.status == "Succeeded":
                return False, f"deployment {deployment_id} succeeded instead of stopping"
            return True, f"deployment {deployment_id} {state.status.lower()}, traffic on blue"
        rollback = deployment_state(cd, state.rollback_id)
        seen(rollback)
        if rollback.status == "Succeeded":
            return True, f"rollback deployment {rollback.id} succeeded"
        if rollback.status in TERMINAL_STATUSES:
            return False, f"rollback deployment {rollback.id} {rollback.status.lower()}" + (
                f": {rollback.error}" if rollback.error else ""
            )
        return None

    polled = poll(step, deadline=clock() + timeout_s, interval_s=poll_s, clock=clock, sleep=sleep)
    if polled.answer is not None:
        return polled.answer
    return False, f"CodeDeploy rollback not finished after {timeout_s:g} s ({last})"


# -- ECS built-in blue/green (strategy ecs_bluegreen) ---------------------------------------------

ECS_ACTIVE = ("PENDING", "IN_PROGRESS")
ECS_ROLLED_BACK = ("ROLLBACK_SUCCESSFUL",)
ECS_FAILED = ("ROLLBACK_FAILED",)
ECS_FINISHED = ("SUCCESSFUL", "STOPPED")


@dataclass(frozen=True)
class EcsDeploymentState:
    """An ECS service deployment (ListServiceDeployments / DescribeServiceDeployments)."""

    arn: str
    status: str
    stage: str | None = None
    """``lifecycleStage``, e.g. ``BAKE_TIME`` or ``PRODUCTION_TRAFFIC_SHIFT``."""
    reason: str | None = None

    @property
    def id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]

    def describe(self) -> str:
        parts = [f"ECS service deployment {self.id}: {self.status}"]
        if self.stage:
            parts.append(self.stage)
        if self.reason:
            parts.append(self.reason)
        return ", ".join(parts)


def service_deployment_state(ecs: Any, arn: str) -> EcsDeploymentState:
    found = ecs.describe_service_deployments(serviceDeploymentArns=[arn]).get("serviceDeployments")
    if not found:
        return EcsDeploymentState(arn, "NOT_FOUND")
    d = found[0]
    return EcsDeploymentState(arn, d.get("status", "UNKNOWN"), d.get("lifecycleStage"),
                              d.get("statusReason"))  # fmt: skip


def active_service_deployment(ecs: Any, cluster: str, service: str) -> EcsDeploymentState | None:
    """The service deployment that can still be stopped with rollback (shifting or baking)."""
    resp = ecs.list_service_deployments(cluster=cluster, service=service, status=list(ECS_ACTIVE))
    for brief in resp.get("serviceDeployments", []):
        state = service_deployment_state(ecs, brief["serviceDeploymentArn"])
        if state.status in ECS_ACTIVE:
            return state
    return None


def stop_service_deployment(ecs: Any, arn: str) -> tuple[bool, str]:
    """``StopServiceDeployment`` with ``stopType=ROLLBACK``: traffic returns to the old revision.
    ``False`` when the deployment finished in the meantime (ECS answers ConflictException)."""
    try:
        ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    except ClientError as exc:
        if error_code(exc) == "ConflictException":
            return (
                False,
                f"service deployment {arn.rsplit('/', 1)[-1]} finished before it could be stopped",
            )
        raise
    return True, "StopServiceDeployment(ROLLBACK) accepted"


def wait_for_service_rollback(
    ecs: Any, arn: str, *, timeout_s: float, poll_s: float,
    report: Callable[[EcsDeploymentState], None],
    sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
) -> tuple[bool, str]:  # fmt: skip
    """Waits for ECS to finish rolling the stopped deployment back. ``True`` when the previous
    revision serves again."""
    last = ""

    def step() -> tuple[bool, str] | None:
        nonlocal last
        state = service_deployment_state(ecs, arn)
        if state.describe() != last:
            report(state)
            last = state.describe()
        if state.status in ECS_ROLLED_BACK:
            return True, f"service deployment {state.id} rolled back"
        if state.status in ECS_FAILED:
            return False, f"service deployment {state.id} rollback failed: {state.reason or ''}"
        if state.status in ECS_FINISHED:
            return (
                False,
                f"service deployment {state.id} ended {state.status} instead of rolling back",
            )
        return None

    polled = poll(step, deadline=clock() + timeout_s, interval_s=poll_s, clock=clock, sleep=sleep)
    if polled.answer is not None:
        return polled.answer
    return False, f"ECS rollback not finished after {timeout_s:g} s ({last})"


# -- ECS and the load balancer --------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceState:
    """The ECS service's primary deployment (rolling) or primary task set (CodeDeploy)."""

    task_definition: str | None
    running: int
    desired: int
    target_groups: tuple[str, ...]
    controller: str
    service_desired: int = 0
    """The service's own ``desiredCount``: what autoscaling (or anyone with ECS access) set."""


def service_state(ecs: Any, cluster: str, service: str) -> ServiceState | None:
    services = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    if not services:
        return None
    svc = services[0]
    controller = svc.get("deploymentController", {}).get("type", "ECS")
    primary = next((t for t in svc.get("taskSets", []) if t.get("status") == "PRIMARY"), None)
    if primary is not None:  # CODE_DEPLOY / EXTERNAL: the task set serving production traffic
        return ServiceState(
            task_definition=primary.get("taskDefinition"),
            running=int(primary.get("runningCount", svc.get("runningCount", 0))),
            desired=int(primary.get("computedDesiredCount", svc.get("desiredCount", 0))),
            target_groups=tuple(
                lb["targetGroupArn"]
                for lb in primary.get("loadBalancers", [])
                if "targetGroupArn" in lb
            ),  # fmt: skip
            controller=controller,
            service_desired=int(svc.get("desiredCount", 0)),
        )
    deployment: dict[str, Any] = next(
        (d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"), {}
    )
    return ServiceState(
        task_definition=deployment.get("taskDefinition", svc.get("taskDefinition")),
        running=int(deployment.get("runningCount", svc.get("runningCount", 0))),
        desired=int(deployment.get("desiredCount", svc.get("desiredCount", 0))),
        target_groups=tuple(
            lb["targetGroupArn"] for lb in svc.get("loadBalancers", []) if "targetGroupArn" in lb
        ),  # fmt: skip
        controller=controller,
        service_desired=int(svc.get("desiredCount", 0)),
    )


def scaling_range(autoscaling: Any, cluster: str, service: str) -> tuple[int, int] | None:
    """``(min, max)`` of the service's Application Auto Scaling target, ``None`` when none is
    registered. The program registers one next to the service; autoscaling owns the desired count
    within it (Pulumi ignores ``desiredCount``)."""
    targets = autoscaling.describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[f"service/{cluster}/{service}"],
        ScalableDimension="ecs:service:DesiredCount",
    ).get("ScalableTargets", [])  # fmt: skip
    if not targets:
        return None
    return int(targets[0]["MinCapacity"]), int(targets[0]["MaxCapacity"])


def container_image(ecs: Any, task_definition: str, container: str) -> str | None:
    td = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    for c in td.get("containerDefinitions", []):
        if c.get("name") == container:
            return str(c.get("image"))
    return None


def target_group_arn(elbv2: Any, name: str) -> str | None:
    try:
        groups = elbv2.describe_target_groups(Names=[name]).get("TargetGroups", [])
    except ClientError as exc:
        if error_code(exc) == "TargetGroupNotFound":
            return None
        raise
    return groups[0]["TargetGroupArn"] if groups else None


def target_health(elbv2: Any, arn: str) -> list[tuple[str, str, str]]:
    """``(target id, state, reason)`` for every target registered in the group."""
    descriptions = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return [
        (
            f"{d['Target']['Id']}:{d['Target'].get('Port', '')}",
            d["TargetHealth"].get("State", "unknown"),
            d["TargetHealth"].get("Reason") or "",
        )
        for d in descriptions
    ]
