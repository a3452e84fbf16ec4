"""Every rule of the pack, in one list (the pack's ``__main__`` and ``deplight check`` use it)."""

from __future__ import annotations

from pulumi_policy import Policy

from . import (
    codedeploy,
    data,
    deployment,
    ecr,
    ecs,
    encryption,
    iam,
    load_balancers,
    logs,
    network,
    notifications,
    release_api,
    security_groups,
    stack,
    task_definition,
)

PACK_NAME = "deplight"

ALL_POLICIES: list[Policy] = [
    *codedeploy.POLICIES,
    *ecs.POLICIES,
    *task_definition.POLICIES,
    *security_groups.POLICIES,
    *load_balancers.POLICIES,
    *ecr.POLICIES,
    *logs.POLICIES,
    *iam.POLICIES,
    *encryption.POLICIES,
    *stack.POLICIES,
    *notifications.POLICIES,
    *release_api.POLICIES,
    *data.POLICIES,
    *network.POLICIES,
    *deployment.POLICIES,
]
