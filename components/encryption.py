"""The StackKey component: one customer-managed KMS key per stack, rotated yearly.

Production stacks encrypt their log groups (the service's and the VPC flow logs'), the ECR
repository, the release audit table and the alert topic with it (``observability.
customer_managed_key``); development stacks use AWS-managed keys. The key policy is built by a
pure function (:func:`key_policy`), tested without the engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import stack_tags

DELETION_WINDOW_DAYS = 30
"""The longest window AWS allows: a key scheduled for deletion by mistake can be recovered."""


def log_group_arns(prefix: str, region: str, account: str, partition: str = "aws") -> list[str]:
    """The log groups of the stack: the service's, those under ``/deplight/<prefix>/``, and the
    release API's (``/aws/lambda/<prefix>-...``, ``/aws/apigateway/<prefix>-...``)."""
    logs = f"arn:{partition}:logs:{region}:{account}:log-group:"
    return [
        f"{logs}/ecs/{prefix}",
        f"{logs}/deplight/{prefix}/*",
        f"{logs}/aws/lambda/{prefix}-*",
        f"{logs}/aws/apigateway/{prefix}-*",
    ]


def key_policy(*, prefix: str, region: str, account: str, partition: str = "aws") -> dict[str, Any]:
    """Who may use the stack's key (pure).

    - The account, through IAM: without this statement no IAM policy could grant the key (AWS's
      default key policy). ECR and DynamoDB use the key on behalf of the caller, so who may
      create the repository or table, or read and write the audit table, is decided by IAM (the
      CI deploy role's policy allows it for keys tagged as this stack's).
    - CloudWatch Logs, only for this stack's log groups (the encryption context names the group).
    - CloudWatch alarms, to publish to the encrypted alert topic.
    """
    arn = f"arn:{partition}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TheAccountAdministersTheKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"{arn}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchLogsForThisStacksLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": [
                    "kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                "Resource": "*",
                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_group_arns(
                    prefix, region, account, partition)}},
            },
            {
                "Sid": "CloudWatchAlarmsPublishToTheAlertTopic",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            },
        ],
    }  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class StackKeyArgs:
    """Inputs of :class:`StackKey`."""

    prefix: str
    """Name prefix (``<service>-<stack>``)."""
    region: str
    """Region of the stack (CloudWatch Logs' regional service principal)."""


class StackKey(pulumi.ComponentResource):
    """The stack's customer-managed KMS key, with rotation and a 30-day deletion window."""

    arn: pulumi.Output[str]
    """ARN of the key (``kms_key_id``/``kms_master_key_id``/``kms_key_arn`` of its users)."""

    def __init__(
        self, name: str, args: StackKeyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deplight:encryption:StackKey", name, None, opts)
        account = aws.get_caller_identity().account_id
        partition = aws.get_partition().partition
        key = aws.kms.Key(
            f"{name}-key",
            description=f"{args.prefix}: logs, ECR, audit table and alert topic",
            enable_key_rotation=True,
            deletion_window_in_days=DELETION_WINDOW_DAYS,
            policy=json.dumps(
                key_policy(
                    prefix=args.prefix, region=args.region, account=account, partition=partition
                )
            ),  # fmt: skip
            tags=stack_tags(args.prefix),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = key.arn
        self.register_outputs({"arn": self.arn})
