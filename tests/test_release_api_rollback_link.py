"""How a release API request reaches its end: ``rollback.yml`` passes the request id and
``deplight rollback --request-id`` stores it in the audit record the API reads."""

from __future__ import annotations

from typing import Any

import pytest

from deplight.cli import main
from rollback.audit import DynamoAudit
from tests.conftest import ROOT
from tests.test_rollback_cli import wired  # noqa: F401 - fixture
from tests.test_rollback_support import SHA, MotoWorld
from tests.test_workflows import load, steps

A, B = SHA["A"], SHA["B"]


@pytest.fixture
def world(wired: tuple[Any, MotoWorld]) -> MotoWorld:  # noqa: F811 - the imported fixture
    """The dev stack wired into `deplight rollback` (A then B released; B runs)."""
    return wired[1]


def test_rollback_records_the_request_id(world: MotoWorld,
                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    code = main(["rollback", "--stack", "dev", "--json", "--reason", "from the API",
                 "--request-id", "req-0001-dev", "--verify-timeout", "0"])  # fmt: skip
    assert code == 0, capsys.readouterr()
    [record] = DynamoAudit(world.ddb, world.table, "dev").records()
    assert record["request_id"] == "req-0001-dev" and record["result"] == "succeeded"
    assert (record["from_tag"], record["to_tag"]) == (B, A)


def test_a_refused_rollback_keeps_the_request_id_too(world: MotoWorld,
                                                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main(["rollback", "--stack", "dev", "--to", SHA["C"], "--request-id",
                 "req-0002-dev"]) == 1  # fmt: skip
    [record] = DynamoAudit(world.ddb, world.table, "dev").records()
    assert record["result"] == "refused" and record["request_id"] == "req-0002-dev"


def test_a_malformed_request_id_is_bad_input(world: MotoWorld,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main(["rollback", "--stack", "dev", "--request-id", "x; rm -rf /", "--json"]) == 2
    assert "--request-id: expected 8-64" in capsys.readouterr().err
    assert DynamoAudit(world.ddb, world.table, "dev").records() == []


def test_rollback_workflow_passes_the_request_id_through_env() -> None:
    doc = load(ROOT / ".github" / "workflows" / "rollback.yml")
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert inputs["request_id"] == {"description": inputs["request_id"]["description"],
                                    "type": "string", "required": False}  # fmt: skip
    job = doc["jobs"]["rollback"]
    assert job["env"]["REQUEST_ID"] == "${{ inputs.request_id }}"
    run = next(s["run"] for s in steps(job) if "deplight rollback" in s.get("run", ""))
    assert 'args+=(--request-id "$REQUEST_ID")' in run
    assert "inputs.request_id" in doc["run-name"]
    # the inputs the API sends are exactly inputs the workflow declares
    assert {"stack", "to", "reason", "confirm", "request_id"} <= set(inputs)


def test_help_mentions_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["rollback", "--help"])
    assert "--request-id ID" in capsys.readouterr().out
