"""``deplight init``: a team's project in its application repository, and finding it again."""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.settings import ROLLBACK_ENVIRONMENT_SUFFIX
from deplight import cli
from deplight.check import evaluate_in_process, load_policy_config
from deplight.ci import DEPLOY_ARTIFACT
from deplight.harness import run_program
from deplight.init import STACKS, InitError, collect, service_name_from
from deplight.project import find_project
from tests.conftest import ROOT
from tests.test_workflows import WORKFLOWS, load, run_confirmation

REPO_FLAGS = ["--repository", "example-org/billing-api", "--region", "eu-west-1"]
ACTION = re.compile(r"^([\w.-]+/[\w.-]+)@([0-9a-f]{40})$")


def init(app: Path, *extra: str) -> int:
    app.mkdir(parents=True, exist_ok=True)
    return cli.main(["init", str(app / "infra"), *REPO_FLAGS, *extra])


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    root = tmp_path / "billing-api"
    assert init(root) == 0
    return root


def workflows(app: Path) -> dict[str, dict[str, Any]]:
    return {p.name: load(p) for p in sorted((app / ".github" / "workflows").glob("*.yml"))}


def test_init_writes_the_project_and_the_workflows(app: Path) -> None:
    infra = app / "infra"
    names = {p.relative_to(app).as_posix() for p in app.rglob("*") if p.is_file()}
    assert {"infra/Pulumi.yaml", "infra/__main__.py", "infra/requirements.txt", "infra/README.md",
            "infra/Pulumi.dev.yaml", "infra/Pulumi.prod.yaml", "infra/.gitignore",
            "infra/policies/PulumiPolicy.yaml", "infra/policies/__main__.py",
            "infra/policies/config/dev.json", "infra/policies/config/prod.json",
            ".github/workflows/deplight-deploy.yml", ".github/workflows/deplight-pr.yml",
            ".github/workflows/deplight-rollback.yml",
            ".github/workflows/deplight-auto-rollback.yml"} <= names  # fmt: skip
    program = (infra / "__main__.py").read_text().strip().splitlines()
    assert program[-2:] == ["", "run()"] and "from deplight.program import run" in program
    assert yaml.safe_load((infra / "Pulumi.yaml").read_text())["name"] == "billing-api"
    dev = yaml.safe_load((infra / "Pulumi.dev.yaml").read_text())["config"]
    assert dev["aws:region"] == "eu-west-1" and dev["deplight:tier"] == "development"
    assert dev["deplight:github"] == {"repository": "example-org/billing-api",
                                      "oidc_provider": "create"}  # fmt: skip
    assert "deplight:image_tag" not in dev, "the first up is a bootstrap"
    assert (infra / "policies" / "config" / "prod.json").read_text() == (
        ROOT / "policies" / "config" / "prod.json").read_text()  # fmt: skip
    assert re.fullmatch(
        r"deplight(==\S+)?", (infra / "requirements.txt").read_text().splitlines()[-1]
    )


def test_the_scaffold_plans_and_passes_the_dev_check(app: Path) -> None:
    run = run_program("dev", project_dir=app / "infra")
    assert run.one("aws:ecr/repository:Repository").inputs["name"] == "billing-api-dev"
    assert run.settings.github.subjects == ("environment:dev",), "the default, not written"
    assert any("bootstrap" in w for w in run.warnings)
    config, _ = load_policy_config("dev", app / "infra" / "policies")
    assert [v for v in evaluate_in_process(run, config) if v.level == "mandatory"] == []


