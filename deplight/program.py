"""The Deplight program: typed settings in, components in dependency order, outputs out.

A Pulumi project's ``__main__.py`` only calls :func:`run` (this repository's does, and so does
the one ``deplight init`` writes), so a team's infrastructure project is three lines plus its
stack files, and upgrading Deplight upgrades the composition with it. A program that needs more
(its own resources next to Deplight's) keeps what :func:`run` returns: every component.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import contract as keys
from components.bluegreen import BlueGreenArgs, BlueGreenDeployment
from components.contract import Strategy, Tier
from components.data import DataAlarms, DataAlarmsArgs, DataTier, DataTierArgs, dashboard_widgets
from components.data import grants as data_grants
from components.domain import (
    DomainAlias,
    DomainAliasArgs,
    DomainCertificate,
    DomainCertificateArgs,
)
from components.domain import grants as domain_grants
from components.ecs_service import EcsService, EcsServiceArgs
from components.edge import (
    ACCESS_LOG_PREFIX,
    AccessLogs,
    AccessLogsArgs,
    WebFirewall,
    WebFirewallArgs,
)
from components.encryption import StackKey, StackKeyArgs
from components.github_oidc import GithubOidc, GithubOidcArgs
from components.iam import (
    PermissionsBoundary,
    PermissionsBoundaryArgs,
    attached_policies,
    passed_services,
)
from components.network import Network, NetworkArgs
from components.notifications import GRANTS as NOTIFICATION_GRANTS
from components.notifications import Notifications, NotificationsArgs
from components.observability import (
    Observability,
    ObservabilityArgs,
    ServiceLogs,
    ServiceLogsArgs,
    rollback_alarm_names,
)
from components.release_api import GRANTS as RELEASE_API_GRANTS
from components.release_api import ReleaseApi, ReleaseApiArgs
from components.settings import Settings, SettingsError, load_settings


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
    release_api: ReleaseApi | None = None
    """Only with ``release_api.enabled``."""
    notifications: Notifications | None = None
    """Only when ``notifications`` names a Slack channel."""
    data: DataTier | None = None
    """Only with ``data.postgres.enabled`` or ``data.cache.enabled``."""


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
    # Production: one customer-managed key for the stack's logs, ECR, audit table and alert topic.
    stack_key = (
        StackKey(prefix, StackKeyArgs(prefix=prefix, region=settings.region))
        if settings.observability.customer_managed_key
        else None
    )
    kms_key_arn = stack_key.arn if stack_key else None
    # What the enabled optional components add to the boundary and the CI roles.
    grants = [NOTIFICATION_GRANTS] if settings.notifications.slack else []
    if settings.release_api.enabled:
        grants.append(RELEASE_API_GRANTS)
    if settings.ingress.domain and settings.ingress.hosted_zone_id:
        grants.append(domain_grants(settings.ingress.hosted_zone_id))
    if settings.data.enabled or settings.deploy.migrate_command:
        grants.append(data_grants(settings.data, migrations=bool(settings.deploy.migrate_command)))
    # Every role the services assume carries this boundary; CI may create roles only with it.
    boundary = PermissionsBoundary(
        prefix,
        PermissionsBoundaryArgs(
            prefix=prefix,
            region=settings.region,
            secret_arns=tuple(settings.service.secrets.values()),
            grants=grants,
        ),
    )
    # Looked up once: the network's subnets and the data tier's instances use the same AZs.
    azs = aws.get_availability_zones(state="available").names
    network = Network(
        prefix,
        NetworkArgs(
            prefix=prefix,
            network=settings.network,
            container_port=settings.service.container_port,
            test_port=settings.ingress.test_port,
            test_cidrs=settings.ingress.test_cidrs,
            permissions_boundary=boundary.arn,
            availability_zones=azs,
            kms_key_arn=kms_key_arn,
        ),
    )
    data = (
        DataTier(
            prefix,
            DataTierArgs(
                prefix=prefix,
                data=settings.data,
                vpc_id=network.vpc_id,
                private_subnet_ids=network.private_subnet_ids,
                availability_zones=azs[: settings.network.az_count],
                task_security_group_id=network.task_security_group_id,
            ),
        )
        if settings.data.enabled
        else None
    )
    logs = ServiceLogs(prefix, ServiceLogsArgs(prefix=prefix, observability=settings.observability,
                                               kms_key_arn=kms_key_arn))  # fmt: skip
    ig = settings.ingress
    access_logs = (
        AccessLogs(
            prefix,
            AccessLogsArgs(
                prefix=prefix, region=settings.region, retention_days=ig.access_logs_retention_days
            ),
        )  # fmt: skip
        if ig.access_logs and not ig.access_logs_bucket
        else None
    )
    certificate = None
    if ig.domain and ig.hosted_zone_id and not ig.certificate_arn:
        certificate = DomainCertificate(
            prefix,
            DomainCertificateArgs(
                prefix=prefix, domain=ig.domain, hosted_zone_id=ig.hosted_zone_id
            ),
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
            permissions_boundary=boundary.arn,
            # Development stacks are destroyed and recreated; production keeps its release images.
            ecr_force_delete=settings.tier is Tier.DEVELOPMENT,
            certificate_arn=certificate.certificate_arn if certificate else None,
            extra_environment=data.task_environment if data else None,
            extra_secrets=data.task_secrets if data else None,
            secrets_kms_key_arn=settings.data.kms_key_arn if data else None,
            access_logs_bucket=access_logs.bucket if access_logs else ig.access_logs_bucket,
            access_logs_prefix=ACCESS_LOG_PREFIX if access_logs else prefix,
            access_logs_ready=access_logs.ready if access_logs else (),
            kms_key_arn=kms_key_arn,
        ),
    )
    if ig.waf:
        WebFirewall(prefix, WebFirewallArgs(prefix=prefix, alb_arn=service.alb_arn,
                                            rate_limit=ig.waf_rate_limit))  # fmt: skip
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
            extra_widgets=dashboard_widgets(
                region=settings.region, prefix=prefix, data=settings.data
            ),
            kms_key_arn=kms_key_arn,
        ),
    )
    if data is not None:
        DataAlarms(
            prefix,
            DataAlarmsArgs(
                prefix=prefix,
                data=settings.data,
                alert_topic_arn=observability.alert_topic_arn,
                evaluation_periods=settings.observability.alarm_evaluation_periods,
            ),
        )
    serving_task_definition_arn = service.task_definition_arn
    bluegreen = None
    if settings.deploy.strategy is Strategy.CODEDEPLOY and not settings.bootstrap:
        # Under CODE_DEPLOY the service ignores task definition changes: this releases them.
        service_name, task_definition_arn = service.service_name, service.task_definition_arn
        assert service_name is not None and task_definition_arn is not None, (
            "only a bootstrap stack has no ECS service and no task definition"
        )
        bluegreen = BlueGreenDeployment(
            prefix,
            BlueGreenArgs(
                prefix=prefix,
                deploy=settings.deploy,
                release_kind=settings.release_kind,
                cluster_name=service.cluster_name,
                service_name=service_name,
                prod_listener_arn=service.prod_listener_arn,
                test_listener_arn=service.test_listener_arn,
                blue_target_group_name=service.blue_target_group_name,
                green_target_group_name=service.green_target_group_name,
                task_definition_arn=task_definition_arn,
                container_name=service.container_name,
                container_port=service.container_port,
                rollback_alarm_names=observability.rollback_alarm_names,
                subnet_ids=service.subnet_ids,
                security_group_ids=service.security_group_ids,
                assign_public_ip=service.assign_public_ip,
                platform_version=service.platform_version,
                region=settings.region,
                permissions_boundary=boundary.arn,
                aws_profile=settings.aws_profile,
            ),
        )
        serving_task_definition_arn = bluegreen.serving_task_definition_arn
        pulumi.export(keys.CODEDEPLOY_APPLICATION, bluegreen.application_name)
        pulumi.export(keys.CODEDEPLOY_GROUP, bluegreen.deployment_group_name)
        pulumi.export(keys.RELEASE_DEPLOYMENT_ID, bluegreen.release_deployment_id)
    github = GithubOidc(
        prefix,
        GithubOidcArgs(
            prefix=prefix,
            stack=settings.stack,
            github=settings.github,
            subjects=settings.deploy_subjects,
            region=settings.region,
            pass_to_services=passed_services(settings.deploy.strategy, settings.network.flow_logs)
            + tuple(s for g in grants for s in g.pass_to_services),
            attachable_policies=attached_policies(settings.deploy.strategy),
            grants=grants,
            vpc_arn=network.vpc_arn,
            kms_key=stack_key is not None,
            access_log_bucket=access_logs is not None,
            waf=ig.waf,
        ),
    )
    release_api = None
    if settings.release_api.enabled:
        release_api = ReleaseApi(
            prefix,
            ReleaseApiArgs(
                prefix=prefix, stack=settings.stack, tier=settings.tier, region=settings.region,
                settings=settings.release_api, repository=settings.github.repository,
                log_retention_days=settings.observability.log_retention_days,
                log_kms_key_arn=settings.observability.log_kms_key_arn or kms_key_arn,
                audit_kms_key_arn=kms_key_arn,
                audit_table_name=observability.audit_table_name,
                audit_table_arn=observability.audit_table_arn, strategy=settings.deploy.strategy,
                codedeploy_application=bluegreen.application_name if bluegreen else None,
                codedeploy_group=bluegreen.deployment_group_name if bluegreen else None,
                cluster_name=service.cluster_name, service_name=service.service_name,
                rollback_alarm_names=observability.rollback_alarm_names,
            ),
        )  # fmt: skip
        pulumi.export(keys.RELEASE_API_URL, release_api.api_url)

    chat = None
    if settings.notifications.slack:
        chat = Notifications(
            prefix,
            NotificationsArgs(
                prefix=prefix,
                notifications=settings.notifications,
                alert_topic_arn=observability.alert_topic_arn,
                permissions_boundary=boundary.arn,
                region=settings.region,
            ),
        )
        pulumi.export(keys.CHATBOT_CONFIGURATION_ARN, chat.channel_configuration_arn)

    pulumi.export(keys.TASK_SUBNET_IDS, network.service_subnet_ids)
    pulumi.export(keys.TASK_SECURITY_GROUP_ID, network.task_security_group_id)
    pulumi.export(keys.TASK_ASSIGN_PUBLIC_IP, network.tasks_need_public_ip)
    if data is not None:  # only the stores that exist
        for key, value in ((keys.DB_CLUSTER_IDENTIFIER, data.db_cluster_identifier),
                           (keys.DB_ENDPOINT, data.db_endpoint),
                           (keys.DB_READER_ENDPOINT, data.db_reader_endpoint),
                           (keys.DB_SECRET_ARN, data.db_secret_arn),
                           (keys.CACHE_ENDPOINT, data.cache_endpoint),
                           (keys.CACHE_SECRET_ARN, data.cache_secret_arn)):  # fmt: skip
            if value is not None:
                pulumi.export(key, value)
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
                      observability=observability, github=github, bluegreen=bluegreen,
                      release_api=release_api, notifications=chat, data=data)  # fmt: skip
