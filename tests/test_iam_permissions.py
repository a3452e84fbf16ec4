"""The CI roles, proven against what the stack creates (DESIGN.md section 9).

For every committed stack under every strategy, each resource the program registers is mapped to
the IAM calls its create, update and delete make (``CALLS`` below, one entry per resource type)
and evaluated against the deploy role's policies with the evaluator in ``tests/iam_eval.py``:
each call must be allowed, and the same call on another stack's resources (another name prefix,
another stack tag) must not. The preview role must be able to refresh every resource with read
actions only. Actions, their resource types and access levels come from policy_sentry's IAM
database (shipped inside the package, offline); cloudsplaining scans each CI role as an outside
reviewer would.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pulumi_aws
import pytest
from cloudsplaining.command.scan_policy_file import scan_policy
from policy_sentry.querying.actions import get_action_data

from components.contract import Strategy
from components.github_oidc import (
    DEFAULT_SG_ADOPTION,
    KMS_READS,
    S3_BUCKET_READS,
    TAG_SCOPED_CREATES,
    UNSCOPED_ACTIONS,
    WAF_READS,
)
from components.iam import (
    CODEDEPLOY,
    ECS,
    ECS_TASKS,
    FLOW_LOGS,
    STACK_TAG,
    boundary_name,
)
from deplight.harness import ProgramRun, Registered, read_stack_config, run_program
from tests.conftest import COMMITTED_STACKS
from tests.iam_eval import Request, allowed, decide

ACCOUNT = "123456789012"
REGION = "us-east-1"
OTHER = "other-svc"
"""Stands in for another stack's prefix (and stack tag) in the same account."""
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


ADMIN_ONLY_COMPONENT = "deplight:releaseapi:ReleaseApi"


@functools.cache
def run_with(stack: str, strategy: Strategy) -> ProgramRun:
    config = read_stack_config(stack)
    config["deplight:deploy"] = {**config.get("deplight:deploy", {}), "strategy": strategy.value}
    return run_program(stack, config)


def is_ci(run: ProgramRun, res: Registered) -> bool:
    """The CI roles, their policies and the OIDC provider, and the release API (it holds the
    GitHub dispatch token): an administrator's `up` only."""
    if f"{ADMIN_ONLY_COMPONENT}$" in res.urn:
        return True
    ci = f"{run.settings.prefix}-github-"
    if res.type == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        return True
    if res.type in (ROLE, POLICY):
        return str(res.inputs.get("name", "")).startswith(ci) or res.inputs.get("name") == (
            boundary_name(run.settings.prefix)
        )
    if res.type == ATTACHMENT:
        return str(res.inputs.get("role", "")).startswith(ci)
    return False


def deploy_policies(run: ProgramRun) -> list[dict[str, Any]]:
    """The documents attached to the deploy role (inline and managed)."""
    prefix = run.settings.prefix
    role = run.one(ROLE, f"{prefix}-github-deploy")
    docs = [json.loads(p["policy"]) for p in role.inputs.get("inlinePolicies") or []]
    arns = {a.inputs["policyArn"] for a in run.of_type(ATTACHMENT)
            if a.inputs["role"] == role.outputs["name"]}  # fmt: skip
    docs += [json.loads(p.inputs["policy"]) for p in run.of_type(POLICY)
             if p.outputs["arn"] in arns]  # fmt: skip
    assert docs, "the deploy role has no policy"
    return docs


def preview_policies(run: ProgramRun) -> list[dict[str, Any]]:
    role = run.one(ROLE, f"{run.settings.prefix}-github-preview")
    assert not [a for a in run.of_type(ATTACHMENT) if a.inputs["role"] == role.outputs["name"]]
    return [json.loads(p["policy"]) for p in role.inputs["inlinePolicies"]]


def boundary_of(run: ProgramRun) -> dict[str, Any]:
    return json.loads(run.one(POLICY, boundary_name(run.settings.prefix)).inputs["policy"])


# --- the table: which calls each resource type's lifecycle makes -----------------------------

Call = list[Request]
"""One API call: a request per resource it names (all must be allowed)."""


class Ctx:
    """Builds requests for one resource of one run."""

    def __init__(self, run: ProgramRun, res: Registered) -> None:
        self.run, self.res = run, res
        self.prefix = run.settings.prefix

    def tag(self, res: Registered | None = None) -> str:
        tags = dict((res or self.res).inputs.get("tags") or {})
        return str(tags.get(STACK_TAG, "<untagged>"))

    def new(self, res: Registered | None = None) -> dict[str, str]:
        return {f"aws:RequestTag/{STACK_TAG}": self.tag(res)}

    def existing(self, res: Registered | None = None) -> dict[str, str]:
        return {f"aws:ResourceTag/{STACK_TAG}": self.tag(res)}

    def by_id(self, id_: Any) -> Registered:
        found = [r for r in self.run.resources if r.custom and r.id == id_]
        assert len(found) == 1, (id_, [r.name for r in found])
        return found[0]

    def by_arn(self, arn: Any) -> Registered:
        found = [r for r in self.run.resources if r.custom and r.outputs.get("arn") == arn]
        assert len(found) == 1, arn
        return found[0]

    @staticmethod
    def ec2(type_: str, id_: Any) -> str:
        return f"arn:aws:ec2:{REGION}:{ACCOUNT}:{type_}/{id_}"

    def ec2_new(self, action: str, type_: str) -> list[Call]:
        """A create call with tag-on-create: the call itself and the CreateTags it implies."""
        arn = self.ec2(type_, self.res.id)
        create_action = {"ec2:CreateAction": action.split(":")[1]}
        return [[Request(action, arn, self.new())],
                [Request("ec2:CreateTags", arn, {**self.new(), **create_action})]]  # fmt: skip

    def ec2_own(self, action: str, type_: str) -> Call:
        return [Request(action, self.ec2(type_, self.res.id), self.existing())]

    def vpc(self, action: str) -> Request:
        vpc = self.by_id(self.res.inputs["vpcId"])
        return Request(action, self.ec2("vpc", vpc.id), self.existing(vpc))

    def arn(self, action: str, arn: str | None = None, **context: str) -> Call:
        return [Request(action, arn or str(self.res.outputs["arn"]), context)]

    def role_arn(self, role_input: Any) -> str:
        if str(role_input).startswith("arn:"):
            return str(role_input)
        return f"arn:aws:iam::{ACCOUNT}:role/{role_input}"

    def pass_role(self, role_input: Any, service: str) -> Call:
        return [Request("iam:PassRole", self.role_arn(role_input),
                        {"iam:PassedToService": service})]  # fmt: skip

    def bounded(self, action: str, role_input: Any, **context: str) -> Call:
        boundary = f"arn:aws:iam::{ACCOUNT}:policy/{boundary_name(self.prefix)}"
        return [Request(action, self.role_arn(role_input),
                        {"iam:PermissionsBoundary": boundary, **context})]  # fmt: skip


Phases = dict[str, list[Call]]


def _vpc(c: Ctx) -> Phases:
    return {
        "create": [*c.ec2_new("ec2:CreateVpc", "vpc"), c.ec2_own("ec2:ModifyVpcAttribute", "vpc"),
                   c.ec2_own("ec2:DescribeVpcAttribute", "vpc")],
        "update": [c.ec2_own("ec2:ModifyVpcAttribute", "vpc"), c.ec2_own("ec2:CreateTags", "vpc"),
                   c.ec2_own("ec2:DeleteTags", "vpc")],
        "delete": [c.ec2_own("ec2:DeleteVpc", "vpc")],
    }  # fmt: skip


def _subnet(c: Ctx) -> Phases:
    create = c.ec2_new("ec2:CreateSubnet", "subnet")
    create[0].append(c.vpc("ec2:CreateSubnet"))
    return {"create": [*create, c.ec2_own("ec2:ModifySubnetAttribute", "subnet")],
            "update": [c.ec2_own("ec2:ModifySubnetAttribute", "subnet")],
            "delete": [c.ec2_own("ec2:DeleteSubnet", "subnet")]}  # fmt: skip


