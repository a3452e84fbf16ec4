"""The data tier: databases encrypted, private, protected, backed up and IAM-authenticated; caches
encrypted at rest and in transit with AUTH and (in production) automatic failover; both reachable
only from the service's tasks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .common import as_list, resource_policy, violation
from .security_groups import INGRESS_RULE, SG, SG_RULE
from .stack import SERVICE, Res, id_of, stack_policy

RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
RDS_INSTANCE = "aws:rds/instance:Instance"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
CACHE_CLUSTER = "aws:elasticache/cluster:Cluster"
DATABASES = (RDS_CLUSTER, RDS_INSTANCE)
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The engine's marker for a value not known until the resource exists (preview)."""


def _is_false(value: Any) -> bool:
    return value is not True and value != UNKNOWN


def check_storage_encrypted(_t: str, props: Mapping[str, Any],
                            _cfg: Mapping[str, Any]) -> list[str]:  # fmt: skip
    if _is_false(props.get("storageEncrypted")):
        return [violation(props.get("storageEncrypted"), "database storage is not encrypted",
                          "set storageEncrypted: true (and kmsKeyId for a customer key)")]  # fmt: skip
    return []


def check_not_public(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if props.get("publiclyAccessible") is True:
        return [violation(True, "the database is publicly accessible",
                          "set publiclyAccessible: false and keep it in private subnets")]  # fmt: skip
    return []


def check_deletion_protection(_t: str, props: Mapping[str, Any],
                              _cfg: Mapping[str, Any]) -> list[str]:  # fmt: skip
    if _is_false(props.get("deletionProtection")):
        return [violation(props.get("deletionProtection"), "the database can be deleted",
                          "set deletionProtection: true (data.postgres.deletion_protection)")]  # fmt: skip
    return []


def check_backup_retention(_t: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    minimum = int(cfg.get("minBackupRetentionDays", 14))
    days = props.get("backupRetentionPeriod")
    if days == UNKNOWN:
        return []
    if not isinstance(days, int | float) or int(days) < minimum:
        return [violation(days, f"automated backups are kept fewer than {minimum} days",
                          f"set backupRetentionPeriod to at least {minimum} "
                          "(data.postgres.backup_retention_days)")]  # fmt: skip
    return []


def check_iam_auth(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    if _is_false(props.get("iamDatabaseAuthenticationEnabled")):
        return [violation(props.get("iamDatabaseAuthenticationEnabled"),
                          "IAM database authentication is off",
                          "set iamDatabaseAuthenticationEnabled: true")]  # fmt: skip
    return []


def check_cache_encryption(type_: str, props: Mapping[str, Any],
                           _cfg: Mapping[str, Any]) -> list[str]:  # fmt: skip
    if type_ == CACHE_CLUSTER:
        if props.get("replicationGroupId") or props.get("engine") == "memcached":
            return []  # a member of a replication group is checked there; memcached has no AUTH
        return [violation(props.get("engine"), "a standalone cache node has no AUTH token and no "
                          "encryption at rest", "use a replication group (ReplicationGroup)")]  # fmt: skip
    out = []
    for key, what in (("atRestEncryptionEnabled", "at rest"),
                      ("transitEncryptionEnabled", "in transit")):  # fmt: skip
        if _is_false(props.get(key)):
            out.append(violation(props.get(key), f"the cache is not encrypted {what}",
                                 f"set {key}: true"))  # fmt: skip
    if not props.get("authToken") and not as_list(props.get("userGroupIds")):
        out.append(violation(None, "the cache accepts clients without AUTH",
                             "set authToken (a secret) or userGroupIds (RBAC)"))  # fmt: skip
    return out


def check_cache_failover(_t: str, props: Mapping[str, Any], _cfg: Mapping[str, Any]) -> list[str]:
    found = {k: props.get(k) for k in ("automaticFailoverEnabled", "multiAzEnabled")}
    if any(_is_false(v) for v in found.values()):
        return [violation(found, "the cache does not fail over to another AZ",
                          "run at least 2 nodes (data.cache.nodes) with automaticFailoverEnabled "
                          "and multiAzEnabled true")]  # fmt: skip
    return []


def _store_groups(res: Res) -> list[str]:
    key = "securityGroupIds" if res.type in (REPLICATION_GROUP, CACHE_CLUSTER) else \
        "vpcSecurityGroupIds"  # fmt: skip
    return [str(g) for g in as_list(res.props.get(key))]


def _ingress_sources(res: Res) -> list[tuple[str, Any]]:
    """(kind, value) of every source an ingress rule admits: ``group`` ids, or anything else."""
    p = res.props
    if res.type == INGRESS_RULE:
        if p.get("referencedSecurityGroupId"):
            return [("group", str(p["referencedSecurityGroupId"]))]
        return [("other", p.get("cidrIpv4") or p.get("cidrIpv6") or p.get("prefixListId"))]
    if res.type == SG_RULE:
        if p.get("type") != "ingress":
            return []
        if p.get("sourceSecurityGroupId"):
            return [("group", str(p["sourceSecurityGroupId"]))]
        if p.get("self"):
            return [("other", "self")]
        return [("other", as_list(p.get("cidrBlocks")) + as_list(p.get("ipv6CidrBlocks"))
                 + as_list(p.get("prefixListIds")))]  # fmt: skip
    out: list[tuple[str, Any]] = []
    for rule in as_list(p.get("ingress")):  # inline rules of a SecurityGroup
        out += [("group", str(g)) for g in as_list(rule.get("securityGroups"))]
        others = (as_list(rule.get("cidrBlocks")) + as_list(rule.get("ipv6CidrBlocks"))
                  + as_list(rule.get("prefixListIds")) + (["self"] if rule.get("self") else []))  # fmt: skip
        if others:
            out.append(("other", others))
    return out


def check_data_reachable_only_from_tasks(
    resources: Sequence[Res], _cfg: Mapping[str, Any]
) -> list[tuple[Res, str]]:
    """Every group guarding a database or cache admits only the ECS services' groups."""
    task_groups = {str(g) for r in resources if r.type == SERVICE
                   for g in as_list((r.props.get("networkConfiguration") or {})
                                    .get("securityGroups"))}  # fmt: skip
    fix = "admit only the service's tasks (referenced security group) on the store's port"
    store_groups: dict[str, Res] = {}
    out: list[tuple[Res, str]] = []
    for store in (r for r in resources if r.type in (*DATABASES, REPLICATION_GROUP, CACHE_CLUSTER)):
        if store.type == CACHE_CLUSTER and store.props.get("replicationGroupId"):
            continue
        groups = _store_groups(store)
        if not groups:
            out.append((store, violation(groups, "no security group: the VPC's default group "
                                         "applies", fix)))  # fmt: skip
        for g in groups:
            store_groups.setdefault(g, store)
    for r in resources:
        if r.type == SG:
            group = id_of(r)
        elif r.type in (INGRESS_RULE, SG_RULE):
            group = str(r.props.get("securityGroupId"))
        else:
            continue
        if group not in store_groups:
            continue
        for kind, source in _ingress_sources(r):
            if kind == "group" and (source in task_groups or source == UNKNOWN):
                continue
            what = "another security group" if kind == "group" else "addresses"
            out.append((r, violation(source, f"the group guarding {store_groups[group].name} "
                                     f"admits {what}, not only the tasks", fix)))  # fmt: skip
    return out


POLICIES = [
    resource_policy(name="rds-storage-encrypted", types=DATABASES, check=check_storage_encrypted,
                    description="Database storage is encrypted at rest."),
    resource_policy(name="rds-not-publicly-accessible",
                    types=(*DATABASES, RDS_CLUSTER_INSTANCE), check=check_not_public,
                    description="No database instance is publicly accessible."),
    resource_policy(name="rds-deletion-protection", types=DATABASES,
                    check=check_deletion_protection,
                    description="Databases have deletion protection (production)."),
    resource_policy(name="rds-backup-retention", types=DATABASES, check=check_backup_retention,
                    description="Automated database backups are kept at least N days.",
                    schema={"minBackupRetentionDays": {"type": "integer", "default": 14}}),
    resource_policy(name="rds-iam-auth", types=DATABASES, check=check_iam_auth,
                    description="Databases accept IAM authentication."),
    resource_policy(name="cache-encryption", types=(REPLICATION_GROUP, CACHE_CLUSTER),
                    check=check_cache_encryption,
                    description="Caches are encrypted at rest and in transit and require AUTH."),
    resource_policy(name="cache-automatic-failover", types=(REPLICATION_GROUP,),
                    check=check_cache_failover,
                    description="Caches fail over automatically to another AZ (production)."),
    stack_policy(name="data-reachable-only-from-tasks",
                 description="Databases and caches admit connections only from the service's "
                 "tasks.", check=check_data_reachable_only_from_tasks),
]  # fmt: skip
