"""Migrations as a release step and the restore point of a rollback, against moto's server over
HTTP on 127.0.0.1 (RDS, ECS, CloudWatch Logs, EC2), with the real adapter over a fake Automation
API ``Stack``.

moto's ECS ``RunTask`` starts no container. Its task walks through its lifecycle by itself (one
state per ``DescribeTasks``, moto's default ``ecs::task`` transition, until ``STOPPED``); what a
container would do is played by :class:`Container`, which the command's own ``sleep`` drives
between polls: it writes the lines the awslogs driver would write to the task's stream (through
the Logs API, over HTTP) and sets the container's exit code in moto's in-process ECS backend, the
one field no API call sets. moto implements every call this step makes; only a snapshot that is
still being created or that fails needs botocore's Stubber, since moto's is available at once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.backends import get_backend
from moto.moto_api import state_manager

from components import contract as out
from components.contract import Tier
from rollback.aws import Aws
from rollback.commands import DeployOptions, RollbackOptions, deploy, rollback
from rollback.errors import BadInputError
from rollback.migrate import (
    migration_task_definition,
    plan_migration,
    pre_migration_snapshots,
    read_migrate_command,
    snapshot_id,
    take_snapshot,
)
from rollback.stack import PulumiStack
from tests.test_rollback_support import (
    REGION,
    SHA,
    FakeAutoStack,
    FakeWorkspace,
    MotoWorld,
    NoSleep,
    adapter,
    moto_client,
    summary,
)

A, B = SHA["A"], SHA["B"]
ACCOUNT = "123456789012"
COMMAND = ["python", "manage.py", "migrate"]
T0 = datetime.now(UTC) - timedelta(days=2)


class Container:
    """Plays the migration container that moto does not run: on the first poll it writes its
    first lines, on the next its last ones and its exit code."""

    def __init__(self, endpoint: str, *, cluster: str, exit_code: int, lines: list[str]) -> None:
        self.logs = moto_client(endpoint, "logs")
        self.cluster, self.exit_code, self.lines = cluster, exit_code, lines
        self.polls = 0

    def task(self) -> Any | None:
        tasks = get_backend("ecs")[ACCOUNT][REGION].tasks.get(self.cluster, {})
        found = [t for t in tasks.values() if t.started_by == "deplight-migrate"]
        return found[-1] if found else None

    def __call__(self) -> None:
        task = self.task()
        if task is None:
            return
        self.polls += 1
        stream = f"web/web/{task.id}"  # awslogs: <stream prefix>/<container>/<task id>
        half = len(self.lines) // 2
        batch = (
            self.lines[:half] if self.polls == 1 else self.lines[half:] if self.polls == 2 else []
        )
        if self.polls == 1:
            self.logs.create_log_stream(logGroupName="/ecs/web-prod", logStreamName=stream)
        if batch:
            now = int(time.time() * 1000)
            self.logs.put_log_events(logGroupName="/ecs/web-prod", logStreamName=stream,
                                     logEvents=[{"timestamp": now + i, "message": m}
                                                for i, m in enumerate(batch)])  # fmt: skip
        if self.polls == 2:
            task.containers[0].exitCode = self.exit_code


class PlayedEnv(NoSleep):
    """Time that does not wait; each wait lets the container do its next step."""

    def __init__(self, container: Container | None) -> None:
        super().__init__()
        self.container = container

    def _sleep(self, seconds: float) -> None:
        super()._sleep(seconds)
        if self.container is not None:
            self.container()


class MigrationRig:
    """A prod-shaped stack: moto holds the cluster, the task definition the service runs (awslogs
    to /ecs/web-prod, a health check), the task network, the log group and the Aurora cluster."""

    def __init__(self, endpoint: str, tmp_path: Path, *, tier: str = "production",
                 command: list[str] | None = COMMAND, database: bool = True,
                 history: list[Any] | None = None, image_tag: str = A,
                 schema: int = 12) -> None:  # fmt: skip
        self.endpoint = endpoint
        self.world = MotoWorld(endpoint, "prod")
        self.world.push(A, B)
        self.world.run(image_tag)
        # Fresh ECS and RDS clients, so the call log below is this rig's alone.
        ecs, self.rds = fresh_client(endpoint, "ecs"), fresh_client(endpoint, "rds")
        ec2, self.logs = moto_client(endpoint, "ec2"), moto_client(endpoint, "logs")
        self.calls: list[str] = []
        """The AWS calls of the command (ECS, RDS) and the engine's ``up``, in order."""
        for client in (ecs, self.rds):
            client.meta.events.register("before-call",
                                        lambda model, **_: self.calls.append(model.name))  # fmt: skip
        self.aws = Aws(REGION, endpoint_url=endpoint, clients={
            **{n: moto_client(endpoint, n) for n in ("ecr", "elbv2", "dynamodb", "codedeploy",
                                                     "logs")},
            "ecs": ecs, "rds": self.rds})  # fmt: skip
        vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # as Network does
        self.subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{96 + 32 * i}.0/19",
                                          AvailabilityZone=f"{REGION}{'ab'[i]}")["Subnet"]["SubnetId"]
                        for i in range(2)]  # fmt: skip
        self.task_sg = ec2.create_security_group(GroupName="web-prod-tasks", VpcId=vpc,
                                                 Description="tasks")["GroupId"]  # fmt: skip
        self.logs.create_log_group(logGroupName="/ecs/web-prod")
        # The revision the program registers (container memory only because moto's RunTask
        # needs it to place a task; Fargate itself takes the task-level size).
        self.task_definition = ecs.register_task_definition(
            family="web-prod", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            cpu="1024", memory="2048",
            executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/web-prod-execution",
            taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/web-prod-task",
            containerDefinitions=[{
                "name": "web", "image": f"{self.world.repo_uri}:{image_tag}", "essential": True,
                "memory": 2048, "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                "environment": [{"name": "DATABASE_HOST", "value": "web-prod-db.cluster-x"}],
                "secrets": [{"name": "DATABASE_PASSWORD",
                             "valueFrom": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
                                          "rds!cluster-1-AbCdEf:password::"}],
                "healthCheck": {"command": ["CMD-SHELL", "curl -fsS localhost:8080/health"]},
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": "/ecs/web-prod", "awslogs-region": REGION,
                    "awslogs-stream-prefix": "web"}},
            }],
        )["taskDefinition"]["taskDefinitionArn"]  # fmt: skip
        outputs = {**self.world.outputs(codedeploy=False), out.TASK_DEFINITION_ARN:
                   self.task_definition, out.TASK_SUBNET_IDS: self.subnets,
                   out.TASK_SECURITY_GROUP_ID: self.task_sg, out.TASK_ASSIGN_PUBLIC_IP: False}  # fmt: skip
        if database:
            self.rds.create_db_cluster(DBClusterIdentifier="web-prod-db",
                                       Engine="aurora-postgresql", MasterUsername="app_admin",
                                       ManageMasterUserPassword=True)  # fmt: skip
            outputs[out.DB_CLUSTER_IDENTIFIER] = "web-prod-db"
        config: dict[str, Any] = {"aws:region": REGION, "deplight:tier": tier,
                                  "deplight:image_tag": image_tag,
                                  "deplight:schema_version": schema}  # fmt: skip
        if command is not None:
            config["deplight:deploy"] = {"strategy": "rolling", "migrate_command": command}
        self.fake = FakeAutoStack(
            "prod", config, history or [summary(image_tag, message=f"deploy: {image_tag}",
                                                start=T0, schema=schema)],
            outputs, FakeWorkspace(f"file://{tmp_path}/state", "prod"), on_up=self.on_up,
        )  # fmt: skip
        self.stack: PulumiStack = adapter(self.fake, tmp_path)

    def on_up(self, config: dict[str, Any]) -> None:
        self.calls.append("up")
        self.world.on_up(config)

    def deploy(self, tag: str, *, exit_code: int = 0, lines: list[str] | None = None,
               **opts: Any) -> Any:  # fmt: skip
        container = Container(self.endpoint, cluster="web-prod", exit_code=exit_code,
                              lines=lines or ["Applying 0013_orders_index... OK"])  # fmt: skip
        self.container = container
        opts.setdefault("verify_timeout_s", 0)
        return deploy(self.stack, self.aws, DeployOptions(image_tag=tag, **opts),
                      PlayedEnv(container))  # fmt: skip

    def migration_tasks(self) -> list[Any]:
        tasks = get_backend("ecs")[ACCOUNT][REGION].tasks.get("web-prod", {})
        return [t for t in tasks.values() if t.started_by == "deplight-migrate"]