def _igw(c: Ctx) -> Phases:
    attach = [*c.ec2_own("ec2:AttachInternetGateway", "internet-gateway"),
              c.vpc("ec2:AttachInternetGateway")]  # fmt: skip
    detach = [*c.ec2_own("ec2:DetachInternetGateway", "internet-gateway"),
              c.vpc("ec2:DetachInternetGateway")]  # fmt: skip
    return {"create": [*c.ec2_new("ec2:CreateInternetGateway", "internet-gateway"), attach],
            "update": [c.ec2_own("ec2:CreateTags", "internet-gateway")],
            "delete": [detach, c.ec2_own("ec2:DeleteInternetGateway", "internet-gateway")]}  # fmt: skip


def _eip(c: Ctx) -> Phases:
    return {"create": c.ec2_new("ec2:AllocateAddress", "elastic-ip"),
            "update": [c.ec2_own("ec2:CreateTags", "elastic-ip")],
            "delete": [c.ec2_own("ec2:ReleaseAddress", "elastic-ip")]}  # fmt: skip


def _nat(c: Ctx) -> Phases:
    create = c.ec2_new("ec2:CreateNatGateway", "natgateway")
    subnet, eip = c.by_id(c.res.inputs["subnetId"]), c.by_id(c.res.inputs["allocationId"])
    create[0] += [Request("ec2:CreateNatGateway", c.ec2("subnet", subnet.id), c.existing(subnet)),
                  Request("ec2:CreateNatGateway", c.ec2("elastic-ip", eip.id), c.existing(eip))]  # fmt: skip
    return {"create": create, "update": [c.ec2_own("ec2:CreateTags", "natgateway")],
            "delete": [c.ec2_own("ec2:DeleteNatGateway", "natgateway")]}  # fmt: skip


def _route_table(c: Ctx) -> Phases:
    create = c.ec2_new("ec2:CreateRouteTable", "route-table")
    create[0].append(c.vpc("ec2:CreateRouteTable"))
    routes = [c.ec2_own(a, "route-table") for a in
              ("ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute")]  # fmt: skip
    return {"create": [*create, *routes[:1]], "update": routes,
            "delete": [c.ec2_own("ec2:DeleteRouteTable", "route-table")]}  # fmt: skip


def _association(c: Ctx) -> Phases:
    table = c.by_id(c.res.inputs["routeTableId"])
    subnet = c.by_id(c.res.inputs["subnetId"])

    def call(action: str) -> Call:
        return [Request(action, c.ec2("route-table", table.id), c.existing(table)),
                Request(action, c.ec2("subnet", subnet.id), c.existing(subnet))]  # fmt: skip

    return {"create": [call("ec2:AssociateRouteTable")], "update": [],
            "delete": [call("ec2:DisassociateRouteTable")]}  # fmt: skip


def _security_group(c: Ctx) -> Phases:
    create = c.ec2_new("ec2:CreateSecurityGroup", "security-group")
    create[0].append(c.vpc("ec2:CreateSecurityGroup"))
    # The provider revokes the default allow-all egress rule of a new group.
    return {"create": [*create, c.ec2_own("ec2:RevokeSecurityGroupEgress", "security-group")],
            "update": [c.ec2_own("ec2:CreateTags", "security-group")],
            "delete": [c.ec2_own("ec2:DeleteSecurityGroup", "security-group")]}  # fmt: skip


def _rule(direction: str) -> Callable[[Ctx], Phases]:
    def phases(c: Ctx) -> Phases:
        group = c.by_id(c.res.inputs["securityGroupId"])
        on_group = Request(f"ec2:AuthorizeSecurityGroup{direction}",
                           c.ec2("security-group", group.id), c.existing(group))  # fmt: skip
        rule = c.ec2("security-group-rule", c.res.id)
        return {
            "create": [[on_group, Request(f"ec2:AuthorizeSecurityGroup{direction}", rule, c.new())],
                       [Request("ec2:CreateTags", rule, {**c.new(), "ec2:CreateAction":
                                f"AuthorizeSecurityGroup{direction}"})]],
            "update": [[Request("ec2:ModifySecurityGroupRules", c.ec2("security-group", group.id),
                                c.existing(group)),
                        Request("ec2:ModifySecurityGroupRules", rule, c.existing())]],
            "delete": [[Request(f"ec2:RevokeSecurityGroup{direction}",
                                c.ec2("security-group", group.id), c.existing(group))]],
        }  # fmt: skip

    return phases


def _flow_log(c: Ctx) -> Phases:
    create = c.ec2_new("ec2:CreateFlowLogs", "vpc-flow-log")
    create[0].append(c.vpc("ec2:CreateFlowLogs"))
    role = c.by_arn(c.res.inputs["iamRoleArn"])
    return {"create": [*create, c.pass_role(role.outputs["arn"], FLOW_LOGS)],
            "update": [c.ec2_own("ec2:CreateTags", "vpc-flow-log")],
            "delete": [c.ec2_own("ec2:DeleteFlowLogs", "vpc-flow-log")]}  # fmt: skip


def _key_calls(c: Ctx, *actions: str) -> list[Call]:
    """Calls ECR and DynamoDB make on the stack's key on the caller's behalf (KMS encryption)."""
    key = [r for r in c.run.of_type("aws:kms/key:Key")]
    return [[Request(a, str(key[0].outputs["arn"]), c.existing(key[0]))] for a in actions] if (
        key) else []  # fmt: skip


def _kms_key(c: Ctx) -> Phases:
    own = {a: c.arn(a, **c.existing()) for a in (
        "kms:EnableKeyRotation", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
        "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:UpdateKeyDescription", "kms:TagResource",
        "kms:UntagResource", "kms:ScheduleKeyDeletion")}  # fmt: skip
    return {"create": [[Request("kms:CreateKey", "*", c.new())], c.arn("kms:TagResource", **c.new()),
                       *(own[a] for a in ("kms:EnableKeyRotation", "kms:DescribeKey",
                                          "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
                                          "kms:ListResourceTags"))],
            "update": [own[a] for a in ("kms:PutKeyPolicy", "kms:EnableKeyRotation",
                                        "kms:UpdateKeyDescription", "kms:TagResource",
                                        "kms:UntagResource")],
            "delete": [own["kms:ScheduleKeyDeletion"]]}  # fmt: skip


def _bucket_arn(c: Ctx) -> str:
    return f"arn:aws:s3:::{c.res.inputs['bucket']}"


def _bucket(c: Ctx) -> Phases:
    reads = [c.arn(a, _bucket_arn(c)) for a in S3_BUCKET_READS]
    return {"create": [c.arn("s3:CreateBucket", _bucket_arn(c)),
                       c.arn("s3:PutBucketTagging", _bucket_arn(c)), *reads],
            "update": [c.arn("s3:PutBucketTagging", _bucket_arn(c)), *reads],
            "delete": [c.arn("s3:DeleteBucket", _bucket_arn(c))]}  # fmt: skip


def _bucket_config(put: str, get: str, delete: str | None = None) -> Callable[[Ctx], Phases]:
    """A bucket configuration resource: put to create and update, its delete call (S3's delete
    APIs for these are authorized as the put action, except the bucket policy's)."""

    def phases(c: Ctx) -> Phases:
        return {"create": [c.arn(put, _bucket_arn(c)), c.arn(get, _bucket_arn(c))],
                "update": [c.arn(put, _bucket_arn(c))],
                "delete": [c.arn(delete or put, _bucket_arn(c))]}  # fmt: skip

    return phases


def _web_acl(c: Ctx) -> Phases:
    return {"create": [c.arn("wafv2:CreateWebACL"), c.arn("wafv2:TagResource"),
                       c.arn("wafv2:GetWebACL"), c.arn("wafv2:ListTagsForResource")],
            "update": [c.arn("wafv2:UpdateWebACL"), c.arn("wafv2:UntagResource")],
            "delete": [c.arn("wafv2:DeleteWebACL")]}  # fmt: skip


def _web_acl_association(c: Ctx) -> Phases:
    acl, lb = str(c.res.inputs["webAclArn"]), str(c.res.inputs["resourceArn"])

    def both(action: str) -> Call:
        return [Request(action, acl), Request(action, lb)]

    set_acl = [Request("elasticloadbalancing:SetWebACL", "*")]
    return {"create": [both("wafv2:AssociateWebACL"), set_acl,
                       [Request("wafv2:GetWebACLForResource", lb)]],
            "update": [],
            "delete": [both("wafv2:DisassociateWebACL"), set_acl]}  # fmt: skip


