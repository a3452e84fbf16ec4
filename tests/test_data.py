"""The data tier under mocks: what each tier creates and what it does not, encryption, subnets,
security groups, the cache token as a Pulumi secret, the task definition's environment and
``secrets``, the execution role's reach, alarms, dashboard widgets and the deploy role's share."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from components.auth_token import TOKEN_ALPHABET, AuthToken, TokenProvider, new_token
from components.data import (
    alarm_specs,
    cache_node_ids,
    dashboard_widgets,
    db_instance_ids,
    deploy_statements,
    secret_arn_of,
    task_environment,
    task_secrets,
)
from components.settings import DataSettings, SettingsError, parse_settings
from deplight.harness import ProgramRun, read_stack_config, run_program
from deplight.mocks import RealisticMocks
from deplight.plan import render_json, render_text
from tests.conftest import program_run
from tests.test_iam_permissions import deploy_policies

CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
DB_SUBNETS = "aws:rds/subnetGroup:SubnetGroup"
GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_SUBNETS = "aws:elasticache/subnetGroup:SubnetGroup"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SUBNET = "aws:ec2/subnet:Subnet"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TASKDEF = "aws:ecs/taskDefinition:TaskDefinition"
KEY = "arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
BOTH = {"postgres": {"enabled": True}, "cache": {"enabled": True}}

GH = {"github": {"repository": "example-org/example-service", "oidc_provider": "create"}}
"""Keys every stack file must set (no defaults)."""


def with_data(stack: str, data: dict[str, Any], **sections: dict[str, Any]) -> ProgramRun:
    config = read_stack_config(stack)
    config["deplight:data"] = data
    for section, values in sections.items():
        config[f"deplight:{section}"] = {**(config.get(f"deplight:{section}") or {}), **values}
    return run_program(stack, config)


def container(run: ProgramRun) -> dict[str, Any]:
    return json.loads(run.one(TASKDEF).inputs["containerDefinitions"])[0]


def private_subnets(run: ProgramRun) -> dict[str, str]:
    """Private subnet id -> AZ."""
    return {s.id: s.inputs["availabilityZone"] for s in run.of_type(SUBNET)
            if s.inputs["tags"]["deplight:tier"] == "private"}  # fmt: skip


def store_ingress(run: ProgramRun, store: str) -> tuple[Any, list[Any], list[Any]]:
    group = run.one(SG, f"{run.settings.prefix}-{store}-sg")
    rules = [r for r in run.of_type(INGRESS) if r.inputs["securityGroupId"] == group.id]
    egress = [r for r in run.of_type(EGRESS) if r.inputs["securityGroupId"] == group.id]
    return group, rules, egress


# --- production (the committed prod stack has both stores on) -----------------------------------
def test_prod_database_is_encrypted_private_and_protected() -> None:
    run = program_run("prod")
    db = run.one(CLUSTER)
    i = db.inputs
    assert i["engine"] == "aurora-postgresql" and i["engineMode"] == "provisioned"
    assert i["storageEncrypted"] is True and i["iamDatabaseAuthenticationEnabled"] is True
    assert i["manageMasterUserPassword"] is True and "masterPassword" not in i
    assert i["deletionProtection"] is True and i["backupRetentionPeriod"] >= 14
    assert i["skipFinalSnapshot"] is False and i["finalSnapshotIdentifier"] == "web-prod-db-final"
    assert i["enabledCloudwatchLogsExports"] == ["postgresql"]
    assert i["serverlessv2ScalingConfiguration"] == {"minCapacity": 0.5, "maxCapacity": 16}
    subnets = run.one(DB_SUBNETS)
    assert i["dbSubnetGroupName"] == subnets.inputs["name"]
    assert set(subnets.inputs["subnetIds"]) == set(private_subnets(run))
    assert subnets.inputs["subnetIds"] == run.outputs["private_subnet_ids"]
    assert run.outputs["db_cluster_identifier"] == "web-prod-db" == db.id


def test_prod_has_a_writer_and_a_reader_in_different_private_azs() -> None:
    run = program_run("prod")
    writer, reader = sorted(run.of_type(INSTANCE), key=lambda r: r.inputs["identifier"])
    azs = set(private_subnets(run).values())
    assert writer.inputs["availabilityZone"] != reader.inputs["availabilityZone"]
    assert {writer.inputs["availabilityZone"], reader.inputs["availabilityZone"]} <= azs
    assert writer.urn in reader.depends_on, "the reader waits for the writer (first = writer)"
    for inst in (writer, reader):
        assert inst.inputs["instanceClass"] == "db.serverless"
        assert inst.inputs["publiclyAccessible"] is False
        assert inst.inputs["performanceInsightsEnabled"] is True
        assert inst.inputs["clusterIdentifier"] == run.one(CLUSTER).id


def test_prod_cache_fails_over_across_azs_encrypted_with_auth() -> None:
    run = program_run("prod")
    group = run.one(GROUP).inputs
    assert group["engine"] == "valkey" and group["numCacheClusters"] == 2
    assert group["automaticFailoverEnabled"] is True and group["multiAzEnabled"] is True
    assert len(set(group["preferredCacheClusterAzs"])) == 2
    assert set(group["preferredCacheClusterAzs"]) <= set(private_subnets(run).values())
    assert group["atRestEncryptionEnabled"] is True and group["transitEncryptionEnabled"] is True
    subnets = run.one(CACHE_SUBNETS)
    assert group["subnetGroupName"] == subnets.inputs["name"]
    assert set(subnets.inputs["subnetIds"]) == set(private_subnets(run))
    # the AUTH token is a Pulumi secret wherever it goes, and the same value in both places
    token = run.one("pulumi-python:dynamic/data:AuthToken")
    version = run.one(SECRET_VERSION).inputs
    assert is_rpc_secret(group["authToken"]) and is_rpc_secret(version["secretString"])
    assert unwrap_rpc_secret(group["authToken"]) == unwrap_rpc_secret(version["secretString"])
    assert unwrap_rpc_secret(group["authToken"]) == token.outputs["result"]
    secret = run.one(SECRET)
    assert version["secretId"] == secret.id
    assert secret.inputs["namePrefix"].startswith("web-prod/")


@pytest.mark.parametrize(("store", "port"), [("db", 5432), ("cache", 6379)])
def test_stores_admit_only_the_tasks_group_on_their_port(store: str, port: int) -> None:
    run = program_run("prod")
    group, rules, egress = store_ingress(run, store)
    task_sg = run.one(SG, "web-prod-task-sg")
    assert [(r.inputs["fromPort"], r.inputs["toPort"], r.inputs["ipProtocol"]) for r in rules] == [
        (port, port, "tcp")
    ]
    assert rules[0].inputs["referencedSecurityGroupId"] == task_sg.id
    assert not any(k in rules[0].inputs for k in ("cidrIpv4", "cidrIpv6", "prefixListId"))
    assert egress == [] and not group.inputs.get("ingress")
    attached = (run.one(CLUSTER).inputs["vpcSecurityGroupIds"] if store == "db"
                else run.one(GROUP).inputs["securityGroupIds"])  # fmt: skip
    assert attached == [group.id]


def test_task_gets_endpoints_as_environment_and_credentials_as_secrets() -> None:
    run = program_run("prod")
    app = container(run)
    env = {e["name"]: e["value"] for e in app["environment"]}
    secrets = {s["name"]: s["valueFrom"] for s in app["secrets"]}
    db, group = run.one(CLUSTER).outputs, run.one(GROUP).outputs
    master = db["masterUserSecrets"][0]["secretArn"]
    assert master.startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-")
    assert env["DATABASE_HOST"] == db["endpoint"]
    assert env["DATABASE_READER_HOST"] == db["readerEndpoint"]
    assert (env["DATABASE_PORT"], env["DATABASE_NAME"]) == ("5432", "app")
    assert env["CACHE_HOST"] == group["primaryEndpointAddress"]
    assert (env["CACHE_PORT"], env["CACHE_TLS"]) == ("6379", "true")
    cache_secret = run.one(SECRET).outputs["arn"]
    assert secrets == {
        "DATABASE_USER": f"{master}:username::",
        "DATABASE_PASSWORD": f"{master}:password::",
        "CACHE_AUTH_TOKEN": cache_secret,
    }
    token = run.one("pulumi-python:dynamic/data:AuthToken").outputs["result"]
    assert token not in json.dumps(app), "no credential value in the container definition"
    assert not any("PASSWORD" in k or "TOKEN" in k for k in env)
    # the execution role may read exactly those two secrets (by ARN, not by JSON key)
    policy = json.loads(run.one("aws:iam/rolePolicy:RolePolicy", "web-prod-execution-policy")
                        .inputs["policy"])  # fmt: skip
    reads = next(s for s in policy["Statement"] if s["Sid"] == "ReadSecrets")
    assert reads["Resource"] == sorted([master, cache_secret])
    assert (
        run.outputs["db_secret_arn"] == master and run.outputs["cache_secret_arn"] == cache_secret
    )


def test_prod_data_alarms_go_to_the_alert_topic() -> None:
    run = program_run("prod")
    owner = run.one("deplight:data:Alarms").urn
    alarms = {a.inputs["name"]: a.inputs for a in run.of_type(ALARM) if a.parent == owner}
    assert set(alarms) == {f"web-prod-{s}" for s in (
        "db-cpu-high", "db-connections-high", "db-freeable-memory-low", "db-replica-lag-high",
        "cache-cpu-high", "cache-memory-high", "cache-evictions-high")}  # fmt: skip
    topic = run.outputs["alert_topic_arn"]
    for name, a in alarms.items():
        assert a["alarmActions"] == [topic] and a["okActions"] == [topic], name
        assert a["treatMissingData"] == "notBreaching", name
    assert alarms["web-prod-db-cpu-high"]["dimensions"] == {"DBClusterIdentifier": "web-prod-db"}
    assert alarms["web-prod-db-freeable-memory-low"]["threshold"] == 256 * 1024 * 1024
    lag = alarms["web-prod-db-replica-lag-high"]["metricQueries"]
    assert {q["metric"]["dimensions"]["DBInstanceIdentifier"] for q in lag if q.get("metric")} == {
        "web-prod-db-1", "web-prod-db-2"}  # fmt: skip
    evictions = alarms["web-prod-cache-evictions-high"]["metricQueries"]
    nodes = {q["metric"]["dimensions"]["CacheClusterId"] for q in evictions if q.get("metric")}
    assert nodes == set(run.one(GROUP).outputs["memberClusters"])
    assert evictions[-1]["expression"] == "SUM([m0, m1])"


def test_dashboard_carries_the_data_widgets() -> None:
    run = program_run("prod")
    body = json.loads(run.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert {"Database CPU (%) and capacity (ACU)", "Aurora replica lag (ms)",
            "Cache engine CPU and memory (%)", "Cache evictions and connections"} <= set(titles)  # fmt: skip
    assert titles[0] == "Requests", "the service's rows stay first"


def data_statements(run: ProgramRun) -> dict[str, dict[str, Any]]:
    """The deploy role's Data* statements, wherever :class:`components.iam.Grants` placed them
    (the split managed policies ``<prefix>-github-deploy-N``)."""
    found = [st for doc in deploy_policies(run) for st in doc["Statement"]
             if st.get("Sid", "").startswith("Data")]  # fmt: skip
    by_sid = {st["Sid"]: st for st in found}
    assert len(by_sid) == len(found), "a Data statement is attached twice"
    return by_sid


def test_deploy_role_gets_the_data_statements_scoped_to_the_stack() -> None:
    run = program_run("prod")
    role = run.one("aws:iam/role:Role", "web-prod-github-deploy")
    inline = [s for p in role.inputs.get("inlinePolicies") or []
              for s in json.loads(p["policy"])["Statement"]]  # fmt: skip
    assert not [s for s in inline if s.get("Sid", "").startswith("Data")]
    data = data_statements(run)
    # They reach the role through the split managed policies, attached to it.
    holders = [p for p in run.of_type("aws:iam/policy:Policy")
               if any(st.get("Sid", "").startswith("Data")
                      for st in json.loads(p.inputs["policy"])["Statement"])]  # fmt: skip
    assert holders and all(p.inputs["name"].startswith("web-prod-github-deploy-") for p in holders)
    attached = {
        a.inputs["policyArn"]
        for a in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == role.inputs["name"]
    }
    assert {p.outputs["arn"] for p in holders} <= attached
    assert set(data) == {"DataCatalogues", "DataThisDatabase", "DataDefaultDatabaseGroups",
                         "DataRdsCreatesTheMasterSecret", "DataRdsManagedMasterSecret",
                         "DataThisCache", "DataDefaultCacheParameterGroups",
                         "DataThisStacksSecrets", "DataMigrationTask"}  # fmt: skip
    for sid, s in data.items():
        resources = [s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]
        if sid == "DataCatalogues":
            assert resources == ["*"] and all("Describe" in a for a in s["Action"])
            continue
        for r in resources:
            assert ":web-prod" in r or "/web-prod" in r or ":default." in r or ":default:" in r \
                or "rds!cluster-" in r, (sid, r)  # fmt: skip
            assert "web-prod*" not in r, (sid, r)  # <prefix>* would match web-prod2's too
        if any("rds!cluster-" in r for r in resources):
            # RDS names the master secret itself: only this stack's cluster's, by its tag.
            (wanted,) = s["Condition"]["StringEquals"].values()
            assert wanted == "arn:aws:rds:us-east-1:123456789012:cluster:web-prod-db", sid
        if any(":default" in r for r in resources):
            assert all("Create" in a or "Modify" in a for a in s["Action"]), sid
    assert "ecs:RunTask" in data["DataMigrationTask"]["Action"]
    assert "rds:CreateDBClusterSnapshot" in data["DataThisDatabase"]["Action"]
    assert not any("Delete" in a and "Snapshot" in a for s in data.values() for a in s["Action"])
    assert not any(a.startswith("iam:") for s in data.values() for a in s["Action"])


# --- development and off ------------------------------------------------------------------------
def test_dev_tier_has_one_small_pausing_instance_and_one_cache_node() -> None:
    run = with_data("dev", BOTH)
    db = run.one(CLUSTER).inputs
    assert db["deletionProtection"] is False and db["skipFinalSnapshot"] is True
    assert "finalSnapshotIdentifier" not in db
    assert db["serverlessv2ScalingConfiguration"] == {
        "minCapacity": 0, "maxCapacity": 2, "secondsUntilAutoPause": 300}  # fmt: skip
    assert db["storageEncrypted"] is True and db["iamDatabaseAuthenticationEnabled"] is True
    [instance] = run.of_type(INSTANCE)
    assert instance.inputs["publiclyAccessible"] is False
    group = run.one(GROUP).inputs
    assert group["numCacheClusters"] == 1 and group["automaticFailoverEnabled"] is False
    assert group["multiAzEnabled"] is False
    assert group["atRestEncryptionEnabled"] is True and group["transitEncryptionEnabled"] is True
    alarms = {a.inputs["name"] for a in run.of_type(ALARM)}
    assert "web-dev-db-cpu-high" in alarms and "web-dev-db-replica-lag-high" not in alarms


def test_committed_dev_stack_has_no_data_tier() -> None:
    run = program_run("dev")
    for type_ in (CLUSTER, INSTANCE, DB_SUBNETS, GROUP, CACHE_SUBNETS, SECRET, SECRET_VERSION):
        assert not run.of_type(type_), type_
    assert not [r for r in run.resources if r.type.startswith("deplight:data:")]
    app = container(run)
    assert not any(e["name"].startswith(("DATABASE_", "CACHE_")) for e in app["environment"])
    assert app["secrets"] == []
    assert "db_cluster_identifier" not in run.outputs
    assert not [st for doc in deploy_policies(run) for st in doc["Statement"]
                if st["Sid"].startswith("Data")]  # fmt: skip


def test_only_the_cache_creates_no_database_and_no_database_variables() -> None:
    run = with_data("dev", {"cache": {"enabled": True}})
    assert not run.of_type(CLUSTER) and not run.of_type(DB_SUBNETS) and run.of_type(GROUP)
    names = {e["name"] for e in container(run)["environment"]}
    assert "CACHE_HOST" in names and not any(n.startswith("DATABASE_") for n in names)
    assert [s["name"] for s in container(run)["secrets"]] == ["CACHE_AUTH_TOKEN"]
    assert "db_cluster_identifier" not in run.outputs and "cache_endpoint" in run.outputs


def test_customer_key_encrypts_every_store_and_the_execution_role_may_decrypt() -> None:
    run = with_data("prod", {**BOTH, "kms_key_arn": KEY})
    db = run.one(CLUSTER).inputs
    assert db["kmsKeyId"] == KEY and db["masterUserSecretKmsKeyId"] == KEY
    assert all(i.inputs["performanceInsightsKmsKeyId"] == KEY for i in run.of_type(INSTANCE))
    assert run.one(GROUP).inputs["kmsKeyId"] == KEY and run.one(SECRET).inputs["kmsKeyId"] == KEY
    policy = json.loads(run.one("aws:iam/rolePolicy:RolePolicy", "web-prod-execution-policy")
                        .inputs["policy"])  # fmt: skip
    decrypt = next(s for s in policy["Statement"] if s["Sid"] == "DecryptSecrets")
    assert decrypt["Resource"] == KEY and decrypt["Action"] == "kms:Decrypt"
    key = data_statements(run)["DataCustomerKey"]
    assert key["Resource"] == KEY
    assert key["Condition"]["StringEquals"]["kms:ViaService"] == [
        f"{s}.us-east-1.amazonaws.com" for s in ("rds", "elasticache", "secretsmanager")
    ]


def test_deploy_data_policy_fits_the_managed_policy_limit() -> None:
    data = parse_settings("x", {**GH, "data": {**BOTH, "kms_key_arn": KEY}}).data
    doc = {"Version": "2012-10-17", "Statement": deploy_statements(
        prefix="a-twenty-char-name-x-staging", region="ap-southeast-2", account="123456789012",
        data=data, migrations=True)}  # fmt: skip
    assert len(json.dumps(doc, separators=(",", ":"))) < 6_144


def test_plan_never_shows_the_token() -> None:
    run = program_run("prod")
    token = run.one("pulumi-python:dynamic/data:AuthToken").outputs["result"]
    assert token not in render_text(run) and token not in render_json(run)
    assert "aws:rds/cluster:Cluster  web-prod-db" in render_text(run)


# --- settings -----------------------------------------------------------------------------------
def test_tier_defaults_and_overrides() -> None:
    prod = parse_settings("prod", {**GH, "data": BOTH}).data
    dev = parse_settings("dev", {**GH, "tier": "development", "data": BOTH}).data
    assert (prod.postgres.instances, prod.postgres.backup_retention_days) == (2, 14)
    assert prod.postgres.deletion_protection and prod.postgres.final_snapshot
    assert prod.cache.nodes == 2
    assert (dev.postgres.instances, dev.postgres.min_capacity, dev.cache.nodes) == (1, 0.0, 1)
    assert not dev.postgres.deletion_protection and not dev.postgres.final_snapshot
    assert not parse_settings("prod", GH).data.enabled
    assert parse_settings("prod", {**GH, "data": {"postgres": {"enabled": True,
                                                         "instances": 3}}}).data.postgres.instances == 3  # fmt: skip


def test_every_data_problem_is_reported_with_key_expected_and_found() -> None:
    raw = {
        "tier": "development",
        "network": {"az_count": 1},
        "service": {"environment": {"DATABASE_HOST": "elsewhere"}},
        "deploy": {"migrate_command": "python manage.py migrate"},
        "data": {
            "kms_key_arn": "alias/mine",
            "postgres": {"enabled": True, "min_capacity": 0.3, "max_capacity": 300,
                         "master_username": "rdsadmin", "log_exports": ["audit"],
                         "performance_insights_retention_days": 8, "bogus": 1},
            "cache": {"enabled": "yes", "engine": "memcached", "nodes": 9},
        },
    }  # fmt: skip
    with pytest.raises(SettingsError) as info:
        parse_settings("dev", {**GH, **raw})
    errors = info.value.errors
    expected = [
        "deplight:deploy.migrate_command: expected a non-empty list",
        "deplight:data.kms_key_arn: expected a KMS key ARN",
        "deplight:data.postgres.bogus: unknown key",
        "deplight:data.postgres.min_capacity: expected a capacity in steps of 0.5 ACU, found 0.3",
        "deplight:data.postgres.max_capacity: expected a number in 1.0-256.0, found 300",
        "deplight:data.postgres.master_username: expected a name RDS and PostgreSQL do not",
        "deplight:data.postgres.log_exports: expected log types",
        "deplight:data.postgres.performance_insights_retention_days: expected",
        "deplight:data.cache.enabled: expected true or false, found 'yes'",
        "deplight:data.cache.engine: expected one of valkey, redis, found 'memcached'",
        "deplight:data.cache.nodes: expected an integer in 1-6, found 9",
        "deplight:network.az_count: expected at least 2",
        "deplight:service.environment: expected no variable the data tier sets",
    ]
    for prefix in expected:
        assert any(e.startswith(prefix) for e in errors), (prefix, errors)
    assert len(errors) == len(expected), errors


def test_scaling_to_zero_needs_a_version_that_can_pause() -> None:
    with pytest.raises(SettingsError, match=r"min_capacity: expected at least 0.5 with "
                                            r"engine_version 16.1 \(scaling to 0 ACUs needs 16.3"):  # fmt: skip
        parse_settings("dev", {**GH, "tier": "development",
                               "data": {"postgres": {"enabled": True, "engine_version": "16.1"}}})  # fmt: skip
    with pytest.raises(SettingsError, match="min_capacity: expected at most max_capacity"):
        parse_settings("prod", {**GH, "data": {"postgres": {"min_capacity": 8, "max_capacity": 2}}})


def test_bad_data_settings_register_nothing() -> None:
    config = read_stack_config("prod")
    config["deplight:data"] = {"postgres": {"enabled": True, "instances": 0}}
    with pytest.raises(
        SettingsError, match=r"data.postgres.instances: expected an integer in 1-16"
    ):
        run_program("prod", config)


# --- pure helpers -------------------------------------------------------------------------------
def test_pure_helpers() -> None:
    assert db_instance_ids("web-prod", 2) == ["web-prod-db-1", "web-prod-db-2"]
    assert cache_node_ids("web-prod", 2) == ["web-prod-cache-001", "web-prod-cache-002"]
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-1-AbCdEf"
    assert secret_arn_of(f"{arn}:password::") == arn and secret_arn_of(arn) == arn
    assert task_environment(db_endpoint=None, db_reader_endpoint=None, database_name=None,
                            cache_endpoint=None, cache_reader_endpoint=None) == {}  # fmt: skip
    assert task_secrets(db_secret_arn=None, cache_secret_arn=None) == {}
    off = DataSettings()
    assert alarm_specs("web-dev", off) == [] and dashboard_widgets(region="x", prefix="p",
                                                                   data=off) == []  # fmt: skip
    none = deploy_statements(prefix="p", region="r", account="1", data=off, migrations=False)
    assert none == []
    only_migrations = deploy_statements(prefix="p", region="r", account="1", data=off,
                                        migrations=True)  # fmt: skip
    assert [s["Sid"] for s in only_migrations] == ["DataMigrationTask"]


def test_token_generation_and_replacement() -> None:
    tokens = {new_token(64) for _ in range(20)}
    assert len(tokens) == 20 and all(len(t) == 64 and set(t) <= set(TOKEN_ALPHABET) for t in tokens)
    with pytest.raises(ValueError, match="16-128"):
        new_token(8)
    provider = TokenProvider()
    created = provider.create({"length": 40, "rotation": 0})
    assert len(created.outs["result"]) == 40
    same = provider.diff("x", {"length": 40, "rotation": 0, "result": "t"},
                         {"length": 40, "rotation": 0})  # fmt: skip
    assert same.changes is False and not same.replaces
    rotated = provider.diff("x", {"length": 40, "rotation": 0}, {"length": 40, "rotation": 1})
    assert rotated.changes is True and rotated.replaces == ["rotation"]


def test_auth_token_result_is_registered_as_a_secret_output() -> None:
    token = program_run("prod").one("pulumi-python:dynamic/data:AuthToken")
    assert token.additional_secret_outputs == ("result",), token.urn
    assert token.inputs["length"] == 64


@pulumi.runtime.test
def test_auth_token_is_registered_with_its_provider(pulumi_mocks: RealisticMocks) -> Any:
    token = AuthToken("web-test-cache-auth-token", length=32)

    def check(args: list[Any]) -> None:
        urn, result = args
        assert "pulumi-python:dynamic/data:AuthToken" in urn
        assert result.startswith("mock-token-"), (urn, result)

    return pulumi.Output.all(token.urn, token.result).apply(check)
