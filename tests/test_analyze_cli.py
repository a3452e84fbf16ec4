"""`deplight analyze` on the command line: exit codes, one JSON document always, --write, the
settings block (validated by the program's parser) and the comparison with committed stacks."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml

from components.settings import ServiceSettings, SettingsError
from deplight.analyze.command import MARKER
from deplight.analyze.engine import analyze
from deplight.analyze.stack import compare, merged_settings, settings_block, validate_block
from deplight.cli import main
from deplight.harness import read_stack_config
from tests.test_analyze_rules import EXPECTED, FIXTURES, SERVICES


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["analyze", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", FIXTURES)
def test_json_is_the_report_and_the_block_validates(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, str(SERVICES / name), "--json", "--no-cache")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] is True and doc["error"] is None
    assert doc["report"] == json.loads((EXPECTED / f"{name}.json").read_text())
    if name == "unknown":
        assert doc["settings_block"] is None
        return
    settings = validate_block(doc["settings_block"])
    findings = doc["report"]["findings"]
    assert settings.service.container_port == findings["port"]["value"]
    assert settings.service.cpu == findings["resources"]["value"]["cpu"]
    assert settings.service.memory == findings["resources"]["value"]["memory"]


def test_block_is_what_a_user_pastes_under_config(tmp_path: Path) -> None:
    block = settings_block(analyze(SERVICES / "spring-boot").report)
    assert block is not None and block.startswith("  deplight:service:\n")
    keys = set(yaml.safe_load("config:\n" + block)["config"]["deplight:service"])
    assert keys <= {f.name for f in dataclasses.fields(ServiceSettings)}
    # pasted into a stack file that has no service block yet, the file parses and validates
    stack_file = tmp_path / "Pulumi.new.yaml"
    stack_file.write_text(
        "config:\n  aws:region: eu-west-1\n  deplight:tier: development\n"
        "  deplight:github:\n    repository: example-org/example-service\n"
        "    oidc_provider: create\n" + block
    )
    config = yaml.safe_load(stack_file.read_text())["config"]
    from deplight.harness import settings_for

    settings = settings_for("new", config)
    assert (settings.service.container_port, settings.service.memory) == (8081, 2048)


def test_the_block_goes_through_the_real_settings_parser() -> None:
    with pytest.raises(SettingsError, match=r"deplight:service.cpu: expected a valid Fargate CPU"):
        validate_block("  deplight:service:\n    cpu: 300\n    memory: 512\n")


def test_missing_path_is_exit_2_with_one_line(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:  # fmt: skip
    code, out, err = run(capsys, str(tmp_path / "nope"))
    assert code == 2 and out == ""
    assert err == f"deplight analyze: PATH {tmp_path / 'nope'}: no such file or directory\n"
    code, out, _ = run(capsys, str(tmp_path / "nope"), "--json")
    doc = json.loads(out)
    assert code == 2 and doc["exit_code"] == 2 and doc["ok"] is False
    assert doc["error"] == f"PATH {tmp_path / 'nope'}: no such file or directory"


def test_path_that_is_a_file_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    code, _, err = run(capsys, str(tmp_path / "app.py"))
    assert code == 2 and "not a directory" in err and err.count("\n") == 1


@pytest.mark.parametrize("args", [["--json"], ["--json", "x", "--bogus"],
                                  ["x", "--json", "--markdown"]])  # fmt: skip
def test_usage_errors_with_json_are_one_json_document(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["analyze", *args])
    assert exc.value.code == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["error"].startswith("deplight analyze: ")


def test_force_without_write_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(SERVICES / "express"), "--force", "--no-cache")
    assert code == 2 and "--force only applies with --write" in err


def test_write_creates_files_and_never_overwrites_without_force(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    service = tmp_path / "express"
    shutil.copytree(SERVICES / "express", service)
    code, out, _ = run(capsys, str(service), "--write", "--no-cache")
    assert code == 0 and f"Wrote Dockerfile, .dockerignore in {service}" in out
    assert 'CMD ["node", "src/server.js"]' in (service / "Dockerfile").read_text()
    (service / "Dockerfile").write_text("# mine\n")
    code, _, err = run(capsys, str(service), "--write", "--no-cache")
    assert code == 1 and ".dockerignore, Dockerfile already exist" in err and "--force" in err
    assert (service / "Dockerfile").read_text() == "# mine\n"
    code, out, _ = run(capsys, str(service), "--write", "--force", "--no-cache", "--json")
    assert code == 0 and json.loads(out)["written"] == ["Dockerfile", ".dockerignore"]
    assert (service / "Dockerfile").read_text().startswith("# syntax=docker/dockerfile:1")


def test_write_refuses_an_existing_dockerfile(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:  # fmt: skip
    service = tmp_path / "fastapi"
    shutil.copytree(SERVICES / "fastapi-dockerfile", service)
    before = (service / "Dockerfile").read_text()
    code, out, _ = run(capsys, str(service), "--write", "--json", "--no-cache")
    doc = json.loads(out)
    assert code == 1 and doc["error"].startswith("Dockerfile already exists in")
    assert (service / "Dockerfile").read_text() == before and not (
        service / ".dockerignore"
    ).exists()


def test_write_for_an_unknown_service_fails_with_the_reason(capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:  # fmt: skip
    service = tmp_path / "unknown"
    shutil.copytree(SERVICES / "unknown", service)
    code, out, err = run(capsys, str(service), "--write", "--no-cache")
    assert code == 1 and "cannot write a Dockerfile" in err and "Could not tell:" in out
    assert not (service / "Dockerfile").exists()


def test_compare_with_committed_stacks(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(SERVICES / "flask-gunicorn"), "--json", "--no-cache",
                       "--stack", "prod")  # fmt: skip
    doc = json.loads(out)
    assert code == 0 and list(doc["comparisons"]) == ["prod"]
    (port,) = [m for m in doc["comparisons"]["prod"] if m["key"] == "container_port"]
    assert (port["committed"], port["suggested"], port["severity"]) == (8080, 5000, "error")
    code, out, _ = run(capsys, str(SERVICES / "flask-gunicorn"), "--json", "--no-cache",
                       "--all-stacks")  # fmt: skip
    assert sorted(json.loads(out)["comparisons"]) == ["dev", "prod", "staging"]


def test_unknown_stack_is_bad_input_before_anything_is_written(capsys: pytest.CaptureFixture[str],
                                                               tmp_path: Path) -> None:  # fmt: skip
    service = tmp_path / "express"
    shutil.copytree(SERVICES / "express", service)
    code, _, err = run(capsys, str(service), "--stack", "nope", "--write", "--no-cache")
    assert code == 2 and "no stack file Pulumi.nope.yaml" in err and "available stacks" in err
    assert not (service / "Dockerfile").exists()


def test_markdown_is_the_pr_comment(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(SERVICES / "go-gin"), "--markdown", "--no-cache",
                       "--stack", "dev")  # fmt: skip
    assert code == 0 and out.startswith(MARKER + "\n### deplight analyze")
    assert "| port | 9090 | gin Run address | `main.go:22` |" in out
    assert "**`Pulumi.dev.yaml` differs from the analysis**" in out
    assert "| error | `container_port` | 8080 | 9090 |" in out
    assert "```yaml\n  deplight:service:\n    container_port: 9090" in out


def test_text_output_lists_every_answer_with_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(SERVICES / "rails"), "--no-cache")
    assert code == 0
    assert "  health_check_path  /up\n" in out and "(config/routes.rb:3)" in out
    assert "Settings (paste under `config:` in Pulumi.<env>.yaml" in out


# -- the comparison itself --------------------------------------------------------------------


def committed(**kw: object) -> ServiceSettings:
    return ServiceSettings(**kw)  # type: ignore[arg-type]


def test_compare_agrees_when_the_stack_matches() -> None:
    report = analyze(SERVICES / "go-gin").report
    assert compare(report, committed(container_port=9090, health_check_path="/ping")) == []


def test_compare_flags_port_health_and_undersized_tasks() -> None:
    report = analyze(SERVICES / "spring-boot").report
    found = {m.key: m for m in compare(report, committed(cpu=256, memory=512))}
    assert set(found) == {"container_port", "health_check_path", "memory", "cpu"}
    assert found["container_port"].severity == "error"
    assert (found["memory"].committed, found["memory"].suggested) == (512, 2048)
    assert found["health_check_path"].severity == "warning"


def test_compare_accepts_any_health_route_the_service_has(tmp_path: Path) -> None:
    (tmp_path / "main.go").write_text(
        'package main\nfunc main() {\n\tmux.HandleFunc("/healthz", h)\n\tmux.HandleFunc("/ready", h)'
        '\n\thttp.ListenAndServe(":8080", mux)\n}\n')  # fmt: skip
    (tmp_path / "go.mod").write_text("module x\n\ngo 1.22\n")
    report = analyze(tmp_path).report
    assert report.value("health_check_path") == "/healthz"
    assert compare(report, committed(health_check_path="/ready")) == []


def test_compare_says_so_when_no_health_endpoint_was_found(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("module x\n\ngo 1.22\n")
    (tmp_path / "main.go").write_text(
        'package main\nfunc main() { http.ListenAndServe(":8080", nil) }\n'
    )
    (m,) = compare(analyze(tmp_path).report, committed())
    assert m.key == "health_check_path" and "no health endpoint found" in m.why


def test_merged_stack_is_validated(tmp_path: Path) -> None:
    block = settings_block(analyze(SERVICES / "spring-boot").report)
    assert block is not None
    merged = merged_settings("prod", read_stack_config("prod"), block)
    assert merged.service.container_port == 8081
    # the stack's own keys survive the merge
    assert merged.service.environment == {"LOG_LEVEL": "info"}
    assert merged.data.postgres.enabled


def test_agreement_names_the_keys_compared(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(SERVICES / "go-nethttp"), "--stack", "dev", "--no-cache")
    assert code == 0 and "Pulumi.dev.yaml differs" in out  # /healthz, 256/512 vs /health
    code, out, _ = run(capsys, str(SERVICES / "unknown"), "--stack", "dev", "--no-cache")
    assert "Pulumi.dev.yaml: nothing to compare, the analysis decided none of its keys." in out


def test_agreement_with_a_matching_stack_in_another_project(capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:  # fmt: skip
    from tests.conftest import ROOT

    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(ROOT / "__main__.py", tmp_path / "__main__.py")
    (tmp_path / "Pulumi.svc.yaml").write_text(
        "config:\n  deplight:tier: development\n  deplight:service:\n    container_port: 9090\n"
        "    health_check_path: /ping\n    cpu: 256\n    memory: 512\n"
        "  deplight:github:\n    repository: example-org/example-service\n"
        "    oidc_provider: create\n")  # fmt: skip
    code, out, _ = run(capsys, str(SERVICES / "go-gin"), "--all-stacks", "--project-dir",
                       str(tmp_path), "--no-cache")  # fmt: skip
    assert code == 0
    assert (
        "Pulumi.svc.yaml agrees with the analysis on container_port, health_check_path, cpu, "
        "memory."
    ) in out


def test_a_write_error_fails_with_json(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:  # fmt: skip
    service = tmp_path / "go"
    shutil.copytree(SERVICES / "go-gin", service)
    (service / "Dockerfile").mkdir()  # os.replace cannot put a file there, even as root
    code, out, _ = run(capsys, str(service), "--write", "--force", "--json", "--no-cache")
    doc = json.loads(out)
    assert code == 1 and doc["error"].startswith(f"--write: cannot write into {service}: ")
    assert not list(service.glob(".Dockerfile.*.tmp"))  # no temporary file left behind
