"""The GitHub Actions workflows: schema-valid offline, pinned, least privilege, one deploy per stack."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
OIDC_ACTION = "aws-actions/configure-aws-credentials@"


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def test_the_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} == {"pr.yml", "deploy.yml", "auto-rollback.yml",
                                           "rollback.yml", "analyze.yml"}  # fmt: skip


def test_workflows_validate_against_the_github_schema_offline() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_full_commit_sha(path: Path) -> None:
    for job in load(path)["jobs"].values():
        for step in steps(job):
            if "uses" in step:
                assert SHA_PIN.match(step["uses"]), f"{path.name}: {step['uses']} is not SHA-pinned"
    for line in path.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"# v\d+\.\d+\.\d+", line), f"{path.name}: no version comment: {line}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_permissions(path: Path) -> None:
    doc = load(path)
    assert doc.get("permissions") == {}, f"{path.name}: top-level permissions must be empty"
    for name, job in doc["jobs"].items():
        perms = job.get("permissions")
        assert isinstance(perms, dict), f"{path.name}:{name} declares no permissions"
        assert perms.get("contents") == "read", (path.name, name)
        uses_oidc = any(str(s.get("uses", "")).startswith(OIDC_ACTION) for s in steps(job))
        assert (perms.get("id-token") == "write") == uses_oidc, (
            f"{path.name}:{name}: id-token: write only where OIDC is used"
        )
        # a job comments through an action's comment-on-pr, or by posting to the comments API
        comments = any("comment-on-pr" in (s.get("with") or {}) or "/comments" in s.get("run", "")
                       for s in steps(job))  # fmt: skip
        assert (perms.get("pull-requests") == "write") == comments, (path.name, name)
        allowed = {"contents", "id-token", "pull-requests"}
        assert set(perms) <= allowed, (path.name, name, perms)
        assert "write-all" not in str(perms) and perms.get("contents") != "write"
    text = path.read_text()
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text


@pytest.mark.parametrize("name", ["deploy.yml", "auto-rollback.yml", "rollback.yml"])
def test_one_release_per_stack_at_a_time(name: str) -> None:
    doc = load(ROOT / ".github" / "workflows" / name)
    guarded = [j for j in doc["jobs"].values() if "concurrency" in j]
    assert guarded, name
    for job in guarded:
        assert job["concurrency"]["cancel-in-progress"] is False
        assert job["concurrency"]["group"].startswith("deploy-${{")


def test_deploy_uses_the_tested_ref_mapping_and_gates_prod_with_environments() -> None:
    doc = load(ROOT / ".github" / "workflows" / "deploy.yml")
    decide = doc["jobs"]["decide"]
    assert any("python -m deplight.ci env-for-ref" in s.get("run", "") for s in steps(decide))
    deploy = doc["jobs"]["deploy"]
    assert deploy["environment"] == "${{ needs.decide.outputs.stack }}"
    runs = " ".join(s.get("run", "") for s in steps(deploy))
    assert 'deplight deploy --stack "$STACK" --image-tag "$GITHUB_SHA"' in runs
    assert "GITHUB_STEP_SUMMARY" in runs and "service_url" in runs and "dashboard_url" in runs
    build = next(s for s in steps(deploy) if "build-push-action" in s.get("uses", ""))
    assert build["with"]["tags"].endswith(":${{ github.sha }}")
    assert build["with"]["cache-from"].startswith("type=gha")
    assert set(doc["on"]["push"]["branches"]) == {"feature/**", "release/**", "main"}
    assert doc["on"]["push"]["tags"] == ["v*.*.*"]


def test_auto_rollback_runs_only_after_a_failed_deploy() -> None:
    doc = load(ROOT / ".github" / "workflows" / "auto-rollback.yml")
    assert doc["on"]["workflow_run"]["workflows"] == ["deploy"]
    assert doc["jobs"]["decide"]["if"] == "github.event.workflow_run.conclusion == 'failure'"
    runs = " ".join(s.get("run", "") for j in doc["jobs"].values() for s in steps(j))
    assert "deplight rollback" in runs and "--auto" in runs


def test_manual_rollback_requires_confirmation_for_prod() -> None:
    doc = load(ROOT / ".github" / "workflows" / "rollback.yml")
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert inputs["reason"]["required"] is True and inputs["to"]["required"] is False
    first = steps(doc["jobs"]["rollback"])[0]
    assert "ROLLBACK-PROD" in first["run"] and "exit 1" in first["run"]
    # untrusted inputs reach the shell only through env, never interpolated into a script
    for step in steps(doc["jobs"]["rollback"]):
        assert "${{ inputs." not in step.get("run", ""), step


def test_analyze_comments_the_analysis_and_the_stack_mismatches() -> None:
    from deplight.analyze.command import MARKER

    path = ROOT / ".github" / "workflows" / "analyze.yml"
    doc = load(path)
    assert doc["on"] == {"pull_request": None}
    job = doc["jobs"]["analyze"]
    runs = [s.get("run", "") for s in steps(job)]
    analyze = next(r for r in runs if "deplight analyze" in r)
    assert '--markdown --all-stacks' in analyze and "GITHUB_STEP_SUMMARY" in analyze
    comment = next(s for s in steps(job) if "/comments" in s.get("run", ""))
    # the comment it updates is the one whose first line is the report's marker
    assert f'startswith("{MARKER}")' in comment["run"] and "--method PATCH" in comment["run"]
    assert comment["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    for run in runs:  # event data reaches the shell only through env
        assert "${{" not in run, run
