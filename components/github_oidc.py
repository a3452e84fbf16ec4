"""The GithubOidc component: keyless CI access for one environment.

GitHub Actions exchanges its OIDC token for short-lived AWS credentials: no long-lived keys. The
trust policies are the security boundary, so they are built by pure functions and tested by
evaluating them against real ``sub``/``aud`` claims (``tests/test_github_oidc.py``).

The deploy role can run ``pulumi up`` of this stack and a release, and nothing outside this stack:
resources are addressed by ARNs with the stack prefix or, where AWS names them by generated ids,
by the stack tag (``deplight:stack``); roles only with the stack's permissions boundary
(``components.iam``). The preview role can only read (and take the state lock), for PR previews
and the policy check. ``tests/test_iam_permissions.py`` evaluates both against every resource the
program registers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.edge import log_bucket_name
from components.iam import (
    ECS_TASKS,
    STACK_TAG,
    Grants,
    Scope,
    boundary_arn,
    request_tagged,
    resource_tagged,
    stack_tags,
)
from components.settings import GithubSettings

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
AUDIENCE = "sts.amazonaws.com"
PULL_REQUEST_SUBJECT = "pull_request"


def subject_claims(repository: str, subjects: Sequence[str]) -> list[str]:
    """``repo:<owner>/<name>:<subject>`` for each allowed subject."""
    return [f"repo:{repository}:{s}" for s in subjects]


def trust_policy(provider_arn: str, repository: str, subjects: Sequence[str]) -> dict[str, Any]:
    """Who may assume a role: GitHub's OIDC provider, this audience, these subjects only.

    ``StringEquals`` pins exact subjects; subjects with a wildcard (``ref:refs/tags/v*``) go to a
    ``StringLike`` in a *separate* statement, so the exact ones are never loosened. Never
    ``ForAllValues:`` (it matches an empty claim set) and never a wildcard owner or repository.
    """
    exact = [c for c in subject_claims(repository, subjects) if "*" not in c]
    like = [c for c in subject_claims(repository, subjects) if "*" in c]
    statements = []
    for operator, claims in (("StringEquals", exact), ("StringLike", like)):
        if not claims:
            continue
        condition: dict[str, dict[str, Any]] = {
            "StringEquals": {f"{GITHUB_OIDC_HOST}:aud": AUDIENCE}
        }
        condition.setdefault(operator, {})[f"{GITHUB_OIDC_HOST}:sub"] = (
            claims[0] if len(claims) == 1 else claims
        )
        statements.append(
            {
                "Sid": "GithubActions" + ("Exact" if operator == "StringEquals" else "Pattern"),
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


# Every EC2 resource type the Network component creates, by the ARN type name IAM uses.
NETWORK_TYPES = (
    "vpc", "subnet", "internet-gateway", "elastic-ip", "natgateway", "route-table",
    "security-group", "security-group-rule", "vpc-flow-log",
)  # fmt: skip
# The EC2 create calls and the one resource type each creates: tagged at creation (RequestTag).
NETWORK_CREATES = {
    "ec2:CreateVpc": "vpc",
    "ec2:CreateSubnet": "subnet",
    "ec2:CreateInternetGateway": "internet-gateway",
    "ec2:AllocateAddress": "elastic-ip",
    "ec2:CreateNatGateway": "natgateway",
    "ec2:CreateRouteTable": "route-table",
    "ec2:CreateSecurityGroup": "security-group",
    "ec2:AuthorizeSecurityGroupIngress": "security-group-rule",
    "ec2:AuthorizeSecurityGroupEgress": "security-group-rule",
    "ec2:CreateFlowLogs": "vpc-flow-log",
}
# Calls on network resources that already exist (and already carry this stack's tag); the
# create calls are here too because they also name existing resources (CreateSubnet: the VPC).
NETWORK_CHANGES = (
    "ec2:CreateSubnet", "ec2:CreateNatGateway", "ec2:CreateRouteTable", "ec2:CreateSecurityGroup",
    "ec2:CreateFlowLogs", "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
    "ec2:DeleteVpc", "ec2:ModifyVpcAttribute", "ec2:DescribeVpcAttribute", "ec2:DeleteSubnet", "ec2:ModifySubnetAttribute",
    "ec2:DeleteInternetGateway", "ec2:AttachInternetGateway", "ec2:DetachInternetGateway",
    "ec2:ReleaseAddress", "ec2:DeleteNatGateway", "ec2:DeleteRouteTable", "ec2:CreateRoute",
    "ec2:DeleteRoute", "ec2:ReplaceRoute", "ec2:AssociateRouteTable",
    "ec2:DisassociateRouteTable", "ec2:DeleteSecurityGroup", "ec2:RevokeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupEgress", "ec2:ModifySecurityGroupRules",
    "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
    "ec2:UpdateSecurityGroupRuleDescriptionsEgress", "ec2:DeleteFlowLogs", "ec2:CreateTags",
    "ec2:DeleteTags",
)  # fmt: skip
# What AWS offers only on Resource "*" (no resource-level permission, no tag condition), each
# read-only except codedeploy:StopDeployment, which the rollback fast path needs, and
# elasticloadbalancing:SetWebACL, which AWS checks besides wafv2:AssociateWebACL (scoped to this
# stack's web ACL and load balancer) when a web ACL is associated (only with ``ingress.waf``).
UNSCOPED_ACTIONS = (
    "sts:GetCallerIdentity",
    "ecr:GetAuthorizationToken",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTaskDefinitions",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeVpcs",
    "ec2:DescribeSubnets",
    "ec2:DescribeRouteTables",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeNatGateways",
    "ec2:DescribeAddresses",
    "ec2:DescribeAddressesAttribute",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSecurityGroupRules",
    "ec2:DescribeFlowLogs",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeTags",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeListenerAttributes",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetHealth",
    "logs:DescribeLogGroups",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "xray:GetSamplingRules",
    "codedeploy:StopDeployment",
    "chatbot:DescribeSlackChannelConfigurations",
    "chatbot:ListTagsForResource",
    "rds:DescribeDBEngineVersions",
    "rds:DescribeOrderableDBInstanceOptions",
    "elasticache:DescribeCacheEngineVersions",
    "elasticloadbalancing:SetWebACL",
)
WAF_ONLY_UNSCOPED = ("elasticloadbalancing:SetWebACL",)
TAG_SCOPED_CREATES = ("kms:CreateKey",)
"""Create calls AWS authorizes only on Resource "*" but with the request's tags: allowed only
when the request tags the new resource as this stack's (``aws:RequestTag``)."""
KMS_KEY_ACTIONS = (
    "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags",
    "kms:EnableKeyRotation", "kms:PutKeyPolicy", "kms:UpdateKeyDescription", "kms:TagResource",
    "kms:UntagResource", "kms:ScheduleKeyDeletion",
    # ECR and DynamoDB use the key on the caller's behalf: they create grants when the
    # repository or table is created, and the audit table's reads and writes decrypt and encrypt.
    "kms:CreateGrant", "kms:RetireGrant", "kms:Decrypt", "kms:GenerateDataKey",
)  # fmt: skip
S3_BUCKET_READS = (
    "s3:ListBucket", "s3:GetBucketLocation", "s3:GetBucketPolicy", "s3:GetBucketAcl",
    "s3:GetBucketCORS", "s3:GetBucketWebsite", "s3:GetBucketVersioning",
    "s3:GetAccelerateConfiguration", "s3:GetBucketRequestPayment", "s3:GetBucketLogging",
    "s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration",
    "s3:GetEncryptionConfiguration", "s3:GetBucketObjectLockConfiguration", "s3:GetBucketTagging",
    "s3:GetBucketPublicAccessBlock", "s3:GetBucketOwnershipControls",
)  # fmt: skip
"""What the provider reads to refresh a bucket and its configuration resources."""
S3_BUCKET_WRITES = (
    "s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucketTagging", "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration", "s3:PutBucketPublicAccessBlock", "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
)  # fmt: skip
WAF_READS = ("wafv2:GetWebACL", "wafv2:ListTagsForResource", "wafv2:GetWebACLForResource")
WAF_WRITES = (
    "wafv2:CreateWebACL", "wafv2:UpdateWebACL", "wafv2:DeleteWebACL", "wafv2:TagResource",
    "wafv2:UntagResource", "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL",
)  # fmt: skip
KMS_READS = ("kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
             "kms:ListResourceTags")  # fmt: skip
