"""The data-tier rules: each on passing and failing resources, the whole pack over seeded bad
variants of the prod program, and ``deplight check`` over a program with a rogue database."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from deplight.check import evaluate_grpc, evaluate_in_process, load_policy_config
from deplight.harness import ProgramRun, Registered
from policies.rules import data
from policies.rules.stack import Res
from tests.conftest import check_changed_program, program_run
from tests.test_policies_pack import seeded
from tests.test_policies_rules import bad, ok

CLUSTER, INSTANCE, GROUP = data.RDS_CLUSTER, data.RDS_CLUSTER_INSTANCE, data.REPLICATION_GROUP
GOOD_DB = {"storageEncrypted": True, "deletionProtection": True, "backupRetentionPeriod": 14.0,
           "iamDatabaseAuthenticationEnabled": True, "publiclyAccessible": False}  # fmt: skip
GOOD_CACHE = {"atRestEncryptionEnabled": True, "transitEncryptionEnabled": True,
              "authToken": "t" * 32, "automaticFailoverEnabled": True, "multiAzEnabled": True}  # fmt: skip


def test_database_rules() -> None:
    for check in (data.check_storage_encrypted, data.check_not_public,
                  data.check_deletion_protection, data.check_backup_retention,
                  data.check_iam_auth):  # fmt: skip
        ok(check, CLUSTER, GOOD_DB)
    bad(data.check_storage_encrypted, CLUSTER, {**GOOD_DB, "storageEncrypted": False},
        "not encrypted")  # fmt: skip
    bad(data.check_storage_encrypted, data.RDS_INSTANCE, {}, "not encrypted")
    bad(data.check_not_public, INSTANCE, {"publiclyAccessible": True}, "publicly accessible")
    ok(data.check_not_public, INSTANCE, {})
    bad(data.check_deletion_protection, CLUSTER, {}, "can be deleted")
    msg = bad(data.check_backup_retention, CLUSTER, {"backupRetentionPeriod": 7.0},
              "fewer than 14 days")  # fmt: skip
    assert "found 7.0" in msg
    ok(data.check_backup_retention, CLUSTER, {"backupRetentionPeriod": 1.0},
       {"minBackupRetentionDays": 1})  # fmt: skip
    bad(data.check_iam_auth, CLUSTER, {"iamDatabaseAuthenticationEnabled": False}, "IAM")


def test_cache_rules() -> None:
    ok(data.check_cache_encryption, GROUP, GOOD_CACHE)
    ok(data.check_cache_encryption, GROUP, {**GOOD_CACHE, "authToken": None,
                                            "userGroupIds": ["web-prod-users"]})  # fmt: skip
    bad(data.check_cache_encryption, GROUP, {**GOOD_CACHE, "atRestEncryptionEnabled": False},
        "not encrypted at rest")  # fmt: skip
    bad(data.check_cache_encryption, GROUP, {**GOOD_CACHE, "transitEncryptionEnabled": False},
        "not encrypted in transit")  # fmt: skip
    bad(data.check_cache_encryption, GROUP, {**GOOD_CACHE, "authToken": None}, "without AUTH")
    bad(data.check_cache_encryption, data.CACHE_CLUSTER, {"engine": "valkey"}, "standalone")
    ok(data.check_cache_encryption, data.CACHE_CLUSTER, {"replicationGroupId": "web-prod-cache"})
    ok(data.check_cache_failover, GROUP, GOOD_CACHE)
    bad(data.check_cache_failover, GROUP, {**GOOD_CACHE, "multiAzEnabled": False},
        "does not fail over")  # fmt: skip


def test_preview_unknowns_are_not_violations() -> None:
    u = data.UNKNOWN
    ok(data.check_storage_encrypted, CLUSTER, {"storageEncrypted": u})
    ok(data.check_backup_retention, CLUSTER, {"backupRetentionPeriod": u})
    ok(data.check_cache_encryption, GROUP, {**GOOD_CACHE, "transitEncryptionEnabled": u,
                                            "authToken": u})  # fmt: skip


def _reachability(extra: list[Res]) -> list[str]:
    task = Res("aws:ecs/service:Service", "svc",
               {"networkConfiguration": {"securityGroups": ["sg-tasks"]}})  # fmt: skip
    db = Res(CLUSTER, "db", {"vpcSecurityGroupIds": ["sg-db"]})
    group = Res("aws:ec2/securityGroup:SecurityGroup", "db-sg", {"id": "sg-db", "ingress": []})
    from_tasks = Res(data.INGRESS_RULE, "db-in-tasks",
                     {"securityGroupId": "sg-db", "referencedSecurityGroupId": "sg-tasks"})  # fmt: skip
    return [f"{r.name}: {m}" for r, m in data.check_data_reachable_only_from_tasks(
        [task, db, group, from_tasks, *extra], {})]  # fmt: skip


def test_reachability_rule() -> None:
    assert _reachability([]) == []
    found = _reachability([Res(data.INGRESS_RULE, "db-in-office", {
        "securityGroupId": "sg-db", "cidrIpv4": "198.51.100.0/24"})])  # fmt: skip
    assert len(found) == 1 and "db-in-office" in found[0] and "198.51.100.0/24" in found[0]
    found = _reachability([Res(data.SG_RULE, "db-in-alb", {
        "type": "ingress", "securityGroupId": "sg-db", "sourceSecurityGroupId": "sg-alb"})])  # fmt: skip
    assert len(found) == 1 and "another security group" in found[0] and "sg-alb" in found[0]
    found = _reachability([Res(GROUP, "cache", {"securityGroupIds": []})])
    assert len(found) == 1 and "default group" in found[0]
    # an egress rule or a rule on an unrelated group is none of this rule's business
    assert _reachability([Res(data.SG_RULE, "out", {"type": "egress", "securityGroupId": "sg-db",
                                                    "cidrBlocks": ["0.0.0.0/0"]}),
                          Res(data.INGRESS_RULE, "other", {"securityGroupId": "sg-x",
                                                           "cidrIpv4": "0.0.0.0/0"})]) == []  # fmt: skip


def _unencrypted(p: dict[str, Any]) -> dict[str, Any]:
    p["storageEncrypted"] = False
    return p


def _public(p: dict[str, Any]) -> dict[str, Any]:
    p["publiclyAccessible"] = True
    return p


def _plaintext_cache(p: dict[str, Any]) -> dict[str, Any]:
    p["transitEncryptionEnabled"] = False
    return p


@pytest.mark.parametrize(
    ("type_", "change", "policy"),
    [
        (CLUSTER, _unencrypted, "rds-storage-encrypted"),
        (INSTANCE, _public, "rds-not-publicly-accessible"),
        (GROUP, _plaintext_cache, "cache-encryption"),
    ],
)
def test_seeded_bad_prod_data_variants_fail(type_: str, change: Any, policy: str) -> None:
    run = seeded(program_run("prod"), type_, change)
    found = [v for v in evaluate_grpc(run, load_policy_config("prod")[0]) if v.level == "mandatory"]
    assert [v.policy for v in found] == [policy], found
    assert found[0].type == type_ and found[0].resource.startswith("web-prod")


def _with_rule(run: ProgramRun, name: str, props: dict[str, Any]) -> ProgramRun:
    rule = Registered(urn=f"urn:pulumi:prod::deplight::{data.INGRESS_RULE}::{name}",
                      type=data.INGRESS_RULE, name=name, custom=True, parent="", inputs=props,
                      outputs=props, id="sgr-1")  # fmt: skip
    return dataclasses.replace(run, resources=[*run.resources, rule])


def test_database_open_to_the_internet_or_the_alb_fails_the_pack() -> None:
    run = program_run("prod")
    db_sg = run.one("aws:ec2/securityGroup:SecurityGroup", "web-prod-db-sg")
    alb_sg = run.one("aws:ec2/securityGroup:SecurityGroup", "web-prod-alb-sg")
    config = load_policy_config("prod")[0]
    port = {"ipProtocol": "tcp", "fromPort": 5432.0, "toPort": 5432.0, "securityGroupId": db_sg.id}
    internet = _with_rule(run, "web-prod-db-open", {**port, "cidrIpv4": "0.0.0.0/0"})
    found = [v for v in evaluate_in_process(internet, config) if v.level == "mandatory"]
    assert {v.policy for v in found} == {"security-group-internet-ingress", "internet-only-on-alb",
                                         "data-reachable-only-from-tasks"}  # fmt: skip
    alb = _with_rule(run, "web-prod-db-from-alb", {**port, "referencedSecurityGroupId": alb_sg.id})
    found = [v for v in evaluate_grpc(alb, config) if v.level == "mandatory"]
    assert [v.policy for v in found] == ["data-reachable-only-from-tasks"], found
    assert "web-prod-db-from-alb" in found[0].message and "web-prod-db" in found[0].message


def test_dev_relaxes_only_protection_backups_and_failover() -> None:
    run = seeded(program_run("staging"), CLUSTER, lambda p: {**p, "backupRetentionPeriod": 1})
    staging = {v.policy: v.level for v in evaluate_in_process(run, load_policy_config("staging")[0])
               if v.policy.startswith("rds-")}  # fmt: skip
    assert staging == {"rds-backup-retention": "mandatory", "rds-deletion-protection": "advisory"}
    dev = {v.policy: v.level for v in evaluate_in_process(run, load_policy_config("dev")[0])
           if v.policy.startswith("rds-")}  # fmt: skip
    assert dev == {"rds-deletion-protection": "advisory"}, "1 day passes dev's minimum"


def test_check_cli_fails_a_public_unencrypted_database(tmp_path: Path) -> None:
    result = check_changed_program(tmp_path, (
        "rogue = aws.rds.Cluster('web-prod-rogue-db', engine='aurora-postgresql', "
        "storage_encrypted=False, deletion_protection=True, backup_retention_period=14, "
        "iam_database_authentication_enabled=True, manage_master_user_password=True, "
        "master_username='app_admin', vpc_security_group_ids=[data.db_security_group_id], "
        "opts=pulumi.ResourceOptions(parent=data))\n"
        "aws.rds.ClusterInstance('web-prod-rogue-db-1', cluster_identifier=rogue.id, "
        "instance_class='db.serverless', engine='aurora-postgresql', publicly_accessible=True, "
        "opts=pulumi.ResourceOptions(parent=data))\n"
    ), "data")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "web-prod-rogue-db (aws:rds/cluster:Cluster)" in result.stdout
    assert "[mandatory] rds-storage-encrypted" in result.stdout
    assert "web-prod-rogue-db-1 (aws:rds/clusterInstance:ClusterInstance)" in result.stdout
    assert "[mandatory] rds-not-publicly-accessible" in result.stdout
    assert "FAILED: 2 mandatory" in result.stdout.splitlines()[-1]
