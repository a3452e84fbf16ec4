"""The EcsService component: ECR repository, cluster, roles, task definition, ALB with blue and
green target groups, listeners, the Fargate service and its autoscaling.

Construction logic that can be pure is pure: :func:`container_definitions`,
:func:`execution_policy`, :func:`task_policy` and :func:`lifecycle_policy` are plain functions of
settings, tested (and snapshot-tested) without the engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.contract import Strategy
from components.iam import service_trust_policy, stack_tags
from components.settings import (
    DeploySettings,
    HealthCheckType,
    IngressSettings,
    ServiceSettings,
    TrafficShift,
)

HTTP_PORT, HTTPS_PORT = 80, 443
PLATFORM_VERSION = "LATEST"
XRAY_DAEMON_PORT = 2000
TMP_VOLUME = "tmp"
"""The task volume mounted writable at ``/tmp`` when the root filesystem is read-only."""


def aws_name(prefix: str, suffix: str, limit: int = 32) -> str:
    """``<prefix>-<suffix>`` within AWS's length limit (ALB and target group names: 32)."""
    room = limit - len(suffix) - 1
    return f"{prefix[:room].rstrip('-')}-{suffix}"


def container_definitions(
    *,
    settings: ServiceSettings,
    image: str,
    log_group: str,
    region: str,
    tracing_name: str,
    extra_environment: Mapping[str, str] | None = None,
    extra_secrets: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The task's container definitions (pure; snapshot-tested).

    ``extra_environment`` and ``extra_secrets`` (variable -> ``valueFrom``) are what other
    components hand the container, e.g. the data tier's endpoints and credentials.

    The container health check follows ``service.health_check``: ``curl`` against the health
    path (the image needs a shell and curl), a ``command`` the image provides, or none (``http``:
    the load balancer's check only). The X-Ray daemon sidecar is added when ``service.xray`` is
    on, with the digest-pinned image from ``service.xray_daemon_image``. With
    ``service.readonly_root_filesystem`` the app's root filesystem is read-only and the task
    volume :data:`TMP_VOLUME` is mounted writable at ``/tmp``.
    """

    def logging(stream_prefix: str) -> dict[str, Any]:
        return {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": stream_prefix,
            },
        }

    env = dict(settings.environment) | dict(extra_environment or {})
    secrets = dict(settings.secrets) | dict(extra_secrets or {})
    if settings.xray:
        env |= {
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{XRAY_DAEMON_PORT}",
            "AWS_XRAY_TRACING_NAME": tracing_name,
        }
    app: dict[str, Any] = {
        "name": settings.name,
        "image": image,
        "essential": True,
        "portMappings": [
            {
                "containerPort": settings.container_port,
                "hostPort": settings.container_port,
                "protocol": "tcp",
            },
        ],  # fmt: skip
        "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
        "secrets": [{"name": k, "valueFrom": v} for k, v in sorted(secrets.items())],
        "logConfiguration": logging(settings.name),
        "readonlyRootFilesystem": settings.readonly_root_filesystem,
        "privileged": False,
    }
    if settings.readonly_root_filesystem:
        app["mountPoints"] = [{"sourceVolume": TMP_VOLUME, "containerPath": "/tmp",
                               "readOnly": False}]  # fmt: skip
    if (command := health_check_command(settings)) is not None:
        app["healthCheck"] = {
            "command": command, "interval": 15, "timeout": 5, "retries": 3, "startPeriod": 30,
        }  # fmt: skip
    defs = [app]
    if settings.xray:
        defs.append(
            {
                "name": "xray-daemon",
                "image": settings.xray_daemon_image,
                "essential": False,
                "portMappings": [{"containerPort": XRAY_DAEMON_PORT, "protocol": "udp"}],
                "logConfiguration": logging("xray"),
                "cpu": 32,
                "memoryReservation": 64,
                "privileged": False,
            }
        )
    return defs


def health_check_command(settings: ServiceSettings) -> list[str] | None:
    """The container health check command ECS runs, or ``None`` (``type: http``)."""
    hc = settings.health_check
    if hc.type is HealthCheckType.HTTP:
        return None
    if hc.type is HealthCheckType.COMMAND:
        command = list(hc.command)
        return command if command[0] in ("CMD", "CMD-SHELL") else ["CMD", *command]
    return [
        "CMD-SHELL",
        f"curl -fsS http://localhost:{settings.container_port}{settings.health_check_path} "
        "|| exit 1",
    ]


def execution_policy(
    *,
    repository_arn: str,
    log_group_arn: str,
    secrets: Mapping[str, str],
    secrets_kms_key_arn: str | None = None,
) -> dict[str, Any]:
    """What ECS itself needs to start the task: pull this image, write this log group, read
    the configured secrets (a ``valueFrom`` that selects a JSON key is read through its secret's
    ARN), decrypt them with their customer key if they have one. Nothing else."""
    statements: list[dict[str, Any]] = [
        {
            # GetAuthorizationToken has no resource-level permission: AWS only accepts "*".
            "Sid": "EcrAuth",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        },
        {
            "Sid": "PullThisRepository",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ],
            "Resource": repository_arn,
        },
        {
            "Sid": "WriteThisLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*",
        },
    ]
    ssm = sorted(v for v in secrets.values() if ":ssm:" in v)
    # arn:aws:secretsmanager:<region>:<account>:secret:<name>[:<json-key>:<stage>:<version>]
    sm = sorted({":".join(v.split(":")[:7]) for v in secrets.values() if ":secretsmanager:" in v})
    if ssm:
        statements.append(
            {
                "Sid": "ReadParameters",
                "Effect": "Allow",
                "Action": "ssm:GetParameters",
                "Resource": ssm,
            }  # fmt: skip
        )
    if sm:
        statements.append(
            {
                "Sid": "ReadSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": sm,
            }  # fmt: skip
        )
    if sm and secrets_kms_key_arn:
        statements.append(
            {
                "Sid": "DecryptSecrets",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": secrets_kms_key_arn,
                "Condition": {"StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"}},
            }  # fmt: skip
        )
    return {"Version": "2012-10-17", "Statement": statements}


def task_policy(*, xray: bool) -> dict[str, Any] | None:
    """What the application itself may do: X-Ray writes when tracing is on, otherwise nothing.

    Grant the app's own needs (a bucket, a queue) in the service's own stack code, scoped to ARNs.
    """
    if not xray:
        return None
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                # X-Ray has no resource-level permissions for these actions: AWS only accepts "*".
                "Sid": "XRayWrite",
                "Effect": "Allow",
                "Action": [
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "xray:GetSamplingStatisticSummaries",
                ],
                "Resource": "*",
            }
        ],
    }


ECS_STRATEGY = {
    TrafficShift.ALL_AT_ONCE: "BLUE_GREEN",
    TrafficShift.CANARY: "CANARY",
    TrafficShift.LINEAR: "LINEAR",
}


def ecs_deployment_configuration(deploy: DeploySettings) -> dict[str, Any]:
    """``deployment_configuration`` of a service under ``ecs_bluegreen`` (pure).

    all_at_once -> BLUE_GREEN, canary -> CANARY (``percent`` first, the rest after
    ``interval_minutes``), linear -> LINEAR (``percent`` every ``interval_minutes``); both
    revisions then run for ``bake_time_minutes`` before the old one is removed.
    """
    config: dict[str, Any] = {
        "strategy": ECS_STRATEGY[deploy.traffic],
        "bake_time_in_minutes": str(deploy.bake_time_minutes),
    }
    if deploy.traffic is TrafficShift.CANARY:
        config["canary_configuration"] = {
            "canary_percent": float(deploy.percent),
            "canary_bake_time_in_minutes": str(deploy.interval_minutes),
        }
    elif deploy.traffic is TrafficShift.LINEAR:
        config["linear_configuration"] = {
            "step_percent": float(deploy.percent),
            "step_bake_time_in_minutes": str(deploy.interval_minutes),
        }
    return config


def service_name(prefix: str) -> str:
    """Name of the ECS service: deterministic, so the healthy-hosts alarm can watch the service's
    metrics before the first release creates it."""
    return prefix


def service_ignore_changes(strategy: Strategy) -> list[str]:
    """What the ECS service leaves to someone else, per strategy (pure).

    ``desiredCount`` always belongs to autoscaling. Under ``codedeploy`` CodeDeploy owns the task
    definition and the load balancers, and ECS rejects UpdateService changes to the network
    configuration and the platform version for the CODE_DEPLOY controller: the release's AppSpec
    carries those (see ``release_provider.render_appspec``). Under ``ecs_bluegreen`` ECS swaps
    the primary and alternate target groups, so ``loadBalancers`` drifts by design; but it is the
    ECS controller, whose UpdateService accepts a new network configuration or platform version
    and rolls it out as a blue/green deployment like any other change, so those stay managed by
    Pulumi (ignoring them would silently drop a subnet or security group change). ``rolling`` is
    the ECS controller too.
    """
    if strategy is Strategy.CODEDEPLOY:
        return ["desiredCount", "taskDefinition", "loadBalancers", "networkConfiguration",
                "platformVersion"]  # fmt: skip
    if strategy is Strategy.ECS_BLUEGREEN:
        return ["desiredCount", "loadBalancers"]
    return ["desiredCount"]


def lifecycle_policy(keep_images: int) -> dict[str, Any]:
    """ECR lifecycle: untagged layers go after a day; the newest ``keep_images`` images stay, so a
    rollback target never expires while it is inside the release window."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": "expire untagged images after 1 day",
                "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                              "countUnit": "days", "countNumber": 1},
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"keep the last {keep_images} release images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                              "countNumber": keep_images},
                "action": {"type": "expire"},
            },
        ]
    }  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class EcsServiceArgs:
    """Inputs of :class:`EcsService`."""

    prefix: str
    """Name prefix (``<service>-<stack>``)."""
    region: str
    """Region (awslogs driver)."""
    image_tag: str | None
    """The release; ``None`` for the bootstrap ``up`` (no task definition, no service yet)."""
    service: ServiceSettings
    """Container, task size, counts, secrets."""
    deploy: DeploySettings
    """Strategy: decides the deployment controller."""
    ingress: IngressSettings
    """Certificate, TLS policy, test port, ALB options."""
    vpc_id: pulumi.Input[str]
    """The VPC."""
    public_subnet_ids: pulumi.Input[list[str]]
    """Where the ALB goes."""
    service_subnet_ids: pulumi.Input[list[str]]
    """Where the tasks go (private, or public when there is no NAT)."""
    assign_public_ip: bool
    """True only when the network has no NAT."""
    alb_security_group_id: pulumi.Input[str]
    """The ALB's group."""
    task_security_group_id: pulumi.Input[str]
    """The tasks' group."""
    log_group_name: pulumi.Input[str]
    """Where the containers log."""
    log_group_arn: pulumi.Input[str]
    """Its ARN (execution role scope)."""
    rollback_alarm_names: Sequence[str] = ()
    """Strategy ecs_bluegreen: the alarms that stop and roll back a service deployment."""
    permissions_boundary: pulumi.Input[str] | None = None
    """The stack's permissions boundary (``PermissionsBoundary.arn``): every role here carries it."""
    ecr_force_delete: bool = False
    """Let ``pulumi destroy`` delete the ECR repository together with its images. Development
    tier only: a production repository holds the images every rollback needs."""
    certificate_arn: pulumi.Input[str] | None = None
    """A certificate made for ``ingress.domain`` (:class:`~components.domain.DomainCertificate`);
    ``None`` uses ``ingress.certificate_arn``."""
    extra_environment: pulumi.Input[Mapping[str, str]] | None = None
    """More plain container environment (the data tier's endpoints)."""
    extra_secrets: pulumi.Input[Mapping[str, str]] | None = None
    """More container secrets, variable -> Secrets Manager ``valueFrom`` (the data tier's
    credentials); the execution role may read exactly these secrets too."""
    secrets_kms_key_arn: str | None = None
    """Customer-managed key those secrets are encrypted with (execution role ``kms:Decrypt``)."""
    access_logs_bucket: pulumi.Input[str] | None = None
    """S3 bucket the ALB writes access logs to (``None``: no access logs)."""
    access_logs_prefix: str | None = None
    """Key prefix of the ALB's logs in that bucket."""
    access_logs_ready: Sequence[pulumi.Resource] = ()
    """What the ALB waits for before it turns logging on (the bucket policy)."""
    kms_key_arn: pulumi.Input[str] | None = None
    """The stack's customer-managed key for the ECR repository (``None``: SSE with AES256).
    Changing a repository's encryption replaces it (README: upgrading)."""


