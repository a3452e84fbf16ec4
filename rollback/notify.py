"""Release notifications: every deploy and rollback says so where the team looks.

A release command publishes a :class:`ReleaseEvent` when it starts and when it ends (succeeded,
failed, refused, or rolled back by CodeDeploy). Each event goes to

- the stack's alert topic as an AWS Chatbot *custom notification* (``version 1.0``, ``source
  custom``), so it lands in the Slack channel that the stack's Chatbot configuration subscribes to
  that topic (``deplight:notifications``), next to the alarms; and
- optionally a Slack incoming webhook, whose URL is the stack secret
  ``deplight:notifications_webhook_url`` (set with ``pulumi config set --secret``).

Delivery never decides a release. Each sink gets at most ``attempts`` tries, each bounded by
``timeout_s``, with a short backoff, and gives up at ``deadline_s`` after it started; what could
not be delivered becomes a warning in the command's output and in the audit record. The start
event is sent on a background thread, so a dead endpoint does not delay the release itself.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from components.contract import Operation, Outcome

log = logging.getLogger("deplight.notify")
T = TypeVar("T")

PHASES = ("started", *Outcome, "rolled-back")
"""``rolled-back``: the release failed and CodeDeploy kept or put traffic back on blue."""

_ICON = {
    "started": ":hourglass_flowing_sand:",
    "succeeded": ":white_check_mark:",
    "failed": ":x:",
    "refused": ":no_entry:",
    "rolled-back": ":leftwards_arrow_with_hook:",
}
# The release resource's error when CodeDeploy stops, fails or rolls back a deployment
# (components/release_provider.py): production traffic stayed on, or went back to, blue.
_CODEDEPLOY_ENDED = re.compile(r"CodeDeploy deployment (d-[A-Z0-9]+) ended")


def rolled_back_by_codedeploy(error: str | None) -> str | None:
    """The deployment id when a failed release's error says CodeDeploy ended the deployment, so
    traffic is on the blue tasks; else ``None``."""
    match = _CODEDEPLOY_ENDED.search(error or "")
    return match.group(1) if match else None


@dataclass(frozen=True, kw_only=True)
class ReleaseEvent:
    """One notification: what happened to which release, by whom, why, and where to look."""

    command: str
    """``deploy`` or ``rollback``."""
    stack: str
    phase: str
    """One of :data:`PHASES`."""
    from_tag: str | None
    to_tag: str | None
    who: str
    reason: str | None = None
    release_id: str | None = None
    path: str | None = None
    """Rollback path (``fast``/``slow``) or ``deploy``."""
    trigger: str | None = None
    """``manual``, ``ci`` or ``auto``."""
    duration_s: float | None = None
    error: str | None = None
    links: Mapping[str, str] = field(default_factory=dict)
    """Label -> URL: service, dashboard, release page, workflow run, deployment, commits."""

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise ValueError(f"phase: expected one of {', '.join(PHASES)}, found {self.phase!r}")

    @property
    def title(self) -> str:
        change = f"{self.from_tag or '(none)'} -> {self.to_tag or '(none)'}"
        return f"{self.command} {self.stack} {self.phase}: {change}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command, "stack": self.stack, "phase": self.phase,
            "from": self.from_tag, "to": self.to_tag, "who": self.who, "reason": self.reason,
            "release_id": self.release_id, "path": self.path, "trigger": self.trigger,
            "duration_s": self.duration_s, "error": self.error, "links": dict(self.links),
        }  # fmt: skip


def _lines(event: ReleaseEvent) -> list[str]:
    lines = [f"*Stack:* `{event.stack}`   *By:* {event.who}" + (
        f" ({event.trigger})" if event.trigger else "")]  # fmt: skip
    lines.append(f"*Release:* `{event.from_tag or '(none)'}` -> `{event.to_tag or '(none)'}`"
                 + (f" ({event.path} path)" if event.path and event.command == Operation.ROLLBACK else ""))  # fmt: skip
    if event.reason:
        lines.append(f"*Why:* {event.reason}")
    if event.duration_s is not None:
        lines.append(f"*Took:* {event.duration_s:.0f} s")
    if event.error:
        lines.append(f"*Error:* {event.error}")
    return lines


def _link_lines(links: Mapping[str, str]) -> list[str]:
    return [f"<{url}|{label}>" for label, url in links.items()]


def chatbot_message(event: ReleaseEvent) -> dict[str, Any]:
    """The AWS Chatbot custom notification for the alert topic (Chatbot's event schema:
    ``version`` 1.0, ``source`` custom, ``content`` with client-markdown text). Start and outcome
    of one release share a ``threadId``, so Slack threads them."""
    return {
        "version": "1.0",
        "source": "custom",
        "id": f"{event.release_id or event.stack}:{event.phase}",
        "content": {
            "textType": "client-markdown",
            "title": f"{_ICON[event.phase]} {event.title}",
            "description": "\n".join(_lines(event)),
            "nextSteps": _link_lines(event.links),
            "keywords": [event.stack, event.command, event.phase],
        },
        "metadata": {
            "threadId": event.release_id or f"{event.command}-{event.stack}",
            "summary": event.title,
            "eventType": f"deplight.{event.command}.{event.phase}",
            "relatedResources": [u for u in (event.to_tag, event.from_tag) if u],
            "additionalContext": {
                k: str(v)
                for k, v in event.to_dict().items()
                if v not in (None, "", {}) and k != "links"
            },  # fmt: skip
        },
    }


def slack_message(event: ReleaseEvent) -> dict[str, Any]:
    """The body for a Slack incoming webhook: a plain ``text`` fallback and the same content as
    blocks."""
    text = "\n".join([f"{_ICON[event.phase]} *{event.title}*", *_lines(event)])
    links = " | ".join(_link_lines(event.links))
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
    return {"text": f"{event.title}", "blocks": blocks}


class DeliveryError(Exception):
    """One attempt failed; ``retry`` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