def _default_sg(c: Ctx) -> Phases:
    """Adopting the VPC's default group: it carries no stack tag until the adoption tags it."""
    vpc = c.by_id(c.res.inputs["vpcId"])
    in_vpc = {"ec2:Vpc": str(vpc.outputs["arn"])}
    arn = c.ec2("security-group", c.res.id)
    return {"create": [[Request("ec2:DescribeSecurityGroups", "*")],
                       *([Request(a, arn, in_vpc)] for a in DEFAULT_SG_ADOPTION)],
            "update": [[Request("ec2:CreateTags", arn, {**in_vpc, **c.existing()})]],
            "delete": []}  # the provider only forgets the group  # fmt: skip


def _ecr(c: Ctx) -> Phases:
    return {"create": [c.arn("ecr:CreateRepository"), c.arn("ecr:TagResource"),
                       c.arn("ecr:PutImageScanningConfiguration"),
                       *(_key_calls(c, "kms:CreateGrant", "kms:DescribeKey") if (
                           c.res.inputs["encryptionConfigurations"][0].get("kmsKey")) else [])],
            "update": [c.arn("ecr:PutImageTagMutability"), c.arn("ecr:DescribeRepositories")],
            "delete": [c.arn("ecr:DeleteRepository"),
                       *(_key_calls(c, "kms:RetireGrant") if (
                           c.res.inputs["encryptionConfigurations"][0].get("kmsKey")) else [])]}  # fmt: skip


def _ecr_lifecycle(c: Ctx) -> Phases:
    repo = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{c.res.inputs['repository']}"
    return {"create": [c.arn("ecr:PutLifecyclePolicy", repo)],
            "update": [c.arn("ecr:GetLifecyclePolicy", repo)],
            "delete": [c.arn("ecr:DeleteLifecyclePolicy", repo)]}  # fmt: skip


def _cluster(c: Ctx) -> Phases:
    return {"create": [c.arn("ecs:CreateCluster"), c.arn("ecs:TagResource")],
            "update": [c.arn("ecs:UpdateCluster"), c.arn("ecs:UpdateClusterSettings"),
                       c.arn("ecs:DescribeClusters")],
            "delete": [c.arn("ecs:DeleteCluster")]}  # fmt: skip


def _role(c: Ctx) -> Phases:
    name = c.res.inputs.get("name") or c.res.outputs["name"]
    return {"create": [c.bounded("iam:CreateRole", name), c.arn("iam:TagRole", c.role_arn(name)),
                       c.arn("iam:GetRole", c.role_arn(name))],
            "update": [c.bounded("iam:UpdateAssumeRolePolicy", name),
                       c.arn("iam:UpdateRole", c.role_arn(name))],
            "delete": [c.arn("iam:ListRolePolicies", c.role_arn(name)),
                       c.arn("iam:ListAttachedRolePolicies", c.role_arn(name)),
                       c.bounded("iam:DeleteRole", name)]}  # fmt: skip


def _role_name(c: Ctx) -> Any:
    role = c.res.inputs["role"]
    return c.by_id(role).outputs["name"] if not str(role).startswith(c.prefix) else role


def _role_policy(c: Ctx) -> Phases:
    name = _role_name(c)
    return {"create": [c.bounded("iam:PutRolePolicy", name)],
            "update": [c.bounded("iam:PutRolePolicy", name),
                       c.arn("iam:GetRolePolicy", c.role_arn(name))],
            "delete": [c.bounded("iam:DeleteRolePolicy", name)]}  # fmt: skip


def _attachment(c: Ctx) -> Phases:
    name, policy = _role_name(c), str(c.res.inputs["policyArn"])
    return {"create": [c.bounded("iam:AttachRolePolicy", name, **{"iam:PolicyARN": policy})],
            "update": [],
            "delete": [c.bounded("iam:DetachRolePolicy", name, **{"iam:PolicyARN": policy})]}  # fmt: skip


def _log_group(c: Ctx) -> Phases:
    kms = [c.arn("logs:AssociateKmsKey")] if c.res.inputs.get("kmsKeyId") else []
    return {"create": [c.arn("logs:CreateLogGroup"), c.arn("logs:PutRetentionPolicy"),
                       c.arn("logs:TagResource"), *kms],
            "update": [c.arn("logs:PutRetentionPolicy"), c.arn("logs:ListTagsForResource")],
            "delete": [c.arn("logs:DeleteLogGroup")]}  # fmt: skip


def _lb(type_: str) -> Callable[[Ctx], Phases]:
    verbs = {
        "LoadBalancer": ("CreateLoadBalancer", "ModifyLoadBalancerAttributes", "DeleteLoadBalancer"),
        "TargetGroup": ("CreateTargetGroup", "ModifyTargetGroupAttributes", "DeleteTargetGroup"),
        "Listener": ("CreateListener", "ModifyListener", "DeleteListener"),
        "ListenerRule": ("CreateRule", "ModifyRule", "DeleteRule"),
    }[type_]  # fmt: skip

    def phases(c: Ctx) -> Phases:
        create, modify, delete = (f"elasticloadbalancing:{v}" for v in verbs)
        extra: list[Call] = []
        if type_ == "LoadBalancer":
            extra = [c.arn("elasticloadbalancing:SetSecurityGroups"),
                     c.arn("elasticloadbalancing:SetSubnets")]  # fmt: skip
        if type_ == "Listener":
            lb = str(c.res.inputs["loadBalancerArn"])
            return {"create": [c.arn(create) + c.arn(create, lb), c.arn("elasticloadbalancing:AddTags")],
                    "update": [c.arn(modify)], "delete": [c.arn(delete)]}  # fmt: skip
        if type_ == "ListenerRule":
            listener = str(c.res.inputs["listenerArn"])
            return {"create": [c.arn(create, listener) + c.arn(create),
                               c.arn("elasticloadbalancing:AddTags")],
                    "update": [c.arn(modify)], "delete": [c.arn(delete)]}  # fmt: skip
        return {"create": [c.arn(create), c.arn("elasticloadbalancing:AddTags"), c.arn(modify)],
                "update": [c.arn(modify), *extra], "delete": [c.arn(delete)]}  # fmt: skip

    return phases


def _task_definition(c: Ctx) -> Phases:
    return {"create": [c.arn("ecs:RegisterTaskDefinition"), c.arn("ecs:TagResource"),
                       c.pass_role(c.res.inputs["executionRoleArn"], ECS_TASKS),
                       c.pass_role(c.res.inputs["taskRoleArn"], ECS_TASKS)],
            "update": [], "delete": []}  # skip_destroy: revisions stay registered  # fmt: skip


def _service(c: Ctx) -> Phases:
    create = [c.arn("ecs:CreateService"), c.arn("ecs:TagResource"), c.arn("ecs:DescribeServices")]
    for lb in c.res.inputs.get("loadBalancers") or []:
        role = (lb.get("advancedConfiguration") or {}).get("roleArn")
        if role:
            create.append(c.pass_role(role, ECS))
    return {"create": create,
            "update": [c.arn("ecs:UpdateService"), c.arn("ecs:DescribeServices")],
            "delete": [c.arn("ecs:UpdateService"), c.arn("ecs:DeleteService")]}  # fmt: skip


NAMESPACE = {"application-autoscaling:service-namespace": "ecs"}


def _scaling_target(c: Ctx) -> Phases:
    arn = str(c.res.outputs["arn"])
    return {"create": [[Request("application-autoscaling:RegisterScalableTarget", arn,
                                {**c.new(), **NAMESPACE})],
                       [Request("application-autoscaling:TagResource", arn,
                                {**c.new(), **NAMESPACE})]],
            "update": [[Request("application-autoscaling:RegisterScalableTarget", arn,
                                {**c.existing(), **NAMESPACE})]],
            "delete": [[Request("application-autoscaling:DeregisterScalableTarget", arn,
                                {**c.existing(), **NAMESPACE})]]}  # fmt: skip


