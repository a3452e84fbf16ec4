"""Encryption at rest where AWS offers it: DynamoDB SSE, SNS with KMS."""

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


POLICIES = [
    resource_policy(name="dynamodb-encryption", description="DynamoDB tables use KMS SSE.",
                    types=("aws:dynamodb/table:Table",), check=check_dynamodb),
    resource_policy(name="sns-encryption", description="SNS topics are encrypted with KMS.",
                    types=("aws:sns/topic:Topic",), check=check_sns,
                    schema={"requireSnsKms": {"type": "boolean", "default": True}}),
]  # fmt: skip
