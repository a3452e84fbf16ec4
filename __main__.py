"""Deplight: one containerized HTTP service on ECS Fargate, one stack per environment.

This file only composes: typed settings in, components in dependency order, outputs out.
"""

import pulumi
import pulumi_aws as aws

from components import outputs as keys
from components.bluegreen import BlueGreenArgs, BlueGreenDeployment
from components.data import DataAlarms, DataAlarmsArgs, DataTier, DataTierArgs, dashboard_widgets
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
from components.settings import SettingsError, Strategy, load_settings

try:
    settings = load_settings()
except SettingsError as exc:
    # RunError prints the message without a Python traceback: the list is the whole story.
    raise pulumi.RunError(str(exc)) from None

prefix = settings.prefix
# Looked up once: the network's subnets and the data tier's instances and nodes use the same AZs.
azs = aws.get_availability_zones(state="available").names
network = Network(
    prefix,
    NetworkArgs(
        prefix=prefix,
        network=settings.network,
        container_port=settings.service.container_port,
        test_port=settings.ingress.test_port,
        test_cidrs=settings.ingress.test_cidrs,
        availability_zones=azs,
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
logs = ServiceLogs(prefix, ServiceLogsArgs(prefix=prefix, observability=settings.observability))
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
        extra_environment=data.task_environment if data else None,
        extra_secrets=data.task_secrets if data else None,
        secrets_kms_key_arn=settings.data.kms_key_arn if data else None,
    ),
)
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
        extra_widgets=dashboard_widgets(region=settings.region, prefix=prefix, data=settings.data),
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
        data=settings.data, migrations=bool(settings.deploy.migrate_command),
    ),
)

pulumi.export(keys.VPC_ID, network.vpc_id)
pulumi.export(keys.PUBLIC_SUBNET_IDS, network.public_subnet_ids)
pulumi.export(keys.PRIVATE_SUBNET_IDS, network.private_subnet_ids)
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
pulumi.export(keys.IMAGE_TAG, settings.image_tag)
pulumi.export(keys.SCHEMA_VERSION, settings.schema_version)
pulumi.export(keys.DEPLOY_STRATEGY, settings.deploy.strategy.value)
pulumi.export(keys.SERVICE_URL, service.service_url)
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