def fresh_client(endpoint: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


@pytest.fixture
def unset_task_transition() -> Iterator[None]:
    yield
    state_manager.unset_transition("ecs::task")


# --- deploy --------------------------------------------------------------------------------------
def test_prod_migration_snapshots_then_runs_the_new_image_then_releases(
    aws_endpoint: str, tmp_path: Path
) -> None:
    rig = MigrationRig(aws_endpoint, tmp_path)
    lines = ["Operations to perform:", "Applying 0013_orders_index... OK"]
    result = rig.deploy(B, schema_version=13, lines=lines)

    assert result.exit_code == 0 and result.status == "succeeded", result.summary
    assert rig.fake.config["deplight:image_tag"] == B
    assert rig.fake.config["deplight:schema_version"] == 13
    # the snapshot first, named after the release, then the task, then (only then) the release
    snap = snapshot_id("web-prod-db", 12, 13, B, result.release_id)
    assert snap.startswith(f"web-prod-db-schema-12-to-13-{B}-deploy-")
    found = rig.rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snap)
    assert found["DBClusterSnapshots"][0]["Status"] == "available"
    order = [c for c in rig.calls if c in ("CreateDBClusterSnapshot", "RunTask", "up")]
    assert order == ["CreateDBClusterSnapshot", "RunTask", "up"]
    # one task, with the new image, the command, the service's subnets and group
    [task] = rig.migration_tasks()
    assert task.overrides == {"containerOverrides": [{"name": "web", "command": COMMAND}]}
    assert task.launch_type == "FARGATE"
    net = task.network_configuration["awsvpcConfiguration"]
    assert net["subnets"] == rig.subnets and net["securityGroups"] == [rig.task_sg]
    assert net["assignPublicIp"] == "DISABLED"
    ecs = moto_client(aws_endpoint, "ecs")
    td = ecs.describe_task_definition(taskDefinition=task.task_definition_arn)["taskDefinition"]
    app = td["containerDefinitions"][0]
    assert td["family"] == "web-prod" and app["image"] == f"{rig.world.repo_uri}:{B}"
    assert "healthCheck" not in app and app["secrets"][0]["name"] == "DATABASE_PASSWORD"
    assert td["executionRoleArn"].endswith("role/web-prod-execution")
    assert td["status"] == "INACTIVE", "the one-off revision is deregistered afterwards"
    # what the command reports and the audit records
    assert result.migration["exit_code"] == 0 and result.migration["snapshot"] == snap
    assert result.migration["log_tail"] == lines
    assert result.migration["log_stream"] == f"/ecs/web-prod:web/web/{task.id}"
    [record] = rig.world.audit()
    assert record["result"] == "succeeded" and record["to_schema"] == 13
    assert record["migration"]["snapshot"] == snap and record["migration"]["exit_code"] == 0
    check = next(c for c in result.checks if c.name == "migration")
    assert check.ok and "schema_version 12 -> 13" in check.reason and "snapshot" in check.reason


