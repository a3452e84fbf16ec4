"""Observability: the service log group, alarms that drive rollback, alerts, dashboard, X-Ray
sampling and the release/rollback audit table.

Two components, because the task definition must write to the log group while the alarms need the
load balancer and target groups that the EcsService creates from that task definition:

- :class:`ServiceLogs` (``deplight:observability:Logs``) is created first and handed to EcsService;
- :class:`Observability` (``deplight:observability:Observability``) is created after it and takes
  EcsService's ARN suffixes, so alarms and the dashboard reference the real resources.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import contract as keys
from components.ecs_service import service_name
from components.iam import stack_tags
from components.settings import ObservabilitySettings

PERIOD_SECONDS = 60


ROLLBACK_ALARMS = ("5xx-rate", "p99-latency", "blue-unhealthy-hosts", "green-unhealthy-hosts",
                   "low-healthy-hosts")  # fmt: skip
"""Suffixes of the alarms that stop and roll back a release."""


def rollback_alarm_names(prefix: str) -> list[str]:
    """Names of the rollback alarms: deterministic, so the ECS service (strategy ecs_bluegreen)
    can name them before Observability, which needs the service, creates them."""
    return [f"{prefix}-{suffix}" for suffix in ROLLBACK_ALARMS]


def log_group_name(prefix: str) -> str:
    """Name of the service log group (the awslogs driver writes here)."""
    return f"/ecs/{prefix}"


@dataclass(frozen=True, kw_only=True)
class ServiceLogsArgs:
    """Inputs of :class:`ServiceLogs`."""

    prefix: str
    """Name prefix (``<service>-<stack>``)."""
    observability: ObservabilitySettings
    """Retention and the optional KMS key."""
    kms_key_arn: pulumi.Input[str] | None = None
    """The stack's customer-managed key (``observability.log_kms_key_arn`` takes precedence)."""


