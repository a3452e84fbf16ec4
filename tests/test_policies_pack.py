"""The whole pack over the real program, through the analyzer protocol the Pulumi CLI uses."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from deplight.check import analyzer, evaluate_grpc, evaluate_in_process, load_policy_config
from deplight.harness import ProgramRun, Registered
from policies.rules.pack import ALL_POLICIES
from tests.conftest import COMMITTED_STACKS, ROOT, check_changed_program, program_run

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's marker for unknown values


def keyed(violations: list[Any]) -> list[tuple[str, str, str, str]]:
    return sorted((v.policy, v.level, v.resource, v.message.splitlines()[-1]) for v in violations)


def test_every_committed_stack_has_a_policy_config() -> None:
    for stack in COMMITTED_STACKS:
        config, path = load_policy_config(stack)
        assert path is not None, f"policies/config/{stack}.json missing"
        names = {p.name for p in ALL_POLICIES}
        assert set(config) <= names, set(config) - names


def test_pack_starts_as_the_cli_starts_it_and_lists_every_policy() -> None:
    with analyzer() as stub:
        info = stub.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "deplight"
    assert {p.name for p in info.policies} == {p.name for p in ALL_POLICIES}
    for p in info.policies:
        assert p.description and p.enforcementLevel == 1, p.name  # mandatory by default


@pytest.mark.parametrize("stack", COMMITTED_STACKS)
def test_committed_stacks_have_no_mandatory_violation(stack: str) -> None:
    run = program_run(stack)
    config, _ = load_policy_config(stack)
    grpc_found = evaluate_grpc(run, config)
    assert not [v for v in grpc_found if v.level == "mandatory"], grpc_found
    # the in-process evaluation (tests, benchmark) gives exactly the same answer
    assert keyed(grpc_found) == keyed(evaluate_in_process(run, config))


def test_without_config_the_pack_is_strictest_and_mandatory() -> None:
    found = evaluate_in_process(program_run("dev"), {})
    by_policy = {v.policy for v in found if v.level == "mandatory"}
    assert {"ecs-service-min-tasks", "listener-https-only", "ecr-immutable-tags",
            "alb-deletion-protection", "log-group-retention"} <= by_policy  # fmt: skip


def seeded(run: ProgramRun, type_: str, change: Any) -> ProgramRun:
    """A copy of ``run`` with the (first) resource of ``type_`` changed in inputs and outputs."""
    resources = []
    done = False
    for r in run.resources:
        if r.type == type_ and not done:
            inputs = change(json.loads(json.dumps(dict(r.inputs), default=str)))
            r = dataclasses.replace(r, inputs=inputs, outputs={**r.outputs, **inputs})
            done = True
        resources.append(r)
    assert done, type_
    return dataclasses.replace(run, resources=resources)


def _public_ip(p: dict[str, Any]) -> dict[str, Any]:
    p["networkConfiguration"]["assignPublicIp"] = True
    return p


def _latest(p: dict[str, Any]) -> dict[str, Any]:
    defs = json.loads(p["containerDefinitions"])
    defs[0]["image"] = defs[0]["image"].rsplit(":", 1)[0] + ":latest"
    p["containerDefinitions"] = json.dumps(defs)
    return p


def _no_alarm_rollback(p: dict[str, Any]) -> dict[str, Any]:
    p["autoRollbackConfiguration"]["events"] = ["DEPLOYMENT_FAILURE"]
    return p


@pytest.mark.parametrize(
    ("type_", "change", "policy"),
    [
        ("aws:ecs/service:Service", _public_ip, "ecs-service-no-public-ip"),
        ("aws:ecs/taskDefinition:TaskDefinition", _latest, "task-definition-pinned-images"),
        (
            "aws:codedeploy/deploymentGroup:DeploymentGroup",
            _no_alarm_rollback,
            "codedeploy-blue-green-rollback",
        ),
    ],
)
def test_seeded_bad_prod_variants_fail(type_: str, change: Any, policy: str) -> None:
    run = seeded(program_run("prod"), type_, change)
    config, _ = load_policy_config("prod")
    found = [v for v in evaluate_grpc(run, config) if v.level == "mandatory"]
    assert [v.policy for v in found] == [policy], found
    assert found[0].type == type_ and found[0].resource.startswith("web-prod")


def test_ssh_from_anywhere_fails_twice_rule_and_stack() -> None:
    run = program_run("prod")
    task_sg = run.one("aws:ec2/securityGroup:SecurityGroup", "web-prod-task-sg")
    props = {"securityGroupId": task_sg.id, "ipProtocol": "tcp", "fromPort": 22.0, "toPort": 22.0,
             "cidrIpv4": "0.0.0.0/0"}  # fmt: skip
    extra = Registered(urn="urn:pulumi:prod::deplight::aws:vpc/securityGroupIngressRule:Sec"
                       "urityGroupIngressRule::team-ssh", type="aws:vpc/securityGroupIngressRule:"
                       "SecurityGroupIngressRule", name="team-ssh", custom=True, parent="",
                       inputs=props, outputs=props, id="sgr-1")  # fmt: skip
    bad = dataclasses.replace(run, resources=[*run.resources, extra])
    found = [v for v in evaluate_grpc(bad, load_policy_config("prod")[0]) if v.level == "mandatory"]
    assert {v.policy for v in found} == {"security-group-internet-ingress", "internet-only-on-alb"}
    assert any("team-ssh" in v.message and "22" in v.message for v in found)


def test_unknown_values_during_preview_are_not_violations() -> None:
    props = struct_pb2.Struct()
    json_format.ParseDict({"containerDefinitions": UNKNOWN, "family": "web-prod"}, props)
    sg_props = struct_pb2.Struct()
    json_format.ParseDict({"securityGroupId": UNKNOWN, "ipProtocol": "tcp", "fromPort": 443,
                           "toPort": 443, "cidrIpv4": UNKNOWN}, sg_props)  # fmt: skip
    with analyzer() as stub:
        for type_, p in (("aws:ecs/taskDefinition:TaskDefinition", props),
                         ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", sg_props)):  # fmt: skip
            response = stub.Analyze(analyzer_pb2.AnalyzeRequest(type=type_, properties=p,
                                                                urn="urn:x", name="x"))  # fmt: skip
            assert all(d.enforcementLevel != 1 for d in response.diagnostics), response


def test_check_cli_exits_1_naming_a_seeded_resource(tmp_path: Path) -> None:
    # A program that adds its own resource next to Deplight's, through what run() returns.
    result = check_changed_program(tmp_path, (
        "aws.vpc.SecurityGroupIngressRule('web-prod-team-ssh', security_group_id="
        "network.task_security_group_id, ip_protocol='tcp', from_port=22, to_port=22, "
        "cidr_ipv4='0.0.0.0/0', opts=pulumi.ResourceOptions(parent=network))\n"
    ), "network")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "web-prod-team-ssh" in result.stdout
    assert "[mandatory] security-group-internet-ingress" in result.stdout
    assert "FAILED" in result.stdout.splitlines()[-1]


def test_check_cli_passes_committed_stacks_with_json() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run([sys.executable, "-m", "deplight.cli", "check", "--stack", "dev",
                             "--json"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=180, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["passed"] and doc["mandatory"] == 0 and doc["advisory"] >= 1
    assert all(v["level"] == "advisory" for v in doc["violations"])


def test_a_production_deploy_role_trusting_a_branch_is_a_mandatory_violation() -> None:
    run = program_run("prod")
    prefix = run.settings.prefix

    def trust_main(p: dict[str, Any]) -> dict[str, Any]:
        doc = json.loads(p["assumeRolePolicy"])
        sub = "token.actions.githubusercontent.com:sub"
        doc["Statement"][0]["Condition"]["StringEquals"][sub] = [
            "repo:example-org/example-service:environment:prod",
            "repo:example-org/example-service:ref:refs/heads/main",
        ]
        p["assumeRolePolicy"] = json.dumps(doc)
        return p

    config, _ = load_policy_config("prod")
    before = [
        v for v in evaluate_in_process(run, config) if v.policy == "iam-github-production-gate"
    ]
    assert before == []
    resources = [dataclasses.replace(r, inputs=trust_main(json.loads(json.dumps(dict(r.inputs)))),
                                     outputs={**r.outputs, **trust_main(json.loads(json.dumps(
                                         dict(r.inputs))))})
                 if r.name == f"{prefix}-github-deploy" else r for r in run.resources]  # fmt: skip
    found = evaluate_in_process(dataclasses.replace(run, resources=resources), config)
    gate = [v for v in found if v.policy == "iam-github-production-gate"]
    assert gate and all(v.level == "mandatory" for v in gate), gate
