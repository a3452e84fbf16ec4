"""The GithubOidc component: keyless CI access for one environment.

GitHub Actions exchanges its OIDC token for short-lived AWS credentials: no long-lived keys. The
trust policies are the security boundary, so they are built by pure functions and tested by
evaluating them against real ``sub``/``aud`` claims (``tests/test_github_oidc.py``).

The deploy role can run ``pulumi up`` of this stack and a release, scoped to resources whose names
start with the stack prefix wherever AWS allows resource-level permissions; the preview role can
only read (and take the state lock), for PR previews and the policy check.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.data import deploy_statements as data_deploy_statements
from components.settings import DataSettings, GithubSettings

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


def deploy_permissions(
    *, prefix: str, region: str, account: str, partition: str = "aws",
    state_bucket: str | None = None, own_role_arns: Sequence[str] = (),
) -> dict[str, Any]:  # fmt: skip
    """What ``pulumi up`` of this stack and a release need, scoped to ``<prefix>*`` names."""
    arn = f"arn:{partition}"
    r = f"{region}:{account}"
    st: list[dict[str, Any]] = [
        {
            # No resource-level permissions exist for these (AWS accepts only "*").
            "Sid": "NoResourceLevelPermissions",
            "Effect": "Allow",
            "Action": [
                "sts:GetCallerIdentity",
                "ecr:GetAuthorizationToken",
                "ecs:RegisterTaskDefinition",
                "ecs:DeregisterTaskDefinition",
                "ecs:DescribeTaskDefinition",
                "ecs:ListTaskDefinitions",
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeVpcs",
                "ec2:DescribeVpcAttribute",
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
                "cloudwatch:DescribeAlarms",
                "application-autoscaling:DescribeScalableTargets",
                "application-autoscaling:DescribeScalingPolicies",
                "application-autoscaling:RegisterScalableTarget",
                "application-autoscaling:DeregisterScalableTarget",
                "application-autoscaling:PutScalingPolicy",
                "application-autoscaling:DeleteScalingPolicy",
                "application-autoscaling:TagResource",
                "application-autoscaling:ListTagsForResource",
                "xray:GetSamplingRules",
                "codedeploy:GetDeploymentConfig",
            ],
            "Resource": "*",
        },
        {
            # The Network component's EC2 calls create and wire resources in one `up` (a route
            # needs the table and the gateway just created); EC2 cannot scope those by name, so
            # the actions are listed one by one, never ec2:*.
            "Sid": "NetworkLifecycle",
            "Effect": "Allow",
            "Action": [
                "ec2:CreateVpc",
                "ec2:DeleteVpc",
                "ec2:ModifyVpcAttribute",
                "ec2:CreateSubnet",
                "ec2:DeleteSubnet",
                "ec2:ModifySubnetAttribute",
                "ec2:CreateInternetGateway",
                "ec2:DeleteInternetGateway",
                "ec2:AttachInternetGateway",
                "ec2:DetachInternetGateway",
                "ec2:AllocateAddress",
                "ec2:ReleaseAddress",
                "ec2:CreateNatGateway",
                "ec2:DeleteNatGateway",
                "ec2:CreateRouteTable",
                "ec2:DeleteRouteTable",
                "ec2:CreateRoute",
                "ec2:DeleteRoute",
                "ec2:ReplaceRoute",
                "ec2:AssociateRouteTable",
                "ec2:DisassociateRouteTable",
                "ec2:CreateSecurityGroup",
                "ec2:DeleteSecurityGroup",
                "ec2:AuthorizeSecurityGroupIngress",
                "ec2:AuthorizeSecurityGroupEgress",
                "ec2:RevokeSecurityGroupIngress",
                "ec2:RevokeSecurityGroupEgress",
                "ec2:ModifySecurityGroupRules",
                "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
                "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
                "ec2:CreateFlowLogs",
                "ec2:DeleteFlowLogs",
                "ec2:CreateTags",
                "ec2:DeleteTags",
            ],
            "Resource": "*",
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
            "Resource": f"{arn}:ecr:{r}:repository/{prefix}*",
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
                f"{arn}:ecs:{r}:cluster/{prefix}*",
                f"{arn}:ecs:{r}:service/{prefix}*/*",
                f"{arn}:ecs:{r}:service-deployment/{prefix}*/*",
                f"{arn}:ecs:{r}:task/{prefix}*/*",
                f"{arn}:ecs:{r}:task-definition/{prefix}*:*",
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
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:DeleteRule",
                "elasticloadbalancing:ModifyRule",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:RemoveTags",
            ],
            "Resource": [
                f"{arn}:elasticloadbalancing:{r}:loadbalancer/app/{prefix}*/*",
                f"{arn}:elasticloadbalancing:{r}:targetgroup/{prefix}*/*",
                f"{arn}:elasticloadbalancing:{r}:listener/app/{prefix}*/*",
                f"{arn}:elasticloadbalancing:{r}:listener-rule/app/{prefix}*/*",
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
                "codedeploy:StopDeployment",
                "codedeploy:ListDeployments",
                "codedeploy:ListDeploymentTargets",
                "codedeploy:GetDeploymentTarget",
                "codedeploy:CreateDeploymentConfig",
                "codedeploy:DeleteDeploymentConfig",
                "codedeploy:RegisterApplicationRevision",
                "codedeploy:GetApplicationRevision",
                "codedeploy:TagResource",
                "codedeploy:UntagResource",
                "codedeploy:ListTagsForResource",
            ],
            "Resource": [
                f"{arn}:codedeploy:{r}:application:{prefix}*",
                f"{arn}:codedeploy:{r}:deploymentgroup:{prefix}*/*",
                f"{arn}:codedeploy:{r}:deploymentconfig:{prefix}*",
                f"{arn}:codedeploy:{r}:deploymentconfig:CodeDeployDefault.*",
            ],
        },
        {
            "Sid": "ThisStacksRoles",
            "Effect": "Allow",
            "Action": [
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:UpdateRole",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:PutRolePolicy",
                "iam:GetRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:UpdateAssumeRolePolicy",
                "iam:ListInstanceProfilesForRole",
            ],
            "Resource": f"{arn}:iam::{account}:role/{prefix}-*",
        },
        {
            # Only the one AWS-managed policy the stack attaches (CodeDeploy for ECS): the deploy
            # role can never attach AdministratorAccess to a role it created.
            "Sid": "AttachOnlyTheCodeDeployPolicy",
            "Effect": "Allow",
            "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
            "Resource": f"{arn}:iam::{account}:role/{prefix}-*",
            "Condition": {
                "ArnEquals": {"iam:PolicyARN": f"{arn}:iam::aws:policy/AWSCodeDeployRoleForECS"}
            },
        },
        {
            "Sid": "PassOnlyThisStacksRolesToTheirServices",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": f"{arn}:iam::{account}:role/{prefix}-*",
            "Condition": {
                "StringEquals": {
                    "iam:PassedToService": [
                        "ecs-tasks.amazonaws.com",
                        "codedeploy.amazonaws.com",
                        "vpc-flow-logs.amazonaws.com",
                    ]
                }
            },
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
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:DeleteAlarms",
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
                "sns:GetSubscriptionAttributes",
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
                f"{arn}:logs:{r}:log-group:/ecs/{prefix}*",
                f"{arn}:logs:{r}:log-group:/deplight/{prefix}/*",
                f"{arn}:cloudwatch:{r}:alarm:{prefix}-*",
                f"{arn}:cloudwatch::{account}:dashboard/{prefix}",
                f"{arn}:sns:{r}:{prefix}-*",
                f"{arn}:xray:{r}:sampling-rule/{prefix}*",
            ],
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


def preview_permissions(
    *, partition: str = "aws", state_bucket: str | None = None
) -> dict[str, Any]:
    """Read-only: what ``pulumi preview`` (refresh-free) and the policy check read. No secret
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
                "codedeploy:GetDeploymentGroup",
                "codedeploy:GetDeploymentConfig",
                "codedeploy:ListTagsForResource",
                "application-autoscaling:Describe*",
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:GetOpenIDConnectProvider",
            ],
            "Resource": "*",
        }
    ]
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
    """Repository, allowed subjects, existing provider, session length, state bucket."""
    region: str
    """Region of the stack's resources."""
    data: DataSettings | None = None
    """The data tier: with a store on, the deploy role gets its permissions in a managed policy."""
    migrations: bool = False
    """``deploy.migrate_command`` is set: the deploy role may run the one-off migration task."""


