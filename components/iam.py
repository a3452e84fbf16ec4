"""IAM documents and names the components share: the stack tag, service trust policies, and the
permissions boundary that bounds every role the stack's services assume.

The boundary is the ceiling for every role the program creates for AWS services (task execution,
task, CodeDeploy, ECS infrastructure, flow logs). The CI deploy role may create or change a role
only when the role carries this boundary (``iam:PermissionsBoundary`` condition), so a role it
creates can never do more than this document allows, whatever its own policies say.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.contract import Strategy

STACK_TAG = "deplight:stack"
"""Tag key every taggable resource of the stack carries, with the stack's name prefix as value.
The CI roles' permissions are conditioned on it (``aws:ResourceTag``/``aws:RequestTag``) where AWS
names resources by generated ids (EC2, Application Auto Scaling)."""

ECS_TASKS = "ecs-tasks.amazonaws.com"
CODEDEPLOY = "codedeploy.amazonaws.com"
ECS = "ecs.amazonaws.com"
FLOW_LOGS = "vpc-flow-logs.amazonaws.com"
CODEDEPLOY_FOR_ECS = "AWSCodeDeployRoleForECS"
"""AWS-managed policy the CodeDeploy role carries (strategy ``codedeploy``)."""
ECS_INFRASTRUCTURE_FOR_LB = "AmazonECSInfrastructureRolePolicyForLoadBalancers"
"""AWS-managed policy the ECS infrastructure role carries (strategy ``ecs_bluegreen``)."""


@dataclass(frozen=True)
class Scope:
    """Where a stack's IAM statements point: its name prefix, region, account and partition."""

    prefix: str
    region: str
    account: str
    partition: str = "aws"

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}"


Statements = Callable[[Scope], list[dict[str, Any]]]


@dataclass(frozen=True, kw_only=True)
class Grants:
    """What an optional component adds to the stack's IAM: the deploy role's statements to
    create, change and delete its resources (scoped to the stack), the boundary's statements for
    the service roles it creates, the services it passes roles to, and the preview role's reads.
    ``__main__.py`` collects them from the enabled components, so a component that is off adds
    nothing."""

    deploy: Statements = lambda _scope: []
    boundary: Statements = lambda _scope: []
    pass_to_services: tuple[str, ...] = ()
    preview_reads: tuple[str, ...] = ()


def passed_services(strategy: Strategy, flow_logs: bool) -> tuple[str, ...]:
    """The services the stack passes its roles to: ECS tasks always, CodeDeploy or ECS itself by
    strategy, VPC flow logs when on. The deploy role may pass roles to these and no others."""
    services = [ECS_TASKS]
    if strategy is Strategy.CODEDEPLOY:
        services.append(CODEDEPLOY)
    if strategy is Strategy.ECS_BLUEGREEN:
        services.append(ECS)
    if flow_logs:
        services.append(FLOW_LOGS)
    return tuple(services)


def attached_policies(strategy: Strategy) -> tuple[str, ...]:
    """The AWS-managed policies the stack attaches to its roles (the only ones CI may attach)."""
    return {
        Strategy.CODEDEPLOY: (CODEDEPLOY_FOR_ECS,),
        Strategy.ECS_BLUEGREEN: (ECS_INFRASTRUCTURE_FOR_LB,),
        Strategy.ROLLING: (),
    }[strategy]


def stack_tags(prefix: str) -> dict[str, str]:
    """The tags every taggable resource of the stack carries: ``{deplight:stack: <prefix>}``.

    The prefix (``<service>-<stack>``), not the bare stack name, because two Deplight services in
    one account may both have a ``prod`` stack: the tag must tell their resources apart.
    """
    return {STACK_TAG: prefix}


def request_tagged(prefix: str) -> dict[str, Any]:
    """The IAM condition "the request tags the new resource as this stack's": for create calls
    that name no resource AWS can scope before it exists."""
    return {"StringEquals": {f"aws:RequestTag/{STACK_TAG}": prefix}}


def resource_tagged(prefix: str) -> dict[str, Any]:
    """The IAM condition "the resource carries this stack's tag": for calls on resources AWS
    names by generated ids."""
    return {"StringEquals": {f"aws:ResourceTag/{STACK_TAG}": prefix}}


def boundary_name(prefix: str) -> str:
    """Name of the stack's permissions boundary (a customer-managed policy)."""
    return f"{prefix}-permissions-boundary"


def boundary_arn(prefix: str, account: str, partition: str = "aws") -> str:
    """ARN of the stack's permissions boundary (known before it exists: IAM ARNs are names)."""
    return f"arn:{partition}:iam::{account}:policy/{boundary_name(prefix)}"


