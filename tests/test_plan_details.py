"""``deplight plan`` shows what an SRE reviews: images and health checks, listener actions, role
trust and permissions, security-group rules in words, whole documents on request, a summary table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deplight import cli
from deplight.plan import _Placeholders, build_tree, render_json, render_text
from tests.conftest import program_run
from tests.test_ecs_service import variant


def node(tree: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for n in tree:
        if n["name"] == name:
            return n
        try:
            return node(n["children"], name)
        except LookupError:
            pass
    raise LookupError(name)


@pytest.fixture(scope="module")
def prod_text() -> str:
    return render_text(program_run("prod"))


def block(text: str, name: str) -> str:
    """The lines of one resource in the text tree."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.rstrip().split("  ")[-1] == name
                 or f"  {name}  [" in line)  # fmt: skip
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = next((i for i in range(start + 1, len(lines))
                if lines[i][indent:indent + 1] in ("+", "*") and
                len(lines[i]) - len(lines[i].lstrip()) <= indent), len(lines))  # fmt: skip
    return "\n".join(lines[start:end])


def test_the_task_definition_shows_image_and_health_check(prod_text: str) -> None:
    task = block(prod_text, "web-prod-task")
    assert "container web: image <repositoryUrl of web-prod-repo>:3f2a9c1" in task
    assert ("container web: health check `curl -fsS http://localhost:8080/health || exit 1` "
            "(shell form; every 15s, timeout 5s, retries 3, start period 30s)") in task  # fmt: skip
    assert ("container web: secrets CACHE_AUTH_TOKEN <- web-prod-cache-auth, DATABASE_PASSWORD <- "
            "<master user secret of web-prod-db>:password::") in task  # fmt: skip
    distroless = render_text(variant("prod", service={"health_check": "http"}))
    assert ("container web: health check none in the container (only the load balancer's "
            "target-group check)") in block(distroless, "web-prod-task")  # fmt: skip


def test_listeners_say_whether_they_forward_or_redirect(prod_text: str) -> None:
    assert "does: forward to target group web-prod-blue" in block(prod_text, "web-prod-https")
    assert "does: forward to target group web-prod-green" in block(prod_text, "web-prod-test")
    assert "does: redirect to HTTPS:443 (HTTP_301)" in block(prod_text, "web-prod-http-redirect")
    staging = render_text(program_run("staging"))
    rule = block(staging, "web-staging-prod-rule")
    assert "when: path matches /*" in rule and "on listener: web-staging-https" in rule


def test_every_role_shows_who_may_assume_it_and_what_it_may_do(prod_text: str) -> None:
    deploy = block(prod_text, "web-prod-github-deploy")
    assert ("trust: Allow identity provider arn:aws:iam::123456789012:oidc-provider/"
            "token.actions.githubusercontent.com (sts:AssumeRoleWithWebIdentity) "
            "if token.actions.githubusercontent.com:aud StringEquals sts.amazonaws.com and "
            "token.actions.githubusercontent.com:sub StringEquals "
            "repo:example-org/example-service:environment:prod | "
            "repo:example-org/example-service:environment:prod-rollback") in deploy  # fmt: skip
    # the deploy permissions are managed policies of the stack (IAM's inline size limit)
    assert "permissions: managed policy web-prod-github-deploy-1" in deploy
    execution = block(prod_text, "web-prod-execution-role")
    assert "trust: Allow AWS service ecs-tasks.amazonaws.com (sts:AssumeRole)" in execution
    assert ("permissions (web-prod-execution-policy): PullThisRepository: Allow "
            "ecr:BatchCheckLayerAvailability, ecr:BatchGetImage, ecr:GetDownloadUrlForLayer on "
            "web-prod-repo") in execution  # fmt: skip
    assert "permissions: none" in block(prod_text, "web-prod-task-role")
    codedeploy = block(prod_text, "web-prod-codedeploy-role")
    assert (
        "permissions: managed policy arn:aws:iam::aws:policy/AWSCodeDeployRoleForECS" in codedeploy
    )
    roles = [r.name for r in program_run("prod").of_type("aws:iam/role:Role")]
    for name in roles:
        text = block(prod_text, name)
        assert "trust: " in text and "permissions" in text, name


def test_security_group_rules_read_as_sentences(prod_text: str) -> None:
    alb = block(prod_text, "web-prod-alb-sg")
    assert "rule: allows in TCP 443 from 0.0.0.0/0 (anywhere)" in alb
    assert "rule: allows in TCP 8443 from 10.20.0.0/16" in alb
    assert "rule: allows out TCP 8080 to security group web-prod-task-sg" in alb
    assert "rule: allows in TCP 8080 from security group web-prod-alb-sg" in block(
        prod_text, "web-prod-task-sg")  # fmt: skip


def test_nothing_is_cut_and_the_summary_is_a_table(prod_text: str) -> None:
    assert "..." not in prod_text
    assert max(len(line) for line in prod_text.splitlines() if "Summary" in line) < 80
    lines = prod_text.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("Summary: ")))
    assert lines[start] == "Summary: 135 resources in 14 components"
    assert lines[start + 1].split() == ["count", "type"]
    assert "      6  aws:ec2/subnet:Subnet" in lines
    assert "      1  deplight:network:Network  (component)" in lines


def test_documents_are_whole_in_json_and_with_show_documents(
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = program_run("prod")
    managed = run.one("aws:iam/policy:Policy", "web-prod-github-deploy-1")
    policy = json.loads(managed.inputs["policy"])
    doc = json.loads(render_json(run))
    deploy = node(doc["resources"], "web-prod-github-deploy")
    whole = node(doc["resources"], "web-prod-github-deploy-1")["documents"]["policy"]
    assert whole == _Placeholders(run.generated)(policy), "whole, only AWS-made values replaced"
    assert [st["Action"] for st in whole["Statement"]] == [
        st["Action"] for st in policy["Statement"]
    ]
    assert deploy["documents"]["assumeRolePolicy"]["Statement"][0]["Action"] == (
        "sts:AssumeRoleWithWebIdentity")  # fmt: skip
    assert any(f.startswith("trust: ") for f in deploy["facts"])
    task = node(build_tree(run), "web-prod-task")
    assert task["documents"]["containerDefinitions"][0]["healthCheck"]["retries"] == 3

    assert "policy (whole document):" not in render_text(run)
    assert cli.main(["plan", "--stack", "prod", "--show-documents"]) == 0
    text = capsys.readouterr().out
    last = policy["Statement"][-1]
    assert f'"Sid": "{last["Sid"]}"' in text and "policy (whole document):" in text
