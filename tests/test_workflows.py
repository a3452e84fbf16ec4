"""The GitHub Actions workflows: schema-valid offline, pinned, least privilege, one deploy per stack."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deplight.ci import DEPLOY_ARTIFACT
from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
OIDC_ACTION = "aws-actions/configure-aws-credentials@"
DOWNLOAD_ACTION = "actions/download-artifact@"


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
        other_run = any(
            str(s.get("uses", "")).startswith(DOWNLOAD_ACTION) and "run-id" in (s.get("with") or {})
            for s in steps(job)
        )  # fmt: skip
        assert perms.get("actions") == ("read" if other_run else None), (
            f"{path.name}:{name}: actions: read only to download another run's artifact"
        )
        allowed = {"contents", "id-token", "pull-requests", "actions", "deployments"}
        assert set(perms) <= allowed, (path.name, name, perms)
        # deployments: write exactly where a job records GitHub deployments
        records = any("deplight.github deployment-" in s.get("run", "") for s in steps(job))
        assert (perms.get("deployments") == "write") == records, (path.name, name)
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


def test_auto_rollback_takes_the_stack_the_failed_run_recorded() -> None:
    """deploy.yml records the stack before it releases; auto-rollback.yml reads that record from
    the triggering run (not the run's branch) through the tested helper."""
    deploy = load(ROOT / ".github" / "workflows" / "deploy.yml")
    release_steps = steps(deploy["jobs"]["deploy"])
    names = [s.get("name", s.get("uses", "")) for s in release_steps]
    record = next(i for i, s in enumerate(release_steps)
                  if "python -m deplight.ci deploy-record" in s.get("run", ""))  # fmt: skip
    assert '--stack "$STACK"' in release_steps[record]["run"]
    upload = release_steps[record + 1]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["name"] == DEPLOY_ARTIFACT
    assert upload["with"]["if-no-files-found"] == "error"
    assert record + 1 < names.index("Release"), "recorded before the release starts"

    auto = load(ROOT / ".github" / "workflows" / "auto-rollback.yml")
    decide = steps(auto["jobs"]["decide"])
    download = next(s for s in decide if str(s.get("uses", "")).startswith(DOWNLOAD_ACTION))
    assert download["with"]["name"] == DEPLOY_ARTIFACT
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    assert download["with"]["github-token"] == "${{ github.token }}"
    assert download["continue-on-error"] is True, "a missing artifact is handled by the helper"
    runs = " ".join(s.get("run", "") for s in decide)
    assert f"python -m deplight.ci stack-from-artifact --dir {download['with']['path']}" in runs
    text = (ROOT / ".github" / "workflows" / "auto-rollback.yml").read_text()
    assert "head_branch" not in text and "env-for-ref" not in text


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
    names = [s.get("name") for s in steps(doc["jobs"]["rollback"])]
    assert names.index(CONFIRMATION) < names.index("Install")
    # untrusted inputs reach the shell only through env, never interpolated into a script
    for step in steps(doc["jobs"]["rollback"]):
        assert "${{ inputs." not in step.get("run", ""), step


CONFIRMATION = "Confirmation for production-tier stacks"


def run_confirmation(job: dict[str, Any], cwd: Path, stack: str,
                     confirm: str) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """The rollback job's confirmation step, run under bash in ``cwd`` (where the stack files are)
    as the workflow runs it: the inputs reach it only through the environment."""
    step = next(s for s in steps(job) if s.get("name") == CONFIRMATION)
    return subprocess.run(["bash", "-c", step["run"]], cwd=cwd, capture_output=True, text=True,
                          env={"STACK": stack, "CONFIRM": confirm, "PATH": "/usr/bin:/bin"},
                          timeout=30, check=False)  # fmt: skip


@pytest.mark.parametrize(
    ("stack", "confirm", "passes"),
    [
        ("dev", "", True),  # development tier: no confirmation
        ("staging", "", False),  # production tier by data, whatever its name
        ("prod", "", False),
        ("prod", "ROLLBACK-PROD", True),
        ("staging", "ROLLBACK-PROD", True),
        ("dev", "rollback-prod", False),  # a wrong text is refused, not ignored
        ("untiered", "", False),  # no deplight:tier: production
    ],
)
def test_the_rollback_confirmation_step_decides_by_the_stacks_tier(
    tmp_path: Path, stack: str, confirm: str, passes: bool
) -> None:
    job = load(ROOT / ".github" / "workflows" / "rollback.yml")["jobs"]["rollback"]
    for name in ("dev", "staging", "prod"):
        (tmp_path / f"Pulumi.{name}.yaml").write_text((ROOT / f"Pulumi.{name}.yaml").read_text())
    (tmp_path / "Pulumi.untiered.yaml").write_text("config:\n  deplight:image_tag: abc1234\n")
    run = run_confirmation(job, tmp_path, stack, confirm)
    assert (run.returncode == 0) is passes, run.stdout + run.stderr


def test_auto_rollback_runs_in_its_own_environment_the_deploy_role_trusts() -> None:
    """The rollback job's environment is <stack>-rollback, the name Settings derives and the deploy
    role trusts; nothing else may use it (the other workflows use the stack's environment)."""
    from components.settings import ROLLBACK_ENVIRONMENT_SUFFIX
    from deplight.harness import read_stack_config, settings_for

    doc = load(ROOT / ".github" / "workflows" / "auto-rollback.yml")
    assert doc["on"] == {"workflow_run": {"workflows": ["deploy"], "types": ["completed"]}}
    envs = [j.get("environment") for j in doc["jobs"].values() if j.get("environment")]
    assert envs == [f"${{{{ format('{{0}}{ROLLBACK_ENVIRONMENT_SUFFIX}', "
                    "needs.decide.outputs.stack) }}"]  # fmt: skip
    prod = settings_for("prod", read_stack_config("prod"))
    assert f"environment:prod{ROLLBACK_ENVIRONMENT_SUFFIX}" in prod.deploy_subjects
    for path in WORKFLOWS:
        if path.name != "auto-rollback.yml":
            for name, job in load(path)["jobs"].items():
                env = job.get("environment")
                env = env.get("name") if isinstance(env, dict) else env
                assert ROLLBACK_ENVIRONMENT_SUFFIX not in str(env or ""), (path.name, name)


def test_pr_previews_run_pr_code_with_non_production_access_only() -> None:
    doc = load(ROOT / ".github" / "workflows" / "pr.yml")
    assert set(doc["on"]) == {"pull_request"}, "never pull_request_target: PR code, base secrets"
    preview = doc["jobs"]["preview"]
    assert "environment" not in preview
    assert preview["env"]["STACK"] == "${{ vars.PREVIEW_STACK || 'dev' }}"
    assert preview["env"]["PULUMI_CONFIG_PASSPHRASE"] == (
        "${{ secrets.PREVIEW_PULUMI_CONFIG_PASSPHRASE }}"
    )
    text = (ROOT / ".github" / "workflows" / "pr.yml").read_text()
    assert "secrets.PULUMI_CONFIG_PASSPHRASE" not in text and "'prod'" not in text
    role = next(s for s in steps(preview) if str(s.get("uses", "")).startswith(OIDC_ACTION))
    assert role["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    pulumi = next(s for s in steps(preview) if "pulumi/actions" in s.get("uses", ""))
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["refresh"] is True


def test_analyze_comments_the_analysis_and_the_stack_mismatches() -> None:
    from deplight.analyze.command import MARKER

    path = ROOT / ".github" / "workflows" / "analyze.yml"
    doc = load(path)
    assert doc["on"] == {"pull_request": None}
    job = doc["jobs"]["analyze"]
    runs = [s.get("run", "") for s in steps(job)]
    analyze = next(r for r in runs if "deplight analyze" in r)
    assert "--markdown --all-stacks" in analyze and "GITHUB_STEP_SUMMARY" in analyze
    comment = next(s for s in steps(job) if "/comments" in s.get("run", ""))
    # the comment it updates is the one whose first line is the report's marker
    assert f'startswith("{MARKER}")' in comment["run"] and "--method PATCH" in comment["run"]
    assert comment["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    for run in runs:  # event data reaches the shell only through env
        assert "${{" not in run, run


@pytest.mark.parametrize(("workflow", "job", "action"), [
    ("deploy.yml", "deploy", "release"), ("auto-rollback.yml", "rollback", "rollback"),
    ("rollback.yml", "rollback", "rollback")])  # fmt: skip
def test_releases_are_recorded_as_github_deployments(workflow: str, job: str, action: str) -> None:
    """In progress before the release, its outcome after it whatever happened; both steps are
    best effort (deplight.github exits 0 with a warning), so they never fail the job."""
    found = steps(load(ROOT / ".github" / "workflows" / workflow)["jobs"][job])
    ids = [s.get("id") for s in found]
    start, act = ids.index("ghdeploy"), ids.index(action)
    assert start < act
    assert "deployment-start" in found[start]["run"] and "--github-output" in found[start]["run"]
    outcome = found[act + 1]
    assert "deployment-status" in outcome["run"]
    assert outcome["if"] == "always() && steps.ghdeploy.outputs.deployment_id != ''"
    assert outcome["env"]["OUTCOME"] == f"${{{{ steps.{action}.outcome }}}}"


def test_the_image_is_built_before_anything_writes_into_the_build_context() -> None:
    """A virtual environment made in the checkout before the build would be sent to the image
    build as part of its context (``context: .``). The template's order follows this one
    (tests/test_init.py's parity test)."""
    job = load(ROOT / ".github" / "workflows" / "deploy.yml")["jobs"]["deploy"]
    names = [s.get("name") or s.get("uses", "") for s in steps(job)]
    build = names.index("Build and push the image tagged with the commit SHA")
    venvs = [i for i, s in enumerate(steps(job)) if "venv" in s.get("run", "")]
    assert venvs and min(venvs) > build, names