def test_failed_migration_stops_the_deploy_with_nothing_changed(
    aws_endpoint: str, tmp_path: Path
) -> None:
    rig = MigrationRig(aws_endpoint, tmp_path)
    lines = ["Applying 0013_orders_index...", "psycopg.errors.DuplicateTable: orders_idx exists"]
    result = rig.deploy(B, schema_version=13, exit_code=3, lines=lines)

    assert result.exit_code == 1 and result.status == "failed"
    assert "exited 3" in result.summary and "DuplicateTable" in result.summary
    assert "unchanged" in result.summary
    assert rig.fake.config["deplight:image_tag"] == A
    assert rig.fake.config["deplight:schema_version"] == 12
    assert rig.fake.ops() == [], "no config written, no up"
    assert result.migration["exit_code"] == 3 and result.migration["log_tail"] == lines
    [record] = rig.world.audit()
    assert record["result"] == "failed" and "exited 3" in record["error"]
    assert record["migration"]["exit_code"] == 3
    assert record["config"].startswith(f"unchanged ({A}")


def test_dev_migrates_without_a_snapshot(aws_endpoint: str, tmp_path: Path) -> None:
    rig = MigrationRig(aws_endpoint, tmp_path, tier="development")
    result = rig.deploy(B, schema_version=13)
    assert result.status == "succeeded", result.summary
    assert "CreateDBClusterSnapshot" not in rig.calls and "RunTask" in rig.calls
    assert result.migration["snapshot"] is None
    assert not pre_migration_snapshots(rig.rds, "web-prod-db")
    check = next(c for c in result.checks if c.name == "migration")
    assert "without a snapshot (tier development)" in check.reason