def _scaling_policy(c: Ctx) -> Phases:
    target = next(r for r in c.run.of_type("aws:appautoscaling/target:Target")
                  if r.inputs["resourceId"] == c.res.inputs["resourceId"])  # fmt: skip
    arn = str(target.outputs["arn"])
    ctx = {**c.existing(target), **NAMESPACE}
    alarm = (f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:TargetTracking-"
             f"{c.res.inputs['resourceId']}-AlarmHigh-0a1b2c3d")  # fmt: skip
    return {"create": [[Request("application-autoscaling:PutScalingPolicy", arn, ctx)],
                       c.arn("cloudwatch:PutMetricAlarm", alarm)],
            "update": [[Request("application-autoscaling:PutScalingPolicy", arn, ctx)]],
            "delete": [[Request("application-autoscaling:DeleteScalingPolicy", arn, ctx)],
                       c.arn("cloudwatch:DeleteAlarms", alarm)]}  # fmt: skip


def _alarm(c: Ctx) -> Phases:
    return {"create": [c.arn("cloudwatch:PutMetricAlarm"), c.arn("cloudwatch:TagResource")],
            "update": [c.arn("cloudwatch:PutMetricAlarm"), c.arn("cloudwatch:DescribeAlarms")],
            "delete": [c.arn("cloudwatch:DeleteAlarms")]}  # fmt: skip


def _dashboard(c: Ctx) -> Phases:
    return {"create": [c.arn("cloudwatch:PutDashboard")],
            "update": [c.arn("cloudwatch:PutDashboard"), c.arn("cloudwatch:GetDashboard")],
            "delete": [c.arn("cloudwatch:DeleteDashboards")]}  # fmt: skip


def _topic(c: Ctx) -> Phases:
    return {"create": [c.arn("sns:CreateTopic"), c.arn("sns:TagResource"),
                       c.arn("sns:SetTopicAttributes")],
            "update": [c.arn("sns:SetTopicAttributes"), c.arn("sns:GetTopicAttributes")],
            "delete": [c.arn("sns:DeleteTopic")]}  # fmt: skip


def _subscription(c: Ctx) -> Phases:
    return {"create": [c.arn("sns:Subscribe", str(c.res.inputs["topic"])),
                       c.arn("sns:GetSubscriptionAttributes")],
            "update": [c.arn("sns:SetSubscriptionAttributes")],
            "delete": [c.arn("sns:Unsubscribe", str(c.res.inputs["topic"]))]}  # fmt: skip


def _sampling_rule(c: Ctx) -> Phases:
    return {"create": [c.arn("xray:CreateSamplingRule"), c.arn("xray:TagResource")],
            "update": [c.arn("xray:UpdateSamplingRule")],
            "delete": [c.arn("xray:DeleteSamplingRule")]}  # fmt: skip


def _chatbot_channel(c: Ctx) -> Phases:
    channel = str(c.res.outputs["arn"])
    return {"create": [[Request("chatbot:CreateSlackChannelConfiguration", channel, c.new())],
                       [Request("chatbot:TagResource", channel, c.new())],
                       c.pass_role(c.res.inputs["iamRoleArn"], "chatbot.amazonaws.com"),
                       [Request("chatbot:DescribeSlackChannelConfigurations", "*")]],
            "update": [c.arn("chatbot:UpdateSlackChannelConfiguration"),
                       c.pass_role(c.res.inputs["iamRoleArn"], "chatbot.amazonaws.com")],
            "delete": [c.arn("chatbot:DeleteSlackChannelConfiguration")]}  # fmt: skip


def _table(c: Ctx) -> Phases:
    kms = (_key_calls(c, "kms:CreateGrant", "kms:DescribeKey")
           if (c.res.inputs.get("serverSideEncryption") or {}).get("kmsKeyArn") else [])  # fmt: skip
    return {"create": [c.arn("dynamodb:CreateTable"), c.arn("dynamodb:TagResource"),
                       c.arn("dynamodb:UpdateContinuousBackups"), c.arn("dynamodb:DescribeTable"),
                       *kms],
            "update": [c.arn("dynamodb:UpdateTable"), c.arn("dynamodb:DescribeContinuousBackups")],
            "delete": [c.arn("dynamodb:DeleteTable")]}  # fmt: skip


def _cd_app(c: Ctx) -> Phases:
    return {"create": [c.arn("codedeploy:CreateApplication"), c.arn("codedeploy:TagResource")],
            "update": [c.arn("codedeploy:GetApplication")],
            "delete": [c.arn("codedeploy:DeleteApplication")]}  # fmt: skip


def _cd_group(c: Ctx) -> Phases:
    return {"create": [c.arn("codedeploy:CreateDeploymentGroup"),
                       c.pass_role(c.res.inputs["serviceRoleArn"], CODEDEPLOY)],
            "update": [c.arn("codedeploy:UpdateDeploymentGroup"),
                       c.pass_role(c.res.inputs["serviceRoleArn"], CODEDEPLOY)],
            "delete": [c.arn("codedeploy:DeleteDeploymentGroup")]}  # fmt: skip


def _cd_config(c: Ctx) -> Phases:
    return {"create": [c.arn("codedeploy:CreateDeploymentConfig")], "update": [],
            "delete": [c.arn("codedeploy:DeleteDeploymentConfig")]}  # fmt: skip


def _release(c: Ctx) -> Phases:
    app, group = c.res.inputs["application_name"], c.res.inputs["deployment_group_name"]
    arn = f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:{app}/{group}"
    (service,) = [str(r.outputs["arn"]) for r in c.run.resources
                  if r.type == "aws:ecs/service:Service"]  # fmt: skip
    calls = [c.arn("codedeploy:CreateDeployment", arn), c.arn("codedeploy:GetDeployment", arn),
             c.arn("codedeploy:ListDeploymentTargets", arn),
             c.arn("codedeploy:GetDeploymentTarget", arn),
             # refresh (`read`): the deployment, its group and what the service serves
             c.arn("codedeploy:GetDeploymentGroup", arn),
             c.arn("ecs:DescribeServices", service)]  # fmt: skip
    return {"create": calls, "update": calls, "delete": []}


# The data tier. RDS and ElastiCache also authorize their creates against AWS's default
# parameter (and option) groups; those are shared, not this stack's, so `elsewhere` cannot move
# them and they are not listed here (deploy statements DataDefault*: creates and modifies only).


def _rds_arn(c: Ctx, type_: str, name: Any) -> str:
    return f"arn:aws:rds:{REGION}:{ACCOUNT}:{type_}:{name}"


def _db_subnet_group(c: Ctx) -> Phases:
    return {"create": [c.arn("rds:CreateDBSubnetGroup"), c.arn("rds:AddTagsToResource"),
                       c.arn("rds:DescribeDBSubnetGroups")],
            "update": [c.arn("rds:ModifyDBSubnetGroup"), c.arn("rds:AddTagsToResource"),
                       c.arn("rds:RemoveTagsFromResource")],
            "delete": [c.arn("rds:DeleteDBSubnetGroup")]}  # fmt: skip


def _master_secret(c: Ctx, action: str, phase: str) -> Call:
    """A call RDS makes on the master user secret it manages (rds!cluster-<uuid>) in the
    caller's name, recognisable only by its aws:rds:primaryDBClusterArn tag."""
    cluster = str(c.res.outputs["arn"])
    secret = str(c.res.outputs["masterUserSecrets"][0]["secretArn"])
    where = "RequestTag" if phase == "create" else "ResourceTag"
    return [Request(action, secret, {f"aws:{where}/aws:rds:primaryDBClusterArn": cluster})]


def _db_cluster(c: Ctx) -> Phases:
    subnets = _rds_arn(c, "subgrp", c.res.inputs["dbSubnetGroupName"])
    delete = c.arn("rds:DeleteDBCluster")
    if c.res.inputs.get("finalSnapshotIdentifier"):
        delete += c.arn(
            "rds:DeleteDBCluster",
            _rds_arn(c, "cluster-snapshot", c.res.inputs["finalSnapshotIdentifier"]),
        )
    return {"create": [c.arn("rds:CreateDBCluster") + c.arn("rds:CreateDBCluster", subnets),
                       c.arn("rds:AddTagsToResource"), c.arn("rds:DescribeDBClusters"),
                       _master_secret(c, "secretsmanager:CreateSecret", "create"),
                       _master_secret(c, "secretsmanager:TagResource", "create")],
            "update": [c.arn("rds:ModifyDBCluster"), c.arn("rds:AddTagsToResource"),
                       c.arn("rds:RemoveTagsFromResource"), c.arn("rds:DescribeDBClusters"),
                       _master_secret(c, "secretsmanager:DescribeSecret", "update")],
            "delete": [delete, _master_secret(c, "secretsmanager:DeleteSecret", "delete")]}  # fmt: skip