class Sink(Protocol):
    name: str

    def send(self, event: ReleaseEvent, timeout_s: float) -> None:
        """Delivers once or raises :class:`DeliveryError`."""


class SnsSink:
    """The alert topic, as a Chatbot custom notification."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client, self.topic_arn = client, topic_arn
        self.name = f"sns {topic_arn.rsplit(':', 1)[-1]}"

    def send(self, event: ReleaseEvent, timeout_s: float) -> None:
        try:
            self.client.publish(TopicArn=self.topic_arn,
                                Message=json.dumps(chatbot_message(event)))  # fmt: skip
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            retry = code in ("Throttling", "ThrottlingException", "InternalError") or status >= 500
            raise DeliveryError(f"{code or 'error'}: {exc}", retry=retry) from exc
        except BotoCoreError as exc:
            raise DeliveryError(str(exc), retry=True) from exc


class WebhookSink:
    """A Slack incoming webhook. The URL is a secret: it never appears in a message."""

    name = "slack webhook"

    def __init__(self, url: str) -> None:
        if not url.startswith("https://") and not url.startswith("http://127.0.0.1"):
            # http only for a local stand-in in tests; a real webhook is always https.
            raise ValueError("deplight:notifications_webhook_url: expected an https:// URL")
        self.url = url

    def send(self, event: ReleaseEvent, timeout_s: float) -> None:
        body = json.dumps(slack_message(event)).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise DeliveryError(
                f"HTTP {exc.code}", retry=exc.code == 429 or exc.code >= 500
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"unreachable ({type(reason).__name__})", retry=True) from None


@dataclass(frozen=True)
class Policy:
    """How hard to try one sink: the bounds that keep a release from waiting on a chat tool."""

    attempts: int = 3
    timeout_s: float = 3.0
    backoff_s: float = 0.5
    deadline_s: float = 10.0


def with_retries(attempt: Callable[[float], T], policy: Policy,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> T:  # fmt: skip
    """Calls ``attempt(timeout_s)`` until it returns, at most ``policy.attempts`` times and not
    past ``policy.deadline_s``; re-raises the last :class:`DeliveryError`, with the attempt count
    in its message, when every try failed or the error says a retry cannot help."""
    deadline = clock() + policy.deadline_s
    last = DeliveryError("not attempted: no time left", retry=False)
    tried = 0
    for tried in range(1, policy.attempts + 1):
        remaining = deadline - clock()
        if remaining <= 0:
            tried -= 1
            break
        try:
            return attempt(min(policy.timeout_s, remaining))
        except DeliveryError as exc:
            last = exc
            log.debug("attempt %d failed: %s", tried, exc)
            if not exc.retry:
                raise DeliveryError(f"{exc} (not retried)", retry=False) from None
        if tried < policy.attempts:
            sleep(min(policy.backoff_s * 2 ** (tried - 1), max(0.0, deadline - clock())))
    raise DeliveryError(f"after {tried} attempt(s): {last}", retry=False)


def deliver_one(sink: Sink, event: ReleaseEvent, policy: Policy,
                sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic) -> str | None:  # fmt: skip
    """Delivers with bounded retries; ``None`` when delivered, else the warning to record."""
    try:
        with_retries(lambda timeout_s: sink.send(event, timeout_s), policy, sleep, clock)
    except DeliveryError as exc:
        text = str(exc)
        how = " " if text.startswith("after ") else ": "
        return f"{sink.name}: {event.phase} not delivered{how}{text}"
    return None


class Notifier:
    """Sends events to every sink; collects what failed as warnings, never raises."""

    def __init__(self, sinks: Sequence[Sink], policy: Policy | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        self.sinks = list(sinks)
        self.policy = policy or Policy()
        self.sleep = sleep
        self.warnings: list[str] = []
        self._lock = threading.Lock()
        self._pending: list[threading.Thread] = []

    def _send(self, event: ReleaseEvent) -> None:
        for sink in self.sinks:
            try:
                warning = deliver_one(sink, event, self.policy, self.sleep)
            except Exception as exc:  # a notifier bug must not fail a release either
                warning = f"{sink.name}: {event.phase} not delivered: {type(exc).__name__}: {exc}"
            if warning:
                log.warning("notify: %s", warning)
                with self._lock:
                    self.warnings.append(warning)

    def send(self, event: ReleaseEvent) -> None:
        """Delivers now (bounded by the policy); for outcomes."""
        self._send(event)

    def send_in_background(self, event: ReleaseEvent) -> None:
        """Delivers on a daemon thread; for the start event, so the release does not wait."""
        if not self.sinks:
            return
        thread = threading.Thread(target=self._send, args=(event,), daemon=True,
                                  name=f"notify-{event.phase}")  # fmt: skip
        self._pending.append(thread)
        thread.start()

    def drain(self) -> list[str]:
        """Waits (bounded) for background deliveries; returns every warning so far."""
        bound = (self.policy.deadline_s + self.policy.timeout_s) * max(1, len(self.sinks))
        for thread in self._pending:
            thread.join(timeout=bound)
            if thread.is_alive():
                with self._lock:
                    self.warnings.append(f"notify: {thread.name} still running after {bound:.0f} s")
        self._pending.clear()
        with self._lock:
            return list(self.warnings)


def links_for(outputs: Mapping[str, Any], *, region: str | None, repository: str | None,
              server: str, run_url: str | None, tags: Sequence[str | None],
              deployment_id: str | None = None) -> dict[str, str]:  # fmt: skip
    """The links a release message carries, from the stack outputs and the CI environment."""
    from components.contract import DASHBOARD_URL, SERVICE_URL

    links: dict[str, str] = {}
    if outputs.get(SERVICE_URL):
        links["service"] = str(outputs[SERVICE_URL])
    if outputs.get(DASHBOARD_URL):
        links["dashboard"] = str(outputs[DASHBOARD_URL])
    if run_url:
        links["workflow run"] = run_url
    if deployment_id and deployment_id.startswith("d-") and region:
        links["CodeDeploy deployment"] = (
            f"https://{region}.console.aws.amazon.com/codesuite/codedeploy/deployments/"
            f"{deployment_id}?region={region}"
        )
    if repository:
        for tag in tags:
            if tag:
                links[f"commit {tag[:7]}"] = f"{server}/{repository}/commit/{tag}"
    return links


# -- the release commands' hook -------------------------------------------------------------------


@dataclass(frozen=True)
class LinkContext:
    """Where the links of a release message come from: the stack outputs and the CI run."""

    outputs: Mapping[str, Any]
    region: str | None
    repository: str | None
    server: str
    run_url: str | None


def event_from_record(handle_stack: str, release_id: str, record: Mapping[str, Any],
                      context: LinkContext) -> ReleaseEvent:  # fmt: skip
    """The event an audit record announces: its intent (no ``result``) as ``started``, its
    outcome as ``succeeded``/``failed``/``refused``, and a failure whose error says CodeDeploy
    ended the deployment as ``rolled-back``."""
    result = record.get("result")
    error = str(record.get("error") or "") or None
    deployment = rolled_back_by_codedeploy(error)
    if result is None:
        phase = "started"
    elif result == Outcome.FAILED and deployment:
        phase = "rolled-back"
    else:
        phase = str(result) if result in PHASES else Outcome.FAILED.value
    from_tag, to_tag = record.get("from_tag"), record.get("to_tag")
    links = links_for(context.outputs, region=context.region, repository=context.repository,
                      server=context.server, run_url=context.run_url, tags=[from_tag, to_tag],
                      deployment_id=deployment)  # fmt: skip
    duration = record.get("duration_s")
    return ReleaseEvent(
        command=str(record.get("operation", "release")), stack=handle_stack, phase=phase,
        from_tag=from_tag, to_tag=to_tag, who=str(record.get("who", "?")),
        reason=record.get("reason"), release_id=release_id, path=record.get("path"),
        trigger=record.get("trigger"), duration_s=float(duration) if duration is not None else None,
        error=error, links=links,
    )  # fmt: skip


class NotifyingAudit:
    """Wraps the release commands' :class:`~rollback.audit.Audit`: the record is written first,
    then announced, so a notification never stands in for, or delays, the audit trail. The
    intent is announced on a background thread; the outcome is sent within the
    :class:`Policy` bounds, and whatever could not be delivered is added to the record as
    ``notification_warnings``."""

    def __init__(self, inner: Any, notifier: Notifier, context: LinkContext) -> None:
        self.inner, self.notifier, self.context = inner, notifier, context
        self._intents: dict[str, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:  # records(), why, ... of the wrapped audit
        return getattr(self.inner, name)

    def begin(self, handle: Any, record: Mapping[str, Any]) -> None:
        self.inner.begin(handle, record)
        self._intents[handle.sk] = dict(record)
        self.notifier.send_in_background(
            event_from_record(handle.stack, handle.release_id, record, self.context)
        )

    def _announce(self, handle: Any, record: Mapping[str, Any]) -> None:
        self.notifier.send(event_from_record(handle.stack, handle.release_id, record, self.context))
        warnings = self.notifier.drain()
        if warnings:
            try:
                self.inner.note(handle, {"notification_warnings": warnings})
            except Exception as exc:  # the outcome itself is already recorded
                log.warning("notify: warnings not added to the audit record: %s", exc)

    def finish(self, handle: Any, outcome: Mapping[str, Any]) -> None:
        self.inner.finish(handle, outcome)
        self._announce(handle, {**self._intents.pop(handle.sk, {}), **outcome})

    def complete(self, handle: Any, record: Mapping[str, Any]) -> None:
        self.inner.complete(handle, record)
        self._announce(handle, record)


def sinks_for(outputs: Mapping[str, Any], aws: Any, webhook_url: str | None) -> list[Sink]:
    """The alert topic when the stack subscribes a Chatbot channel to it (else the topic's
    e-mail subscribers would get raw JSON), and the Slack webhook when the stack has one."""
    from components.contract import ALERT_TOPIC_ARN, CHATBOT_CONFIGURATION_ARN

    sinks: list[Sink] = []
    if outputs.get(CHATBOT_CONFIGURATION_ARN) and outputs.get(ALERT_TOPIC_ARN):
        sinks.append(SnsSink(aws.client("sns"), str(outputs[ALERT_TOPIC_ARN])))
    if webhook_url:
        sinks.append(WebhookSink(webhook_url))
    return sinks