def test_no_migration_when_the_schema_stays(aws_endpoint: str, tmp_path: Path) -> None:
    same = MigrationRig(aws_endpoint, tmp_path)
    result = same.deploy(B, schema_version=12)
    assert result.status == "succeeded" and result.migration is None
    assert "RunTask" not in same.calls and not [c for c in result.checks if c.name == "migration"]


def test_no_migration_without_a_command(aws_endpoint: str, tmp_path: Path) -> None:
    unset = MigrationRig(aws_endpoint, tmp_path, command=None)
    result = unset.deploy(B, schema_version=13)
    assert (
        result.status == "succeeded" and result.migration is None and "RunTask" not in unset.calls
    )
    check = next(c for c in result.checks if c.name == "migration")
    assert check.ok and "no deplight:deploy.migrate_command" in check.reason
    assert unset.fake.config["deplight:schema_version"] == 13


def test_migration_that_runs_too_long_is_stopped(
    aws_endpoint: str, tmp_path: Path, unset_task_transition: None
) -> None:
    # the task never stops by itself: moto advances it only after 1000 descriptions
    state_manager.set_transition("ecs::task", {"progression": "manual", "times": 1000})
    rig = MigrationRig(aws_endpoint, tmp_path)
    result = rig.deploy(B, schema_version=13, migrate_timeout_s=30, poll_s=10)
    assert (
        result.status == "failed" and "still" in result.summary and "after 30 s" in result.summary
    )
    assert "StopTask" in rig.calls and rig.migration_tasks()[0].last_status == "STOPPED"
    assert rig.fake.config["deplight:image_tag"] == A and rig.fake.ops() == []


def test_bootstrap_stack_cannot_migrate_and_says_how(aws_endpoint: str, tmp_path: Path) -> None:
    rig = MigrationRig(aws_endpoint, tmp_path)
    del rig.fake.stack_outputs[out.TASK_DEFINITION_ARN]
    result = rig.deploy(B, schema_version=13)
    assert result.status == "refused" and "bootstrap" in result.summary
    assert "without --schema-version" in result.summary and rig.fake.ops() == []
    assert "CreateDBClusterSnapshot" not in rig.calls and "RunTask" not in rig.calls


def test_an_invalid_command_in_the_stack_config_is_bad_input(
    aws_endpoint: str, tmp_path: Path
) -> None:
    rig = MigrationRig(aws_endpoint, tmp_path, command=["python", ""])
    with pytest.raises(BadInputError, match=r"deplight:deploy\.migrate_command: expected a list"):
        rig.deploy(B, schema_version=13)
    with pytest.raises(BadInputError, match=r"--migrate-timeout: expected a positive .* found -5"):
        rig.deploy(B, schema_version=13, migrate_timeout_s=-5)
    assert rig.fake.ops() == [] and rig.world.audit() == []


# --- rollback across a migration -----------------------------------------------------------------
def _crossed(endpoint: str, tmp_path: Path, **kw: Any) -> MigrationRig:
    history = [summary(B, message=f"deploy: {B}", start=T0 + timedelta(hours=2), schema=13),
               summary(A, message=f"deploy: {A}", start=T0, schema=12)]  # fmt: skip
    return MigrationRig(endpoint, tmp_path, history=history, image_tag=B, schema=13, **kw)


def _rollback(rig: MigrationRig, **opts: Any) -> Any:
    opts.setdefault("verify_timeout_s", 0)
    return rollback(rig.stack, rig.aws, RollbackOptions(yes=True, **opts), NoSleep())