def _db_instance(c: Ctx) -> Phases:
    cluster = _rds_arn(c, "cluster", c.res.inputs["clusterIdentifier"])
    subnets = _rds_arn(c, "subgrp", c.res.inputs["dbSubnetGroupName"])
    return {"create": [c.arn("rds:CreateDBInstance") + c.arn("rds:CreateDBInstance", cluster)
                       + c.arn("rds:CreateDBInstance", subnets),
                       c.arn("rds:AddTagsToResource"), c.arn("rds:DescribeDBInstances")],
            "update": [c.arn("rds:ModifyDBInstance"), c.arn("rds:AddTagsToResource"),
                       c.arn("rds:RemoveTagsFromResource")],
            "delete": [c.arn("rds:DeleteDBInstance")]}  # fmt: skip


def _ec_arn(type_: str, name: Any) -> str:
    return f"arn:aws:elasticache:{REGION}:{ACCOUNT}:{type_}:{name}"


def _cache_subnet_group(c: Ctx) -> Phases:
    return {"create": [c.arn("elasticache:CreateCacheSubnetGroup"),
                       c.arn("elasticache:AddTagsToResource"),
                       c.arn("elasticache:DescribeCacheSubnetGroups")],
            "update": [c.arn("elasticache:ModifyCacheSubnetGroup"),
                       c.arn("elasticache:AddTagsToResource"),
                       c.arn("elasticache:RemoveTagsFromResource")],
            "delete": [c.arn("elasticache:DeleteCacheSubnetGroup")]}  # fmt: skip


def _replication_group(c: Ctx) -> Phases:
    group = str(c.res.inputs["replicationGroupId"])
    # A non-sharded group's member clusters are <group>-001, -002, ...
    members = [_ec_arn("cluster", f"{group}-{i + 1:03d}")
               for i in range(int(c.res.inputs["numCacheClusters"]))]  # fmt: skip
    create = c.arn("elasticache:CreateReplicationGroup") + c.arn(
        "elasticache:CreateReplicationGroup",
        _ec_arn("subnetgroup", c.res.inputs["subnetGroupName"]),
    )
    create += [Request("elasticache:CreateReplicationGroup", m) for m in members]
    delete = c.arn("elasticache:DeleteReplicationGroup")
    if c.res.inputs.get("finalSnapshotIdentifier"):
        delete += c.arn(
            "elasticache:DeleteReplicationGroup",
            _ec_arn("snapshot", c.res.inputs["finalSnapshotIdentifier"]),
        )
    return {"create": [create, c.arn("elasticache:AddTagsToResource"),
                       c.arn("elasticache:DescribeReplicationGroups"),
                       c.arn("elasticache:DescribeCacheClusters", members[0]),
                       c.arn("elasticache:ListTagsForResource")],
            "update": [c.arn("elasticache:ModifyReplicationGroup"),
                       c.arn("elasticache:IncreaseReplicaCount"),
                       c.arn("elasticache:DecreaseReplicaCount"),
                       c.arn("elasticache:AddTagsToResource"),
                       c.arn("elasticache:RemoveTagsFromResource")],
            "delete": [delete]}  # fmt: skip


def _secret(c: Ctx) -> Phases:
    return {"create": [c.arn("secretsmanager:CreateSecret"), c.arn("secretsmanager:TagResource"),
                       c.arn("secretsmanager:DescribeSecret"),
                       c.arn("secretsmanager:GetResourcePolicy")],
            "update": [c.arn("secretsmanager:UpdateSecret"), c.arn("secretsmanager:TagResource"),
                       c.arn("secretsmanager:UntagResource")],
            "delete": [c.arn("secretsmanager:DeleteSecret")]}  # fmt: skip


def _secret_version(c: Ctx) -> Phases:
    secret = str(c.res.inputs["secretId"])
    # A new value is a new version (replacement); the provider reads the value back.
    return {"create": [c.arn("secretsmanager:PutSecretValue", secret),
                       c.arn("secretsmanager:GetSecretValue", secret)],
            "update": [],
            "delete": [c.arn("secretsmanager:UpdateSecretVersionStage", secret)]}  # fmt: skip


def _no_aws_call(_c: Ctx) -> Phases:
    """A dynamic resource computed in the program (the cache AUTH token): no AWS call."""
    return {"create": [], "update": [], "delete": []}


