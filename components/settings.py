"""Typed stack settings: the whole ``deplight:`` configuration, parsed once and validated.

Data flows one way: stack config -> :func:`parse_settings` -> frozen dataclasses -> components.
No component reads ``pulumi.Config``; ``__main__.py`` calls :func:`load_settings` and hands each
component its part, so tests build settings from plain dicts.

Every problem is collected and reported at once (:class:`SettingsError`), each message naming the
key, the expected form and the value found, before any resource is registered.

Environment differences are data: ``deplight:tier`` picks a defaults profile (:class:`Tier`), and a
stack file overrides only what differs. There is no ``if stack == "prod"`` anywhere.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import ipaddress
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from components.contract import (
    IMAGE_TAG,
    IMAGE_TAG_KEY,
    NAMESPACE,
    RELEASE,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    TIER,
    TIER_KEY,
    ReleaseKind,
    Strategy,
    Tier,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


# Fargate task sizes AWS accepts: cpu units -> allowed memory (MiB).
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# CloudWatch Logs accepts only these retention values (0 = never expire, which we refuse).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip

# The subnet layout: 2**3 = 8 per-AZ slots in each half of the VPC (az_count is at most 6), and
# no subnet smaller than a /27.
SUBNET_SLOT_BITS = 3
MIN_SUBNET_PREFIX = 27

IMAGE_TAG_RE = re.compile(r"^[0-9a-f]{7,40}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
REPOSITORY_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
ACM_ARN_RE = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
SECRET_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:(ssm:[a-z0-9-]+:\d{12}:parameter/.+|secretsmanager:[a-z0-9-]+:\d{12}:secret:.+)$"
)
KMS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/.+$")
SNS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$")
OIDC_PROVIDER_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$"
)
OIDC_PROVIDER_CREATE = "create"
"""``github.oidc_provider: create``: this stack creates the account's one GitHub OIDC provider."""
OIDC_PROVIDER_RE = re.compile(rf"^({OIDC_PROVIDER_CREATE}|{OIDC_PROVIDER_ARN_RE.pattern[1:-1]})$")
ROLLBACK_ENVIRONMENT_SUFFIX = "-rollback"
DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
HOSTED_ZONE_RE = re.compile(r"^Z[A-Z0-9]{1,31}$")
DIGEST_IMAGE_RE = re.compile(
    r"^[a-z0-9][a-z0-9./_-]*(:[0-9]+)?/?[a-z0-9./_-]*@sha256:[0-9a-f]{64}$"
)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
S3_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
SLACK_WORKSPACE_RE = re.compile(r"^T[A-Z0-9]{8,20}$")
SLACK_CHANNEL_RE = re.compile(r"^[CG][A-Z0-9]{8,20}$")
ISSUER_RE = re.compile(r"^https://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s?#]*)?$")
AUDIENCE_RE = re.compile(r"^[^\s,]{1,200}$")
ORIGIN_RE = re.compile(
    r"^(https://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?|http://(localhost|127\.0\.0\.1)(:\d{1,5})?)$"
)
GROUP_RE = re.compile(r"^[^\s,](.{0,254}[^\s,])?$")
CLAIM_RE = re.compile(r"^[A-Za-z0-9_:./-]{1,100}$")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9._~:/@+-]{1,200}$")
SCOPE_RE = re.compile(r"^[\x21\x23-\x2B\x2D-\x5B\x5D-\x7E]{1,200}$")
"""An OAuth 2.0 scope token (RFC 6749, section 3.3) without a comma (the function's environment
lists scopes comma-separated)."""
SECRET_ID_RE = re.compile(
    r"^([A-Za-z0-9/_+=.@-]{1,512}|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+)$"
)
WORKFLOW_FILE_RE = re.compile(r"^[A-Za-z0-9_.-]+\.ya?ml$")
BRANCH_RE = re.compile(r"^(?!.*\.\.)[A-Za-z0-9._/-]{1,200}$")
SUBJECT_RE = re.compile(
    r"^(environment:[A-Za-z0-9_.-]+|ref:refs/(heads|tags)/[A-Za-z0-9_./*-]+|pull_request)$"
)


class SettingsError(ValueError):
    """Invalid stack configuration: carries every problem found, one line per key."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__(
            f"{len(errors)} problem(s) in the stack configuration:\n"
            + "\n".join(f"  - {e}" for e in errors)
        )


class NatStrategy(enum.StrEnum):
    """How private subnets reach the internet (ECR pulls, AWS APIs)."""

    NONE = "none"
    """No NAT gateway: tasks run in *public* subnets with a public IP. Cheapest; dev only."""
    SINGLE = "single"
    """One NAT gateway for all AZs: a single point of failure, fine for dev and staging."""
    PER_AZ = "per_az"
    """One NAT gateway per AZ: survives the loss of an AZ. Use in prod."""


class TrafficShift(enum.StrEnum):
    """How CodeDeploy (or ECS blue/green) moves production traffic to green."""

    ALL_AT_ONCE = "all_at_once"
    """Everything at once after the test listener checks; fastest, biggest blast radius (dev)."""
    CANARY = "canary"
    """``percent`` first, the rest after ``interval_minutes``; the prod default."""
    LINEAR = "linear"
    """``percent`` more every ``interval_minutes``."""


class HealthCheckType(enum.StrEnum):
    """What checks a task's health besides the load balancer (which always probes
    ``health_check_path``: AWS cannot turn target-group health checks off for ``ip`` targets)."""

    CURL = "curl"
    """The container also runs ``curl -fsS http://localhost:PORT/PATH``: the image needs a shell
    and curl. The default (what Deplight always did)."""
    HTTP = "http"
    """Only the load balancer's HTTP check; no container health check. For distroless and
    scratch images; a hung task is replaced once the target group marks it unhealthy."""
    COMMAND = "command"
    """The container runs ``command`` (exec form: no shell needed), e.g. ``[/app/healthcheck]``."""


@dataclass(frozen=True, kw_only=True)
class HealthCheckSettings:
    """``service.health_check``: ``curl`` (default), ``http``, or ``{type: command, command: [...]}``."""

    type: HealthCheckType = HealthCheckType.CURL
    """Which container health check runs (see :class:`HealthCheckType`)."""
    command: tuple[str, ...] = ()
    """``type: command`` only: the argv ECS runs in the container (``CMD`` is added unless the
    list starts with ``CMD`` or ``CMD-SHELL``); exit 0 means healthy."""


# Per-tier defaults: the values a stack file does not set that depend on its tier. Every tier lists
# the same keys, and only keys whose value differs between tiers; the field of the same name takes
# the production tier's value as its default (_PRODUCTION_DEFAULTS), so that a field and a table
# can never disagree. Every other default is the same in every tier and lives on its field alone.
TIER_DEFAULTS: dict[Tier, dict[str, dict[str, Any]]] = {
    Tier.DEVELOPMENT: {
        "service": {
            "cpu": 256, "memory": 512, "desired_count": 1, "min_count": 1, "max_count": 2,
            "ecr_keep_images": 20, "ecr_immutable_tags": False, "readonly_root_filesystem": False,
        },
        "network": {
            "az_count": 2, "nat": NatStrategy.SINGLE, "flow_logs": False,
            "flow_logs_retention_days": 14,
        },
        "deploy": {
            "strategy": Strategy.ROLLING, "traffic": TrafficShift.ALL_AT_ONCE,
            "blue_termination_minutes": 5,
        },
        "ingress": {"deletion_protection": False, "access_logs": False, "waf": False},
        "observability": {
            "log_retention_days": 7, "xray_sampling_rate": 0.1, "audit_deletion_protection": False,
            "customer_managed_key": False,
        },
    },
    Tier.PRODUCTION: {
        "service": {
            "cpu": 1024, "memory": 2048, "desired_count": 3, "min_count": 3, "max_count": 10,
            "ecr_keep_images": 50, "ecr_immutable_tags": True, "readonly_root_filesystem": True,
        },
        # One year of logs (CKV_AWS_338): incident and audit look-backs reach past a quarter, and
        # the README's configuration table gives the cost trade-off.
        "network": {
            "az_count": 3, "nat": NatStrategy.PER_AZ, "flow_logs": True,
            "flow_logs_retention_days": 365,
        },
        "deploy": {
            "strategy": Strategy.CODEDEPLOY, "traffic": TrafficShift.CANARY,
            "blue_termination_minutes": 60,
        },
        "ingress": {"deletion_protection": True, "access_logs": True, "waf": True},
        "observability": {
            "log_retention_days": 365, "xray_sampling_rate": 0.05, "audit_deletion_protection": True,
            "customer_managed_key": True,
        },
    },
}  # fmt: skip

# Per-tier defaults of the data tier's two stores (a stack file turns a store on with
# ``enabled: true`` and overrides single values); the same rules as TIER_DEFAULTS.
DATA_TIER_DEFAULTS: dict[Tier, dict[str, dict[str, Any]]] = {
    Tier.DEVELOPMENT: {
        # One small instance that pauses when idle, nothing kept after deletion.
        "postgres": {
            "min_capacity": 0.0, "max_capacity": 2.0, "instances": 1, "backup_retention_days": 1,
            "deletion_protection": False, "final_snapshot": False,
        },
        "cache": {"node_type": "cache.t4g.micro", "nodes": 1, "snapshot_retention_days": 0},
    },
    Tier.PRODUCTION: {
        # A writer and a reader in different AZs; 14 days of backups; a final snapshot.
        "postgres": {
            "min_capacity": 0.5, "max_capacity": 8.0, "instances": 2, "backup_retention_days": 14,
            "deletion_protection": True, "final_snapshot": True,
        },
        "cache": {"node_type": "cache.t4g.small", "nodes": 2, "snapshot_retention_days": 7},
    },
}  # fmt: skip


_PRODUCTION_DEFAULTS: dict[str, dict[str, Any]] = {
    **TIER_DEFAULTS[Tier.PRODUCTION],
    **DATA_TIER_DEFAULTS[Tier.PRODUCTION],
}
"""Where the default of a field whose default depends on the tier comes from, for a settings
object built directly (tests, tools): the production tier, the tier :func:`parse_settings` gives
a stack that names none."""


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """The container service and its task size."""

    name: str = "web"
    """Short service name; resources are named ``<name>-<stack>``."""
    container_port: int = 8080
    """Port the container listens on."""
    health_check_path: str = "/health"
    """HTTP path the load balancer probes (and, with ``health_check.type: curl``, the container)."""
    health_check: HealthCheckSettings = field(default_factory=HealthCheckSettings)
    """The container health check (``curl``, ``http`` = load balancer only, or ``command``)."""
    cpu: int = _PRODUCTION_DEFAULTS["service"]["cpu"]
    """Fargate CPU units (256, 512, 1024, ...)."""
    memory: int = _PRODUCTION_DEFAULTS["service"]["memory"]
    """Fargate memory in MiB; must be allowed for ``cpu``."""
    desired_count: int = _PRODUCTION_DEFAULTS["service"]["desired_count"]
    """Tasks at first deploy; autoscaling moves it between ``min_count`` and ``max_count``."""
    min_count: int = _PRODUCTION_DEFAULTS["service"]["min_count"]
    """Autoscaling minimum."""
    max_count: int = _PRODUCTION_DEFAULTS["service"]["max_count"]
    """Autoscaling maximum."""
    cpu_target_percent: int = 60
    """Target-tracking CPU utilisation."""
    requests_per_target: int = 1000
    """Target-tracking ALB requests per target per minute."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Plain environment variables for the container."""
    secrets: Mapping[str, str] = field(default_factory=dict)
    """Environment variable -> SSM parameter or Secrets Manager secret ARN."""
    xray: bool = False
    """Run the X-Ray daemon sidecar and let the task write traces."""
    xray_daemon_image: str | None = None
    """X-Ray daemon image pinned by digest (``...@sha256:<64 hex>``); required with ``xray``."""
    ecr_keep_images: int = _PRODUCTION_DEFAULTS["service"]["ecr_keep_images"]
    """Release images the ECR lifecycle policy keeps (the rollback window)."""
    ecr_immutable_tags: bool = _PRODUCTION_DEFAULTS["service"]["ecr_immutable_tags"]
    """Refuse to overwrite an existing tag in ECR."""
    readonly_root_filesystem: bool = _PRODUCTION_DEFAULTS["service"]["readonly_root_filesystem"]
    """Run the app container with a read-only root filesystem; ``/tmp`` stays writable (a task
    volume). Production default on; turn it off only for an image that writes elsewhere."""


