"""The release: a Pulumi dynamic resource that performs a CodeDeploy blue/green deployment.

Under the ``codedeploy`` strategy the ECS service ignores task definition, network and platform
changes made by Pulumi (ECS refuses them in UpdateService for the CODE_DEPLOY controller), so a
new revision, subnet set, security group set or platform version must be released *through
CodeDeploy*. This provider does that in plain Python with boto3: ``create``/``update`` start a
deployment whose AppSpec carries all of them, follow its lifecycle, and return as soon as
production traffic is fully on the new (green) task set. It does not wait through the blue
termination wait: that window is what the fast rollback uses. If CodeDeploy fails, stops or rolls
back, the resource raises with the deployment id and the reason, so ``pulumi up`` fails. A status
poll that fails for a transient reason (throttling, a 5xx or a dropped connection that outlived
botocore's own retries) does not fail the release: polling backs off and carries on until the
deployment's own outcome or the timeout.

``read`` (``pulumi refresh``) reports what really serves: the deployment's current status and the
task definition of the ECS service's primary task set, which differs from the released one after
a CodeDeploy rollback or a fast-path stop. The next ``up`` compares the requested revision with
that serving one (see :meth:`ReleaseProvider.diff`), so a rolled-back revision is released again
unless the config moved on.

Every AWS call uses the stack's ``aws:region`` and, when set, ``aws:profile`` (inputs ``region``
and ``profile``), as the AWS provider does, not whatever the ambient environment points at.

Progress goes to the provider's log (stderr of the dynamic provider host, visible with
``pulumi up -v=3`` or in ``--logtostderr`` runs) and into the resource outputs (``events``); the
``deplight deploy`` command follows the same deployment through CodeDeploy for live progress.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, ProfileNotFound
from botocore.exceptions import ConnectionError as BotoConnectionError
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from components.contract import ENDPOINT_ENV
from components.poll import StillFailingError, Tolerate, poll

log = logging.getLogger("deplight.release")

ALL_AT_ONCE_CONFIG = "CodeDeployDefault.ECSAllAtOnce"
# Traffic is fully on green once AllowTraffic succeeded (AfterAllowTraffic is the last hook).
TRAFFIC_SHIFTED_EVENTS = ("AllowTraffic", "AfterAllowTraffic")
FAILED_STATES = ("Failed", "Stopped")
NOT_FOUND_STATUS = "NotFound"
"""``deployment_status`` after a refresh when CodeDeploy no longer knows the deployment."""

# What the AppSpec carries besides the task definition: a change to any of them is a release.
NETWORK_KEYS = ("subnets", "security_groups", "assign_public_ip", "platform_version")

# Error codes and HTTP statuses botocore's standard retry mode also treats as transient
# (botocore/retries/standard.py); by the time one reaches us, botocore's retries are spent.
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
})  # fmt: skip
TRANSIENT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException", "InternalFailure",
                             "InternalError", "ServiceUnavailable", "ServiceUnavailableException"})  # fmt: skip
TRANSIENT_HTTP_STATUSES = frozenset({429, 500, 502, 503, 504})
MIN_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 60.0
"""Longest pause between two status polls while they keep failing transiently."""


class ReleaseFailedError(RuntimeError):
    """CodeDeploy did not put the new revision into service; the old one keeps serving."""


class ReleaseConfigError(ValueError):
    """The release resource's AWS settings cannot be used (unknown profile, ...)."""


class ReleaseReadError(RuntimeError):
    """A refresh cannot tell what serves (the deployment group names no ECS service)."""