CALLS: dict[str, Callable[[Ctx], Phases]] = {
    "aws:ec2/vpc:Vpc": _vpc,
    "aws:ec2/subnet:Subnet": _subnet,
    "aws:ec2/internetGateway:InternetGateway": _igw,
    "aws:ec2/eip:Eip": _eip,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/routeTable:RouteTable": _route_table,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _association,
    "aws:ec2/securityGroup:SecurityGroup": _security_group,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _rule("Ingress"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _rule("Egress"),
    "aws:ec2/flowLog:FlowLog": _flow_log,
    "aws:ecr/repository:Repository": _ecr,
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": _ecr_lifecycle,
    "aws:ecs/cluster:Cluster": _cluster,
    "aws:iam/role:Role": _role,
    "aws:iam/rolePolicy:RolePolicy": _role_policy,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _attachment,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:lb/loadBalancer:LoadBalancer": _lb("LoadBalancer"),
    "aws:lb/targetGroup:TargetGroup": _lb("TargetGroup"),
    "aws:lb/listener:Listener": _lb("Listener"),
    "aws:lb/listenerRule:ListenerRule": _lb("ListenerRule"),
    "aws:ecs/taskDefinition:TaskDefinition": _task_definition,
    "aws:ecs/service:Service": _service,
    "aws:appautoscaling/target:Target": _scaling_target,
    "aws:appautoscaling/policy:Policy": _scaling_policy,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:cloudwatch/dashboard:Dashboard": _dashboard,
    "aws:sns/topic:Topic": _topic,
    "aws:sns/topicSubscription:TopicSubscription": _subscription,
    "aws:xray/samplingRule:SamplingRule": _sampling_rule,
    "aws:dynamodb/table:Table": _table,
    "aws:codedeploy/application:Application": _cd_app,
    "aws:codedeploy/deploymentGroup:DeploymentGroup": _cd_group,
    "aws:codedeploy/deploymentConfig:DeploymentConfig": _cd_config,
    "pulumi-python:dynamic/deplight:Release": _release,
    "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration": _chatbot_channel,
    "aws:rds/subnetGroup:SubnetGroup": _db_subnet_group,
    "aws:rds/cluster:Cluster": _db_cluster,
    "aws:rds/clusterInstance:ClusterInstance": _db_instance,
    "aws:elasticache/subnetGroup:SubnetGroup": _cache_subnet_group,
    "aws:elasticache/replicationGroup:ReplicationGroup": _replication_group,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:secretsmanager/secretVersion:SecretVersion": _secret_version,
    "pulumi-python:dynamic/data:AuthToken": _no_aws_call,
    "aws:kms/key:Key": _kms_key,
    "aws:s3/bucket:Bucket": _bucket,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _bucket_config(
        "s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration"
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _bucket_config(
        "s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration"
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _bucket_config(
        "s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"
    ),
    "aws:s3/bucketPolicy:BucketPolicy": _bucket_config(
        "s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"
    ),
    "aws:wafv2/webAcl:WebAcl": _web_acl,
    "aws:wafv2/webAclAssociation:WebAclAssociation": _web_acl_association,
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _default_sg,
}


def calls_of(run: ProgramRun) -> Iterator[tuple[Registered, str, Call]]:
    for res in run.resources:
        if not res.custom or is_ci(run, res):
            continue
        assert res.type in CALLS, f"{res.type} ({res.name}): add its IAM calls to CALLS"
        for phase, calls in CALLS[res.type](Ctx(run, res)).items():
            for call in calls:
                yield res, phase, call


def elsewhere(request: Request, prefix: str, vpc_ids: Sequence[str] = ()) -> Request:
    """The same request on another stack's resource: its name prefix, stack tag and VPC
    replaced."""

    def other(text: str) -> str:
        for vpc in vpc_ids:
            text = text.replace(vpc, "vpc-0ther0000000000")
        return text.replace(prefix, OTHER)

    return Request(
        request.action,
        other(request.resource),
        {k: (other(v) if isinstance(v, str) else v) for k, v in request.context.items()},
    )  # fmt: skip


STRATEGIES = list(Strategy)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=str)
@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_deploy_role_can_create_update_delete_every_resource_and_only_this_stacks(
    stack: str, strategy: Strategy
) -> None:
    run = run_with(stack, strategy)
    policies, prefix = deploy_policies(run), run.settings.prefix
    types = {r.type for r in run.resources if r.custom}
    assert "aws:iam/role:Role" in types and "aws:ec2/vpc:Vpc" in types
    checked = 0
    for res, phase, call in calls_of(run):
        for request in call:
            assert allowed(request, policies), (
                f"{stack}/{strategy}: {res.name} {phase}: {request} is {decide(request, policies)}"
            )
            if request.resource == "*" and request.action not in TAG_SCOPED_CREATES:
                assert request.action in UNSCOPED_ACTIONS, request
                continue
            other = elsewhere(request, prefix, [v.id for v in run.of_type("aws:ec2/vpc:Vpc")])
            assert other != request, f"{res.name} {phase}: {request} names nothing of the stack"
            assert not allowed(other, policies), (
                f"{stack}/{strategy}: {res.name} {phase}: the same call on another stack's "
                f"resource is allowed: {other}"
            )
            checked += 1
    assert checked > 100


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_release_and_rollback_tooling_calls_are_allowed(stack: str) -> None:
    """What `deplight deploy`/`rollback` call with boto3 (rollback/aws.py, rollback/audit.py)."""
    run = run_with(stack, run_program_strategy(stack))
    policies, p = deploy_policies(run), run.settings.prefix
    r = f"{REGION}:{ACCOUNT}"
    for action, arn in [
        ("ecr:DescribeImages", f"arn:aws:ecr:{r}:repository/{p}"),
        ("ecr:PutImage", f"arn:aws:ecr:{r}:repository/{p}"),
        ("ecs:DescribeServices", f"arn:aws:ecs:{r}:service/{p}/{p}"),
        ("ecs:ListServiceDeployments", f"arn:aws:ecs:{r}:service/{p}/{p}"),
        ("ecs:StopServiceDeployment", f"arn:aws:ecs:{r}:service-deployment/{p}/{p}/x1"),
        ("ecs:DescribeTaskDefinition", "*"),
        ("elasticloadbalancing:DescribeTargetHealth", "*"),
        ("codedeploy:GetDeployment", f"arn:aws:codedeploy:{r}:deploymentgroup:{p}/{p}"),
        ("codedeploy:StopDeployment", "*"),
        ("dynamodb:PutItem", f"arn:aws:dynamodb:{r}:table/{p}-releases"),
        ("dynamodb:Query", f"arn:aws:dynamodb:{r}:table/{p}-releases/index/release"),
    ]:  # fmt: skip
        assert allowed(Request(action, arn), policies), (action, arn)
    # With the stack's own key, DynamoDB encrypts and decrypts the audit items on the caller's
    # behalf: the key, tagged as this stack's, and no other stack's key.
    for key in run.of_type("aws:kms/key:Key"):
        for action in ("kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"):
            request = Request(action, str(key.outputs["arn"]),
                              {f"aws:ResourceTag/{STACK_TAG}": p})  # fmt: skip
            assert allowed(request, policies), action
            assert not allowed(elsewhere(request, p), policies), action


def run_program_strategy(stack: str) -> Strategy:
    return program_settings(stack).deploy.strategy


@functools.cache
def program_settings(stack: str) -> Any:
    from deplight.harness import settings_for

    return settings_for(stack, read_stack_config(stack))


# --- the boundary: what the service roles need, and nothing more ---------------------------


@pytest.mark.parametrize("strategy", STRATEGIES, ids=str)
@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_every_service_role_carries_the_boundary_and_it_covers_their_needs(
    stack: str, strategy: Strategy
) -> None:
    run = run_with(stack, strategy)
    prefix = run.settings.prefix
    boundary = run.one(POLICY, boundary_name(prefix))
    doc = boundary_of(run)
    for role in run.of_type(ROLE):
        if is_ci(run, role):
            assert role.inputs.get("permissionsBoundary") is None, role.name
            continue
        assert role.inputs.get("permissionsBoundary") == boundary.outputs["arn"], role.name
    r = f"{REGION}:{ACCOUNT}"
    needs = [
        ("ecr:GetAuthorizationToken", "*"),
        ("ecr:BatchGetImage", f"arn:aws:ecr:{r}:repository/{prefix}"),
        ("logs:PutLogEvents", f"arn:aws:logs:{r}:log-group:/ecs/{prefix}:log-stream:web/x"),
        *[(a, "*") for a in ("xray:PutTraceSegments", "elasticloadbalancing:DescribeListeners")],
        ("ecs:CreateTaskSet", f"arn:aws:ecs:{r}:task-set/{prefix}/{prefix}/ecs-svc/1"),
        ("elasticloadbalancing:ModifyRule",
         f"arn:aws:elasticloadbalancing:{r}:listener-rule/app/{prefix}-alb/1/2/3"),
        ("elasticloadbalancing:ModifyListener",
         f"arn:aws:elasticloadbalancing:{r}:listener/app/{prefix}-alb/1/2"),
        ("elasticloadbalancing:RegisterTargets",
         f"arn:aws:elasticloadbalancing:{r}:targetgroup/{prefix}-green/1"),
        # CodeDeploy and ECS blue/green read the rollback alarms by name (scoped: CKV_AWS_355)
        ("cloudwatch:DescribeAlarms", f"arn:aws:cloudwatch:{r}:alarm:{prefix}-5xx-rate"),
    ]  # fmt: skip
    if run.settings.network.flow_logs:
        needs.append(("logs:PutLogEvents",
                      f"arn:aws:logs:{r}:log-group:/deplight/{prefix}/vpc-flow-logs:log-stream:x"))  # fmt: skip
    for secret in run.settings.service.secrets.values():
        needs.append(("secretsmanager:GetSecretValue" if ":secretsmanager:" in secret
                      else "ssm:GetParameters", secret))  # fmt: skip
    admin = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}  # fmt: skip
    for action, arn in needs:
        assert allowed(Request(action, arn), [admin], doc), (action, arn)
        if arn != "*":
            assert not allowed(elsewhere(Request(action, arn), prefix), [admin], doc), arn
    # Whatever policy a role under the boundary gets, it cannot touch IAM or other services.
    for action, arn in [
        ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/{prefix}-x"),
        ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/{prefix}-task"),
        ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/{prefix}-github-deploy"),
        ("ec2:DeleteVpc", f"arn:aws:ec2:{r}:vpc/vpc-1"),
        ("s3:GetObject", "arn:aws:s3:::any/thing"),
        ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{r}:secret:other-AbCdEf"),
    ]:  # fmt: skip
        context = {"iam:PassedToService": "lambda.amazonaws.com"}
        assert not allowed(Request(action, arn, context), [admin], doc), action


# --- escalation: no path around the boundary ------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES, ids=str)
@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_the_deploy_role_cannot_escalate(stack: str, strategy: Strategy) -> None:
    run = run_with(stack, strategy)
    policies, prefix = deploy_policies(run), run.settings.prefix
    iam = f"arn:aws:iam::{ACCOUNT}"
    boundary = f"{iam}:policy/{boundary_name(prefix)}"
    new_role = f"{iam}:role/{prefix}-anything"
    bounded = {"iam:PermissionsBoundary": boundary}
    # 1. roles and their policies only with the boundary (absent, or another policy: refused)
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy",
                   "iam:PutRolePermissionsBoundary", "iam:UpdateAssumeRolePolicy",
                   "iam:DeleteRolePolicy", "iam:DetachRolePolicy"):  # fmt: skip
        admin = {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}
        assert not allowed(Request(action, new_role, admin), policies), action
        assert not allowed(Request(action, new_role, {
            **admin, "iam:PermissionsBoundary": f"{iam}:policy/{prefix}-github-deploy-1"}),
            policies), action  # fmt: skip
    assert allowed(Request("iam:CreateRole", new_role, bounded), policies)
    assert allowed(Request("iam:PutRolePolicy", new_role, bounded), policies)
    # 2. never remove or rewrite the boundary, never a new managed policy or version
    for action in ("iam:DeleteRolePermissionsBoundary", "iam:CreatePolicy",
                   "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion",
                   "iam:DeletePolicyVersion", "iam:DeletePolicy"):  # fmt: skip
        for arn in (boundary, new_role, f"{iam}:policy/{prefix}-github-deploy-1"):
            assert decide(Request(action, arn, bounded), policies) == "explicit-deny", action
    # 3. only the managed policies the strategy attaches
    allowed_policies = {p.inputs["policyArn"] for p in run.of_type(ATTACHMENT)
                        if not is_ci(run, p)}  # fmt: skip
    for name in ("AdministratorAccess", "IAMFullAccess", "AWSCodeDeployRoleForECS",
                 "AmazonECSInfrastructureRolePolicyForLoadBalancers", "PowerUserAccess"):  # fmt: skip
        arn = f"arn:aws:iam::aws:policy/{name}"
        request = Request("iam:AttachRolePolicy", new_role, {**bounded, "iam:PolicyARN": arn})
        assert allowed(request, policies) == (arn in allowed_policies), name
    # 4. pass roles only to the services this stack uses
    used = set(json_services(run))
    for service in (ECS_TASKS, CODEDEPLOY, ECS, FLOW_LOGS, "lambda.amazonaws.com",
                    "ec2.amazonaws.com", "glue.amazonaws.com", "cloudformation.amazonaws.com"):  # fmt: skip
        request = Request("iam:PassRole", new_role, {"iam:PassedToService": service})
        assert allowed(request, policies) == (service in used), service
    # 5. never the CI roles themselves, whatever the context
    for role in (f"{prefix}-github-deploy", f"{prefix}-github-preview"):
        for action in ("iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy",
                       "iam:DeleteRole", "iam:DetachRolePolicy", "iam:PassRole",
                       "iam:DeleteRolePermissionsBoundary", "iam:TagRole"):  # fmt: skip
            request = Request(action, f"{iam}:role/{role}",
                              {**bounded, "iam:PassedToService": ECS_TASKS})  # fmt: skip
            assert decide(request, policies) == "explicit-deny", (role, action)
    # 6. no IAM action on "*", no wildcard IAM action at all
    for doc in policies:
        for st in doc["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if st["Effect"] == "Allow":
                assert not any(a.startswith("iam:") and "*" in a for a in actions), st["Sid"]
                if st["Resource"] == "*":
                    # "*" only for what AWS cannot scope, or for a create whose request must
                    # carry this stack's tag (the resource has no ARN before it exists).
                    tagged = (st.get("Condition") or {}).get("StringEquals", {}).get(
                        f"aws:RequestTag/{STACK_TAG}"
                    ) == prefix
                    assert tagged or set(actions) <= set(UNSCOPED_ACTIONS), st["Sid"]


def json_services(run: ProgramRun) -> list[str]:
    """The services the registered resources pass roles to (trust policies of service roles)."""
    out = []
    for role in run.of_type(ROLE):
        if is_ci(run, role):
            continue
        for st in json.loads(role.inputs["assumeRolePolicy"])["Statement"]:
            out.append(st["Principal"]["Service"])
    return out


# --- the preview role: refresh with reads only ---------------------------------------------


def access_level(action: str) -> str:
    service, name = action.split(":")
    rows = get_action_data(service, name).get(service) or []
    assert rows, f"{action} is not in policy_sentry's IAM database"
    return str(rows[0]["access_level"])


REFRESH_READS: dict[str, tuple[str, ...]] = {
    "aws:ec2/vpc:Vpc": ("ec2:DescribeVpcs", "ec2:DescribeVpcAttribute"),
    "aws:ec2/subnet:Subnet": ("ec2:DescribeSubnets",),
    "aws:ec2/internetGateway:InternetGateway": ("ec2:DescribeInternetGateways",),
    "aws:ec2/eip:Eip": ("ec2:DescribeAddresses", "ec2:DescribeAddressesAttribute"),
    "aws:ec2/natGateway:NatGateway": ("ec2:DescribeNatGateways",),
    "aws:ec2/routeTable:RouteTable": ("ec2:DescribeRouteTables",),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ("ec2:DescribeRouteTables",),
    "aws:ec2/securityGroup:SecurityGroup": ("ec2:DescribeSecurityGroups",),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("ec2:DescribeSecurityGroupRules",),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ("ec2:DescribeSecurityGroupRules",),
    "aws:ec2/flowLog:FlowLog": ("ec2:DescribeFlowLogs",),
    "aws:ecr/repository:Repository": ("ecr:DescribeRepositories", "ecr:ListTagsForResource"),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": ("ecr:GetLifecyclePolicy",),
    "aws:ecs/cluster:Cluster": ("ecs:DescribeClusters",),
    "aws:iam/role:Role": ("iam:GetRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"),
    "aws:iam/rolePolicy:RolePolicy": ("iam:GetRolePolicy",),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": ("iam:ListAttachedRolePolicies",),
    "aws:iam/policy:Policy": ("iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": ("iam:GetOpenIDConnectProvider",),
    "aws:cloudwatch/logGroup:LogGroup": ("logs:DescribeLogGroups", "logs:ListTagsForResource"),
    "aws:lb/loadBalancer:LoadBalancer": ("elasticloadbalancing:DescribeLoadBalancers",
                                         "elasticloadbalancing:DescribeLoadBalancerAttributes",
                                         "elasticloadbalancing:DescribeTags"),
    "aws:lb/targetGroup:TargetGroup": ("elasticloadbalancing:DescribeTargetGroups",
                                       "elasticloadbalancing:DescribeTargetGroupAttributes"),
    "aws:lb/listener:Listener": ("elasticloadbalancing:DescribeListeners",),
    "aws:lb/listenerRule:ListenerRule": ("elasticloadbalancing:DescribeRules",),
    "aws:ecs/taskDefinition:TaskDefinition": ("ecs:DescribeTaskDefinition",),
    "aws:ecs/service:Service": ("ecs:DescribeServices",),
    "aws:appautoscaling/target:Target": ("application-autoscaling:DescribeScalableTargets",
                                         "application-autoscaling:ListTagsForResource"),
    "aws:appautoscaling/policy:Policy": ("application-autoscaling:DescribeScalingPolicies",),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("cloudwatch:DescribeAlarms",
                                               "cloudwatch:ListTagsForResource"),
    "aws:cloudwatch/dashboard:Dashboard": ("cloudwatch:GetDashboard",),
    "aws:sns/topic:Topic": ("sns:GetTopicAttributes", "sns:ListTagsForResource"),
    "aws:sns/topicSubscription:TopicSubscription": ("sns:GetSubscriptionAttributes",),
    "aws:xray/samplingRule:SamplingRule": ("xray:GetSamplingRules", "xray:ListTagsForResource"),
    "aws:dynamodb/table:Table": ("dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups",
                                 "dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource"),
    "aws:codedeploy/application:Application": ("codedeploy:GetApplication",
                                               "codedeploy:ListTagsForResource"),
    "aws:codedeploy/deploymentGroup:DeploymentGroup": ("codedeploy:GetDeploymentGroup",),
    "aws:codedeploy/deploymentConfig:DeploymentConfig": ("codedeploy:GetDeploymentConfig",),
    "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration": (
        "chatbot:DescribeSlackChannelConfigurations", "chatbot:ListTagsForResource"),
    **dict.fromkeys(("aws:apigatewayv2/api:Api", "aws:apigatewayv2/authorizer:Authorizer",
                     "aws:apigatewayv2/integration:Integration", "aws:apigatewayv2/route:Route",
                     "aws:apigatewayv2/stage:Stage"), ("apigateway:GET",)),
    "aws:lambda/function:Function": ("lambda:GetFunction", "lambda:ListVersionsByFunction",
                                     "lambda:GetFunctionCodeSigningConfig"),
    "aws:lambda/permission:Permission": ("lambda:GetPolicy",),
    # The release resource's `read`: the deployment, its group, what the service serves.
    "pulumi-python:dynamic/deplight:Release": ("codedeploy:GetDeployment",
                                                "codedeploy:GetDeploymentGroup",
                                                "ecs:DescribeServices"),
    "aws:rds/subnetGroup:SubnetGroup": ("rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"),
    "aws:rds/cluster:Cluster": ("rds:DescribeDBClusters", "rds:ListTagsForResource"),
    "aws:rds/clusterInstance:ClusterInstance": ("rds:DescribeDBInstances",
                                                "rds:ListTagsForResource"),
    "aws:elasticache/subnetGroup:SubnetGroup": ("elasticache:DescribeCacheSubnetGroups",
                                                "elasticache:ListTagsForResource"),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        "elasticache:DescribeReplicationGroups", "elasticache:DescribeCacheClusters",
        "elasticache:ListTagsForResource"),
    # The cache AUTH token is computed in the program: its `read` makes no AWS call.
    "pulumi-python:dynamic/data:AuthToken": (),
    "aws:kms/key:Key": KMS_READS,
    "aws:s3/bucket:Bucket": S3_BUCKET_READS,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "s3:GetEncryptionConfiguration",),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
        "s3:GetLifecycleConfiguration",),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ("s3:GetBucketPublicAccessBlock",),
    "aws:s3/bucketPolicy:BucketPolicy": ("s3:GetBucketPolicy",),
    "aws:wafv2/webAcl:WebAcl": WAF_READS[:2],
    "aws:wafv2/webAclAssociation:WebAclAssociation": ("wafv2:GetWebACLForResource",),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": ("ec2:DescribeSecurityGroups",),
}  # fmt: skip

