"""IAM documents the components share."""

from __future__ import annotations

import json


def service_trust_policy(service: str) -> str:
    """The trust policy that lets one AWS service principal (``ecs-tasks.amazonaws.com``,
    ``codedeploy.amazonaws.com``, ...) assume a role, and nobody else."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    })  # fmt: skip
