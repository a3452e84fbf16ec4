"""Snapshot helper: compares rendered JSON with tests/snapshots/<name>.json.

A snapshot is written only on request, never as a side effect of a test run: a missing snapshot
fails the test, so a test whose snapshot was never committed cannot pass by accident.

Create or regenerate snapshots after an intended change with
``DEPLIGHT_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest -q`` and review the diff like any other
code change. Under CI (``CI`` set, as GitHub Actions and .ci/run's runner set it) nothing is ever
written: a missing snapshot fails, and so does a request to update.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE_ENV = "DEPLIGHT_UPDATE_SNAPSHOTS"


def running_in_ci() -> bool:
    """True where ``CI`` is set to anything but an explicit false (GitHub sets ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def assert_snapshot(name: str, value: Any) -> None:
    path = SNAPSHOTS / f"{name}.json"
    rendered = json.dumps(value, indent=2, sort_keys=True) + "\n"
    update = os.environ.get(UPDATE_ENV) == "1"
    if update and running_in_ci():
        raise AssertionError(
            f"{UPDATE_ENV}=1 is refused under CI: snapshots are regenerated locally and committed"
        )
    if update:
        path.write_text(rendered)
    elif not path.exists():
        raise AssertionError(
            f"snapshot {path.name} is missing from {SNAPSHOTS}: generate it locally with "
            f"{UPDATE_ENV}=1, review it and commit it"
        )
    assert json.loads(path.read_text()) == json.loads(rendered), (
        f"{path.name} differs from the rendered value; if the change is intended, regenerate with "
        f"{UPDATE_ENV}=1"
    )
