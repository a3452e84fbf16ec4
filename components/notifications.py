"""Notifications: the alert topic into a Slack channel through AWS Chatbot.

Alarms already publish to the stack's alert topic (:mod:`components.observability`), and the
release commands publish their start and outcome there as Chatbot custom notifications
(:mod:`rollback.notify`). This component subscribes one Slack channel to that topic, so both land
in the same channel with no webhook code for alarms.

What Chatbot may do is bounded three times:
- its *channel role* can read this stack's CloudWatch alarms and the metrics behind them (to
  render alarm charts) and nothing else, and like every service role of the stack it carries the
  permissions boundary;
- the *guardrail* caps what anyone in the channel can run through Chatbot, whatever their own
  role: AWS's managed ``CloudWatchReadOnlyAccess``. Without an explicit guardrail, AWS applies
  ``AdministratorAccess``: the stack always sets one. (An AWS-managed policy, because CI may
  not create customer-managed policies: see docs/ci.md.)
- channel members must authorise with their own role (``user_authorization_required``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import Grants, Scope, request_tagged, service_trust_policy, stack_tags
from components.settings import NotificationSettings

CHATBOT = "chatbot.amazonaws.com"
GUARDRAIL = "CloudWatchReadOnlyAccess"
"""AWS-managed policy that caps what the Slack channel can run: read CloudWatch."""
ALARM_READS = ("cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory")
"""Read this stack's alarms (scoped to their names, CKV_AWS_355)."""
METRIC_READS = ("cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics",
                "cloudwatch:ListMetrics")  # fmt: skip
"""Read metrics for the charts: CloudWatch offers no resource-level control for these."""


def chatbot_statements(scope: Scope) -> list[dict[str, Any]]:
    """What Chatbot's channel role may do (and so what the boundary allows it): read this stack's
    alarms and the metrics to chart them, nothing more."""
    alarms = f"{scope.arn}:cloudwatch:{scope.region}:{scope.account}:alarm:{scope.prefix}-*"
    return [
        {"Sid": "ChatbotReadsThisStacksAlarms", "Effect": "Allow", "Action": list(ALARM_READS),
         "Resource": alarms},
        {"Sid": "ChatbotReadsMetrics", "Effect": "Allow", "Action": list(METRIC_READS),
         "Resource": "*"},
    ]  # fmt: skip


def configuration_name(prefix: str) -> str:
    return f"{prefix}-alerts"


def _deploy_statements(scope: Scope) -> list[dict[str, Any]]:
    """CI creates, changes and deletes this stack's channel configuration only. Creation names
    no resource AWS can scope, so it is conditioned on the stack tag."""
    channel = f"{scope.arn}:chatbot::{scope.account}:chat-configuration/slack-channel"
    return [
        {
            "Sid": "CreateChatbotChannelTaggedAsThisStack",
            "Effect": "Allow",
            "Action": ["chatbot:CreateSlackChannelConfiguration", "chatbot:TagResource"],
            "Resource": "*",
            "Condition": request_tagged(scope.prefix),
        },
        {
            "Sid": "ThisStacksChatbotChannel",
            "Effect": "Allow",
            "Action": [
                "chatbot:UpdateSlackChannelConfiguration",
                "chatbot:DeleteSlackChannelConfiguration",
                "chatbot:TagResource",
                "chatbot:UntagResource",
            ],
            "Resource": f"{channel}/{configuration_name(scope.prefix)}",
        },
    ]


GRANTS = Grants(
    deploy=_deploy_statements,
    boundary=chatbot_statements,
    pass_to_services=(CHATBOT,),
    preview_reads=("chatbot:DescribeSlackChannelConfigurations", "chatbot:ListTagsForResource"),
)
"""What the Notifications component adds to the CI roles and the boundary (when Slack is on)."""


@dataclass(frozen=True, kw_only=True)
class NotificationsArgs:
    """Inputs of :class:`Notifications`."""

    prefix: str
    """Name prefix (``<service>-<stack>``)."""
    notifications: NotificationSettings
    """Slack workspace and channel, logging level."""
    alert_topic_arn: pulumi.Input[str]
    """The stack's alert topic (alarms and release messages)."""
    region: str = "us-east-1"
    """Region of the stack's alarms."""
    permissions_boundary: pulumi.Input[str] | None = None
    """The stack's permissions boundary: the channel role carries it."""


class Notifications(pulumi.ComponentResource):
    """An AWS Chatbot Slack channel configuration subscribed to the alert topic."""

    channel_configuration_arn: pulumi.Output[str]
    """The Chatbot Slack channel configuration."""
    guardrail_policy_arn: str
    """The AWS-managed policy that caps what the channel can do."""

    def __init__(
        self, name: str, args: NotificationsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deplight:notifications:Notifications", name, None, opts)
        s = args.notifications
        child = pulumi.ResourceOptions(parent=self)
        tags = stack_tags(args.prefix)
        partition = aws.get_partition().partition

        role = aws.iam.Role(
            f"{name}-chatbot",
            name=f"{args.prefix}-chatbot",
            description="AWS Chatbot's channel role: reads CloudWatch to render alarms.",
            assume_role_policy=service_trust_policy(CHATBOT),
            permissions_boundary=args.permissions_boundary,
            tags=tags,
            opts=child,
        )
        account = aws.get_caller_identity().account_id
        scope = Scope(args.prefix, args.region, account, partition)
        aws.iam.RolePolicy(
            f"{name}-chatbot-read", role=role.id,
            policy=json.dumps({"Version": "2012-10-17", "Statement": chatbot_statements(scope)}),
            opts=child,
        )  # fmt: skip
        guardrail = f"arn:{partition}:iam::aws:policy/{GUARDRAIL}"
        channel = aws.chatbot.SlackChannelConfiguration(
            f"{name}-slack",
            configuration_name=configuration_name(args.prefix),
            slack_team_id=s.slack_workspace_id,
            slack_channel_id=s.slack_channel_id,
            iam_role_arn=role.arn,
            guardrail_policy_arns=[guardrail],
            sns_topic_arns=[args.alert_topic_arn],
            logging_level=s.logging_level,
            user_authorization_required=True,
            tags=tags,
            opts=child,
        )
        self.channel_configuration_arn = channel.chat_configuration_arn
        self.guardrail_policy_arn = guardrail
        self.register_outputs({
            "channel_configuration_arn": self.channel_configuration_arn,
            "guardrail_policy_arn": self.guardrail_policy_arn,
        })  # fmt: skip