def test_prod_needs_https_until_a_certificate_is_given(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    plain, secure, domain = tmp_path / "plain", tmp_path / "secure", tmp_path / "domain"
    assert init(plain) == 0
    cert = "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
    assert init(secure, "--certificate-arn", cert) == 0
    assert init(domain, "--domain", "billing.example.com", "--hosted-zone-id", "Z0123ABC") == 0
    assert "fails until prod has HTTPS" in (plain / "infra" / "README.md").read_text()
    ingress = yaml.safe_load((domain / "infra" / "Pulumi.prod.yaml").read_text())["config"][
        "deplight:ingress"]  # fmt: skip
    assert ingress == {"domain": "billing.example.com", "hosted_zone_id": "Z0123ABC"}
    for root, mandatory in ((plain, True), (secure, False), (domain, False)):
        run = run_program("prod", project_dir=root / "infra")
        config, _ = load_policy_config("prod", root / "infra" / "policies")
        found = [v.policy for v in evaluate_in_process(run, config) if v.level == "mandatory"]
        assert bool(found) is mandatory and set(found) <= {"listener-https-only"}, found


def test_workflows_are_valid_pinned_like_ours_and_use_the_project_paths(app: Path) -> None:
    files = sorted((app / ".github" / "workflows").glob("*.yml"))
    schema = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
         *map(str, files)], capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert schema.returncode == 0, schema.stdout + schema.stderr
    ours = {m[1]: m[2] for p in WORKFLOWS for m in re.finditer(r"uses: ([\w./-]+)@([0-9a-f]{40})",
                                                                p.read_text())}  # fmt: skip
    for name, doc in workflows(app).items():
        assert "__" not in (app / ".github" / "workflows" / name).read_text(), name
        for job in doc["jobs"].values():
            assert job.get("defaults", {}).get("run", {}).get("working-directory") == "infra" or all(
                "run" not in s or s.get("working-directory") == "infra"
                for s in job["steps"] if "Install" in s.get("name", "")
            ), (name, job)  # fmt: skip
            for step in job["steps"]:
                if "uses" in step:
                    action, sha = ACTION.fullmatch(step["uses"]).groups()  # type: ignore[union-attr]
                    assert ours.get(action, sha) == sha, f"{name}: {action} pinned unlike ours"
    deploy = workflows(app)["deplight-deploy.yml"]["jobs"]["deploy"]["steps"]
    build = next(s for s in deploy if "build-push-action" in s.get("uses", ""))
    assert (build["with"]["context"], build["with"]["file"]) == (".", "Dockerfile")
    auto = workflows(app)["deplight-auto-rollback.yml"]
    assert auto["on"]["workflow_run"]["workflows"] == ["deplight-deploy"]


def test_a_custom_layout_reaches_the_workflows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["init", "deploy/aws", *REPO_FLAGS, "--app-root", ".", "--dockerfile",
                     "docker/api.Dockerfile", "--context", "services/api", "--port", "3000",
                     "--health-check-path", "/healthz"]) == 0  # fmt: skip
    doc = load(tmp_path / ".github" / "workflows" / "deplight-deploy.yml")
    assert doc["jobs"]["deploy"]["defaults"]["run"]["working-directory"] == "deploy/aws"
    build = next(s for s in doc["jobs"]["deploy"]["steps"] if "build-push" in s.get("uses", ""))
    assert (build["with"]["context"], build["with"]["file"]) == ("services/api",
                                                                 "docker/api.Dockerfile")  # fmt: skip
    pr = load(tmp_path / ".github" / "workflows" / "deplight-pr.yml")
    preview = next(
        s for s in pr["jobs"]["preview"]["steps"] if "pulumi/actions" in s.get("uses", "")
    )
    assert preview["with"]["work-dir"] == "deploy/aws"
    assert preview["with"]["policyPacks"].endswith("/deploy/aws/policies")
    stack = yaml.safe_load((tmp_path / "deploy/aws/Pulumi.dev.yaml").read_text())["config"]
    assert stack["deplight:service"]["container_port"] == 3000
    assert stack["deplight:service"]["health_check_path"] == "/healthz"


