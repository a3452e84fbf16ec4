"""The decisions the workflows call: the ref -> stack mapping of deploy.yml, and the stack a failed
deploy run released, which auto-rollback.yml rolls back."""

from __future__ import annotations

from pathlib import Path

import pytest

from deplight.ci import (
    DEPLOY_ARTIFACT,
    committed_stacks,
    environment_for_ref,
    main,
    stack_from_artifact,
    write_deploy_record,
)
from tests.conftest import ROOT

WITH_STAGING = {"dev", "staging", "prod"}
WITHOUT_STAGING = {"dev", "prod"}


@pytest.mark.parametrize(
    ("ref", "with_staging", "without_staging"),
    [
        ("refs/heads/feature/login", "dev", "dev"),
        ("feature/login", "dev", "dev"),
        ("refs/heads/feature/", None, None),
        ("refs/heads/release/1.2", "staging", None),
        ("release/1.2", "staging", None),
        ("refs/heads/main", "prod", "prod"),
        ("main", "prod", "prod"),
        ("refs/tags/v1.2.3", "prod", "prod"),
        ("v1.2.3", "prod", "prod"),
        ("refs/tags/v1.2", None, None),
        ("refs/tags/v1.2.3-rc1", None, None),
        ("refs/tags/latest", None, None),
        ("refs/heads/develop", None, None),
        ("refs/heads/mainline", None, None),
        ("refs/heads/hotfix/feature/x", None, None),
        ("refs/pull/7/merge", None, None),
    ],
)
def test_mapping(ref: str, with_staging: str | None, without_staging: str | None) -> None:
    assert environment_for_ref(ref, WITH_STAGING) == with_staging
    assert environment_for_ref(ref, WITHOUT_STAGING) == without_staging


def test_committed_stacks_are_read_from_the_stack_files() -> None:
    assert {"dev", "prod"} <= committed_stacks(ROOT)


def test_cli_prints_and_writes_github_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    for name in ("dev", "prod"):
        (tmp_path / f"Pulumi.{name}.yaml").write_text("config: {}\n")
    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert main(["env-for-ref", "--ref", "refs/heads/release/2.0", "--project-dir",
                 str(tmp_path), "--github-output"]) == 0  # fmt: skip
    assert capsys.readouterr().out == "\n"
    assert out.read_text() == "stack=\n", "no staging stack: release/* deploys nowhere"
    (tmp_path / "Pulumi.staging.yaml").write_text("config: {}\n")
    main(["env-for-ref", "--ref", "refs/heads/release/2.0", "--project-dir", str(tmp_path),
          "--github-output"])  # fmt: skip
    assert out.read_text().splitlines()[-1] == "stack=staging"


def test_a_manual_deploy_of_prod_from_a_feature_branch_rolls_back_prod(tmp_path: Path) -> None:
    """workflow_dispatch with stack=prod on feature/login: the run's head_branch says dev, the
    run's own record says prod, and prod is what failed."""
    run_id = "9876543210"
    write_deploy_record(tmp_path / DEPLOY_ARTIFACT, stack="prod", sha="3f2a9c1", run_id=run_id)
    assert environment_for_ref("feature/login", WITH_STAGING) == "dev", "the branch misleads"
    stack, why = stack_from_artifact(tmp_path / DEPLOY_ARTIFACT, run_id, WITH_STAGING)
    assert stack == "prod" and why == f"run {run_id} released 3f2a9c1 to stack prod"


def test_no_artifact_means_nothing_to_roll_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    stack, why = stack_from_artifact(tmp_path / DEPLOY_ARTIFACT, "42", WITH_STAGING)
    assert stack is None
    assert "run 42 uploaded no deplight-deploy artifact" in why
    assert "failed before it started a release, so there is nothing to roll back" in why

    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    code = main(["stack-from-artifact", "--dir", str(tmp_path / DEPLOY_ARTIFACT), "--run-id",
                 "42", "--project-dir", str(ROOT), "--github-output"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0 and captured.out == "\n" and out.read_text() == "stack=\n"
    assert captured.err.startswith("auto-rollback: nothing to do: run 42 uploaded no")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"stack": "qa", "sha": "3f2a9c1", "run_id": "42"}',
         "stack 'qa' is not one of this repository's stacks (dev, prod, staging)"),
        ('{"stack": "prod", "sha": "3f2a9c1", "run_id": "41"}',
         "written by run 41, not by the failed run: not trusted"),
        ("prod", "is not readable JSON"),
        ('["prod"]', "expected a JSON object, found ['prod']"),
    ],
)  # fmt: skip
def test_an_artifact_that_cannot_be_trusted_rolls_back_nothing(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "deploy.json").write_text(content)
    stack, why = stack_from_artifact(tmp_path, "42", WITH_STAGING)
    assert stack is None and message in why
    for name in ("dev", "prod", "staging"):
        (tmp_path / f"Pulumi.{name}.yaml").write_text("config: {}\n")
    code = main(["stack-from-artifact", "--dir", str(tmp_path), "--run-id", "42",
                 "--project-dir", str(tmp_path)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1 and captured.out == "\n" and message in captured.err


def test_deploy_record_cli_writes_what_the_artifact_holds(tmp_path: Path) -> None:
    out = tmp_path / DEPLOY_ARTIFACT
    assert main(["deploy-record", "--stack", "prod", "--sha", "3f2a9c1", "--run-id", "7",
                 "--out", str(out)]) == 0  # fmt: skip
    assert stack_from_artifact(out, "7", {"prod"})[0] == "prod"
