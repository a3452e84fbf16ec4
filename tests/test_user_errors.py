"""Errors in the user's terms: cheap checks first, one line (or one JSON document), no traceback.

The commands run as a user runs them (a subprocess) where a traceback or stray output could
escape; in-process through ``deplight.cli.main`` where only the exit code and text matter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.settings import (
    DeploySettings,
    IngressSettings,
    NetworkSettings,
    ObservabilitySettings,
    ServiceSettings,
    SettingsError,
    parse_settings,
)
from deplight import cli
from deplight.harness import run_program
from policies.rules import load_balancers
from policies.rules.stack_keys import SETTING_FOR, setting_for
from tests.conftest import ROOT
from tests.test_cli_plan import deplight

DEV = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]

GH = {"github": {"repository": "example-org/example-service", "oidc_provider": "create"}}
"""Keys every stack file must set (no defaults)."""


def project(tmp_path: Path, config: dict[str, Any], *, program: bool = True) -> Path:
    """A project directory like a team's: its own Pulumi.yaml and stack file."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    if program:
        shutil.copy(ROOT / "__main__.py", tmp_path / "__main__.py")
        (tmp_path / "components").symlink_to(ROOT / "components")
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    return tmp_path


# -- not a Deplight project ------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["plan", "check"])
def test_a_project_without_a_program_is_a_one_line_error(tmp_path: Path, command: str) -> None:
    root = project(tmp_path, DEV, program=False)
    result = deplight(command, "--stack", "dev", cwd=root)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "is not a Deplight project" in result.stderr and "__main__.py" in result.stderr