def test_rollback_across_a_migration_needs_the_pre_migration_snapshot(
    aws_endpoint: str, tmp_path: Path
) -> None:
    rig = _crossed(aws_endpoint, tmp_path)
    # a snapshot of another migration (11 -> 12) is not A's restore point
    rig.rds.create_db_cluster_snapshot(DBClusterIdentifier="web-prod-db",
                                       DBClusterSnapshotIdentifier=snapshot_id(
                                           "web-prod-db", 11, 12, A, "deploy-0123456789ab"))  # fmt: skip
    refused = _rollback(rig, allow_schema_downgrade=True)
    assert refused.status == "refused" and rig.fake.ops() == []
    check = next(c for c in refused.checks if c.name == "restore-point")
    assert not check.ok and "no available snapshot of web-prod-db" in check.reason
    assert "web-prod-db-schema-12-to-*" in check.reason and "11-to-12" in check.reason

    name = snapshot_id("web-prod-db", 12, 13, B, "deploy-a1b2c3d4e5f6")
    rig.rds.create_db_cluster_snapshot(DBClusterIdentifier="web-prod-db",
                                       DBClusterSnapshotIdentifier=name)  # fmt: skip
    allowed = _rollback(rig, allow_schema_downgrade=True)
    assert allowed.status == "succeeded", allowed.summary
    assert rig.fake.config["deplight:image_tag"] == A
    check = next(c for c in allowed.checks if c.name == "restore-point")
    assert check.ok and name in check.reason
    assert f"restore-db-cluster-from-snapshot --db-cluster-identifier web-prod-db-restored " \
           f"--snapshot-identifier {name} --engine aurora-postgresql" in check.reason  # fmt: skip
    assert "Nothing is restored automatically" in check.reason
    assert "RestoreDBClusterFromSnapshot" not in rig.calls


def test_without_the_override_the_snapshot_is_not_even_looked_up(
    aws_endpoint: str, tmp_path: Path
) -> None:
    rig = _crossed(aws_endpoint, tmp_path)
    refused = _rollback(rig)
    assert refused.status == "refused" and "--allow-schema-downgrade" in refused.summary
    assert not [c for c in refused.checks if c.name == "restore-point"]
    assert "DescribeDBClusterSnapshots" not in rig.calls


def test_dev_has_no_restore_point_to_demand(aws_endpoint: str, tmp_path: Path) -> None:
    dev = _crossed(aws_endpoint, tmp_path, tier="development")
    result = _rollback(dev, allow_schema_downgrade=True)
    check = next(c for c in result.checks if c.name == "restore-point")
    assert result.status == "succeeded" and check.ok and "tier development" in check.reason
    assert "DescribeDBClusterSnapshots" not in dev.calls


def test_a_stack_without_a_database_has_no_restore_point_to_demand(
    aws_endpoint: str, tmp_path: Path
) -> None:
    bare = _crossed(aws_endpoint, tmp_path, database=False)
    result = _rollback(bare, allow_schema_downgrade=True)
    check = next(c for c in result.checks if c.name == "restore-point")
    assert result.status == "succeeded" and "no Aurora cluster" in check.reason


# --- pure parts ----------------------------------------------------------------------------------
def _snapshot_stub(*answers: dict[str, Any]) -> tuple[Any, Stubber]:
    """Stubber RDS: CreateDBClusterSnapshot, then one DescribeDBClusterSnapshots per answer."""
    rds = boto3.client("rds", region_name=REGION, aws_access_key_id="testing",
                       aws_secret_access_key="testing")  # fmt: skip
    stub = Stubber(rds)
    stub.add_response("create_db_cluster_snapshot", {"DBClusterSnapshot": {}})
    for answer in answers:
        stub.add_response("describe_db_cluster_snapshots", {"DBClusterSnapshots": [answer]},
                          {"DBClusterSnapshotIdentifier": "snap-1"})  # fmt: skip
    return rds, stub


def test_snapshot_wait_logs_progress_changes_and_ends_when_available(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rds, stub = _snapshot_stub({"Status": "creating", "PercentProgress": 0},
                               {"Status": "creating", "PercentProgress": 0},
                               {"Status": "creating", "PercentProgress": 60},
                               {"Status": "available", "PercentProgress": 100})  # fmt: skip
    env = NoSleep()
    with stub, caplog.at_level(logging.INFO, logger="deplight.migrate"):
        take_snapshot(rds, "web-prod-db", "snap-1", {}, timeout_s=600, poll_s=10,
                      sleep=env.sleep, clock=env.clock)  # fmt: skip
        stub.assert_no_pending_responses()
    assert env.t == 30
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "snapshot snap-1: creating (0%)"),
        (logging.INFO, "snapshot snap-1: creating (60%)"),
        (logging.INFO, "snapshot snap-1: available (100%)"),
    ]


