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
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.contract import NAMESPACE, REGION_KEY
from components.settings import Settings, parse_settings
from deplight.mocks import DEFAULT_REGION, PROMISED_AZS, RealisticMocks
from deplight.project import StackFileError, load_yaml, project_name, stack_file

__all__ = ["PROJECT_DIR", "ProgramRun", "Registered", "StackFileError", "run_program"]

PROJECT_DIR = Path(__file__).resolve().parent.parent
"""This repository's example project (the tests' fixture); an installed wheel has none."""

log = logging.getLogger(__name__)


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
    alias_types: tuple[str, ...] = ()
    """Former type tokens the resource answers to (``aliases=[Alias(type_=...)]``)."""
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
        # pulumi's MockMonitor.RegisterResource carries no annotations
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
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
                alias_types=tuple(
                    a.spec.type
                    for a in request.aliases
                    if a.WhichOneof("alias") == "spec" and a.spec.type
                ),
                additional_secret_outputs=tuple(request.additionalSecretOutputs),
            )  # fmt: skip
        )
        return response


def read_stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The config a ``pulumi up`` of ``stack`` would see: project defaults, then the stack file.

    Returns full keys (``deplight:service``, ``aws:region``) with YAML values. Secure values
    (``secure: v1:...``, also nested ones set with ``--path``) cannot be decrypted offline and
    read as :data:`SECRET`; :func:`secret_keys` names the keys that hold one.
    """
    project_file = project_dir / "Pulumi.yaml"
    path_of_stack = stack_file(stack, project_dir)
    namespace = project_name(project_dir)
    config: dict[str, Any] = {}
    for path, is_project in ((project_file, True), (path_of_stack, False)):
        doc = load_yaml(path) or {}
        if not isinstance(doc, dict):
            raise StackFileError(f"{path.name}: expected a mapping at the top, found {doc!r}")
        section = doc.get("config") or {}
        if not isinstance(section, dict):
            raise StackFileError(f"{path.name}: 'config' must be a mapping, found {section!r}")
        for key, value in section.items():
            full = key if ":" in key else f"{namespace}:{key}"
            if is_project and isinstance(value, dict):
                if "value" in value:
                    value = value["value"]
                elif "default" in value:
                    value = value["default"]
                else:
                    continue  # a schema declaration without a default
            config[full] = _hide_secure(value)
    return config


SECRET = "[secret]"
"""What a secure value (``secure: v1:...``) reads as offline: it cannot be decrypted here."""


def _hide_secure(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET
        return {k: _hide_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide_secure(v) for v in value]
    return value


def _contains_secret(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secret(v) for v in value)
    return bool(value == SECRET)


def secret_keys(config: Mapping[str, Any]) -> list[str]:
    """Full keys whose value is, or contains, a secret (``pulumi config set --secret``)."""
    return sorted(k for k, v in config.items() if _contains_secret(v))


def settings_for(stack: str, config: Mapping[str, Any]) -> Settings:
    """Validates ``config`` (full keys) as the program would; raises ``SettingsError``."""
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{NAMESPACE}:")}
    secret = [k.split(":", 1)[1] for k in secret_keys(config) if k.startswith(f"{NAMESPACE}:")]
    return parse_settings(stack, raw, region=config.get(REGION_KEY),
                          profile=config.get("aws:profile"), secret_keys=secret)  # fmt: skip


def run_program(
    stack: str,
    config: Mapping[str, Any] | None = None,
    *,
    project_dir: Path = PROJECT_DIR,
    preview: bool = False,
    secret: Sequence[str] = (),
) -> ProgramRun:
    """Runs ``__main__.py`` for ``stack`` under mocks and returns what it registered.

    ``config`` defaults to the committed stack file. Settings are validated first, so invalid
    settings raise ``SettingsError`` before a single resource exists. ``secret`` names more full
    keys the engine marks as secret (as ``pulumi config set --secret`` does), besides those
    holding :data:`SECRET`.
    """
    project_dir = Path(project_dir).resolve()
    if config is None:
        config = read_stack_config(stack, project_dir)
    log.debug("stack %s: config keys %s", stack, ", ".join(sorted(config)))
    settings = settings_for(stack, config)
    log.debug("stack %s: settings valid (tier %s, strategy %s, region %s)", stack,
              settings.tier.value, settings.deploy.strategy.value, settings.region)  # fmt: skip
    started = time.perf_counter()

    mocks = RealisticMocks(region=settings.region or DEFAULT_REGION)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_all_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()},
        sorted({*secret_keys(config), *secret}),
    )
    pulumi_settings.ROOT.set(None)
    collector = _Collect()
    logger = logging.getLogger(f"deplight.program.{stack}")
    logger.handlers[:] = [collector]
    logger.propagate = False
    pulumi.runtime.set_mocks(mocks, project=project_name(project_dir), stack=stack,
                             preview=preview, monitor=monitor, logger=logger)  # fmt: skip
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
    log.debug("stack %s: %s registered %d resources in %.2f s", stack, project_dir / "__main__.py",
              len(monitor.registered), time.perf_counter() - started)  # fmt: skip
    warnings = list(collector.messages)
    if settings.network.az_count > PROMISED_AZS:
        # The mocks can name any number of zones; AWS decides at `up` how many this account has.
        warnings.append(
            f"{NAMESPACE}:network.az_count is {settings.network.az_count}: AWS documents at least "
            f"{PROMISED_AZS} availability zones per region, not how many {settings.region} offers "
            f"this account; zones after the {PROMISED_AZS}rd are placeholders here, and `pulumi up` "
            "stops before creating the network if the region has fewer"
        )
    return ProgramRun(
        stack=stack,
        settings=settings,
        # The SDK registers resources as their inputs resolve, so the order of arrival varies from
        # run to run; sorted by URN, a plan (and every report built on it) is the same each time.
        resources=sorted(monitor.registered, key=lambda r: r.urn),
        outputs=exports,
        generated=dict(mocks.generated),
        warnings=sorted(warnings),
    )
