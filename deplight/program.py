"""The Deplight program: typed settings in, components in dependency order, outputs out.

A Pulumi project's ``__main__.py`` only calls :func:`run` (this repository's does, and so does
the one ``deplight init`` writes), so a team's infrastructure project is three lines plus its
stack files, and upgrading Deplight upgrades the composition with it. A program that needs more
(its own resources next to Deplight's) keeps what :func:`run` returns: every component.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components import outputs as keys
from components.bluegreen import BlueGreenArgs, BlueGreenDeployment
from components.domain import (
    DomainAlias,
    DomainAliasArgs,
    DomainCertificate,
    DomainCertificateArgs,
)
from components.ecs_service import EcsService, EcsServiceArgs
from components.github_oidc import GithubOidc, GithubOidcArgs
from components.network import Network, NetworkArgs
from components.observability import (
    Observability,
    ObservabilityArgs,
    ServiceLogs,
    ServiceLogsArgs,
    rollback_alarm_names,
)
from components.settings import Settings, SettingsError, Strategy, load_settings


@dataclass(frozen=True)
class Deployment:
    """What :func:`run` registered, for programs that add their own resources."""

    settings: Settings
    network: Network
    logs: ServiceLogs
    service: EcsService
    observability: Observability
    github: GithubOidc
    bluegreen: BlueGreenDeployment | None
    """Only under ``deploy.strategy: codedeploy`` once an image is released."""


def run() -> Deployment:
    """Reads the current stack's settings, registers every component, exports the outputs and
    returns the components.

    Call it from a Pulumi program (``__main__.py``) of a project whose stack files hold the
    ``deplight:`` keys; invalid settings end the program with the list of problems.
    """
    try:
        settings = load_settings()
    except SettingsError as exc:
        # RunError prints the message without a Python traceback: the list is the whole story.
        raise pulumi.RunError(str(exc)) from None
    for warning in settings.warnings:
        pulumi.log.warn(warning)

    prefix = settings.prefix
    network = Network(
        prefix,
        NetworkArgs(
            prefix=prefix,
            network=settings.network,
            container_port=settings.service.container_port,
            test_port=settings.ingress.test_port,
            test_cidrs=settings.ingress.test_cidrs,
        ),
    )
    logs = ServiceLogs(prefix, ServiceLogsArgs(prefix=prefix, observability=settings.observability))
    ig = settings.ingress
    certificate = None
    if ig.domain and ig.hosted_zone_id and not ig.certificate_arn:
        certificate = DomainCertificate(
            prefix, DomainCertificateArgs(domain=ig.domain, hosted_zone_id=ig.hosted_zone_id)
        )
    service = EcsService(
        prefix,
        EcsServiceArgs(
            prefix=prefix,
            region=settings.region,
            image_tag=settings.image_tag,
            service=settings.service,
            deploy=settings.deploy,
            ingress=settings.ingress,
            vpc_id=network.vpc_id,
            public_subnet_ids=network.public_subnet_ids,
            service_subnet_ids=network.service_subnet_ids,
            assign_public_ip=network.tasks_need_public_ip,
            alb_security_group_id=network.alb_security_group_id,
            task_security_group_id=network.task_security_group_id,
            log_group_name=logs.log_group_name,
            log_group_arn=logs.log_group_arn,
            rollback_alarm_names=rollback_alarm_names(prefix)
            if settings.deploy.strategy is Strategy.ECS_BLUEGREEN
            else (),
            certificate_arn=certificate.certificate_arn if certificate else None,
        ),
    )
    service_url: pulumi.Input[str] = service.service_url
    if ig.domain and ig.hosted_zone_id:
        DomainAlias(prefix, DomainAliasArgs(
            domain=ig.domain, hosted_zone_id=ig.hosted_zone_id,
            alb_dns_name=service.alb_dns_name, alb_zone_id=service.alb_zone_id,
        ))  # fmt: skip
        service_url = f"https://{ig.domain}"
    observability = Observability(
        prefix,
        ObservabilityArgs(
            prefix=prefix,
            region=settings.region,
            observability=settings.observability,
            alb_arn_suffix=service.alb_arn_suffix,
            blue_target_group_arn_suffix=service.blue_target_group_arn_suffix,
            green_target_group_arn_suffix=service.green_target_group_arn_suffix,
            cluster_name=service.cluster_name,
            service_name=service.service_name,
            audit_table_deletion_protection=settings.observability.audit_deletion_protection,
        ),
    )
    serving_task_definition_arn = service.task_definition_arn
    bluegreen = None
    if settings.deploy.strategy is Strategy.CODEDEPLOY and not settings.bootstrap:
        # Under CODE_DEPLOY the service ignores task definition changes: this releases them.
        bluegreen = BlueGreenDeployment(
            prefix,
            BlueGreenArgs(
                prefix=prefix,
                deploy=settings.deploy,
                release_kind=settings.release_kind,
                cluster_name=service.cluster_name,
                service_name=service.service_name,
                prod_listener_arn=service.prod_listener_arn,
                test_listener_arn=service.test_listener_arn,
                blue_target_group_name=service.blue_target_group_name,
                green_target_group_name=service.green_target_group_name,
                task_definition_arn=service.task_definition_arn,
                container_name=service.container_name,
                container_port=service.container_port,
                rollback_alarm_names=observability.rollback_alarm_names,
                region=settings.region,
            ),
        )
        serving_task_definition_arn = bluegreen.serving_task_definition_arn
        pulumi.export(keys.CODEDEPLOY_APPLICATION, bluegreen.application_name)
        pulumi.export(keys.CODEDEPLOY_GROUP, bluegreen.deployment_group_name)
        pulumi.export(keys.RELEASE_DEPLOYMENT_ID, bluegreen.release_deployment_id)
    github = GithubOidc(
        prefix,
        GithubOidcArgs(
            prefix=prefix, stack=settings.stack, github=settings.github, region=settings.region,
            hosted_zone_id=settings.ingress.hosted_zone_id,
        ),
    )

    pulumi.export(keys.VPC_ID, network.vpc_id)
    pulumi.export(keys.PUBLIC_SUBNET_IDS, network.public_subnet_ids)
    pulumi.export(keys.PRIVATE_SUBNET_IDS, network.private_subnet_ids)
    pulumi.export(keys.IMAGE_TAG, settings.image_tag)
    pulumi.export(keys.SCHEMA_VERSION, settings.schema_version)
    pulumi.export(keys.DEPLOY_STRATEGY, settings.deploy.strategy.value)
    pulumi.export(keys.SERVICE_URL, service_url)
    pulumi.export(keys.ALB_DNS_NAME, service.alb_dns_name)
    pulumi.export(keys.ALB_ARN_SUFFIX, service.alb_arn_suffix)
    pulumi.export(keys.BLUE_TARGET_GROUP_NAME, service.blue_target_group_name)
    pulumi.export(keys.GREEN_TARGET_GROUP_NAME, service.green_target_group_name)
    pulumi.export(keys.BLUE_TARGET_GROUP_ARN_SUFFIX, service.blue_target_group_arn_suffix)
    pulumi.export(keys.GREEN_TARGET_GROUP_ARN_SUFFIX, service.green_target_group_arn_suffix)
    pulumi.export(keys.PROD_LISTENER_ARN, service.prod_listener_arn)
    pulumi.export(keys.TEST_LISTENER_ARN, service.test_listener_arn)
    pulumi.export(keys.CLUSTER_NAME, service.cluster_name)
    pulumi.export(keys.SERVICE_NAME, service.service_name)
    pulumi.export(keys.CONTAINER_NAME, service.container_name)
    pulumi.export(keys.REPOSITORY_URL, service.repository_url)
    pulumi.export(keys.REPOSITORY_NAME, service.repository_name)
    pulumi.export(keys.TASK_DEFINITION_ARN, service.task_definition_arn)
    pulumi.export(keys.TASK_DEFINITION_FAMILY, service.task_definition_family)
    pulumi.export(keys.SERVING_TASK_DEFINITION_ARN, serving_task_definition_arn)
    pulumi.export(keys.LOG_GROUP_NAME, logs.log_group_name)
    pulumi.export(keys.DASHBOARD_URL, observability.dashboard_url)
    pulumi.export(keys.ROLLBACK_ALARM_NAMES, observability.rollback_alarm_names)
    pulumi.export(keys.ALERT_TOPIC_ARN, observability.alert_topic_arn)
    pulumi.export(keys.AUDIT_TABLE_NAME, observability.audit_table_name)
    pulumi.export(keys.OIDC_PROVIDER_ARN, github.provider_arn)
    pulumi.export(keys.DEPLOY_ROLE_ARN, github.deploy_role_arn)
    pulumi.export(keys.PREVIEW_ROLE_ARN, github.preview_role_arn)
    return Deployment(settings=settings, network=network, logs=logs, service=service,
                      observability=observability, github=github, bluegreen=bluegreen)  # fmt: skip