def render_appspec(
    *,
    task_definition_arn: str,
    container_name: str,
    container_port: int,
    subnets: Sequence[str],
    security_groups: Sequence[str],
    assign_public_ip: bool,
    platform_version: str,
) -> dict[str, Any]:
    """The ECS AppSpec CodeDeploy needs (pure; snapshot-tested).

    ``NetworkConfiguration`` and ``PlatformVersion`` are what the replacement task set runs with:
    ECS rejects changing them on a CODE_DEPLOY service, so this is how they reach production.
    """
    return {
        "version": 0.0,
        "Resources": [
            {
                "TargetService": {
                    "Type": "AWS::ECS::Service",
                    "Properties": {
                        "TaskDefinition": task_definition_arn,
                        "LoadBalancerInfo": {
                            "ContainerName": container_name,
                            "ContainerPort": container_port,
                        },
                        "PlatformVersion": platform_version,
                        "NetworkConfiguration": {
                            "AwsvpcConfiguration": {
                                "Subnets": list(subnets),
                                "SecurityGroups": list(security_groups),
                                "AssignPublicIp": "ENABLED" if assign_public_ip else "DISABLED",
                            }
                        },
                    },
                }
            }
        ],
    }


def aws_session(region: str, profile: str | None) -> Any:
    """A boto3 session for the stack's ``aws:region`` and ``aws:profile`` (``None``: the default
    credential chain). An explicit profile takes precedence over credentials in the environment."""
    import boto3

    try:
        return boto3.Session(region_name=region, profile_name=profile or None)
    except ProfileNotFound as exc:
        raise ReleaseConfigError(
            f"aws:profile: the stack's profile {profile!r} is not in the AWS config files "
            f"(AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE or ~/.aws): {exc}"
        ) from None


def aws_client(service: str, props: dict[str, Any]) -> Any:
    """A client for ``service`` from the resource's ``region``/``profile`` inputs;
    ``DEPLIGHT_AWS_ENDPOINT_URL`` points it elsewhere (tests: moto)."""
    session = aws_session(props["region"], props.get("profile"))
    return session.client(service, endpoint_url=os.environ.get(ENDPOINT_ENV) or None)


def is_transient(exc: BaseException) -> bool:
    """A failure worth polling again: throttling, a 5xx, a dropped or refused connection."""
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        return True
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in THROTTLING_CODES or code in TRANSIENT_CODES or (
            status in TRANSIENT_HTTP_STATUSES
        )  # fmt: skip
    return False


def backoff_seconds(poll_seconds: float, failures: int) -> float:
    """Pause after the ``failures``-th transient failure in a row: doubling, at most 60 s."""
    base = max(poll_seconds, MIN_BACKOFF_SECONDS)
    return float(min(MAX_BACKOFF_SECONDS, base * 2 ** (failures - 1)))


def _failure_reason(info: dict[str, Any]) -> str:
    err = info.get("errorInformation") or {}
    parts = [f"{err.get('code', info.get('status'))}: {err.get('message', 'no message')}"]
    rollback = info.get("rollbackInfo") or {}
    if rollback.get("rollbackMessage"):
        parts.append(f"rollback: {rollback['rollbackMessage']}")
    return "; ".join(parts)


def _lifecycle(client: Any, deployment_id: str) -> dict[str, str]:
    """Lifecycle event name -> status of the deployment's ECS target (empty when not listed yet)."""
    targets = client.list_deployment_targets(deploymentId=deployment_id).get("targetIds", [])
    events: dict[str, str] = {}
    for target_id in targets:
        target = client.get_deployment_target(deploymentId=deployment_id, targetId=target_id)
        ecs = target.get("deploymentTarget", {}).get("ecsTarget", {})
        for ev in ecs.get("lifecycleEvents", []):
            events[ev["lifecycleEventName"]] = ev.get("status", "Pending")
    return events


