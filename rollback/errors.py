"""Deplight's own errors for the release commands, each with an exit code and an actionable message.

The adapter (:mod:`rollback.stack`) turns the Automation API's exceptions into these, so nothing
else in ``rollback/`` needs to know ``pulumi.automation`` exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from components.contract import EXIT_BAD_INPUT, EXIT_FAILED


class DeplightError(Exception):
    """A release command cannot go on; ``str(exc)`` says why and what to do."""

    exit_code = EXIT_FAILED


class BadInputError(DeplightError):
    """An argument or the stack name is wrong: exit 2."""

    exit_code = EXIT_BAD_INPUT


class UnknownStackError(BadInputError):
    """No stack of that name in the backend the environment points at."""


class EngineError(DeplightError):
    """``pulumi`` ran and failed (program error, resource error, policy violation, drift)."""

    def __init__(self, message: str, *, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class AuditError(DeplightError):
    """The audit table could not be written: acting without a record is refused."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds a stack's update lock, as far as the backend tells."""

    who: str
    """``user@host`` on self-managed backends, or what the backend reports."""
    pid: int | None = None
    since: datetime | None = None
    where: str = ""
    """Lock file URL (self-managed backends)."""

    def describe(self) -> str:
        parts = [self.who]
        if self.pid is not None:
            parts.append(f"pid {self.pid}")
        if self.since is not None:
            parts.append(f"since {self.since.isoformat(timespec='seconds')}")
        text = parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")
        return f"{text} [{self.where}]" if self.where else text


class StackLockedError(DeplightError):
    """Another update holds the stack's lock (or did, and died without releasing it)."""

    def __init__(self, stack: str, holders: list[LockHolder], detail: str = "") -> None:
        self.stack = stack
        self.holders = holders
        who = "; ".join(h.describe() for h in holders) or detail or "another update"
        super().__init__(
            f"stack {stack} is locked by {who}. Wait for that update to finish; if its process "
            "is gone (a killed CI job), rerun with --cancel-stale to remove the stale lock"
        )


# `created by alice@laptop (pid 4242) at 2024-05-01T10:00:00Z` (pkg/backend/diy/lock.go)
_LOCK_LINE = re.compile(
    r"^\s*(?P<where>\S+?):\s+created by (?P<who>\S+) \(pid (?P<pid>\d+)\) at (?P<at>\S+)\s*$",
    re.MULTILINE,
)


def parse_lock_error(text: str) -> list[LockHolder]:
    """The lock holders a self-managed backend lists in its "currently locked" error text."""
    holders = []
    for m in _LOCK_LINE.finditer(text):
        holders.append(
            LockHolder(
                who=m["who"], pid=int(m["pid"]), since=_parse_time(m["at"]), where=m["where"]
            )  # fmt: skip
        )
    return holders


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def lock_holder_from_json(where: str, content: dict[str, object]) -> LockHolder:
    """One self-managed backend lock file (``{"pid", "username", "hostname", "timestamp"}``)."""
    pid = content.get("pid")
    stamp = content.get("timestamp")
    return LockHolder(
        who=f"{content.get('username', '?')}@{content.get('hostname', '?')}",
        pid=pid if isinstance(pid, int) else None,
        since=_parse_time(stamp) if isinstance(stamp, str) else None,
        where=where,
    )
