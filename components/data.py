"""The data tier: Aurora PostgreSQL Serverless v2 and an ElastiCache (Valkey/Redis OSS) cache.

Two components, because the alarms need the alert topic that Observability creates after the ECS
service, while the service needs the data tier's endpoints and secrets first:

- :class:`DataTier` (``deplight:data:DataTier``): the stores, their subnet groups and security
  groups (each admits only the tasks' group, on its own port), the cache's AUTH token secret, and
  what the task definition gets: endpoints as environment variables, credentials as ECS
  ``secrets`` (``valueFrom`` Secrets Manager ARNs, never values);
- :class:`DataAlarms` (``deplight:data:Alarms``): CPU, connections, memory, replica lag,
  evictions, to the alert topic.

Identifiers are plain functions of the prefix (:func:`db_cluster_id`, :func:`cache_group_id`, ...)
so alarms and dashboard widgets name the stores without waiting for them, and the release
commands find the cluster by the ``db_cluster_identifier`` output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.auth_token import AuthToken
from components.ecs_service import aws_name
from components.iam import Grants, stack_tags
from components.settings import DataSettings

POSTGRES_PORT = 5432
CACHE_PORT = 6379
PERIOD_SECONDS = 60
DB_CA_CERTIFICATE = "rds-ca-rsa2048-g1"


# -- names ----------------------------------------------------------------------------------------


def db_cluster_id(prefix: str) -> str:
    """The Aurora cluster identifier (also the release commands' snapshot source)."""
    return f"{prefix}-db"


def db_instance_ids(prefix: str, count: int) -> list[str]:
    """Instance identifiers; the first is created first and becomes the writer."""
    return [f"{db_cluster_id(prefix)}-{i + 1}" for i in range(count)]


def cache_group_id(prefix: str) -> str:
    """The replication group id (ElastiCache allows 40 characters)."""
    return aws_name(prefix, "cache", 40)


def cache_node_ids(prefix: str, count: int) -> list[str]:
    """Member cluster ids ElastiCache gives the nodes of a non-sharded group: ``<group>-00N``."""
    return [f"{cache_group_id(prefix)}-{i + 1:03d}" for i in range(count)]


def secret_arn_of(value_from: str) -> str:
    """The secret ARN of an ECS ``valueFrom`` that may select a JSON key
    (``arn:...:secret:name-AbCdEf:password::`` -> ``arn:...:secret:name-AbCdEf``)."""
    return ":".join(value_from.split(":")[:7])


# -- what the task gets ---------------------------------------------------------------------------


def task_environment(*, db_endpoint: str | None, db_reader_endpoint: str | None,
                     database_name: str | None, cache_endpoint: str | None,
                     cache_reader_endpoint: str | None) -> dict[str, str]:  # fmt: skip
    """Plain container environment: where the stores are. Never a credential."""
    env: dict[str, str] = {}
    if db_endpoint is not None:
        env |= {
            "DATABASE_HOST": db_endpoint,
            "DATABASE_READER_HOST": db_reader_endpoint or db_endpoint,
            "DATABASE_PORT": str(POSTGRES_PORT),
            "DATABASE_NAME": database_name or "",
        }
    if cache_endpoint is not None:
        env |= {
            "CACHE_HOST": cache_endpoint,
            "CACHE_READER_HOST": cache_reader_endpoint or cache_endpoint,
            "CACHE_PORT": str(CACHE_PORT),
            "CACHE_TLS": "true",
        }
    return env


def task_secrets(*, db_secret_arn: str | None, cache_secret_arn: str | None) -> dict[str, str]:
    """Container ``secrets``: variable -> ``valueFrom``. The database's master secret is the JSON
    RDS keeps (``username``, ``password``); the cache's secret is the token itself."""
    found: dict[str, str] = {}
    if db_secret_arn is not None:
        found["DATABASE_USER"] = f"{db_secret_arn}:username::"
        found["DATABASE_PASSWORD"] = f"{db_secret_arn}:password::"
    if cache_secret_arn is not None:
        found["CACHE_AUTH_TOKEN"] = cache_secret_arn
    return found


# -- alarms and dashboard (pure) ------------------------------------------------------------------


def _metric(qid: str, namespace: str, metric: str, dims: Mapping[str, str],
            stat: str) -> dict[str, Any]:  # fmt: skip
    return {"id": qid, "return_data": False,
            "metric": {"namespace": namespace, "metric_name": metric, "dimensions": dict(dims),
                       "period": PERIOD_SECONDS, "stat": stat}}  # fmt: skip


def _across(ids: Sequence[str], dim: str, namespace: str, metric: str, stat: str,
            how: str, label: str) -> list[dict[str, Any]]:  # fmt: skip
    """Metric queries for ``metric`` of every member, reduced to one series by ``how``."""
    queries = [_metric(f"m{i}", namespace, metric, {dim: x}, stat) for i, x in enumerate(ids)]
    expression = f"{how}([{', '.join(q['id'] for q in queries)}])"
    return [*queries, {"id": "worst", "label": label, "return_data": True,
                       "expression": expression}]  # fmt: skip


def alarm_specs(prefix: str, data: DataSettings) -> list[dict[str, Any]]:
    """Every data-tier alarm as ``MetricAlarm`` arguments (pure; the component adds actions).

    All use ``notBreaching`` for missing data: a paused development cluster and an idle cache
    publish nothing, and that is not a fault.
    """
    specs: list[dict[str, Any]] = []
    pg, cache = data.postgres, data.cache
    if pg.enabled:
        cluster = {"DBClusterIdentifier": db_cluster_id(prefix)}
        specs += [
            {"suffix": "db-cpu-high", "namespace": "AWS/RDS", "metric_name": "CPUUtilization",
             "dimensions": cluster, "statistic": "Average", "comparison_operator":
             "GreaterThanThreshold", "threshold": pg.alarm_cpu_percent,
             "description": f"Aurora CPU above {pg.alarm_cpu_percent}%."},
            {"suffix": "db-connections-high", "namespace": "AWS/RDS",
             "metric_name": "DatabaseConnections", "dimensions": cluster, "statistic": "Maximum",
             "comparison_operator": "GreaterThanThreshold", "threshold": pg.alarm_connections,
             "description": f"More than {pg.alarm_connections} database connections."},
            {"suffix": "db-freeable-memory-low", "namespace": "AWS/RDS",
             "metric_name": "FreeableMemory", "dimensions": cluster, "statistic": "Minimum",
             "comparison_operator": "LessThanThreshold",
             "threshold": pg.alarm_freeable_memory_mb * 1024 * 1024,
             "description": f"Less than {pg.alarm_freeable_memory_mb} MiB freeable memory on "
             "an Aurora instance (raise max_capacity)."},
        ]  # fmt: skip
        if pg.instances > 1:
            # Whichever instances are readers report the lag (the writer changes on failover).
            specs.append({
                "suffix": "db-replica-lag-high", "comparison_operator": "GreaterThanThreshold",
                "threshold": pg.alarm_replica_lag_ms,
                "metric_queries": _across(db_instance_ids(prefix, pg.instances),
                                          "DBInstanceIdentifier", "AWS/RDS", "AuroraReplicaLag",
                                          "Maximum", "MAX", "replica lag (ms)"),
                "description": f"An Aurora reader lags more than {pg.alarm_replica_lag_ms} ms.",
            })  # fmt: skip
    if cache.enabled:
        nodes = cache_node_ids(prefix, cache.nodes)
        specs += [
            {"suffix": "cache-cpu-high", "comparison_operator": "GreaterThanThreshold",
             "threshold": cache.alarm_cpu_percent,
             "metric_queries": _across(nodes, "CacheClusterId", "AWS/ElastiCache",
                                       "EngineCPUUtilization", "Average", "MAX",
                                       "engine CPU of the busiest node (%)"),
             "description": f"Cache engine CPU above {cache.alarm_cpu_percent}% on a node."},
            {"suffix": "cache-memory-high", "comparison_operator": "GreaterThanThreshold",
             "threshold": cache.alarm_memory_percent,
             "metric_queries": _across(nodes, "CacheClusterId", "AWS/ElastiCache",
                                       "DatabaseMemoryUsagePercentage", "Maximum", "MAX",
                                       "memory used by data (%)"),
             "description": f"Cache data above {cache.alarm_memory_percent}% of node memory."},
            {"suffix": "cache-evictions-high", "comparison_operator": "GreaterThanThreshold",
             "threshold": cache.alarm_evictions,
             "metric_queries": _across(nodes, "CacheClusterId", "AWS/ElastiCache", "Evictions",
                                       "Sum", "SUM", "evictions per minute"),
             "description": f"More than {cache.alarm_evictions} keys evicted per minute "
             "(the cache is too small)."},
        ]  # fmt: skip
    return specs


def dashboard_widgets(*, region: str, prefix: str, data: DataSettings) -> list[dict[str, Any]]:
    """CloudWatch dashboard widgets for the data tier (pure; appended to the main dashboard,
    which places them below its own rows)."""

    def widget(title: str, metrics: list[list[Any]], stat: str) -> dict[str, Any]:
        return {"type": "metric", "width": 12, "height": 6,
                "properties": {"title": title, "region": region, "view": "timeSeries",
                               "stacked": False, "period": PERIOD_SECONDS, "stat": stat,
                               "metrics": metrics}}  # fmt: skip

    out: list[dict[str, Any]] = []
    if data.postgres.enabled:
        c = ["DBClusterIdentifier", db_cluster_id(prefix)]
        out += [
            widget("Database CPU (%) and capacity (ACU)",
                   [["AWS/RDS", "CPUUtilization", *c],
                    ["AWS/RDS", "ServerlessDatabaseCapacity", *c, {"yAxis": "right"}]],
                   "Average"),
            widget("Database connections and freeable memory",
                   [["AWS/RDS", "DatabaseConnections", *c, {"stat": "Maximum"}],
                    ["AWS/RDS", "FreeableMemory", *c, {"stat": "Minimum", "yAxis": "right"}]],
                   "Maximum"),
        ]  # fmt: skip
        if data.postgres.instances > 1:
            out.append(widget(
                "Aurora replica lag (ms)",
                [["AWS/RDS", "AuroraReplicaLag", "DBInstanceIdentifier", i]
                 for i in db_instance_ids(prefix, data.postgres.instances)], "Maximum",
            ))  # fmt: skip
    if data.cache.enabled:
        nodes = cache_node_ids(prefix, data.cache.nodes)
        out += [
            widget("Cache engine CPU and memory (%)",
                   [["AWS/ElastiCache", m, "CacheClusterId", n] for n in nodes
                    for m in ("EngineCPUUtilization", "DatabaseMemoryUsagePercentage")],
                   "Maximum"),
            widget("Cache evictions and connections",
                   [["AWS/ElastiCache", m, "CacheClusterId", n, {"stat": s}] for n in nodes
                    for m, s in (("Evictions", "Sum"), ("CurrConnections", "Maximum"))], "Sum"),
        ]  # fmt: skip
    return out


# -- the CI role's share --------------------------------------------------------------------------


def deploy_statements(*, prefix: str, region: str, account: str, data: DataSettings,
                      migrations: bool, partition: str = "aws") -> list[dict[str, Any]]:  # fmt: skip
    """What the GitHub deploy role needs for the data tier, scoped to this stack's names
    (``<prefix>`` and ``<prefix>-*``, never a bare ``<prefix>*``, which would also match
    ``web-prod2``): each enabled store's lifecycle (the database's includes the pre-migration
    snapshot), the cache token secret, and with ``migrations`` (``deploy.migrate_command`` set) the
    one-off migration task. Kept apart from :func:`components.github_oidc.deploy_permissions`'s own
    statements (every Sid starts with ``Data``) so they can be reviewed and bounded as a unit.

    No IAM action: RDS and ElastiCache use their service-linked roles, which an administrator
    creates once per account (``iam:CreateServiceLinkedRole`` is deliberately not granted)."""
    arn, r = f"arn:{partition}", f"{region}:{account}"
    pg, cache = data.postgres.enabled, data.cache.enabled

    def named(head: str, tail: str = "") -> list[str]:
        return [f"{head}{prefix}{tail}", f"{head}{prefix}-*{tail}"]

    st: list[dict[str, Any]] = [
        {
            # Engine and instance-class catalogues: no resource type, no condition key in the
            # IAM reference, so "*" only (components.github_oidc.UNSCOPED_ACTIONS lists them).
            "Sid": "DataCatalogues",
            "Effect": "Allow",
            "Action": ["rds:DescribeDBEngineVersions", "rds:DescribeOrderableDBInstanceOptions",
                       "elasticache:DescribeCacheEngineVersions"],
            "Resource": "*",
        },
    ] if pg or cache else []  # fmt: skip
    if pg:
        cluster_arn = f"{arn}:rds:{r}:cluster:{db_cluster_id(prefix)}"
        rds_secret = f"{arn}:secretsmanager:{r}:secret:rds!cluster-*"
        st += [{
            "Sid": "DataThisDatabase",
            "Effect": "Allow",
            "Action": [
                "rds:CreateDBCluster", "rds:ModifyDBCluster", "rds:DeleteDBCluster",
                "rds:DescribeDBClusters", "rds:CreateDBInstance", "rds:ModifyDBInstance",
                "rds:DeleteDBInstance", "rds:DescribeDBInstances", "rds:CreateDBSubnetGroup",
                "rds:ModifyDBSubnetGroup", "rds:DeleteDBSubnetGroup", "rds:DescribeDBSubnetGroups",
                "rds:CreateDBClusterSnapshot", "rds:DescribeDBClusterSnapshots",
                "rds:AddTagsToResource", "rds:RemoveTagsFromResource", "rds:ListTagsForResource",
            ],
            "Resource": [
                *named(f"{arn}:rds:{r}:cluster:"), *named(f"{arn}:rds:{r}:db:"),
                *named(f"{arn}:rds:{r}:subgrp:"), *named(f"{arn}:rds:{r}:cluster-snapshot:"),
            ],
        },
        {
            # AWS's default parameter and option groups (shared, read by the creates only).
            "Sid": "DataDefaultDatabaseGroups",
            "Effect": "Allow",
            "Action": ["rds:CreateDBCluster", "rds:CreateDBInstance", "rds:ModifyDBCluster",
                       "rds:ModifyDBInstance"],
            "Resource": [f"{arn}:rds:{r}:cluster-pg:default.*", f"{arn}:rds:{r}:pg:default.*",
                         f"{arn}:rds:{r}:og:default:*"],
        },
        {
            # RDS creates and tags the master user secret in the caller's name. Its name is
            # rds!cluster-<uuid> (no prefix can scope it), so the statement is conditioned on the
            # tag RDS puts on it, aws:rds:primaryDBClusterArn = this stack's cluster: in the
            # request when it is created, on the secret afterwards.
            "Sid": "DataRdsCreatesTheMasterSecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:CreateSecret", "secretsmanager:TagResource"],
            "Resource": rds_secret,
            "Condition": {"StringEquals": {
                "aws:RequestTag/aws:rds:primaryDBClusterArn": cluster_arn}},
        },
        {
            "Sid": "DataRdsManagedMasterSecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:DescribeSecret", "secretsmanager:DeleteSecret",
                       "secretsmanager:TagResource"],
            "Resource": rds_secret,
            "Condition": {"StringEquals": {
                "aws:ResourceTag/aws:rds:primaryDBClusterArn": cluster_arn}},
        }]  # fmt: skip
    if cache:
        ec = f"{arn}:elasticache:{r}"
        st += [{
            "Sid": "DataThisCache",
            "Effect": "Allow",
            "Action": [
                "elasticache:CreateReplicationGroup", "elasticache:ModifyReplicationGroup",
                "elasticache:DeleteReplicationGroup", "elasticache:DescribeReplicationGroups",
                "elasticache:IncreaseReplicaCount", "elasticache:DecreaseReplicaCount",
                "elasticache:CreateCacheCluster", "elasticache:DescribeCacheClusters",
                "elasticache:CreateCacheSubnetGroup", "elasticache:ModifyCacheSubnetGroup",
                "elasticache:DeleteCacheSubnetGroup", "elasticache:DescribeCacheSubnetGroups",
                "elasticache:CreateSnapshot", "elasticache:AddTagsToResource",
                "elasticache:RemoveTagsFromResource", "elasticache:ListTagsForResource",
            ],
            "Resource": [
                *named(f"{ec}:replicationgroup:"), *named(f"{ec}:cluster:"),
                *named(f"{ec}:subnetgroup:"), *named(f"{ec}:snapshot:"),
            ],
        },
        {
            # AWS's default parameter groups (shared, read by the create and modify only).
            "Sid": "DataDefaultCacheParameterGroups",
            "Effect": "Allow",
            "Action": ["elasticache:CreateReplicationGroup", "elasticache:ModifyReplicationGroup",
                       "elasticache:CreateCacheCluster"],
            "Resource": f"{ec}:parametergroup:default.*",
        },
        {
            # The AUTH token secret, named <prefix>/cache-auth-token-...: GetSecretValue because
            # the provider reads the version back (create and refresh of the SecretVersion).
            "Sid": "DataThisStacksSecrets",
            "Effect": "Allow",
            "Action": [
                "secretsmanager:CreateSecret", "secretsmanager:DeleteSecret",
                "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret",
                "secretsmanager:UpdateSecretVersionStage", "secretsmanager:GetResourcePolicy",
                "secretsmanager:TagResource", "secretsmanager:UntagResource",
            ],
            "Resource": f"{arn}:secretsmanager:{r}:secret:{prefix}/*",
        }]  # fmt: skip
    if migrations:
        st.append({
            # deplight deploy --schema-version: the one-off migration task (the service's family
            # on the stack's cluster, both named <prefix>) and its logs.
            "Sid": "DataMigrationTask",
            "Effect": "Allow",
            "Action": ["ecs:RunTask", "ecs:StopTask", "ecs:DescribeTasks", "logs:GetLogEvents"],
            "Resource": [
                *named(f"{arn}:ecs:{r}:task-definition/", ":*"),
                f"{arn}:ecs:{r}:task/{prefix}/*",
                f"{arn}:logs:{r}:log-group:/ecs/{prefix}:log-stream:*",
            ],
        })  # fmt: skip
    if data.kms_key_arn and (pg or cache):
        st.append({
            # The configured customer key, only through the data services (grants only for AWS
            # resources: RDS, ElastiCache and Secrets Manager hold them, not the caller).
            "Sid": "DataCustomerKey",
            "Effect": "Allow",
            "Action": ["kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt",
                       "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"],
            "Resource": data.kms_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": [
                f"{s}.{region}.amazonaws.com" for s in ("rds", "elasticache", "secretsmanager")]}},
        })  # fmt: skip
    return st


