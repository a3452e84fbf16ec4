"""ECR repositories: scan on push, immutable tags, encryption."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import as_list, resource_policy, violation
from .stack_keys import fix

REPO_TYPES = ("aws:ecr/repository:Repository",)


def check_scan(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    scan = (props.get("imageScanningConfiguration") or {}).get("scanOnPush")
    if scan is not True:
        return [violation(scan, "images are not scanned on push",
                          "set imageScanningConfiguration.scanOnPush: true")]  # fmt: skip
    return []


def check_immutable(t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    mutability = props.get("imageTagMutability") or "MUTABLE"
    if mutability != "IMMUTABLE":
        return [violation(mutability, "a release tag can be overwritten",
                          fix(t, "imageTagMutability", "true", "set imageTagMutability: "
                              "IMMUTABLE")  + " so a rollback target never changes")]  # fmt: skip
    return []


def check_encryption(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    kinds = [
        (c or {}).get("encryptionType") for c in as_list(props.get("encryptionConfigurations"))
    ]
    if not any(k in ("AES256", "KMS", "KMS_DSSE") for k in kinds):
        return [violation(kinds, "encryption is not configured explicitly",
                          "set encryptionConfigurations (AES256 or KMS)")]  # fmt: skip
    return []


POLICIES = [
    resource_policy(name="ecr-scan-on-push", description="ECR scans every pushed image.",
                    types=REPO_TYPES, check=check_scan),
    resource_policy(name="ecr-immutable-tags", description="ECR tags are immutable.",
                    types=REPO_TYPES, check=check_immutable),
    resource_policy(name="ecr-encryption", description="ECR repositories declare encryption.",
                    types=REPO_TYPES, check=check_encryption),
]  # fmt: skip
