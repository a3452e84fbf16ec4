"""The release/rollback audit trail in DynamoDB: the second copy of the release log.

One item per release attempt, keyed ``stack`` + ``sk = <UTC start>#<release id>``
(:mod:`components.contract`). The *intent* is written before anything changes
(``attribute_not_exists``: a retried put cannot duplicate it), the *outcome* is added after
(conditional on the intent existing and having no outcome yet). A process that dies in between
leaves an item without ``result``: "started, no outcome", which ``deplight releases`` and every
later release command show. Refusals are written as one complete item.
"""

from __future__ import annotations

import getpass
import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from components.contract import AUDIT_HASH_KEY, AUDIT_RANGE_KEY, AUDIT_RELEASE_ID, NO_OUTCOME
from rollback.aws import error_code
from rollback.errors import AuditError

log = logging.getLogger(__name__)
_SER, _DESER = TypeSerializer(), TypeDeserializer()


def who_and_trigger(auto: bool) -> tuple[str, str, str | None]:
    """``(who, trigger, CI run URL)``: the GitHub actor in Actions, else the local user."""
    actor = os.environ.get("GITHUB_ACTOR")
    who = actor or getpass.getuser()
    in_ci = os.environ.get("GITHUB_ACTIONS") == "true" or bool(os.environ.get("CI"))
    trigger = "auto" if auto else ("ci" if in_ci else "manual")
    run = None
    if os.environ.get("GITHUB_RUN_ID") and os.environ.get("GITHUB_REPOSITORY"):
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        run = (
            f"{server}/{os.environ['GITHUB_REPOSITORY']}/actions/runs/{os.environ['GITHUB_RUN_ID']}"
        )
    return who, trigger, run


def now_utc() -> datetime:
    return datetime.now(UTC)


def stamp(when: datetime) -> str:
    """Fixed-width UTC ISO-8601 (sorts lexicographically in time order)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Handle:
    """The key of an intent record."""

    stack: str
    sk: str
    release_id: str


def new_handle(stack: str, operation: str, started: datetime) -> Handle:
    release_id = f"{operation}-{uuid.uuid4().hex[:12]}"
    return Handle(stack, f"{stamp(started)}#{release_id}", release_id)


class Audit(Protocol):
    def begin(self, handle: Handle, record: Mapping[str, Any]) -> None: ...

    def finish(self, handle: Handle, outcome: Mapping[str, Any]) -> None: ...

    def complete(self, handle: Handle, record: Mapping[str, Any]) -> None: ...

    def records(self) -> list[dict[str, Any]]: ...

    def note(self, handle: Handle, extra: Mapping[str, Any]) -> None:
        """Adds attributes to an existing record, whatever its state (notification warnings)."""
        ...


def _clean(record: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB has no empty attribute values worth storing; floats go in as numbers."""
    from decimal import Decimal

    out = {}
    for k, v in record.items():
        if v is None or v == "" or v == [] or v == {}:
            continue
        out[k] = Decimal(str(v)) if isinstance(v, float) else v
    return out