"""The key's metadata (never a decryption)."""
DEFAULT_SG_ADOPTION = (
    "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:CreateTags",
)  # fmt: skip
"""What taking a VPC's default security group under management calls (it carries no stack tag
until then)."""


def deploy_permissions(
    *, prefix: str, region: str, account: str, partition: str = "aws",
    state_bucket: str | None = None, own_role_arns: Sequence[str] = (),
    boundary_arn: str, pass_to_services: Sequence[str], attachable_policies: Sequence[str] = (),
    grants: Sequence[Grants] = (),
    kms_key: bool = False, access_log_bucket: bool = False, waf: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """What ``pulumi up`` of this stack and a release need, and nothing outside this stack.

    ``kms_key``, ``access_log_bucket`` and ``waf`` add what the stack's customer-managed key
    (tag-scoped: KMS names keys by generated ids), its access log bucket and its web ACL need.

    Resources are named ``<prefix>`` or ``<prefix>-...``; where AWS names them by generated ids
    (EC2, Application Auto Scaling), calls are conditioned on the stack tag
    (``deplight:stack = <prefix>``): ``aws:RequestTag`` to create, ``aws:ResourceTag`` to change.
    Roles may be created or changed only with the stack's permissions boundary
    (``boundary_arn``); the boundary itself, the CI roles (``own_role_arns``) and their managed
    policies are out of reach. Only :data:`UNSCOPED_ACTIONS` use ``Resource: "*"``.
    """
    arn = f"arn:{partition}"
    r = f"{region}:{account}"
    role = f"{arn}:iam::{account}:role"
    tag_key = STACK_TAG
    request_tag = request_tagged(prefix)
    resource_tag = resource_tagged(prefix)
    ecs_namespace = {"application-autoscaling:service-namespace": "ecs"}

    def named(head: str, tail: str = "") -> list[str]:
        """``<head><prefix><tail>`` and ``<head><prefix>-*<tail>``: this stack's names only
        (a bare ``<prefix>*`` would also match ``web-prod2``)."""
        return [f"{head}{prefix}{tail}", f"{head}{prefix}-*{tail}"]

    def ec2(type_: str) -> str:
        return f"{arn}:ec2:{r}:{type_}/*"

    scalable_target = f"{arn}:application-autoscaling:{r}:scalable-target/*"
    elb = f"{arn}:elasticloadbalancing:{r}"
    st: list[dict[str, Any]] = [
        {
            # See UNSCOPED_ACTIONS: AWS accepts only "*" for these.
            "Sid": "NoResourceLevelPermissions",
            "Effect": "Allow",
            "Action": [a for a in UNSCOPED_ACTIONS if waf or a not in WAF_ONLY_UNSCOPED],
            "Resource": "*",
        },
        *[
            {
                # Each create call may only create its own type, tagged as this stack's.
                "Sid": "Create"
                + "".join(p.title() for p in type_.split("-"))
                + "TaggedAsThisStack",
                "Effect": "Allow",
                "Action": sorted(a for a, t in NETWORK_CREATES.items() if t == type_),
                "Resource": ec2(type_),
                "Condition": request_tag,
            }
            for type_ in dict.fromkeys(NETWORK_CREATES.values())
        ],
        {
            # Tag-on-create: only together with one of the create calls above.
            "Sid": "TagNetworkOnCreate",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": [ec2(t) for t in NETWORK_TYPES],
            "Condition": {
                "StringEquals": {
                    "ec2:CreateAction": sorted({a.split(":")[1] for a in NETWORK_CREATES}),
                    f"aws:RequestTag/{tag_key}": prefix,
                }
            },
        },
        {
            "Sid": "ChangeOnlyThisStacksNetwork",
            "Effect": "Allow",
            "Action": list(NETWORK_CHANGES),
            "Resource": [ec2(t) for t in NETWORK_TYPES],
            "Condition": resource_tag,
        },
        {
            "Sid": "ThisStacksScalableTargets",
            "Effect": "Allow",
            "Action": [
                "application-autoscaling:RegisterScalableTarget",
                "application-autoscaling:TagResource",
            ],
            "Resource": scalable_target,
            "Condition": {"StringEquals": {**request_tag["StringEquals"], **ecs_namespace}},
        },
        {
            "Sid": "ChangeThisStacksScaling",
            "Effect": "Allow",
            "Action": [
                "application-autoscaling:RegisterScalableTarget",
                "application-autoscaling:DeregisterScalableTarget",
                "application-autoscaling:PutScalingPolicy",
                "application-autoscaling:DeleteScalingPolicy",
                "application-autoscaling:TagResource",
                "application-autoscaling:UntagResource",
                "application-autoscaling:ListTagsForResource",
            ],
            "Resource": scalable_target,
            "Condition": {"StringEquals": {**resource_tag["StringEquals"], **ecs_namespace}},
        },
        {
            "Sid": "ThisRepository",
            "Effect": "Allow",
            "Action": [
                "ecr:CreateRepository",
                "ecr:DeleteRepository",
                "ecr:DescribeRepositories",
                "ecr:DescribeImages",
                "ecr:ListImages",
                "ecr:BatchCheckLayerAvailability",
                "ecr:InitiateLayerUpload",
                "ecr:UploadLayerPart",
                "ecr:CompleteLayerUpload",
                "ecr:PutImage",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:PutLifecyclePolicy",
                "ecr:GetLifecyclePolicy",
                "ecr:DeleteLifecyclePolicy",
                "ecr:PutImageScanningConfiguration",
                "ecr:PutImageTagMutability",
                "ecr:TagResource",
                "ecr:UntagResource",
                "ecr:ListTagsForResource",
            ],
            "Resource": f"{arn}:ecr:{r}:repository/{prefix}",
        },
        {
            "Sid": "ThisClusterAndService",
            "Effect": "Allow",
            "Action": [
                "ecs:CreateCluster",
                "ecs:DeleteCluster",
                "ecs:DescribeClusters",
                "ecs:UpdateCluster",
                "ecs:UpdateClusterSettings",
                "ecs:RegisterTaskDefinition",
                "ecs:CreateService",
                "ecs:UpdateService",
                "ecs:DeleteService",
                "ecs:DescribeServices",
                "ecs:ListServiceDeployments",
                "ecs:DescribeServiceDeployments",
                "ecs:StopServiceDeployment",
                "ecs:DescribeTasks",
                "ecs:ListTasks",
                "ecs:TagResource",
                "ecs:UntagResource",
                "ecs:ListTagsForResource",
            ],
            "Resource": [
                f"{arn}:ecs:{r}:cluster/{prefix}",
                f"{arn}:ecs:{r}:service/{prefix}/*",
                f"{arn}:ecs:{r}:service-deployment/{prefix}/*",
                f"{arn}:ecs:{r}:task/{prefix}/*",
                f"{arn}:ecs:{r}:container-instance/{prefix}/*",
                f"{arn}:ecs:{r}:task-definition/{prefix}:*",
            ],
        },
        {
            "Sid": "ThisLoadBalancer",
            "Effect": "Allow",
            "Action": [
                "elasticloadbalancing:CreateLoadBalancer",
                "elasticloadbalancing:DeleteLoadBalancer",
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:SetSubnets",
                "elasticloadbalancing:CreateTargetGroup",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:DeleteListener",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:ModifyListenerAttributes",
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:DeleteRule",
                "elasticloadbalancing:ModifyRule",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:RemoveTags",
            ],
            "Resource": [
                f"{elb}:loadbalancer/app/{prefix}-*",
                f"{elb}:targetgroup/{prefix}-*",
                f"{elb}:listener/app/{prefix}-*",
                f"{elb}:listener-rule/app/{prefix}-*",
            ],
        },
        {
            "Sid": "ThisDeploymentGroup",
            "Effect": "Allow",
            "Action": [
                "codedeploy:CreateApplication",
                "codedeploy:DeleteApplication",
                "codedeploy:GetApplication",
                "codedeploy:CreateDeploymentGroup",
                "codedeploy:UpdateDeploymentGroup",
                "codedeploy:DeleteDeploymentGroup",
                "codedeploy:GetDeploymentGroup",
                "codedeploy:CreateDeployment",
                "codedeploy:GetDeployment",
                "codedeploy:ListDeployments",
                "codedeploy:ListDeploymentTargets",
                "codedeploy:GetDeploymentTarget",
                "codedeploy:CreateDeploymentConfig",
                "codedeploy:DeleteDeploymentConfig",
                "codedeploy:GetDeploymentConfig",
                "codedeploy:RegisterApplicationRevision",
                "codedeploy:GetApplicationRevision",
                "codedeploy:TagResource",
                "codedeploy:UntagResource",
                "codedeploy:ListTagsForResource",
            ],
            "Resource": [
                *named(f"{arn}:codedeploy:{r}:application:"),
                *named(f"{arn}:codedeploy:{r}:deploymentgroup:", "/*"),
                f"{arn}:codedeploy:{r}:deploymentconfig:{prefix}-*",
                f"{arn}:codedeploy:{r}:deploymentconfig:CodeDeployDefault.*",
            ],
        },
        {
            # Roles (and their policies) only with this stack's boundary: whatever a role the
            # deploy role creates is given, it can do no more than the boundary allows. Roles
            # without it (the CI roles, anything outside this stack) are out of reach.
            "Sid": "RolesOnlyWithTheBoundary",
            "Effect": "Allow",
            "Action": [
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:PutRolePermissionsBoundary",
                "iam:UpdateAssumeRolePolicy",
            ],
            "Resource": f"{role}/{prefix}-*",
            "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary_arn}},
        },
        {
            "Sid": "ReadAndTagThisStacksRoles",
            "Effect": "Allow",
            "Action": [
                "iam:GetRole",
                "iam:UpdateRole",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
            ],
            "Resource": f"{role}/{prefix}-*",
        },
        {
            "Sid": "ReadThisStacksPolicies",
            "Effect": "Allow",
            "Action": ["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions"],
            "Resource": f"{arn}:iam::{account}:policy/{prefix}-*",
        },
    ]
    if attachable_policies:
        st.append(
            {
                # Only the AWS-managed policies this stack's strategy attaches, and only to a
                # role with the boundary: never AdministratorAccess, never a role outside it.
                "Sid": "AttachOnlyTheStrategysManagedPolicies",
                "Effect": "Allow",
                "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                "Resource": f"{role}/{prefix}-*",
                "Condition": {
                    "ArnEquals": {
                        "iam:PolicyARN": [f"{arn}:iam::aws:policy/{p}" for p in attachable_policies]
                    },
                    "StringEquals": {"iam:PermissionsBoundary": boundary_arn},
                },
            }
        )
    st += [
        {
            "Sid": "PassThisStacksRolesToItsServicesOnly",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": f"{role}/{prefix}-*",
            "Condition": {"StringEquals": {"iam:PassedToService": sorted(pass_to_services)}},
        },
        {
            "Sid": "ThisStacksObservability",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:PutRetentionPolicy",
                "logs:DeleteRetentionPolicy",
                "logs:AssociateKmsKey",
                "logs:DisassociateKmsKey",
                "logs:TagResource",
                "logs:UntagResource",
                "logs:ListTagsForResource",
                # The older log-group tagging API some provider versions still call.
                "logs:TagLogGroup",
                "logs:UntagLogGroup",
                "logs:ListTagsLogGroup",
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:DeleteAlarms",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:TagResource",
                "cloudwatch:UntagResource",
                "cloudwatch:ListTagsForResource",
                "cloudwatch:PutDashboard",
                "cloudwatch:GetDashboard",
                "cloudwatch:DeleteDashboards",
                "sns:CreateTopic",
                "sns:DeleteTopic",
                "sns:GetTopicAttributes",
                "sns:SetTopicAttributes",
                "sns:Subscribe",
                "sns:Unsubscribe",
                "sns:TagResource",
                "sns:UntagResource",
                "sns:ListTagsForResource",
                "xray:CreateSamplingRule",
                "xray:UpdateSamplingRule",
                "xray:DeleteSamplingRule",
                "xray:TagResource",
                "xray:UntagResource",
                "xray:ListTagsForResource",
            ],
            "Resource": [
                *named(f"{arn}:logs:{r}:log-group:/ecs/"),
                *named(f"{arn}:logs:{r}:log-group:/ecs/", ":*"),
                f"{arn}:logs:{r}:log-group:/deplight/{prefix}/*",
                f"{arn}:cloudwatch:{r}:alarm:{prefix}-*",
                # The alarms target tracking creates for this stack's service.
                f"{arn}:cloudwatch:{r}:alarm:TargetTracking-service/{prefix}/*",
                f"{arn}:cloudwatch::{account}:dashboard/{prefix}",
                f"{arn}:sns:{r}:{prefix}-*",
                *named(f"{arn}:xray:{r}:sampling-rule/"),
            ],
        },
        {
            # Subscriptions are addressed by their topic's ARN plus an id.
            "Sid": "ThisStacksSubscriptions",
            "Effect": "Allow",
            "Action": ["sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes"],
            "Resource": f"{arn}:sns:{r}:{prefix}-*:*",
        },
        {
            "Sid": "ThisStacksAuditTable",
            "Effect": "Allow",
            "Action": [
                "dynamodb:CreateTable",
                "dynamodb:DeleteTable",
                "dynamodb:DescribeTable",
                "dynamodb:UpdateTable",
                "dynamodb:DescribeContinuousBackups",
                "dynamodb:UpdateContinuousBackups",
                "dynamodb:DescribeTimeToLive",
                "dynamodb:TagResource",
                "dynamodb:UntagResource",
                "dynamodb:ListTagsOfResource",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:GetItem",
                "dynamodb:Query",
            ],
            "Resource": [
                f"{arn}:dynamodb:{r}:table/{prefix}-*",
                f"{arn}:dynamodb:{r}:table/{prefix}-*/index/*",
            ],
        },
    ]
    scope = Scope(prefix, region, account, partition)
    for grant in grants:
        st.extend(grant.deploy(scope))
    st += [
        {
            # Nobody in CI removes or rewrites a boundary, or the stack's managed policies (the
            # boundary and the CI roles' own policies).
            "Sid": "NeverTheBoundaryOrTheStacksPolicies",
            "Effect": "Deny",
            "Action": [
                "iam:DeleteRolePermissionsBoundary",
                "iam:CreatePolicy",
                "iam:CreatePolicyVersion",
                "iam:SetDefaultPolicyVersion",
                "iam:DeletePolicyVersion",
                "iam:DeletePolicy",
            ],
            "Resource": "*",
        },
    ]
    if kms_key:
        key = f"{arn}:kms:{r}:key/*"
        st += [
            {
                # See TAG_SCOPED_CREATES: the key is created tagged as this stack's, or not at all.
                "Sid": "CreateKeysTaggedAsThisStack",
                "Effect": "Allow",
                "Action": list(TAG_SCOPED_CREATES),
                "Resource": "*",
                "Condition": request_tag,
            },
            {
                "Sid": "TagKeysOnCreate",
                "Effect": "Allow",
                "Action": "kms:TagResource",
                "Resource": key,
                "Condition": request_tag,
            },
            {
                "Sid": "ThisStacksKeys",
                "Effect": "Allow",
                "Action": list(KMS_KEY_ACTIONS),
                "Resource": key,
                "Condition": resource_tag,
            },
        ]
    if access_log_bucket:
        st.append(
            {
                "Sid": "ThisStacksAccessLogBucket",
                "Effect": "Allow",
                "Action": [*S3_BUCKET_WRITES, *S3_BUCKET_READS],
                "Resource": f"{arn}:s3:::{log_bucket_name(prefix, account)}",
            }
        )
    if waf:
        st.append(
            {
                # Associating names both the web ACL and the load balancer.
                "Sid": "ThisStacksWebAcl",
                "Effect": "Allow",
                "Action": [*WAF_WRITES, *WAF_READS],
                "Resource": [
                    *named(f"{arn}:wafv2:{r}:regional/webacl/", "/*"),
                    f"{elb}:loadbalancer/app/{prefix}-*",
                ],
            }  # fmt: skip
        )
    if own_role_arns:
        # The CI roles must not rewrite their own trust or permissions: those change only
        # through an administrator's `pulumi up`.
        st.append(
            {
                "Sid": "NeverEditTheCiRolesThemselves",
                "Effect": "Deny",
                "Action": [
                    "iam:PutRolePolicy",
                    "iam:DeleteRolePolicy",
                    "iam:AttachRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:DeleteRole",
                    "iam:UpdateRole",
                    "iam:PutRolePermissionsBoundary",
                    "iam:DeleteRolePermissionsBoundary",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:PassRole",
                ],
                "Resource": list(own_role_arns),
            }
        )
    if state_bucket:
        st.append(
            {
                "Sid": "PulumiStateBucket",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": f"{arn}:s3:::{state_bucket}",
            }
        )
        st.append(
            {
                "Sid": "PulumiStateObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": f"{arn}:s3:::{state_bucket}/*",
            }
        )
    return {"Version": "2012-10-17", "Statement": st}


