"""`deplight plan` as a user runs it: a subprocess, no credentials, no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def deplight(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "deplight.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def dev_plan() -> subprocess.CompletedProcess[str]:
    return deplight("plan", "--stack", "dev")


def test_plan_prints_the_tree_and_a_summary(dev_plan: subprocess.CompletedProcess[str]) -> None:
    assert dev_plan.returncode == 0, dev_plan.stderr
    out = dev_plan.stdout
    assert "* deplight:network:Network  web-dev" in out
    assert "    + aws:ec2/vpc:Vpc  web-dev-vpc" in out, "children are indented under the component"
    assert "cidrBlock: 10.10.0.0/16" in out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Summary:"))
    # the per-type count is a table (one `count  type` row per type), not one long line
    rows = dict(reversed(line.split()[:2]) for line in lines[start + 2 :] if line[:1] == " ")
    assert rows["aws:ec2/subnet:Subnet"] == "4" and rows["aws:ec2/natGateway:NatGateway"] == "1"
    assert "<id of web-dev-vpc>" in out, "AWS-assigned values are placeholders"
    assert "placeholders" in out
    assert "Traceback" not in dev_plan.stderr


def test_plan_json_matches_the_tree() -> None:
    result = deplight("plan", "--stack", "prod", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["stack"] == "prod"
    network = next(n for n in doc["resources"] if n["type"] == "deplight:network:Network")
    subnets = [c for c in network["children"] if c["type"] == "aws:ec2/subnet:Subnet"]
    assert len(subnets) == 6
    assert doc["summary"]["aws:ec2/natGateway:NatGateway"] == 3
    assert doc["resource_count"] == sum(
        n for t, n in doc["summary"].items() if not t.startswith("deplight:")
    )


def test_plan_is_the_same_every_run(dev_plan: subprocess.CompletedProcess[str]) -> None:
    """The SDK registers resources in whatever order their inputs resolve; a plan that reviewers
    diff must not reorder itself between runs."""
    again = [deplight("plan", "--stack", "dev") for _ in range(2)]
    assert all(run.returncode == 0 for run in again)
    assert {run.stdout for run in again} == {dev_plan.stdout}


def broken_project(tmp_path: Path, stack_yaml: str) -> Path:
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "components").symlink_to(ROOT / "components")
    (tmp_path / "Pulumi.dev.yaml").write_text(stack_yaml)
    return tmp_path


def test_broken_stack_file_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    project = broken_project(
        tmp_path,
        """config:
  deplight:tier: development
  deplight:image_tag: latest
  deplight:service:
    cpu: 256
    memory: 4096
    health_check_path: health
  deplight:network:
    cidr: 172.15.0.0/16
    az_count: 9
    nat: sometimes
""",
    )
    result = deplight("plan", "--stack", "dev", "--project-dir", str(project))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for key in (
        "deplight:image_tag", "deplight:service.memory", "deplight:service.health_check_path",
        "deplight:network.cidr", "deplight:network.az_count", "deplight:network.nat",
    ):  # fmt: skip
        assert f"  - {key}:" in result.stderr, (key, result.stderr)
    assert result.stdout == ""


def test_unknown_stack_and_bad_yaml_exit_2(tmp_path: Path) -> None:
    missing = deplight("plan", "--stack", "nope")
    assert missing.returncode == 2 and "Pulumi.nope.yaml" in missing.stderr
    assert "available stacks" in missing.stderr
    project = broken_project(tmp_path, "config: [unclosed\n")
    bad = deplight("plan", "--stack", "dev", "--project-dir", str(project))
    assert bad.returncode == 2 and "not valid YAML" in bad.stderr
    assert "Traceback" not in bad.stderr
