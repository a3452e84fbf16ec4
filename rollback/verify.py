"""Verification after every deploy and rollback: does AWS run what the stack says?

``up`` can succeed while ECS has already rolled back on its own (pulumi-aws #4487), so after each
release, read with boto3: the service's primary deployment (rolling) or primary task set
(CodeDeploy) runs a task definition whose container image is ``<repository>:<tag>``; its running
count equals its desired count; the service's desired count lies within its autoscaling range
(Pulumi ignores ``desiredCount``, so a desired count set by hand outside that range shows only
here);
every target still serving in its target group is healthy. Those are polled until they hold or the
timeout passes.

Then ``preview(refresh=True, expect_no_changes=True)``: the engine first reads every resource in
the stack's state back from AWS, then diffs the program and its config against that. No changes
means the resources Pulumi manages are as the program says, apart from the properties the program
leaves to others (``ignore_changes``: the desired count, and under CodeDeploy the task definition
and load balancers). Resources created outside Pulumi are not in the state and are not seen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components.contract import (
    BLUE_TARGET_GROUP_NAME,
    CLUSTER_NAME,
    CONTAINER_NAME,
    REPOSITORY_NAME,
    REPOSITORY_URL,
    SERVICE_NAME,
)
from components.poll import poll
from rollback import aws as awsapi
from rollback.errors import DeplightError
from rollback.port import StackPort
from rollback.progress import Progress

log = logging.getLogger(__name__)

REFRESHED = "after reading the stack's resources back from AWS (refresh)"


@dataclass
class Verification:
    ok: bool
    verified: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "verified": self.verified, "differences": self.differences}


def _short(arn: str | None) -> str:
    return (arn or "?").rsplit("/", 1)[-1]


def _tg_name(arn: str) -> str:
    """``arn:...:targetgroup/<name>/<id>`` -> ``<name>``."""
    parts = arn.split("/")
    return parts[-2] if len(parts) >= 3 else arn


def aws_state(aws: awsapi.Aws, outputs: Mapping[str, Any], tag: str) -> tuple[list[str], list[str]]:
    """``(verified facts, differences)`` of the running service against ``tag``."""
    missing = [k for k in (CLUSTER_NAME, SERVICE_NAME, CONTAINER_NAME) if not outputs.get(k)]
    if not outputs.get(REPOSITORY_URL) and not outputs.get(REPOSITORY_NAME):
        missing.append(REPOSITORY_URL)
    if missing:
        return [], [f"stack output {k} is missing" for k in missing]
    ecs, elbv2 = aws.client("ecs"), aws.client("elbv2")
    uri = outputs.get(REPOSITORY_URL) or awsapi.repository_uri(
        aws.client("ecr"), outputs[REPOSITORY_NAME]
    )
    expected = f"{uri}:{tag}"
    cluster, service = outputs[CLUSTER_NAME], outputs[SERVICE_NAME]
    state = awsapi.service_state(ecs, cluster, service)
    if state is None:
        return [], [f"ECS service {service} not found in cluster {cluster}"]
    facts: list[str] = []
    diffs: list[str] = []
    if state.task_definition is None:
        diffs.append(f"ECS service {service} has no primary deployment")
    else:
        image = awsapi.container_image(ecs, state.task_definition, outputs[CONTAINER_NAME])
        if image != expected:
            diffs.append(
                f"primary deployment runs {_short(state.task_definition)} with image {image}, "
                f"expected {expected}"
            )
        else:
            facts.append(f"primary deployment runs {expected} ({_short(state.task_definition)})")
    if state.running != state.desired:
        diffs.append(f"{state.running} task(s) running, {state.desired} desired")
    else:
        facts.append(f"{state.running}/{state.desired} tasks running")
    bounds = awsapi.scaling_range(aws.client("application-autoscaling"), cluster, service)
    wanted = state.service_desired
    if bounds is None:
        facts.append(f"desired count {wanted} (no autoscaling target registered: no range to "
                     "check it against)")  # fmt: skip
    elif not bounds[0] <= wanted <= bounds[1]:
        diffs.append(
            f"ECS service {service} desired count {wanted} is outside its autoscaling range "
            f"{bounds[0]}-{bounds[1]}: changed outside Pulumi and autoscaling"
        )
    else:
        facts.append(f"desired count {wanted} within the autoscaling range {bounds[0]}-{bounds[1]}")
    groups = list(state.target_groups)
    if not groups and outputs.get(BLUE_TARGET_GROUP_NAME):
        arn = awsapi.target_group_arn(elbv2, outputs[BLUE_TARGET_GROUP_NAME])
        groups = [arn] if arn else []
    if not groups:
        diffs.append("no target group found for the service")
    for tg in groups:
        # Draining targets are the previous release leaving: not serving, not judged.
        serving = [t for t in awsapi.target_health(elbv2, tg) if t[1] != "draining"]
        bad = [f"{i} {s}{f' ({r})' if r else ''}" for i, s, r in serving if s != "healthy"]
        if bad:
            diffs.append(f"target group {_tg_name(tg)}: not healthy: {', '.join(bad)}")
        elif not serving and state.desired > 0:
            diffs.append(f"target group {_tg_name(tg)}: no target registered")
        else:
            facts.append(f"target group {_tg_name(tg)}: {len(serving)} target(s) healthy")
    return facts, diffs


def verify_release(
    stack: StackPort, aws: awsapi.Aws, outputs: Mapping[str, Any], tag: str, *,
    timeout_s: float, poll_s: float = 10.0, sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Verification:  # fmt: skip
    polled = poll(
        lambda: aws_state(aws, outputs, tag), until=lambda state: not state[1],
        deadline=clock() + timeout_s, interval_s=poll_s, clock=clock, sleep=sleep,
        on_wait=lambda state: log.info("verify: waiting %gs: %s", poll_s, "; ".join(state[1])),
    )  # fmt: skip
    facts, diffs = polled.answer
    for line in facts:
        log.info("verify: %s", line)
    if diffs:
        return Verification(False, facts, diffs)
    progress = Progress("verify preview --refresh")
    try:
        result = stack.preview(expect_no_changes=True, refresh=True, on_event=progress)
    except DeplightError as exc:
        seen = f" ({'; '.join(progress.changes[:10])})" if progress.changes else ""
        return Verification(False, facts, [f"preview expects changes{seen} {REFRESHED}: {exc}"])
    changed = {str(getattr(k, "value", k)): n for k, n in (result.change_summary or {}).items()
               if str(getattr(k, "value", k)) != "same" and n}  # fmt: skip
    if changed:
        text = ", ".join(f"{k} {n}" for k, n in sorted(changed.items()))
        return Verification(False, facts, [f"preview expects changes {REFRESHED}: {text}"])
    facts.append(
        "preview --refresh: no changes: the resources in the stack's state, read back from AWS, "
        "match the program and its config"
    )
    return Verification(True, facts, [])
