"""The whole program for every committed stack, and what happens with invalid settings."""

from __future__ import annotations

import pytest

from components.settings import SettingsError
from deplight.harness import read_stack_config, run_program
from tests.conftest import COMMITTED_STACKS, program_run


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
