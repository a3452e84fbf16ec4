"""The names Deplight's parts agree on, in one place: exit codes, stack configuration keys, the
tier and strategy enums, stack output keys, and the audit record schema.

The program (``components/``, :mod:`deplight.program`) writes outputs and reads configuration; the
release commands (``rollback/``) set configuration, read outputs and write audit records; the CLI,
``deplight dashboard`` and ``deplight status`` (``deplight/``) read all of them. Each imports the names
from here instead of spelling the strings again. The release API's Lambda package, zipped alone,
keeps copies of the few it needs (:mod:`release_api.contract`), which
``tests/test_release_api_contract.py`` compares with these.

This module imports nothing of Deplight's (and neither pulumi nor boto3): everything may import it.
"""

from __future__ import annotations

import enum
from typing import Any, TypedDict

# -- Exit codes of every ``deplight`` command ----------------------------------------------------

EXIT_OK = 0
"""Done, or nothing to do."""
EXIT_FAILED = 1
"""Failed or refused (a release that did not happen, a mandatory policy violation)."""
EXIT_BAD_INPUT = 2
"""An argument, the stack name or the stack configuration is wrong; nothing was changed."""

# -- Stack configuration ---------------------------------------------------------------------------

NAMESPACE = "deplight"
"""The configuration namespace of the program's keys (``deplight:image_tag``)."""
TIER = "tier"
IMAGE_TAG = "image_tag"
"""Config key and output key: the output echoes the config, so history and outputs agree."""
SCHEMA_VERSION = "schema_version"
"""Config key and output key, like :data:`IMAGE_TAG`."""
RELEASE = "release"
"""``deplight:release.kind`` (:class:`ReleaseKind`), set by the release commands for one ``up``."""


def config_key(name: str) -> str:
    """The full key ``pulumi config`` takes: ``config_key("image_tag") == "deplight:image_tag"``."""
    return f"{NAMESPACE}:{name}"


TIER_KEY = config_key(TIER)
IMAGE_TAG_KEY = config_key(IMAGE_TAG)
SCHEMA_VERSION_KEY = config_key(SCHEMA_VERSION)
RELEASE_KEY = config_key(RELEASE)
RELEASE_KIND_PATH = f"{RELEASE_KEY}.kind"
"""The path ``pulumi config set --path`` takes."""
REGION_KEY = "aws:region"

ENDPOINT_ENV = "DEPLIGHT_AWS_ENDPOINT_URL"
"""One endpoint for every AWS client Deplight makes (a moto or LocalStack server in tests)."""

CONFIRM_PROD = "ROLLBACK-PROD"
"""The exact text a rollback of a production-tier stack is confirmed with."""


class Tier(enum.StrEnum):
    """Which defaults profile a stack starts from; a stack file overrides single values."""

    DEVELOPMENT = "development"
    """Small and cheap: 1 task, 2 AZs, one NAT gateway, 7 days of logs, relaxed policies."""
    PRODUCTION = "production"
    """Highly available: 3+ tasks over 3 AZs, NAT per AZ, deletion protection, a year of logs
    encrypted with the stack's own KMS key, ALB access logs, WAF, read-only root filesystem."""


class Strategy(enum.StrEnum):
    """How a new ``image_tag`` reaches production traffic."""

    ROLLING = "rolling"
    """ECS rolling update with the deployment circuit breaker and rollback. Cheapest, slowest revert."""
    CODEDEPLOY = "codedeploy"
    """CodeDeploy blue/green: canary/linear traffic shifting, alarm rollback, instant revert to blue."""
    ECS_BLUEGREEN = "ecs_bluegreen"
    """ECS built-in blue/green (canary/linear too): bake time and alarm rollback, no CodeDeploy."""


class ReleaseKind(enum.StrEnum):
    """What the current ``up`` is: set by ``deplight deploy`` / ``deplight rollback``."""

    DEPLOY = "deploy"
    """A forward release: traffic shifts as the deployment config says."""
    ROLLBACK = "rollback"
    """A revert to a known-good release: all traffic shifts at once."""


# -- Stack outputs -----------------------------------------------------------------------------------
# The contract between the program and the Automation API side: the release commands find the
# repository, service, deployment group and audit table through them.

# Network
VPC_ID = "vpc_id"
PUBLIC_SUBNET_IDS = "public_subnet_ids"
PRIVATE_SUBNET_IDS = "private_subnet_ids"

# Release identity (plain config echoed back, so history and outputs agree): IMAGE_TAG and
# SCHEMA_VERSION above, and the strategy (a Strategy value)
DEPLOY_STRATEGY = "deploy_strategy"

# EcsService
SERVICE_URL = "service_url"
ALB_DNS_NAME = "alb_dns_name"
ALB_ARN_SUFFIX = "alb_arn_suffix"
BLUE_TARGET_GROUP_NAME = "blue_target_group_name"
GREEN_TARGET_GROUP_NAME = "green_target_group_name"
BLUE_TARGET_GROUP_ARN_SUFFIX = "blue_target_group_arn_suffix"
GREEN_TARGET_GROUP_ARN_SUFFIX = "green_target_group_arn_suffix"
PROD_LISTENER_ARN = "prod_listener_arn"
TEST_LISTENER_ARN = "test_listener_arn"
CLUSTER_NAME = "cluster_name"
SERVICE_NAME = "service_name"
CONTAINER_NAME = "container_name"
REPOSITORY_URL = "repository_url"
REPOSITORY_NAME = "repository_name"
TASK_DEFINITION_ARN = "task_definition_arn"
TASK_DEFINITION_FAMILY = "task_definition_family"
SERVING_TASK_DEFINITION_ARN = "serving_task_definition_arn"

