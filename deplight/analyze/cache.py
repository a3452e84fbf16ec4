"""Where finished analyses are kept: a local directory, or the stack's DynamoDB table.

Two kinds of entries, both JSON: ``index-<hash of the listing>`` holds the files the last analysis
of that listing read; ``entry-<hash of the listing and those files' contents>`` holds the report.
A lookup re-hashes the files the index names; any change gives a new key, so a stale report is
never returned.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, NoReturn, Protocol

from components.contract import AUDIT_HASH_KEY, AUDIT_RANGE_KEY

log = logging.getLogger(__name__)

CACHE_PARTITION = "#deplight-analyze-cache"
"""Partition of cache items in the audit table: ``#`` is not allowed in a Pulumi stack name, so no
stack's audit records (queried by stack name) ever share it, and the items carry no
``release_id``, so they stay out of the ``by-release-id`` index."""


class CacheError(Exception):
    """The cache the user named cannot be used at all (missing table, unwritable directory)."""


class Cache(Protocol):
    description: str

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, value: dict[str, Any]) -> None: ...


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/deplight/analyze`` (``~/.cache/deplight/analyze`` without it)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deplight" / "analyze"


class LocalCache:
    """One JSON file per entry in a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.description = f"directory {directory}"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            value = json.loads((self.directory / f"{key}.json").read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.debug("cache entry %s unreadable (%s): treated as a miss", key, exc)
            return None
        return value if isinstance(value, dict) else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w") as fh:
                json.dump(value, fh, sort_keys=True)
            os.replace(tmp, self.directory / f"{key}.json")  # readers never see half a file
        except OSError as exc:
            raise CacheError(f"cache directory {self.directory}: cannot write: {exc}") from exc


class DynamoCache:
    """Items ``{stack: CACHE_PARTITION, sk: key, body: JSON}`` in the stack's audit table.
    (botocore is imported when used: a local-cache analysis does not pay for it.)"""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self.description = f"DynamoDB table {table}"

    def _key(self, key: str) -> dict[str, Any]:
        return {AUDIT_HASH_KEY: {"S": CACHE_PARTITION}, AUDIT_RANGE_KEY: {"S": key}}

    def _fail(self, exc: Exception, action: str) -> NoReturn:
        from botocore.exceptions import ClientError

        from rollback.aws import error_code

        if isinstance(exc, ClientError) and error_code(exc) == "ResourceNotFoundException":
            raise CacheError(f"--cache-table {self.table}: no such DynamoDB table") from exc
        raise CacheError(f"--cache-table {self.table}: cannot {action}: {exc}") from exc

    def get(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            item = self.client.get_item(TableName=self.table, Key=self._key(key)).get("Item")
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "read")
        if not item or "body" not in item:
            return None
        try:
            value = json.loads(item["body"]["S"])
        except (KeyError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        item = {**self._key(key), "body": {"S": json.dumps(value, sort_keys=True)}}
        try:
            self.client.put_item(TableName=self.table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "write")