PREVIEW_CANNOT_REFRESH: dict[str, str] = {
    # The preview role never gets a secretsmanager:, ssm: or kms: action (asserted below), so it
    # cannot refresh these; refreshing them needs the deploy role. Known consequence: a
    # `pulumi preview --refresh` by the preview role (pr.yml) fails on a stack with the cache.
    "aws:secretsmanager/secret:Secret": (
        "refresh reads secretsmanager:DescribeSecret and GetResourcePolicy (metadata, but a "
        "secretsmanager: action all the same)"
    ),
    "aws:secretsmanager/secretVersion:SecretVersion": (
        "refresh reads the value itself (secretsmanager:GetSecretValue): the cache AUTH token"
    ),
}
"""Resource types the preview role deliberately cannot refresh, with the reason."""


@pytest.mark.parametrize("strategy", STRATEGIES, ids=str)
@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_preview_role_can_refresh_everything_with_reads_only(
    stack: str, strategy: Strategy
) -> None:
    run = run_with(stack, strategy)
    policies = preview_policies(run)
    assert not set(PREVIEW_CANNOT_REFRESH) & set(REFRESH_READS)
    for res in (r for r in run.resources if r.custom):
        if res.type in PREVIEW_CANNOT_REFRESH:
            continue
        assert res.type in REFRESH_READS, f"{res.type}: add its refresh reads to REFRESH_READS"
        arn = str(res.outputs.get("arn") or "*")
        for action in REFRESH_READS[res.type]:
            assert allowed(Request(action, arn), policies) or allowed(
                Request(action, "*"), policies
            ), (res.name, action)
    lock = {"s3:PutObject", "s3:DeleteObject"}
    for doc in policies:
        for st in doc["Statement"]:
            for action in st["Action"] if isinstance(st["Action"], list) else [st["Action"]]:
                if action in lock:
                    assert st["Resource"].endswith("/.pulumi/locks/*"), st
                    continue
                if "*" in action:
                    verb = action.split(":")[1].rstrip("*")
                    assert verb in ("Describe", "Get", "List"), action
                    continue
                assert access_level(action) in ("Read", "List"), action
    everything = [a for doc in policies for st in doc["Statement"]
                  for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])]  # fmt: skip
    assert not any(a.startswith(("secretsmanager:", "ssm:")) for a in everything)
    # KMS: the stack key's metadata only, never a decryption
    assert {a for a in everything if a.startswith("kms:")} <= set(KMS_READS)


