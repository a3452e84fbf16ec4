"""``deplight status``: outputs through the stack seam, live state from moto's server over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components import contract as out
from deplight.cli import main
from rollback import cli as rollback_cli
from rollback.status import render_status, status_report, traffic_split
from tests.test_rollback_support import (
    REGION,
    SHA,
    FakeAutoStack,
    FakeWorkspace,
    MotoWorld,
    adapter,
    moto_client,
)

A, B = SHA["A"], SHA["B"]


class ServingWorld(MotoWorld):
    """MotoWorld plus what status reads beyond it: a green group, the ALB and its listener,
    and the stack's alarms."""

    def __init__(self, endpoint: str, *, weights: tuple[int, int] | None = None) -> None:
        super().__init__(endpoint)
        client = moto_client(endpoint, "elbv2")
        vpc_id = client.describe_target_groups(TargetGroupArns=[self.tg_arn])["TargetGroups"][0][
            "VpcId"]  # fmt: skip
        self.green_arn = client.create_target_group(
            Name=f"{self.prefix}-green", Protocol="HTTP", Port=8080, VpcId=vpc_id, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        subnets = [self.ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.10.{i}.0/24",
                                          AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
                   for i, z in ((100, "a"), (101, "b"))]  # fmt: skip
        lb = client.create_load_balancer(Name=f"{self.prefix}-alb", Subnets=subnets,
                                         Type="application")["LoadBalancers"][0]["LoadBalancerArn"]  # fmt: skip
        if weights is None:
            action = {"Type": "forward", "TargetGroupArn": self.tg_arn}
        else:
            action = {"Type": "forward", "ForwardConfig": {"TargetGroups": [
                {"TargetGroupArn": self.tg_arn, "Weight": weights[0]},
                {"TargetGroupArn": self.green_arn, "Weight": weights[1]}]}}  # fmt: skip
        self.listener_arn = client.create_listener(
            LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[action]
        )["Listeners"][0]["ListenerArn"]
        self.cw = moto_client(endpoint, "cloudwatch")
        for name in ("5xx-rate", "p99-latency"):
            self.cw.put_metric_alarm(
                AlarmName=f"{self.prefix}-{name}", MetricName="HTTPCode_Target_5XX_Count",
                Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60, EvaluationPeriods=1,
                Threshold=1, ComparisonOperator="GreaterThanThreshold",
            )  # fmt: skip

    def outputs(self, *, codedeploy: bool = False) -> dict[str, Any]:
        return {**super().outputs(codedeploy=codedeploy),
                out.GREEN_TARGET_GROUP_NAME: f"{self.prefix}-green",
                out.PROD_LISTENER_ARN: self.listener_arn,
                out.SERVICE_URL: "http://web-dev-alb.example"}  # fmt: skip


def fake_stack(world: ServingWorld, tmp_path: Path, tag: str = B) -> Any:
    fake = FakeAutoStack(
        "dev", {"aws:region": REGION, "deplight:tier": "development", "deplight:image_tag": tag},
        [], world.outputs(), FakeWorkspace(f"file://{tmp_path}/state", "dev"),
    )  # fmt: skip
    return adapter(fake, tmp_path)


def test_status_reports_what_serves(aws_endpoint: str, tmp_path: Path) -> None:
    world = ServingWorld(aws_endpoint)
    world.push(B)
    td = world.run(B)
    world.cw.set_alarm_state(AlarmName="web-dev-5xx-rate", StateValue="ALARM",
                             StateReason="Threshold Crossed: 3 datapoints > 1")  # fmt: skip
    report = status_report(fake_stack(world, tmp_path), world.aws)
    assert report["image"] == f"{world.repo_uri}:{B}"
    assert report["service"]["task_definition"] == td
    assert (report["service"]["running"], report["service"]["desired"]) == (2, 2)
    groups = {g["color"]: g for g in report["target_groups"]}
    assert groups["blue"]["health"] == {"healthy": 2} and groups["green"]["health"] == {}
    assert report["traffic"] == {"web-dev-blue": 100.0}
    assert report["deployment"] is None
    assert [a["name"] for a in report["alarms"]] == ["web-dev-5xx-rate"]
    text = render_status(report)
    assert f"serving:    {world.repo_uri}:{B} (task definition web-dev:" in text
    assert "tasks:      2 running / 2 desired (ECS controller)" in text
    assert "blue   web-dev-blue: 2 healthy" in text and "green  web-dev-green: no targets" in text
    assert "traffic:    web-dev-blue 100%" in text
    assert "alarms:     web-dev-5xx-rate in ALARM" in text and "Threshold Crossed" in text


def test_a_weighted_listener_shows_the_traffic_share(aws_endpoint: str) -> None:
    world = ServingWorld(aws_endpoint, weights=(90, 10))
    split = traffic_split(world.aws.client("elbv2"), world.listener_arn)
    assert split == {"web-dev-blue": 90.0, "web-dev-green": 10.0}


def test_status_says_when_the_config_and_what_serves_differ(aws_endpoint: str,
                                                            tmp_path: Path) -> None:  # fmt: skip
    world = ServingWorld(aws_endpoint)
    world.run(A)
    text = render_status(status_report(fake_stack(world, tmp_path, tag=B), world.aws))
    assert f"the stack config says image_tag {B}, which is not what serves" in text


def test_a_stack_without_a_service_yet(aws_endpoint: str, tmp_path: Path) -> None:
    world = ServingWorld(aws_endpoint)
    report = status_report(fake_stack(world, tmp_path), world.aws)
    assert report["service"] is None and report["image"] is None
    assert any("ECS has no service web-dev" in n for n in report["notes"])


def test_status_cli_text_and_json(aws_endpoint: str, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    world = ServingWorld(aws_endpoint)
    world.run(B)
    stack = fake_stack(world, tmp_path)
    monkeypatch.setattr(rollback_cli, "select_stack", lambda name, project_dir: stack)
    monkeypatch.setattr(rollback_cli, "make_aws", lambda _stack: world.aws)
    assert main(["status", "--stack", "dev"]) == 0
    assert capsys.readouterr().out.startswith("Status of stack dev (strategy rolling)")
    assert main(["status", "--stack", "dev", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["image"].endswith(f":{B}") and doc["alarms"] == []
    assert main(["status", "--stack", "nosuch", "--json"]) == 2
    assert "no stack file Pulumi.nosuch.yaml" in json.loads(capsys.readouterr().out)["error"]


def test_a_codedeploy_release_in_progress(aws_endpoint: str, tmp_path: Path) -> None:
    world = ServingWorld(aws_endpoint)
    world.run(A)
    world.codedeploy()
    created = world.cd.create_deployment(
        applicationName="web-dev", deploymentGroupName="web-dev",
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": "{}"}},
    )["deploymentId"]  # fmt: skip
    fake = FakeAutoStack("dev", {"aws:region": REGION}, [], world.outputs(codedeploy=True),
                         FakeWorkspace(f"file://{tmp_path}/state", "dev"))  # fmt: skip
    report = status_report(adapter(fake, tmp_path), world.aws)
    assert report["deployment"]["kind"] == "codedeploy" and report["deployment"]["id"] == created
    assert f"deployment: CodeDeploy {created}: " in render_status(report)
