"""The EcsService component: ECR, cluster, roles, task definition, ALB, listeners, service."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.ecs_service import (
    aws_name,
    container_definitions,
    execution_policy,
    lifecycle_policy,
    task_policy,
)
from components.settings import SettingsError, parse_settings
from deplight.harness import ProgramRun, read_stack_config, run_program
from tests.cloudwatch_eval import Evaluator, Metrics, Semantics, metric_key
from tests.conftest import program_run
from tests.snapshots import assert_snapshot

XRAY_IMAGE = "public.ecr.aws/xray/aws-xray-daemon@sha256:" + "ab" * 32
REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web-prod"
SERVICE = "aws:ecs/service:Service"
LISTENER = "aws:lb/listener:Listener"
TASKDEF = "aws:ecs/taskDefinition:TaskDefinition"


def variant(stack: str, **sections: dict[str, Any]) -> ProgramRun:
    config = read_stack_config(stack)
    for section, values in sections.items():
        key = f"deplight:{section}"
        config[key] = {**(config.get(key) or {}), **values}
    return run_program(stack, config)


def statements(doc: Any) -> list[dict[str, Any]]:
    doc = json.loads(doc) if isinstance(doc, str) else doc
    return doc["Statement"]


def actions(st: dict[str, Any]) -> list[str]:
    a = st.get("Action", [])
    return [a] if isinstance(a, str) else list(a)


# --- pure builders ------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_container_definitions_snapshot(stack: str) -> None:
    s = parse_settings(stack, {k.split(":", 1)[1]: v for k, v in read_stack_config(stack).items()
                               if k.startswith("deplight:")})  # fmt: skip
    defs = container_definitions(
        settings=s.service, image=f"{REPO}:{s.image_tag}", log_group=f"/ecs/{s.prefix}",
        region="us-east-1", tracing_name=s.prefix,
    )  # fmt: skip
    assert_snapshot(f"container_definitions_{stack}", defs)
    app = defs[0]
    assert app["image"].endswith(":3f2a9c1")
    assert app["logConfiguration"]["logDriver"] == "awslogs"
    assert app["healthCheck"]["command"][1].endswith(f"{s.service.health_check_path} || exit 1")
    assert not app["privileged"]


def test_container_definitions_with_xray_sidecar_and_secrets() -> None:
    s = parse_settings(
        "prod",
        {"service": {"xray": True, "xray_daemon_image": XRAY_IMAGE,
                     "secrets": {"DB": "arn:aws:ssm:us-east-1:123456789012:parameter/db"}},
         "github": {"repository": "example-org/example-service", "oidc_provider": "create"}},
    )  # fmt: skip
    defs = container_definitions(settings=s.service, image=f"{REPO}:abcdef0", log_group="/ecs/x",
                                 region="us-east-1", tracing_name="web-prod")  # fmt: skip
    assert_snapshot("container_definitions_xray", defs)
    app, sidecar = defs
    assert sidecar["image"] == XRAY_IMAGE and not sidecar["essential"]
    env = {e["name"]: e["value"] for e in app["environment"]}
    assert env["AWS_XRAY_TRACING_NAME"] == "web-prod"
    assert app["secrets"] == [
        {"name": "DB", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/db"}
    ]


def test_execution_policy_is_scoped() -> None:
    doc = execution_policy(
        repository_arn="arn:aws:ecr:us-east-1:123456789012:repository/web-prod",
        log_group_arn="arn:aws:logs:us-east-1:123456789012:log-group:/ecs/web-prod",
        secrets={"A": "arn:aws:ssm:us-east-1:123456789012:parameter/a",
                 "B": "arn:aws:secretsmanager:us-east-1:123456789012:secret:b-AbC"},
    )  # fmt: skip
    for st in doc["Statement"]:
        assert not any(a == "*" or a.endswith(":*") for a in actions(st)), st
        if st["Resource"] == "*":
            assert actions(st) == ["ecr:GetAuthorizationToken"], st
    by_sid = {st["Sid"]: st for st in doc["Statement"]}
    assert by_sid["PullThisRepository"]["Resource"].endswith("repository/web-prod")
    assert by_sid["ReadParameters"]["Resource"] == [
        "arn:aws:ssm:us-east-1:123456789012:parameter/a"
    ]
    assert by_sid["ReadSecrets"]["Action"] == "secretsmanager:GetSecretValue"


def test_task_policy_only_with_tracing() -> None:
    assert task_policy(xray=False) is None
    doc = task_policy(xray=True)
    assert doc is not None
    assert all(a.startswith("xray:") and a != "xray:*" for a in actions(doc["Statement"][0]))


def test_lifecycle_policy_keeps_the_release_window() -> None:
    rules = lifecycle_policy(50)["rules"]
    keep = next(r for r in rules if r["selection"]["countType"] == "imageCountMoreThan")
    assert keep["selection"]["countNumber"] == 50 and keep["selection"]["tagStatus"] == "any"
    assert keep["rulePriority"] == max(r["rulePriority"] for r in rules)


def test_aws_name_respects_the_limit() -> None:
    assert aws_name("web-prod", "green") == "web-prod-green"
    long = aws_name("a-very-long-service-name-production", "green")
    assert len(long) <= 32 and long.endswith("-green")


# --- the component in the real program ----------------------------------------------------------
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_ecr_repository(stack: str) -> None:
    run = program_run(stack)
    repo = run.one("aws:ecr/repository:Repository")
    assert repo.inputs["imageScanningConfiguration"]["scanOnPush"] is True
    expected = "IMMUTABLE" if run.settings.service.ecr_immutable_tags else "MUTABLE"
    assert repo.inputs["imageTagMutability"] == expected
    encryption = repo.inputs["encryptionConfigurations"][0]
    if run.settings.observability.customer_managed_key:  # production: the stack's own key
        key = run.one("aws:kms/key:Key")
        assert encryption == {"encryptionType": "KMS", "kmsKey": key.outputs["arn"]}
    else:
        assert encryption["encryptionType"] == "AES256"
    assert (stack == "prod") == run.settings.observability.customer_managed_key
    policy = json.loads(run.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs["policy"])
    assert policy == lifecycle_policy(run.settings.service.ecr_keep_images)
    assert stack != "prod" or expected == "IMMUTABLE"


@pytest.mark.parametrize(("stack", "tier", "force"), [
    ("dev", None, True), ("staging", None, False), ("prod", None, False),
    ("dev", "production", False), ("prod", "development", True),
])  # fmt: skip
def test_ecr_force_delete_only_in_the_development_tier(stack: str, tier: str | None,
                                                       force: bool) -> None:  # fmt: skip
    """destroy fails on a repository that holds images unless force_delete is set; only a
    development stack may lose its images that way, whatever the stack is called."""
    config = read_stack_config(stack)
    if tier:
        config["deplight:tier"] = tier
    run = run_program(stack, config) if tier else program_run(stack)
    repo = run.one("aws:ecr/repository:Repository")
    assert bool(repo.inputs.get("forceDelete")) is force, (run.settings.tier, repo.inputs)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_task_definition_runs_the_release_image(stack: str) -> None:
    run = program_run(stack)
    td = run.one(TASKDEF)
    repo = run.one("aws:ecr/repository:Repository")
    defs = json.loads(td.inputs["containerDefinitions"])
    assert defs[0]["image"] == f"{repo.outputs['repositoryUrl']}:{run.settings.image_tag}"
    assert (td.inputs["cpu"], td.inputs["memory"]) == (
        str(run.settings.service.cpu),
        str(run.settings.service.memory),
    )
    assert td.inputs["requiresCompatibilities"] == ["FARGATE"]
    assert td.inputs["networkMode"] == "awsvpc"
    assert td.inputs["skipDestroy"] is True
    log_group = run.one("aws:cloudwatch/logGroup:LogGroup", f"{run.settings.prefix}-logs")
    assert defs[0]["logConfiguration"]["options"]["awslogs-group"] == log_group.inputs["name"]
    roles = {r.name: r for r in run.of_type("aws:iam/role:Role")}
    assert (
        td.inputs["executionRoleArn"]
        == roles[f"{run.settings.prefix}-execution-role"].outputs["arn"]
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_role_policy_grants_a_wildcard_action(stack: str) -> None:
    run = program_run(stack)
    for policy in run.of_type("aws:iam/rolePolicy:RolePolicy"):
        for st in statements(policy.inputs["policy"]):
            assert not any(a == "*" or a.endswith(":*") for a in actions(st)), (policy.name, st)
    # the task role has no permissions unless tracing is on
    assert not [p for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if "task-policy" in p.name]


def test_alb_and_target_groups() -> None:
    for stack in ("dev", "prod"):
        run = program_run(stack)
        alb = run.one("aws:lb/loadBalancer:LoadBalancer")
        assert alb.inputs["dropInvalidHeaderFields"] is True
        assert alb.inputs["enableDeletionProtection"] is run.settings.ingress.deletion_protection
        assert alb.inputs["internal"] is False
        assert alb.inputs["subnets"] == run.outputs["public_subnet_ids"]
        tgs = run.of_type("aws:lb/targetGroup:TargetGroup")
        assert sorted(t.name.rsplit("-", 1)[1] for t in tgs) == ["blue", "green"]
        for tg in tgs:
            assert tg.inputs["targetType"] == "ip"
            assert tg.inputs["healthCheck"]["path"] == run.settings.service.health_check_path
            assert int(tg.inputs["deregistrationDelay"]) <= 60
            assert len(tg.inputs["name"]) <= 32
    assert (
        program_run("prod")
        .one("aws:lb/loadBalancer:LoadBalancer")
        .inputs["enableDeletionProtection"]
    )


def listeners(run: ProgramRun) -> dict[int, Any]:
    return {int(lst.inputs["port"]): lst for lst in run.of_type(LISTENER)}


def test_prod_listener_is_https_and_http_only_redirects() -> None:
    run = program_run("prod")
    by_port = listeners(run)
    https = by_port[443]
    assert https.inputs["protocol"] == "HTTPS"
    assert https.inputs["certificateArn"] == run.settings.ingress.certificate_arn
    assert https.inputs["sslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    http = by_port[80]
    assert [a["type"] for a in http.inputs["defaultActions"]] == ["redirect"]
    assert http.inputs["defaultActions"][0]["redirect"]["protocol"] == "HTTPS"
    blue = run.one("aws:lb/targetGroup:TargetGroup", "blue")
    assert https.inputs["defaultActions"][0]["targetGroupArn"] == blue.outputs["arn"]
    assert run.outputs["service_url"].startswith("https://")
    assert run.outputs["prod_listener_arn"] == https.outputs["arn"]


def test_dev_without_certificate_serves_plain_http() -> None:
    run = program_run("dev")
    by_port = listeners(run)
    assert set(by_port) == {80, run.settings.ingress.test_port}
    assert by_port[80].inputs["protocol"] == "HTTP"
    assert by_port[80].inputs["defaultActions"][0]["type"] == "forward"
    assert run.outputs["service_url"].startswith("http://")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_test_listener_forwards_to_green_and_is_not_open_to_the_internet(stack: str) -> None:
    run = program_run(stack)
    port = run.settings.ingress.test_port
    test = listeners(run)[port]
    green = run.one("aws:lb/targetGroup:TargetGroup", "green")
    assert test.inputs["defaultActions"][0]["targetGroupArn"] == green.outputs["arn"]
    rules = [r for r in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
             if int(r.inputs["fromPort"]) <= port <= int(r.inputs["toPort"])]  # fmt: skip
    assert rules, "the configured test CIDRs reach the test port"
    for r in rules:
        assert r.inputs.get("cidrIpv4") not in ("0.0.0.0/0",) and r.inputs.get("cidrIpv6") != "::/0"


def test_service_controller_per_strategy() -> None:
    rolling = program_run("dev").one(SERVICE)
    assert rolling.inputs["deploymentController"]["type"] == "ECS"
    assert rolling.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert rolling.ignore_changes == ("desiredCount",)
    assert rolling.inputs["waitForSteadyState"] is True

    codedeploy = program_run("prod").one(SERVICE)
    assert codedeploy.inputs["deploymentController"]["type"] == "CODE_DEPLOY"
    assert set(codedeploy.ignore_changes) == {"taskDefinition", "loadBalancers", "desiredCount",
                                              "networkConfiguration", "platformVersion"}  # fmt: skip
    for lst in program_run("prod").of_type(LISTENER):
        if lst.inputs["defaultActions"][0]["type"] == "forward":
            assert lst.ignore_changes == ("defaultActions",), lst.name
    for lst in program_run("dev").of_type(LISTENER):
        assert lst.ignore_changes == (), lst.name


@pytest.mark.parametrize(("stack", "ignored"), [
    ("dev", {"desiredCount"}),
    # ECS's own blue/green takes network and platform changes through UpdateService
    ("staging", {"desiredCount", "loadBalancers"}),
    # CODE_DEPLOY: ECS rejects them there, the release's AppSpec carries them
    ("prod", {"desiredCount", "taskDefinition", "loadBalancers", "networkConfiguration",
              "platformVersion"}),
])  # fmt: skip
def test_network_and_platform_ownership_per_strategy(stack: str, ignored: set[str]) -> None:
    run = program_run(stack)
    svc = run.one(SERVICE)
    assert set(svc.ignore_changes) == ignored, run.settings.deploy.strategy
    releases = run.of_type("pulumi-python:dynamic/deplight:Release")
    # whatever the service ignores, something else must carry: only CODE_DEPLOY has a release
    assert bool(releases) is ("networkConfiguration" in ignored)
    if releases:
        net = svc.inputs["networkConfiguration"]
        assert releases[0].inputs["subnets"] == net["subnets"]
        assert releases[0].inputs["platform_version"] == svc.inputs["platformVersion"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_service_in_private_subnets_behind_blue(stack: str) -> None:
    run = program_run(stack)
    svc = run.one(SERVICE)
    net = svc.inputs["networkConfiguration"]
    assert net["subnets"] == run.outputs["private_subnet_ids"]
    assert net["assignPublicIp"] is False
    task_sg = run.one("aws:ec2/securityGroup:SecurityGroup", "task-sg")
    assert net["securityGroups"] == [task_sg.id]
    blue = run.one("aws:lb/targetGroup:TargetGroup", "blue")
    (lb,) = svc.inputs["loadBalancers"]
    assert lb["targetGroupArn"] == blue.outputs["arn"]
    assert (lb["containerName"], int(lb["containerPort"])) == (
        run.settings.service.name, run.settings.service.container_port,
    )  # fmt: skip
    assert svc.inputs["launchType"] == "FARGATE"
    assert int(svc.inputs["desiredCount"]) == run.settings.service.desired_count


def test_no_nat_puts_tasks_in_public_subnets_and_says_so() -> None:
    run = variant("dev", network={"nat": "none"})
    net = run.one(SERVICE).inputs["networkConfiguration"]
    assert net["assignPublicIp"] is True
    assert net["subnets"] == run.outputs["public_subnet_ids"]
    assert any("public IPs" in w for w in run.warnings), run.warnings


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_autoscaling_between_min_and_max(stack: str) -> None:
    run = program_run(stack)
    target = run.one("aws:appautoscaling/target:Target")
    s = run.settings.service
    assert (int(target.inputs["minCapacity"]), int(target.inputs["maxCapacity"])) == (
        s.min_count, s.max_count,
    )  # fmt: skip
    assert target.inputs["resourceId"] == f"service/{run.settings.prefix}/{run.settings.prefix}"
    policies = {
        p.name.rsplit("-", 1)[1]: p for p in run.of_type("aws:appautoscaling/policy:Policy")
    }
    cpu = policies["cpu"].inputs["targetTrackingScalingPolicyConfiguration"]
    assert cpu["predefinedMetricSpecification"]["predefinedMetricType"] == (
        "ECSServiceAverageCPUUtilization"
    )
    assert int(cpu["targetValue"]) == s.cpu_target_percent
    req = policies["requests"].inputs["targetTrackingScalingPolicyConfiguration"]
    assert int(req["targetValue"]) == s.requests_per_target
    if stack == "dev":  # rolling: blue always serves
        label = req["predefinedMetricSpecification"]["resourceLabel"]
        assert label == (
            f"{run.outputs['alb_arn_suffix']}/{run.outputs['blue_target_group_arn_suffix']}"
        )


def _requests_policy(run: ProgramRun) -> dict[str, Any]:
    (policy,) = [p for p in run.of_type("aws:appautoscaling/policy:Policy")
                 if p.name.endswith("-scale-requests")]  # fmt: skip
    return dict(policy.inputs["targetTrackingScalingPolicyConfiguration"])


def _scaling_signal(run: ProgramRun, blue: float | None, green: float | None) -> float | None:
    """What the request policy tracks when CloudWatch holds these per-target request counts
    (``None``: the group got no requests, so the ALB published nothing for it)."""
    alb = {"LoadBalancer": run.outputs["alb_arn_suffix"]}
    m = Metrics(periods=1)
    for color, value in (("blue", blue), ("green", green)):
        dims = {"TargetGroup": run.outputs[f"{color}_target_group_arn_suffix"], **alb}
        m.put("AWS/ApplicationELB", "RequestCountPerTarget", dims, value)
    config = _requests_policy(run)
    if "predefinedMetricSpecification" in config:
        # ALBRequestCountPerTarget of the group its label names
        tg = config["predefinedMetricSpecification"]["resourceLabel"].split("/", 3)[3]
        return m.series(metric_key("AWS/ApplicationELB", "RequestCountPerTarget",
                                   {"TargetGroup": tg, **alb}))[0]  # fmt: skip
    queries = config["customizedMetricSpecification"]["metrics"]
    return Evaluator(m, Semantics(fill_empty=False)).queries(queries, stat_key="metricStat")[0]


@pytest.mark.parametrize("strategy", ["rolling", "codedeploy", "ecs_bluegreen"])
def test_request_scaling_follows_the_serving_target_group(strategy: str) -> None:
    """Under codedeploy and ecs_bluegreen every release swaps the serving group; the request
    policy must track whichever serves, not the group that served at the last ``up``."""
    run = variant("prod", deploy={"strategy": strategy})
    assert run.settings.deploy.strategy.value == strategy
    # before the first swap blue serves: 800 requests per target per minute
    assert _scaling_signal(run, blue=800, green=None) == 800
    if strategy == "rolling":
        # rolling never serves from green: AWS's predefined metric of blue is exact
        assert "predefinedMetricSpecification" in _requests_policy(run)
        return
    assert "predefinedMetricSpecification" not in _requests_policy(run)
    # after a release green serves and blue is idle (no requests, or a zero)
    assert _scaling_signal(run, blue=None, green=800) == 800
    assert _scaling_signal(run, blue=0, green=800) == 800
    # during a 10 % canary on as many green tasks as blue ones, the busier group counts
    assert _scaling_signal(run, blue=720, green=80) == 720
    # idle: nothing to scale on
    assert _scaling_signal(run, blue=None, green=None) is None


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_committed_stacks_track_the_serving_group(stack: str) -> None:
    run = program_run(stack)
    assert _scaling_signal(run, blue=500, green=None) == 500
    strategy = run.settings.deploy.strategy.value
    assert (_scaling_signal(run, blue=None, green=500) == 500) is (strategy != "rolling"), strategy


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_autoscaling_scales_out_fast_and_in_slowly(stack: str) -> None:
    # Out after 60 s so a spike gets capacity quickly; in only after 120 s so one quiet minute
    # does not remove tasks the next minute needs again (flapping).
    policies = program_run(stack).of_type("aws:appautoscaling/policy:Policy")
    assert len(policies) == 2
    for policy in policies:
        conf = policy.inputs["targetTrackingScalingPolicyConfiguration"]
        assert (int(conf["scaleOutCooldown"]), int(conf["scaleInCooldown"])) == (60, 120), (
            policy.urn
        )


def test_cluster_has_container_insights() -> None:
    cluster = program_run("prod").one("aws:ecs/cluster:Cluster")
    assert {"name": "containerInsights", "value": "enabled"} in cluster.inputs["settings"]


def test_bootstrap_creates_everything_but_the_service() -> None:
    config = read_stack_config("prod")
    del config["deplight:image_tag"]
    run = run_program("prod", config)
    assert run.settings.bootstrap
    assert not run.of_type(SERVICE) and not run.of_type(TASKDEF)
    assert not run.of_type("aws:appautoscaling/target:Target")
    assert run.of_type("aws:ecr/repository:Repository") and run.of_type(LISTENER)
    assert run.outputs["repository_url"].endswith("/web-prod")
    assert run.outputs["service_name"] is None
    assert any("bootstrap" in w for w in run.warnings)


def test_outputs_for_the_release_commands() -> None:
    outs = program_run("prod").outputs
    for key in ("service_url", "alb_dns_name", "alb_arn_suffix", "blue_target_group_name",
                "green_target_group_name", "blue_target_group_arn_suffix",
                "green_target_group_arn_suffix", "prod_listener_arn", "test_listener_arn",
                "cluster_name", "service_name", "repository_url", "repository_name",
                "task_definition_arn", "task_definition_family", "container_name"):  # fmt: skip
        assert outs.get(key), key
    assert outs["task_definition_arn"].startswith(
        "arn:aws:ecs:us-east-1:123456789012:task-definition/"
    )
    assert outs["alb_arn_suffix"].startswith("app/")
    assert outs["blue_target_group_arn_suffix"].startswith("targetgroup/")


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("service", {"cpu": 512, "memory": 512}, "deplight:service.memory"),
        ("ingress", {"test_port": 443}, "deplight:ingress.test_port"),
        ("service", {"health_check_path": "healthz"}, "deplight:service.health_check_path"),
    ],
)
def test_bad_settings_fail_before_anything_is_registered(section: str, values: dict[str, Any],
                                                          key: str) -> None:  # fmt: skip
    with pytest.raises(SettingsError) as info:
        variant("prod", **{section: values})
    assert any(e.startswith(key) for e in info.value.errors), info.value.errors