@dataclass(frozen=True, kw_only=True)
class NetworkSettings:
    """The VPC."""

    cidr: str = "10.0.0.0/16"
    """VPC CIDR: private (RFC 1918), large enough for 2 subnets per AZ of at least /27."""
    az_count: int = _PRODUCTION_DEFAULTS["network"]["az_count"]
    """Availability zones to spread over (1-6)."""
    nat: NatStrategy = _PRODUCTION_DEFAULTS["network"]["nat"]
    """NAT gateway strategy."""
    flow_logs: bool = _PRODUCTION_DEFAULTS["network"]["flow_logs"]
    """Send VPC flow logs to CloudWatch Logs."""
    flow_logs_retention_days: int = _PRODUCTION_DEFAULTS["network"]["flow_logs_retention_days"]
    """Retention of the flow log group."""

    @property
    def subnet_prefix(self) -> int:
        """Prefix length of every subnet, from the VPC CIDR alone (never from ``az_count``).

        The fixed layout (see ``components.network.subnet_cidrs``): the VPC is halved, public
        below and private above, and each half is cut into 8 per-AZ slots; a /24 VPC gets 4 slots
        per half instead, so that no subnet is smaller than /27.
        """
        net = ipaddress.ip_network(self.cidr, strict=False)
        return min(net.prefixlen + 1 + SUBNET_SLOT_BITS, MIN_SUBNET_PREFIX)

    @property
    def az_slots(self) -> int:
        """How many AZs the fixed layout has room for in this VPC (8, or 4 in a /24)."""
        net = ipaddress.ip_network(self.cidr, strict=False)
        return int(2 ** (self.subnet_prefix - net.prefixlen - 1))


@dataclass(frozen=True, kw_only=True)
class DeploySettings:
    """How releases happen."""

    strategy: Strategy = _PRODUCTION_DEFAULTS["deploy"]["strategy"]
    """Release strategy."""
    traffic: TrafficShift = _PRODUCTION_DEFAULTS["deploy"]["traffic"]
    """Traffic shift for ``codedeploy`` and ``ecs_bluegreen``."""
    percent: int = 10
    """Canary/linear step in percent (1-99)."""
    interval_minutes: int = 5
    """Minutes between canary/linear steps (1-2880)."""
    blue_termination_minutes: int = _PRODUCTION_DEFAULTS["deploy"]["blue_termination_minutes"]
    """Minutes the old (blue) tasks stay alive after the shift: the fast-rollback window (0-2880)."""
    bake_time_minutes: int = 10
    """``ecs_bluegreen``: minutes both revisions run after the shift before blue is removed (0-1440)."""
    timeout_minutes: int = 60
    """How long the release resource waits for a deployment before failing the update."""
    migrate_command: tuple[str, ...] = ()
    """Command (argv list) ``deplight deploy`` runs once as a one-off task with the new image when
    ``--schema-version`` rises, e.g. ``["python", "manage.py", "migrate"]``. Empty: none."""


@dataclass(frozen=True, kw_only=True)
class IngressSettings:
    """The load balancer's listeners."""

    certificate_arn: str | None = None
    """ACM certificate for HTTPS; without one the production listener is plain HTTP (dev only)."""
    ssl_policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    """TLS policy of the HTTPS listener."""
    test_port: int = 8443
    """Port of the test listener (green before traffic shifts)."""
    test_cidrs: tuple[str, ...] = ()
    """CIDRs that may reach the test listener; empty means nobody from outside the VPC."""
    deletion_protection: bool = _PRODUCTION_DEFAULTS["ingress"]["deletion_protection"]
    """ALB deletion protection."""
    access_logs: bool = _PRODUCTION_DEFAULTS["ingress"]["access_logs"]
    """Write ALB access logs to S3. Without ``access_logs_bucket`` the stack creates its own log
    bucket (SSE-S3, lifecycle, public access blocked, the ELB log-delivery policy)."""
    access_logs_bucket: str | None = None
    """An existing S3 bucket for ALB access logs instead of the stack's own (implies
    ``access_logs``; its policy must already admit ELB log delivery)."""
    access_logs_retention_days: int = 90
    """Days the stack's own log bucket keeps access logs before they expire (1-3650)."""
    waf: bool = _PRODUCTION_DEFAULTS["ingress"]["waf"]
    """Put a WAFv2 web ACL in front of the internet-facing ALB: AWS managed rule groups (common
    rule set, known bad inputs, IP reputation) and a rate-based rule. Production default on."""
    waf_rate_limit: int = 2000
    """Requests one client IP may send in any 5 minutes before the rate-based rule blocks it."""
    domain: str | None = None
    """DNS name of the service (``api.example.com``), with ``hosted_zone_id``: an alias record
    for the ALB and, unless ``certificate_arn`` is set, an ACM certificate validated in Route 53."""
    hosted_zone_id: str | None = None
    """Route 53 hosted zone (``Z...``) that holds ``domain``."""

    @property
    def https(self) -> bool:
        """The production listener serves HTTPS (a given or a created certificate)."""
        return bool(self.certificate_arn or self.domain)


