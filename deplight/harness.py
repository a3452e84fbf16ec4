"""Runs the real Pulumi program under mocks and records every resource it registers.

This is what ``deplight plan`` and ``deplight check`` show and what the tests assert on: the same
``__main__.py`` that ``pulumi up`` runs, with the engine replaced by :mod:`deplight.mocks`. No cloud
call is made and no credentials are needed.
"""

from __future__ import annotations

import json
import logging
import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.settings import NAMESPACE, Settings, parse_settings
from deplight.mocks import DEFAULT_REGION, RealisticMocks

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT_NAME = "deplight"


class StackFileError(ValueError):
    """A stack file that cannot be read at all (missing, not YAML, wrong shape)."""


@dataclass(frozen=True)
class Registered:
    """One resource as the engine saw it: provider property names (camelCase) and options."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    """URN of the parent resource ('' for the stack itself)."""
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    id: str
    ignore_changes: tuple[str, ...] = ()
    protect: bool = False
    retain_on_delete: bool = False
    depends_on: tuple[str, ...] = ()
    additional_secret_outputs: tuple[str, ...] = ()
    """Outputs the engine stores and returns as secrets (the mock monitor does not mark them)."""


@dataclass
class ProgramRun:
    """Everything one mocked run of the program registered."""

    stack: str
    settings: Settings
    resources: list[Registered] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    generated: dict[str, str] = field(default_factory=dict)
    """Values the mocks invented (ids, ARNs, DNS names) -> what they stand for."""
    warnings: list[str] = field(default_factory=list)
    """What the program logged at warning level or above (``pulumi.log.warn``)."""

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name_contains: str = "") -> Registered:
        found = [r for r in self.of_type(type_) if name_contains in r.name]
        exact = [r for r in found if r.name == name_contains]
        found = exact or found
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_)]
            raise LookupError(f"expected one {type_} matching {name_contains!r}, found {names}")
        return found[0]

    def children(self, parent_urn: str) -> list[Registered]:
        return [r for r in self.resources if r.parent == parent_urn]

    def by_urn(self, urn: str) -> Registered:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise LookupError(urn)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that also keeps what the stock one drops: inputs, parent and options."""

    def __init__(self, mocks: RealisticMocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        urn = response.urn
        inputs = rpc.deserialize_properties(request.object)
        reg = self.resources[urn]
        self.registered.append(
            Registered(
                urn=urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent,
                inputs=inputs,
                outputs=dict(reg.state),
                id=reg.id or "",
                ignore_changes=tuple(request.ignoreChanges),
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                depends_on=tuple(request.dependencies),
                additional_secret_outputs=tuple(request.additionalSecretOutputs),
            )
        )
        return response


def read_stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The config a ``pulumi up`` of ``stack`` would see: project defaults, then the stack file.

    Returns full keys (``deplight:service``, ``aws:region``) with YAML values. Secure values
    (``secure: v1:...``) cannot be decrypted offline and stay as the string ``[secret]``.
    """
    project_file = project_dir / "Pulumi.yaml"
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        available = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in
                           project_dir.glob("Pulumi.*.yaml"))  # fmt: skip
        raise StackFileError(
            f"--stack {stack}: no stack file {stack_file.name} in {project_dir} "
            f"(available stacks: {', '.join(available) or 'none'})"
        )
    config: dict[str, Any] = {}
    for path, is_project in ((project_file, True), (stack_file, False)):
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise StackFileError(f"{path.name}: not valid YAML: {exc}") from None
        if not isinstance(doc, dict):
            raise StackFileError(f"{path.name}: expected a mapping at the top, found {doc!r}")
        section = doc.get("config") or {}
        if not isinstance(section, dict):
            raise StackFileError(f"{path.name}: 'config' must be a mapping, found {section!r}")
        for key, value in section.items():
            full = key if ":" in key else f"{NAMESPACE}:{key}"
            if is_project and isinstance(value, dict):
                if "value" in value:
                    value = value["value"]
                elif "default" in value:
                    value = value["default"]
                else:
                    continue  # a schema declaration without a default
            if isinstance(value, dict) and set(value) == {"secure"}:
                value = "[secret]"
            config[full] = value
    return config


def settings_for(stack: str, config: Mapping[str, Any]) -> Settings:
    """Validates ``config`` (full keys) as the program would; raises ``SettingsError``."""
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{NAMESPACE}:")}
    return parse_settings(stack, raw, region=config.get("aws:region"))


def run_program(
    stack: str,
    config: Mapping[str, Any] | None = None,
    *,
    project_dir: Path = PROJECT_DIR,
    preview: bool = False,
) -> ProgramRun:
    """Runs ``__main__.py`` for ``stack`` under mocks and returns what it registered.

    ``config`` defaults to the committed stack file. Settings are validated first, so invalid
    settings raise ``SettingsError`` before a single resource exists.
    """
    project_dir = Path(project_dir).resolve()
    if config is None:
        config = read_stack_config(stack, project_dir)
    settings = settings_for(stack, config)

    mocks = RealisticMocks(region=settings.region or DEFAULT_REGION)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_all_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    )
    pulumi_settings.ROOT.set(None)
    collector = _Collect()
    logger = logging.getLogger(f"deplight.program.{stack}")
    logger.handlers[:] = [collector]
    logger.propagate = False
    pulumi.runtime.set_mocks(mocks, project=PROJECT_NAME, stack=stack, preview=preview,
                             monitor=monitor, logger=logger)  # fmt: skip
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()

    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    exports: dict[str, Any] = {}

    def program() -> None:
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")
        root = pulumi_settings.get_root_resource()
        outputs = getattr(root, "outputs", {}) or {}
        resolved = _sync_await(pulumi.Output.from_input(outputs).future())
        exports.update(resolved or {})

    _sync_await(run_pulumi_func(program))
    return ProgramRun(
        stack=stack,
        settings=settings,
        # The SDK registers resources as their inputs resolve, so the order of arrival varies from
        # run to run; sorted by URN, a plan (and every report built on it) is the same each time.
        resources=sorted(monitor.registered, key=lambda r: r.urn),
        outputs=exports,
        generated=dict(mocks.generated),
        warnings=sorted(collector.messages),
    )