def test_an_unrelated_directory_is_a_one_line_error(tmp_path: Path) -> None:
    result = deplight("plan", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "no Pulumi project found" in result.stderr and "deplight init" in result.stderr


def test_another_runtime_is_not_a_deplight_project(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: site\nruntime: nodejs\n")
    result = deplight("check", "--project-dir", str(tmp_path), "--json", cwd=tmp_path)
    assert result.returncode == 2
    assert "runtime is 'nodejs'" in json.loads(result.stdout)["error"]


# -- release commands: arguments before environment ------------------------------------------------


@pytest.fixture
def no_pulumi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No pulumi CLI on PATH: an argument error must still come first, as exit 2."""
    monkeypatch.setenv("PATH", str(tmp_path))


def test_a_malformed_tag_is_exit_2_before_the_missing_cli(
    no_pulumi: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["deploy", "--stack", "dev", "--image-tag", "latest"]) == 2
    err = capsys.readouterr().err
    assert "--image-tag: expected a git commit SHA" in err and "pulumi CLI" not in err


def test_an_unknown_stack_is_exit_2_locally(
    no_pulumi: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["deploy", "--stack", "nosuch", "--image-tag", "3f2a9c1", "--json"]) == 2
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["status"] == "error" and doc["exit_code"] == 2
    assert "no stack file Pulumi.nosuch.yaml" in doc["error"]
    assert "available stacks: dev, prod, staging" in doc["error"]
    assert "pulumi CLI" not in captured.err


def test_wrong_confirmation_text_is_exit_2_before_the_missing_cli(
    no_pulumi: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["rollback", "--stack", "prod", "--confirm", "yes please"]) == 2
    err = capsys.readouterr().err
    assert "--confirm: expected ROLLBACK-PROD, found 'yes please'" in err
    assert "pulumi CLI" not in err


def test_a_good_invocation_still_reaches_the_environment_check(
    no_pulumi: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["deploy", "--stack", "dev", "--image-tag", "3f2a9c1"]) == 1
    assert "the pulumi CLI is not on PATH" in capsys.readouterr().err


# -- settings: region, AZs, ignored keys -----------------------------------------------------------


def test_an_unknown_region_is_rejected_with_a_suggestion() -> None:
    with pytest.raises(SettingsError) as exc:
        parse_settings("dev", {**GH, "tier": "development"}, region="us-east-9")
    (message,) = exc.value.errors
    assert message.startswith("aws:region: expected an AWS region") and "'us-east-9'" in message
    assert "did you mean us-east-2 or us-east-1" in message
    for region in ("us-east-1", "eu-central-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1"):
        assert parse_settings("dev", {**GH, "tier": "development"}, region=region).region == region


def test_more_azs_than_aws_promises_are_placeholders_with_a_warning() -> None:
    config = {f"deplight:{k.split(':', 1)[1]}" if k.startswith("deplight:") else k: v
              for k, v in DEV.items()}  # fmt: skip
    config |= {"aws:region": "us-west-1", "deplight:network": {"cidr": "10.10.0.0/16",
                                                                "az_count": 4, "nat": "single"}}  # fmt: skip
    run = run_program("dev", config)
    zones = sorted({s.inputs["availabilityZone"] for s in run.of_type("aws:ec2/subnet:Subnet")})
    assert zones == ["us-west-1a", "us-west-1b", "us-west-1c", "us-west-1d"]
    assert "availability zone 4 of us-west-1" in run.generated["us-west-1d"]
    assert any("network.az_count is 4" in w and "pulumi up" in w for w in run.warnings)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"deploy": {"strategy": "rolling", "traffic": "canary"}},
         ["deplight:deploy.traffic is set but strategy rolling ignores it"]),
        ({"deploy": {"strategy": "codedeploy", "bake_time_minutes": 5}},
         ["deplight:deploy.bake_time_minutes is set but strategy codedeploy ignores it"]),
        ({"deploy": {"strategy": "ecs_bluegreen", "blue_termination_minutes": 30}},
         ["deplight:deploy.blue_termination_minutes is set but strategy ecs_bluegreen ignores it"]),
        ({"deploy": {"strategy": "codedeploy", "traffic": "all_at_once", "percent": 20}},
         ["deplight:deploy.percent is set but traffic all_at_once ignores it"]),
        ({"service": {"xray_daemon_image": "public.ecr.aws/xray/aws-xray-daemon@sha256:" + "a" * 64}},
         ["deplight:service.xray_daemon_image is set but service.xray is false"]),
        ({"ingress": {"ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}},
         ["deplight:ingress.ssl_policy is set but without ingress.certificate_arn (or "
          "ingress.domain) there is no HTTPS listener"]),
        ({"deploy": {"strategy": "codedeploy", "traffic": "canary", "percent": 20}}, []),
    ],
)  # fmt: skip
def test_settings_the_strategy_ignores_are_warned_about(raw: dict[str, Any],
                                                        expected: list[str]) -> None:  # fmt: skip
    settings = parse_settings("dev", {**GH, "tier": "development", **raw})
    assert list(settings.warnings) == expected


def test_the_plan_shows_ignored_settings(tmp_path: Path) -> None:
    config = {**DEV, "deplight:deploy": {"strategy": "rolling", "traffic": "canary"}}
    result = deplight("plan", cwd=project(tmp_path, config))
    assert result.returncode == 0, result.stderr
    assert (
        "warning: deplight:deploy.traffic is set but strategy rolling ignores it" in result.stdout
    )


# -- YAML, JSON and -v -----------------------------------------------------------------------------


def test_a_yaml_error_points_at_the_offending_line(tmp_path: Path) -> None:
    root = project(tmp_path, DEV)
    (root / "Pulumi.dev.yaml").write_text(
        "config:\n  deplight:tier: development\n  deplight:service:\n    name: web\n   cpu: 256\n"
    )
    result = deplight("plan", cwd=root)
    assert result.returncode == 2
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith("deplight plan: Pulumi.dev.yaml, line 5, column 4: not valid YAML:")
    assert "(while parsing a block mapping at line 2, column 3)" in first


@pytest.mark.parametrize("command", ["plan", "check"])
def test_json_is_one_document_also_for_a_bad_config(tmp_path: Path, command: str) -> None:
    root = project(tmp_path, {**DEV, "deplight:image_tag": "latest"})
    result = deplight(command, "--json", cwd=root)
    assert result.returncode == 2
    doc = json.loads(result.stdout)
    assert (doc["command"], doc["stack"], doc["status"]) == (command, "dev", "error")
    assert doc["errors"] == ["deplight:image_tag: expected a git commit SHA of 7-40 lowercase hex "
                             "characters, found 'latest'"]  # fmt: skip


def test_json_usage_errors_and_unexpected_errors_are_documents(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["plan", "--json", "--bogus"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --bogus" in json.loads(capsys.readouterr().out)["error"]

    def boom(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr("deplight.harness.run_program", boom)
    assert cli.main(["plan", "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"].startswith("unexpected error: RuntimeError: the disk")
    assert "run with -v for the traceback" in captured.err and "Traceback" not in captured.err


def test_verbose_after_the_subcommand_shows_deplights_debug_lines_only() -> None:
    result = deplight("plan", "--stack", "dev", "-v")
    assert result.returncode == 0, result.stderr
    assert "stack dev: settings valid (tier development, strategy rolling" in result.stderr
    assert "registered" in result.stderr and "resources in" in result.stderr
    assert "asyncio" not in result.stderr and "Using selector" not in result.stderr


# -- policy fixes name the stack key ---------------------------------------------------------------


def test_every_mapped_stack_key_exists() -> None:
    sections = {"service": ServiceSettings, "network": NetworkSettings, "deploy": DeploySettings,
                "ingress": IngressSettings, "observability": ObservabilitySettings}  # fmt: skip
    keys = {v for v in SETTING_FOR.values() if isinstance(v, str)}
    keys |= {setting_for("aws:cloudwatch/logGroup:LogGroup", "retentionInDays", {"name": n})
             for n in ("/ecs/web-dev", "/deplight/web-dev/vpc-flow-logs")}  # fmt: skip
    keys |= {setting_for("aws:ecs/taskDefinition:TaskDefinition", "image", {"name": n})
             for n in ("web", "xray-daemon")}  # fmt: skip
    for key in keys:
        assert key and key.startswith("deplight:"), key
        path = key.split(":", 1)[1]
        if "." in path:
            section, field = path.split(".", 1)
            assert field in sections[section].__dataclass_fields__, key
        else:
            assert path == "image_tag", key


def test_check_fixes_name_the_stack_key_and_the_test_listener_is_not_told_about_port_80() -> None:
    result = deplight("check", "--stack", "dev", "--json")
    assert result.returncode == 0, result.stderr
    by = {
        (v["policy"], v["resource"]): v["message"] for v in json.loads(result.stdout)["violations"]
    }
    assert "Fix: set deplight:ingress.deletion_protection: true in Pulumi.dev.yaml" in by[
        ("alb-deletion-protection", "web-dev-alb")]  # fmt: skip
    assert "Fix: set deplight:service.ecr_immutable_tags: true" in by[
        ("ecr-immutable-tags", "web-dev-repo")]  # fmt: skip
    test_listener = by[("listener-https-only", "web-dev-test")]
    assert "the listener on port 8443 serves plain HTTP" in test_listener
    assert "port 80" not in test_listener and "deplight:ingress.certificate_arn" in test_listener
    assert "port 80 redirects" in by[("listener-https-only", "web-dev-http")]


def test_a_listener_on_another_port_is_told_to_serve_https_there() -> None:
    (message,) = load_balancers.check_https(
        "aws:lb/listener:Listener", {"protocol": "HTTP", "port": 8443,
                                     "defaultActions": [{"type": "forward"}]}, {})  # fmt: skip
    assert "port 80" not in message and "on port 8443 then serves HTTPS" in message


def test_log_retention_fix_names_the_key_of_that_log_group() -> None:
    from policies.rules import logs

    (service,) = logs.check_retention("aws:cloudwatch/logGroup:LogGroup",
                                      {"name": "/ecs/web-dev", "retentionInDays": 7}, {})  # fmt: skip
    (flow,) = logs.check_retention("aws:cloudwatch/logGroup:LogGroup",
                                   {"name": "/deplight/web-dev/vpc-flow-logs",
                                    "retentionInDays": 7}, {})  # fmt: skip
    # the pack's default minimum (no config) is a year: checkov CKV_AWS_338
    assert "set deplight:observability.log_retention_days: 365 or more" in service
    assert "set deplight:network.flow_logs_retention_days: 365 or more" in flow


def test_the_rollback_workflow_explains_the_confirmation_per_tier() -> None:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "rollback.yml").read_text())
    text = doc[True]["workflow_dispatch"]["inputs"]["confirm"]["description"]
    assert "ROLLBACK-PROD" in text and "deplight:tier is production" in text
    assert "staging" in text and "development" in text


def test_check_does_not_hang_without_pythonunbuffered() -> None:
    """The pack prints its port with print(); read through a pipe it must not sit in a buffer."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "PYTHONUNBUFFERED"))}  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "deplight.cli", "check", "--stack", "dev"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("passed: 0 mandatory")