@dataclass(frozen=True, kw_only=True)
class ObservabilitySettings:
    """Logs, traces, alarms and alerts."""

    log_retention_days: int = _PRODUCTION_DEFAULTS["observability"]["log_retention_days"]
    """Retention of the service log group."""
    log_kms_key_arn: str | None = None
    """An existing KMS key for the service log group instead of the stack's own key (optional)."""
    customer_managed_key: bool = _PRODUCTION_DEFAULTS["observability"]["customer_managed_key"]
    """Create one customer-managed KMS key for the stack (yearly rotation) and encrypt the log
    groups, ECR, the audit table and the alert topic with it. Production default on; off, they
    use AWS-managed keys."""
    xray_sampling_rate: float = _PRODUCTION_DEFAULTS["observability"]["xray_sampling_rate"]
    """Fraction of requests traced (0-1)."""
    alarm_5xx_rate_percent: float = 1.0
    """Target 5xx responses as a percentage of requests that trips the rollback alarm."""
    alarm_p99_latency_ms: int = 1500
    """p99 target response time (ms) that trips the alarm."""
    alarm_min_healthy_hosts: int = 1
    """Fewer healthy targets than this trips the alarm."""
    alarm_cpu_percent: int = 85
    """ECS service CPU utilisation alarm."""
    alarm_memory_percent: int = 85
    """ECS service memory utilisation alarm."""
    alarm_evaluation_periods: int = 3
    """Consecutive 1-minute periods before an alarm fires."""
    alert_email: str | None = None
    """E-mail subscribed to the alert topic (optional)."""
    alert_sns_topic_arn: str | None = None
    """Existing SNS topic for alerts instead of creating one (optional)."""
    audit_deletion_protection: bool = _PRODUCTION_DEFAULTS["observability"][
        "audit_deletion_protection"
    ]
    """Refuse to delete the release/rollback audit table (the second copy of the release log)."""


@dataclass(frozen=True, kw_only=True)
class GithubSettings:
    """Keyless CI access from GitHub Actions."""

    repository: str
    """``owner/name`` of the repository whose workflows deploy this stack. Required: there is no
    default, a stack must say whose workflows it trusts."""
    oidc_provider: str
    """``create`` (this stack creates the account's GitHub OIDC provider) or the ARN of the
    existing one. Required: an account holds one provider per URL, so exactly one stack of an
    account creates it and the others reference its ARN."""
    subjects: tuple[str, ...] = ()
    """OIDC ``sub`` suffixes allowed to assume the deploy role. Production tier: only
    ``environment:<name>`` (the environment's reviewers are the gate); development tier may add
    ``ref:refs/heads/...``/``ref:refs/tags/...``. Never ``pull_request``. Defaults to
    ``environment:<stack>``."""
    auto_rollback: bool = True
    """Trust ``environment:<stack>-rollback`` too: the environment (default branch only, no
    reviewers) that only the ``workflow_run``-triggered auto-rollback workflow uses."""
    session_duration_seconds: int = 3600
    """Max session of the deploy role (3600-43200)."""
    preview_role: bool = True
    """Create the read-only role that PR previews assume."""
    state_bucket: str | None = None
    """S3 bucket of the Pulumi state backend the deploy role may use (optional)."""

    @property
    def creates_oidc_provider(self) -> bool:
        """True when this stack creates the account's provider (``oidc_provider: create``)."""
        return self.oidc_provider == OIDC_PROVIDER_CREATE


class ChatbotLogging(enum.StrEnum):
    """What AWS Chatbot logs to CloudWatch Logs about its deliveries."""

    ERROR = "ERROR"
    INFO = "INFO"
    NONE = "NONE"


@dataclass(frozen=True, kw_only=True)
class NotificationSettings:
    """Where alarms and release messages go besides the alert topic."""

    slack_workspace_id: str | None = None
    """Slack workspace (team) id authorised in AWS Chatbot, ``T...``; with ``slack_channel_id``
    the stack creates a Chatbot channel configuration subscribed to the alert topic."""
    slack_channel_id: str | None = None
    """Slack channel id, ``C...`` (public) or ``G...`` (private)."""
    logging_level: ChatbotLogging = ChatbotLogging.ERROR
    """Chatbot's own delivery logging."""

    @property
    def slack(self) -> bool:
        """A Slack channel is configured."""
        return bool(self.slack_workspace_id and self.slack_channel_id)


@dataclass(frozen=True, kw_only=True)
class ReleaseApiSettings:
    """The release API behind the release page (API Gateway HTTP API + Lambda), off by default.

    Everyone who calls it must hold a token of the team's OIDC identity provider; rolling back a
    production-tier stack also needs ``production_group`` in the token's groups claim.
    """

    enabled: bool = False
    """Create the API, its authorizer, the Lambda and their logs."""
    jwt_issuer: str | None = None
    """The identity provider's issuer URL (https), exactly as its tokens' ``iss`` claim says."""
    jwt_audience: tuple[str, ...] = ()
    """Accepted ``aud`` values: the client id or API audience the provider puts in tokens."""
    allowed_origin: str | None = None
    """The release page's origin (``https://releases.example.com``): the only CORS origin."""
    page_client_id: str | None = None
    """The public OIDC client (no secret; authorization code with PKCE) the release page signs in
    with. Set, the API also serves the page at its root; unset, it serves only the data routes."""
    page_scopes: tuple[str, ...] = ("openid", "email")
    """Scopes the page asks for; ``openid`` is required (the page checks the ID token's nonce).
    Add what the provider needs to put ``jwt_audience`` into the access token (Entra ID:
    ``api://<app>/<scope>``)."""
    page_audience: str | None = None
    """Sent as ``audience`` in the page's authorization request, for providers that issue a JWT
    access token only for a named API (Auth0); one of ``jwt_audience``."""
    production_group: str | None = None
    """Group whose members may roll back a production-tier stack; required for that tier."""
    groups_claim: str = "groups"
    """Token claim holding the caller's groups (``groups``, ``cognito:groups``, ...)."""
    github_token_secret: str | None = None
    """Secrets Manager secret (name or ARN) with the token that dispatches ``rollback.yml``."""
    github_workflow: str = "rollback.yml"
    """Workflow file the API dispatches (in ``github.repository``)."""
    github_ref: str = "main"
    """Branch whose workflow file runs."""
    throttle_rate: int = 5
    """Steady requests per second across all routes."""
    throttle_burst: int = 10
    """Burst of requests across all routes."""
    rollback_throttle_rate: int = 1
    """Steady requests per second of ``POST /rollbacks``."""
    rollback_throttle_burst: int = 2
    """Burst of ``POST /rollbacks``."""


class CacheEngine(enum.StrEnum):
    """The ElastiCache engine of the data tier's cache."""

    VALKEY = "valkey"
    """Valkey (the open-source Redis fork AWS maintains): the default, and cheaper per node."""
    REDIS = "redis"
    """Redis OSS, for clients or features that need it."""


@dataclass(frozen=True, kw_only=True)
class PostgresSettings:
    """Aurora PostgreSQL Serverless v2, in the private subnets, reachable only from the tasks."""

    enabled: bool = False
    """Create the database cluster."""
    engine_version: str = "16.6"
    """Aurora PostgreSQL version (``major.minor``)."""
    database_name: str = "app"
    """Database created with the cluster."""
    master_username: str = "app_admin"
    """Master user; its password is generated and rotated by RDS in Secrets Manager."""
    min_capacity: float = _PRODUCTION_DEFAULTS["postgres"]["min_capacity"]
    """Serverless v2 minimum ACUs (0-256 in steps of 0.5); 0 pauses an idle cluster."""
    max_capacity: float = _PRODUCTION_DEFAULTS["postgres"]["max_capacity"]
    """Serverless v2 maximum ACUs (1-256 in steps of 0.5)."""
    seconds_until_auto_pause: int = 300
    """With ``min_capacity`` 0: idle seconds before the cluster pauses (300-86400)."""
    instances: int = _PRODUCTION_DEFAULTS["postgres"]["instances"]
    """Writer plus readers (1-16); instance i runs in AZ i mod az_count."""
    backup_retention_days: int = _PRODUCTION_DEFAULTS["postgres"]["backup_retention_days"]
    """Automated backup retention (1-35 days)."""
    deletion_protection: bool = _PRODUCTION_DEFAULTS["postgres"]["deletion_protection"]
    """Refuse to delete the cluster."""
    final_snapshot: bool = _PRODUCTION_DEFAULTS["postgres"]["final_snapshot"]
    """Take a final snapshot when the cluster is deleted."""
    performance_insights_retention_days: int = 7
    """Performance Insights retention: 7, a multiple of 31 up to 713, or 731 days."""
    log_exports: tuple[str, ...] = ("postgresql",)
    """Logs exported to CloudWatch Logs (``postgresql``, ``iam-db-auth-error``)."""
    alarm_cpu_percent: int = 80
    """Cluster CPU utilisation that pages."""
    alarm_connections: int = 500
    """Database connections that page."""
    alarm_freeable_memory_mb: int = 256
    """Freeable memory (MiB) below which the cluster pages."""
    alarm_replica_lag_ms: int = 1000
    """Aurora replica lag (ms) that pages (only with readers)."""


