"""The BlueGreenDeployment component (strategy ``codedeploy``): CodeDeploy application, deployment
group, deployment config, service role, and the release resource that makes ``pulumi up`` release.

Everything CodeDeploy mutates is declared where it lives (EcsService): the service ignores
``task_definition``, ``load_balancers``, ``network_configuration``, ``platform_version`` and
``desired_count``, the listeners ignore ``default_actions``, and task definitions are kept
(``skip_destroy``) as rollback targets. The release carries the task definition, network and
platform version in its AppSpec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi.dynamic import Resource

from components.contract import ReleaseKind
from components.iam import service_trust_policy, stack_tags
from components.release_provider import ReleaseProvider
from components.settings import DeploySettings, TrafficShift

# CodeDeploy's predefined ECS configs: (traffic, percent, interval minutes) -> name.
PREDEFINED_CONFIGS: dict[tuple[TrafficShift, int, int], str] = {
    (TrafficShift.CANARY, 10, 5): "CodeDeployDefault.ECSCanary10Percent5Minutes",
    (TrafficShift.CANARY, 10, 15): "CodeDeployDefault.ECSCanary10Percent15Minutes",
    (TrafficShift.LINEAR, 10, 1): "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
    (TrafficShift.LINEAR, 10, 3): "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
}
ALL_AT_ONCE = "CodeDeployDefault.ECSAllAtOnce"
ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]


@dataclass(frozen=True)
class ConfigChoice:
    """Which deployment config a group uses, and whether it must be created."""

    name: str
    custom: bool
    traffic: TrafficShift
    percent: int
    interval_minutes: int


def choose_deployment_config(prefix: str, deploy: DeploySettings) -> ConfigChoice:
    """Maps the settings to a predefined CodeDeploy config, or names a custom one (pure)."""
    if deploy.traffic is TrafficShift.ALL_AT_ONCE:
        return ConfigChoice(ALL_AT_ONCE, False, deploy.traffic, 100, 0)
    key = (deploy.traffic, deploy.percent, deploy.interval_minutes)
    if key in PREDEFINED_CONFIGS:
        return ConfigChoice(PREDEFINED_CONFIGS[key], False, *key)
    name = f"{prefix}-{deploy.traffic.value}-{deploy.percent}pct-{deploy.interval_minutes}min"
    return ConfigChoice(name, True, *key)


@dataclass(frozen=True, kw_only=True)
class BlueGreenArgs:
    """Inputs of :class:`BlueGreenDeployment`."""

    prefix: str
    """Name prefix (``<service>-<stack>``)."""
    deploy: DeploySettings
    """Traffic shift, blue termination wait, release timeout."""
    release_kind: ReleaseKind
    """``rollback`` shifts all traffic at once."""
    cluster_name: pulumi.Input[str]
    """ECS cluster."""
    service_name: pulumi.Input[str]
    """ECS service (CODE_DEPLOY controller)."""
    prod_listener_arn: pulumi.Input[str]
    """Production listener."""
    test_listener_arn: pulumi.Input[str]
    """Test listener."""
    blue_target_group_name: pulumi.Input[str]
    """Blue target group."""
    green_target_group_name: pulumi.Input[str]
    """Green target group."""
    task_definition_arn: pulumi.Input[str]
    """The revision to release."""
    container_name: str
    """Container behind the load balancer."""
    container_port: int
    """Its port."""
    rollback_alarm_names: pulumi.Input[Sequence[str]]
    """Alarms that stop and roll back a release."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """Subnets the released task set runs in (the service's own, which it cannot change)."""
    security_group_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Security groups of the released task set."""
    assign_public_ip: bool
    """Whether the released tasks get a public IP (only without NAT)."""
    platform_version: str
    """Fargate platform version of the released task set."""
    region: str
    """``aws:region``: where the release resource calls CodeDeploy and ECS."""
    aws_profile: str | None = None
    """``aws:profile``: the credentials the release resource uses (``None``: the default chain)."""
    permissions_boundary: pulumi.Input[str] | None = None
    """The stack's permissions boundary (``PermissionsBoundary.arn``): every role here carries it."""


# The type token before the release resource had its own; the alias keeps existing stacks' release
# resource (a replacement would start a new CodeDeploy deployment of the same revision).
PREVIOUS_RELEASE_TYPE = "pulumi-python:dynamic:Resource"


class Release(Resource, module="deplight", name="Release"):
    """One CodeDeploy deployment of a task definition revision (see ``release_provider``).

    Type token ``pulumi-python:dynamic/deplight:Release``: the SDK builds a dynamic resource's
    token from ``module`` and ``name`` given to the subclass (``pulumi-python:dynamic`` is fixed,
    it routes the resource to the dynamic provider).
    """

    deployment_id: pulumi.Output[str]
    deployment_status: pulumi.Output[str]
    serving_task_definition_arn: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any],
                 opts: pulumi.ResourceOptions | None = None) -> None:  # fmt: skip
        super().__init__(
            ReleaseProvider(),
            name,
            {**props, "deployment_id": None, "deployment_status": None,
             "serving_task_definition_arn": None, "events": None},
            pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=PREVIOUS_RELEASE_TYPE)])
            ),
        )  # fmt: skip


