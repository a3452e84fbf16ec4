"""Stack-level rules: what only the whole set of resources can tell.

The engine sends resource *outputs* here (ids appear only inside ARNs), so resources are matched
by names and by the ids at the end of their ARNs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from .common import as_list, violation
from .security_groups import TYPES as SG_TYPES
from .security_groups import ingress_rules, open_to_internet
from .stack_keys import fix

SERVICE = "aws:ecs/service:Service"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SUBNET = "aws:ec2/subnet:Subnet"
GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TABLE = "aws:dynamodb/table:Table"
LB_TYPES = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")


class Res:
    """The few fields a stack rule needs (from a PolicyResource or a test double)."""

    def __init__(self, type_: str, name: str, props: Mapping[str, Any], urn: str = "") -> None:
        self.type, self.name, self.props, self.urn = type_, name, props, urn


StackCheck = Callable[[Sequence[Res], Mapping[str, Any]], list[tuple[Res, str]]]


def id_of(res: Res) -> str | None:
    """The AWS id: ``id`` when present, else the last path segment of the ARN."""
    if res.props.get("id"):
        return str(res.props["id"])
    arn = str(res.props.get("arn") or "")
    return arn.rsplit("/", 1)[-1] if "/" in arn else None


def check_min_tasks(resources: Sequence[Res], cfg: Mapping[str, Any]) -> list[tuple[Res, str]]:
    minimum = int(cfg.get("minTasks", 2))
    targets = {str(r.props.get("resourceId", "")).rsplit("/", 1)[-1]: r
               for r in resources if r.type == SCALING_TARGET}  # fmt: skip
    out = []
    for svc in (r for r in resources if r.type == SERVICE):
        target = targets.get(str(svc.props.get("name")))
        count = target.props.get("minCapacity") if target else svc.props.get("desiredCount")
        if count is None or int(count) < minimum:
            source = "autoscaling minimum" if target else "desiredCount"
            prop = "minCapacity" if target else "desiredCount"
            remedy = fix(target.type if target else svc.type, prop, f"{minimum} or more",
                         f"run at least {minimum} tasks")  # fmt: skip
            out.append((svc, violation(count, f"{source} is below {minimum} tasks", remedy)))
    return out


def check_multi_az(resources: Sequence[Res], cfg: Mapping[str, Any]) -> list[tuple[Res, str]]:
    minimum = int(cfg.get("minAzs", 2))
    az_of = {id_of(r): r.props.get("availabilityZone") for r in resources if r.type == SUBNET}
    out = []
    for svc in (r for r in resources if r.type == SERVICE):
        subnets = as_list((svc.props.get("networkConfiguration") or {}).get("subnets"))
        azs = {az_of.get(str(s)) for s in subnets} - {None}
        unknown = [s for s in subnets if str(s) not in az_of]
        if unknown and len(subnets) >= minimum:
            continue  # subnets from outside this stack: cannot tell, do not guess
        if len(azs) < minimum:
            out.append((svc, violation(sorted(azs), f"tasks span fewer than {minimum} AZs",
                                       fix(svc.type, "subnets", f"{minimum} or more", "give the "
                                           f"service subnets in at least {minimum} AZs"))))  # fmt: skip
    return out


def check_group_alarms_exist(
    resources: Sequence[Res], _cfg: Mapping[str, Any]
) -> list[tuple[Res, str]]:
    alarms = {str(r.props.get("name") or r.name) for r in resources if r.type == ALARM}
    out = []
    for group in (r for r in resources if r.type == GROUP):
        names = as_list((group.props.get("alarmConfiguration") or {}).get("alarms"))
        missing = [n for n in names if n not in alarms]
        if missing:
            out.append((group, violation(missing, "the group waits on alarms this stack does not "
                                         "define", "attach the stack's rollback_alarm_names")))  # fmt: skip
    return out


def check_audit_table(resources: Sequence[Res], cfg: Mapping[str, Any]) -> list[tuple[Res, str]]:
    if not cfg.get("requireAuditTable", True):
        return []
    tables = [r for r in resources if r.type == TABLE]
    good = [t for t in tables if (t.props.get("pointInTimeRecovery") or {}).get("enabled") is True
            and t.props.get("hashKey") == "stack"]  # fmt: skip
    if good:
        return []
    anchor = tables[0] if tables else Res("pulumi:pulumi:Stack", "stack", {})
    return [(anchor, violation([t.name for t in tables],
                               "no release audit table with point-in-time recovery",
                               "keep the Observability audit table (PITR on)"))]  # fmt: skip


def check_audit_table_protected(resources: Sequence[Res], _cfg: Mapping[str, Any]
                                ) -> list[tuple[Res, str]]:  # fmt: skip
    """The release audit table (hash key ``stack``) survives a mistaken delete and can be
    restored: deletion protection and point-in-time recovery."""
    out = []
    for t in (r for r in resources if r.type == TABLE and r.props.get("hashKey") == "stack"):
        missing = [what for what, ok in (
            ("deletion protection", t.props.get("deletionProtectionEnabled") is True),
            ("point-in-time recovery",
             (t.props.get("pointInTimeRecovery") or {}).get("enabled") is True),
        ) if not ok]  # fmt: skip
        if missing:
            out.append((t, violation(missing, "the release audit table has no " +
                                     " and no ".join(missing), "set observability."
                                     "audit_deletion_protection: true (PITR is always on)")))  # fmt: skip
    return out


def check_internet_only_on_alb(
    resources: Sequence[Res], _cfg: Mapping[str, Any]
) -> list[tuple[Res, str]]:
    alb_groups = {str(g) for r in resources if r.type in LB_TYPES
                  for g in as_list(r.props.get("securityGroups"))}  # fmt: skip
    groups = {id_of(r): r for r in resources if r.type == "aws:ec2/securityGroup:SecurityGroup"}
    out = []
    for r in resources:
        if r.type not in SG_TYPES or not any(
            open_to_internet(x) for x in ingress_rules(r.type, r.props)
        ):
            continue
        group_id = id_of(r) if r.type == "aws:ec2/securityGroup:SecurityGroup" else str(
            r.props.get("securityGroupId"))  # fmt: skip
        if group_id not in alb_groups:
            owner = groups.get(group_id, r)
            out.append((owner, violation(group_id, "a security group that is not the load "
                                         "balancer's is open to the internet",
                                         "admit internet traffic only on the ALB's group")))  # fmt: skip
    return out


def stack_policy(*, name: str, description: str, check: StackCheck,
                 schema: Mapping[str, Mapping[str, Any]] | None = None) -> StackValidationPolicy:  # fmt: skip
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        cfg = args.get_config() or {}
        resources = [Res(r.resource_type, r.name, r.props, r.urn) for r in args.resources]
        for res, message in check(resources, cfg):
            report(f"{res.name}: {message}", res.urn or None)

    return StackValidationPolicy(
        name=name, description=description, validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(properties={k: dict(v) for k, v in (schema or {}).items()}),
    )  # fmt: skip


POLICIES = [
    stack_policy(name="ecs-service-min-tasks",
                 description="Services run at least N tasks (desired count or autoscaling minimum).",
                 check=check_min_tasks, schema={"minTasks": {"type": "integer", "default": 2}}),
    stack_policy(name="ecs-service-multi-az",
                 description="Service subnets span at least N availability zones.",
                 check=check_multi_az, schema={"minAzs": {"type": "integer", "default": 2}}),
    stack_policy(name="codedeploy-alarms-exist",
                 description="Every alarm a CodeDeploy group waits on exists in the stack.",
                 check=check_group_alarms_exist),
    stack_policy(name="audit-table-present",
                 description="The stack keeps a release audit table with point-in-time recovery.",
                 check=check_audit_table,
                 schema={"requireAuditTable": {"type": "boolean", "default": True}}),
    stack_policy(name="audit-table-protected",
                 description="The release audit table has deletion protection and "
                 "point-in-time recovery.", check=check_audit_table_protected),
    stack_policy(name="internet-only-on-alb",
                 description="Only the load balancer's security group is open to the internet.",
                 check=check_internet_only_on_alb),
]  # fmt: skip