def follow_deployment(
    client: Any,
    deployment_id: str,
    *,
    timeout_seconds: float,
    poll_seconds: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[str], str]:
    """Follows a deployment until production traffic is fully on green.

    Returns the progress log and the deployment's last status. Raises
    :class:`ReleaseFailedError` when the deployment fails, is stopped (also by an alarm) or is
    rolled back, when ``timeout_seconds`` pass first, or when CodeDeploy refuses the status call
    for a reason that is not transient (access denied, unknown deployment).
    """
    seen: list[str] = []

    def note(message: str) -> None:
        if not seen or seen[-1] != message:
            seen.append(message)
            log.info("%s: %s", deployment_id, message)

    def timed_out(why: str) -> ReleaseFailedError:
        return ReleaseFailedError(
            f"CodeDeploy deployment {deployment_id} did not shift production traffic within "
            f"{int(timeout_seconds)} s ({why}). It may still be running: stop it with "
            f"`aws deploy stop-deployment --deployment-id {deployment_id} "
            "--auto-rollback-enabled` or `deplight rollback`."
        )

    def step() -> tuple[str, bool]:
        """One status poll: the status, and whether production traffic is fully on green."""
        try:
            info = client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        except (ClientError, BotoCoreError) as exc:
            if is_transient(exc):
                raise  # CodeDeploy carries on regardless; one unreadable status is not the outcome
            raise ReleaseFailedError(
                f"cannot read CodeDeploy deployment {deployment_id}: {exc}. It may still be "
                f"running: check it with `aws deploy get-deployment --deployment-id "
                f"{deployment_id}`."
            ) from exc
        status = info.get("status", "Unknown")
        if status in FAILED_STATES or (info.get("rollbackInfo") or {}).get("rollbackDeploymentId"):
            raise ReleaseFailedError(
                f"CodeDeploy deployment {deployment_id} ended {status}: {_failure_reason(info)}. "
                "Production traffic stays on the previous (blue) task set."
            )
        if status == "Succeeded":
            note("Succeeded: production traffic is on the new task set")
            return status, True
        try:
            events = _lifecycle(client, deployment_id)
        except Exception as exc:
            log.debug("lifecycle events unavailable for %s: %s", deployment_id, exc)
            events = {}
        done = [e for e, s in events.items() if s == "Succeeded"]
        note(f"{status}" + (f" ({', '.join(done)} done)" if done else ""))
        if events and all(events.get(e) == "Succeeded" for e in TRAFFIC_SHIFTED_EVENTS):
            note("production traffic fully on green; blue stays up for the termination wait")
            return status, True
        return status, False

    def retrying(exc: Exception, failures: int, pause: float) -> None:
        log.warning("%s: status poll %d failed (%s); trying again in %.0f s",
                    deployment_id, failures, exc, pause)  # fmt: skip

    try:
        polled = poll(
            step, until=lambda answer: answer[1], deadline=clock() + timeout_seconds,
            interval_s=poll_seconds, clock=clock, sleep=sleep,
            tolerate=Tolerate(transient=is_transient,
                              backoff=lambda failures: backoff_seconds(poll_seconds, failures),
                              report=retrying),
        )  # fmt: skip
    except StillFailingError as failing:
        raise timed_out(
            f"status unknown: the last {failing.failures} status poll(s) failed, the last with "
            f"{failing.error}"
        ) from failing.error
    status = polled.answer[0]
    if not polled.done:
        raise timed_out(f"status {status}")
    return seen, status


def wait_for_traffic(client: Any, deployment_id: str, **kwargs: Any) -> list[str]:
    """:func:`follow_deployment`, returning only the progress log."""
    return follow_deployment(client, deployment_id, **kwargs)[0]


def release(props: dict[str, Any], *, client: Any | None = None,
            poll_seconds: float | None = None) -> dict[str, Any]:  # fmt: skip
    """Starts a deployment of ``props['task_definition_arn']`` (with the network and platform the
    AppSpec carries) and waits for the traffic shift."""
    missing = [k for k in ("task_definition_arn", *NETWORK_KEYS) if props.get(k) is None]
    if missing:
        raise ReleaseConfigError(f"release inputs missing: {', '.join(missing)}")
    client = client or aws_client("codedeploy", props)
    appspec = render_appspec(
        task_definition_arn=props["task_definition_arn"],
        container_name=props["container_name"],
        container_port=int(props["container_port"]),
        subnets=props["subnets"],
        security_groups=props["security_groups"],
        assign_public_ip=bool(props["assign_public_ip"]),
        platform_version=props["platform_version"],
    )
    request: dict[str, Any] = {
        "applicationName": props["application_name"],
        "deploymentGroupName": props["deployment_group_name"],
        "revision": {
            "revisionType": "AppSpecContent",
            "appSpecContent": {"content": json.dumps(appspec)},
        },
        "description": f"deplight release of {props['task_definition_arn']}",
    }
    if props.get("all_at_once"):
        # A rollback restores a known-good release: no canary, all traffic at once.
        request["deploymentConfigName"] = ALL_AT_ONCE_CONFIG
    deployment_id = client.create_deployment(**request)["deploymentId"]
    log.info("started CodeDeploy deployment %s", deployment_id)
    every = float(props.get("poll_seconds", 10) if poll_seconds is None else poll_seconds)
    events, status = follow_deployment(
        client, deployment_id, timeout_seconds=float(props["timeout_seconds"]), poll_seconds=every
    )
    return {
        **props,
        "deployment_id": deployment_id,
        "deployment_status": status,
        "serving_task_definition_arn": props["task_definition_arn"],
        "events": events,
    }


