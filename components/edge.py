"""What guards and records the internet-facing ALB: its access log bucket and its WAF web ACL.

- :class:`AccessLogs` (``deplight:edge:AccessLogs``) is created before the ALB, which names its
  bucket: S3-managed encryption (the only kind ALB log delivery supports), a lifecycle that expires
  logs, every public access blocked, and the bucket policy that lets ELB deliver logs.
- :class:`WebFirewall` (``deplight:edge:WebFirewall``) is created after the ALB and associated with
  it: AWS managed rule groups (common rule set, known bad inputs, IP reputation) and a rate-based
  rule per client IP. Sampled requests and CloudWatch metrics are on for every rule.

The bucket and web ACL documents are pure functions, tested without the engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import stack_tags

ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"
"""The service principal that delivers ALB access logs in Regions opened in August 2022 or later."""

# The Elastic Load Balancing account of each Region opened before August 2022: access logs there
# are delivered by this account, which the bucket policy must name (AWS, "Enable access logs for
# your Application Load Balancer", step "Attach a policy to your S3 bucket").
ELB_ACCOUNTS: dict[str, str] = {
    "us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980",
    "us-west-2": "797873946194", "af-south-1": "098369216593", "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580", "ap-south-1": "718504428378",
    "ap-northeast-3": "383597477331", "ap-northeast-2": "600734575887",
    "ap-southeast-1": "114774131450", "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864", "ca-central-1": "985666609251",
    "eu-central-1": "054676820928", "eu-west-1": "156460612806", "eu-west-2": "652711504416",
    "eu-south-1": "635631232127", "eu-west-3": "009996457667", "eu-north-1": "897822967062",
    "me-south-1": "076674570225", "sa-east-1": "507241528517",
    "us-gov-west-1": "048591011584", "us-gov-east-1": "190560391635",
    "cn-north-1": "638102146993", "cn-northwest-1": "037604701340",
}  # fmt: skip

ACCESS_LOG_PREFIX = "alb"
"""Key prefix of the ALB's logs in the bucket (``alb/AWSLogs/<account>/...``)."""

MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
"""AWS managed rule groups of the web ACL, in priority order."""


def log_bucket_name(prefix: str, account: str) -> str:
    """The stack's access log bucket: bucket names are global, so the account id is part of it."""
    return f"{prefix}-alb-logs-{account}"


def elb_log_delivery_principal(region: str, partition: str = "aws") -> dict[str, str]:
    """Who writes ALB access logs in ``region``: the Region's ELB account where AWS documents one
    (Regions opened before August 2022), the log-delivery service principal everywhere else."""
    if region in ELB_ACCOUNTS:
        return {"AWS": f"arn:{partition}:iam::{ELB_ACCOUNTS[region]}:root"}
    return {"Service": ELB_LOG_DELIVERY}


def log_bucket_policy(*, bucket: str, account: str, region: str, partition: str = "aws"
                      ) -> dict[str, Any]:  # fmt: skip
    """ELB may put log objects under this account's prefix only; nobody may use plain HTTP."""
    arn = f"arn:{partition}:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ElbDeliversAccessLogs",
                "Effect": "Allow",
                "Principal": elb_log_delivery_principal(region, partition),
                "Action": "s3:PutObject",
                "Resource": f"{arn}/{ACCESS_LOG_PREFIX}/AWSLogs/{account}/*",
            },
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


@dataclass(frozen=True, kw_only=True)
class AccessLogsArgs:
    """Inputs of :class:`AccessLogs`."""

    prefix: str
    """Name prefix (``<service>-<stack>``)."""
    region: str
    """Region of the ALB (who delivers its logs)."""
    retention_days: int
    """Days before a log object expires."""