MANAGED_POLICY_LIMIT = 6144
"""IAM's size limit of a customer-managed policy document, in characters without whitespace."""


def policy_size(doc: Mapping[str, Any]) -> int:
    """A document's size as IAM counts it (whitespace excluded)."""
    return len(re.sub(r"\s", "", json.dumps(doc, separators=(",", ":"))))


def split_policy(doc: Mapping[str, Any], limit: int = MANAGED_POLICY_LIMIT) -> list[dict[str, Any]]:
    """Splits a document into as few documents of at most ``limit`` characters as first-fit
    packing gives, keeping statement order within each (pure: the count is known at preview).
    A Deny statement holds in whichever policy of the role it sits."""
    parts: list[list[Mapping[str, Any]]] = []
    for statement in doc["Statement"]:
        if policy_size({"Version": "2012-10-17", "Statement": [statement]}) > limit:
            raise ValueError(f"statement {statement.get('Sid')} alone exceeds {limit} characters")
        for part in parts:
            if policy_size({"Version": "2012-10-17", "Statement": [*part, statement]}) <= limit:
                part.append(statement)
                break
        else:
            parts.append([statement])
    return [{"Version": "2012-10-17", "Statement": list(p)} for p in parts]


def default_sg_permissions(*, vpc_arn: str, region: str, account: str, partition: str = "aws"
                           ) -> dict[str, Any]:  # fmt: skip
    """The deploy role may take the stack VPC's default security group under management.

    A VPC's default group is created by AWS without the stack tag, so the tag conditions of
    :func:`deploy_permissions` cannot reach it; ``ec2:Vpc`` names this stack's VPC instead (its
    ARN is known only once the VPC exists, hence a policy of its own).
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AdoptThisStacksDefaultSecurityGroup",
                "Effect": "Allow",
                "Action": list(DEFAULT_SG_ADOPTION),
                "Resource": f"arn:{partition}:ec2:{region}:{account}:security-group/*",
                "Condition": {"ArnEquals": {"ec2:Vpc": vpc_arn}},
            }
        ],
    }


def preview_permissions(
    *,
    partition: str = "aws",
    state_bucket: str | None = None,
    bucket: str | None = None,
    grants: Sequence[Grants] = (),
) -> dict[str, Any]:
    """Read-only: what ``pulumi preview --refresh`` and the policy check read. No secret
    values (no ``secretsmanager:GetSecretValue``, no ``ssm:GetParameter``), no writes except the
    state lock."""
    arn = f"arn:{partition}"
    st: list[dict[str, Any]] = [
        {
            # Describe/List/Get of the services the stack uses; read-only APIs offer little or no
            # resource-level scoping, and they reveal no secret values.
            "Sid": "ReadStackServices",
            "Effect": "Allow",
            "Action": [
                "sts:GetCallerIdentity",
                "ec2:Describe*",
                "ecs:Describe*",
                "ecs:List*",
                "ecr:DescribeRepositories",
                "ecr:DescribeImages",
                "ecr:GetLifecyclePolicy",
                "ecr:ListTagsForResource",
                "elasticloadbalancing:Describe*",
                "logs:DescribeLogGroups",
                "logs:ListTagsForResource",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:GetDashboard",
                "cloudwatch:ListTagsForResource",
                "sns:GetTopicAttributes",
                "sns:GetSubscriptionAttributes",
                "sns:ListTagsForResource",
                "dynamodb:DescribeTable",
                "dynamodb:DescribeContinuousBackups",
                "dynamodb:DescribeTimeToLive",
                "dynamodb:ListTagsOfResource",
                "xray:GetSamplingRules",
                "xray:ListTagsForResource",
                "codedeploy:GetApplication",
                # the release resource's refresh reads its deployment
                "codedeploy:GetDeployment",
                "codedeploy:GetDeploymentGroup",
                "codedeploy:GetDeploymentConfig",
                "codedeploy:ListTagsForResource",
                # the key's metadata and the web ACL (no decryption)
                *KMS_READS,
                *WAF_READS,
                "application-autoscaling:Describe*",
                "application-autoscaling:ListTagsForResource",
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:GetPolicy",
                "iam:GetPolicyVersion",
                "iam:ListPolicyVersions",
                "iam:GetOpenIDConnectProvider",
                *sorted({a for g in grants for a in g.preview_reads}),
            ],
            "Resource": "*",
        }
    ]
    if bucket:
        st.append(
            {
                "Sid": "ReadTheAccessLogBucketsConfiguration",
                "Effect": "Allow",
                "Action": list(S3_BUCKET_READS),
                "Resource": f"{arn}:s3:::{bucket}",
            }
        )
    if state_bucket:
        st.append(
            {
                "Sid": "ReadPulumiState",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject"],
                "Resource": [f"{arn}:s3:::{state_bucket}", f"{arn}:s3:::{state_bucket}/*"],
            }
        )
        st.append(
            {
                # A self-managed backend takes the stack lock for a preview: lock files only.
                "Sid": "TakeThePulumiLock",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:DeleteObject"],
                "Resource": f"{arn}:s3:::{state_bucket}/.pulumi/locks/*",
            }
        )
    return {"Version": "2012-10-17", "Statement": st}


@dataclass(frozen=True, kw_only=True)
class GithubOidcArgs:
    """Inputs of :class:`GithubOidc`."""

    prefix: str
    """Name prefix (``<service>-<stack>``); every stack resource name starts with it."""
    stack: str
    """Stack name (the GitHub environment by default)."""
    github: GithubSettings
    """Repository, OIDC provider choice, session length, state bucket."""
    subjects: Sequence[str]
    """Every ``sub`` suffix the deploy role trusts (``Settings.deploy_subjects``)."""
    region: str
    """Region of the stack's resources."""
    pass_to_services: Sequence[str] = (ECS_TASKS,)
    """Services the stack passes its roles to (:func:`components.iam.passed_services`)."""
    attachable_policies: Sequence[str] = ()
    """AWS-managed policies the stack attaches (:func:`components.iam.attached_policies`)."""
    grants: Sequence[Grants] = ()
    """What the enabled optional components add (:class:`components.iam.Grants`)."""
    vpc_arn: pulumi.Input[str] | None = None
    """The stack's VPC: the deploy role may take its default security group under management."""
    kms_key: bool = False
    """The stack has its own KMS key (``observability.customer_managed_key``)."""
    access_log_bucket: bool = False
    """The stack has its own ALB access log bucket."""
    waf: bool = False
    """The stack has a WAF web ACL on its ALB (``ingress.waf``)."""