def test_snapshot_that_fails_or_takes_too_long_stops_the_release() -> None:
    rds, stub = _snapshot_stub({"Status": "creating"}, {"Status": "failed"})
    env = NoSleep()
    with stub, pytest.raises(RuntimeError, match=r"^snapshot snap-1 ended failed$"):
        take_snapshot(rds, "web-prod-db", "snap-1", {}, timeout_s=600, poll_s=10,
                      sleep=env.sleep, clock=env.clock)  # fmt: skip
    assert env.t == 10

    rds, stub = _snapshot_stub(*[{"Status": "creating"}] * 3)
    env = NoSleep()
    with stub, pytest.raises(RuntimeError,
                             match=r"^snapshot snap-1 not available after 20 s \(creating\)$"):  # fmt: skip
        take_snapshot(rds, "web-prod-db", "snap-1", {}, timeout_s=20, poll_s=10,
                      sleep=env.sleep, clock=env.clock)  # fmt: skip
        stub.assert_no_pending_responses()
    assert env.t == 20


def test_snapshot_names_are_valid_rds_identifiers() -> None:
    name = snapshot_id("web-prod-db", None, 1, "3f2a9c1", "deploy-a1b2c3d4e5f6")
    assert name == "web-prod-db-schema-none-to-1-3f2a9c1-deploy-a1b2c3d4e5f6"
    assert "--" not in snapshot_id("a--b", 1, 2, "x_y", "deploy--1") and len(name) <= 255


def test_migration_revision_swaps_only_the_image_and_drops_the_health_check() -> None:
    described = {"family": "web-prod", "taskDefinitionArn": "arn:td/web-prod:7", "revision": 7,
                 "status": "ACTIVE", "registeredAt": "x", "compatibilities": ["FARGATE"],
                 "containerDefinitions": [
                     {"name": "web", "image": "repo:old", "healthCheck": {"command": ["x"]}},
                     {"name": "xray-daemon", "image": "xray@sha256:1"}]}  # fmt: skip
    kwargs = migration_task_definition(described, container="web", image="repo:new",
                                       tags={"deplight:purpose": "migration"})  # fmt: skip
    assert set(kwargs) == {"family", "containerDefinitions", "tags"}
    assert kwargs["containerDefinitions"] == [{"name": "web", "image": "repo:new"},
                                              {"name": "xray-daemon", "image": "xray@sha256:1"}]  # fmt: skip
    assert described["containerDefinitions"][0]["image"] == "repo:old", "input left alone"
    with pytest.raises(RuntimeError, match="no container 'api'"):
        migration_task_definition(described, container="api", image="x", tags={})


def test_plan_refuses_a_stack_without_the_outputs_it_needs() -> None:
    plan, checks = plan_migration(outputs={}, tier=Tier.PRODUCTION, command=tuple(COMMAND),
                                  from_schema=12, to_schema=13, tag=B)  # fmt: skip
    assert plan is None and not checks[0].ok and "task_definition_arn" in checks[0].reason
    assert plan_migration(outputs={}, tier=Tier.PRODUCTION, command=tuple(COMMAND),
                          from_schema=13, to_schema=12, tag=B) == (None, [])  # fmt: skip


def test_read_migrate_command_from_object_config() -> None:
    class Stack:
        def __init__(self, value: str | None) -> None:
            self.value = value

        def get_config(self, key: str) -> str | None:
            assert key == "deplight:deploy"
            return self.value

    assert read_migrate_command(Stack(None)) == ()
    assert read_migrate_command(Stack(json.dumps({"strategy": "rolling"}))) == ()
    assert read_migrate_command(Stack(json.dumps({"migrate_command": COMMAND}))) == tuple(COMMAND)
    with pytest.raises(BadInputError, match=r"found 'python manage\.py migrate'"):
        read_migrate_command(Stack(json.dumps({"migrate_command": "python manage.py migrate"})))
