"""``deplight init``: a team's project in its application repository, and finding it again."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from deplight import cli
from deplight.check import evaluate_in_process, load_policy_config
from deplight.harness import run_program
from deplight.init import InitError, collect, service_name_from
from deplight.project import find_project
from tests.conftest import ROOT
from tests.test_workflows import WORKFLOWS, load

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
