"""The tests' IAM evaluator (tests/iam_eval.py) against AWS's documented evaluation rules."""

from __future__ import annotations

import pytest

from tests.iam_eval import (
    Request,
    UnsupportedPolicyError,
    arn_matches,
    decide,
    trust_allows,
)

ROLE = "arn:aws:iam::123456789012:role/web-prod-task"


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_explicit_deny_wins_over_allow_and_no_allow_is_an_implicit_deny() -> None:
    allow = doc({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"})
    deny = doc({"Effect": "Deny", "Action": "iam:Pass*", "Resource": ROLE})
    assert decide(Request("iam:PassRole", ROLE), [allow]) == "allow"
    assert decide(Request("iam:PassRole", ROLE), [allow, deny]) == "explicit-deny"
    assert decide(Request("iam:GetRole", ROLE), [allow]) == "implicit-deny"


def test_actions_are_case_insensitive_wildcards_and_not_action_inverts() -> None:
    st = doc({"Effect": "Allow", "Action": "EC2:Describe*", "Resource": "*"})
    assert decide(Request("ec2:DescribeVpcs", "*"), [st]) == "allow"
    assert decide(Request("ec2:DeleteVpc", "*"), [st]) == "implicit-deny"
    not_iam = doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert decide(Request("ec2:DeleteVpc", "*"), [not_iam]) == "allow"
    assert decide(Request("iam:CreateRole", ROLE), [not_iam]) == "implicit-deny"


def test_resource_arns_match_segment_by_segment() -> None:
    assert arn_matches("arn:aws:iam::123456789012:role/web-prod-*", ROLE)
    assert not arn_matches("arn:aws:iam::123456789012:role/web-dev-*", ROLE)
    assert not arn_matches("arn:aws:iam::*:role/web-prod-task", "arn:aws:iam::1:2:role/x")
    # a wildcard does not cross into another segment: the account stays pinned
    assert not arn_matches("arn:aws:iam::123456789012:*", "arn:aws:iam::999999999999:role/x")
    assert arn_matches("arn:aws:ecs:us-east-1:1:task-definition/web-prod:*",
                       "arn:aws:ecs:us-east-1:1:task-definition/web-prod:7")  # fmt: skip
    assert not arn_matches("arn:aws:ecs:us-east-1:1:task-definition/web-prod:*",
                           "arn:aws:ecs:us-east-1:1:task-definition/web-prod2:7")  # fmt: skip
    assert arn_matches("*", "anything")
    outside = doc({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret*"})
    assert decide(Request("s3:GetObject", "arn:aws:s3:::secret/x"), [outside]) == "implicit-deny"


def test_conditions_and_within_or_across_values_and_missing_keys() -> None:
    st = doc({"Effect": "Allow", "Action": "ec2:CreateVpc", "Resource": "*", "Condition": {
        "StringEquals": {"aws:RequestTag/deplight:stack": ["web-prod", "web-prod2"],
                         "ec2:Region": "us-east-1"}}})  # fmt: skip
    ok = {"aws:RequestTag/deplight:stack": "web-prod2", "ec2:Region": "us-east-1"}
    assert decide(Request("ec2:CreateVpc", "*", ok), [st]) == "allow"
    assert decide(Request("ec2:CreateVpc", "*", {**ok, "ec2:Region": "eu-west-1"}), [st]) != "allow"
    assert decide(Request("ec2:CreateVpc", "*", {"ec2:Region": "us-east-1"}), [st]) != "allow"
    neg = doc({"Effect": "Deny", "Action": "*", "Resource": "*",
               "Condition": {"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}}})  # fmt: skip
    allow_all = doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
    assert decide(Request("ec2:CreateVpc", "*"), [allow_all, neg]) == "explicit-deny"  # missing
    assert decide(Request("ec2:CreateVpc", "*", {"aws:RequestedRegion": "us-east-1"}),
                  [allow_all, neg]) == "allow"  # fmt: skip


def test_like_arn_null_and_set_operators() -> None:
    like = doc({"Effect": "Allow", "Action": "sts:*", "Resource": "*",
                "Condition": {"StringLike": {"k": "repo:org/x:ref:refs/tags/v*"}}})  # fmt: skip
    assert decide(Request("sts:A", "*", {"k": "repo:org/x:ref:refs/tags/v1"}), [like]) == "allow"
    assert decide(Request("sts:A", "*", {"k": "repo:org/x:ref:refs/heads/v1"}), [like]) != "allow"
    arn = doc({"Effect": "Allow", "Action": "iam:AttachRolePolicy", "Resource": "*",
               "Condition": {"ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/A"}}})  # fmt: skip
    assert decide(Request("iam:AttachRolePolicy", ROLE,
                          {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}),
                  [arn]) != "allow"  # fmt: skip
    null = doc({"Effect": "Allow", "Action": "*", "Resource": "*",
                "Condition": {"Null": {"ec2:CreateAction": "false"}}})  # fmt: skip
    assert (
        decide(Request("ec2:CreateTags", "*", {"ec2:CreateAction": "CreateVpc"}), [null]) == "allow"
    )
    assert decide(Request("ec2:CreateTags", "*"), [null]) != "allow"
    anyv = doc({"Effect": "Deny", "Action": "*", "Resource": "*",
                "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["deplight:stack"]}}})  # fmt: skip
    ctx = {"aws:TagKeys": ["Name", "deplight:stack"]}
    assert (
        decide(Request("ec2:DeleteTags", "*", ctx), [allow_everything(), anyv]) == "explicit-deny"
    )
    with pytest.raises(UnsupportedPolicyError):
        decide(Request("x:y", "*", {"n": "1"}), [doc({"Effect": "Allow", "Action": "*",
               "Resource": "*", "Condition": {"NumericLessThan": {"n": "2"}}})])  # fmt: skip


def allow_everything() -> dict:
    return doc({"Effect": "Allow", "Action": "*", "Resource": "*"})


def test_a_boundary_intersects_and_its_deny_applies() -> None:
    admin = allow_everything()
    boundary = doc({"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"})
    assert decide(Request("logs:PutLogEvents", "*"), [admin], boundary) == "allow"
    assert decide(Request("iam:CreateRole", ROLE), [admin], boundary) == "implicit-deny"
    assert decide(Request("logs:PutLogEvents", "*"), [], boundary) == "implicit-deny"


def test_trust_allows_only_the_federated_principal_and_conditions() -> None:
    provider = "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com"
    trust = doc({"Effect": "Allow", "Principal": {"Federated": provider},
                 "Action": "sts:AssumeRoleWithWebIdentity",
                 "Condition": {"StringEquals": {"h:sub": "repo:o/r:environment:prod"}}})  # fmt: skip
    claims = {"h:sub": "repo:o/r:environment:prod"}
    assert trust_allows(trust, federated=provider, action="sts:AssumeRoleWithWebIdentity",
                        context=claims)  # fmt: skip
    assert not trust_allows(trust, federated="arn:aws:iam::1:oidc-provider/other",
                            action="sts:AssumeRoleWithWebIdentity", context=claims)  # fmt: skip
    assert not trust_allows(trust, federated=provider, action="sts:AssumeRole", context=claims)
    assert not trust_allows(trust, federated=provider, action="sts:AssumeRoleWithWebIdentity",
                            context={"h:sub": "repo:o/r:environment:prod2"})  # fmt: skip