def _plain(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class DynamoAudit:
    """The audit table of one stack."""

    def __init__(self, client: Any, table: str, stack: str) -> None:
        self.client = client
        self.table = table
        self.stack = stack

    def _key(self, handle: Handle) -> dict[str, Any]:
        return {AUDIT_HASH_KEY: {"S": handle.stack}, AUDIT_RANGE_KEY: {"S": handle.sk}}

    def _get(self, handle: Handle) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table, Key=self._key(handle),
                                    ConsistentRead=True).get("Item")  # fmt: skip
        return {k: _plain(_DESER.deserialize(v)) for k, v in item.items()} if item else None

    def _put_new(self, handle: Handle, record: Mapping[str, Any]) -> None:
        item = _clean({**record, AUDIT_HASH_KEY: handle.stack, AUDIT_RANGE_KEY: handle.sk,
                       AUDIT_RELEASE_ID: handle.release_id})  # fmt: skip
        try:
            self.client.put_item(
                TableName=self.table,
                Item={k: _SER.serialize(v) for k, v in item.items()},
                ConditionExpression="attribute_not_exists(#sk)",
                ExpressionAttributeNames={"#sk": AUDIT_RANGE_KEY},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise AuditError(f"audit table {self.table}: cannot write record: {exc}") from exc
            existing = self._get(handle)
            if not existing or existing.get(AUDIT_RELEASE_ID) != handle.release_id:
                raise AuditError(f"audit table {self.table}: key {handle.sk} taken") from exc
            # A retry of our own put: the record is already there exactly once.

    def begin(self, handle: Handle, record: Mapping[str, Any]) -> None:
        self._put_new(handle, record)

    def complete(self, handle: Handle, record: Mapping[str, Any]) -> None:
        self._put_new(handle, record)

    def finish(self, handle: Handle, outcome: Mapping[str, Any]) -> None:
        values = _clean(outcome)
        names = {f"#a{i}": k for i, k in enumerate(values)}
        attrs = {f":v{i}": _SER.serialize(v) for i, v in enumerate(values.values())}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(handle),
                UpdateExpression="SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values))),
                ConditionExpression="attribute_exists(#sk) AND attribute_not_exists(#result)",
                ExpressionAttributeNames={**names, "#sk": AUDIT_RANGE_KEY, "#result": "result"},
                ExpressionAttributeValues=attrs,
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise AuditError(f"audit table {self.table}: cannot write outcome: {exc}") from exc
            existing = self._get(handle)
            if existing and existing.get("result") == outcome.get("result"):
                return  # a retry of our own update
            raise AuditError(
                f"audit table {self.table}: record {handle.sk} is missing or already has an outcome"
            ) from exc

    def note(self, handle: Handle, extra: Mapping[str, Any]) -> None:
        values = _clean(extra)
        if not values:
            return
        names = {f"#n{i}": k for i, k in enumerate(values)}
        attrs = {f":n{i}": _SER.serialize(v) for i, v in enumerate(values.values())}
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(handle),
                UpdateExpression="SET " + ", ".join(f"#n{i} = :n{i}" for i in range(len(values))),
                ConditionExpression="attribute_exists(#sk)",
                ExpressionAttributeNames={**names, "#sk": AUDIT_RANGE_KEY},
                ExpressionAttributeValues=attrs,
            )
        except ClientError as exc:
            raise AuditError(f"audit table {self.table}: cannot annotate record: {exc}") from exc

    def _items(self) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table,
            KeyConditionExpression="#h = :s",
            ExpressionAttributeNames={"#h": AUDIT_HASH_KEY},
            ExpressionAttributeValues={":s": {"S": self.stack}},
            ScanIndexForward=False,
            ConsistentRead=True,
        )
        for page in pages:
            for item in page.get("Items", []):
                yield {k: _plain(_DESER.deserialize(v)) for k, v in item.items()}

    def records(self) -> list[dict[str, Any]]:
        """Every record of the stack, newest first (strongly consistent)."""
        return list(self._items())


class NoAudit:
    """Stands in before the first ``up`` has created the table (bootstrap)."""

    def __init__(self, why: str) -> None:
        self.why = why

    def begin(self, handle: Handle, record: Mapping[str, Any]) -> None:
        log.warning("audit: not recorded (%s)", self.why)

    def finish(self, handle: Handle, outcome: Mapping[str, Any]) -> None:
        pass

    def complete(self, handle: Handle, record: Mapping[str, Any]) -> None:
        log.warning("audit: not recorded (%s)", self.why)

    def records(self) -> list[dict[str, Any]]:
        return []

    def note(self, handle: Handle, extra: Mapping[str, Any]) -> None:
        pass


def unfinished(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Intent records without an outcome: a release command died between the two writes."""
    return [r for r in records if "result" not in r]


def describe(record: Mapping[str, Any]) -> str:
    result = record.get("result", NO_OUTCOME)
    return (
        f"{record.get('started_at', '?')} {record.get('operation', '?')} "
        f"{record.get('from_tag') or '-'} -> {record.get('to_tag') or '-'} by "
        f"{record.get('who', '?')} ({record.get('trigger', '?')}): {result}"
        + (f" [{record['release_id']}]" if record.get("release_id") else "")
    )
