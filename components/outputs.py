"""Names shared by ``__main__.py``, the release commands (``rollback/``) and the tests.

Stack output keys are the contract between the program and the Automation API side: the release
commands find the repository, service, deployment group and audit table through them.
"""

# Network
VPC_ID = "vpc_id"
PUBLIC_SUBNET_IDS = "public_subnet_ids"
PRIVATE_SUBNET_IDS = "private_subnet_ids"

# Release identity (plain config echoed back, so history and outputs agree)
IMAGE_TAG = "image_tag"
SCHEMA_VERSION = "schema_version"
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

# The release/rollback audit table (DynamoDB), created by Observability, written by rollback/.
# "All records of a stack, newest first": Query AUDIT_HASH_KEY = stack, ScanIndexForward=False.
# "One release by id": Query the AUDIT_RELEASE_INDEX on AUDIT_RELEASE_ID.
AUDIT_HASH_KEY = "stack"
AUDIT_RANGE_KEY = "sk"
"""``<UTC ISO-8601 start time>#<release id>``: sorts by time, unique per release."""
AUDIT_RELEASE_ID = "release_id"
AUDIT_RELEASE_INDEX = "by-release-id"