class GithubOidc(pulumi.ComponentResource):
    """GitHub's OIDC provider (or the account's existing one), the deploy role, the preview role.

    The CI roles are the only roles of the stack without the permissions boundary: they are
    created by an administrator, and the deploy role may touch only roles that carry the
    boundary, so it can never change them (an explicit deny says so again).
    """

    provider_arn: pulumi.Output[str]
    """IAM OIDC provider for token.actions.githubusercontent.com."""
    deploy_role_arn: pulumi.Output[str]
    """Role the deploy workflows assume for this environment."""
    preview_role_arn: pulumi.Output[str] | None
    """Read-only role PR previews assume (``None`` when ``github.preview_role`` is off)."""

    def __init__(
        self, name: str, args: GithubOidcArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deplight:iam:GithubOidc", name, None, opts)
        gh = args.github
        child = pulumi.ResourceOptions(parent=self)
        tags = stack_tags(args.prefix)
        account = aws.get_caller_identity().account_id
        partition = aws.get_partition().partition

        if gh.creates_oidc_provider:
            provider = aws.iam.OpenIdConnectProvider(
                f"{name}-github-oidc",
                url=GITHUB_OIDC_URL,
                client_id_lists=[AUDIENCE],
                # No thumbprints: AWS validates GitHub's certificate with its own trusted CAs.
                tags=tags,
                # The account's only provider: the other stacks' roles trust it, so destroying
                # this stack must not take it away (delete it by hand with the last stack).
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            self.provider_arn = provider.arn
        else:
            self.provider_arn = pulumi.Output.from_input(gh.oidc_provider)

        deploy_name = f"{args.prefix}-github-deploy"
        preview_name = f"{args.prefix}-github-preview"
        own = [f"arn:{partition}:iam::{account}:role/{deploy_name}"]
        if gh.preview_role:
            own.append(f"arn:{partition}:iam::{account}:role/{preview_name}")

        subjects = list(args.subjects)
        deploy = aws.iam.Role(
            f"{name}-github-deploy",
            name=deploy_name,
            description=f"GitHub Actions deploys of {args.stack} from {gh.repository}",
            assume_role_policy=self.provider_arn.apply(
                lambda p: json.dumps(trust_policy(p, gh.repository, subjects))
            ),
            max_session_duration=gh.session_duration_seconds,
            tags=tags,
            opts=child,
        )
        # More than one inline policy can hold (10,240 characters per role): managed policies of
        # at most 6,144 characters each, attached to the role.
        documents = split_policy(
            deploy_permissions(
                prefix=args.prefix, region=args.region, account=account, partition=partition,
                state_bucket=gh.state_bucket, own_role_arns=own,
                boundary_arn=boundary_arn(args.prefix, account, partition),
                pass_to_services=args.pass_to_services,
                attachable_policies=args.attachable_policies, grants=args.grants,
                kms_key=args.kms_key, access_log_bucket=args.access_log_bucket, waf=args.waf,
            )
        )  # fmt: skip
        for i, document in enumerate(documents, start=1):
            policy = aws.iam.Policy(
                f"{name}-github-deploy-{i}",
                name=f"{deploy_name}-{i}",
                description=f"GitHub Actions deploys of {args.stack}, part {i}/{len(documents)}",
                policy=json.dumps(document),
                tags=tags,
                opts=child,
            )
            aws.iam.RolePolicyAttachment(
                f"{name}-github-deploy-{i}-attachment",
                role=deploy.name,
                policy_arn=policy.arn,
                opts=child,
            )
        if args.vpc_arn is not None:
            vpc_policy = aws.iam.Policy(
                f"{name}-github-deploy-vpc",
                name=f"{deploy_name}-vpc",
                description=f"GitHub Actions deploys of {args.stack}: this stack's VPC",
                policy=pulumi.Output.from_input(args.vpc_arn).apply(
                    lambda vpc: json.dumps(
                        default_sg_permissions(
                            vpc_arn=vpc, region=args.region, account=account, partition=partition
                        )
                    )
                ),  # fmt: skip
                tags=tags,
                opts=child,
            )
            aws.iam.RolePolicyAttachment(
                f"{name}-github-deploy-vpc-attachment",
                role=deploy.name,
                policy_arn=vpc_policy.arn,
                opts=child,
            )
        self.deploy_role_arn = deploy.arn
        self.preview_role_arn = None
        if gh.preview_role:
            preview = aws.iam.Role(
                f"{name}-github-preview",
                name=preview_name,
                description=f"Read-only PR previews of {args.stack} from {gh.repository}",
                assume_role_policy=self.provider_arn.apply(
                    lambda p: json.dumps(trust_policy(p, gh.repository, [PULL_REQUEST_SUBJECT]))
                ),
                max_session_duration=3600,
                inline_policies=[
                    aws.iam.RoleInlinePolicyArgs(
                        name="preview",
                        policy=json.dumps(
                            preview_permissions(
                                partition=partition,
                                state_bucket=gh.state_bucket,
                                bucket=log_bucket_name(args.prefix, account)
                                if args.access_log_bucket
                                else None,
                                grants=args.grants,
                            )  # fmt: skip
                        ),
                    )
                ],
                tags=tags,
                opts=child,
            )
            self.preview_role_arn = preview.arn
        self.register_outputs(
            {
                "provider_arn": self.provider_arn,
                "deploy_role_arn": self.deploy_role_arn,
                "preview_role_arn": self.preview_role_arn,
            }
        )
