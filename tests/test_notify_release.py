"""Release messages from the release commands themselves: `deplight deploy` announces its start
and its outcome to the alert topic (when a Chatbot channel listens there) and to the stack's Slack
webhook; an endpoint that cannot be reached leaves the release's result unchanged and a warning in
the audit record. AWS is moto's server, Slack a local HTTP server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components import contract as out
from tests.test_notify import FakeSlack
from tests.test_rollback_scenarios import B, C, Rig, two_releases
from tests.test_rollback_support import moto_client

WEBHOOK_KEY = "deplight:notifications_webhook_url"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


def chatbot_queue(rig: Rig, endpoint: str) -> tuple[Any, str]:
    """The alert topic with a Chatbot channel on it; an SQS queue stands in for Chatbot."""
    sns, sqs = moto_client(endpoint, "sns"), moto_client(endpoint, "sqs")
    topic = sns.create_topic(Name="web-dev-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="web-dev-chatbot")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"],
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip
    rig.fake.stack_outputs[out.ALERT_TOPIC_ARN] = topic
    rig.fake.stack_outputs[out.CHATBOT_CONFIGURATION_ARN] = (
        "arn:aws:chatbot::123456789012:chat-configuration/slack-channel/web-dev-alerts"
    )
    return sqs, queue


def received(sqs: Any, queue: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    return [json.loads(m["Body"]) for m in messages]


def test_a_deploy_is_announced_at_start_and_outcome(aws_endpoint: str, tmp_path: Path,
                                                    slack: FakeSlack) -> None:  # fmt: skip
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    sqs, queue = chatbot_queue(rig, aws_endpoint)
    rig.fake.config[WEBHOOK_KEY] = slack.url

    result = rig.deploy(C)

    assert result.status == "succeeded", result.summary
    messages = received(sqs, queue)
    phases = sorted(m["metadata"]["eventType"] for m in messages)
    assert phases == ["deplight.deploy.started", "deplight.deploy.succeeded"]
    assert {m["metadata"]["threadId"] for m in messages} == {result.release_id}
    assert all(m["version"] == "1.0" and m["source"] == "custom" for m in messages)
    titles = sorted(b["text"] for b in slack.bodies)
    assert titles == [f"deploy dev started: {B} -> {C}", f"deploy dev succeeded: {B} -> {C}"]
    [record] = rig.world.audit()
    assert record["result"] == "succeeded" and "notification_warnings" not in record


def test_a_dead_webhook_changes_nothing_but_a_warning_in_the_record(
    aws_endpoint: str, tmp_path: Path
) -> None:
    dead = FakeSlack()
    url = dead.url
    dead.close()  # nothing listens there any more
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    rig.fake.config[WEBHOOK_KEY] = url

    result = rig.deploy(C)

    assert result.status == "succeeded", result.summary
    assert rig.tag == C
    [record] = rig.world.audit()
    assert record["result"] == "succeeded"
    warnings = record["notification_warnings"]
    assert {w.split(":")[1].split()[0] for w in warnings} == {"started", "succeeded"}
    assert all(w.startswith("slack webhook: ") and "unreachable" in w for w in warnings)
    assert url not in json.dumps(record, default=str)  # the webhook URL is a secret


def test_a_refused_deploy_is_announced_as_refused(aws_endpoint: str, tmp_path: Path,
                                                  slack: FakeSlack) -> None:  # fmt: skip
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B, pushed=(B,))
    rig.fake.config[WEBHOOK_KEY] = slack.url

    result = rig.deploy(C)

    assert result.status == "refused"
    assert [b["text"] for b in slack.bodies] == [f"deploy dev refused: {B} -> {C}"]
    assert "is not in ECR" in slack.bodies[0]["blocks"][0]["text"]["text"]


def test_without_chatbot_or_webhook_nothing_is_published(aws_endpoint: str,
                                                         tmp_path: Path) -> None:  # fmt: skip
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    sns, sqs = moto_client(aws_endpoint, "sns"), moto_client(aws_endpoint, "sqs")
    topic = sns.create_topic(Name="web-dev-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="oncall-mail")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
    rig.fake.stack_outputs[out.ALERT_TOPIC_ARN] = topic  # e-mail subscribers, no Chatbot

    assert rig.deploy(C).status == "succeeded"
    assert sqs.receive_message(QueueUrl=queue).get("Messages", []) == []
