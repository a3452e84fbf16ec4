"""Notifications: the Chatbot Slack channel exists only when configured, reads only, and the pack
checks its guardrail; the webhook URL is accepted only as a stack secret and never echoed."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from components.settings import SettingsError, parse_settings
from deplight.check import evaluate_grpc, load_policy_config
from deplight.harness import ProgramRun, read_stack_config, run_program
from tests.conftest import program_run

CHANNEL = "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration"
SLACK = {"slack_workspace_id": "T07EA123LEP", "slack_channel_id": "C07EZ1ABC23"}
WEBHOOK = "https://hooks.slack.com/services/T07EA123LEP/B0000/abcdefSECRET"


@pytest.fixture(scope="module")
def prod_slack() -> ProgramRun:
    """The committed prod stack names a Slack channel."""
    run = program_run("prod")
    assert run.settings.notifications.slack
    return run


def test_no_chatbot_unless_configured() -> None:
    run = program_run("dev")
    assert not run.settings.notifications.slack
    assert not run.of_type(CHANNEL)
    assert "chatbot_configuration_arn" not in run.outputs
    config = dict(read_stack_config("prod"))
    del config["deplight:notifications"]
    without = run_program("prod", config)
    assert not without.of_type(CHANNEL)
    assert "chatbot.amazonaws.com" not in json.dumps(
        [r.inputs for r in without.resources], default=str
    )


def test_channel_is_subscribed_to_the_alert_topic_with_a_read_only_guardrail(
    prod_slack: ProgramRun,
) -> None:
    channel = prod_slack.one(CHANNEL).inputs
    assert channel["slackTeamId"] == "T07EA123LEP"
    assert channel["slackChannelId"] == "C07EZ1ABC23"
    assert channel["snsTopicArns"] == [prod_slack.outputs["alert_topic_arn"]]
    assert channel["userAuthorizationRequired"] is True
    assert channel["loggingLevel"] == "ERROR"
    assert channel["guardrailPolicyArns"] == ["arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"]
    role = next(r for r in prod_slack.of_type("aws:iam/role:Role")
                if r.outputs["arn"] == channel["iamRoleArn"])  # fmt: skip
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "chatbot.amazonaws.com"}
    assert role.inputs["permissionsBoundary"].endswith(":policy/web-prod-permissions-boundary")
    (inline,) = [r for r in prod_slack.of_type("aws:iam/rolePolicy:RolePolicy")
                 if r.inputs["role"] == role.id]  # fmt: skip
    statements = json.loads(inline.inputs["policy"])["Statement"]
    assert [(st["Action"], st["Resource"]) for st in statements] == [
        (["cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory"],
         "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-prod-*"),
        (["cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics", "cloudwatch:ListMetrics"],
         "*"),
    ]  # fmt: skip
    assert prod_slack.outputs["chatbot_configuration_arn"].startswith(
        "arn:aws:chatbot::123456789012:chat-configuration/slack-channel/web-prod-alerts"
    )


def test_pack_passes_with_slack_configured(prod_slack: ProgramRun) -> None:
    config, _ = load_policy_config("prod")
    mandatory = [v for v in evaluate_grpc(prod_slack, config) if v.level == "mandatory"]
    assert mandatory == []


def _no_guardrail(p: dict[str, Any]) -> dict[str, Any]:
    p.pop("guardrailPolicyArns", None)
    return p


def _admin_guardrail(p: dict[str, Any]) -> dict[str, Any]:
    p["guardrailPolicyArns"] = ["arn:aws:iam::aws:policy/AdministratorAccess"]
    return p


def _no_user_authorization(p: dict[str, Any]) -> dict[str, Any]:
    p["userAuthorizationRequired"] = False
    return p


def _writable_role(p: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(p["policy"])
    doc["Statement"][0]["Action"].append("lambda:InvokeFunction")
    p["policy"] = json.dumps(doc)
    return p


def seeded_named(run: ProgramRun, name: str, change: Any) -> ProgramRun:
    """``run`` with the resource called ``name`` changed in inputs and outputs."""
    resources = []
    for r in run.resources:
        if r.name == name:
            inputs = change(json.loads(json.dumps(dict(r.inputs), default=str)))
            r = dataclasses.replace(r, inputs=inputs, outputs={**r.outputs, **inputs})
        resources.append(r)
    return dataclasses.replace(run, resources=resources)


@pytest.mark.parametrize(("name", "change", "policy", "text"), [
    ("web-prod-slack", _no_guardrail, "chatbot-guardrails", "no guardrail policy"),
    ("web-prod-slack", _admin_guardrail, "chatbot-guardrails",
     "lets the channel change the account"),
    ("web-prod-slack", _no_user_authorization, "chatbot-guardrails",
     "not required to authorise"),
    ("web-prod-chatbot-read", _writable_role, "chatbot-read-only",
     "channel role policy allows more than reading"),
])  # fmt: skip
def test_pack_catches_a_chatbot_that_can_act(prod_slack: ProgramRun, name: str, change: Any,
                                             policy: str, text: str) -> None:  # fmt: skip
    assert any(r.name == name for r in prod_slack.resources), name
    config, _ = load_policy_config("prod")
    found = evaluate_grpc(seeded_named(prod_slack, name, change), config)
    hits = [v for v in found if v.policy == policy and v.level == "mandatory"]
    assert hits and text in hits[0].message, found


# -- settings ---------------------------------------------------------------------------------------


def dev_raw(**extra: Any) -> dict[str, Any]:
    """The committed dev stack's deplight: keys (namespace stripped), plus ``extra``."""
    raw = {k.split(":", 1)[1]: v for k, v in read_stack_config("dev").items()
           if k.startswith("deplight:")}  # fmt: skip
    return {**raw, **extra}


def test_slack_ids_are_validated_and_come_in_pairs() -> None:
    with pytest.raises(SettingsError) as err:
        parse_settings("dev", dev_raw(notifications={
            "slack_workspace_id": "workspace", "logging_level": "LOUD"}))  # fmt: skip
    assert err.value.errors == [
        "deplight:notifications.slack_workspace_id: expected a Slack workspace id (T followed by "
        "8-20 capitals and digits), found 'workspace'",
        "deplight:notifications.logging_level: expected one of ERROR, INFO, NONE, found 'LOUD'",
        "deplight:notifications.slack_channel_id: expected a value as well when "
        "notifications.slack_workspace_id is set, found None",
    ]


def test_webhook_url_must_be_a_secret_and_is_never_echoed() -> None:
    raw = dev_raw(notifications_webhook_url=WEBHOOK)
    with pytest.raises(SettingsError) as err:
        parse_settings("dev", raw)
    assert err.value.errors == [
        "deplight:notifications_webhook_url: expected a secret (pulumi config set --secret "
        "deplight:notifications_webhook_url <url>), found a plain-text value"
    ]
    assert "SECRET" not in str(err.value)
    with pytest.raises(SettingsError) as err:
        parse_settings("dev", {**raw, "notifications_webhook_url": "http://x/SECRET"},
                       secret_keys={"notifications_webhook_url"})  # fmt: skip
    assert "SECRET" not in str(err.value) and "expected an https:// URL" in str(err.value)
    settings = parse_settings("dev", raw, secret_keys={"notifications_webhook_url"})
    assert WEBHOOK not in repr(settings)  # the program never holds it