@dataclass(frozen=True, kw_only=True)
class CacheSettings:
    """ElastiCache (Valkey or Redis OSS) replication group, encrypted, with an AUTH token."""

    enabled: bool = False
    """Create the cache."""
    engine: CacheEngine = CacheEngine.VALKEY
    """Valkey or Redis OSS."""
    engine_version: str = "8.0"
    """Engine version (``major.minor``)."""
    node_type: str = _PRODUCTION_DEFAULTS["cache"]["node_type"]
    """Node type of every node."""
    nodes: int = _PRODUCTION_DEFAULTS["cache"]["nodes"]
    """Primary plus replicas (1-6); 2 or more gives automatic failover across AZs."""
    snapshot_retention_days: int = _PRODUCTION_DEFAULTS["cache"]["snapshot_retention_days"]
    """Daily snapshots kept (0-35; 0 takes none)."""
    alarm_cpu_percent: int = 80
    """Engine CPU utilisation of the busiest node that pages."""
    alarm_memory_percent: int = 80
    """Memory used by the data set (% of the node's maximum) that pages."""
    alarm_evictions: int = 100
    """Evicted keys per minute that page."""


@dataclass(frozen=True, kw_only=True)
class DataSettings:
    """The optional data tier: a PostgreSQL database and a cache per environment."""

    kms_key_arn: str | None = None
    """Customer-managed KMS key for storage, Performance Insights and the secrets (optional;
    AWS-managed keys otherwise)."""
    postgres: PostgresSettings = field(default_factory=PostgresSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)

    @property
    def enabled(self) -> bool:
        """Either store is on."""
        return self.postgres.enabled or self.cache.enabled


DATA_ENVIRONMENT = (
    "DATABASE_HOST", "DATABASE_READER_HOST", "DATABASE_PORT", "DATABASE_NAME", "CACHE_HOST",
    "CACHE_READER_HOST", "CACHE_PORT", "CACHE_TLS",
)  # fmt: skip
"""Plain environment variables the data tier gives the container (endpoints, never credentials)."""
DATA_SECRETS = ("DATABASE_USER", "DATABASE_PASSWORD", "CACHE_AUTH_TOKEN")
"""Variables the data tier gives the container as ECS ``secrets`` (Secrets Manager ``valueFrom``)."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything one stack needs, validated."""

    stack: str
    """Pulumi stack name (the environment)."""
    tier: Tier
    """Defaults profile."""
    image_tag: str | None
    """The release: the image tag to run (7-40 hex). ``None`` only for the bootstrap ``up``."""
    schema_version: int | None = None
    """DB migration level the release needs."""
    release_kind: ReleaseKind = ReleaseKind.DEPLOY
    """Set by the release commands; a rollback shifts traffic all at once."""
    region: str = "us-east-1"
    """``aws:region``."""
    aws_profile: str | None = None
    """``aws:profile``: the named AWS profile the stack deploys with (``None``: default chain)."""
    service: ServiceSettings = field(default_factory=ServiceSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    deploy: DeploySettings = field(default_factory=DeploySettings)
    ingress: IngressSettings = field(default_factory=IngressSettings)
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)
    github: GithubSettings
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    release_api: ReleaseApiSettings = field(default_factory=ReleaseApiSettings)
    data: DataSettings = field(default_factory=DataSettings)
    warnings: tuple[str, ...] = ()
    """Valid but suspicious configuration (settings the chosen strategy ignores); the program
    logs each one as a Pulumi warning, so ``deplight plan`` and ``pulumi preview`` show them."""

    @property
    def prefix(self) -> str:
        """Name prefix of every resource, ``<service>-<stack>``: two stacks never collide."""
        return f"{self.service.name}-{self.stack}"

    @property
    def bootstrap(self) -> bool:
        """No image has been released yet: the first ``up`` creates everything but the service."""
        return self.image_tag is None

    @property
    def rollback_environment(self) -> str | None:
        """The GitHub environment of automatic rollback, ``<stack>-rollback`` (``None`` when
        ``github.auto_rollback`` is off). ``auto-rollback.yml`` derives the same name."""
        return f"{self.stack}{ROLLBACK_ENVIRONMENT_SUFFIX}" if self.github.auto_rollback else None

    @property
    def deploy_subjects(self) -> tuple[str, ...]:
        """Every OIDC subject the deploy role trusts: ``github.subjects`` plus the rollback
        environment."""
        extra = (f"environment:{self.rollback_environment}",) if self.rollback_environment else ()
        return self.github.subjects + tuple(s for s in extra if s not in self.github.subjects)


WEBHOOK_URL_KEY = "notifications_webhook_url"
"""Slack incoming webhook for release messages: a stack secret read by the release commands
(:mod:`rollback.notify`), never by the program, which only checks that it is a secret."""

TOP_LEVEL_KEYS = (
    TIER, IMAGE_TAG, SCHEMA_VERSION, RELEASE, "service", "network", "deploy", "ingress",
    "observability", "github", "notifications", "release_api", "data", WEBHOOK_URL_KEY,
)  # fmt: skip

PG_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
PG_VERSION_RE = re.compile(r"^(1[3-9])\.(\d{1,2})$")
CACHE_VERSION_RE = re.compile(r"^\d{1,2}\.\d{1,2}$")
CACHE_NODE_RE = re.compile(r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
KMS_KEY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
PG_LOG_EXPORTS = ("postgresql", "iam-db-auth-error")
PG_RESERVED_USERS = ("rdsadmin", "rdsrepladmin")
"""User names RDS keeps for itself; PostgreSQL also reserves the ``pg_`` prefix, RDS ``rds_``."""
# Aurora PostgreSQL versions from which Serverless v2 can scale to 0 ACUs (auto-pause).
PG_AUTO_PAUSE_SINCE = {13: 15, 14: 12, 15: 7, 16: 3}


def migrate_command_problem(value: Any) -> str | None:
    """What is wrong with a ``deploy.migrate_command`` value, or ``None``. Shared with the release
    commands, which read it from the stack config."""
    if not isinstance(value, list) or not value:
        return "a non-empty list of arguments such as [python, manage.py, migrate]"
    if len(value) > 64 or not all(isinstance(a, str) and a and "\x00" not in a for a in value):
        return "a list of 1-64 non-empty strings (the command's argv)"
    return None


def _pi_retention(value: int) -> str | None:
    if value in (7, 731) or (value % 31 == 0 and 31 <= value <= 713):
        return None
    return "Performance Insights retention: 7, a multiple of 31 up to 713, or 731 days"


E = TypeVar("E", bound=enum.Enum)


class _Reader:
    """Reads one config object section, collecting problems instead of raising."""

    def __init__(self, errors: list[str], section: str, raw: Any, defaults: Mapping[str, Any],
                 cls: type[DataclassInstance]) -> None:  # fmt: skip
        self.errors = errors
        self.section = section
        self.defaults = defaults
        self.known = set(cls.__dataclass_fields__)
        if raw is None:
            raw = {}
        if isinstance(raw, str):  # object config can arrive as a JSON string
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                pass
        if not isinstance(raw, Mapping):
            self.error("", "an object (mapping)", raw)
            raw = {}
        self.raw: Mapping[str, Any] = raw
        for k in raw:
            if k not in self.known:
                self.errors.append(
                    f"{self.key(k)}: unknown key (expected one of: {', '.join(sorted(self.known))})"
                )
        self.values: dict[str, Any] = {}

    def key(self, name: str) -> str:
        return f"{NAMESPACE}:{self.section}.{name}" if name else f"{NAMESPACE}:{self.section}"

    def error(self, name: str, expected: str, found: Any) -> None:
        self.errors.append(f"{self.key(name)}: expected {expected}, found {found!r}")

    def error_hidden(self, name: str, expected: str, found: str) -> None:
        """Like :meth:`error` for a value that may be a secret: describes it, never shows it."""
        self.errors.append(f"{self.key(name)}: expected {expected}, found {found} "
                           "(the value is not shown: it may be a secret)")  # fmt: skip

    def _get(self, name: str) -> tuple[bool, Any]:
        if name in self.raw:
            return True, self.raw[name]
        if name in self.defaults:
            return True, self.defaults[name]
        return False, None

    def int_(self, name: str, lo: int | None = None, hi: int | None = None,
             check: Callable[[int], str | None] | None = None) -> None:  # fmt: skip
        present, v = self._get(name)
        if not present:
            return
        if isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()):
            v = int(v)  # `pulumi config set` without --type int stores strings
        if isinstance(v, bool) or not isinstance(v, int):
            self.error(name, "an integer", v)
            return
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            self.error(name, f"an integer in {lo}-{hi}", v)
            return
        if check and (problem := check(v)):
            self.error(name, problem, v)
            return
        self.values[name] = v

    def float_(self, name: str, lo: float, hi: float) -> None:
        present, v = self._get(name)
        if not present:
            return
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                pass
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            self.error(name, f"a number in {lo}-{hi}", v)
            return
        self.values[name] = float(v)

    def bool_(self, name: str) -> None:
        present, v = self._get(name)
        if not present:
            return
        if isinstance(v, str) and v.lower() in ("true", "false"):
            v = v.lower() == "true"
        if not isinstance(v, bool):
            self.error(name, "true or false", v)
            return
        self.values[name] = v

    def str_(self, name: str, pattern: re.Pattern[str], expected: str,
             optional: bool = False) -> None:  # fmt: skip
        present, v = self._get(name)
        if not present or (optional and v in (None, "")):
            return
        if not isinstance(v, str) or not pattern.fullmatch(v):
            self.error(name, expected, v)
            return
        self.values[name] = v

    def enum_(self, name: str, cls: type[E]) -> None:
        present, v = self._get(name)
        if not present:
            return
        try:
            self.values[name] = cls(v)
        except ValueError:
            self.error(name, "one of " + ", ".join(m.value for m in cls), v)

    def str_list(self, name: str, check: Callable[[str], str | None]) -> None:
        present, v = self._get(name)
        if not present:
            return
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.error(name, "a list of strings", v)
            return
        bad = [x for x in v if check(x)]
        if bad:
            self.error(name, check(bad[0]) or "valid entries", bad[0])
            return
        self.values[name] = tuple(v)

    def str_map(self, name: str, key_re: re.Pattern[str], value_check: Callable[[str], bool],
                value_expected: str, value_found: str) -> None:  # fmt: skip
        """An object of NAME: value. Values are never echoed in errors: an environment value or
        a "secret ARN" that is really the secret itself must not end up in CI logs."""
        present, v = self._get(name)
        if not present:
            return
        if not isinstance(v, Mapping):
            self.error(name, "an object of NAME: value", v)
            return
        ok = True
        for k, val in v.items():
            if not isinstance(k, str) or not key_re.fullmatch(k):
                self.error(
                    f"{name}.{k}", "an environment variable name ([A-Za-z_][A-Za-z0-9_]*)", k
                )
                ok = False
            elif not isinstance(val, str) or not value_check(val):
                kind = type(val).__name__
                self.error_hidden(f"{name}.{k}", value_expected,
                                  value_found if isinstance(val, str) else f"a {kind}")  # fmt: skip
                ok = False
        if ok:
            self.values[name] = dict(v)


