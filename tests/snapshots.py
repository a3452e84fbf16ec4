"""Snapshot helper: compares rendered JSON with tests/snapshots/<name>.json.

Regenerate after an intended change with ``DEPLIGHT_UPDATE_SNAPSHOTS=1 python -m pytest -q`` and
review the diff like any other code change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


def assert_snapshot(name: str, value: Any) -> None:
    path = SNAPSHOTS / f"{name}.json"
    rendered = json.dumps(value, indent=2, sort_keys=True) + "\n"
    if os.environ.get("DEPLIGHT_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.write_text(rendered)
    assert json.loads(path.read_text()) == json.loads(rendered), (
        f"{path.name} differs from the rendered value; if the change is intended, regenerate with "
        "DEPLIGHT_UPDATE_SNAPSHOTS=1"
    )
