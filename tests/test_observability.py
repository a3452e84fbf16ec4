"""The Observability components: log group, alarms, alerts, dashboard, X-Ray, audit table."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from components import contract as keys
from components.observability import dashboard_body, dashboard_url
from deplight.harness import read_stack_config, run_program
from tests.conftest import program_run
from tests.snapshots import assert_snapshot

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def alarm_dimensions(alarm: Any) -> list[dict[str, Any]]:
    if alarm.inputs.get("dimensions"):
        return [alarm.inputs["dimensions"]]
    return [q["metric"]["dimensions"] for q in alarm.inputs.get("metricQueries", [])
            if q.get("metric")]  # fmt: skip


@pytest.mark.parametrize(("stack", "days"), [("dev", 7), ("prod", 365)])
def test_log_group_retention_per_stack(stack: str, days: int) -> None:
    run = program_run(stack)
    group = run.one("aws:cloudwatch/logGroup:LogGroup", f"{run.settings.prefix}-logs")
    assert int(group.inputs["retentionInDays"]) == days
    assert group.inputs["name"] == f"/ecs/{run.settings.prefix}"
    assert run.outputs["log_group_name"] == group.inputs["name"]


def test_log_group_kms_key_when_configured() -> None:
    config = read_stack_config("dev")
    key = "arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
    config["deplight:observability"] = {**config.get("deplight:observability", {}),
                                        "log_kms_key_arn": key}  # fmt: skip
    run = run_program("dev", config)
    assert run.one("aws:cloudwatch/logGroup:LogGroup", "web-dev-logs").inputs["kmsKeyId"] == key


def test_production_log_groups_use_the_stacks_own_key_which_logs_may_use() -> None:
    run = program_run("prod")
    key = run.one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    groups = run.of_type("aws:cloudwatch/logGroup:LogGroup")
    # the service's, the flow logs', and the release API's function and access logs
    assert len(groups) == 4, [g.name for g in groups]
    for group in groups:
        assert group.inputs["kmsKeyId"] == key.outputs["arn"], group.name
    policy = json.loads(key.inputs["policy"])
    logs = next(st for st in policy["Statement"] if st["Sid"].startswith("CloudWatchLogs"))
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    allowed = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    for group in groups:  # each group's ARN matches one of the patterns, no other stack's does
        name = group.inputs["name"]
        assert any(fnmatch.fnmatchcase(f"arn:aws:logs:us-east-1:123456789012:log-group:{name}", a)
                   for a in allowed), name  # fmt: skip
    assert not any(
        fnmatch.fnmatchcase("arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web-prod2", a)
        for a in allowed
    )
    table = run.one("aws:dynamodb/table:Table")
    assert table.inputs["serverSideEncryption"] == {"enabled": True,
                                                   "kmsKeyArn": key.outputs["arn"]}  # fmt: skip
    assert not program_run("dev").of_type("aws:kms/key:Key")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_alarms_reference_the_real_alb_and_target_groups(stack: str) -> None:
    run = program_run(stack)
    alb = run.one("aws:lb/loadBalancer:LoadBalancer").outputs["arnSuffix"]
    tgs = {t.name.rsplit("-", 1)[1]: t.outputs["arnSuffix"]
           for t in run.of_type("aws:lb/targetGroup:TargetGroup")}  # fmt: skip
    # the Observability component's own alarms (the data tier adds its own: tests/test_data.py)
    owner = run.one("deplight:observability:Observability").urn
    alarms = {a.name.removeprefix(f"{run.settings.prefix}-"): a for a in run.of_type(ALARM)
              if a.parent == owner}  # fmt: skip
    assert {"5xx-rate", "p99-latency", "blue-unhealthy", "green-unhealthy", "low-healthy-hosts",
            "cpu-high", "memory-high"} == set(alarms)  # fmt: skip
    for name, alarm in alarms.items():
        for dims in alarm_dimensions(alarm):
            if "LoadBalancer" in dims:
                assert dims["LoadBalancer"] == alb, name
            if "TargetGroup" in dims:
                assert dims["TargetGroup"] in tgs.values(), name
    assert alarm_dimensions(alarms["blue-unhealthy"])[0]["TargetGroup"] == tgs["blue"]
    assert alarm_dimensions(alarms["green-unhealthy"])[0]["TargetGroup"] == tgs["green"]
    assert {d["TargetGroup"] for d in alarm_dimensions(alarms["low-healthy-hosts"])
            if "TargetGroup" in d} == set(tgs.values())  # fmt: skip
    # gated on the ECS service's desired task count, under the service's real name
    assert {"ClusterName": run.outputs["cluster_name"],
            "ServiceName": run.outputs["service_name"]} in alarm_dimensions(
        alarms["low-healthy-hosts"])  # fmt: skip
    cpu = alarms["cpu-high"].inputs["dimensions"]
    assert cpu == {"ClusterName": run.outputs["cluster_name"],
                   "ServiceName": run.outputs["service_name"]}  # fmt: skip


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_alarm_notifies_the_alert_topic(stack: str) -> None:
    run = program_run(stack)
    topic = run.one("aws:sns/topic:Topic")
    if run.settings.observability.customer_managed_key:
        assert topic.inputs["kmsMasterKeyId"] == run.one("aws:kms/key:Key").outputs["arn"]
    else:
        assert topic.inputs["kmsMasterKeyId"] == "alias/aws/sns"
    for alarm in run.of_type(ALARM):
        assert alarm.inputs["alarmActions"] == [topic.outputs["arn"]], alarm.name
        assert alarm.inputs["okActions"] == [topic.outputs["arn"]], alarm.name
        assert alarm.inputs["treatMissingData"] in ("notBreaching", "breaching"), alarm.name
    assert run.outputs[keys.ALERT_TOPIC_ARN] == topic.outputs["arn"]


def test_email_subscription_only_when_configured() -> None:
    sub = program_run("prod").one("aws:sns/topicSubscription:TopicSubscription")
    assert (sub.inputs["protocol"], sub.inputs["endpoint"]) == ("email", "oncall@example.com")
    assert not program_run("dev").of_type("aws:sns/topicSubscription:TopicSubscription")


def test_existing_topic_is_used_instead_of_a_new_one() -> None:
    config = read_stack_config("dev")
    arn = "arn:aws:sns:us-east-1:123456789012:shared-alerts"
    config["deplight:observability"] = {**config.get("deplight:observability", {}),
                                        "alert_sns_topic_arn": arn}  # fmt: skip
    run = run_program("dev", config)
    assert not run.of_type("aws:sns/topic:Topic")
    assert all(a.inputs["alarmActions"] == [arn] for a in run.of_type(ALARM))


def test_thresholds_and_missing_data_choices() -> None:
    run = program_run("prod")
    ob = run.settings.observability
    alarms = {a.name.removeprefix("web-prod-"): a for a in run.of_type(ALARM)}
    assert float(alarms["5xx-rate"].inputs["threshold"]) == ob.alarm_5xx_rate_percent
    assert float(alarms["p99-latency"].inputs["threshold"]) == ob.alarm_p99_latency_ms / 1000
    assert alarms["p99-latency"].inputs["extendedStatistic"] == "p99"
    assert float(alarms["low-healthy-hosts"].inputs["threshold"]) == ob.alarm_min_healthy_hosts
    # missing data never breaches a rollback alarm (a bootstrapped or idle stack publishes
    # none); zero healthy hosts while the service wants tasks is data, and breaches
    # (tests/test_alarm_semantics.py evaluates both)
    for quiet in ("5xx-rate", "p99-latency", "blue-unhealthy", "green-unhealthy",
                  "low-healthy-hosts", "cpu-high"):  # fmt: skip
        assert alarms[quiet].inputs["treatMissingData"] == "notBreaching", quiet
    expr = next(q["expression"] for q in alarms["5xx-rate"].inputs["metricQueries"]
                if q.get("expression"))  # fmt: skip
    assert "requests > 0" in expr


@pytest.mark.parametrize("periods", [3, 5])
def test_alarms_fire_only_when_every_evaluated_period_breaches(periods: int) -> None:
    # N of N: a single bad minute (a deploy's warm-up, one slow request batch) must not stop and
    # roll back a release; `alarm_evaluation_periods` consecutive bad minutes must.
    config = read_stack_config("prod")
    config["deplight:observability"] = {**config["deplight:observability"],
                                        "alarm_evaluation_periods": periods}  # fmt: skip
    run = run_program("prod", config)
    alarms = {a.inputs["name"]: a for a in run.of_type(ALARM)}
    rollback = run.outputs[keys.ROLLBACK_ALARM_NAMES]
    assert len(rollback) == 5 and set(rollback) <= set(alarms)
    for name, alarm in alarms.items():
        assert int(alarm.inputs["evaluationPeriods"]) == periods, name
        assert int(alarm.inputs["datapointsToAlarm"]) == periods, name


def test_rollback_alarm_names_output() -> None:
    run = program_run("prod")
    names = run.outputs[keys.ROLLBACK_ALARM_NAMES]
    assert sorted(names) == sorted(
        f"web-prod-{n}" for n in ("5xx-rate", "p99-latency", "blue-unhealthy-hosts",
                                  "green-unhealthy-hosts", "low-healthy-hosts")
    )  # fmt: skip
    registered = {a.inputs["name"] for a in run.of_type(ALARM)}
    assert set(names) <= registered


def test_dashboard_body_snapshot_and_metrics() -> None:
    body = dashboard_body(
        region="us-east-1", alb_arn_suffix="app/web-prod-alb/0123456789abcdef",
        blue_target_group_arn_suffix="targetgroup/web-prod-blue/1111111111111111",
        green_target_group_arn_suffix="targetgroup/web-prod-green/2222222222222222",
        cluster_name="web-prod", service_name="web-prod",
    )  # fmt: skip
    assert_snapshot("dashboard_prod", body)
    metrics = [m for w in body["widgets"] for m in w["properties"]["metrics"]]
    names = {m[1] for m in metrics}
    assert {"RequestCount", "HTTPCode_Target_5XX_Count", "TargetResponseTime", "HealthyHostCount",
            "CPUUtilization", "MemoryUtilization", "RunningTaskCount"} <= names  # fmt: skip
    stats = {m[-1]["stat"] for m in metrics if m[1] == "TargetResponseTime"}
    assert stats == {"p50", "p95", "p99"}
    healthy_tgs = {m[3] for m in metrics if m[1] == "HealthyHostCount"}
    assert healthy_tgs == {"targetgroup/web-prod-blue/1111111111111111",
                           "targetgroup/web-prod-green/2222222222222222"}  # fmt: skip


def test_dashboard_in_the_program_is_valid_json_with_real_suffixes() -> None:
    run = program_run("prod")
    dash = run.one("aws:cloudwatch/dashboard:Dashboard")
    body = json.loads(dash.inputs["dashboardBody"])
    text = json.dumps(body)
    assert run.outputs["alb_arn_suffix"] in text
    assert run.outputs["green_target_group_arn_suffix"] in text
    assert run.outputs[keys.DASHBOARD_URL] == dashboard_url("us-east-1", "web-prod")
    assert "#dashboards:name=web-prod" in run.outputs[keys.DASHBOARD_URL]


def test_xray_sampling_rule_rate() -> None:
    for stack in ("dev", "prod"):
        run = program_run(stack)
        rule = run.one("aws:xray/samplingRule:SamplingRule")
        assert float(rule.inputs["fixedRate"]) == run.settings.observability.xray_sampling_rate
        assert rule.inputs["serviceName"] == run.settings.prefix
        assert len(rule.inputs["ruleName"]) <= 32


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_audit_table(stack: str) -> None:
    run = program_run(stack)
    table = run.one("aws:dynamodb/table:Table")
    i = table.inputs
    assert i["billingMode"] == "PAY_PER_REQUEST"
    assert i["pointInTimeRecovery"]["enabled"] is True
    assert i["serverSideEncryption"]["enabled"] is True
    assert (i["hashKey"], i["rangeKey"]) == (keys.AUDIT_HASH_KEY, keys.AUDIT_RANGE_KEY)
    (gsi,) = i["globalSecondaryIndexes"]
    assert gsi["name"] == keys.AUDIT_RELEASE_INDEX
    assert gsi["keySchemas"] == [{"attributeName": keys.AUDIT_RELEASE_ID, "keyType": "HASH"}]
    assert i["deletionProtectionEnabled"] is (stack == "prod")
    assert run.outputs[keys.AUDIT_TABLE_NAME] == i["name"]


def test_bootstrap_has_no_ecs_alarms() -> None:
    config = read_stack_config("dev")
    del config["deplight:image_tag"]
    run = run_program("dev", config)
    names = {a.name for a in run.of_type(ALARM)}
    assert "web-dev-cpu-high" not in names and "web-dev-5xx-rate" in names