# The one-off migration task runs where the service's tasks run
TASK_SUBNET_IDS = "task_subnet_ids"
TASK_SECURITY_GROUP_ID = "task_security_group_id"
TASK_ASSIGN_PUBLIC_IP = "task_assign_public_ip"

# DataTier (only when a store is enabled)
DB_CLUSTER_IDENTIFIER = "db_cluster_identifier"
"""The Aurora cluster: ``deplight deploy`` snapshots it before a migration in production, and a
rollback across a migration looks its pre-migration snapshot up."""
DB_ENDPOINT = "db_endpoint"
DB_READER_ENDPOINT = "db_reader_endpoint"
DB_SECRET_ARN = "db_secret_arn"
CACHE_ENDPOINT = "cache_endpoint"
CACHE_SECRET_ARN = "cache_secret_arn"

# Observability
LOG_GROUP_NAME = "log_group_name"
DASHBOARD_URL = "dashboard_url"
ROLLBACK_ALARM_NAMES = "rollback_alarm_names"
ALERT_TOPIC_ARN = "alert_topic_arn"
AUDIT_TABLE_NAME = "audit_table_name"

# BlueGreenDeployment (strategy codedeploy)
CODEDEPLOY_APPLICATION = "codedeploy_application_name"
CODEDEPLOY_GROUP = "codedeploy_deployment_group_name"
RELEASE_DEPLOYMENT_ID = "release_deployment_id"

# Notifications (only when deplight:notifications names a Slack channel)
CHATBOT_CONFIGURATION_ARN = "chatbot_configuration_arn"

# GithubOidc
OIDC_PROVIDER_ARN = "oidc_provider_arn"
DEPLOY_ROLE_ARN = "deploy_role_arn"
PREVIEW_ROLE_ARN = "preview_role_arn"

# ReleaseApi (release_api.enabled)
RELEASE_API_URL = "release_api_url"

# -- The audit record ---------------------------------------------------------------------------------
# The release/rollback audit table (DynamoDB), created by Observability, written by rollback/ and
# by the release API. "All records of a stack, newest first": Query AUDIT_HASH_KEY = stack,
# ScanIndexForward=False. "One release by id": Query the AUDIT_RELEASE_INDEX on AUDIT_RELEASE_ID.
AUDIT_HASH_KEY = "stack"
AUDIT_RANGE_KEY = "sk"
"""``<UTC ISO-8601 start time>#<release id>``: sorts by time, unique per release."""
AUDIT_RELEASE_ID = "release_id"
AUDIT_RELEASE_INDEX = "by-release-id"


class Operation(enum.StrEnum):
    """``operation`` of an audit record."""

    DEPLOY = "deploy"
    """``deplight deploy`` (the ``release_id`` starts ``deploy-``)."""
    ROLLBACK = "rollback"
    """``deplight rollback`` (the ``release_id`` starts ``rollback-``)."""
    ROLLBACK_REQUEST = "rollback-request"
    """A request the release API recorded and dispatched to the rollback workflow (never a
    release itself; the rollback it starts writes its own ``rollback`` record)."""


class Outcome(enum.StrEnum):
    """``result`` of a release record (``deploy``/``rollback``) once it has one."""

    SUCCEEDED = "succeeded"
    """Released and verified."""
    FAILED = "failed"
    """Something ran and did not work (the engine, verification, a migration)."""
    REFUSED = "refused"
    """A safety check or the lock stopped it before anything changed."""


NO_OUTCOME = "started, no outcome"
"""What a release record without ``result`` means: its command died between intent and outcome."""


class AuditRecord(TypedDict, total=False):
    """One release record (``deploy`` or ``rollback``) as ``rollback.commands`` writes it: the
    intent first (:meth:`rollback.audit.Audit.begin`), the outcome added later, or both at once
    for a refusal. The key attributes (:data:`AUDIT_HASH_KEY`, :data:`AUDIT_RANGE_KEY`,
    :data:`AUDIT_RELEASE_ID`) are added by the audit writer."""

    # the intent
    operation: str
    """An :class:`Operation` value."""
    who: str
    trigger: str
    """``manual``, ``ci`` or ``auto`` (an automatic rollback after a failed deploy)."""
    ci_run: str | None
    started_at: str
    """Fixed-width UTC ISO-8601 (``rollback.audit.stamp``)."""
    from_tag: str | None
    to_tag: str | None
    from_schema: int | None
    to_schema: int | None
    reason: str | None
    path: str | None
    """``deploy``, or the rollback's ``fast`` (traffic back to blue) or ``slow`` path."""
    handles_update: str | None
    """The failed update an automatic rollback answers (one rollback per failure)."""
    tier: str
    """A :class:`Tier` value."""
    checks: list[str]
    request_id: str | None
    """The release API request that asked for this rollback."""
    # the outcome
    result: str
    """An :class:`Outcome` value; missing means :data:`NO_OUTCOME`."""
    error: str | None
    finished_at: str
    duration_s: float
    update_id: str | None
    update_version: int | None
    config: str | None
    """What the stack's configuration holds afterwards, when it is not the target's."""
    verification: list[str] | None
    """The differences found, or what was verified."""
    migration: dict[str, Any] | None
    """The migration task of a deploy that raised ``schema_version``."""
    notification_warnings: list[str]
    """Announcements that could not be delivered (added after the outcome)."""