def test_missing_flags_without_a_terminal_are_exit_2(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.main(["init", str(tmp_path / "infra")]) == 2
    err = capsys.readouterr().err
    assert "--repository and --region required (there is no terminal to ask on)" in err
    assert not (tmp_path / "infra").exists()


def test_a_terminal_is_asked() -> None:
    args = cli.build_parser().parse_args(["init", "infra"])
    answers = iter(["example-org/Billing_API", "ap-southeast-2"])
    got = collect(args, interactive=True, read=lambda _prompt: next(answers))
    assert (got.repository, got.region, got.service) == ("example-org/Billing_API",
                                                         "ap-southeast-2", "billing-api")  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--repository", "billing", "--region", "eu-west-1"], "--repository: expected owner/name"),
        (["--repository", "o/r", "--region", "us-east-9"], "--region: expected an AWS region"),
        (["--repository", "o/r", "--region", "eu-west-1", "--domain", "api.example.com"],
         "--domain and --hosted-zone-id: expected both or neither"),
        (["--repository", "o/r", "--region", "eu-west-1", "--service-name", "Billing"],
         "--service-name: expected a lowercase name"),
    ],
)  # fmt: skip
def test_bad_flags_are_named(extra: list[str], fragment: str) -> None:
    args = cli.build_parser().parse_args(["init", "infra", *extra])
    with pytest.raises(InitError, match=re.escape(fragment)):
        collect(args, interactive=False)