def serving_task_definition(ecs: Any, cluster: str, service: str) -> str | None:
    """The task definition production traffic reaches: the service's PRIMARY task set under
    CODE_DEPLOY (CodeDeploy makes the green set primary at the swap and the blue one again on a
    rollback), else the service's own; ``None`` when the service does not exist (any more)."""
    try:
        found = ecs.describe_services(cluster=cluster, services=[service]).get("services") or []
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ClusterNotFoundException":
            raise
        return None
    active = [s for s in found if s.get("status") == "ACTIVE"]
    if not active:
        return None
    svc = active[0]
    primary = [t for t in svc.get("taskSets") or [] if t.get("status") == "PRIMARY"]
    if primary:
        return str(primary[0]["taskDefinition"])
    task_definition: str | None = svc.get("taskDefinition")
    return task_definition


def observe(deployment_id: str, props: dict[str, Any], *, codedeploy: Any | None = None,
            ecs: Any | None = None) -> dict[str, Any]:  # fmt: skip
    """The release as it stands in AWS now: ``props`` with the deployment's status and the task
    definition that actually serves."""
    codedeploy = codedeploy or aws_client("codedeploy", props)
    ecs = ecs or aws_client("ecs", props)
    try:
        info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        status = str(info.get("status", "Unknown"))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "DeploymentDoesNotExistException":
            raise
        status = NOT_FOUND_STATUS
    group = codedeploy.get_deployment_group(
        applicationName=props["application_name"],
        deploymentGroupName=props["deployment_group_name"],
    )["deploymentGroupInfo"]
    services = group.get("ecsServices") or []
    if not services:
        raise ReleaseReadError(
            f"CodeDeploy deployment group {props['deployment_group_name']} names no ECS service: "
            "cannot tell which task definition serves"
        )
    serving = serving_task_definition(ecs, services[0]["clusterName"], services[0]["serviceName"])
    log.info("%s: %s, serving %s", deployment_id, status, serving)
    return {
        **props,
        "deployment_id": deployment_id,
        "deployment_status": status,
        "serving_task_definition_arn": serving,
    }


def release_changes(olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    """The inputs whose change is a release (pure).

    The requested revision is compared with the one recorded as *serving*: equal after every
    successful release, different once a refresh saw a rollback. A network key counts only when
    the previous state recorded it (states written before the AppSpec carried the network do
    not have it; that alone is no reason to release).
    """
    changed = []
    serving = olds.get("serving_task_definition_arn") or olds.get("task_definition_arn")
    if news.get("task_definition_arn") != serving:
        changed.append("task_definition_arn")

    def norm(value: Any) -> Any:
        return sorted(value) if isinstance(value, (list, tuple)) else value

    for key in NETWORK_KEYS:
        if key in olds and norm(olds[key]) != norm(news.get(key)):
            changed.append(key)
    return changed


class ReleaseProvider(ResourceProvider):
    """Dynamic provider: one CodeDeploy deployment per released revision/network/platform."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = release(props)
        return CreateResult(id_=outs["deployment_id"], outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_=id_, outs=observe(id_, props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Other inputs (timeout, the rollback flag, region, profile) describe how to release,
        # not what.
        changed = bool(release_changes(olds, news))
        return DiffResult(changes=changed, replaces=[], stables=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=release(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # A deployment is history, not a resource: nothing to delete in AWS.
        return None