class AccessLogs(pulumi.ComponentResource):
    """The stack's ALB access log bucket."""

    bucket: pulumi.Output[str]
    """Bucket name (the ALB's ``access_logs.bucket``)."""
    ready: list[pulumi.Resource]
    """What the ALB must wait for: ELB checks that it may write when logging is turned on."""

    def __init__(
        self, name: str, args: AccessLogsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deplight:edge:AccessLogs", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity().account_id
        partition = aws.get_partition().partition
        name_ = log_bucket_name(args.prefix, account)
        bucket = aws.s3.Bucket(f"{name}-alb-logs", bucket=name_, tags=stack_tags(args.prefix),
                               opts=child)  # fmt: skip
        # ALB log delivery supports S3-managed keys only (not SSE-KMS).
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-alb-logs-encryption",
            bucket=bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-alb-logs-lifecycle",
            bucket=bucket.id,
            rules=[{
                "id": "expire-access-logs", "status": "Enabled", "filter": {},
                "expiration": {"days": args.retention_days},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
            }],
            opts=child,
        )  # fmt: skip
        public = aws.s3.BucketPublicAccessBlock(
            f"{name}-alb-logs-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        policy = aws.s3.BucketPolicy(
            f"{name}-alb-logs-policy",
            bucket=bucket.id,
            policy=json.dumps(
                log_bucket_policy(
                    bucket=name_, account=account, region=args.region, partition=partition
                )
            ),  # fmt: skip
            # S3 refuses a policy while the public access block is being written.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public]),
        )
        self.bucket = bucket.bucket
        self.ready = [policy, encryption]
        self.register_outputs({"bucket": self.bucket})


def web_acl_rules(prefix: str, rate_limit: int) -> list[aws.wafv2.WebAclRuleArgsDict]:
    """The web ACL's rules (pure): the managed rule groups, then the per-IP rate limit."""

    def visibility(metric: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgsDict:
        return {"cloudwatch_metrics_enabled": True, "metric_name": f"{prefix}-{metric}",
                "sampled_requests_enabled": True}  # fmt: skip

    rules: list[aws.wafv2.WebAclRuleArgsDict] = [
        {
            "name": group,
            "priority": i,
            "override_action": {"none": {}},
            "statement": {"managed_rule_group_statement": {"vendor_name": "AWS", "name": group}},
            "visibility_config": visibility(group),
        }
        for i, group in enumerate(MANAGED_RULE_GROUPS, start=1)
    ]
    rules.append({
        "name": "rate-limit-per-ip",
        "priority": len(rules) + 1,
        "action": {"block": {}},
        "statement": {"rate_based_statement": {"limit": rate_limit, "aggregate_key_type": "IP"}},
        "visibility_config": visibility("rate-limit-per-ip"),
    })  # fmt: skip
    return rules


@dataclass(frozen=True, kw_only=True)
class WebFirewallArgs:
    """Inputs of :class:`WebFirewall`."""

    prefix: str
    """Name prefix (``<service>-<stack>``)."""
    alb_arn: pulumi.Input[str]
    """The internet-facing ALB to protect."""
    rate_limit: int
    """Requests per client IP in any 5 minutes before the rate-based rule blocks it."""


class WebFirewall(pulumi.ComponentResource):
    """A regional WAFv2 web ACL associated with the ALB."""

    web_acl_arn: pulumi.Output[str]
    """ARN of the web ACL."""

    def __init__(
        self, name: str, args: WebFirewallArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deplight:edge:WebFirewall", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        acl = aws.wafv2.WebAcl(
            f"{name}-waf",
            name=args.prefix,
            description=f"{args.prefix}: managed rule groups and a per-IP rate limit",
            scope="REGIONAL",
            default_action={"allow": {}},
            rules=web_acl_rules(args.prefix, args.rate_limit),
            visibility_config={
                "cloudwatch_metrics_enabled": True,
                "metric_name": f"{args.prefix}-waf",
                "sampled_requests_enabled": True,
            },  # fmt: skip
            tags=stack_tags(args.prefix),
            opts=child,
        )
        aws.wafv2.WebAclAssociation(
            f"{name}-waf-alb", resource_arn=args.alb_arn, web_acl_arn=acl.arn, opts=child
        )
        self.web_acl_arn = acl.arn
        self.register_outputs({"web_acl_arn": self.web_acl_arn})