def test_nothing_is_overwritten_without_force(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (app / "infra" / "Pulumi.dev.yaml").write_text("# mine\n")
    assert init(app) == 2
    assert "would overwrite" in capsys.readouterr().err
    assert (app / "infra" / "Pulumi.dev.yaml").read_text() == "# mine\n"
    assert init(app, "--force") == 0
    assert "deplight:tier" in (app / "infra" / "Pulumi.dev.yaml").read_text()


@pytest.mark.parametrize(("repository", "name"), [("o/Billing_API", "billing-api"),
                                                  ("o/9lives", "lives"), ("o/---", "web")])  # fmt: skip
def test_service_name_from_the_repository(repository: str, name: str) -> None:
    assert service_name_from(repository) == name


def test_the_project_is_found_from_the_app_root_and_below(app: Path) -> None:
    (app / "src" / "api").mkdir(parents=True)
    assert find_project(None, app) == app / "infra"
    assert find_project(None, app / "src" / "api") == app / "infra"
    assert find_project(None, app / "infra" / "policies") == app / "infra"
    assert find_project(str(app / "infra"), Path("/")) == app / "infra"


def test_init_help_is_reachable() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert "init" in sub.choices


# --- The template workflows follow this repository's own -------------------------------------
# This repository's workflows are the reference: they get the fixes first (the auto-rollback's
# stack from the artifact, GitHub deployments, the tier-based confirmation, PR preview secrets).
# A team's copies must match them job by job and step by step, but for the differences below.

PAIRS = {"deplight-deploy.yml": "deploy.yml", "deplight-auto-rollback.yml": "auto-rollback.yml",
         "deplight-rollback.yml": "rollback.yml", "deplight-pr.yml": "pr.yml"}  # fmt: skip
NOT_TEMPLATED = {
    # `deplight init` writes no analysis workflow: `deplight analyze` is an optional extra
    # (README: Pull requests), not part of deploying.
    "analyze.yml",
}
# The team's PR job runs no tests, so it is named for what it does.
JOB_NAMES = {"test-and-check": "check"}
# Deplight's own lint, types and test suite (pr.yml): a team's project has no Deplight tests.
REPO_ONLY_STEPS = {
    "Install the Pulumi CLI (tests/test_rollback_real_pulumi.py needs it)",
    "Lint, formatting and types (the same checks as .ci/run)",
    "Tests",
}
# Deplight comes from the project's requirements.txt, not this repository's lock and checkout
# (`-e .`). Every template job that runs Deplight installs it (checked on its own below); this
# repository's deciding jobs need no install (deplight.ci runs from the checkout).
INSTALL_STEPS = {"Install", "Install Deplight"}
# The scaffold has the stacks dev and prod; this repository also has staging (release/**).
REPO_ONLY_STACK, REPO_ONLY_BRANCH = "staging", "release/**"
# The image's Dockerfile and build context are the team's (--dockerfile, --context), and
# pulumi/actions is told the project's directory (actions ignore `defaults.run`).
TEMPLATE_ONLY_WITH = {"context", "file", "work-dir"}
WORKSPACE = "${{ github.workspace }}/"


def _shape(doc: dict[str, Any], *, template: bool, infra: str) -> dict[str, Any]:
    """What a rendered template and this repository's workflow must have in common: the whole
    document, less the known differences above (and comments, which YAML drops)."""
    doc = copy.deepcopy(doc)
    # A team's workflow names carry the prefix deplight- (they sit next to the team's own).
    doc["name"] = doc["name"].removeprefix("deplight-")
    on = doc["on"]
    if "workflow_run" in on:
        on["workflow_run"]["workflows"] = [
            w.removeprefix("deplight-") for w in on["workflow_run"]["workflows"]
        ]
    if not template and "push" in on:
        on["push"]["branches"].remove(REPO_ONLY_BRANCH)
    for spec in ((on.get("workflow_dispatch") or {}).get("inputs") or {}).values():
        spec.pop("description")  # they name the stacks that need what
        if not template and "options" in spec:
            spec["options"].remove(REPO_ONLY_STACK)
    jobs = {}
    for name, job in doc["jobs"].items():
        if not template:
            name = JOB_NAMES.get(name, name)
            if "needs" in job:
                job["needs"] = JOB_NAMES.get(job["needs"], job["needs"])
        if template and job.get("defaults") == {"run": {"working-directory": infra}}:
            del job["defaults"]  # the template's jobs run in the project's directory
        kept = []
        for step in job.get("steps", []):
            if step.get("name") in INSTALL_STEPS or (
                not template and step.get("name") in REPO_ONLY_STEPS
            ):
                continue
            if "run" in step:  # a team's jobs run deplight.ci from the venv, ours from the checkout
                step["run"] = step["run"].replace(".venv/bin/python -m ", "python -m ")
            if template and "with" in step:
                for key in TEMPLATE_ONLY_WITH:
                    step["with"].pop(key, None)
                step["with"] = {  # paths from the repository root, where the project is infra/
                    k: v.removeprefix(WORKSPACE).removeprefix(f"{infra}/") if isinstance(v, str)
                    else v for k, v in step["with"].items()
                }  # fmt: skip
            elif "with" in step and "build-push-action" in step.get("uses", ""):
                step["with"].pop("context")
            kept.append(step)
        job["steps"] = kept
        jobs[name] = job
    doc["jobs"] = jobs
    return doc


def _label(step: dict[str, Any]) -> str:
    return str(step.get("name") or step.get("uses", "").split("@")[0] or step.get("id"))


def drift(template: dict[str, Any], ours: dict[str, Any], infra: str = "infra") -> list[str]:
    """Every difference between a rendered template workflow and ours beyond the known ones."""
    a, b = _shape(template, template=True, infra=infra), _shape(ours, template=False, infra=infra)
    found = [f"{key}: template {a.get(key)!r}, ours {b.get(key)!r}"
             for key in sorted(set(a) | set(b), key=str)
             if key != "jobs" and a.get(key) != b.get(key)]  # fmt: skip
    for name in sorted(set(a["jobs"]) | set(b["jobs"])):
        if name not in a["jobs"] or name not in b["jobs"]:
            found.append(f"job {name}: only in {'the template' if name in a['jobs'] else 'ours'}")
            continue
        ja, jb = a["jobs"][name], b["jobs"][name]
        found += [f"{name}.{key}: template {ja.get(key)!r}, ours {jb.get(key)!r}"
                  for key in sorted(set(ja) | set(jb)) if key != "steps" and ja.get(key) != jb.get(key)]  # fmt: skip
        la, lb = [_label(s) for s in ja["steps"]], [_label(s) for s in jb["steps"]]
        if la != lb:
            found.append(f"{name} steps: missing from the template {[s for s in lb if s not in la]}, "
                         f"only in the template {[s for s in la if s not in lb]}; template {la}, "
                         f"ours {lb}")  # fmt: skip
            continue
        found += [f"{name} step {label}: template {sa!r}, ours {sb!r}"
                  for label, sa, sb in zip(la, ja["steps"], jb["steps"], strict=True) if sa != sb]  # fmt: skip
    return found


def test_every_template_workflow_has_its_reference(app: Path) -> None:
    assert set(workflows(app)) == set(PAIRS)
    assert {p.name for p in WORKFLOWS} == set(PAIRS.values()) | NOT_TEMPLATED


@pytest.mark.parametrize(("template", "ours"), PAIRS.items())
def test_the_template_workflows_follow_ours(app: Path, template: str, ours: str) -> None:
    found = drift(workflows(app)[template], load(ROOT / ".github" / "workflows" / ours))
    assert not found, "\n".join(found)


def _steps_of(doc: dict[str, Any], job: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = doc["jobs"][job]["steps"]
    return steps


def _step(doc: dict[str, Any], job: str, label: str) -> dict[str, Any]:
    return next(s for s in _steps_of(doc, job) if _label(s) == label)


@pytest.mark.parametrize(
    ("template", "change", "expected"),
    [
        ("deplight-deploy.yml",  # a step the template lacks
         lambda t, o: _steps_of(t, "deploy").remove(_step(t, "deploy", "GitHub deployment (outcome)")),
         "missing from the template ['GitHub deployment (outcome)']"),
        ("deplight-deploy.yml",  # a step ours gains (a fix the template never got)
         lambda t, o: _steps_of(o, "deploy").insert(5, {"name": "Scan the image", "run": "scan"}),
         "missing from the template ['Scan the image']"),
        ("deplight-rollback.yml",
         lambda t, o: t["jobs"]["rollback"]["permissions"].pop("deployments"),
         "rollback.permissions"),
        ("deplight-auto-rollback.yml",
         lambda t, o: t["jobs"]["rollback"].update(environment="${{ needs.decide.outputs.stack }}"),
         "rollback.environment"),
        ("deplight-auto-rollback.yml",  # the failed run's code instead of the default branch's
         lambda t, o: _step(t, "decide", "actions/checkout").update(
             {"with": {"ref": "${{ github.event.workflow_run.head_sha }}"}}),
         "decide step actions/checkout"),
        ("deplight-pr.yml",
         lambda t, o: _step(t, "preview", "pulumi/actions").update(uses="pulumi/actions@" + "0" * 40),
         "preview step pulumi/actions"),
        ("deplight-pr.yml",
         lambda t, o: t["jobs"]["preview"]["env"].update(STACK="${{ vars.PREVIEW_STACK || 'prod' }}"),
         "preview.env"),
        ("deplight-deploy.yml",
         lambda t, o: _step(t, "deploy", "Release").update(run=".venv/bin/deplight deploy"),
         "deploy step Release"),
    ],
    ids=["step-missing", "step-added-to-ours", "permission", "environment", "checkout-ref",
         "action-pin", "env", "command"],
)  # fmt: skip
def test_drift_is_found(app: Path, template: str, change: Callable[[dict[str, Any], dict[str, Any]], None], expected: str) -> None:  # fmt: skip
    mine, ours = workflows(app)[template], load(ROOT / ".github" / "workflows" / PAIRS[template])
    change(mine, ours)
    found = drift(mine, ours)
    assert found and any(expected in line for line in found), found


def test_every_job_that_runs_deplight_installs_it_first(app: Path) -> None:
    """A team's checkout has no deplight/ to run `python -m deplight...` from (this repository's
    deciding jobs do): every job runs it from the venv its "Install Deplight" step made, after it."""
    for name, doc in workflows(app).items():
        for job_name, job in doc["jobs"].items():
            runs = [s.get("run", "") for s in job["steps"]]
            for run in runs:
                assert not re.search(r"(?<![\w/.])python -m deplight", run), (name, job_name, run)
                assert not re.search(r"(?<![\w/.])deplight ", run), (name, job_name, run)
            uses_venv = [
                i for i, r in enumerate(runs) if ".venv/bin/" in r and "venv .venv" not in r
            ]
            if uses_venv:
                install = [s.get("name") for s in job["steps"]].index("Install Deplight")
                assert install < uses_venv[0], (name, job_name)


def test_the_auto_rollback_rolls_back_the_stack_the_failed_run_recorded(app: Path,
                                                                        tmp_path: Path) -> None:  # fmt: skip
    """Never the failed run's branch or commit; and the artifact's paths line up although the jobs
    run in infra/ and actions take paths from the repository root: the deploy job's record step
    and upload, then the decide job's download and stack step, run here for a manual deploy of
    prod (from any branch)."""
    text = (app / ".github" / "workflows" / "deplight-auto-rollback.yml").read_text()
    assert "head_branch" not in text and "head_sha" not in text and "env-for-ref" not in text
    auto, deploy = (
        workflows(app)["deplight-auto-rollback.yml"],
        workflows(app)["deplight-deploy.yml"],
    )
    envs = [j.get("environment") for j in auto["jobs"].values() if j.get("environment")]
    assert envs == [f"${{{{ format('{{0}}{ROLLBACK_ENVIRONMENT_SUFFIX}', "
                    "needs.decide.outputs.stack) }}"]  # fmt: skip
    decide = auto["jobs"]["decide"]
    assert all("ref" not in (s.get("with") or {}) for s in decide["steps"]), "default branch's code"

    def run_step(step: dict[str, Any], cwd: Path, **env: str) -> None:
        """Runs ``step`` as its job would, with ``env`` for what GitHub fills in."""
        script = step["run"].replace(".venv/bin/python", sys.executable)
        done = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True,
                              env={"PATH": os.environ["PATH"], **env}, timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

    rollback_runner = tmp_path / "checkout"  # the decide job's own checkout of the repository
    shutil.copytree(app, rollback_runner)
    job = deploy["jobs"]["deploy"]
    record = next(i for i, s in enumerate(job["steps"]) if "deploy-record" in s.get("run", ""))
    run_step(job["steps"][record], app / job["defaults"]["run"]["working-directory"],
             STACK="prod", GITHUB_SHA="3f2a9c1d" * 5, GITHUB_RUN_ID="4242")  # fmt: skip
    upload = job["steps"][record + 1]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["name"] == DEPLOY_ARTIFACT
    download = next(s for s in decide["steps"] if "download-artifact" in s.get("uses", ""))
    assert download["with"]["name"] == DEPLOY_ARTIFACT
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    # the artifact carries the upload path's files; the download puts them under its path
    shutil.copytree(app / upload["with"]["path"], rollback_runner / download["with"]["path"])
    output = tmp_path / "github_output"
    stack = next(s for s in decide["steps"] if s.get("id") == "env")
    run_step(stack, rollback_runner / decide["defaults"]["run"]["working-directory"],
             RUN_ID="4242", GITHUB_OUTPUT=str(output))  # fmt: skip
    assert output.read_text() == "stack=prod\n"
    assert decide["outputs"]["stack"] == "${{ steps.env.outputs.stack }}"


def test_the_rollback_confirmation_runs_on_the_projects_stack_files(app: Path) -> None:
    """The step of rollback.yml (tests/test_workflows.py), run where the template's job runs: in
    the project's directory, by the stack's deplight:tier, whatever its name."""
    job = workflows(app)["deplight-rollback.yml"]["jobs"]["rollback"]
    cwd = app / job["defaults"]["run"]["working-directory"]
    (cwd / "Pulumi.qa.yaml").write_text("config:\n  deplight:tier: production\n")
    for stack, confirm, passes in [("dev", "", True), ("prod", "", False), ("qa", "", False),
                                   ("prod", "ROLLBACK-PROD", True)]:  # fmt: skip
        run = run_confirmation(job, cwd, stack, confirm)
        assert (run.returncode == 0) is passes, (stack, confirm, run.stdout + run.stderr)


def test_the_readme_names_everything_the_workflows_need(app: Path) -> None:
    readme = (app / "infra" / "README.md").read_text()
    text = "".join(p.read_text() for p in (app / ".github" / "workflows").glob("*.yml"))
    needed = set(re.findall(r"\b(?:vars|secrets)\.(\w+)", text)) - {"GITHUB_TOKEN"}
    needed |= set(STACKS) | {f"{s}{ROLLBACK_ENVIRONMENT_SUFFIX}" for s in STACKS}
    assert {"PREVIEW_PULUMI_CONFIG_PASSPHRASE", "AWS_DEPLOY_ROLE_ARN"} <= needed
    assert sorted(n for n in needed if f"`{n}`" not in readme) == []
    assert "`deplight:tier` is production, or unset, needs the confirm input `ROLLBACK-PROD`" in (
        " ".join(readme.split())
    )