class ServiceLogs(pulumi.ComponentResource):
    """The service's CloudWatch log group, with retention (and KMS when configured)."""

    log_group_name: pulumi.Output[str]
    """Log group the task definition's awslogs driver writes to."""
    log_group_arn: pulumi.Output[str]
    """Its ARN (the execution role may write only here)."""

    def __init__(
        self, name: str, args: ServiceLogsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deplight:observability:Logs", name, None, opts)
        group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name(args.prefix),
            retention_in_days=args.observability.log_retention_days,
            kms_key_id=args.observability.log_kms_key_arn or args.kms_key_arn,
            tags=stack_tags(args.prefix),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.log_group_name = group.name
        self.log_group_arn = group.arn
        self.register_outputs(
            {"log_group_name": self.log_group_name, "log_group_arn": self.log_group_arn}
        )


def dashboard_body(
    *,
    region: str,
    alb_arn_suffix: str,
    blue_target_group_arn_suffix: str,
    green_target_group_arn_suffix: str,
    cluster_name: str,
    service_name: str | None,
    extra_widgets: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The CloudWatch dashboard as a dict (pure; snapshot-tested).

    Rows: requests and 5xx, latency p50/p95/p99, healthy hosts per target group, ECS CPU/memory,
    running task count; then ``extra_widgets`` (other components' rows, e.g. the data tier's),
    which CloudWatch places below when they carry no position.
    """
    alb = ["LoadBalancer", alb_arn_suffix]

    def widget(title: str, metrics: list[list[Any]], x: int, y: int, stat: str = "Sum",
               w: int = 12) -> dict[str, Any]:  # fmt: skip
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": w,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "view": "timeSeries",
                "stacked": False,
                "period": PERIOD_SECONDS,
                "stat": stat,
                "metrics": metrics,
            },
        }

    ecs_dims = ["ClusterName", cluster_name, "ServiceName", service_name or "(not yet created)"]
    tg = [("blue", blue_target_group_arn_suffix), ("green", green_target_group_arn_suffix)]
    widgets = [
        widget("Requests", [["AWS/ApplicationELB", "RequestCount", *alb]], 0, 0),
        widget(
            "5xx responses",
            [
                ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", *alb],
                ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", *alb],
            ],
            12,
            0,
        ),
        widget(
            "Target response time (s)",
            [
                ["AWS/ApplicationELB", "TargetResponseTime", *alb, {"stat": p, "label": p}]
                for p in ("p50", "p95", "p99")
            ],
            0,
            6,
            stat="p99",
        ),
        widget(
            "Healthy hosts per target group",
            [
                [
                    "AWS/ApplicationELB",
                    "HealthyHostCount",
                    "TargetGroup",
                    suffix,
                    *alb,
                    {"label": f"{color} healthy"},
                ]
                for color, suffix in tg
            ]
            + [
                [
                    "AWS/ApplicationELB",
                    "UnHealthyHostCount",
                    "TargetGroup",
                    suffix,
                    *alb,
                    {"label": f"{color} unhealthy"},
                ]
                for color, suffix in tg
            ],
            12,
            6,
            stat="Minimum",
        ),  # fmt: skip
        widget(
            "ECS CPU and memory (%)",
            [
                ["AWS/ECS", "CPUUtilization", *ecs_dims],
                ["AWS/ECS", "MemoryUtilization", *ecs_dims],
            ],
            0,
            12,
            stat="Average",
        ),
        widget(
            "Running tasks",
            [["ECS/ContainerInsights", "RunningTaskCount", *ecs_dims]],
            12,
            12,
            stat="Average",
        ),
    ]
    return {"widgets": widgets + [dict(w) for w in extra_widgets]}


def dashboard_url(region: str, name: str) -> str:
    """Console URL of a CloudWatch dashboard."""
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards:name={name}"
    )


@dataclass(frozen=True, kw_only=True)
class ObservabilityArgs:
    """Inputs of :class:`Observability`."""

    prefix: str
    """Name prefix (``<service>-<stack>``)."""
    region: str
    """Region, for the dashboard."""
    observability: ObservabilitySettings
    """Thresholds, sampling rate, alert destinations."""
    alb_arn_suffix: pulumi.Input[str]
    """``app/<name>/<id>`` of the ALB."""
    blue_target_group_arn_suffix: pulumi.Input[str]
    """``targetgroup/<name>/<id>`` of the blue target group."""
    green_target_group_arn_suffix: pulumi.Input[str]
    """``targetgroup/<name>/<id>`` of the green target group."""
    cluster_name: pulumi.Input[str]
    """ECS cluster."""
    service_name: pulumi.Input[str] | None
    """ECS service; ``None`` before the first release (bootstrap): no ECS alarms then."""
    audit_table_deletion_protection: bool = True
    """Refuse to delete the audit table (it is the second copy of the release log)."""
    extra_widgets: Sequence[Mapping[str, Any]] = ()
    """More dashboard widgets (the data tier's), appended after the service's rows."""
    kms_key_arn: pulumi.Input[str] | None = None
    """The stack's customer-managed key for the alert topic and the audit table (``None``:
    AWS-managed keys)."""


class Observability(pulumi.ComponentResource):
    """Alarms (the rollback triggers), the alert topic, the dashboard, X-Ray sampling, audit table.

    CodeDeploy (and ECS under ``ecs_bluegreen``) stops a release while a watched alarm is in
    ALARM, so no rollback alarm may sit in ALARM on a healthy stack that has no traffic, or no
    tasks yet (bootstrap), or an empty green target group. ``treat_missing_data`` is chosen per
    alarm, with the reason next to each: every rollback alarm is ``notBreaching``, because each
    one publishes data exactly when there is something to judge (requests, targets, a service
    that wants tasks). The healthy-hosts alarm is the one that must breach on *zero* healthy
    targets: it is gated on the service's desired task count rather than on missing data (see
    there). ``tests/test_alarm_semantics.py`` evaluates these definitions with CloudWatch's
    semantics in each of those situations. The ECS CPU/memory alarms page and never roll back;
    they are ``notBreaching`` too: no tasks is not high load.
    """

    alarm_names: pulumi.Output[list[str]]
    """Every alarm."""
    rollback_alarm_names: pulumi.Output[list[str]]
    """The alarms that stop a release and roll it back (for the blue/green deployment group)."""
    alert_topic_arn: pulumi.Output[str]
    """SNS topic every alarm notifies."""
    dashboard_name: pulumi.Output[str]
    """CloudWatch dashboard."""
    dashboard_url: pulumi.Output[str]
    """Its console URL."""
    audit_table_name: pulumi.Output[str]
    """DynamoDB release/rollback audit table."""
    audit_table_arn: pulumi.Output[str]
    """Its ARN."""

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deplight:observability:Observability", name, None, opts)
        s = args.observability
        child = pulumi.ResourceOptions(parent=self)
        tags = stack_tags(args.prefix)

        if s.alert_sns_topic_arn:
            topic_arn: pulumi.Output[str] = pulumi.Output.from_input(s.alert_sns_topic_arn)
        else:
            topic = aws.sns.Topic(
                f"{name}-alerts",
                name=f"{args.prefix}-alerts",
                # The stack's key (its policy lets CloudWatch alarms publish), else AWS's.
                kms_master_key_id=args.kms_key_arn
                if args.kms_key_arn is not None
                else "alias/aws/sns",
                tags=tags,
                opts=child,
            )
            topic_arn = topic.arn
            if s.alert_email:
                aws.sns.TopicSubscription(
                    f"{name}-alerts-email", topic=topic.arn, protocol="email",
                    endpoint=s.alert_email, opts=child,
                )  # fmt: skip

        alb_dim = {"LoadBalancer": args.alb_arn_suffix}
        common: dict[str, Any] = {
            "alarm_actions": [topic_arn],
            "ok_actions": [topic_arn],
            "evaluation_periods": s.alarm_evaluation_periods,
            "datapoints_to_alarm": s.alarm_evaluation_periods,
            "tags": tags,
            "opts": child,
        }

        def alb_query(qid: str, metric: str, dims: dict[str, Any]) -> Any:
            return aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=qid,
                return_data=False,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace="AWS/ApplicationELB", metric_name=metric, dimensions=dims,
                    period=PERIOD_SECONDS, stat="Sum",
                ),
            )  # fmt: skip

        five_xx = aws.cloudwatch.MetricAlarm(
            f"{name}-5xx-rate",
            name=f"{args.prefix}-{ROLLBACK_ALARMS[0]}",
            alarm_description=(
                f"More than {s.alarm_5xx_rate_percent}% of requests answered 5xx (target or ALB). "
                "Stops and rolls back a release."
            ),
            comparison_operator="GreaterThanThreshold",
            threshold=s.alarm_5xx_rate_percent,
            metric_queries=[
                alb_query("target5xx", "HTTPCode_Target_5XX_Count", alb_dim),
                alb_query("elb5xx", "HTTPCode_ELB_5XX_Count", alb_dim),
                alb_query("requests", "RequestCount", alb_dim),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="rate",
                    label="5xx % of requests",
                    return_data=True,
                    # SUM of the array counts whichever of the two has data in a minute (the ALB
                    # may publish no 5xx count for a minute without one), without relying on
                    # FILL of a series that has no point in the whole window.
                    expression="IF(requests > 0, 100 * SUM([target5xx, elb5xx]) / requests, 0)",
                ),
            ],
            # Missing: no requests (idle, bootstrap) or requests without any 5xx. Neither is an
            # error rate, so notBreaching; any 5xx under traffic publishes data and is judged.
            treat_missing_data="notBreaching",
            **common,
        )
        latency = aws.cloudwatch.MetricAlarm(
            f"{name}-p99-latency",
            name=f"{args.prefix}-{ROLLBACK_ALARMS[1]}",
            alarm_description=f"p99 target response time above {s.alarm_p99_latency_ms} ms.",
            namespace="AWS/ApplicationELB",
            metric_name="TargetResponseTime",
            dimensions=alb_dim,
            extended_statistic="p99",
            period=PERIOD_SECONDS,
            comparison_operator="GreaterThanThreshold",
            threshold=s.alarm_p99_latency_ms / 1000,
            # Missing: no requests, so no latency to judge (idle, bootstrap): notBreaching.
            treat_missing_data="notBreaching",
            **common,
        )
        unhealthy = []
        for color, suffix in (("blue", args.blue_target_group_arn_suffix),
                              ("green", args.green_target_group_arn_suffix)):  # fmt: skip
            unhealthy.append(
                aws.cloudwatch.MetricAlarm(
                    f"{name}-{color}-unhealthy",
                    name=f"{args.prefix}-{color}-unhealthy-hosts",  # ROLLBACK_ALARMS[2:4]
                    alarm_description=(
                        f"A target of the {color} target group fails its health check "
                        "(during a release: the new tasks are bad)."
                    ),
                    namespace="AWS/ApplicationELB",
                    metric_name="UnHealthyHostCount",
                    dimensions={"TargetGroup": suffix, **alb_dim},
                    statistic="Maximum",
                    period=PERIOD_SECONDS,
                    comparison_operator="GreaterThanThreshold",
                    threshold=0,
                    # Missing: an empty group (green outside a release, both before the first
                    # release). No target is not an unhealthy target: notBreaching.
                    treat_missing_data="notBreaching",
                    **common,
                )
            )

        def healthy_query(qid: str, suffix: pulumi.Input[str]) -> Any:
            return aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=qid,
                return_data=False,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace="AWS/ApplicationELB", metric_name="HealthyHostCount",
                    dimensions={"TargetGroup": suffix, **alb_dim}, period=PERIOD_SECONDS,
                    stat="Minimum",
                ),
            )  # fmt: skip

        # The service's desired task count (Container Insights, on for the cluster) exists from
        # the moment the service does. It tells "no healthy target because nothing should run
        # yet" (bootstrap, no data) from "no healthy target although tasks should run" (a bad
        # release), which missing ALB data alone cannot: an empty target group publishes either
        # zeros or nothing. The name is the one EcsService gives the service, known before it
        # exists.
        desired_dims = {"ClusterName": args.cluster_name, "ServiceName": service_name(args.prefix)}
        low_healthy = aws.cloudwatch.MetricAlarm(
            f"{name}-low-healthy-hosts",
            name=f"{args.prefix}-{ROLLBACK_ALARMS[4]}",
            alarm_description=(
                f"Fewer than {s.alarm_min_healthy_hosts} healthy targets over blue and green "
                "together (the serving group changes with every release) while the ECS service "
                "wants tasks."
            ),
            comparison_operator="LessThanThreshold",
            threshold=s.alarm_min_healthy_hosts,
            metric_queries=[
                healthy_query("blue", args.blue_target_group_arn_suffix),
                healthy_query("green", args.green_target_group_arn_suffix),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="desired",
                    return_data=False,
                    metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                        namespace="ECS/ContainerInsights",
                        metric_name="DesiredTaskCount",
                        dimensions=desired_dims,
                        period=PERIOD_SECONDS,
                        stat="Maximum",
                    ),
                ),
                # 0 in every minute the service exists: the base the healthy counts add to, so
                # the sum is 0 (not missing) when neither group reports a healthy target.
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="zero",
                    return_data=False,
                    expression="desired * 0",
                ),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="healthy",
                    label="healthy targets while the service wants tasks",
                    return_data=True,
                    # A service scaled to 0 on purpose wants no healthy target: report the
                    # threshold itself, which is not below the threshold.
                    expression=(
                        f"IF(desired > 0, SUM([zero, blue, green]), {s.alarm_min_healthy_hosts})"
                    ),
                ),
            ],  # fmt: skip
            # Missing only while the service does not exist (bootstrap: no desired count), when
            # there is nothing to be healthy: notBreaching. Once it exists, zero healthy targets
            # is a data point of 0, which breaches.
            treat_missing_data="notBreaching",
            **common,
        )

        ecs_alarms = []
        if args.service_name is not None:
            ecs_dims = {"ClusterName": args.cluster_name, "ServiceName": args.service_name}
            for metric, threshold in (("CPUUtilization", s.alarm_cpu_percent),
                                      ("MemoryUtilization", s.alarm_memory_percent)):  # fmt: skip
                short = "cpu" if metric.startswith("CPU") else "memory"
                ecs_alarms.append(
                    aws.cloudwatch.MetricAlarm(
                        f"{name}-{short}-high",
                        name=f"{args.prefix}-{short}-high",
                        alarm_description=f"ECS service {short} above {threshold}% (pages, "
                        "does not roll back: load is not a bad release).",
                        namespace="AWS/ECS",
                        metric_name=metric,
                        dimensions=ecs_dims,
                        statistic="Average",
                        period=PERIOD_SECONDS,
                        comparison_operator="GreaterThanThreshold",
                        threshold=threshold,
                        treat_missing_data="notBreaching",
                        **common,
                    )
                )

        rollback = [five_xx, latency, *unhealthy, low_healthy]
        self.rollback_alarm_names = pulumi.Output.all(*[a.name for a in rollback])
        self.alarm_names = pulumi.Output.all(*[a.name for a in rollback + ecs_alarms])
        self.alert_topic_arn = topic_arn

        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.prefix,
            dashboard_body=pulumi.Output.all(
                args.alb_arn_suffix, args.blue_target_group_arn_suffix,
                args.green_target_group_arn_suffix, args.cluster_name, args.service_name,
            ).apply(
                lambda v: json.dumps(
                    dashboard_body(
                        region=args.region, alb_arn_suffix=v[0],
                        blue_target_group_arn_suffix=v[1], green_target_group_arn_suffix=v[2],
                        cluster_name=v[3], service_name=v[4], extra_widgets=args.extra_widgets,
                    )
                )
            ),
            opts=child,
        )  # fmt: skip
        self.dashboard_name = dashboard.dashboard_name
        self.dashboard_url = dashboard.dashboard_name.apply(lambda n: dashboard_url(args.region, n))

        aws.xray.SamplingRule(
            f"{name}-sampling",
            rule_name=args.prefix[:32],
            priority=1000,
            version=1,
            reservoir_size=1,
            fixed_rate=s.xray_sampling_rate,
            # The task definition sets AWS_XRAY_TRACING_NAME to the prefix, so this rule matches
            # exactly this service's traces.
            service_name=args.prefix,
            service_type="*",
            host="*",
            http_method="*",
            url_path="*",
            resource_arn="*",
            tags=tags,
            opts=child,
        )

        table = aws.dynamodb.Table(
            f"{name}-audit",
            name=f"{args.prefix}-releases",
            billing_mode="PAY_PER_REQUEST",
            hash_key=keys.AUDIT_HASH_KEY,
            range_key=keys.AUDIT_RANGE_KEY,
            attributes=[
                aws.dynamodb.TableAttributeArgs(name=keys.AUDIT_HASH_KEY, type="S"),
                aws.dynamodb.TableAttributeArgs(name=keys.AUDIT_RANGE_KEY, type="S"),
                aws.dynamodb.TableAttributeArgs(name=keys.AUDIT_RELEASE_ID, type="S"),
            ],
            global_secondary_indexes=[
                aws.dynamodb.TableGlobalSecondaryIndexArgs(
                    name=keys.AUDIT_RELEASE_INDEX,
                    key_schemas=[
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                            attribute_name=keys.AUDIT_RELEASE_ID, key_type="HASH"
                        )
                    ],
                    projection_type="ALL",
                )
            ],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                enabled=True, kms_key_arn=args.kms_key_arn
            ),
            deletion_protection_enabled=args.audit_table_deletion_protection,
            tags=tags,
            opts=child,
        )
        self.audit_table_name = table.name
        self.audit_table_arn = table.arn
        self.register_outputs(
            {
                "alarm_names": self.alarm_names,
                "rollback_alarm_names": self.rollback_alarm_names,
                "alert_topic_arn": self.alert_topic_arn,
                "dashboard_name": self.dashboard_name,
                "dashboard_url": self.dashboard_url,
                "audit_table_name": self.audit_table_name,
                "audit_table_arn": self.audit_table_arn,
            }
        )
