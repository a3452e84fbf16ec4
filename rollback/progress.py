"""Live progress of an engine run on stderr, summarised from Automation API engine events.

One line per resource step that changes something (operation, type, name, and when it is done or
failed), policy violations, and the diagnostic events that are not ephemeral (messages the
program and the providers send to the engine: warnings, errors, infos). The release resource
logs its CodeDeploy progress with Python's ``logging`` in the provider process, which is not a
diagnostic event, so those lines do not arrive here; its failure does, as the resource's error.
Events are read by attribute (``pulumi.automation.EngineEvent``), so this module does not import
the SDK.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("deplight.progress")

QUIET_OPS = {"same", "read", "refresh"}


def _op(metadata: Any) -> str:
    op = getattr(metadata, "op", "")
    return str(getattr(op, "value", op))


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1] if urn else "?"


class Progress:
    """An ``on_event`` callback. Also remembers what it saw: whether the engine started (a
    prelude arrived) and which resources a preview would change."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.engine_started = False
        self.changes: list[str] = []
        self.failures: list[str] = []

    def __call__(self, event: Any) -> None:
        try:
            self._handle(event)
        except Exception:  # a progress line must never break the update
            log.debug("unreadable engine event %r", event, exc_info=True)

    def _handle(self, event: Any) -> None:
        if getattr(event, "prelude_event", None) is not None:
            self.engine_started = True
            log.info("%s: engine started", self.label)
        elif (pre := getattr(event, "resource_pre_event", None)) is not None:
            md = pre.metadata
            if _op(md) not in QUIET_OPS:
                line = f"{_op(md)} {md.type} {_name(md.urn)}"
                self.changes.append(line)
                log.info("%s: %s ...", self.label, line)
        elif (out := getattr(event, "res_outputs_event", None)) is not None:
            md = out.metadata
            if _op(md) not in QUIET_OPS:
                log.info("%s: %s %s %s done", self.label, _op(md), md.type, _name(md.urn))
        elif (failed := getattr(event, "res_op_failed_event", None)) is not None:
            md = failed.metadata
            line = f"{_op(md)} {md.type} {_name(md.urn)} FAILED"
            self.failures.append(line)
            log.error("%s: %s", self.label, line)
        elif (diag := getattr(event, "diagnostic_event", None)) is not None:
            text = (diag.message or "").strip()
            if text and not getattr(diag, "ephemeral", False):
                severity = getattr(diag, "severity", "info")
                where = f" {_name(diag.urn)}" if getattr(diag, "urn", None) else ""
                level = {"error": logging.ERROR, "warning": logging.WARNING}.get(
                    severity, logging.INFO
                )
                log.log(level, "%s:%s %s", self.label, where, text)
        elif (policy := getattr(event, "policy_event", None)) is not None:
            log.warning(
                "%s: policy %s (%s) %s: %s", self.label, policy.policy_name,
                policy.enforcement_level, _name(policy.resource_urn or ""), policy.message.strip(),
            )  # fmt: skip
        elif (summary := getattr(event, "summary_event", None)) is not None:
            changes = {
                str(getattr(k, "value", k)): v
                for k, v in (summary.resource_changes or {}).items()
                if str(getattr(k, "value", k)) != "same"
            }
            text = ", ".join(f"{k} {v}" for k, v in sorted(changes.items())) or "none"
            log.info("%s: done in %ss, changes: %s", self.label, summary.duration_seconds, text)
