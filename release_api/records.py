"""The audit table as the API reads and writes it: the same items as ``rollback/audit.py``.

- The release log is the stack's partition (``stack = <stack>``), newest first by ``sk``. The
  release commands write one item per attempt (``operation`` deploy or rollback); this API adds
  one item per rollback request (``operation`` rollback-request, ``result`` requested, then
  dispatched or failed). Every item the API writes has a ``result``, so the CLI never takes one
  for a command that died ("started, no outcome").
- Idempotency lives in a separate partition, ``<stack>#rollback-requests``, keyed by the client's
  request id: a guard item written in the *same transaction* as the request record, on condition
  that it does not exist yet. A second request with the same id cancels the transaction, so it
  can never dispatch twice, and the release log never holds a guard item.
- The rollback the workflow runs carries the request id (``deplight rollback --request-id``), so
  a request is followed to its end by the rollback record with the same ``request_id``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from release_api.contract import (
    AUDIT_HASH_KEY,
    AUDIT_RANGE_KEY,
    NO_OUTCOME,
    RELEASE_OPERATIONS,
    REQUEST_OPERATION,
)

_SER, _DESER = TypeSerializer(), TypeDeserializer()


def requests_partition(stack: str) -> str:
    return f"{stack}#rollback-requests"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _item(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(_DESER.deserialize(v)) for k, v in raw.items()}


def _raw(item: Mapping[str, Any]) -> dict[str, Any]:
    clean = {k: v for k, v in item.items() if v not in (None, "", [], {})}
    return {k: _SER.serialize(Decimal(str(v)) if isinstance(v, float) else v)
            for k, v in clean.items()}  # fmt: skip


class BadCursorError(ValueError):
    """A ``cursor`` query parameter that this API did not hand out for this stack."""


def encode_cursor(key: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(_item(key), sort_keys=True).encode()).decode()


def decode_cursor(cursor: str, stack: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error):
        raise BadCursorError("cursor: not a cursor this API returned (not base64 JSON)") from None
    if (
        not isinstance(key, dict)
        or set(key) != {AUDIT_HASH_KEY, AUDIT_RANGE_KEY}
        or key.get(AUDIT_HASH_KEY) != stack
        or not isinstance(key.get(AUDIT_RANGE_KEY), str)
    ):
        raise BadCursorError(f"cursor: not a cursor of stack {stack}'s release log")
    return {k: _SER.serialize(v) for k, v in key.items()}


def engine_ran(record: Mapping[str, Any]) -> bool:
    """A failed release whose ``up`` ran: the stack config stayed at its target tag."""
    return bool(record.get("update_id")) or str(record.get("config", "")).startswith("left at")


def holds_config(record: Mapping[str, Any]) -> bool:
    """Whether the stack config most likely holds this release's tag after it: it succeeded, it
    failed after the engine ran (config left at the target), or it has no outcome yet."""
    result = record.get("result")
    return result == "succeeded" or result is None or (result == "failed" and engine_ran(record))


@dataclass
class ReleaseView:
    """What the audit table says about the releases: the current one and the known-good ones."""

    current: dict[str, Any] | None
    known_good: list[str]
    default_target: str | None
    """What ``deplight rollback`` without ``--to`` would choose: the newest known-good tag that is
    not current and that no later rollback moved away from."""


def release_view(records: Iterator[dict[str, Any]], *, want: str | None = None,
                 complete: bool = False) -> ReleaseView:  # fmt: skip
    """Reads release records newest first. Stops as soon as the current release and the default
    target are known (and whether ``want`` is known-good), unless ``complete`` asks for every
    known-good tag."""
    current: dict[str, Any] | None = None
    good: list[str] = []
    abandoned: list[str] = []
    target: str | None = None
    for r in records:
        if r.get("operation") not in RELEASE_OPERATIONS:
            continue
        tag = r.get("to_tag")
        if current is None and tag and holds_config(r):
            current = r
        if r.get("result") != "succeeded" or not tag:
            continue
        if tag not in good:
            good.append(tag)
        current_tag = current.get("to_tag") if current else None
        if target is None and tag != current_tag and tag not in abandoned:
            target = tag
        if (
            r.get("operation") == "rollback"
            and r.get("from_tag")
            and r["from_tag"] not in (abandoned)
        ):
            abandoned.append(r["from_tag"])
        if (
            not complete
            and current is not None
            and target is not None
            and (want is None or want in good)
        ):
            break
    return ReleaseView(current, good, target)


class AuditTable:
    """One stack's records in the audit table."""

    def __init__(self, client: Any, table: str, stack: str) -> None:
        self.client, self.table, self.stack = client, table, stack

    # -- reading ----------------------------------------------------------------------------------

    def page(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the release log, newest first, and the cursor of the next page."""
        kwargs: dict[str, Any] = {}
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(cursor, self.stack)
        resp = self.client.query(
            TableName=self.table, KeyConditionExpression="#h = :s",
            ExpressionAttributeNames={"#h": AUDIT_HASH_KEY},
            ExpressionAttributeValues={":s": {"S": self.stack}},
            ScanIndexForward=False, Limit=limit, ConsistentRead=True, **kwargs,
        )  # fmt: skip
        items = [_item(i) for i in resp.get("Items", [])]
        last = resp.get("LastEvaluatedKey")
        return items, encode_cursor(last) if last else None

    def releases(self) -> Iterator[dict[str, Any]]:
        """Every deploy and rollback record of the stack, newest first, page by page."""
        kwargs: dict[str, Any] = {}
        while True:
            resp = self.client.query(
                TableName=self.table, KeyConditionExpression="#h = :s",
                FilterExpression="#op IN (:deploy, :rollback)",
                ExpressionAttributeNames={"#h": AUDIT_HASH_KEY, "#op": "operation"},
                ExpressionAttributeValues={":s": {"S": self.stack}, ":deploy": {"S": "deploy"},
                                           ":rollback": {"S": "rollback"}},
                ScanIndexForward=False, ConsistentRead=True, **kwargs,
            )  # fmt: skip
            for raw in resp.get("Items", []):
                yield _item(raw)
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def rollbacks_for_requests(self, since_sk: str) -> dict[str, dict[str, Any]]:
        """Rollback records written since ``since_sk`` that carry a request id: request id ->
        the newest such record (the workflow may have been re-run)."""
        found: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {}
        while True:
            resp = self.client.query(
                TableName=self.table, KeyConditionExpression="#h = :s AND #sk >= :since",
                FilterExpression="#op = :rollback AND attribute_exists(request_id)",
                ExpressionAttributeNames={"#h": AUDIT_HASH_KEY, "#sk": AUDIT_RANGE_KEY,
                                          "#op": "operation"},
                ExpressionAttributeValues={":s": {"S": self.stack}, ":since": {"S": since_sk},
                                           ":rollback": {"S": "rollback"}},
                ScanIndexForward=False, ConsistentRead=True, **kwargs,
            )  # fmt: skip
            for raw in resp.get("Items", []):
                item = _item(raw)
                found.setdefault(str(item["request_id"]), item)
            if "LastEvaluatedKey" not in resp:
                return found
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def guard(self, request_id: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table, ConsistentRead=True, Key={
            AUDIT_HASH_KEY: {"S": requests_partition(self.stack)},
            AUDIT_RANGE_KEY: {"S": request_id},
        }).get("Item")  # fmt: skip
        return _item(item) if item else None

    # -- writing ----------------------------------------------------------------------------------

    def create_request(self, request_id: str, record: Mapping[str, Any],
                       guard: Mapping[str, Any]) -> bool:  # fmt: skip
        """Writes the guard and the *requested* record in one transaction. ``False`` when the
        request id is taken (nothing written)."""
        guard_item = {**guard, AUDIT_HASH_KEY: requests_partition(self.stack),
                      AUDIT_RANGE_KEY: request_id}  # fmt: skip
        record_item = {**record, AUDIT_HASH_KEY: self.stack}
        absent = {"ConditionExpression": "attribute_not_exists(#sk)",
                  "ExpressionAttributeNames": {"#sk": AUDIT_RANGE_KEY}}  # fmt: skip
        try:
            self.client.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "Item": _raw(guard_item), **absent}},
                {"Put": {"TableName": self.table, "Item": _raw(record_item), **absent}},
            ])  # fmt: skip
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException" and (
                reasons and reasons[0].get("Code") == "ConditionalCheckFailed"
            ):
                return False
            raise
        return True

    def settle(self, request_id: str, record_sk: str, outcome: Mapping[str, Any]) -> None:
        """Moves the request record and its guard from *requested* to ``outcome['result']``
        (dispatched or failed), both or neither, and only from *requested*."""
        values = {k: v for k, v in outcome.items() if v not in (None, "")}
        names = {f"#a{i}": k for i, k in enumerate(values)}
        attrs = {f":v{i}": _raw({"v": v})["v"] for i, v in enumerate(values.values())}
        update = "SET " + ", ".join(f"#a{i} = :v{i}" for i in range(len(values)))
        common = {
            "UpdateExpression": update,
            "ConditionExpression": "#result = :requested",
            "ExpressionAttributeNames": {**names, "#result": "result"},
            "ExpressionAttributeValues": {**attrs, ":requested": {"S": "requested"}},
        }
        self.client.transact_write_items(TransactItems=[
            {"Update": {"TableName": self.table, "Key": {
                AUDIT_HASH_KEY: {"S": self.stack}, AUDIT_RANGE_KEY: {"S": record_sk}}, **common}},
            {"Update": {"TableName": self.table, "Key": {
                AUDIT_HASH_KEY: {"S": requests_partition(self.stack)},
                AUDIT_RANGE_KEY: {"S": request_id}}, **common}},
        ])  # fmt: skip


def request_status(record: Mapping[str, Any], rollback: Mapping[str, Any] | None) -> str:
    """Where a rollback request is: requested, dispatched or failed (this API), then running,
    succeeded, failed or refused (the rollback the workflow ran)."""
    if rollback is None:
        return str(record.get("result", "requested"))
    return str(rollback.get("result") or "running")


def public(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as the API shows it: as stored, without the partition key, with the outcome
    spelled out when a release command died before writing one."""
    out = {k: v for k, v in record.items() if k != AUDIT_HASH_KEY}
    if record.get("operation") != REQUEST_OPERATION:
        out.setdefault("result", NO_OUTCOME)
    return out
