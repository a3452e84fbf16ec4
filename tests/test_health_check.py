"""``service.health_check``: images without a shell or curl can run, and the default is unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.ecs_service import container_definitions, health_check_command
from components.settings import (
    HealthCheckSettings,
    HealthCheckType,
    SettingsError,
    parse_settings,
)
from deplight.check import evaluate_in_process, load_policy_config
from tests.conftest import ROOT
from tests.test_ecs_service import REPO, TASKDEF, variant

GH = {"github": {"repository": "example-org/example-service", "oidc_provider": "create"}}
"""Keys every stack file must set (no defaults)."""


def service(health_check: Any) -> Any:
    return parse_settings("dev", {**GH, "tier": "development",
                                  "service": {"health_check": health_check}}).service  # fmt: skip


def app_container(settings: Any) -> dict[str, Any]:
    return container_definitions(settings=settings, image=f"{REPO}:abcdef0", log_group="/ecs/x",
                                 region="us-east-1", tracing_name="web-dev")[0]  # fmt: skip


def test_the_default_is_still_curl_against_the_health_path() -> None:
    settings = parse_settings("dev", {**GH, "tier": "development"}).service
    assert settings.health_check == HealthCheckSettings(type=HealthCheckType.CURL)
    assert app_container(settings)["healthCheck"]["command"] == [
        "CMD-SHELL", "curl -fsS http://localhost:8080/health || exit 1"]  # fmt: skip


def test_http_means_no_container_check() -> None:
    settings = service("http")
    assert settings.health_check.type is HealthCheckType.HTTP
    assert health_check_command(settings) is None
    assert "healthCheck" not in app_container(settings)
    assert service({"type": "http"}) == settings


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["/app/healthcheck", "--port", "8080"], ["CMD", "/app/healthcheck", "--port", "8080"]),
        (["CMD", "/grpc_health_probe", "-addr=:8080"], ["CMD", "/grpc_health_probe", "-addr=:8080"]),
        (["CMD-SHELL", "wget -qO- localhost:8080/health"],
         ["CMD-SHELL", "wget -qO- localhost:8080/health"]),
    ],
)  # fmt: skip
def test_command_runs_the_images_own_program(command: list[str], expected: list[str]) -> None:
    settings = service({"type": "command", "command": command})
    check = app_container(settings)["healthCheck"]
    assert check["command"] == expected and check["interval"] == 15 and check["retries"] == 3


@pytest.mark.parametrize(
    ("health_check", "fragment"),
    [
        ("sometimes", "deplight:service.health_check.type: expected one of curl, http, command, "
                      "found 'sometimes'"),
        ({"type": "command"}, "deplight:service.health_check.command: expected a non-empty list"),
        ({"type": "command", "command": "/app/hc"},
         "deplight:service.health_check.command: expected a non-empty list"),
        ({"type": "command", "command": ["CMD"]}, "deplight:service.health_check.command"),
        ({"type": "http", "command": ["/app/hc"]},
         "deplight:service.health_check.command: expected no command with type http"),
        ({"type": "http", "interval": 5}, "deplight:service.health_check.interval: unknown key"),
        (42, "deplight:service.health_check: expected an object"),
    ],
)  # fmt: skip
def test_bad_health_checks_name_the_key(health_check: Any, fragment: str) -> None:
    with pytest.raises(SettingsError) as exc:
        service(health_check)
    assert any(fragment in e for e in exc.value.errors), exc.value.errors


def test_a_distroless_stack_plans_and_passes_the_policy_pack() -> None:
    run = variant("prod", service={"health_check": {"type": "http"}})
    (app, *_) = json.loads(run.one(TASKDEF).inputs["containerDefinitions"])
    assert "healthCheck" not in app
    for tg in run.of_type("aws:lb/targetGroup:TargetGroup"):
        assert tg.inputs["healthCheck"]["path"] == "/health", "the load balancer still checks"
    config, _ = load_policy_config("prod", ROOT / "policies")
    # No container check is a choice the pack makes a team state: only the one rule objects ...
    found = [v for v in evaluate_in_process(run, config) if v.level == "mandatory"]
    assert {v.policy for v in found} == {"deployment-container-health-check"}, found
    # ... and relaxing it in the stack's policy config is how that choice is recorded.
    relaxed = {**config, "deployment-container-health-check": "advisory"}
    assert [v for v in evaluate_in_process(run, relaxed) if v.level == "mandatory"] == []


def test_the_readme_states_the_app_contract() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The app contract", 1)[1].split("\n## ", 1)[0]
    for phrase in ("container_port", "0.0.0.0", "health_check_path", "`http`", "`curl`",
                   "type: command", "stdout", "SIGTERM", "30 seconds", "PID 1"):  # fmt: skip
        assert phrase in section, phrase
