"""Every rule issue 17 added, through the analyzer protocol ``deplight check`` uses.

Each case takes a committed stack's program run (which passes: see
``test_committed_stacks_have_no_mandatory_violation``, and below, which asserts it for the
case's policy), breaks one thing, and expects exactly that policy as the only mandatory
violation, naming the broken resource. Then the same broken resource with each of its properties
unknown (as ``pulumi preview`` sends values that do not exist yet) must still make the policy say
something: the violation, or an advisory that the value is unknown, never silence.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from deplight.check import analyze, analyzer, configure, load_policy_config
from deplight.harness import ProgramRun, Registered, read_stack_config, run_program
from tests.conftest import check_changed_program, program_run
from tests.test_policies_pack import UNKNOWN

Change = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="module")
def stubs() -> Iterator[dict[str, Any]]:
    """One running pack per committed stack's policy config (starting a pack takes a second)."""
    with analyzer() as prod, analyzer() as staging, analyzer() as dev:
        for stack, stub in (("prod", prod), ("staging", staging), ("dev", dev)):
            configure(stub, load_policy_config(stack)[0])
        yield {"prod": prod, "staging": staging, "dev": dev}


def change(run: ProgramRun, type_: str, name: str, fn: Change) -> ProgramRun:
    """``run`` with the resource ``name`` of ``type_`` changed in its inputs and outputs."""
    resources, done = [], False
    for r in run.resources:
        if r.type == type_ and r.name == name:
            inputs = fn(json.loads(json.dumps(dict(r.inputs), default=str)))
            outputs = {**json.loads(json.dumps(dict(r.outputs), default=str)), **inputs}
            for key in set(r.inputs) - set(inputs):  # a removed input is gone from outputs too
                outputs.pop(key, None)
            r, done = dataclasses.replace(r, inputs=inputs, outputs=outputs), True
        resources.append(r)
    assert done, (type_, name)
    return dataclasses.replace(run, resources=resources)


def without(run: ProgramRun, type_: str) -> ProgramRun:
    kept = [r for r in run.resources if r.type != type_]
    assert len(kept) < len(run.resources), type_
    return dataclasses.replace(run, resources=kept)


def containers(fn: Callable[[dict[str, Any]], None]) -> Change:
    def apply(p: dict[str, Any]) -> dict[str, Any]:
        defs = json.loads(p["containerDefinitions"])
        fn(defs[0])
        p["containerDefinitions"] = json.dumps(defs)
        return p

    return apply


def add_statement(statement: dict[str, Any]) -> Change:
    def apply(p: dict[str, Any]) -> dict[str, Any]:
        doc = json.loads(p["policy"])
        doc["Statement"].append(statement)
        p["policy"] = json.dumps(doc)
        return p

    return apply


def put(path: str, value: Any) -> Change:
    """Sets (or, with ``None``, removes) ``a.b.c`` in the properties."""

    def apply(p: dict[str, Any]) -> dict[str, Any]:
        *parents, last = path.split(".")
        node = p
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
        return p

    return apply


TD = "aws:ecs/taskDefinition:TaskDefinition"
LB = "aws:lb/loadBalancer:LoadBalancer"
SVC = "aws:ecs/service:Service"
GROUP = "aws:codedeploy/deploymentGroup:DeploymentGroup"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def _public_task_subnets(run: ProgramRun) -> ProgramRun:
    public = [s.id for s in run.of_type("aws:ec2/subnet:Subnet") if "-public-" in s.name]
    return change(run, SVC, "web-prod-service", put("networkConfiguration.subnets", public))


def _second_prod_listener_as_test(run: ProgramRun) -> ProgramRun:
    https = run.one("aws:lb/listener:Listener", "web-prod-https").outputs["arn"]
    return change(
        run,
        GROUP,
        "web-prod-group",
        put("loadBalancerInfo.targetGroupPairInfo.testTrafficRoute.listenerArns", [https]),
    )


def _trust_staging(run: ProgramRun) -> ProgramRun:
    def apply(p: dict[str, Any]) -> dict[str, Any]:
        doc = json.loads(p["assumeRolePolicy"])
        cond = doc["Statement"][0]["Condition"]["StringEquals"]
        key = "token.actions.githubusercontent.com:sub"
        cond[key] = ["repo:example-org/example-service:environment:staging"]
        p["assumeRolePolicy"] = json.dumps(doc)
        return p

    return change(run, "aws:iam/role:Role", "web-prod-github-deploy", apply)