class BlueGreenDeployment(pulumi.ComponentResource):
    """CodeDeploy blue/green for the ECS service, with automatic rollback on failure and alarms."""

    application_name: pulumi.Output[str]
    """CodeDeploy application."""
    deployment_group_name: pulumi.Output[str]
    """CodeDeploy deployment group."""
    deployment_config_name: pulumi.Output[str]
    """Deployment config the group uses."""
    release_deployment_id: pulumi.Output[str]
    """Id of the deployment that released the current task definition."""
    serving_task_definition_arn: pulumi.Output[str]
    """Task definition serving production traffic after this ``up``."""

    def __init__(
        self, name: str, args: BlueGreenArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deplight:deploy:BlueGreen", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = stack_tags(args.prefix)
        d = args.deploy

        role = aws.iam.Role(
            f"{name}-codedeploy-role",
            name=f"{args.prefix}-codedeploy",
            assume_role_policy=service_trust_policy("codedeploy.amazonaws.com"),
            permissions_boundary=args.permissions_boundary,
            tags=tags,
            opts=child,
        )
        # AWS's managed policy for CodeDeploy on ECS: what the service needs to swap task sets,
        # modify listeners and read alarms, maintained by AWS as the API grows.
        aws.iam.RolePolicyAttachment(
            f"{name}-codedeploy-ecs",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/AWSCodeDeployRoleForECS",
            opts=child,
        )
        app = aws.codedeploy.Application(
            f"{name}-app", name=args.prefix, compute_platform="ECS", tags=tags, opts=child
        )

        choice = choose_deployment_config(args.prefix, d)
        config_name: pulumi.Input[str] = choice.name
        if choice.custom:
            routing_type = "TimeBasedCanary" if choice.traffic is TrafficShift.CANARY else (
                "TimeBasedLinear"
            )  # fmt: skip
            step = {"percentage": choice.percent, "interval": choice.interval_minutes}
            custom = aws.codedeploy.DeploymentConfig(
                f"{name}-config",
                deployment_config_name=choice.name,
                compute_platform="ECS",
                traffic_routing_config=aws.codedeploy.DeploymentConfigTrafficRoutingConfigArgs(
                    type=routing_type,
                    time_based_canary=aws.codedeploy.DeploymentConfigTrafficRoutingConfigTimeBasedCanaryArgs(
                        **step
                    )
                    if choice.traffic is TrafficShift.CANARY
                    else None,
                    time_based_linear=aws.codedeploy.DeploymentConfigTrafficRoutingConfigTimeBasedLinearArgs(
                        **step
                    )
                    if choice.traffic is TrafficShift.LINEAR
                    else None,
                ),
                opts=child,
            )
            config_name = custom.deployment_config_name

        group = aws.codedeploy.DeploymentGroup(
            f"{name}-group",
            app_name=app.name,
            deployment_group_name=args.prefix,
            service_role_arn=role.arn,
            deployment_config_name=config_name,
            deployment_style=aws.codedeploy.DeploymentGroupDeploymentStyleArgs(
                deployment_type="BLUE_GREEN", deployment_option="WITH_TRAFFIC_CONTROL"
            ),
            blue_green_deployment_config=aws.codedeploy.DeploymentGroupBlueGreenDeploymentConfigArgs(
                deployment_ready_option=aws.codedeploy.DeploymentGroupBlueGreenDeploymentConfigDeploymentReadyOptionArgs(
                    action_on_timeout="CONTINUE_DEPLOYMENT"
                ),
                terminate_blue_instances_on_deployment_success=aws.codedeploy.DeploymentGroupBlueGreenDeploymentConfigTerminateBlueInstancesOnDeploymentSuccessArgs(
                    action="TERMINATE",
                    termination_wait_time_in_minutes=d.blue_termination_minutes,
                ),
            ),
            ecs_service=aws.codedeploy.DeploymentGroupEcsServiceArgs(
                cluster_name=args.cluster_name, service_name=args.service_name
            ),
            load_balancer_info=aws.codedeploy.DeploymentGroupLoadBalancerInfoArgs(
                target_group_pair_info=aws.codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoArgs(
                    prod_traffic_route=aws.codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoProdTrafficRouteArgs(
                        listener_arns=[args.prod_listener_arn]
                    ),
                    test_traffic_route=aws.codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTestTrafficRouteArgs(
                        listener_arns=[args.test_listener_arn]
                    ),
                    target_groups=[
                        aws.codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroupArgs(
                            name=args.blue_target_group_name
                        ),
                        aws.codedeploy.DeploymentGroupLoadBalancerInfoTargetGroupPairInfoTargetGroupArgs(
                            name=args.green_target_group_name
                        ),
                    ],
                )
            ),
            auto_rollback_configuration=aws.codedeploy.DeploymentGroupAutoRollbackConfigurationArgs(
                enabled=True, events=ROLLBACK_EVENTS
            ),
            alarm_configuration=aws.codedeploy.DeploymentGroupAlarmConfigurationArgs(
                enabled=True, alarms=args.rollback_alarm_names, ignore_poll_alarm_failure=False
            ),
            tags=tags,
            opts=child,
        )

        release = Release(
            f"{name}-release",
            {
                "application_name": app.name,
                "deployment_group_name": group.deployment_group_name,
                "task_definition_arn": args.task_definition_arn,
                "container_name": args.container_name,
                "container_port": args.container_port,
                "subnets": args.subnet_ids,
                "security_groups": args.security_group_ids,
                "assign_public_ip": args.assign_public_ip,
                "platform_version": args.platform_version,
                "region": args.region,
                "profile": args.aws_profile,
                "all_at_once": args.release_kind is ReleaseKind.ROLLBACK,
                "timeout_seconds": d.timeout_minutes * 60,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[group]),
        )

        self.application_name = app.name
        self.deployment_group_name = group.deployment_group_name
        self.deployment_config_name = pulumi.Output.from_input(config_name)
        self.release_deployment_id = release.deployment_id
        self.serving_task_definition_arn = release.serving_task_definition_arn
        self.register_outputs(
            {
                "application_name": self.application_name,
                "deployment_group_name": self.deployment_group_name,
                "deployment_config_name": self.deployment_config_name,
                "release_deployment_id": self.release_deployment_id,
                "serving_task_definition_arn": self.serving_task_definition_arn,
            }
        )