# --- what an outside scanner sees ------------------------------------------------------------


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
@pytest.mark.parametrize("role", ["deploy", "preview"])
def test_cloudsplaining_finds_no_unrestricted_write_escalation_or_permissions_management(
    stack: str, role: str
) -> None:
    run = run_with(stack, run_program_strategy(stack))
    docs = deploy_policies(run) if role == "deploy" else preview_policies(run)
    merged = {"Version": "2012-10-17",
              "Statement": [st for d in docs for st in d["Statement"]]}  # fmt: skip
    results = scan_policy(merged, {})
    findings = {k: v.get("findings") for k, v in results.items() if isinstance(v, dict)}
    assert not findings["InfrastructureModification"], findings["InfrastructureModification"]
    assert not findings["PrivilegeEscalation"], findings["PrivilegeEscalation"]
    assert not findings["ResourceExposure"], findings["ResourceExposure"]
    assert not findings["ServiceWildcard"], findings["ServiceWildcard"]
    # ecr:GetAuthorizationToken is the only credential-returning call (to push images)
    assert set(findings["CredentialsExposure"] or []) <= {"ecr:GetAuthorizationToken"}


def test_tag_scoped_creates_have_no_resource_but_take_the_request_tag() -> None:
    """Each create call allowed on Resource "*" (only with the stack tag in the request) has no
    resource ARN AWS could check, but does take ``aws:RequestTag`` (policy_sentry's table)."""
    for action in TAG_SCOPED_CREATES:
        service, name = action.split(":")
        rows = get_action_data(service, name)[service]
        assert [r["resource_arn_format"] for r in rows] == ["*"], action
        assert any(k.startswith("aws:RequestTag/") for r in rows for k in r["condition_keys"])


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_the_default_security_group_of_another_vpc_is_out_of_reach(stack: str) -> None:
    run = run_with(stack, run_program_strategy(stack))
    policies = deploy_policies(run)
    (vpc,) = run.of_type("aws:ec2/vpc:Vpc")
    sg = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-0123456789abcdef0"
    for action in DEFAULT_SG_ADOPTION:
        assert allowed(Request(action, sg, {"ec2:Vpc": str(vpc.outputs["arn"])}), policies)
        other = f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-0ther0000000000"
        assert not allowed(Request(action, sg, {"ec2:Vpc": other}), policies), action
        assert not allowed(Request(action, sg), policies), action


def test_unscoped_actions_really_offer_no_resource_level_control() -> None:
    """Each action left on Resource "*" has no resource type and no tag condition in
    policy_sentry's table (AWS offers no control)."""
    for action in UNSCOPED_ACTIONS:
        service, name = action.split(":")
        rows = get_action_data(service, name)[service]
        arns = [r["resource_arn_format"] for r in rows if r["resource_arn_format"] != "*"]
        tag_keys = [k for r in rows for k in r["condition_keys"] if "Tag/" in k]
        assert not arns and not tag_keys, (action, arns, tag_keys)


# --- tags: every taggable resource carries the stack tag ------------------------------------


def aws_class(type_: str) -> type | None:
    """The pulumi_aws class of a type token (``aws:ec2/vpc:Vpc`` -> ``pulumi_aws.ec2.Vpc``)."""
    if not type_.startswith("aws:"):
        return None
    module, name = type_.split(":")[1].split("/")[0], type_.split(":")[2]
    # Python keywords get a trailing underscore (aws:lambda/... -> pulumi_aws.lambda_)
    return getattr(getattr(pulumi_aws, module, None) or getattr(pulumi_aws, f"{module}_"), name)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=str)
@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_every_taggable_resource_carries_the_stack_tag(stack: str, strategy: Strategy) -> None:
    run = run_with(stack, strategy)
    taggable = 0
    for res in (r for r in run.resources if r.custom):
        cls = aws_class(res.type)
        if cls is None or "tags" not in inspect.signature(cls._internal_init).parameters:
            continue
        taggable += 1
        tags = dict(res.inputs.get("tags") or {})
        assert tags.get(STACK_TAG) == run.settings.prefix, f"{res.type} {res.name}: {tags}"
    assert taggable > 20
