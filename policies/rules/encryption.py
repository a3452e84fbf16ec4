"""Encryption at rest where AWS offers it: DynamoDB SSE, SNS with KMS, rotated KMS keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .common import resource_policy, violation


def check_dynamodb(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    sse = (props.get("serverSideEncryption") or {}).get("enabled")
    if sse is not True:
        return [violation(sse, "server-side encryption with KMS is not enabled",
                          "set serverSideEncryption.enabled: true")]  # fmt: skip
    return []


def check_sns(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    if cfg.get("requireSnsKms", True) and not props.get("kmsMasterKeyId"):
        return [violation(props.get("kmsMasterKeyId"), "the topic is not encrypted",
                          "set kmsMasterKeyId (alias/aws/sns or a customer key)")]  # fmt: skip
    return []


def check_key_rotation(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    spec = props.get("customerMasterKeySpec") or props.get("keySpec") or "SYMMETRIC_DEFAULT"
    if spec == "SYMMETRIC_DEFAULT" and props.get("enableKeyRotation") is not True:
        return [violation(props.get("enableKeyRotation"), "the key is never rotated",
                          "set enableKeyRotation: true")]  # fmt: skip
    return []


POLICIES = [
    resource_policy(name="kms-key-rotation", description="Symmetric KMS keys rotate yearly.",
                    types=("aws:kms/key:Key",), check=check_key_rotation),
    resource_policy(name="dynamodb-encryption", description="DynamoDB tables use KMS SSE.",
                    types=("aws:dynamodb/table:Table",), check=check_dynamodb),
    resource_policy(name="sns-encryption", description="SNS topics are encrypted with KMS.",
                    types=("aws:sns/topic:Topic",), check=check_sns,
                    schema={"requireSnsKms": {"type": "boolean", "default": True}}),
]  # fmt: skip