def _private_cidr(value: str) -> str | None:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        return "an IPv4 CIDR such as 10.0.0.0/16"
    if net.version != 4 or not net.is_private:
        return "a private (RFC 1918) IPv4 CIDR"
    if net.prefixlen < 16 or net.prefixlen > 24:
        return "a private CIDR between /16 and /24"
    return None


def _public_or_private_cidr(value: str) -> str | None:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        return "CIDRs such as 203.0.113.0/24"
    if net.prefixlen == 0:
        return "specific CIDRs, not the whole internet (0.0.0.0/0 or ::/0)"
    return None


def _subject(value: str) -> str | None:
    if value == "pull_request":
        return (
            "subjects that run reviewed code: pull_request runs the pull request's own, "
            "unreviewed code (only the read-only preview role trusts it)"
        )
    if value.strip() in ("*", "") or not SUBJECT_RE.fullmatch(value):
        return (
            "OIDC subjects such as environment:prod, ref:refs/heads/main, ref:refs/tags/v* "
            "(no bare *)"
        )
    return None


def _retention(value: int) -> str | None:
    if value not in LOG_RETENTION_DAYS:
        return "a CloudWatch retention value (" + ", ".join(map(str, LOG_RETENTION_DAYS)) + ")"
    return None


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "a port in 1-65535"


@functools.cache
def known_regions() -> frozenset[str]:
    """Every region where botocore's bundled endpoint data (offline) lists ECS, in all partitions."""
    from botocore.loaders import Loader

    data = Loader().load_data("endpoints")
    return frozenset(
        region
        for partition in data["partitions"]
        for region in partition["services"].get("ecs", {}).get("endpoints", {})
        if region in partition["regions"]
    )


