"""Notifications: the Chatbot Slack channel exists only when configured, reads only, and the pack
checks its guardrail; the webhook URL is accepted only as a stack secret and never echoed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.settings import SettingsError, parse_settings
from deplight.check import evaluate_grpc, load_policy_config
from deplight.harness import ProgramRun, read_stack_config, run_program
from tests.conftest import program_run
from tests.test_policies_pack import seeded

CHANNEL = "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration"
SLACK = {"slack_workspace_id": "T07EA123LEP", "slack_channel_id": "C07EZ1ABC23"}
WEBHOOK = "https://hooks.slack.com/services/T07EA123LEP/B0000/abcdefSECRET"


def with_slack(stack: str = "prod") -> ProgramRun:
    config = dict(read_stack_config(stack))
    config["deplight:notifications"] = SLACK
    return run_program(stack, config)


@pytest.fixture(scope="module")
def prod_slack() -> ProgramRun:
    return with_slack("prod")


def test_no_chatbot_unless_configured() -> None:
    for stack in ("dev", "prod"):
        run = program_run(stack)
        assert not run.of_type(CHANNEL), stack
        assert "chatbot_configuration_arn" not in run.outputs


def test_channel_is_subscribed_to_the_alert_topic_with_a_read_only_guardrail(
    prod_slack: ProgramRun,
) -> None:
    channel = prod_slack.one(CHANNEL).inputs
    assert channel["slackTeamId"] == "T07EA123LEP"
    assert channel["slackChannelId"] == "C07EZ1ABC23"
    assert channel["snsTopicArns"] == [prod_slack.outputs["alert_topic_arn"]]
    assert channel["userAuthorizationRequired"] is True
    assert channel["loggingLevel"] == "ERROR"
    guardrail = next(r for r in prod_slack.of_type("aws:iam/policy:Policy")
                     if r.outputs["arn"] in channel["guardrailPolicyArns"])  # fmt: skip
    actions = json.loads(guardrail.inputs["policy"])["Statement"][0]["Action"]
    assert actions == ["cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*"]
    role = next(r for r in prod_slack.of_type("aws:iam/role:Role")
                if r.outputs["arn"] == channel["iamRoleArn"])  # fmt: skip
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "chatbot.amazonaws.com"}
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


def _writable_guardrail(p: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(p["policy"])
    doc["Statement"][0]["Action"].append("lambda:InvokeFunction")
    p["policy"] = json.dumps(doc)
    return p


@pytest.mark.parametrize(("type_", "change", "policy", "text"), [
    (CHANNEL, _no_guardrail, "chatbot-guardrails", "no guardrail policy"),
    (CHANNEL, _admin_guardrail, "chatbot-guardrails", "lets the channel change the account"),
    ("aws:iam/policy:Policy", _writable_guardrail, "chatbot-read-only",
     "guardrail policy allows more than reading"),
])  # fmt: skip
def test_pack_catches_a_chatbot_that_can_act(prod_slack: ProgramRun, type_: str, change: Any,
                                             policy: str, text: str) -> None:  # fmt: skip
    if type_ == "aws:iam/policy:Policy":
        guardrail_arns = prod_slack.one(CHANNEL).inputs["guardrailPolicyArns"]
        # seeded() changes the first policy of the type: make sure it is the guardrail.
        first = prod_slack.of_type(type_)[0]
        assert first.outputs["arn"] in guardrail_arns
    config, _ = load_policy_config("prod")
    found = evaluate_grpc(seeded(prod_slack, type_, change), config)
    hits = [v for v in found if v.policy == policy and v.level == "mandatory"]
    assert hits and text in hits[0].message, found


# -- settings ---------------------------------------------------------------------------------------


def test_slack_ids_are_validated_and_come_in_pairs() -> None:
    with pytest.raises(SettingsError) as err:
        parse_settings("dev", {"tier": "development", "notifications": {
            "slack_workspace_id": "workspace", "logging_level": "LOUD"}})  # fmt: skip
    assert err.value.errors == [
        "deplight:notifications.slack_workspace_id: expected a Slack workspace id (T followed by "
        "8-20 capitals and digits), found 'workspace'",
        "deplight:notifications.logging_level: expected one of ERROR, INFO, NONE, found 'LOUD'",
        "deplight:notifications.slack_channel_id: expected a value as well when "
        "notifications.slack_workspace_id is set, found None",
    ]


def test_webhook_url_must_be_a_secret_and_is_never_echoed() -> None:
    raw = {"tier": "development", "notifications_webhook_url": WEBHOOK}
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