def service_trust_policy(service: str) -> str:
    """The trust policy that lets one AWS service principal (``ecs-tasks.amazonaws.com``,
    ``codedeploy.amazonaws.com``, ...) assume a role, and nobody else."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    })  # fmt: skip


def boundary_policy(
    *, prefix: str, region: str, account: str, partition: str = "aws",
    secret_arns: Sequence[str] = (), grants: Sequence[Grants] = (),
) -> dict[str, Any]:  # fmt: skip
    """The permissions boundary: the most any service role of this stack may do.

    It is the union of what the stack's service roles need, each scoped to this stack: pull this
    stack's images, write its log groups, read the configured secrets, write X-Ray traces, and
    what CodeDeploy (``AWSCodeDeployRoleForECS``) and ECS blue/green
    (``AmazonECSInfrastructureRolePolicyForLoadBalancers``) do to this stack's service, listeners
    and target groups. It allows no IAM change except passing this stack's roles to ECS tasks, so
    a role created under it cannot create, change or escalate roles.
    """
    arn = f"arn:{partition}"
    r = f"{region}:{account}"
    elb = f"{arn}:elasticloadbalancing:{r}"
    statements: list[dict[str, Any]] = [
        {
            # Actions AWS offers only on "*": ECR's registry login, X-Ray writes, and the
            # Describe calls CodeDeploy and ECS make on listeners, rules and alarms.
            "Sid": "NoResourceLevelPermissions",
            "Effect": "Allow",
            "Action": [
                "ecr:GetAuthorizationToken",
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeRules",
                "logs:DescribeLogGroups",
            ],
            "Resource": "*",
        },
        {
            # CodeDeploy and ECS blue/green read the alarms a deployment waits on, by name.
            "Sid": "ReadThisStacksAlarms",
            "Effect": "Allow",
            "Action": "cloudwatch:DescribeAlarms",
            "Resource": f"{arn}:cloudwatch:{r}:alarm:{prefix}-*",
        },
        {
            "Sid": "PullThisStacksImages",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ],
            "Resource": f"{arn}:ecr:{r}:repository/{prefix}",
        },
        {
            "Sid": "WriteThisStacksLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [
                f"{arn}:logs:{r}:log-group:/ecs/{prefix}",
                f"{arn}:logs:{r}:log-group:/ecs/{prefix}:*",
                f"{arn}:logs:{r}:log-group:/deplight/{prefix}/*",
            ],
        },
        {
            # CodeDeploy and ECS blue/green move this stack's service between its target groups.
            "Sid": "ReleaseThisStacksService",
            "Effect": "Allow",
            "Action": [
                "ecs:DescribeServices",
                "ecs:CreateTaskSet",
                "ecs:UpdateServicePrimaryTaskSet",
                "ecs:DeleteTaskSet",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:ModifyRule",
                "elasticloadbalancing:RegisterTargets",
                "elasticloadbalancing:DeregisterTargets",
                "sns:Publish",
            ],
            "Resource": [
                f"{arn}:ecs:{r}:service/{prefix}/*",
                f"{arn}:ecs:{r}:task-set/{prefix}/*",
                f"{elb}:listener/app/{prefix}-*",
                f"{elb}:listener-rule/app/{prefix}-*",
                f"{elb}:targetgroup/{prefix}-*",
                f"{arn}:sns:{r}:{prefix}-*",
            ],
        },
        {
            # CodeDeploy starts the green task set with the stack's task roles.
            "Sid": "PassThisStacksTaskRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": f"{arn}:iam::{account}:role/{prefix}-*",
            "Condition": {"StringEquals": {"iam:PassedToService": ECS_TASKS}},
        },
    ]
    ssm = sorted(a for a in secret_arns if ":ssm:" in a)
    sm = sorted(a for a in secret_arns if ":secretsmanager:" in a)
    if ssm:
        statements.append({"Sid": "ReadTheConfiguredParameters", "Effect": "Allow",
                           "Action": "ssm:GetParameters", "Resource": ssm})  # fmt: skip
    if sm:
        statements.append({"Sid": "ReadTheConfiguredSecrets", "Effect": "Allow",
                           "Action": "secretsmanager:GetSecretValue", "Resource": sm})  # fmt: skip
    scope = Scope(prefix, region, account, partition)
    for grant in grants:
        statements.extend(grant.boundary(scope))
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True, kw_only=True)
class PermissionsBoundaryArgs:
    """Inputs of :class:`PermissionsBoundary`."""

    prefix: str
    """Name prefix (``<service>-<stack>``)."""
    region: str
    """Region of the stack's resources."""
    secret_arns: Sequence[str] = ()
    """The SSM parameters and Secrets Manager secrets the task reads (``service.secrets``)."""
    grants: Sequence[Grants] = ()
    """What the enabled optional components' service roles need (:class:`Grants`)."""


class PermissionsBoundary(pulumi.ComponentResource):
    """The stack's permissions boundary: a customer-managed policy every service role carries."""

    arn: pulumi.Output[str]
    """ARN of the boundary policy; pass it as ``permissions_boundary`` of every service role."""

    def __init__(
        self, name: str, args: PermissionsBoundaryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deplight:iam:Boundary", name, None, opts)
        account = aws.get_caller_identity().account_id
        partition = aws.get_partition().partition
        policy = aws.iam.Policy(
            f"{name}-permissions-boundary",
            name=boundary_name(args.prefix),
            description=f"Permissions boundary of every service role of {args.prefix}",
            policy=json.dumps(boundary_policy(
                prefix=args.prefix, region=args.region, account=account, partition=partition,
                secret_arns=args.secret_arns, grants=args.grants,
            )),
            tags=stack_tags(args.prefix),
            opts=pulumi.ResourceOptions(parent=self),
        )  # fmt: skip
        self.arn = policy.arn
        self.register_outputs({"arn": self.arn})
