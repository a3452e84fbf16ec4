"""The release log, derived from the stack's update history alone (pure functions).

Every ``pulumi up`` records the config it ran with, so the history *is* the release log: the
known-good releases are the ``image_tag`` values of succeeded updates, newest first. Facts this
module honours (Pulumi CLI 3.x, ``pkg/backend/diy``, ``stack_history.go``, automation ``_stack.py``):

- history comes in pages; without ``page_size`` the CLI returns only its 10 newest entries, so
  :func:`fetch_history` pages until a page comes back empty;
- refresh, destroy and import entries carry config too: only ``kind == "update"`` is a release;
- an update run with ``--target``/``--exclude`` also "succeeds" although it changed only part of
  the stack; the CLI records the flags it was given as ``pulumi.flag.<name>`` in the update's
  ``environment``, which is how :func:`partial_flags` tells them apart (CLIs that predate this
  metadata record nothing, so such old entries cannot be told apart);
- self-managed backends report ``version`` 0 for every update: an update is identified by its start
  time and message (:func:`update_id`), never by ``version``;
- secrets come back as ``[secret]`` (history is read without ``--show-secrets``), and object config
  (``deplight:release``) arrives as a JSON string.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from components.contract import (
    IMAGE_TAG_KEY,
    RELEASE_KEY,
    SCHEMA_VERSION_KEY,
    ReleaseKind,
)
from rollback.port import SummaryLike

SECRET_SENTINEL = "[secret]"

DEPLOY_PREFIX = "deploy:"
ROLLBACK_PREFIX = "rollback:"
_ROLLBACK_MESSAGE = re.compile(r"^rollback:\s*(?P<src>\S+)\s*->\s*(?P<dst>\S+)")
PARTIAL_FLAGS = ("target", "exclude", "target-dependents", "exclude-dependents")
HISTORY_PAGE_SIZE = 100


class UpdateResult(enum.StrEnum):
    """``result`` of an update in Pulumi's own history (``UpdateSummary.result``)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    IN_PROGRESS = "in-progress"


class Kind(enum.StrEnum):
    """What an update was, from Deplight's point of view."""

    DEPLOY = ReleaseKind.DEPLOY.value
    """``deplight deploy`` (message ``deploy: <sha>``)."""
    ROLLBACK = ReleaseKind.ROLLBACK.value
    """``deplight rollback`` (message ``rollback: <from> -> <to> (<reason>)``)."""
    OTHER = "other"
    """Anything else: a plain ``pulumi up``, refresh, destroy, import."""


@dataclass(frozen=True)
class Update:
    """One history entry, normalised."""

    id: str
    """Stable identity: UTC start time and a digest of the message (see :func:`update_id`)."""
    operation: str
    """``update``, ``refresh``, ``destroy``, ``import``, ... as the backend reports it."""
    kind: Kind
    tag: str | None
    schema_version: int | None
    result: str
    """``succeeded``, ``failed``, ``in-progress``, ``not-started`` (cancelled updates fail)."""
    started: datetime
    ended: datetime | None
    message: str
    version: int | None
    partial_flags: tuple[str, ...] = ()
    """``--target``/``--exclude`` style flags the update ran with: then it is not a release."""
    notes: tuple[str, ...] = ()
    """Problems reading the entry (secret or malformed values)."""

    @property
    def duration_s(self) -> float | None:
        return (self.ended - self.started).total_seconds() if self.ended else None

    @property
    def is_release(self) -> bool:
        """An update of the whole stack: what ``image_tag`` history is made of."""
        return self.operation == "update" and not self.partial_flags

    @property
    def known_good(self) -> bool:
        return self.is_release and self.result == UpdateResult.SUCCEEDED and self.tag is not None

    @property
    def recorded_kind(self) -> Kind:
        """What the update itself records: ``deploy``/``rollback`` from its message prefix only,
        else ``other``. Unlike :attr:`kind` it never falls back to ``deplight:release.kind``, which
        is stack config and so stays set for every later ``pulumi up`` run by hand."""
        return classify(self.message, None) if self.operation == "update" else Kind.OTHER

    @property
    def rolled_back_from(self) -> str | None:
        """``<from>`` of a ``rollback: <from> -> <to>`` message."""
        m = _ROLLBACK_MESSAGE.match(self.message)
        return m["src"] if m and self.kind is Kind.ROLLBACK else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "kind": self.kind.value,
            "image_tag": self.tag,
            "schema_version": self.schema_version,
            "result": self.result,
            "started": iso(self.started),
            "ended": iso(self.ended) if self.ended else None,
            "duration_s": self.duration_s,
            "message": self.message,
            "version": self.version,
            "release": self.is_release,
            "partial_flags": list(self.partial_flags),
            "notes": list(self.notes),
        }


def iso(when: datetime) -> str:
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(when: datetime) -> datetime:
    # The SDK parses history times without a zone; the CLI writes them in UTC.
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def update_id(started: datetime, message: str) -> str:
    """``<UTC start, seconds>#<8 hex of sha256(message)>``: unique per stack because updates of a
    stack are serialised by its lock, and stable on backends whose ``version`` is always 0."""
    digest = hashlib.sha256(message.encode()).hexdigest()[:8]
    return f"{iso(started)}#{digest}"


def partial_flags(environment: Mapping[str, str] | None) -> tuple[str, ...]:
    env = environment or {}
    return tuple(f for f in PARTIAL_FLAGS if env.get(f"pulumi.flag.{f}") not in (None, "false"))


