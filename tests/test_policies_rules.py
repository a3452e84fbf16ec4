"""Each rule on passing and failing resources, written as the engine sends them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policies.rules import (
    codedeploy,
    deployment,
    ecr,
    ecs,
    encryption,
    iam,
    load_balancers,
    logs,
    stack,
    task_definition,
)
from policies.rules import security_groups as sg
from policies.rules.stack import Res

SHA = "3f2a9c1"
REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web-prod"


def ok(check: Any, type_: str, props: dict[str, Any], cfg: dict[str, Any] | None = None) -> None:
    assert check(type_, props, cfg or {}) == []


def bad(check: Any, type_: str, props: dict[str, Any], fragment: str,
        cfg: dict[str, Any] | None = None) -> str:  # fmt: skip
    found = check(type_, props, cfg or {})
    assert found, f"expected a violation for {props}"
    assert any(fragment in m for m in found), found
    assert all("found" in m and "Fix:" in m for m in found), found
    return found[0]


GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
GOOD_GROUP = {
    "deploymentStyle": {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    "autoRollbackConfiguration": {"enabled": True,
                                  "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]},
    "alarmConfiguration": {"enabled": True, "alarms": ["web-prod-5xx-rate"]},
}  # fmt: skip


def test_codedeploy_group() -> None:
    ok(codedeploy.check_deployment_group, GROUP, GOOD_GROUP)
    bad(
        codedeploy.check_deployment_group,
        GROUP,
        {**GOOD_GROUP, "deploymentStyle": {"deploymentType": "IN_PLACE"}},
        "not blue/green",
    )
    msg = bad(codedeploy.check_deployment_group, GROUP,
              {**GOOD_GROUP, "autoRollbackConfiguration": {"enabled": True,
                                                           "events": ["DEPLOYMENT_FAILURE"]}},
              "DEPLOYMENT_STOP_ON_ALARM")  # fmt: skip
    assert "DEPLOYMENT_FAILURE" in msg  # the offending value is shown
    bad(
        codedeploy.check_deployment_group,
        GROUP,
        {**GOOD_GROUP, "alarmConfiguration": {"enabled": True, "alarms": []}},
        "no alarm",
    )
    bad(codedeploy.check_deployment_group, GROUP, {}, "automatic rollback")


SERVICE = "aws:ecs/service:Service"


def test_ecs_public_ip_and_controller() -> None:
    ok(ecs.check_public_ip, SERVICE, {"networkConfiguration": {"assignPublicIp": False}})
    bad(ecs.check_public_ip, SERVICE, {"networkConfiguration": {"assignPublicIp": True}},
        "public IP")  # fmt: skip
    ok(ecs.check_rollback_capable, SERVICE, {"deploymentController": {"type": "CODE_DEPLOY"}})
    ok(ecs.check_rollback_capable, SERVICE,
       {"deploymentCircuitBreaker": {"enable": True, "rollback": True}})  # fmt: skip
    bad(
        ecs.check_rollback_capable,
        SERVICE,
        {"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
        "does not roll back",
    )
    bad(ecs.check_rollback_capable, SERVICE, {"deploymentController": {"type": "EXTERNAL"}},
        "does not roll back")  # fmt: skip


TASK = "aws:ecs/taskDefinition:TaskDefinition"


def task(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"containerDefinitions": json.dumps(list(containers))}


LOGS = {"logDriver": "awslogs", "options": {}}


@pytest.mark.parametrize(
    ("image", "good"),
    [
        (f"{REPO}:{SHA}", True),
        (f"{REPO}:{'a' * 40}", True),
        (f"public.ecr.aws/xray/aws-xray-daemon@sha256:{'ab' * 32}", True),
        (f"{REPO}:latest", False),
        (REPO, False),
        (f"{REPO}:v1.2.3", False),
        (f"{REPO}:main", False),
        ("localhost:5000/app", False),
    ],
)
def test_pinned_images(image: str, good: bool) -> None:
    props = task({"name": "web", "image": image, "logConfiguration": LOGS})
    if good:
        ok(task_definition.check_pinned_images, TASK, props)
    else:
        assert image in bad(task_definition.check_pinned_images, TASK, props, "image")


def test_task_definition_as_object_not_json_string() -> None:
    props = {"containerDefinitions": [{"name": "web", "image": f"{REPO}:latest"}]}
    bad(task_definition.check_pinned_images, TASK, props, "latest")


def test_privileged_and_logging() -> None:
    good = task({"name": "web", "image": f"{REPO}:{SHA}", "logConfiguration": LOGS})
    ok(task_definition.check_not_privileged, TASK, good)
    ok(task_definition.check_logging, TASK, good)
    bad(
        task_definition.check_not_privileged,
        TASK,
        task({"name": "web", "privileged": True, "logConfiguration": LOGS}),
        "privileged",
    )
    bad(task_definition.check_logging, TASK, task({"name": "web"}), "no log driver")


@pytest.mark.parametrize(
    ("type_", "props", "good"),
    [
        (sg.INGRESS_RULE, {"ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0,
                           "cidrIpv4": "0.0.0.0/0"}, True),
        (sg.INGRESS_RULE, {"ipProtocol": "tcp", "fromPort": 80.0, "toPort": 80.0,
                           "cidrIpv6": "::/0"}, True),
        (sg.INGRESS_RULE, {"ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0,
                           "cidrIpv4": "203.0.113.0/24"}, True),
        (sg.INGRESS_RULE, {"ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0,
                           "cidrIpv4": "0.0.0.0/0"}, False),
        (sg.INGRESS_RULE, {"ipProtocol": "-1", "cidrIpv6": "::/0"}, False),
        (sg.INGRESS_RULE, {"ipProtocol": "tcp", "fromPort": 0.0, "toPort": 65535.0,
                           "cidrIpv4": "0.0.0.0/0"}, False),
        (sg.INGRESS_RULE, {"ipProtocol": "udp", "fromPort": 443.0, "toPort": 443.0,
                           "cidrIpv4": "0.0.0.0/0"}, False),
        (sg.SG_RULE, {"type": "ingress", "protocol": "tcp", "fromPort": 22.0, "toPort": 22.0,
                      "cidrBlocks": ["0.0.0.0/0"]}, False),
        (sg.SG_RULE, {"type": "egress", "protocol": "-1", "fromPort": 0.0, "toPort": 0.0,
                      "cidrBlocks": ["0.0.0.0/0"]}, True),
        (sg.SG_RULE, {"type": "ingress", "protocol": "all", "fromPort": 0.0, "toPort": 0.0,
                      "ipv6CidrBlocks": ["::/0"]}, False),
        (sg.SG, {"ingress": [{"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0,
                              "cidrBlocks": ["0.0.0.0/0"]}]}, True),
        (sg.SG, {"ingress": [{"protocol": "tcp", "fromPort": 3389.0, "toPort": 3389.0,
                              "cidrBlocks": [], "ipv6CidrBlocks": ["::/0"]}]}, False),
    ],
)  # fmt: skip
def test_security_group_forms(type_: str, props: dict[str, Any], good: bool) -> None:
    if good:
        ok(sg.check_ingress, type_, props)
    else:
        bad(sg.check_ingress, type_, props, "open to the whole internet")


def test_security_group_allowed_ports_from_config() -> None:
    props = {"ipProtocol": "tcp", "fromPort": 8443.0, "toPort": 8443.0, "cidrIpv4": "0.0.0.0/0"}
    bad(sg.check_ingress, sg.INGRESS_RULE, props, "8443")
    ok(sg.check_ingress, sg.INGRESS_RULE, props, {"allowedInternetPorts": [443, 8443]})


LB, LISTENER = "aws:lb/loadBalancer:LoadBalancer", "aws:lb/listener:Listener"


def test_load_balancers_and_listeners() -> None:
    ok(load_balancers.check_drop_invalid_headers, LB, {"dropInvalidHeaderFields": True})
    bad(load_balancers.check_drop_invalid_headers, LB, {}, "invalid headers")
    ok(load_balancers.check_drop_invalid_headers, LB, {"loadBalancerType": "network"})
    ok(load_balancers.check_deletion_protection, LB, {"enableDeletionProtection": True})
    bad(load_balancers.check_deletion_protection, LB, {"enableDeletionProtection": False}, "off")
    https = {"protocol": "HTTPS", "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}
    ok(load_balancers.check_https, LISTENER, https)
    bad(
        load_balancers.check_https,
        LISTENER,
        {**https, "sslPolicy": "ELBSecurityPolicy-2016-08"},
        "old TLS",
    )
    redirect = {"protocol": "HTTP", "defaultActions": [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443"}}]}  # fmt: skip
    ok(load_balancers.check_https, LISTENER, redirect)
    bad(
        load_balancers.check_https,
        LISTENER,
        {"protocol": "HTTP", "defaultActions": [{"type": "forward"}]},
        "instead of redirecting",
    )


REPO_T = "aws:ecr/repository:Repository"


def test_ecr() -> None:
    ok(ecr.check_scan, REPO_T, {"imageScanningConfiguration": {"scanOnPush": True}})
    bad(ecr.check_scan, REPO_T, {}, "not scanned")
    ok(ecr.check_immutable, REPO_T, {"imageTagMutability": "IMMUTABLE"})
    bad(ecr.check_immutable, REPO_T, {}, "overwritten")
    ok(ecr.check_encryption, REPO_T, {"encryptionConfigurations": [{"encryptionType": "KMS"}]})
    bad(ecr.check_encryption, REPO_T, {"encryptionConfigurations": []}, "encryption")


def test_log_retention() -> None:
    t = "aws:cloudwatch/logGroup:LogGroup"
    # strictest without config: a year (CKV_AWS_338); a stack's config relaxes it
    ok(logs.check_retention, t, {"retentionInDays": 365.0})
    bad(logs.check_retention, t, {"retentionInDays": 90.0}, "below 365")
    ok(logs.check_retention, t, {"retentionInDays": 30.0}, {"minRetentionDays": 30})
    bad(logs.check_retention, t, {"retentionInDays": 7.0}, "below 30", {"minRetentionDays": 30})
    ok(logs.check_retention, t, {"retentionInDays": 7.0}, {"minRetentionDays": 7})
    bad(logs.check_retention, t, {}, "never expire")
    ok(logs.check_retention, t, {}, {"allowNeverExpire": True})


ADMIN = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
SCOPED = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/*"}]}  # fmt: skip


@pytest.mark.parametrize(
    ("type_", "props", "good"),
    [
        ("aws:iam/rolePolicy:RolePolicy", {"policy": json.dumps(SCOPED)}, True),
        ("aws:iam/rolePolicy:RolePolicy", {"policy": json.dumps(ADMIN)}, False),
        ("aws:iam/policy:Policy", {"policy": ADMIN}, False),  # object form
        ("aws:iam/policy:Policy", {"policy": {"Statement": [
            {"Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}]}}, False),
        ("aws:iam/policy:Policy", {"policy": {"Statement": [
            {"Effect": "Deny", "Action": "*", "Resource": "*"}]}}, True),
        ("aws:iam/role:Role", {"inlinePolicies": [{"name": "x", "policy": json.dumps(ADMIN)}]},
         False),
        ("aws:iam/role:Role", {"inlinePolicies": [{"name": "x", "policy": json.dumps(SCOPED)}]},
         True),
    ],
)  # fmt: skip
def test_iam_no_admin(type_: str, props: dict[str, Any], good: bool) -> None:
    if good:
        ok(iam.check_no_admin, type_, props)
    else:
        bad(iam.check_no_admin, type_, props, "wildcard action")


def trust(cond: dict[str, Any]) -> dict[str, Any]:
    return {"assumeRolePolicy": json.dumps({"Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
        "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/"
                                   "token.actions.githubusercontent.com"},
        "Condition": cond}]})}  # fmt: skip


AUD = {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
SUB = "token.actions.githubusercontent.com:sub"


def test_github_trust() -> None:
    role = "aws:iam/role:Role"
    ok(
        iam.check_github_trust,
        role,
        trust({"StringEquals": {**AUD, SUB: "repo:o/r:environment:prod"}}),
    )
    ok(iam.check_github_trust, role, trust({"StringEquals": AUD,
                                            "StringLike": {SUB: "repo:o/r:ref:refs/tags/v*"}}))  # fmt: skip
    bad(iam.check_github_trust, role, trust({"StringEquals": AUD}), "sub")
    bad(iam.check_github_trust, role, trust({"StringEquals": AUD, "StringLike": {SUB: "repo:o/*:*"}}),
        "sub")  # fmt: skip
    bad(iam.check_github_trust, role, trust({"StringEquals": AUD, "StringLike": {SUB: "*"}}), "sub")
    bad(iam.check_github_trust, role, trust({"StringEquals": {SUB: "repo:o/r:environment:prod"}}),
        "aud")  # fmt: skip
    bad(
        iam.check_github_trust,
        role,
        trust({"StringEquals": AUD, "ForAllValues:StringLike": {SUB: "repo:o/r:x"}}),
        "set operator",
    )
    ok(iam.check_github_trust, role, {"assumeRolePolicy": json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
         "Action": "sts:AssumeRole"}]})})  # fmt: skip


def test_encryption() -> None:
    t = "aws:dynamodb/table:Table"
    ok(encryption.check_dynamodb, t, {"serverSideEncryption": {"enabled": True}})
    bad(encryption.check_dynamodb, t, {}, "server-side encryption")
    ok(encryption.check_sns, "aws:sns/topic:Topic", {"kmsMasterKeyId": "alias/aws/sns"})
    bad(encryption.check_sns, "aws:sns/topic:Topic", {}, "not encrypted")


# --- stack-level --------------------------------------------------------------------------------
def subnet(sid: str, az: str) -> Res:
    return Res("aws:ec2/subnet:Subnet", sid, {"arn": f"arn:aws:ec2:us-east-1:1:subnet/{sid}",
                                              "availabilityZone": az})  # fmt: skip


def service(count: float, subnets: list[str]) -> Res:
    return Res(SERVICE, "svc", {"name": "svc", "desiredCount": count,
                                "networkConfiguration": {"subnets": subnets}})  # fmt: skip


def test_min_tasks_uses_autoscaling_minimum() -> None:
    target = Res("aws:appautoscaling/target:Target", "t",
                 {"resourceId": "service/c/svc", "minCapacity": 3.0})  # fmt: skip
    assert stack.check_min_tasks([service(1.0, []), target], {}) == []
    ((res, msg),) = stack.check_min_tasks([service(1.0, [])], {})
    assert res.name == "svc" and "desiredCount is below 2" in msg
    assert stack.check_min_tasks([service(1.0, [])], {"minTasks": 1}) == []


def test_multi_az() -> None:
    subnets = [subnet("subnet-a", "us-east-1a"), subnet("subnet-b", "us-east-1b")]
    assert stack.check_multi_az([service(2, ["subnet-a", "subnet-b"]), *subnets], {}) == []
    ((_, msg),) = stack.check_multi_az([service(2, ["subnet-a"]), *subnets], {})
    assert "fewer than 2 AZs" in msg and "us-east-1a" in msg


def test_group_alarms_exist() -> None:
    group = Res(GROUP, "g", {"alarmConfiguration": {"alarms": ["a1", "ghost"]}})
    alarm = Res("aws:cloudwatch/metricAlarm:MetricAlarm", "x", {"name": "a1"})
    ((_, msg),) = stack.check_group_alarms_exist([group, alarm], {})
    assert "ghost" in msg


def test_audit_table_and_internet_only_on_alb() -> None:
    table = Res("aws:dynamodb/table:Table", "t", {"hashKey": "stack",
                                                 "pointInTimeRecovery": {"enabled": True}})  # fmt: skip
    assert stack.check_audit_table([table], {}) == []
    assert stack.check_audit_table([], {})
    assert stack.check_audit_table([], {"requireAuditTable": False}) == []
    alb_sg = Res(sg.SG, "alb-sg", {"arn": "arn:aws:ec2:r:1:security-group/sg-alb"})
    rule = Res(sg.INGRESS_RULE, "r", {"securityGroupId": "sg-alb", "ipProtocol": "tcp",
                                      "fromPort": 443.0, "toPort": 443.0, "cidrIpv4": "0.0.0.0/0"})  # fmt: skip
    lb = Res("aws:lb/loadBalancer:LoadBalancer", "lb", {"securityGroups": ["sg-alb"]})
    assert stack.check_internet_only_on_alb([alb_sg, rule, lb], {}) == []
    other = Res(sg.INGRESS_RULE, "r2", {"securityGroupId": "sg-task", "ipProtocol": "tcp",
                                        "fromPort": 443.0, "toPort": 443.0, "cidrIpv4": "0.0.0.0/0"})  # fmt: skip
    ((_, msg),) = stack.check_internet_only_on_alb([alb_sg, rule, lb, other], {})
    assert "sg-task" in msg


def gh_role(name: str, *subs: str, inline: dict[str, Any] | None = None) -> Any:
    from policies.rules.stack import Res

    props = {**trust({"StringEquals": {**AUD, SUB: list(subs)}}), "name": name}
    if inline is not None:
        props["inlinePolicies"] = [{"name": "p", "policy": json.dumps(inline)}]
    return Res("aws:iam/role:Role", name, props)


WRITE = {"Statement": [{"Effect": "Allow", "Action": "ecs:UpdateService", "Resource": "*"}]}
READ = {"Statement": [
    {"Effect": "Allow", "Action": ["ec2:Describe*", "iam:GetRole"], "Resource": "*"},
    {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "arn:aws:s3:::b/.pulumi/locks/*"},
]}  # fmt: skip


def test_production_gate() -> None:
    from policies.rules.stack import Res

    check = iam.check_production_gate
    env = "repo:o/r:environment:prod"
    assert check([gh_role("deploy", env, "repo:o/r:environment:prod-rollback", inline=WRITE)],
                 {}) == []  # fmt: skip
    assert check([gh_role("preview", "repo:o/r:pull_request", inline=READ)], {}) == []
    for sub in ("repo:o/r:ref:refs/heads/main", "repo:o/r:ref:refs/tags/v*",
                "repo:o/r:environment:prod*"):  # fmt: skip
        (found,) = check([gh_role("deploy", env, sub, inline=WRITE)], {})
        assert "without the environment's required reviewers" in found[1], found
        assert check([gh_role("deploy", env, sub, inline=WRITE)], {"environmentsOnly": False}) == []
    # pull requests never reach a role that can write, in any tier
    (found,) = check([gh_role("deploy", "repo:o/r:pull_request", inline=WRITE)],
                     {"environmentsOnly": False})  # fmt: skip
    assert "unreviewed code" in found[1]
    # writes through an attached policy, a managed policy of the stack or AWS's, count too
    role = gh_role("deploy", "repo:o/r:ref:refs/heads/main")
    policy = Res("aws:iam/policy:Policy", "p", {"arn": "arn:aws:iam::1:policy/p",
                                                 "policy": json.dumps(WRITE)})  # fmt: skip
    attach = Res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "a",
                 {"role": "deploy", "policyArn": "arn:aws:iam::1:policy/p"})  # fmt: skip
    assert len(check([role, policy, attach], {})) == 1
    aws_admin = Res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "a",
                    {"role": "deploy", "policyArn": "arn:aws:iam::aws:policy/PowerUserAccess"})  # fmt: skip
    assert len(check([role, aws_admin], {})) == 1
    aws_read = Res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "a",
                   {"role": "deploy", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})  # fmt: skip
    assert check([role, aws_read], {}) == []
    inline = Res("aws:iam/rolePolicy:RolePolicy", "i", {"role": "deploy",
                                                        "policy": json.dumps(WRITE)})  # fmt: skip
    assert len(check([role, inline], {})) == 1


# --- issue 17: edge cases of the new rules (the gRPC cases are in test_policies_new_rules.py) ---


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})}


POLICY = "aws:iam/policy:Policy"


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        (
            {"Effect": "Allow", "Action": "iam:*", "Resource": "arn:aws:iam::1:role/x"},
            "iam:CreatePolicyVersion",
        ),
        (
            {"Effect": "Allow", "Action": "iam:Put*", "Resource": "arn:aws:iam::1:role/x"},
            "iam:PutRolePolicy",
        ),
        (
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/x"},
            "iam:PassRole",
        ),
        ({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}, "NotAction"),
        (
            {
                "Effect": "Allow",
                "Action": "iam:CreateRole",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestTag/x": "y"}},
            },
            "iam:CreateRole",
        ),
    ],
)
def test_privilege_escalation_catches(statement: dict[str, Any], fragment: str) -> None:
    bad(iam.check_escalation, POLICY, doc(statement), fragment)


def test_privilege_escalation_passes_bounded_role_writes_and_service_scoped_pass_role() -> None:
    ok(iam.check_escalation, POLICY, doc(
        {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:PutRolePolicy"],
         "Resource": "arn:aws:iam::1:role/p-*",
         "Condition": {"StringEquals": {"iam:PermissionsBoundary": "arn:aws:iam::1:policy/b"}}},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::1:role/p-*",
         "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
        {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
    ))  # fmt: skip


def test_unconstrained_writes() -> None:
    bad(iam.check_unconstrained_writes, POLICY,
        doc({"Effect": "Allow", "Action": ["ec2:Describe*", "ec2:TerminateInstances"],
             "Resource": "*"}), "ec2:TerminateInstances")  # fmt: skip
    ok(iam.check_unconstrained_writes, POLICY, doc(
        {"Effect": "Allow", "Action": ["ec2:DescribeVpcs", "xray:PutTraceSegments"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/deplight:stack": "web-prod"}}},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*"},
    ))  # fmt: skip
    # the allow-list is configuration
    bad(iam.check_unconstrained_writes, POLICY,
        doc({"Effect": "Allow", "Action": "xray:PutTraceSegments", "Resource": "*"}),
        "xray:PutTraceSegments", {"allowedUnscopedWrites": []})  # fmt: skip


def test_managed_policy_attachments_in_every_form() -> None:
    att = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    for name in ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess", "AmazonS3FullAccess"):
        bad(iam.check_managed_attachments, att, {"policyArn": f"arn:aws:iam::aws:policy/{name}"},
            name)  # fmt: skip
    bad(
        iam.check_managed_attachments,
        "aws:iam/role:Role",
        {"managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
        "Administrator",
    )
    ok(
        iam.check_managed_attachments,
        att,
        {"policyArn": "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForECS"},
    )
    # a customer-managed policy named like one is the team's own, judged by its statements
    ok(
        iam.check_managed_attachments,
        att,
        {"policyArn": "arn:aws:iam::123456789012:policy/AdministratorAccess"},
    )


def test_desync_default_is_defensive_and_log_kms_refuses_aws_managed_keys() -> None:
    lb = "aws:lb/loadBalancer:LoadBalancer"
    ok(load_balancers.check_desync, lb, {})
    ok(load_balancers.check_desync, lb, {"desyncMitigationMode": "strictest"})
    bad(load_balancers.check_desync, lb, {"desyncMitigationMode": "monitor"}, "monitors")
    ok(
        load_balancers.check_desync,
        lb,
        {"loadBalancerType": "network", "desyncMitigationMode": "monitor"},
    )
    group = "aws:cloudwatch/logGroup:LogGroup"
    bad(logs.check_kms, group, {"kmsKeyId": "arn:aws:kms:us-east-1:1:alias/aws/logs"}, "customer")
    ok(logs.check_kms, group, {"kmsKeyId": "arn:aws:kms:us-east-1:1:key/abc"})


def test_waf_skips_internal_albs_and_flags_an_acl_without_rules() -> None:
    alb = Res("aws:lb/loadBalancer:LoadBalancer", "alb", {"arn": "arn:lb", "internal": False})
    internal = Res("aws:lb/loadBalancer:LoadBalancer", "int", {"arn": "arn:int", "internal": True})
    acl = Res("aws:wafv2/webAcl:WebAcl", "acl", {"arn": "arn:acl", "rules": []})
    assoc = Res(
        "aws:wafv2/webAclAssociation:WebAclAssociation",
        "a",
        {"resourceArn": "arn:lb", "webAclArn": "arn:acl"},
    )
    found = load_balancers.check_waf([alb, internal, acl, assoc], {})
    assert [(r.name, "no rules" in m) for r, m in found] == [("alb", True)]
    foreign = Res(
        "aws:wafv2/webAclAssociation:WebAclAssociation",
        "a",
        {"resourceArn": "arn:lb", "webAclArn": "arn:other-stack-acl"},
    )
    assert load_balancers.check_waf([alb, foreign], {}) == []


def test_traffic_shifting_reads_a_custom_codedeploy_config() -> None:
    group = Res(
        "aws:codedeploy/deploymentGroup:DeploymentGroup",
        "g",
        {"deploymentConfigName": "web-prod-linear-20pct-2min"},
    )
    config = Res("aws:codedeploy/deploymentConfig:DeploymentConfig", "c", {
        "deploymentConfigName": "web-prod-linear-20pct-2min",
        "trafficRoutingConfig": {"type": "TimeBasedLinear",
                                 "timeBasedLinear": {"percentage": 20, "interval": 2}}})  # fmt: skip
    (found,) = deployment.check_traffic_shifting([group, config], {})
    assert "bake less than 5" in found[1]
    assert deployment.check_traffic_shifting([group, config], {"minBakeMinutes": 2}) == []
    predefined = Res(
        "aws:codedeploy/deploymentGroup:DeploymentGroup",
        "g",
        {"deploymentConfigName": "CodeDeployDefault.ECSLinear10PercentEvery3Minutes"},
    )
    assert deployment.check_traffic_shifting([predefined], {"minBakeMinutes": 3}) == []
