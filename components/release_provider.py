"""The release: a Pulumi dynamic resource that performs a CodeDeploy blue/green deployment.

Under the ``codedeploy`` strategy the ECS service ignores task definition changes made by Pulumi,
so a new revision must be released *through CodeDeploy*. This provider does that in plain Python
with boto3: ``create``/``update`` start a deployment with the AppSpec, follow its lifecycle, and
return as soon as production traffic is fully on the new (green) task set. It does not wait
through the blue termination wait: that window is what the fast rollback uses. If CodeDeploy
fails, stops or rolls back, the resource raises with the deployment id and the reason, so
``pulumi up`` fails. Only a changed task definition starts a release (see :meth:`diff`).

Progress goes to the provider's log (stderr of the dynamic provider host, visible with
``pulumi up -v=3`` or in ``--logtostderr`` runs) and into the resource outputs (``events``); the
``deplight deploy`` command follows the same deployment through CodeDeploy for live progress.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

log = logging.getLogger("deplight.release")

ENDPOINT_ENV = "DEPLIGHT_AWS_ENDPOINT_URL"
ALL_AT_ONCE_CONFIG = "CodeDeployDefault.ECSAllAtOnce"
# Traffic is fully on green once AllowTraffic succeeded (AfterAllowTraffic is the last hook).
TRAFFIC_SHIFTED_EVENTS = ("AllowTraffic", "AfterAllowTraffic")
FAILED_STATES = ("Failed", "Stopped")


class ReleaseFailedError(RuntimeError):
    """CodeDeploy did not put the new revision into service; the old one keeps serving."""


def render_appspec(
    *, task_definition_arn: str, container_name: str, container_port: int
) -> dict[str, Any]:
    """The ECS AppSpec CodeDeploy needs (pure; snapshot-tested)."""
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
                    },
                }
            }
        ],
    }


def codedeploy_client(region: str) -> Any:
    """A CodeDeploy client; ``DEPLIGHT_AWS_ENDPOINT_URL`` points it elsewhere (tests: moto)."""
    import boto3

    return boto3.client("codedeploy", region_name=region,
                        endpoint_url=os.environ.get(ENDPOINT_ENV) or None)  # fmt: skip


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


def wait_for_traffic(
    client: Any,
    deployment_id: str,
    *,
    timeout_seconds: float,
    poll_seconds: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Follows a deployment until production traffic is fully on green; returns the progress log.

    Raises :class:`ReleaseFailedError` when the deployment fails, is stopped (also by an alarm) or is
    rolled back, or when ``timeout_seconds`` pass first.
    """
    deadline = clock() + timeout_seconds
    seen: list[str] = []

    def note(message: str) -> None:
        if not seen or seen[-1] != message:
            seen.append(message)
            log.info("%s: %s", deployment_id, message)

    while True:
        info = client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        status = info.get("status", "Unknown")
        if status in FAILED_STATES or (info.get("rollbackInfo") or {}).get("rollbackDeploymentId"):
            raise ReleaseFailedError(
                f"CodeDeploy deployment {deployment_id} ended {status}: {_failure_reason(info)}. "
                "Production traffic stays on the previous (blue) task set."
            )
        if status == "Succeeded":
            note("Succeeded: production traffic is on the new task set")
            return seen
        try:
            events = _lifecycle(client, deployment_id)
        except Exception as exc:
            log.debug("lifecycle events unavailable for %s: %s", deployment_id, exc)
            events = {}
        done = [e for e, s in events.items() if s == "Succeeded"]
        note(f"{status}" + (f" ({', '.join(done)} done)" if done else ""))
        if events and all(events.get(e) == "Succeeded" for e in TRAFFIC_SHIFTED_EVENTS):
            note("production traffic fully on green; blue stays up for the termination wait")
            return seen
        if clock() >= deadline:
            raise ReleaseFailedError(
                f"CodeDeploy deployment {deployment_id} did not shift production traffic within "
                f"{int(timeout_seconds)} s (status {status}). It is still running: stop it with "
                f"`aws deploy stop-deployment --deployment-id {deployment_id} "
                "--auto-rollback-enabled` or `deplight rollback`."
            )
        sleep(poll_seconds)


def release(props: dict[str, Any], *, client: Any | None = None,
            poll_seconds: float | None = None) -> dict[str, Any]:  # fmt: skip
    """Starts a deployment of ``props['task_definition_arn']`` and waits for the traffic shift."""
    client = client or codedeploy_client(props["region"])
    appspec = render_appspec(
        task_definition_arn=props["task_definition_arn"],
        container_name=props["container_name"],
        container_port=int(props["container_port"]),
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
    poll = float(props.get("poll_seconds", 10) if poll_seconds is None else poll_seconds)
    events = wait_for_traffic(
        client, deployment_id, timeout_seconds=float(props["timeout_seconds"]), poll_seconds=poll
    )
    return {
        **props,
        "deployment_id": deployment_id,
        "serving_task_definition_arn": props["task_definition_arn"],
        "events": events,
    }


class ReleaseProvider(ResourceProvider):
    """Dynamic provider: one CodeDeploy deployment per task definition revision."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = release(props)
        return CreateResult(id_=outs["deployment_id"], outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Only a new task definition revision is a release; other inputs (timeout, the rollback
        # flag) describe how to release, not what.
        changed = olds.get("task_definition_arn") != news.get("task_definition_arn")
        return DiffResult(changes=changed, replaces=[], stables=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=release(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # A deployment is history, not a resource: nothing to delete in AWS.
        return None