def _region_problem(region: Any) -> str | None:
    if isinstance(region, str) and region in known_regions():
        return None
    import botocore

    close = difflib.get_close_matches(str(region), sorted(known_regions()), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return (
        f"aws:region: expected an AWS region where ECS runs (botocore {botocore.__version__} "
        f"knows {len(known_regions())}, e.g. us-east-1, eu-west-1; upgrade boto3 for a region "
        f"newer than that), found {region!r}{hint}"
    )


# Settings each strategy (or traffic shift) does not read: set in a stack file, they are a
# misunderstanding worth a warning (e.g. `traffic: canary` under `strategy: rolling` is no canary).
IGNORED_BY_STRATEGY: dict[Strategy, tuple[str, ...]] = {
    Strategy.ROLLING: ("traffic", "percent", "interval_minutes", "blue_termination_minutes",
                       "bake_time_minutes", "timeout_minutes"),
    Strategy.CODEDEPLOY: ("bake_time_minutes",),
    Strategy.ECS_BLUEGREEN: ("blue_termination_minutes", "timeout_minutes"),
}  # fmt: skip


def ignored_settings(raw: Mapping[str, Any], settings: Settings) -> list[str]:
    """Keys a stack file sets that have no effect with the rest of its settings."""

    def given(section: str) -> Mapping[str, Any]:
        value = raw.get(section)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return {}
        return value if isinstance(value, Mapping) else {}

    out: list[str] = []
    dp, strategy = given("deploy"), settings.deploy.strategy
    ignored = set(IGNORED_BY_STRATEGY[strategy])
    for key in IGNORED_BY_STRATEGY[strategy]:
        if key in dp:
            out.append(f"{NAMESPACE}:deploy.{key} is set but strategy {strategy.value} ignores it")
    if strategy is not Strategy.ROLLING and settings.deploy.traffic is TrafficShift.ALL_AT_ONCE:
        for key in ("percent", "interval_minutes"):
            if key in dp and key not in ignored:
                out.append(f"{NAMESPACE}:deploy.{key} is set but traffic all_at_once ignores it")
    sv, ig, ob = given("service"), given("ingress"), given("observability")
    if "xray_daemon_image" in sv and not settings.service.xray:
        out.append(f"{NAMESPACE}:service.xray_daemon_image is set but service.xray is false")
    if "ssl_policy" in ig and not settings.ingress.https:
        out.append(f"{NAMESPACE}:ingress.ssl_policy is set but without ingress.certificate_arn "
                   "(or ingress.domain) there is no HTTPS listener")  # fmt: skip
    if "alert_email" in ob and settings.observability.alert_sns_topic_arn:
        out.append(f"{NAMESPACE}:observability.alert_email is set but alert_sns_topic_arn is "
                   "too: Deplight subscribes e-mail only to a topic it creates")  # fmt: skip
    return out


def _health_check(errors: list[str], service: _Reader) -> HealthCheckSettings | None:
    """``service.health_check``: a type name, or ``{type, command}``; ``None`` if absent/invalid."""
    present, raw = service._get("health_check")
    if not present:
        return None
    if isinstance(raw, str) and raw[:1] != "{":
        raw = {"type": raw}
    before = len(errors)
    hc = _Reader(errors, "service.health_check", raw, {}, HealthCheckSettings)
    hc.enum_("type", HealthCheckType)
    kind = hc.values.get("type", HealthCheckType.CURL)
    present, command = hc._get("command")
    if kind is HealthCheckType.COMMAND:
        if (
            not present
            or not isinstance(command, list)
            or not command
            or not all(isinstance(a, str) and a for a in command)
            or command in (["CMD"], ["CMD-SHELL"])
        ):
            hc.error("command", "a non-empty list of strings with type command, such as "
                     "[/app/healthcheck] or [CMD-SHELL, 'wget -qO- localhost:8080/health']",
                     command)  # fmt: skip
        else:
            hc.values["command"] = tuple(command)
    elif present:
        hc.error("command", f"no command with type {kind.value} (only with type command)", command)
    if len(errors) > before:
        return None
    return HealthCheckSettings(**hc.values)


def parse_settings(
    stack: str,
    raw: Mapping[str, Any],
    region: str | None = None,
    profile: str | None = None,
    secret_keys: Collection[str] = (),
) -> Settings:
    """Builds :class:`Settings` from the ``deplight:`` keys (namespace stripped), or raises
    :class:`SettingsError` listing every problem.

    ``secret_keys`` are the keys (namespace stripped) the stack set with ``--secret``: each is
    refused, without its value, because settings become plain resource inputs.
    """
    errors: list[str] = []
    # A secret key is refused below and otherwise ignored, so no other check can echo its value.
    # The webhook URL is the one secret allowed: the release commands read it, the program never.
    raw = {k: v for k, v in raw.items() if k not in secret_keys or k == WEBHOOK_URL_KEY}
    for k in raw:
        if k not in TOP_LEVEL_KEYS:
            errors.append(
                f"{NAMESPACE}:{k}: unknown key (expected one of: {', '.join(TOP_LEVEL_KEYS)})"
            )

    tier_raw = raw.get(TIER, Tier.PRODUCTION.value)
    try:
        tier = Tier(tier_raw)
    except ValueError:
        errors.append(
            f"{TIER_KEY}: expected one of {', '.join(t.value for t in Tier)}, found {tier_raw!r}"
        )
        tier = Tier.PRODUCTION
    defaults = TIER_DEFAULTS[tier]

    image_tag = raw.get(IMAGE_TAG)
    if image_tag in ("", None):
        image_tag = None
    elif not isinstance(image_tag, str) or not IMAGE_TAG_RE.fullmatch(image_tag):
        errors.append(
            f"{IMAGE_TAG_KEY}: expected a git commit SHA of 7-40 lowercase hex characters, "
            f"found {image_tag!r}"
        )
        image_tag = None

    schema_version = raw.get(SCHEMA_VERSION)
    if isinstance(schema_version, str) and schema_version.isdigit():
        schema_version = int(schema_version)
    if schema_version is not None and (
        isinstance(schema_version, bool)
        or not isinstance(schema_version, int)
        or schema_version < 0
    ):
        errors.append(
            f"{SCHEMA_VERSION_KEY}: expected a non-negative integer, found {schema_version!r}"
        )
        schema_version = None

    release = _Reader(errors, RELEASE, raw.get(RELEASE), {}, _ReleaseFields)
    release.enum_("kind", ReleaseKind)

    sv = _Reader(
        errors, "service", raw.get("service"), defaults.get("service", {}), ServiceSettings
    )
    sv.str_("name", NAME_RE, "a lowercase name of 1-20 letters, digits and dashes")
    sv.int_("container_port", check=_port)
    present, path = sv._get("health_check_path")
    if present:
        if not isinstance(path, str) or not path.startswith("/") or " " in path or len(path) > 1024:
            sv.error("health_check_path", "an HTTP path starting with '/'", path)
        else:
            sv.values["health_check_path"] = path
    health_check = _health_check(errors, sv)
    sv.int_("cpu", check=lambda c: None if c in FARGATE_SIZES else
            "a valid Fargate CPU (" + ", ".join(map(str, FARGATE_SIZES)) + ")")  # fmt: skip
    sv.int_("memory", lo=512, hi=122880)
    for name in ("desired_count", "min_count", "max_count"):
        sv.int_(name, lo=0 if name != "max_count" else 1, hi=1000)
    sv.int_("cpu_target_percent", lo=10, hi=95)
    sv.int_("requests_per_target", lo=1, hi=1_000_000)
    sv.str_map("environment", ENV_VAR_RE, lambda _: True, "a string", "another type")
    sv.str_map("secrets", ENV_VAR_RE, lambda a: bool(SECRET_ARN_RE.fullmatch(a)),
               "an SSM parameter or Secrets Manager secret ARN",
               "a string that is not such an ARN")  # fmt: skip
    sv.bool_("xray")
    sv.str_(
        "xray_daemon_image",
        DIGEST_IMAGE_RE,
        "an image pinned by digest (<registry>/<name>@sha256:<64 hex>)",
        optional=True,
    )
    if (
        sv.values.get("xray")
        and not sv.values.get("xray_daemon_image")
        and not any(e.startswith(f"{NAMESPACE}:service.xray_daemon_image") for e in errors)
    ):
        sv.error(
            "xray_daemon_image",
            "a digest-pinned X-Ray daemon image when service.xray is true",
            None,
        )
    if health_check is not None:
        sv.values["health_check"] = health_check
    sv.int_("ecr_keep_images", lo=1, hi=1000)
    sv.bool_("ecr_immutable_tags")
    sv.bool_("readonly_root_filesystem")
    cpu, mem = sv.values.get("cpu"), sv.values.get("memory")
    if cpu is not None and mem is not None and mem not in FARGATE_SIZES[cpu]:
        allowed = FARGATE_SIZES[cpu]
        sv.error(
            "memory",
            f"a memory size Fargate allows with cpu {cpu} ({allowed[0]}-{allowed[-1]} MiB in steps "
            f"of {allowed[1] - allowed[0]})",
            mem,
        )
        del sv.values["memory"]
    lo_, hi_, want = (sv.values.get(k) for k in ("min_count", "max_count", "desired_count"))
    if lo_ is not None and hi_ is not None and lo_ > hi_:
        sv.error("min_count", f"at most max_count ({hi_})", lo_)
    elif lo_ is not None and hi_ is not None and want is not None and not lo_ <= want <= hi_:
        sv.error("desired_count", f"between min_count ({lo_}) and max_count ({hi_})", want)
    dup = set(sv.values.get("environment", {})) & set(sv.values.get("secrets", {}))
    if dup:
        sv.error("secrets", "names not also set in service.environment", sorted(dup))

    nw = _Reader(
        errors, "network", raw.get("network"), defaults.get("network", {}), NetworkSettings
    )
    nw.str_("cidr", re.compile(r".+"), "a private CIDR")
    if "cidr" in nw.values and (problem := _private_cidr(nw.values["cidr"])):
        nw.error("cidr", problem, nw.values.pop("cidr"))
    nw.int_("az_count", lo=1, hi=6)
    nw.enum_("nat", NatStrategy)
    nw.bool_("flow_logs")
    nw.int_("flow_logs_retention_days", check=_retention)
    if "cidr" in nw.values and "az_count" in nw.values:
        probe = NetworkSettings(cidr=nw.values["cidr"], az_count=nw.values["az_count"])
        if probe.az_count > probe.az_slots:
            nw.error(
                "cidr",
                f"room for {2 * probe.az_count} subnets of at least /27 "
                f"(this CIDR has room for {probe.az_slots} AZs of /{probe.subnet_prefix} subnets)",
                probe.cidr,
            )

    dp = _Reader(errors, "deploy", raw.get("deploy"), defaults.get("deploy", {}), DeploySettings)
    dp.enum_("strategy", Strategy)
    dp.enum_("traffic", TrafficShift)
    dp.int_("percent", lo=1, hi=99)
    dp.int_("interval_minutes", lo=1, hi=2880)
    dp.int_("blue_termination_minutes", lo=0, hi=2880)
    dp.int_("bake_time_minutes", lo=0, hi=1440)
    dp.int_("timeout_minutes", lo=5, hi=720)
    if dp.values.get("strategy") is Strategy.ECS_BLUEGREEN:
        # ECS's own limits: bake times 0-1440 minutes, linear steps of at least 3 percent.
        if dp.values.get("interval_minutes", 0) > 1440:
            dp.error("interval_minutes", "at most 1440 with strategy ecs_bluegreen",
                     dp.values["interval_minutes"])  # fmt: skip
        if dp.values.get("traffic") is TrafficShift.LINEAR and dp.values.get("percent", 10) < 3:
            dp.error("percent", "at least 3 for linear traffic with strategy ecs_bluegreen",
                     dp.values["percent"])  # fmt: skip

    ig = _Reader(
        errors, "ingress", raw.get("ingress"), defaults.get("ingress", {}), IngressSettings
    )
    ig.str_("certificate_arn", ACM_ARN_RE, "an ACM certificate ARN", optional=True)
    ig.str_("ssl_policy", re.compile(r"ELBSecurityPolicy-[A-Za-z0-9-]+"),
            "an ELB security policy name (ELBSecurityPolicy-...)")  # fmt: skip
    ig.int_("test_port", check=_port)
    ig.str_list("test_cidrs", _public_or_private_cidr)
    ig.bool_("deletion_protection")
    ig.bool_("access_logs")
    ig.str_("access_logs_bucket", S3_BUCKET_RE, "an S3 bucket name", optional=True)
    ig.str_("domain", DOMAIN_RE, "a lowercase DNS name such as api.example.com", optional=True)
    ig.str_("hosted_zone_id", HOSTED_ZONE_RE, "a Route 53 hosted zone id (Z...)", optional=True)
    for have, need in (("domain", "hosted_zone_id"), ("hosted_zone_id", "domain")):
        if ig.values.get(have) and not ig.raw.get(need):
            ig.error(need, f"a value when ingress.{have} is set (both or neither)", None)
    ig.int_("access_logs_retention_days", lo=1, hi=3650)
    ig.bool_("waf")
    # WAF's limits for a rate-based rule over the default 5-minute window.
    ig.int_("waf_rate_limit", lo=10, hi=2_000_000_000)
    port = ig.values.get("test_port")
    if port is not None:
        taken = {80: "the HTTP listener", 443: "the HTTPS listener"}
        if port in taken:
            ig.error("test_port", f"a port other than 80 and 443 (used by {taken[port]})", port)

    ob = _Reader(errors, "observability", raw.get("observability"),
                 defaults.get("observability", {}), ObservabilitySettings)  # fmt: skip
    ob.int_("log_retention_days", check=_retention)
    ob.str_("log_kms_key_arn", KMS_ARN_RE, "a KMS key ARN", optional=True)
    ob.float_("xray_sampling_rate", 0.0, 1.0)
    ob.float_("alarm_5xx_rate_percent", 0.01, 100.0)
    ob.int_("alarm_p99_latency_ms", lo=10, hi=120_000)
    ob.int_("alarm_min_healthy_hosts", lo=1, hi=1000)
    ob.int_("alarm_cpu_percent", lo=1, hi=100)
    ob.int_("alarm_memory_percent", lo=1, hi=100)
    ob.int_("alarm_evaluation_periods", lo=1, hi=60)
    ob.str_("alert_email", EMAIL_RE, "an e-mail address", optional=True)
    ob.str_("alert_sns_topic_arn", SNS_ARN_RE, "an SNS topic ARN", optional=True)
    ob.bool_("audit_deletion_protection")
    ob.bool_("customer_managed_key")

    gh = _Reader(errors, "github", raw.get("github"), {}, GithubSettings)
    for required, what in (
        ("repository", "owner/name of the GitHub repository whose workflows deploy this stack"),
        ("oidc_provider", f"{OIDC_PROVIDER_CREATE!r} (this stack creates the account's GitHub "
                          "OIDC provider) or the ARN of the existing one"),
    ):  # fmt: skip
        if required not in gh.raw:
            gh.error(required, f"{what} (required, there is no default)", None)
    gh.str_("repository", REPOSITORY_RE, "owner/name of a GitHub repository (no wildcards)")
    gh.str_list("subjects", _subject)
    if "subjects" in gh.raw and gh.values.get("subjects") == ():
        gh.error("subjects", "at least one allowed subject", [])
    if tier is Tier.PRODUCTION:
        gated = [x for x in gh.values.get("subjects", ()) if not x.startswith("environment:")]
        if gated:
            gh.error(
                "subjects",
                "only environment:<name> subjects in a production-tier stack (the GitHub "
                "environment's required reviewers are the gate; a branch or tag subject lets "
                "any job on that ref assume the deploy role without them)",
                gated[0],
            )
    gh.str_("oidc_provider", OIDC_PROVIDER_RE,
            f"{OIDC_PROVIDER_CREATE!r} or an IAM OIDC provider ARN for "
            "token.actions.githubusercontent.com")  # fmt: skip
    gh.bool_("auto_rollback")
    gh.int_("session_duration_seconds", lo=3600, hi=43200)
    gh.bool_("preview_role")
    gh.str_("state_bucket", S3_BUCKET_RE, "an S3 bucket name", optional=True)

    for key in sorted(set(secret_keys) - {WEBHOOK_URL_KEY}):
        # A secret config value would land in plain resource inputs (a task definition's
        # environment, a tag) and so in plain state: refuse it, and never echo it.
        errors.append(
            f"{NAMESPACE}:{key}: expected plain configuration, found a secret (set with "
            "--secret; its value is not shown). Deplight settings end up in resource inputs and "
            "state, so a secret here would not stay secret: store it in Secrets Manager or SSM "
            f"Parameter Store and give its ARN in {NAMESPACE}:service.secrets "
            "(NAME: arn:aws:secretsmanager:... or arn:aws:ssm:...), which the task reads at start"
        )
    nt = _Reader(errors, "notifications", raw.get("notifications"), {}, NotificationSettings)
    nt.str_(
        "slack_workspace_id",
        SLACK_WORKSPACE_RE,
        "a Slack workspace id (T followed by 8-20 capitals and digits)",
        optional=True,
    )
    nt.str_(
        "slack_channel_id",
        SLACK_CHANNEL_RE,
        "a Slack channel id (C or G followed by 8-20 capitals and digits)",
        optional=True,
    )
    nt.enum_("logging_level", ChatbotLogging)  # fmt: skip
    for have, need in (("slack_workspace_id", "slack_channel_id"),
                       ("slack_channel_id", "slack_workspace_id")):  # fmt: skip
        if nt.raw.get(have) and not nt.raw.get(need):
            nt.error(need, f"a value as well when notifications.{have} is set", None)
    if WEBHOOK_URL_KEY in raw:
        # Never echo the value: it is, or should have been, a secret.
        if WEBHOOK_URL_KEY not in secret_keys:
            errors.append(
                f"{NAMESPACE}:{WEBHOOK_URL_KEY}: expected a secret (pulumi config set --secret "
                f"{NAMESPACE}:{WEBHOOK_URL_KEY} <url>), found a plain-text value"
            )
        elif not isinstance(raw[WEBHOOK_URL_KEY], str) or not raw[WEBHOOK_URL_KEY].startswith(
            "https://"
        ):
            errors.append(
                f"{NAMESPACE}:{WEBHOOK_URL_KEY}: expected an https:// URL, found [secret] "
                "that is not one"
            )
    ra = _release_api(errors, raw.get("release_api"), tier)
    if region is not None and (problem := _region_problem(region)):
        errors.append(problem)
    present, command = dp._get("migrate_command")
    if present and command not in (None, []):
        if (problem := migrate_command_problem(command)) is not None:
            dp.error("migrate_command", problem, command)
        else:
            dp.values["migrate_command"] = tuple(command)

    data = _parse_data(errors, raw.get("data"), DATA_TIER_DEFAULTS[tier],
                       az_count=nw.values.get("az_count"), service=sv.values)  # fmt: skip

    if errors:
        raise SettingsError(errors)

    gh.values.setdefault("subjects", (f"environment:{stack}",))
    settings = Settings(
        stack=stack,
        tier=tier,
        image_tag=image_tag,
        schema_version=schema_version,
        release_kind=release.values.get("kind", ReleaseKind.DEPLOY),
        region=region or "us-east-1",
        aws_profile=profile or None,
        service=ServiceSettings(**sv.values),
        network=NetworkSettings(**nw.values),
        deploy=DeploySettings(**dp.values),
        ingress=IngressSettings(**ig.values),
        observability=ObservabilitySettings(**ob.values),
        github=GithubSettings(**gh.values),  # repository and oidc_provider checked above
        notifications=NotificationSettings(**nt.values),
        release_api=ReleaseApiSettings(**ra.values),
        data=data,
    )
    return dataclasses.replace(settings, warnings=tuple(ignored_settings(raw, settings)))


def _parse_data(errors: list[str], raw: Any, defaults: Mapping[str, Mapping[str, Any]], *,
                az_count: int | None, service: Mapping[str, Any]) -> DataSettings:  # fmt: skip
    """``deplight:data``: its two stores, each off unless ``enabled``, tier defaults underneath."""
    top = _Reader(errors, "data", raw, {}, DataSettings)
    top.str_("kms_key_arn", KMS_KEY_ARN_RE, "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)",
             optional=True)  # fmt: skip

    pg = _Reader(errors, "data.postgres", top.raw.get("postgres"), defaults["postgres"],
                 PostgresSettings)  # fmt: skip
    pg.bool_("enabled")
    pg.str_("engine_version", PG_VERSION_RE, "an Aurora PostgreSQL version such as 16.6 (13-19)")
    pg.str_("database_name", PG_NAME_RE, "a database name: a letter, then letters, digits, _")
    pg.str_("master_username", PG_NAME_RE, "a user name: a letter, then letters, digits, _")
    user = str(pg.values.get("master_username", "")).lower()
    if user in PG_RESERVED_USERS or user.startswith(("pg_", "rds_")):
        pg.error("master_username", "a name RDS and PostgreSQL do not reserve (not "
                 + ", ".join(PG_RESERVED_USERS) + ", pg_*, rds_*)", pg.values.pop("master_username"))  # fmt: skip
    for name, lo in (("min_capacity", 0.0), ("max_capacity", 1.0)):
        pg.float_(name, lo, 256.0)
        if name in pg.values and (pg.values[name] * 2) % 1:
            pg.error(name, "a capacity in steps of 0.5 ACU", pg.values.pop(name))
    pg.int_("seconds_until_auto_pause", lo=300, hi=86400)
    pg.int_("instances", lo=1, hi=16)
    pg.int_("backup_retention_days", lo=1, hi=35)
    pg.bool_("deletion_protection")
    pg.bool_("final_snapshot")
    pg.int_("performance_insights_retention_days", check=_pi_retention)
    pg.str_list("log_exports", lambda x: None if x in PG_LOG_EXPORTS else
                "log types of Aurora PostgreSQL (" + ", ".join(PG_LOG_EXPORTS) + ")")  # fmt: skip
    pg.int_("alarm_cpu_percent", lo=1, hi=100)
    pg.int_("alarm_connections", lo=1, hi=100_000)
    pg.int_("alarm_freeable_memory_mb", lo=1, hi=1_000_000)
    pg.int_("alarm_replica_lag_ms", lo=1, hi=3_600_000)
    lo_acu, hi_acu = pg.values.get("min_capacity"), pg.values.get("max_capacity")
    if lo_acu is not None and hi_acu is not None and lo_acu > hi_acu:
        pg.error("min_capacity", f"at most max_capacity ({hi_acu:g})", lo_acu)
    version = PG_VERSION_RE.fullmatch(str(pg.values.get("engine_version", "")))
    if lo_acu == 0 and version:
        major, minor = int(version[1]), int(version[2])
        since = PG_AUTO_PAUSE_SINCE.get(major, 0)
        if minor < since:
            pg.error("min_capacity", f"at least 0.5 with engine_version {version[0]} (scaling to "
                     f"0 ACUs needs {major}.{since} or later)", lo_acu)  # fmt: skip

    cache = _Reader(errors, "data.cache", top.raw.get("cache"), defaults["cache"], CacheSettings)
    cache.bool_("enabled")
    cache.enum_("engine", CacheEngine)
    cache.str_("engine_version", CACHE_VERSION_RE, "an engine version such as 8.0 or 7.1")
    cache.str_("node_type", CACHE_NODE_RE, "an ElastiCache node type such as cache.t4g.small")
    cache.int_("nodes", lo=1, hi=6)
    cache.int_("snapshot_retention_days", lo=0, hi=35)
    cache.int_("alarm_cpu_percent", lo=1, hi=100)
    cache.int_("alarm_memory_percent", lo=1, hi=100)
    cache.int_("alarm_evictions", lo=1, hi=10_000_000)

    on = [k for r, k in ((pg, "data.postgres"), (cache, "data.cache")) if r.values.get("enabled")]
    if on and az_count is not None and az_count < 2:
        errors.append(
            f"{NAMESPACE}:network.az_count: expected at least 2 with {' and '.join(on)} enabled "
            f"(database and cache subnet groups span two AZs for failover), found {az_count}"
        )
    taken = set(service.get("environment", {})) | set(service.get("secrets", {}))
    if on and (clash := sorted(taken & set(DATA_ENVIRONMENT + DATA_SECRETS))):
        errors.append(
            f"{NAMESPACE}:service.environment: expected no variable the data tier sets "
            f"({', '.join(DATA_ENVIRONMENT + DATA_SECRETS)}), found {clash}"
        )
    return DataSettings(
        kms_key_arn=top.values.get("kms_key_arn"),
        postgres=PostgresSettings(**pg.values),
        cache=CacheSettings(**cache.values),
    )


def _release_api(errors: list[str], raw: Any, tier: Tier) -> _Reader:
    """``deplight:release_api``: types always; the identity provider, origin and token secret
    only when it is enabled (a disabled API may be half configured)."""
    ra = _Reader(errors, "release_api", raw, {}, ReleaseApiSettings)
    ra.bool_("enabled")
    ra.str_("jwt_issuer", ISSUER_RE, "the OIDC issuer's https URL (its tokens' iss claim, e.g. "
            "https://login.example.com/oauth2/default)", optional=True)  # fmt: skip
    ra.str_list("jwt_audience", lambda a: None if AUDIENCE_RE.fullmatch(a) else
                "audiences of 1-200 characters without spaces or commas")  # fmt: skip
    ra.str_("allowed_origin", ORIGIN_RE, "the release page's origin: https://host[:port] without "
            "a path or wildcard (http only for localhost)", optional=True)  # fmt: skip
    ra.str_("page_client_id", CLIENT_ID_RE, "the page's public OIDC client id: 1-200 letters, "
            "digits or ._~:/@+-", optional=True)  # fmt: skip
    ra.str_list("page_scopes", lambda s: None if SCOPE_RE.fullmatch(s) else
                "OAuth scopes of 1-200 printable characters without spaces, commas, double quotes "
                "or backslashes")  # fmt: skip
    if "page_scopes" in ra.values and "openid" not in ra.values["page_scopes"]:
        ra.error("page_scopes", "a list that includes openid (the page checks the ID token's "
                 "nonce)", ra.raw.get("page_scopes"))  # fmt: skip
    ra.str_("page_audience", AUDIENCE_RE, "an audience of 1-200 characters without spaces or "
            "commas", optional=True)  # fmt: skip
    audience = ra.values.get("page_audience")
    if audience and audience not in ra.values.get("jwt_audience", ()):
        ra.error("page_audience", "one of jwt_audience (the authorizer accepts only those)",
                 ra.raw.get("page_audience"))  # fmt: skip
    ra.str_("production_group", GROUP_RE, "a group name of 1-256 characters", optional=True)
    ra.str_("groups_claim", CLAIM_RE, "a claim name such as groups or cognito:groups")
    ra.str_("github_token_secret", SECRET_ID_RE, "a Secrets Manager secret name or ARN",
            optional=True)  # fmt: skip
    ra.str_("github_workflow", WORKFLOW_FILE_RE, "a workflow file name such as rollback.yml")
    ra.str_("github_ref", BRANCH_RE, "a branch name such as main")
    ra.int_("throttle_rate", lo=1, hi=10_000)
    ra.int_("throttle_burst", lo=1, hi=5_000)
    ra.int_("rollback_throttle_rate", lo=1, hi=10_000)
    ra.int_("rollback_throttle_burst", lo=1, hi=5_000)
    if not ra.values.get("enabled"):
        return ra
    needed = {
        "jwt_issuer": "the OIDC issuer's https URL",
        "jwt_audience": "at least one audience",
        "github_token_secret": "the Secrets Manager secret holding the GitHub token",
    }
    if not ra.values.get("page_client_id"):
        # A page the API serves itself is same-origin; one hosted elsewhere needs CORS.
        needed["allowed_origin"] = (
            "the release page's origin (or page_client_id: the API serves it)"
        )
    if tier is Tier.PRODUCTION:
        needed["production_group"] = "the group allowed to roll back production (tier production)"
    for key, what in needed.items():
        if not ra.values.get(key) and not any(e.startswith(ra.key(key)) for e in errors):
            ra.error(key, f"{what} when release_api.enabled is true", ra.raw.get(key))
    return ra


@dataclass(frozen=True)
class _ReleaseFields:
    """Shape of ``deplight:release`` (set by the release commands, not by hand)."""

    kind: ReleaseKind = ReleaseKind.DEPLOY


def raw_from_pulumi_config() -> dict[str, Any]:
    """Collects every ``deplight:`` key the program was given (stack file, env, ``set_all_config``).

    Reading the whole map, not key by key, is what lets a typo such as ``deplight:servce`` be
    reported instead of silently ignored.
    """
    from pulumi.runtime import config as rc

    merged: dict[str, Any] = {**rc.get_config_env(), **rc.CONFIG.get()}
    raw: dict[str, Any] = {}
    for full_key, value in merged.items():
        ns, _, key = full_key.partition(":")
        if ns != NAMESPACE or not key:
            continue
        if isinstance(value, str) and value[:1] in "{[":
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        raw[key] = value
    return raw


def secret_keys_from_pulumi_config() -> set[str]:
    """The ``deplight:`` keys (namespace stripped) the engine marks as secret (``--secret``)."""
    from pulumi.runtime import config as rc

    merged: dict[str, Any] = {**rc.get_config_env(), **rc.CONFIG.get()}
    marked = set(rc.get_config_secret_keys_env())
    return {
        key.partition(":")[2]
        for key in merged
        if key.startswith(f"{NAMESPACE}:") and (rc.is_config_secret(key) or key in marked)
    }


def load_settings() -> Settings:
    """Reads the current stack's config (inside a Pulumi program) into :class:`Settings`."""
    import pulumi

    aws = pulumi.Config("aws")
    return parse_settings(pulumi.get_stack(), raw_from_pulumi_config(), region=aws.get("region"),
                          profile=aws.get("profile"),
                          secret_keys=secret_keys_from_pulumi_config())  # fmt: skip
