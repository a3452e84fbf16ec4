"""The ALB's edge (access log bucket, WAF), the VPC's default security group and the read-only
root filesystem, in the real program."""

from __future__ import annotations

import json

import pytest

from components.edge import (
    ELB_LOG_DELIVERY,
    MANAGED_RULE_GROUPS,
    elb_log_delivery_principal,
    log_bucket_policy,
    web_acl_rules,
)
from tests.conftest import program_run

LB = "aws:lb/loadBalancer:LoadBalancer"


def test_log_delivery_principal_per_region() -> None:
    # Regions opened before August 2022: the Region's ELB account; later ones: the service.
    assert elb_log_delivery_principal("us-east-1") == {"AWS": "arn:aws:iam::127311923021:root"}
    assert elb_log_delivery_principal("eu-west-1") == {"AWS": "arn:aws:iam::156460612806:root"}
    assert elb_log_delivery_principal("eu-central-2") == {"Service": ELB_LOG_DELIVERY}
    assert elb_log_delivery_principal("ap-southeast-4") == {"Service": ELB_LOG_DELIVERY}


def test_log_bucket_policy_admits_elb_under_the_accounts_prefix_and_tls_only() -> None:
    doc = log_bucket_policy(bucket="b", account="123456789012", region="us-east-1")
    allow, deny = doc["Statement"]
    assert allow["Action"] == "s3:PutObject"
    assert allow["Resource"] == "arn:aws:s3:::b/alb/AWSLogs/123456789012/*"
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


def test_web_acl_rules_managed_groups_then_rate_limit() -> None:
    rules = web_acl_rules("web-prod", 500)
    groups = [r["statement"]["managed_rule_group_statement"]["name"] for r in rules[:-1]]
    assert groups == list(MANAGED_RULE_GROUPS)
    assert rules[-1]["statement"]["rate_based_statement"] == {
        "limit": 500,
        "aggregate_key_type": "IP",
    }
    assert rules[-1]["action"] == {"block": {}}
    assert sorted(r["priority"] for r in rules) == list(range(1, len(rules) + 1))
    assert all(r["visibility_config"]["sampled_requests_enabled"] for r in rules)


def test_prod_alb_logs_to_its_own_bucket_and_sits_behind_waf() -> None:
    run = program_run("prod")
    alb = run.one(LB)
    bucket = run.one("aws:s3/bucket:Bucket")
    assert alb.inputs["accessLogs"] == {"bucket": bucket.outputs["bucket"], "prefix": "alb",
                                        "enabled": True}  # fmt: skip
    policy = run.one("aws:s3/bucketPolicy:BucketPolicy")
    assert policy.urn in alb.depends_on, alb.depends_on  # ELB checks it may write
    assert json.loads(policy.inputs["policy"])["Statement"][0]["Principal"] == {
        "AWS": "arn:aws:iam::127311923021:root"
    }  # us-east-1 is older than August 2022
    sse = run.one("aws:s3/bucketServerSideEncryptionConfiguration:"
                  "BucketServerSideEncryptionConfiguration")  # fmt: skip
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    block = run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy",
                                          "ignorePublicAcls", "restrictPublicBuckets"))  # fmt: skip
    lifecycle = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert lifecycle.inputs["rules"][0]["expiration"]["days"] == (
        run.settings.ingress.access_logs_retention_days
    )
    acl = run.one("aws:wafv2/webAcl:WebAcl")
    association = run.one("aws:wafv2/webAclAssociation:WebAclAssociation")
    assert association.inputs == {"resourceArn": alb.outputs["arn"],
                                  "webAclArn": acl.outputs["arn"]}  # fmt: skip
    assert acl.inputs["scope"] == "REGIONAL" and acl.inputs["defaultAction"] == {"allow": {}}


def test_dev_has_no_access_log_bucket_and_no_waf() -> None:
    run = program_run("dev")
    assert not run.of_type("aws:s3/bucket:Bucket")
    assert not run.of_type("aws:wafv2/webAcl:WebAcl")
    assert "accessLogs" not in run.one(LB).inputs


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_default_security_group_is_managed_with_no_rules(stack: str) -> None:
    run = program_run(stack)
    (vpc,) = run.of_type("aws:ec2/vpc:Vpc")
    default = run.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default.inputs["vpcId"] == vpc.id
    assert not default.inputs.get("ingress") and not default.inputs.get("egress")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_read_only_root_filesystem_with_writable_tmp(stack: str) -> None:
    run = program_run(stack)
    task = run.one("aws:ecs/taskDefinition:TaskDefinition")
    app = json.loads(task.inputs["containerDefinitions"])[0]
    if stack == "prod":
        assert app["readonlyRootFilesystem"] is True
        assert app["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp",
                                       "readOnly": False}]  # fmt: skip
        assert [v["name"] for v in task.inputs["volumes"]] == ["tmp"]
    else:
        assert app["readonlyRootFilesystem"] is False and "mountPoints" not in app
        assert not task.inputs.get("volumes")
