"""Release notifications: message content per event kind, and delivery that never decides a
release (a local HTTP server stands in for Slack; moto's server for SNS)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rollback.notify import (
    PHASES,
    Notifier,
    Policy,
    ReleaseEvent,
    SnsSink,
    WebhookSink,
    chatbot_message,
    deliver_one,
    links_for,
    rolled_back_by_codedeploy,
    slack_message,
)
from tests.snapshots import assert_snapshot
from tests.test_rollback_support import moto_client

LINKS = {
    "service": "https://web-prod-1234567890.us-east-1.elb.amazonaws.com",
    "dashboard": "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=web-prod",
    "workflow run": "https://github.com/example-org/example-service/actions/runs/42",
}


def event(phase: str, **extra: Any) -> ReleaseEvent:
    base: dict[str, Any] = {
        "command": "rollback", "stack": "prod", "phase": phase, "from_tag": "4b5c6d7",
        "to_tag": "3f2a9c1", "who": "octocat", "reason": "p99 latency doubled",
        "release_id": "rollback-0123456789ab", "path": "fast", "trigger": "manual",
        "links": LINKS,
    }  # fmt: skip
    if phase != "started":
        base["duration_s"] = 74.4
    if phase in ("failed", "refused"):
        base["error"] = "image-in-ecr: 3f2a9c1 is not in the repository"
    return ReleaseEvent(**{**base, **extra})


@pytest.mark.parametrize("phase", PHASES)
def test_each_event_kind_renders_for_chatbot_and_slack(phase: str) -> None:
    ev = event(phase)
    chatbot = chatbot_message(ev)
    assert (chatbot["version"], chatbot["source"]) == ("1.0", "custom")  # Chatbot's schema
    assert chatbot["content"]["textType"] == "client-markdown"
    assert chatbot["metadata"]["threadId"] == ev.release_id  # start and outcome share a thread
    assert_snapshot(f"notify_{phase}", {"chatbot": chatbot, "slack": slack_message(ev)})


def test_unknown_phase_is_refused() -> None:
    with pytest.raises(ValueError, match="phase: expected one of started"):
        event("done")


def test_codedeploy_rollback_is_recognised_from_the_release_error() -> None:
    error = ("CodeDeploy deployment d-ABCDEF123 ended Stopped: alarm web-prod-5xx. Production "
             "traffic stays on the previous (blue) task set.")  # fmt: skip
    assert rolled_back_by_codedeploy(error) == "d-ABCDEF123"
    assert rolled_back_by_codedeploy("the stack is currently locked by 1 lock(s)") is None
    assert rolled_back_by_codedeploy(None) is None


def test_links_come_from_outputs_and_ci() -> None:
    links = links_for(
        {"service_url": LINKS["service"], "dashboard_url": LINKS["dashboard"]},
        region="us-east-1", repository="example-org/example-service",
        server="https://github.com", run_url=LINKS["workflow run"],
        tags=["4b5c6d7", "3f2a9c1"], deployment_id="d-ABCDEF123",
    )  # fmt: skip
    assert links == {
        **LINKS,
        "CodeDeploy deployment": "https://us-east-1.console.aws.amazon.com/codesuite/codedeploy/"
        "deployments/d-ABCDEF123?region=us-east-1",
        "commit 4b5c6d7": "https://github.com/example-org/example-service/commit/4b5c6d7",
        "commit 3f2a9c1": "https://github.com/example-org/example-service/commit/3f2a9c1",
    }


# -- a local stand-in for Slack ---------------------------------------------------------------------


class FakeSlack:
    """Answers each POST with the next status of ``script`` (then 200); records the bodies."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.bodies: list[dict[str, Any]] = []
        self.gate: threading.Event | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                if fake.gate is not None:
                    fake.gate.wait(10)
                fake.bodies.append(body)
                status = fake.script.pop(0) if fake.script else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"error")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/secret"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


FAST = Policy(attempts=3, timeout_s=2.0, backoff_s=0.01, deadline_s=10.0)


def test_webhook_delivers_the_slack_body(slack: FakeSlack) -> None:
    assert deliver_one(WebhookSink(slack.url), event("succeeded"), FAST) is None
    assert slack.bodies == [slack_message(event("succeeded"))]


def test_a_server_error_is_retried_then_delivered(slack: FakeSlack) -> None:
    slack.script = [500, 503]
    assert deliver_one(WebhookSink(slack.url), event("failed"), FAST) is None
    assert len(slack.bodies) == 3


def test_retries_are_bounded_and_end_in_a_warning(slack: FakeSlack) -> None:
    slack.script = [500, 500, 500, 500]
    warning = deliver_one(WebhookSink(slack.url), event("failed"), FAST)
    assert len(slack.bodies) == 3
    assert warning == "slack webhook: failed not delivered after 3 attempt(s): HTTP 500"
    assert "secret" not in warning  # the webhook URL is a secret


