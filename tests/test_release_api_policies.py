"""The release API's policy rules: each on passing and failing properties, the committed prod stack
(release API enabled) clean under the whole pack, and seeded bad variants failing it."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from deplight.check import evaluate_grpc, evaluate_in_process, load_policy_config
from deplight.harness import ProgramRun
from policies.rules import release_api as rules
from policies.rules.pack import ALL_POLICIES
from policies.rules.stack import Res
from release_api import site
from tests.conftest import program_run
from tests.test_policies_pack import seeded

RELEASE_API_POLICIES = {p.name for p in rules.POLICIES}
ROLE_ARN = "arn:aws:iam::123456789012:role/web-prod-release-api"


def test_the_rules_are_in_the_pack() -> None:
    assert RELEASE_API_POLICIES <= {p.name for p in ALL_POLICIES}
    assert len(RELEASE_API_POLICIES) == 6


@pytest.mark.parametrize(
    ("props", "bad"),
    [
        (
            {"routeKey": "GET /releases", "authorizationType": "JWT", "authorizerId": "abc1234"},
            False,
        ),
        ({"routeKey": "GET /x", "authorizationType": "AWS_IAM"}, False),
        ({"routeKey": "GET /releases", "authorizationType": "NONE"}, True),
        ({"routeKey": "GET /releases"}, True),
        ({"routeKey": "GET /releases", "authorizationType": "JWT"}, True),
        # the release page's files and sign-in settings may be public; nothing else
        ({"routeKey": "GET /", "authorizationType": "NONE"}, False),
        ({"routeKey": "GET /page.js", "authorizationType": "NONE"}, False),
        ({"routeKey": "GET /stacks"}, False),
        ({"routeKey": "POST /stacks", "authorizationType": "NONE"}, True),
        ({"routeKey": "GET /releases/page.js", "authorizationType": "NONE"}, True),
        ({"routeKey": "$default", "authorizationType": "NONE"}, True),
    ],
)
def test_route_authorizer(props: dict[str, Any], bad: bool) -> None:
    found = rules.check_route_authorizer(rules.ROUTE, props, {})
    assert bool(found) is bad, found
    if bad:
        assert props["routeKey"] in found[0] and "Fix:" in found[0]


def test_the_public_routes_are_the_ones_the_handler_serves_without_a_caller() -> None:
    assert set(rules.PAGE_ROUTES) == set(site.PUBLIC_ROUTES)


def test_jwt_authorizer_pins_issuer_and_audience() -> None:
    good = {
        "authorizerType": "JWT",
        "jwtConfiguration": {
            "issuer": "https://login.example.com/oauth2/default",
            "audiences": ["api://x"],
        },
    }
    assert rules.check_jwt_authorizer(rules.AUTHORIZER, good, {}) == []
    bad = {"authorizerType": "JWT", "jwtConfiguration": {"issuer": "http://idp", "audiences": []}}
    found = rules.check_jwt_authorizer(rules.AUTHORIZER, bad, {})
    assert len(found) == 2 and "https issuer" in found[0] and "any audience" in found[1]
    assert rules.check_jwt_authorizer(rules.AUTHORIZER, {"authorizerType": "REQUEST"}, {}) == []


def test_stage_throttling_and_access_logs() -> None:
    good = {"defaultRouteSettings": {"throttlingRateLimit": 5.0, "throttlingBurstLimit": 10.0},
            "accessLogSettings": {"destinationArn": "arn:aws:logs:...", "format": "{}"}}  # fmt: skip
    assert rules.check_stage_throttling(rules.STAGE, good, {}) == []
    assert rules.check_stage_access_logs(rules.STAGE, good, {}) == []
    for settings in ({}, {"throttlingRateLimit": 5.0}, {"throttlingRateLimit": 0,
                                                        "throttlingBurstLimit": 10}):  # fmt: skip
        found = rules.check_stage_throttling(rules.STAGE, {"defaultRouteSettings": settings}, {})
        assert found and "does not throttle" in found[0]
    found = rules.check_stage_access_logs(rules.STAGE, {"accessLogSettings": {"format": "{}"}}, {})
    assert found and "no access log" in found[0]


@pytest.mark.parametrize(
    ("type_", "props", "bad"),
    [
        (rules.PERMISSION, {"principal": "apigateway.amazonaws.com",
                            "sourceArn": "arn:aws:execute-api:us-east-1:1:abc/*"}, False),
        (rules.PERMISSION, {"principal": "apigateway.amazonaws.com"}, True),
        (rules.PERMISSION, {"principal": "*"}, True),
        (rules.PERMISSION, {"principal": "*", "sourceAccount": "123456789012"}, True),
        (rules.PERMISSION, {"principal": "*", "principalOrgId": "o-abc"}, False),
        (rules.PERMISSION, {"principal": "123456789012"}, False),
        (rules.PERMISSION, {"principal": "*", "sourceArn": "arn:x", "functionUrlAuthType": "NONE"},
         True),
        (rules.FUNCTION_URL, {"authorizationType": "NONE"}, True),
        (rules.FUNCTION_URL, {"authorizationType": "AWS_IAM"}, False),
    ],
)  # fmt: skip
def test_no_public_invoke(type_: str, props: dict[str, Any], bad: bool) -> None:
    assert bool(rules.check_no_public_invoke(type_, props, {})) is bad


def _lambda_stack(policy: dict[str, Any], *extra: Res) -> list[Res]:
    return [
        Res(rules.FUNCTION, "fn", {"role": ROLE_ARN}),
        Res(rules.ROLE, "role", {"arn": ROLE_ARN, "name": "web-prod-release-api",
                                 "inlinePolicies": [{"name": "p", "policy": json.dumps(policy)}]}),
        Res(rules.ROLE, "other", {"arn": "arn:aws:iam::123456789012:role/not-a-lambda",
                                  "name": "not-a-lambda", "inlinePolicies": [
                                      {"name": "p", "policy": json.dumps(_doc("s3:GetObject", "*"))}]}),
        *extra,
    ]  # fmt: skip


def _doc(action: Any, resource: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]}  # fmt: skip


def test_lambda_roles_are_scoped() -> None:
    ok = _doc(["dynamodb:Query"], "arn:aws:dynamodb:us-east-1:123456789012:table/t")
    assert rules.check_lambda_roles(_lambda_stack(ok), {}) == []  # the non-Lambda role is ignored
    traced = _doc(["xray:PutTraceSegments"], "*")
    assert rules.check_lambda_roles(_lambda_stack(traced), {}) == []
    for doc, phrase in ((_doc("dynamodb:*", "arn:aws:dynamodb:::table/t"), "wildcard actions"),
                        (_doc(["dynamodb:PutItem"], "*"), "every resource")):  # fmt: skip
        [(res, message)] = rules.check_lambda_roles(_lambda_stack(doc), {})
        assert res.name == "role" and phrase in message
    separate = Res(
        "aws:iam/rolePolicy:RolePolicy",
        "extra",
        {"role": "web-prod-release-api", "policy": json.dumps(_doc("s3:PutObject", "*"))},
    )
    attached = Res(rules.ATTACHMENT, "admin", {"role": "web-prod-release-api",
                                               "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})  # fmt: skip
    found = rules.check_lambda_roles(_lambda_stack(ok, separate, attached), {})
    assert [r.name for r, _ in found] == ["role", "admin"]


def test_prod_with_the_release_api_passes_every_rule_of_the_pack() -> None:
    run = program_run("prod")
    routes = run.of_type(rules.ROUTE)
    assert len(routes) == 8, "the committed prod stack enables the release API and its page"
    assert sum(r.inputs["authorizationType"] == "NONE" for r in routes) == 5
    config, _ = load_policy_config("prod")
    found = [v for v in evaluate_in_process(run, config) if v.policy in RELEASE_API_POLICIES]
    assert found == []


def _without_authorizer(p: dict[str, Any]) -> dict[str, Any]:
    p["authorizationType"] = "NONE"
    p.pop("authorizerId", None)
    return p


def _no_throttling(p: dict[str, Any]) -> dict[str, Any]:
    p.pop("defaultRouteSettings", None)
    return p


@pytest.mark.parametrize(
    ("type_", "change", "policy"),
    [(rules.ROUTE, _without_authorizer, "apigateway-route-authorizer"),
     (rules.STAGE, _no_throttling, "apigateway-stage-throttling")],
)  # fmt: skip
def test_seeded_bad_prod_variants_fail_the_pack(type_: str, change: Any, policy: str) -> None:
    run = seeded(program_run("prod"), type_, change)
    found = [v for v in evaluate_grpc(run, load_policy_config("prod")[0]) if v.level == "mandatory"]
    assert [v.policy for v in found] == [policy], found
    assert found[0].type == type_ and found[0].resource.startswith("web-prod-release-api")


def _seed_by_name(run: ProgramRun, name: str, change: Any) -> ProgramRun:
    resources = []
    for r in run.resources:
        if r.name == name:
            inputs = change(json.loads(json.dumps(dict(r.inputs), default=str)))
            r = dataclasses.replace(r, inputs=inputs, outputs={**r.outputs, **inputs})
        resources.append(r)
    return dataclasses.replace(run, resources=resources)


def test_seeded_open_permission_and_broad_lambda_role_fail_the_pack() -> None:
    def open_permission(p: dict[str, Any]) -> dict[str, Any]:
        p["principal"] = "*"
        p.pop("sourceArn")
        return p

    def broad_role(p: dict[str, Any]) -> dict[str, Any]:
        doc = json.loads(p["inlinePolicies"][0]["policy"])
        doc["Statement"][1]["Resource"] = "*"
        p["inlinePolicies"][0]["policy"] = json.dumps(doc)
        return p

    run = _seed_by_name(program_run("prod"), "web-prod-release-api-invoke", open_permission)
    run = _seed_by_name(run, "web-prod-release-api-role", broad_role)
    found = [v for v in evaluate_in_process(run, load_policy_config("prod")[0])
             if v.level == "mandatory"]  # fmt: skip
    assert sorted(v.policy for v in found) == ["lambda-no-public-invoke",
                                               "lambda-role-least-privilege"], found  # fmt: skip
    role = next(v for v in found if v.policy == "lambda-role-least-privilege")
    assert "dynamodb:PutItem" in role.message and role.resource == "web-prod-release-api-role"