# (policy, stack, how to break the run, type and name of the resource named in the violation)
CASES: list[tuple[str, str, Callable[[ProgramRun], ProgramRun], str, str]] = [
    ("task-definition-readonly-root", "prod", lambda r: change(r, TD, "web-prod-task", containers(
        lambda c: c.update(readonlyRootFilesystem=False))), TD, "web-prod-task"),
    ("ecs-task-roles-distinct", "prod", lambda r: change(r, TD, "web-prod-task", lambda p: {
        **p, "taskRoleArn": p["executionRoleArn"]}), TD, "web-prod-task"),
    ("alb-access-logs", "prod", lambda r: change(r, LB, "web-prod-alb", put("accessLogs", None)),
     LB, "web-prod-alb"),
    ("alb-desync-mitigation", "prod", lambda r: change(r, LB, "web-prod-alb", put(
        "desyncMitigationMode", "monitor")), LB, "web-prod-alb"),
    ("alb-waf", "prod", lambda r: without(r, "aws:wafv2/webAclAssociation:WebAclAssociation"),
     LB, "web-prod-alb"),
    ("vpc-default-security-group-closed", "prod", lambda r: without(
        r, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"), "aws:ec2/vpc:Vpc", "web-prod-vpc"),
    ("vpc-default-security-group-closed", "prod", lambda r: change(
        r, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "web-prod-default-sg", put(
            "ingress", [{"protocol": "-1", "fromPort": 0, "toPort": 0, "self": True}])),
     "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "web-prod-default-sg"),
    ("vpc-flow-logs", "prod", lambda r: without(r, "aws:ec2/flowLog:FlowLog"),
     "aws:ec2/vpc:Vpc", "web-prod-vpc"),
    ("log-group-kms", "prod", lambda r: change(r, "aws:cloudwatch/logGroup:LogGroup",
                                                "web-prod-logs", put("kmsKeyId", None)),
     "aws:cloudwatch/logGroup:LogGroup", "web-prod-logs"),
    ("ecs-container-insights", "prod", lambda r: change(r, "aws:ecs/cluster:Cluster",
                                                         "web-prod-cluster", put(
        "settings", [{"name": "containerInsights", "value": "disabled"}])),
     "aws:ecs/cluster:Cluster", "web-prod-cluster"),
    ("ecs-tasks-in-private-subnets", "prod", _public_task_subnets, SVC, "web-prod-service"),
    ("kms-key-rotation", "prod", lambda r: change(r, "aws:kms/key:Key", "web-prod-key", put(
        "enableKeyRotation", False)), "aws:kms/key:Key", "web-prod-key"),
    ("iam-managed-policy-attachments", "prod", lambda r: change(
        r, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "web-prod-codedeploy-ecs", put(
            "policyArn", "arn:aws:iam::aws:policy/AmazonECS_FullAccess")),
     "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "web-prod-codedeploy-ecs"),
    ("iam-privilege-escalation", "prod", lambda r: change(
        r, ROLE_POLICY, "web-prod-execution-policy", add_statement({
            "Effect": "Allow", "Action": "iam:AttachRolePolicy",
            "Resource": "arn:aws:iam::123456789012:role/web-prod-task"})),
     ROLE_POLICY, "web-prod-execution-policy"),
    ("iam-no-unconstrained-writes", "prod", lambda r: change(
        r, ROLE_POLICY, "web-prod-execution-policy", add_statement({
            "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "*"})),
     ROLE_POLICY, "web-prod-execution-policy"),
    ("iam-github-production-gate", "prod", _trust_staging, "aws:iam/role:Role",
     "web-prod-github-deploy"),
    ("audit-table-protected", "prod", lambda r: change(
        r, "aws:dynamodb/table:Table", "web-prod-audit", put("deletionProtectionEnabled", False)),
     "aws:dynamodb/table:Table", "web-prod-audit"),
    ("deployment-alarms-cover-both-target-groups", "prod", lambda r: change(
        r, GROUP, "web-prod-group", put("alarmConfiguration.alarms",
                                        ["web-prod-5xx-rate", "web-prod-p99-latency"])),
     GROUP, "web-prod-group"),
    ("deployment-alarms-cover-both-target-groups", "staging", lambda r: change(
        r, SVC, "web-staging-service", put("alarms.alarmNames", [
            "web-staging-5xx-rate", "web-staging-blue-unhealthy-hosts"])),
     SVC, "web-staging-service"),
    ("deployment-traffic-shifting", "prod", lambda r: change(
        r, GROUP, "web-prod-group", put("deploymentConfigName", "CodeDeployDefault.ECSAllAtOnce")),
     GROUP, "web-prod-group"),
    ("deployment-traffic-shifting", "staging", lambda r: change(
        r, SVC, "web-staging-service", put("deploymentConfiguration.canaryConfiguration."
                                           "canaryBakeTimeInMinutes", "1")),
     SVC, "web-staging-service"),
    ("deployment-traffic-shifting", "staging", lambda r: change(
        r, SVC, "web-staging-service", lambda p: {**p, "deploymentConfiguration": {
            "strategy": "BLUE_GREEN", "bakeTimeInMinutes": "15"}}),
     SVC, "web-staging-service"),
    ("ecs-deployment-keeps-capacity", "dev", lambda r: change(
        r, SVC, "web-dev-service", put("deploymentMinimumHealthyPercent", 50)),
     SVC, "web-dev-service"),
    ("deployment-image-registry", "prod", lambda r: change(r, TD, "web-prod-task", containers(
        lambda c: c.update(image="docker.io/library/web:3f2a9c1"))), TD, "web-prod-task"),
    ("deployment-container-health-check", "prod", lambda r: change(
        r, TD, "web-prod-task", containers(lambda c: c.pop("healthCheck"))), TD, "web-prod-task"),
    ("deployment-blue-green-wiring", "prod", _second_prod_listener_as_test, GROUP,
     "web-prod-group"),
]  # fmt: skip


def ids() -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for policy, stack, *_ in CASES:
        seen[policy] = seen.get(policy, 0) + 1
        out.append(f"{policy}-{stack}-{seen[policy]}")
    return out


@pytest.mark.parametrize(("policy", "stack", "breaks", "type_", "name"), CASES, ids=ids())
def test_rule_passes_the_committed_stack_and_catches_the_broken_one(
    stubs: dict[str, Any],
    policy: str,
    stack: str,
    breaks: Callable[[ProgramRun], ProgramRun],
    type_: str,
    name: str,
) -> None:
    run = program_run(stack)
    assert not [v for v in analyze(stubs[stack], run) if v.policy == policy]
    found = [v for v in analyze(stubs[stack], breaks(run)) if v.level == "mandatory"]
    assert {v.policy for v in found} == {policy}, found
    assert {(v.type, v.resource) for v in found} == {(type_, name)}, found
    assert all(v.message.splitlines()[-1].startswith(f"{name}: ") and "Fix:" in v.message
               for v in found), found  # fmt: skip


def test_a_rollback_release_shifts_at_once_without_breaking_the_traffic_rule(
    stubs: dict[str, Any],
) -> None:
    config = read_stack_config("prod")
    config["deplight:release"] = {"kind": "rollback"}
    run = run_program("prod", config)
    assert run.one("pulumi-python:dynamic/deplight:Release").inputs["all_at_once"] is True
    assert not [v for v in analyze(stubs["prod"], run) if v.level == "mandatory"]


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    return json_format.ParseDict(json.loads(json.dumps(props, default=str)), struct_pb2.Struct())


def broken(policy: str, stack: str, breaks: Callable[[ProgramRun], ProgramRun], type_: str,
           name: str) -> tuple[ProgramRun, Registered]:  # fmt: skip
    run = breaks(program_run(stack))
    subject = next((r for r in run.resources if r.type == type_ and r.name == name), None)
    assert subject is not None, (policy, type_, name)
    return run, subject


@pytest.mark.parametrize(("policy", "stack", "breaks", "type_", "name"), CASES, ids=ids())
def test_unknown_values_never_pass_a_violation_silently(
    stubs: dict[str, Any],
    policy: str,
    stack: str,
    breaks: Callable[[ProgramRun], ProgramRun],
    type_: str,
    name: str,
) -> None:
    """The violating resource with each property unknown in turn: the policy reports the
    violation still, or an advisory that it cannot decide during preview."""
    run, subject = broken(policy, stack, breaks, type_, name)
    stub = stubs[stack]
    resource_level = any(v.policy == policy for v in _analyze_one(stub, subject, subject.inputs))
    checked = 0
    for key in subject.inputs if resource_level else subject.outputs:
        if resource_level:
            diags = _analyze_one(stub, subject, {**subject.inputs, key: UNKNOWN})
        else:
            diags = _analyze_stack(stub, run, subject, {**subject.outputs, key: UNKNOWN})
        mine = [d for d in diags if d.policy == policy]
        assert mine, f"{policy}: {name}.{key} unknown and the policy said nothing"
        for d in mine:
            assert d.level == "mandatory" or "can't be known during preview" in d.message, d
        checked += 1
    assert checked


@dataclasses.dataclass(frozen=True)
class _Diag:
    policy: str
    level: str
    message: str


def _diags(response: Any) -> list[_Diag]:
    return [_Diag(d.policyName, "mandatory" if d.enforcementLevel == 1 else "advisory", d.message)
            for d in response.diagnostics]  # fmt: skip


def _analyze_one(stub: Any, r: Registered, props: Any) -> list[_Diag]:
    return _diags(stub.Analyze(analyzer_pb2.AnalyzeRequest(
        type=r.type, properties=_struct(dict(props)), urn=r.urn, name=r.name)))  # fmt: skip


def _analyze_stack(stub: Any, run: ProgramRun, subject: Registered, props: Any) -> list[_Diag]:
    return _diags(stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(
            type=r.type, urn=r.urn, name=r.name, parent=r.parent,
            properties=_struct(dict(props if r.urn == subject.urn else r.outputs)))
        for r in run.resources if r.custom
    ])))  # fmt: skip


def test_check_cli_names_a_program_change_that_breaks_a_new_rule(tmp_path: Path) -> None:
    """The whole path: a changed ``__main__.py``, ``deplight check``, exit 1, the resource named."""
    result = check_changed_program(tmp_path, (
        "aws.iam.RolePolicyAttachment('web-prod-task-admin', role='web-prod-task', "
        "policy_arn='arn:aws:iam::aws:policy/AdministratorAccess', "
        "opts=pulumi.ResourceOptions(parent=service))\n"
    ), "service")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "web-prod-task-admin (aws:iam/rolePolicyAttachment:RolePolicyAttachment)" in result.stdout
    )
    assert "[mandatory] iam-managed-policy-attachments" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("FAILED: 1 mandatory")