class GithubOidc(pulumi.ComponentResource):
    """GitHub's OIDC provider (or the account's existing one), the deploy role, the preview role."""

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
        tags = {"deplight:stack": pulumi.get_stack()}
        account = aws.get_caller_identity().account_id
        partition = aws.get_partition().partition

        if gh.oidc_provider_arn:
            # An account holds one provider per URL; dev and prod usually share it.
            self.provider_arn = pulumi.Output.from_input(gh.oidc_provider_arn)
        else:
            provider = aws.iam.OpenIdConnectProvider(
                f"{name}-github-oidc",
                url=GITHUB_OIDC_URL,
                client_id_lists=[AUDIENCE],
                # No thumbprints: AWS validates GitHub's certificate with its own trusted CAs.
                tags=tags,
                opts=child,
            )
            self.provider_arn = provider.arn

        deploy_name = f"{args.prefix}-github-deploy"
        preview_name = f"{args.prefix}-github-preview"
        own = [f"arn:{partition}:iam::{account}:role/{deploy_name}"]
        if gh.preview_role:
            own.append(f"arn:{partition}:iam::{account}:role/{preview_name}")

        deploy = aws.iam.Role(
            f"{name}-github-deploy",
            name=deploy_name,
            description=f"GitHub Actions deploys of {args.stack} from {gh.repository}",
            assume_role_policy=self.provider_arn.apply(
                lambda p: pulumi.Output.json_dumps(trust_policy(p, gh.repository, gh.subjects))
            ),
            max_session_duration=gh.session_duration_seconds,
            inline_policies=[
                aws.iam.RoleInlinePolicyArgs(
                    name="deploy",
                    policy=pulumi.Output.json_dumps(
                        deploy_permissions(
                            prefix=args.prefix,
                            region=args.region,
                            account=account,
                            partition=partition,
                            state_bucket=gh.state_bucket,
                            own_role_arns=own,
                        )
                    ),
                )
            ],  # fmt: skip
            tags=tags,
            opts=child,
        )
        self.deploy_role_arn = deploy.arn
        # The data tier's share (components.data.deploy_statements, Sids Data*) is a managed
        # policy of its own: the inline policy is near IAM's 10,240-character limit per role.
        data_statements = data_deploy_statements(
            prefix=args.prefix, region=args.region, account=account, partition=partition,
            data=args.data or DataSettings(), migrations=args.migrations,
        )  # fmt: skip
        if data_statements:
            data_policy = aws.iam.Policy(
                f"{name}-github-deploy-data",
                name=f"{args.prefix}-github-deploy-data",
                description=f"GitHub Actions deploys of {args.stack}: the data tier and migrations",
                policy=json.dumps({"Version": "2012-10-17", "Statement": data_statements}),
                tags=tags,
                opts=child,
            )
            aws.iam.RolePolicyAttachment(
                f"{name}-github-deploy-data", role=deploy.name, policy_arn=data_policy.arn,
                opts=child,
            )  # fmt: skip
        self.preview_role_arn = None
        if gh.preview_role:
            preview = aws.iam.Role(
                f"{name}-github-preview",
                name=preview_name,
                description=f"Read-only PR previews of {args.stack} from {gh.repository}",
                assume_role_policy=self.provider_arn.apply(
                    lambda p: pulumi.Output.json_dumps(
                        trust_policy(p, gh.repository, [PULL_REQUEST_SUBJECT])
                    )
                ),
                max_session_duration=3600,
                inline_policies=[
                    aws.iam.RoleInlinePolicyArgs(
                        name="preview",
                        policy=pulumi.Output.json_dumps(
                            preview_permissions(partition=partition, state_bucket=gh.state_bucket)
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