# -- the components -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DataTierArgs:
    """Inputs of :class:`DataTier`."""

    prefix: str
    """Name prefix (``<service>-<stack>``)."""
    data: DataSettings
    """Which stores, their sizes and safety settings."""
    vpc_id: pulumi.Input[str]
    """The VPC."""
    private_subnet_ids: pulumi.Input[Sequence[str]]
    """The network's private subnets (one per AZ): the stores live only there."""
    availability_zones: Sequence[str]
    """The AZs of those subnets, in the same order (instance and node placement)."""
    task_security_group_id: pulumi.Input[str]
    """The tasks' group: the only one admitted to the stores."""


class DataTier(pulumi.ComponentResource):
    """Aurora PostgreSQL Serverless v2 and/or an ElastiCache replication group, private only.

    Database: storage encrypted (the configured customer key, else AWS's), IAM database
    authentication, Performance Insights, log exports, automated backups, the master password
    generated and rotated by RDS in Secrets Manager (``manage_master_user_password``), instance i
    in AZ i (the first is the writer; readers in promotion tier 1 scale with it). Cache: encryption
    at rest and in transit, an AUTH token generated once (:class:`~components.auth_token.AuthToken`)
    and stored in Secrets Manager, automatic failover across AZs with two or more nodes.
    """

    db_cluster_identifier: pulumi.Output[str] | None
    """Aurora cluster identifier (``None`` without the database)."""
    db_endpoint: pulumi.Output[str] | None
    """Writer endpoint."""
    db_reader_endpoint: pulumi.Output[str] | None
    """Reader endpoint (the writer too while there is no reader)."""
    db_secret_arn: pulumi.Output[str] | None
    """The RDS-managed master user secret (JSON with ``username`` and ``password``)."""
    db_security_group_id: pulumi.Output[str] | None
    """The database's group (5432 from the tasks only)."""
    cache_replication_group_id: pulumi.Output[str] | None
    """ElastiCache replication group id (``None`` without the cache)."""
    cache_endpoint: pulumi.Output[str] | None
    """Primary endpoint."""
    cache_reader_endpoint: pulumi.Output[str] | None
    """Reader endpoint."""
    cache_secret_arn: pulumi.Output[str] | None
    """Secrets Manager secret holding the AUTH token."""
    cache_security_group_id: pulumi.Output[str] | None
    """The cache's group (6379 from the tasks only)."""
    task_environment: pulumi.Output[dict[str, str]]
    """Container environment: the endpoints (:func:`task_environment`)."""
    task_secrets: pulumi.Output[dict[str, str]]
    """Container secrets: variable -> ``valueFrom`` (:func:`task_secrets`)."""

    def __init__(
        self, name: str, args: DataTierArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deplight:data:DataTier", name, None, opts)
        pg, cache, kms = args.data.postgres, args.data.cache, args.data.kms_key_arn
        azs = list(args.availability_zones)
        child = pulumi.ResourceOptions(parent=self)
        tags = stack_tags(args.prefix)

        def store_group(store: str, port: int, what: str) -> aws.ec2.SecurityGroup:
            # No egress rule: the provider removes AWS's default allow-all egress, and a store
            # never opens connections.
            group = aws.ec2.SecurityGroup(
                f"{name}-{store}-sg",
                vpc_id=args.vpc_id,
                description=f"{args.prefix} {what}: {port} from the tasks only",
                tags={**tags, "Name": f"{args.prefix}-{store}"},
                opts=child,
            )
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{store}-in-tasks",
                security_group_id=group.id,
                description=f"{what} from the service's tasks",
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                referenced_security_group_id=args.task_security_group_id,
                tags=tags,
                opts=child,
            )
            return group

        self.db_cluster_identifier = self.db_endpoint = self.db_reader_endpoint = None
        self.db_secret_arn = self.db_security_group_id = None
        if pg.enabled:
            db_sg = store_group("db", POSTGRES_PORT, "PostgreSQL")
            subnets = aws.rds.SubnetGroup(
                f"{name}-db-subnets",
                name=db_cluster_id(args.prefix),
                description=f"{args.prefix} database: private subnets only",
                subnet_ids=args.private_subnet_ids,
                tags=tags,
                opts=child,
            )
            cluster = aws.rds.Cluster(
                f"{name}-db",
                cluster_identifier=db_cluster_id(args.prefix),
                engine="aurora-postgresql",
                engine_mode="provisioned",
                engine_version=pg.engine_version,
                database_name=pg.database_name,
                master_username=pg.master_username,
                manage_master_user_password=True,
                master_user_secret_kms_key_id=kms,
                storage_encrypted=True,
                kms_key_id=kms,
                iam_database_authentication_enabled=True,
                serverlessv2_scaling_configuration=aws.rds.ClusterServerlessv2ScalingConfigurationArgs(
                    min_capacity=pg.min_capacity,
                    max_capacity=pg.max_capacity,
                    seconds_until_auto_pause=pg.seconds_until_auto_pause
                    if pg.min_capacity == 0
                    else None,
                ),
                backup_retention_period=pg.backup_retention_days,
                preferred_backup_window="03:00-04:00",
                preferred_maintenance_window="sun:04:30-sun:05:30",
                copy_tags_to_snapshot=True,
                deletion_protection=pg.deletion_protection,
                skip_final_snapshot=not pg.final_snapshot,
                final_snapshot_identifier=f"{db_cluster_id(args.prefix)}-final"
                if pg.final_snapshot
                else None,
                enabled_cloudwatch_logs_exports=list(pg.log_exports),
                db_subnet_group_name=subnets.name,
                vpc_security_group_ids=[db_sg.id],
                port=POSTGRES_PORT,
                tags=tags,
                opts=child,
            )
            writer: aws.rds.ClusterInstance | None = None
            for i, identifier in enumerate(db_instance_ids(args.prefix, pg.instances)):
                instance = aws.rds.ClusterInstance(
                    f"{name}-db-{i + 1}",
                    identifier=identifier,
                    cluster_identifier=cluster.id,
                    instance_class="db.serverless",
                    # pulumi_aws types Cluster.engine as str, ClusterInstance's as EngineType (a
                    # str enum): the same engine name
                    engine=cluster.engine,  # type: ignore[arg-type]
                    engine_version=cluster.engine_version,
                    availability_zone=azs[i % len(azs)],
                    db_subnet_group_name=subnets.name,
                    publicly_accessible=False,
                    # Tier 0 and 1 readers follow the writer's capacity: a failover target is warm.
                    promotion_tier=min(i, 15),
                    performance_insights_enabled=True,
                    performance_insights_kms_key_id=kms,
                    performance_insights_retention_period=pg.performance_insights_retention_days,
                    ca_cert_identifier=DB_CA_CERTIFICATE,
                    auto_minor_version_upgrade=True,
                    tags=tags,
                    # The first instance of a new cluster becomes its writer: readers wait for it.
                    opts=pulumi.ResourceOptions(
                        parent=self, depends_on=[writer] if writer is not None else None
                    ),
                )
                writer = writer or instance
            self.db_cluster_identifier = cluster.cluster_identifier
            self.db_endpoint = cluster.endpoint
            self.db_reader_endpoint = cluster.reader_endpoint
            self.db_secret_arn = cluster.master_user_secrets.apply(
                # AWS always reports a secret's ARN; the type says Optional, read None as no secret
                lambda s: (s[0].secret_arn or "") if s else ""
            )
            self.db_security_group_id = db_sg.id

        self.cache_replication_group_id = self.cache_endpoint = self.cache_reader_endpoint = None
        self.cache_secret_arn = self.cache_security_group_id = None
        if cache.enabled:
            cache_sg = store_group("cache", CACHE_PORT, cache.engine.value.capitalize())
            subnets_c = aws.elasticache.SubnetGroup(
                f"{name}-cache-subnets",
                name=cache_group_id(args.prefix),
                description=f"{args.prefix} cache: private subnets only",
                subnet_ids=args.private_subnet_ids,
                tags=tags,
                opts=child,
            )
            # The engine keeps `result` secret (additional_secret_outputs); marking it here too
            # keeps it secret in this program whatever the engine does.
            token: pulumi.Output[str] = pulumi.Output.secret(
                AuthToken(f"{name}-cache-auth-token", opts=child).result
            )
            secret = aws.secretsmanager.Secret(
                f"{name}-cache-auth",
                name_prefix=f"{args.prefix}/cache-auth-token-",
                description=f"{args.prefix}: AUTH token of the {cache.engine.value} cache",
                kms_key_id=kms,
                tags=tags,
                opts=child,
            )
            aws.secretsmanager.SecretVersion(
                f"{name}-cache-auth-value", secret_id=secret.id, secret_string=token,
                opts=child,
            )  # fmt: skip
            failover = cache.nodes >= 2
            group = aws.elasticache.ReplicationGroup(
                f"{name}-cache",
                replication_group_id=cache_group_id(args.prefix),
                description=f"{args.prefix} {cache.engine.value} cache",
                engine=cache.engine.value,
                engine_version=cache.engine_version,
                node_type=cache.node_type,
                num_cache_clusters=cache.nodes,
                port=CACHE_PORT,
                automatic_failover_enabled=failover,
                multi_az_enabled=failover,
                preferred_cache_cluster_azs=[azs[i % len(azs)] for i in range(cache.nodes)],
                subnet_group_name=subnets_c.name,
                security_group_ids=[cache_sg.id],
                at_rest_encryption_enabled=True,
                kms_key_id=kms,
                transit_encryption_enabled=True,
                auth_token=token,
                snapshot_retention_limit=cache.snapshot_retention_days,
                snapshot_window="03:00-04:00",
                maintenance_window="sun:05:00-sun:06:00",
                final_snapshot_identifier=f"{cache_group_id(args.prefix)}-final"
                if cache.snapshot_retention_days
                else None,
                auto_minor_version_upgrade=True,
                tags=tags,
                opts=child,
            )
            self.cache_replication_group_id = group.replication_group_id
            self.cache_endpoint = group.primary_endpoint_address
            self.cache_reader_endpoint = group.reader_endpoint_address
            self.cache_secret_arn = secret.arn
            self.cache_security_group_id = cache_sg.id

        self.task_environment = pulumi.Output.all(
            self.db_endpoint, self.db_reader_endpoint, self.cache_endpoint,
            self.cache_reader_endpoint,
        ).apply(lambda v: task_environment(
            db_endpoint=v[0], db_reader_endpoint=v[1],
            database_name=pg.database_name if pg.enabled else None,
            cache_endpoint=v[2], cache_reader_endpoint=v[3],
        ))  # fmt: skip
        self.task_secrets = pulumi.Output.all(self.db_secret_arn, self.cache_secret_arn).apply(
            lambda v: task_secrets(db_secret_arn=v[0], cache_secret_arn=v[1])
        )
        self.register_outputs(
            {
                "db_cluster_identifier": self.db_cluster_identifier,
                "db_endpoint": self.db_endpoint,
                "db_reader_endpoint": self.db_reader_endpoint,
                "db_secret_arn": self.db_secret_arn,
                "db_security_group_id": self.db_security_group_id,
                "cache_replication_group_id": self.cache_replication_group_id,
                "cache_endpoint": self.cache_endpoint,
                "cache_reader_endpoint": self.cache_reader_endpoint,
                "cache_secret_arn": self.cache_secret_arn,
                "cache_security_group_id": self.cache_security_group_id,
                "task_environment": self.task_environment,
                "task_secrets": self.task_secrets,
            }
        )


