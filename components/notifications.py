"""Notifications: the alert topic into a Slack channel through AWS Chatbot.

Alarms already publish to the stack's alert topic (:mod:`components.observability`), and the
release commands publish their start and outcome there as Chatbot custom notifications
(:mod:`rollback.notify`). This component subscribes one Slack channel to that topic, so both land
in the same channel with no webhook code for alarms.

What Chatbot may do is bounded twice:
- its *channel role* can read CloudWatch alarms and metrics (to render alarm charts) and nothing
  else;
- the *guardrail* policy caps what anyone in the channel can run through Chatbot, whatever their
  own role: the same read-only CloudWatch actions. Without an explicit guardrail, AWS applies
  ``AdministratorAccess``: the stack always sets one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import service_trust_policy
from components.settings import NotificationSettings

CHATBOT_READ_ACTIONS = (
    "cloudwatch:Describe*",
    "cloudwatch:Get*",
    "cloudwatch:List*",
)
"""What Chatbot needs to render an alarm notification: read CloudWatch, nothing more."""


def read_only_policy() -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadAlarmsAndMetrics", "Effect": "Allow",
             "Action": list(CHATBOT_READ_ACTIONS), "Resource": "*"},
        ],
    })  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class NotificationsArgs:
    """Inputs of :class:`Notifications`."""

    prefix: str
    """Name prefix (``<service>-<stack>``)."""
    notifications: NotificationSettings
    """Slack workspace and channel, logging level."""
    alert_topic_arn: pulumi.Input[str]
    """The stack's alert topic (alarms and release messages)."""


class Notifications(pulumi.ComponentResource):
    """An AWS Chatbot Slack channel configuration subscribed to the alert topic."""

    channel_configuration_arn: pulumi.Output[str]
    """The Chatbot Slack channel configuration."""
    guardrail_policy_arn: pulumi.Output[str]
    """The managed policy that caps what the channel can do."""

    def __init__(
        self, name: str, args: NotificationsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deplight:notifications:Notifications", name, None, opts)
        s = args.notifications
        child = pulumi.ResourceOptions(parent=self)
        tags = {"deplight:stack": pulumi.get_stack()}

        role = aws.iam.Role(
            f"{name}-chatbot",
            name=f"{args.prefix}-chatbot",
            description="AWS Chatbot's channel role: reads CloudWatch to render alarms.",
            assume_role_policy=service_trust_policy("chatbot.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-chatbot-read", role=role.id, policy=read_only_policy(), opts=child
        )
        guardrail = aws.iam.Policy(
            f"{name}-chatbot-guardrail",
            name=f"{args.prefix}-chatbot-guardrail",
            description="Guardrail of the Slack channel: read-only CloudWatch, whatever the user.",
            policy=read_only_policy(),
            tags=tags,
            opts=child,
        )
        channel = aws.chatbot.SlackChannelConfiguration(
            f"{name}-slack",
            configuration_name=f"{args.prefix}-alerts",
            slack_team_id=s.slack_workspace_id,
            slack_channel_id=s.slack_channel_id,
            iam_role_arn=role.arn,
            guardrail_policy_arns=[guardrail.arn],
            sns_topic_arns=[args.alert_topic_arn],
            logging_level=s.logging_level,
            user_authorization_required=True,
            tags=tags,
            opts=child,
        )
        self.channel_configuration_arn = channel.chat_configuration_arn
        self.guardrail_policy_arn = guardrail.arn
        self.register_outputs({
            "channel_configuration_arn": self.channel_configuration_arn,
            "guardrail_policy_arn": self.guardrail_policy_arn,
        })  # fmt: skip