class EcsService(pulumi.ComponentResource):
    """ECR, cluster, roles, task definition, ALB with blue/green target groups, service, scaling.

    Under the ``codedeploy`` strategy CodeDeploy, not Pulumi, owns what a release changes: it
    registers the new task set, swaps the listeners between the blue and green target groups and
    scales the service. So the service uses the ``CODE_DEPLOY`` controller and ignores changes to
    ``task_definition``, ``load_balancers`` and ``desired_count``, and both listeners ignore
    ``default_actions``; otherwise every ``up`` would fight the last release. ECS also rejects
    UpdateService changes to ``network_configuration`` and ``platform_version`` under CODE_DEPLOY:
    the service ignores them too, and the release's AppSpec carries them to the next task set. Task definition
    revisions are kept (``skip_destroy``) so older revisions stay registered as rollback targets.
    Under ``rolling`` the ECS controller rolls the service with the circuit breaker and rollback.
    Under ``ecs_bluegreen`` ECS itself runs the blue/green (or canary/linear) deployment: it shifts
    traffic by rewriting the actions of the production and test *listener rules* (so those ignore
    ``actions``) with an infrastructure role, bakes, and rolls back on the rollback alarms or the
    circuit breaker. No CodeDeploy.
    """

    repository_url: pulumi.Output[str]
    """``<account>.dkr.ecr.<region>.amazonaws.com/<name>``: push release images here."""
    repository_name: pulumi.Output[str]
    """ECR repository name."""
    cluster_name: pulumi.Output[str]
    """ECS cluster."""
    service_name: pulumi.Output[str] | None
    """ECS service (``None`` during bootstrap)."""
    task_definition_arn: pulumi.Output[str] | None
    """Task definition revision of this release (``None`` during bootstrap)."""
    task_definition_family: pulumi.Output[str]
    """Task definition family."""
    alb_dns_name: pulumi.Output[str]
    """ALB DNS name."""
    alb_zone_id: pulumi.Output[str]
    """The ALB's canonical hosted zone (target of a Route 53 alias)."""
    alb_arn: pulumi.Output[str]
    """ALB ARN (the WAF web ACL is associated with it)."""
    alb_arn_suffix: pulumi.Output[str]
    """``app/<name>/<id>``, for CloudWatch dimensions."""
    service_url: pulumi.Output[str]
    """``https://`` (or ``http://`` without a certificate) URL of the production listener."""
    blue_target_group_arn: pulumi.Output[str]
    """Blue target group ARN."""
    green_target_group_arn: pulumi.Output[str]
    """Green target group ARN."""
    blue_target_group_name: pulumi.Output[str]
    """Blue target group name (CodeDeploy takes names)."""
    green_target_group_name: pulumi.Output[str]
    """Green target group name."""
    blue_target_group_arn_suffix: pulumi.Output[str]
    """``targetgroup/<name>/<id>`` of blue."""
    green_target_group_arn_suffix: pulumi.Output[str]
    """``targetgroup/<name>/<id>`` of green."""
    prod_listener_arn: pulumi.Output[str]
    """Listener that serves production traffic."""
    test_listener_arn: pulumi.Output[str]
    """Listener on the test port (green before traffic shifts)."""
    subnet_ids: pulumi.Input[list[str]]
    """Subnets the service's tasks run in (the AppSpec of a CodeDeploy release repeats them)."""
    security_group_ids: list[pulumi.Input[str]]
    """Security groups of the service's tasks."""
    assign_public_ip: bool
    """Whether the tasks get a public IP."""
    platform_version: str
    """Fargate platform version of the service."""

    def __init__(
        self, name: str, args: EcsServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deplight:ecs:Service", name, None, opts)
        sv, ig = args.service, args.ingress
        codedeploy = args.deploy.strategy is Strategy.CODEDEPLOY
        child = pulumi.ResourceOptions(parent=self)
        tags = stack_tags(args.prefix)
        self.container_name = sv.name
        self.container_port = sv.container_port
        self.subnet_ids = args.service_subnet_ids
        self.security_group_ids = [args.task_security_group_id]
        self.assign_public_ip = args.assign_public_ip
        self.platform_version = PLATFORM_VERSION

        repo = aws.ecr.Repository(
            f"{name}-repo",
            name=args.prefix,
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True
            ),
            image_tag_mutability="IMMUTABLE" if sv.ecr_immutable_tags else "MUTABLE",
            # Without it, destroy fails as soon as one image was pushed (RepositoryNotEmpty).
            # Left unset (AWS's default, false) elsewhere, so other stacks see no change.
            force_delete=True if args.ecr_force_delete else None,
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(
                    encryption_type="KMS", kms_key=args.kms_key_arn
                )
                if args.kms_key_arn is not None
                else aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="AES256")
            ],  # fmt: skip
            tags=tags,
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-repo-lifecycle",
            repository=repo.name,
            policy=json.dumps(lifecycle_policy(sv.ecr_keep_images)),
            opts=child,
        )
        cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            name=args.prefix,
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            tags=tags,
            opts=child,
        )

        execution_role = aws.iam.Role(
            f"{name}-execution-role",
            name=aws_name(args.prefix, "execution", 64),
            assume_role_policy=service_trust_policy("ecs-tasks.amazonaws.com"),
            permissions_boundary=args.permissions_boundary,
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-execution-policy",
            role=execution_role.id,
            policy=pulumi.Output.all(repo.arn, args.log_group_arn, args.extra_secrets).apply(
                lambda v: json.dumps(
                    execution_policy(
                        repository_arn=v[0],
                        log_group_arn=v[1],
                        secrets={**sv.secrets, **(v[2] or {})},
                        secrets_kms_key_arn=args.secrets_kms_key_arn,
                    )
                )
            ),  # fmt: skip
            opts=child,
        )
        task_role = aws.iam.Role(
            f"{name}-task-role",
            name=aws_name(args.prefix, "task", 64),
            assume_role_policy=service_trust_policy("ecs-tasks.amazonaws.com"),
            permissions_boundary=args.permissions_boundary,
            tags=tags,
            opts=child,
        )
        if (doc := task_policy(xray=sv.xray)) is not None:
            aws.iam.RolePolicy(
                f"{name}-task-policy", role=task_role.id, policy=json.dumps(doc), opts=child
            )

        alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=aws_name(args.prefix, "alb"),
            load_balancer_type="application",
            internal=False,
            security_groups=[args.alb_security_group_id],
            subnets=args.public_subnet_ids,
            drop_invalid_header_fields=True,
            enable_deletion_protection=ig.deletion_protection,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                bucket=args.access_logs_bucket, prefix=args.access_logs_prefix, enabled=True
            )
            if args.access_logs_bucket is not None
            else None,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.access_logs_ready)),
        )

        def target_group(color: str) -> aws.lb.TargetGroup:
            return aws.lb.TargetGroup(
                f"{name}-{color}",
                name=aws_name(args.prefix, color),
                port=sv.container_port,
                protocol="HTTP",
                target_type="ip",
                vpc_id=args.vpc_id,
                # Short: a release or rollback should not wait 5 minutes per old task.
                deregistration_delay=30,
                health_check=aws.lb.TargetGroupHealthCheckArgs(
                    path=sv.health_check_path, matcher="200-399", interval=15, timeout=5,
                    healthy_threshold=2, unhealthy_threshold=3,
                ),
                tags={**tags, "deplight:color": color},
                opts=child,
            )  # fmt: skip

        blue, green = target_group("blue"), target_group("green")

        def forward(tg: aws.lb.TargetGroup) -> list[aws.lb.ListenerDefaultActionArgs]:
            return [aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=tg.arn)]

        # CodeDeploy swaps the listeners' target groups at every release: declared, not fought.
        listener_opts = pulumi.ResourceOptions(
            parent=self, ignore_changes=["defaultActions"] if codedeploy else None
        )
        https = ig.https
        certificate_arn = (
            args.certificate_arn if args.certificate_arn is not None else ig.certificate_arn
        )
        if https and certificate_arn is None:
            raise ValueError("ingress.domain without ingress.certificate_arn: pass the certificate "
                             "DomainCertificate made as EcsServiceArgs.certificate_arn")  # fmt: skip
        if https:
            prod_listener = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=alb.arn,
                port=HTTPS_PORT,
                protocol="HTTPS",
                ssl_policy=ig.ssl_policy,
                certificate_arn=certificate_arn,
                default_actions=forward(blue),
                tags=tags,
                opts=listener_opts,
            )
            aws.lb.Listener(
                f"{name}-http-redirect",
                load_balancer_arn=alb.arn,
                port=HTTP_PORT,
                protocol="HTTP",
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(
                        type="redirect",
                        redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                            protocol="HTTPS", port=str(HTTPS_PORT), status_code="HTTP_301"
                        ),
                    )
                ],
                tags=tags,
                opts=child,
            )
        else:
            prod_listener = aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=alb.arn,
                port=HTTP_PORT,
                protocol="HTTP",
                default_actions=forward(blue),
                tags=tags,
                opts=listener_opts,
            )
        test_listener = aws.lb.Listener(
            f"{name}-test",
            load_balancer_arn=alb.arn,
            port=ig.test_port,
            protocol="HTTPS" if https else "HTTP",
            ssl_policy=ig.ssl_policy if https else None,
            certificate_arn=certificate_arn if https else None,
            default_actions=forward(green),
            tags=tags,
            opts=listener_opts,
        )

        ecs_bluegreen = args.deploy.strategy is Strategy.ECS_BLUEGREEN
        advanced: aws.ecs.ServiceLoadBalancerAdvancedConfigurationArgs | None = None
        bluegreen_deps: list[pulumi.Resource] = []
        if ecs_bluegreen:
            # ECS shifts traffic by rewriting these rules' forward actions during a deployment
            # (and leaves them pointing at the new target group): declared, not fought.
            rule_opts = pulumi.ResourceOptions(parent=self, ignore_changes=["actions"])

            def rule(
                role: str, listener: aws.lb.Listener, tg: aws.lb.TargetGroup
            ) -> aws.lb.ListenerRule:
                return aws.lb.ListenerRule(
                    f"{name}-{role}-rule",
                    listener_arn=listener.arn,
                    priority=1,
                    conditions=[aws.lb.ListenerRuleConditionArgs(
                        path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=["/*"]))],
                    actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=tg.arn)],
                    tags=tags,
                    opts=rule_opts,
                )  # fmt: skip

            prod_rule, test_rule = (
                rule("prod", prod_listener, blue),
                rule("test", test_listener, green),
            )
            infra_role = aws.iam.Role(
                f"{name}-ecs-infrastructure-role",
                name=aws_name(args.prefix, "ecs-infrastructure", 64),
                assume_role_policy=service_trust_policy("ecs.amazonaws.com"),
                permissions_boundary=args.permissions_boundary,
                tags=tags,
                opts=child,
            )  # fmt: skip
            # AWS's managed policy for exactly this: modify listener rules and target groups
            # during blue/green deployments, nothing else.
            attachment = aws.iam.RolePolicyAttachment(
                f"{name}-ecs-infrastructure-lb",
                role=infra_role.name,
                policy_arn="arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers",
                opts=child,
            )
            advanced = aws.ecs.ServiceLoadBalancerAdvancedConfigurationArgs(
                alternate_target_group_arn=green.arn,
                production_listener_rule=prod_rule.arn,
                test_listener_rule=test_rule.arn,
                role_arn=infra_role.arn,
            )
            bluegreen_deps = [prod_rule, test_rule, attachment]

        family = args.prefix
        self.task_definition_family = pulumi.Output.from_input(family)
        self.service_name = None
        self.task_definition_arn = None
        if args.image_tag is None:
            pulumi.log.warn(
                f"{args.prefix}: no deplight:image_tag yet (bootstrap): the task definition, the "
                "ECS service and its autoscaling are created by the first `deplight deploy`, once "
                f"an image is pushed to the {args.prefix} ECR repository."
            )
        else:
            image_tag = args.image_tag
            task_def = aws.ecs.TaskDefinition(
                f"{name}-task",
                family=family,
                cpu=str(sv.cpu),
                memory=str(sv.memory),
                network_mode="awsvpc",
                requires_compatibilities=["FARGATE"],
                runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                    operating_system_family="LINUX", cpu_architecture="X86_64"
                ),
                execution_role_arn=execution_role.arn,
                task_role_arn=task_role.arn,
                # Fargate's ephemeral storage, writable at /tmp under a read-only root filesystem.
                volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=TMP_VOLUME)]
                if sv.readonly_root_filesystem
                else None,
                container_definitions=pulumi.Output.all(
                    repo.repository_url, args.log_group_name, args.extra_environment,
                    args.extra_secrets,
                ).apply(
                    lambda v: json.dumps(
                        container_definitions(
                            settings=sv, image=f"{v[0]}:{image_tag}", log_group=v[1],
                            region=args.region, tracing_name=args.prefix,
                            extra_environment=v[2], extra_secrets=v[3],
                        )
                    )
                ),
                # Older revisions stay registered: they are what a rollback runs again.
                skip_destroy=True,
                tags=tags,
                opts=child,
            )  # fmt: skip
            if args.assign_public_ip:
                pulumi.log.warn(
                    f"{args.prefix}: deplight:network.nat is none, so the tasks run in public "
                    "subnets with public IPs (ingress is still only from the ALB's security "
                    "group). Use nat: single or per_az outside dev."
                )
            controller = "CODE_DEPLOY" if codedeploy else "ECS"
            service = aws.ecs.Service(
                f"{name}-service",
                name=service_name(args.prefix),
                cluster=cluster.arn,
                task_definition=task_def.arn,
                desired_count=sv.desired_count,
                launch_type="FARGATE",
                platform_version=self.platform_version,
                deployment_controller=aws.ecs.ServiceDeploymentControllerArgs(type=controller),
                deployment_circuit_breaker=None
                if codedeploy
                else aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
                deployment_configuration=aws.ecs.ServiceDeploymentConfigurationArgs(
                    **ecs_deployment_configuration(args.deploy)
                )
                if ecs_bluegreen
                else None,
                alarms=aws.ecs.ServiceAlarmsArgs(
                    alarm_names=list(args.rollback_alarm_names), enable=True, rollback=True
                )
                if ecs_bluegreen and args.rollback_alarm_names
                else None,
                deployment_minimum_healthy_percent=100,
                deployment_maximum_percent=200,
                health_check_grace_period_seconds=60,
                network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                    subnets=self.subnet_ids,
                    security_groups=self.security_group_ids,
                    assign_public_ip=self.assign_public_ip,
                ),
                load_balancers=[
                    aws.ecs.ServiceLoadBalancerArgs(
                        target_group_arn=blue.arn,
                        container_name=sv.name,
                        container_port=sv.container_port,
                        advanced_configuration=advanced,
                    )
                ],
                propagate_tags="SERVICE",
                enable_ecs_managed_tags=True,
                # rolling/ecs_bluegreen: `up` waits until ECS has finished the deployment (or
                # rolled it back); a rollback still reports success (pulumi-aws #4487), which is
                # why `deplight deploy` verifies what runs afterwards.
                wait_for_steady_state=not codedeploy,
                tags=tags,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[prod_listener, test_listener, *bluegreen_deps],
                    ignore_changes=service_ignore_changes(args.deploy.strategy),
                ),
            )
            self.service_name = service.name
            self.task_definition_arn = task_def.arn

            target = aws.appautoscaling.Target(
                f"{name}-scaling",
                service_namespace="ecs",
                scalable_dimension="ecs:service:DesiredCount",
                resource_id=pulumi.Output.concat("service/", cluster.name, "/", service.name),
                min_capacity=sv.min_count,
                max_capacity=sv.max_count,
                tags=tags,
                opts=child,
            )
            scaling = aws.appautoscaling
            predefined = scaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs
            customized = scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationArgs
            query = scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricArgs
            stat = scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatArgs
            metric = scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricArgs
            dimension = scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimensionArgs

            def per_target(qid: str, tg: aws.lb.TargetGroup) -> Any:
                return query(
                    id=qid,
                    return_data=False,
                    metric_stat=stat(
                        stat="Sum",
                        metric=metric(
                            namespace="AWS/ApplicationELB",
                            metric_name="RequestCountPerTarget",
                            dimensions=[
                                dimension(name="TargetGroup", value=tg.arn_suffix),
                                dimension(name="LoadBalancer", value=alb.arn_suffix),
                            ],
                        ),
                    ),
                )

            trackers: dict[str, tuple[int, dict[str, Any]]] = {
                "cpu": (
                    sv.cpu_target_percent,
                    {
                        "predefined_metric_specification": predefined(
                            predefined_metric_type="ECSServiceAverageCPUUtilization"
                        )
                    },
                ),
            }
            if args.deploy.strategy is Strategy.ROLLING:
                # A rolling service never moves off blue: AWS's per-target metric of blue is
                # exactly the serving group's.
                trackers["requests"] = (
                    sv.requests_per_target,
                    {
                        "predefined_metric_specification": predefined(
                            predefined_metric_type="ALBRequestCountPerTarget",
                            resource_label=pulumi.Output.concat(
                                alb.arn_suffix, "/", blue.arn_suffix
                            ),
                        )
                    },
                )
            else:
                # codedeploy and ecs_bluegreen swap the serving group at every release, so a
                # predefined metric (pinned to one group) would track the idle group after the
                # first swap. MAX over both groups' requests per target is the serving group's
                # (the idle one has no requests and drops out), and during a canary or linear
                # shift the busier group's per-target load, which is what must not exceed the
                # target. The expression needs nothing from the last release.
                trackers["requests"] = (
                    sv.requests_per_target,
                    {
                        "customized_metric_specification": customized(
                            metrics=[
                                per_target("blue", blue),
                                per_target("green", green),
                                query(
                                    id="serving",
                                    label="requests per target of the serving group",
                                    expression="MAX([blue, green])",
                                    return_data=True,
                                ),
                            ]
                        )
                    },
                )
            for kind, (target_value, spec) in trackers.items():
                aws.appautoscaling.Policy(
                    f"{name}-scale-{kind}",
                    name=f"{args.prefix}-{kind}",
                    policy_type="TargetTrackingScaling",
                    service_namespace=target.service_namespace,
                    scalable_dimension=target.scalable_dimension,
                    resource_id=target.resource_id,
                    target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                        target_value=target_value,
                        scale_in_cooldown=120,
                        scale_out_cooldown=60,
                        **spec,
                    ),
                    opts=child,
                )  # fmt: skip

        self.repository_url = repo.repository_url
        self.repository_name = repo.name
        self.cluster_name = cluster.name
        self.alb_dns_name = alb.dns_name
        self.alb_zone_id = alb.zone_id
        self.alb_arn = alb.arn
        self.alb_arn_suffix = alb.arn_suffix
        self.service_url = alb.dns_name.apply(lambda d: f"{'https' if https else 'http'}://{d}")
        self.blue_target_group_arn = blue.arn
        self.green_target_group_arn = green.arn
        self.blue_target_group_name = blue.name
        self.green_target_group_name = green.name
        self.blue_target_group_arn_suffix = blue.arn_suffix
        self.green_target_group_arn_suffix = green.arn_suffix
        self.prod_listener_arn = prod_listener.arn
        self.test_listener_arn = test_listener.arn
        self.register_outputs(
            {
                "repository_url": self.repository_url,
                "repository_name": self.repository_name,
                "cluster_name": self.cluster_name,
                "service_name": self.service_name,
                "task_definition_arn": self.task_definition_arn,
                "task_definition_family": self.task_definition_family,
                "alb_dns_name": self.alb_dns_name,
                "alb_zone_id": self.alb_zone_id,
                "alb_arn": self.alb_arn,
                "alb_arn_suffix": self.alb_arn_suffix,
                "service_url": self.service_url,
                "blue_target_group_arn": self.blue_target_group_arn,
                "green_target_group_arn": self.green_target_group_arn,
                "blue_target_group_name": self.blue_target_group_name,
                "green_target_group_name": self.green_target_group_name,
                "blue_target_group_arn_suffix": self.blue_target_group_arn_suffix,
                "green_target_group_arn_suffix": self.green_target_group_arn_suffix,
                "prod_listener_arn": self.prod_listener_arn,
                "test_listener_arn": self.test_listener_arn,
            }
        )