def test_a_client_error_is_not_retried(slack: FakeSlack) -> None:
    slack.script = [404]
    warning = deliver_one(WebhookSink(slack.url), event("started"), FAST)
    assert len(slack.bodies) == 1
    assert warning == "slack webhook: started not delivered: HTTP 404 (not retried)"


def test_a_dead_endpoint_gives_a_warning_not_an_error() -> None:
    dead = FakeSlack()
    url = dead.url
    dead.close()  # nothing listens on the port any more
    warning = deliver_one(WebhookSink(url), event("succeeded"),
                          Policy(attempts=2, timeout_s=1.0, backoff_s=0.01))  # fmt: skip
    assert warning is not None
    assert warning.startswith(
        "slack webhook: succeeded not delivered after 2 attempt(s): unreachable"
    )


def test_a_slow_endpoint_is_cut_off_by_the_timeout(slack: FakeSlack) -> None:
    slack.gate = threading.Event()  # the server holds every answer until the test ends
    warning = deliver_one(WebhookSink(slack.url), event("succeeded"),
                          Policy(attempts=1, timeout_s=0.2, deadline_s=1.0))  # fmt: skip
    assert (
        warning
        == "slack webhook: succeeded not delivered after 1 attempt(s): unreachable (TimeoutError)"
    )


def test_the_start_event_does_not_hold_up_the_release(slack: FakeSlack) -> None:
    slack.gate = threading.Event()
    notifier = Notifier([WebhookSink(slack.url)], FAST)
    notifier.send_in_background(event("started"))
    # Returned while the server still holds the request: the release goes on meanwhile.
    assert slack.bodies == []
    slack.gate.set()
    assert notifier.drain() == []
    assert slack.bodies == [slack_message(event("started"))]


def test_a_broken_sink_never_raises() -> None:
    class Broken:
        name = "broken"

        def send(self, ev: ReleaseEvent, timeout_s: float) -> None:
            raise RuntimeError("bug")

    notifier = Notifier([Broken()], FAST)
    notifier.send(event("succeeded"))
    assert notifier.drain() == ["broken: succeeded not delivered: RuntimeError: bug"]


def test_webhook_url_must_be_https() -> None:
    with pytest.raises(ValueError, match="notifications_webhook_url: expected an https:// URL"):
        WebhookSink("ftp://hooks.example.com/x")


# -- SNS (moto) -------------------------------------------------------------------------------------


def test_sns_publishes_a_chatbot_custom_notification(aws_endpoint: str) -> None:
    sns, sqs = moto_client(aws_endpoint, "sns"), moto_client(aws_endpoint, "sqs")
    topic = sns.create_topic(Name="web-prod-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="chatbot-stand-in")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"],
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip

    assert deliver_one(SnsSink(sns, topic), event("rolled-back"), FAST) is None
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [chatbot_message(event("rolled-back"))]


def test_sns_missing_topic_is_a_warning(aws_endpoint: str) -> None:
    sns = moto_client(aws_endpoint, "sns")
    sink = SnsSink(sns, "arn:aws:sns:us-east-1:123456789012:nosuch")
    warning = deliver_one(sink, event("succeeded"), FAST)
    assert warning is not None and warning.startswith("sns nosuch: succeeded not delivered")


def test_a_deploy_codedeploy_ended_is_announced_as_rolled_back_with_its_deployment() -> None:
    from rollback.notify import LinkContext, event_from_record

    context = LinkContext(outputs={"service_url": LINKS["service"]}, region="us-east-1",
                          repository="example-org/example-service", server="https://github.com",
                          run_url=None)  # fmt: skip
    record = {"operation": "deploy", "from_tag": "3f2a9c1", "to_tag": "4b5c6d7", "who": "ci",
              "result": "failed", "duration_s": 300.0,
              "error": "CodeDeploy deployment d-ABCDEF123 ended Stopped: alarm web-prod-5xx-rate"}  # fmt: skip
    ev = event_from_record("prod", "deploy-0123456789ab", record, context)
    assert ev.phase == "rolled-back"
    assert ev.links["CodeDeploy deployment"].endswith("/deployments/d-ABCDEF123?region=us-east-1")
    assert (
        ev.links["commit 4b5c6d7"]
        == "https://github.com/example-org/example-service/commit/4b5c6d7"
    )
    started = event_from_record("prod", "deploy-0123456789ab",
                                {k: v for k, v in record.items() if k not in ("result", "error")},
                                context)  # fmt: skip
    assert started.phase == "started" and "CodeDeploy deployment" not in started.links
