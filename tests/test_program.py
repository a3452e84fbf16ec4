"""The whole program for every committed stack, and what happens with invalid settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.settings import SettingsError
from deplight.harness import read_stack_config, run_program
from tests.conftest import COMMITTED_STACKS, ROOT, program_run


def test_committed_stacks_include_dev_and_prod() -> None:
    assert {"dev", "prod"} <= set(COMMITTED_STACKS)


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_every_committed_stack_registers_a_component_tree(stack: str) -> None:
    run = program_run(stack)
    custom = [r for r in run.resources if r.custom]
    components = [r for r in run.resources if not r.custom]
    assert len(custom) >= 20, f"{stack}: only {len(custom)} resources"
    assert components and all(c.type.startswith("deplight:") for c in components)
    urns = {r.urn for r in run.resources}
    # every cloud resource sits inside a Deplight component (STYLE: no parent-less resources)
    orphans = [r.name for r in custom if r.parent not in urns]
    assert not orphans, f"{stack}: resources without a component parent: {orphans}"
    assert run.outputs["image_tag"] == run.settings.image_tag


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_names_derive_from_the_stack(stack: str) -> None:
    run = program_run(stack)
    prefix = run.settings.prefix
    assert all(r.name.startswith(prefix) for r in run.resources), [
        r.name for r in run.resources if not r.name.startswith(prefix)
    ]


def test_two_stacks_never_share_a_logical_name() -> None:
    dev = {r.name for r in program_run("dev").resources}
    prod = {r.name for r in program_run("prod").resources}
    assert not dev & prod


def test_invalid_settings_register_nothing() -> None:
    config = read_stack_config("dev")
    config["deplight:service"] = {"cpu": 300, "health_check_path": "health"}
    config["deplight:network"] = {"cidr": "8.8.8.0/24"}
    with pytest.raises(SettingsError) as info:
        run_program("dev", config)
    assert len(info.value.errors) >= 3


def test_program_itself_refuses_invalid_settings_without_the_harness_precheck(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`pulumi up` runs __main__.py directly: it must stop with the same list, as a RunError."""
    import pulumi

    from deplight import harness

    config = read_stack_config("dev")
    config["deplight:image_tag"] = "latest"
    committed = harness.settings_for("dev", read_stack_config("dev"))
    monkeypatch.setattr(harness, "settings_for", lambda stack, cfg: committed)
    with pytest.raises(pulumi.RunError, match="deplight:image_tag"):
        run_program("dev", config)


SECRET_VALUE = "s3cr3t-token-value"


def test_a_secret_setting_is_refused_before_anything_is_registered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`pulumi config set --secret --path deplight:service.environment.API_TOKEN ...`: the program
    itself (not only the harness precheck) refuses it, names service.secrets, never prints the
    value, and registers nothing, so the value reaches neither a task definition nor state."""
    import pulumi

    from deplight import harness

    registered: list[str] = []
    original = harness.RecordingMonitor.RegisterResource

    def spy(self: Any, request: Any) -> Any:
        registered.append(request.type)
        return original(self, request)

    monkeypatch.setattr(harness.RecordingMonitor, "RegisterResource", spy)
    config = read_stack_config("prod")
    config["deplight:service"] = {**config["deplight:service"],
                                  "environment": {"API_TOKEN": SECRET_VALUE}}  # fmt: skip
    committed = harness.settings_for("prod", read_stack_config("prod"))
    monkeypatch.setattr(harness, "settings_for", lambda stack, cfg: committed)
    with pytest.raises(pulumi.RunError) as info:
        run_program("prod", config, secret=["deplight:service"])
    message = str(info.value)
    assert "deplight:service:" in message and "deplight:service.secrets" in message
    assert SECRET_VALUE not in message
    assert [t for t in registered if t != "pulumi:pulumi:Stack"] == []


def test_a_secure_value_in_a_stack_file_is_refused_offline_too(tmp_path: Path) -> None:
    """`deplight plan/check` read the stack file: a nested `secure:` value is a refused secret."""
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    stack_file = (ROOT / "Pulumi.dev.yaml").read_text().replace(
        "      LOG_LEVEL: debug",
        "      LOG_LEVEL: debug\n      API_TOKEN:\n        secure: v1:AbCdEf==",
    )  # fmt: skip
    (tmp_path / "Pulumi.dev.yaml").write_text(stack_file)
    config = read_stack_config("dev", tmp_path)
    with pytest.raises(SettingsError) as info:
        run_program("dev", config)
    assert [e.split(":", 2)[1] for e in info.value.errors] == ["service"]
    assert "v1:AbCdEf" not in str(info.value)


def test_secret_arns_reach_the_task_only_as_value_from() -> None:
    run = program_run("prod")
    secrets = dict(run.settings.service.secrets)
    task = run.one("aws:ecs/taskDefinition:TaskDefinition")
    (app,) = [c for c in json.loads(task.inputs["containerDefinitions"])
              if c["name"] == run.settings.service.name]  # fmt: skip
    value_from = {s["name"]: s["valueFrom"] for s in app["secrets"]}
    # the committed prod stack's task reads the data tier's credentials (and service.secrets)
    assert {"DATABASE_PASSWORD", "CACHE_AUTH_TOKEN"} <= set(value_from), value_from
    assert all(v.startswith("arn:aws:secretsmanager:") for v in value_from.values()), value_from
    assert all(value_from[k] == v for k, v in secrets.items())
    assert not {e["name"] for e in app["environment"]} & set(value_from)