@dataclass(frozen=True, kw_only=True)
class DataAlarmsArgs:
    """Inputs of :class:`DataAlarms`."""

    prefix: str
    """Name prefix (``<service>-<stack>``)."""
    data: DataSettings
    """Which stores and the thresholds."""
    alert_topic_arn: pulumi.Input[str]
    """Where every alarm (and its recovery) goes."""
    evaluation_periods: int = 3
    """Consecutive 1-minute periods before an alarm fires."""


class DataAlarms(pulumi.ComponentResource):
    """The data tier's alarms (:func:`alarm_specs`), each notifying the alert topic. They page;
    none of them rolls a release back (a busy database is not a bad image)."""

    alarm_names: pulumi.Output[list[str]]
    """Every data-tier alarm."""

    def __init__(
        self, name: str, args: DataAlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deplight:data:Alarms", name, None, opts)
        alarms = []
        for spec in alarm_specs(args.prefix, args.data):
            queries = spec.get("metric_queries")
            alarms.append(aws.cloudwatch.MetricAlarm(
                f"{name}-{spec['suffix']}",
                name=f"{args.prefix}-{spec['suffix']}",
                alarm_description=spec["description"],
                comparison_operator=spec["comparison_operator"],
                threshold=spec["threshold"],
                namespace=spec.get("namespace"),
                metric_name=spec.get("metric_name"),
                dimensions=spec.get("dimensions"),
                statistic=spec.get("statistic"),
                period=PERIOD_SECONDS if not queries else None,
                metric_queries=[
                    aws.cloudwatch.MetricAlarmMetricQueryArgs(
                        id=q["id"], return_data=q["return_data"], label=q.get("label"),
                        expression=q.get("expression"),
                        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(**q["metric"])
                        if "metric" in q else None,
                    ) for q in queries
                ] if queries else None,
                evaluation_periods=args.evaluation_periods,
                datapoints_to_alarm=args.evaluation_periods,
                treat_missing_data="notBreaching",
                alarm_actions=[args.alert_topic_arn],
                ok_actions=[args.alert_topic_arn],
                tags=stack_tags(args.prefix),
                opts=pulumi.ResourceOptions(parent=self),
            ))  # fmt: skip
        self.alarm_names = pulumi.Output.all(*[a.name for a in alarms])
        self.register_outputs({"alarm_names": self.alarm_names})


def grants(data: DataSettings, *, migrations: bool) -> Grants:
    """What the data tier adds to the CI deploy role (:func:`deploy_statements`), for the stores
    that are on and, with ``migrations``, the one-off migration task."""
    return Grants(
        deploy=lambda scope: deploy_statements(
            prefix=scope.prefix, region=scope.region, account=scope.account, data=data,
            migrations=migrations, partition=scope.partition,
        ),
        preview_reads=("rds:Describe*", "rds:ListTagsForResource", "elasticache:Describe*",
                       "elasticache:ListTagsForResource"),
    )  # fmt: skip
