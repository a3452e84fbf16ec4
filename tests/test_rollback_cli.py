"""``deplight deploy|rollback|releases`` through ``deplight.cli.main``: help, exit codes, stdout.

The stack seam (:func:`rollback.cli.select_stack`) returns the real adapter over a fake
``pulumi.automation.Stack``; AWS is moto over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from deplight.cli import main
from rollback import cli as rollback_cli
from rollback.errors import UnknownStackError
from tests.test_rollback_support import (
    REGION,
    SHA,
    FakeAutoStack,
    FakeWorkspace,
    MotoWorld,
    adapter,
    summary,
)

A, B = SHA["A"], SHA["B"]


@pytest.mark.parametrize(
    ("command", "phrases"),
    [
        ("deploy", ["--image-tag SHA", "--skip-image-check", "deploy: SHA", "pulumi up",
                    "Exit 0 ok, 1 failed/refused, 2 bad"]),
        ("rollback", ["--to TAG", "--auto", "--confirm ROLLBACK-PROD", "--allow-schema-downgrade",
                      "--cancel-stale", "Fast path", "deplight:tier is production",
                      "--lock-timeout SECONDS", "never removing it",
                      "rollback: FROM -> TO (REASON)"]),
        ("releases", ["--json", "known-good", "no outcome"]),
    ],
)  # fmt: skip
def test_help_is_clear(
    command: str, phrases: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for phrase in phrases:
        assert " ".join(phrase.split()) in text, phrase


def test_stack_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["rollback"])
    assert exit_.value.code == 2 and "--stack" in capsys.readouterr().err


@pytest.fixture
def wired(
    aws_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[FakeAutoStack, MotoWorld]:
    world = MotoWorld(aws_endpoint)
    world.push(A, B)
    world.run(B)
    t0 = datetime.now(UTC) - timedelta(days=1)
    history = [summary(B, message=f"deploy: {B}", start=t0 + timedelta(hours=1)),
               summary(A, message=f"deploy: {A}", start=t0)]  # fmt: skip
    fake = FakeAutoStack(
        "dev", {"aws:region": REGION, "deplight:tier": "development", "deplight:image_tag": B,
                "deplight:schema_version": 12},
        history, world.outputs(), FakeWorkspace(f"file://{tmp_path}/state", "dev"),
        on_up=world.on_up,
    )  # fmt: skip
    stack = adapter(fake, tmp_path)
    monkeypatch.setattr(rollback_cli, "select_stack", lambda name, project_dir: stack)
    return fake, world


def test_rollback_json(
    wired: tuple[FakeAutoStack, MotoWorld], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, _ = wired
    code = main(["rollback", "--stack", "dev", "--json", "--reason", "cli test",
                 "--verify-timeout", "0"])  # fmt: skip
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == 0 and doc["status"] == "succeeded" and doc["exit_code"] == 0
    assert (doc["from"], doc["to"], doc["path"]) == (B, A, "slow")
    assert doc["verification"]["ok"] and [c["ok"] for c in doc["checks"]] == [True] * 6
    assert fake.config["deplight:image_tag"] == A


def test_refusal_is_exit_1_with_the_reason_on_stdout(
    wired: tuple[FakeAutoStack, MotoWorld], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["rollback", "--stack", "dev", "--to", SHA["C"]])
    out = capsys.readouterr().out.strip()
    assert code == 1 and out.startswith("rollback dev: refused: target-succeeded:")


def test_bad_input_is_exit_2(
    wired: tuple[FakeAutoStack, MotoWorld], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", "--stack", "dev", "--image-tag", "LATEST"]) == 2
    assert "--image-tag: expected a git commit SHA" in capsys.readouterr().err
    assert main(["rollback", "--stack", "dev", "--to", "v1.2"]) == 2


def test_unknown_stack_is_exit_2_also_in_json(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    def missing(name: str, project_dir: Any) -> Any:
        raise UnknownStackError(f"no stack named {name!r} in the current backend")

    monkeypatch.setattr(rollback_cli, "select_stack", missing)
    assert main(["releases", "--stack", "qa", "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == "error" and "no stack named 'qa'" in captured.err


def test_releases_text_and_json(
    wired: tuple[FakeAutoStack, MotoWorld], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["releases", "--stack", "dev"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("Releases of stack dev")
    assert "> " in text and f"deploy    {B}" in text and f"Known-good: {B}, {A}" in text
    assert main(["releases", "--stack", "dev", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["known_good"] == [B, A] and doc["current"]["image_tag"] == B
    assert doc["unfinished"] == []
