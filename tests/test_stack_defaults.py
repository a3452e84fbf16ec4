"""A stack file holds only what differs from its tier's defaults (README: configuration).

Every committed ``Pulumi.<stack>.yaml`` and every stack file ``deplight init`` writes is walked
key by key, down to the leaves of nested objects: a key whose removal leaves the parsed settings
as they were repeats a default, whether the default comes from the tier's table, from the field
(the same in every tier) or from the stack (``github.subjects``: ``environment:<stack>``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.settings import NAMESPACE, Settings, SettingsError
from deplight import cli
from deplight.harness import read_stack_config, settings_for
from deplight.init import collect, plan_files
from tests.conftest import COMMITTED_STACKS

TIER_KEY = f"{NAMESPACE}:tier"
"""Not walked: the tier is what the defaults are relative to, and a stack file names it so that a
reader knows which column of the README's table applies (Pulumi.yaml's default is production)."""


def leaves(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every key path to a value that is not a non-empty mapping (lists are values)."""
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            yield from leaves(inner, (*path, str(key)))
    else:
        yield path, value


def without(config: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """``config`` with the key at ``path`` removed (copies only the mappings on the way)."""
    out = dict(config)
    if len(path) == 1:
        del out[path[0]]
    else:
        out[path[0]] = without(out[path[0]], path[1:])
    return out


def comparable(settings: Settings) -> Settings:
    """Warnings aside: a key the rest of the settings ignore warns, and still repeats a default."""
    return dataclasses.replace(settings, warnings=())


def repeated_defaults(stack: str, config: Mapping[str, Any]) -> list[str]:
    """``deplight:`` keys of ``config`` (full keys, YAML values) that repeat a default, each as
    ``key: value``. A key without which the stack is invalid (``github.repository``) is needed."""
    whole = comparable(settings_for(stack, config))
    found = []
    for path, value in leaves(config, ()):
        if not path[0].startswith(f"{NAMESPACE}:") or path[0] == TIER_KEY:
            continue
        try:
            reduced = comparable(settings_for(stack, without(config, path)))
        except SettingsError:
            continue
        if reduced == whole:
            found.append(f"{'.'.join(path)}: {value!r}")
    return found


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_a_committed_stack_file_repeats_no_default(stack: str) -> None:
    found = repeated_defaults(stack, read_stack_config(stack))
    assert found == [], f"Pulumi.{stack}.yaml repeats its tier's defaults: {found}"


# -- the check itself, on synthetic stacks ----------------------------------------------------

REQUIRED = {
    "aws:region": "us-east-1",
    f"{NAMESPACE}:image_tag": "3f2a9c1",
    f"{NAMESPACE}:github": {"repository": "example-org/example-service",
                            "oidc_provider": "create"},
}  # fmt: skip


def stack_with(tier: str, key: str, value: Any) -> dict[str, Any]:
    """REQUIRED, the tier, and ``value`` at the dotted ``key`` (``data.postgres.instances``)."""
    config: dict[str, Any] = {**REQUIRED, TIER_KEY: tier}
    first, *rest = key.split(".")
    full = f"{NAMESPACE}:{first}"
    if not rest:
        config[full] = value
        return config
    root = node = dict(config.get(full, {}))
    for part in rest[:-1]:
        inner = dict(node.get(part, {}))
        node[part] = inner
        node = inner
    node[rest[-1]] = value
    config[full] = root
    return config


def test_the_required_keys_alone_repeat_nothing() -> None:
    assert repeated_defaults("dev", {**REQUIRED, TIER_KEY: "development"}) == []


@pytest.mark.parametrize(
    ("tier", "key", "value"),
    [
        ("development", "network.nat", "single"),  # the tier's table
        ("production", "network.nat", "per_az"),
        ("production", "service.cpu", 1024),
        ("development", "deploy.strategy", "rolling"),
        ("production", "deploy.percent", 10),  # the field's, the same in every tier
        ("development", "service.container_port", 8080),
        ("production", "observability.alarm_5xx_rate_percent", 1),  # 1 parses as 1.0
        ("production", "data.postgres.instances", 2),  # the data tier's table, two levels down
        ("development", "data.cache.nodes", 1),
        ("development", "github.subjects", ["environment:dev"]),  # environment:<stack>
        ("development", "service.environment", {}),
    ],
)
def test_a_repeated_default_is_named_with_its_value(tier: str, key: str, value: Any) -> None:
    config = stack_with(tier, key, value)
    assert repeated_defaults("dev", config) == [f"{NAMESPACE}:{key}: {value!r}"]


@pytest.mark.parametrize(
    ("tier", "key", "value"),
    [
        ("development", "network.nat", "per_az"),
        ("production", "network.nat", "single"),
        ("production", "service.cpu", 512),
        ("production", "deploy.percent", 20),
        ("production", "data.postgres.instances", 3),
        ("development", "github.subjects", ["environment:dev", "ref:refs/heads/main"]),
        ("development", "service.environment", {"LOG_LEVEL": "debug"}),
    ],
)
def test_a_value_that_differs_is_not_a_repeat(tier: str, key: str, value: Any) -> None:
    assert repeated_defaults("dev", stack_with(tier, key, value)) == []


# -- the stack files `deplight init` writes ---------------------------------------------------


@pytest.mark.parametrize(
    "flags",
    [
        [],  # every answer at its default: service web, port 8080, /health
        ["--service-name", "billing", "--port", "3000", "--health-check-path", "/healthz",
         "--certificate-arn",
         "arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"],
    ],
    ids=["default-answers", "own-answers"],
)  # fmt: skip
def test_a_stack_file_init_writes_repeats_no_default(tmp_path: Path, flags: list[str]) -> None:
    args = cli.build_parser().parse_args(
        ["init", str(tmp_path / "infra"), "--repository", "example-org/web", "--region",
         "eu-west-1", *flags]
    )  # fmt: skip
    files = plan_files(collect(args, interactive=False))
    for stack in ("dev", "prod"):
        text = files[tmp_path / "infra" / f"Pulumi.{stack}.yaml"]
        assert isinstance(text, str)
        config = yaml.safe_load(text)["config"]
        found = repeated_defaults(stack, config)
        assert found == [], f"init's Pulumi.{stack}.yaml repeats its tier's defaults: {found}"