def _plain(config: Mapping[str, Any], key: str, notes: list[str]) -> str | None:
    entry = config.get(key)
    if entry is None:
        return None
    value = getattr(entry, "value", entry)
    if getattr(entry, "secret", False) or value == SECRET_SENTINEL:
        notes.append(f"{key} is a secret; it must be plain config")
        return None
    return None if value is None else str(value)


def parse_schema_version(raw: Any) -> int | None:
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int):
        return raw if raw >= 0 else None
    text = str(raw).strip()
    return int(text) if text.isdigit() else None


def parse_release_kind(raw: str | None) -> Kind | None:
    """``deplight:release`` (a JSON string ``{"kind": ...}``) -> its kind."""
    if not raw:
        return None
    try:
        value = json.loads(raw) if raw.lstrip().startswith("{") else {"kind": raw}
    except ValueError:
        return None
    kind = value.get("kind") if isinstance(value, dict) else None
    return Kind(kind) if kind in (Kind.DEPLOY.value, Kind.ROLLBACK.value) else None


def classify(message: str, release_kind: Kind | None) -> Kind:
    """The message prefix decides (it is per update); ``release.kind`` is the fallback (it is
    stack config, so it stays set for plain ``pulumi up`` runs after a release)."""
    text = message.strip().lower()
    if text.startswith(DEPLOY_PREFIX):
        return Kind.DEPLOY
    if text.startswith(ROLLBACK_PREFIX):
        return Kind.ROLLBACK
    return release_kind or Kind.OTHER


def normalise(summary: SummaryLike) -> Update:
    notes: list[str] = []
    config = summary.config or {}
    tag = _plain(config, IMAGE_TAG_KEY, notes)
    schema_raw = _plain(config, SCHEMA_VERSION_KEY, notes)
    schema = parse_schema_version(schema_raw)
    if schema_raw is not None and schema is None:
        notes.append(f"{SCHEMA_VERSION_KEY} is not a non-negative integer: {schema_raw!r}")
    release_kind = parse_release_kind(_plain(config, RELEASE_KEY, notes))
    message = summary.message or ""
    operation = summary.kind
    return Update(
        id=update_id(summary.start_time, message),
        operation=operation,
        kind=classify(message, release_kind) if operation == "update" else Kind.OTHER,
        tag=tag or None,
        schema_version=schema,
        result=summary.result,
        started=_utc(summary.start_time),
        ended=_utc(summary.end_time) if summary.end_time else None,
        message=message,
        version=summary.version,
        partial_flags=partial_flags(summary.environment),
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class ReleaseLog:
    """All history entries, newest first, with the release views derived from them."""

    updates: tuple[Update, ...]
    distrusted: frozenset[str] = frozenset()
    """Updates that succeeded in Pulumi but failed Deplight's verification (from the audit
    trail): ECS did not end up running them, so they are not known-good."""

    def is_good(self, update: Update) -> bool:
        return update.known_good and update.id not in self.distrusted

    @property
    def releases(self) -> tuple[Update, ...]:
        return tuple(u for u in self.updates if u.is_release)

    @property
    def latest(self) -> Update | None:
        """The newest release attempt, whatever its result."""
        return next(iter(self.releases), None)

    @property
    def current(self) -> Update | None:
        """The newest succeeded (and not distrusted) release: the last one known to have
        completed."""
        return next((u for u in self.updates if self.is_good(u)), None)

    @property
    def known_good(self) -> tuple[Update, ...]:
        """The newest good release of each tag, newest first."""
        seen: set[str | None] = set()
        out = []
        for u in self.updates:
            if self.is_good(u) and u.tag not in seen:
                seen.add(u.tag)
                out.append(u)
        return tuple(out)

    def last_success(self, tag: str) -> Update | None:
        return next((u for u in self.updates if self.is_good(u) and u.tag == tag), None)

    def releases_after(self, update: Update) -> tuple[Update, ...]:
        """Release attempts (any result) newer than ``update``."""
        return tuple(u for u in self.releases if u.started > update.started)

    def find(self, update_id_: str) -> Update | None:
        return next((u for u in self.updates if u.id == update_id_), None)


def build_log(summaries: Iterable[SummaryLike],
              distrusted: Iterable[str] = ()) -> ReleaseLog:  # fmt: skip
    updates = [normalise(s) for s in summaries]
    # Newest first; on equal start times the backend's version breaks the tie.
    updates.sort(key=lambda u: (u.started, u.version or 0), reverse=True)
    return ReleaseLog(tuple(updates), frozenset(distrusted))


class HistoryReader(Protocol):
    """Anything with the adapter's ``history(page_size=, page=)``."""

    def history(self, *, page_size: int, page: int) -> Sequence[SummaryLike]: ...


def fetch_history(stack: HistoryReader, page_size: int = HISTORY_PAGE_SIZE) -> list[SummaryLike]:
    """The whole history: pages from 1 until one comes back empty (or adds nothing new, for a
    backend that ignores paging)."""
    entries: list[SummaryLike] = []
    seen: set[str] = set()
    page = 1
    while True:
        batch = stack.history(page_size=page_size, page=page)
        fresh = [s for s in batch if update_id(s.start_time, s.message or "") not in seen]
        if not fresh:
            return entries
        for s in fresh:
            seen.add(update_id(s.start_time, s.message or ""))
        entries.extend(fresh)
        page += 1
