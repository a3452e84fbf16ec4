"""Task definitions: images pinned to a commit SHA or digest, no privileged containers, logs."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .common import as_list, resource_policy, violation
from .stack_keys import fix

TASK_TYPES = ("aws:ecs/taskDefinition:TaskDefinition",)
SHA_TAG = re.compile(r"^[0-9a-f]{7,40}$")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def containers(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = props.get("containerDefinitions")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return []
    return [c for c in as_list(raw) if isinstance(c, Mapping)]


def image_problem(image: str) -> str | None:
    if DIGEST.search(image):
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag (means latest)"
    tag = last.rsplit(":", 1)[1]
    if SHA_TAG.fullmatch(tag):
        return None
    return "uses a floating tag" if tag != "latest" else "uses the latest tag"


def check_pinned_images(t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    out = []
    for c in containers(props):
        image = str(c.get("image", ""))
        if (problem := image_problem(image)) is not None:
            out.append(violation(image, f"container {c.get('name')!r} image {problem}",
                                 fix(t, "image", "<git commit SHA or image@sha256 digest>",
                                     "tag images with the git commit SHA (7-40 hex) or pin by "
                                     "@sha256 digest", c)))  # fmt: skip
    return out


def check_not_privileged(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        violation(True, f"container {c.get('name')!r} is privileged", "remove privileged: true")
        for c in containers(props)
        if c.get("privileged") is True
    ]


def check_logging(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    return [
        violation(
            c.get("logConfiguration"),
            f"container {c.get('name')!r} has no log driver",
            "set logConfiguration (awslogs to the service log group)",
        )  # fmt: skip
        for c in containers(props)
        if not (c.get("logConfiguration") or {}).get("logDriver")
    ]


def check_readonly_root(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]
                        ) -> list[str]:  # fmt: skip
    """Essential containers (the app) run with a read-only root filesystem."""
    return [
        violation(
            c.get("readonlyRootFilesystem"),
            f"container {c.get('name')!r} can write to its root filesystem",
            "set service.readonly_root_filesystem: true (readonlyRootFilesystem; /tmp stays "
            "writable as a task volume)",
        )  # fmt: skip
        for c in containers(props)
        if c.get("essential", True) is not False and c.get("readonlyRootFilesystem") is not True
    ]


def check_roles_distinct(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]
                         ) -> list[str]:  # fmt: skip
    """What ECS needs to start the task (pull, logs, secrets) is not what the app may do."""
    execution, task = props.get("executionRoleArn"), props.get("taskRoleArn")
    if execution and execution == task:
        return [violation(task, "the execution role is also the task role, so the application "
                          "can read every secret and pull every image the task needs to start",
                          "give the task its own role (taskRoleArn) with only the app's needs")]  # fmt: skip
    return []


POLICIES = [
    resource_policy(
        name="task-definition-readonly-root",
        description="Essential containers run with a read-only root filesystem.",
        types=TASK_TYPES,
        check=check_readonly_root,
    ),
    resource_policy(
        name="ecs-task-roles-distinct",
        description="The task's execution role and task role are different roles.",
        types=TASK_TYPES,
        check=check_roles_distinct,
    ),
    resource_policy(
        name="task-definition-pinned-images",
        description="Every container image is pinned to a commit SHA tag or a digest.",
        types=TASK_TYPES,
        check=check_pinned_images,
    ),
    resource_policy(
        name="task-definition-no-privileged",
        description="No container runs privileged.",
        types=TASK_TYPES,
        check=check_not_privileged,
    ),
    resource_policy(
        name="task-definition-logging",
        description="Every container sends its logs somewhere.",
        types=TASK_TYPES,
        check=check_logging,
    ),
]
