"""The analysis as stack settings: the ``deplight:service`` block to paste under ``config:`` in
``Pulumi.<env>.yaml``, validated by the program's own parser, and the differences between the
analysis and a committed stack's settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import yaml

from components.contract import NAMESPACE
from components.settings import ServiceSettings, Settings, parse_settings
from deplight.analyze.dockerfile import FALLBACK_HEALTH_PATH
from deplight.analyze.report import Report

SERVICE_KEY = f"{NAMESPACE}:service"


def suggested_service(report: Report) -> dict[str, Any]:
    """``deplight:service`` keys the analysis decided (port, health path, cpu, memory)."""
    out: dict[str, Any] = {}
    if report.value("port") is not None:
        out["container_port"] = int(report.value("port"))
    if report.value("framework") is not None:
        # Routes were searched. The Dockerfile's HEALTHCHECK probes the same path (the fallback
        # too), so the two stay in step.
        out["health_check_path"] = report.value("health_check_path") or FALLBACK_HEALTH_PATH
    resources = report.value("resources")
    if resources:
        out["cpu"], out["memory"] = int(resources["cpu"]), int(resources["memory"])
    return out


def _comment(report: Report, key: str) -> str:
    name = {"container_port": "port", "health_check_path": "health_check_path",
            "cpu": "resources", "memory": "resources"}[key]  # fmt: skip
    finding = report[name]
    if key == "health_check_path" and finding.value is None:
        return "no health endpoint found: / must answer 200-399; add one (e.g. /health)"
    if key == "memory":
        return "see cpu"
    where = ", ".join(e.where() for e in finding.evidence[:2])
    text = finding.reason + (f" ({where})" if where and name != "resources" else "")
    return text.replace("\n", " ")


def settings_block(report: Report) -> str | None:
    """The YAML lines to paste under ``config:`` (two-space indented), or None if the analysis
    decided none of the keys. Each value carries the reason as a comment."""
    values = suggested_service(report)
    if not values:
        return None
    lines = [f"  {SERVICE_KEY}:"]
    for key, value in values.items():
        rendered = (
            yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
        )
        lines.append(f"    {key}: {rendered}  # {_comment(report, key)}")
    return "\n".join(lines) + "\n"


def validate_block(block: str, stack: str = "analyze") -> Settings:
    """Parses ``block`` as the ``config:`` of a stack file and validates it with
    :func:`components.settings.parse_settings`; raises ``SettingsError`` like the program."""
    doc = yaml.safe_load("config:\n" + block)
    config = doc["config"]
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{NAMESPACE}:")}
    # The block goes into a stack file that already names its repository and OIDC provider
    # (required keys the analysis cannot know): stand-ins, so only the block's keys are judged.
    raw.setdefault("github", {"repository": "owner/name", "oidc_provider": "create"})
    return parse_settings(stack, raw)


def merged_settings(stack: str, config: Mapping[str, Any], block: str) -> Settings:
    """The committed stack config with the block's ``deplight:service`` keys laid over it: what the
    stack would be after pasting (merging into its existing service block). Raises
    ``SettingsError`` when the result is invalid."""
    from deplight.harness import settings_for

    suggested = yaml.safe_load("config:\n" + block)["config"][SERVICE_KEY]
    merged = dict(config)
    service = dict(merged.get(SERVICE_KEY) or {})
    service.update(suggested)
    merged[SERVICE_KEY] = service
    return settings_for(stack, merged)


@dataclass(frozen=True)
class Mismatch:
    """A committed setting the analysis disagrees with."""

    key: str
    committed: Any
    suggested: Any
    severity: str
    """``error``: the service will not work as committed; ``warning``: likely wrong or short."""
    why: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(report: Report, committed: ServiceSettings) -> list[Mismatch]:
    """Differences between what the analysis found and a stack's ``deplight:service``."""
    out: list[Mismatch] = []
    port = report["port"]
    if port.value is not None and port.value != committed.container_port:
        out.append(Mismatch(
            "container_port", committed.container_port, port.value, "error",
            f"the service listens on {port.value} ({port.reason}); the load balancer and the "
            f"health check would use {committed.container_port} and never reach it",
        ))  # fmt: skip
    health = report["health_check_path"]
    known = set(report.details.get("health_routes", [])) | {health.value} - {None}
    if health.value is not None and committed.health_check_path not in known:
        out.append(Mismatch(
            "health_check_path", committed.health_check_path, health.value, "warning",
            f"the service's health endpoint is {health.value} ({health.reason}); "
            f"{committed.health_check_path} is not among the health routes found "
            f"({', '.join(sorted(known))}), so targets may be marked unhealthy",
        ))  # fmt: skip
    elif report.value("framework") is not None and health.value is None:
        out.append(Mismatch(
            "health_check_path", committed.health_check_path, None, "warning",
            f"no health endpoint found in the service ({health.reason}); make sure "
            f"{committed.health_check_path} answers 200-399",
        ))  # fmt: skip
    resources = report.value("resources")
    if resources:
        if committed.memory < resources["memory"]:
            out.append(Mismatch(
                "memory", committed.memory, resources["memory"], "warning",
                f"below the suggested size ({report['resources'].reason}): risk of the task being "
                "killed for running out of memory",
            ))  # fmt: skip
        if committed.cpu < resources["cpu"]:
            out.append(Mismatch(
                "cpu", committed.cpu, resources["cpu"], "warning",
                f"below the suggested size ({report['resources'].reason})",
            ))  # fmt: skip
    return out
