"""Test doubles for the release commands, and tests that they behave like what they stand for.

- :class:`FakeAutoStack` stands in for ``pulumi.automation.Stack`` (and its workspace) behind the
  real adapter :class:`rollback.stack.PulumiStack`. It returns the SDK's own dataclasses
  (``UpdateSummary``, ``ConfigValue``, ``UpResult``, ``PreviewResult``, ``OutputValue``, engine
  events), raises the SDK's own errors, pages history like the CLI (10 entries without
  ``page_size``), and records every call.
- :class:`MotoWorld` is the AWS side of a stack on a moto server over HTTP on 127.0.0.1: the ECR
  repository and images, the ECS cluster/service/task definitions, the service's Application Auto
  Scaling target, the target group and its targets, the DynamoDB audit table (the key schema of
  ``components.contract``) and the CodeDeploy application and group.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from pulumi.automation import (
    CommandError,
    CommandResult,
    ConfigValue,
    EngineEvent,
    OpType,
    OutputValue,
    PreludeEvent,
    PreviewResult,
    ProjectSettings,
    ResourcePreEvent,
    StackSummary,
    StepEventMetadata,
    SummaryEvent,
    UpdateSummary,
    UpResult,
    WhoAmIResult,
)

from components import contract as out
from rollback.aws import Aws
from rollback.commands import Env
from rollback.stack import PulumiStack

REGION = "us-east-1"
PROJECT = "deplight"
SHA = {name: hashlib.sha1(name.encode()).hexdigest()[:7] for name in "ABCDEFGH"}
"""Readable release names -> 7-hex tags: SHA["A"], SHA["B"], ..."""


class SimulatedCrash(BaseException):
    """The process dies (SIGKILL, runner lost): nothing after this point runs."""


def naive_utc(when: datetime) -> datetime:
    """History times as the SDK parses them: UTC without a zone."""
    return when.astimezone(UTC).replace(tzinfo=None)


def history_config(config: dict[str, Any], secret_keys: frozenset[str] = frozenset(),
                   show_secrets: bool = False) -> dict[str, dict[str, Any]]:  # fmt: skip
    """The ``config`` of a ``pulumi stack history --json`` entry: strings, objects as JSON."""
    rendered: dict[str, dict[str, Any]] = {}
    for key, value in config.items():
        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
        if key in secret_keys:
            rendered[key] = {"secret": True, **({"value": text} if show_secrets else {})}
        else:
            rendered[key] = {"value": text, "secret": False}
    return rendered


def summary(tag: str | None, *, message: str, result: str = "succeeded", kind: str = "update",
            start: datetime, minutes: float = 3, schema: int | None = 12,
            release_kind: str | None = None, environment: dict[str, str] | None = None,
            version: int = 0, extra: dict[str, Any] | None = None) -> UpdateSummary:  # fmt: skip
    """One history entry as the SDK builds it (self-managed backends report version 0)."""
    config: dict[str, Any] = {"aws:region": REGION, "deplight:tier": "development"}
    if tag is not None:
        config["deplight:image_tag"] = tag
    if schema is not None:
        config["deplight:schema_version"] = schema
    if release_kind:
        config["deplight:release"] = {"kind": release_kind}
    config.update(extra or {})
    return UpdateSummary(
        kind=kind, start_time=naive_utc(start), message=message,
        environment=environment or {"exec.kind": "auto.local"}, config=history_config(config),
        result=result, end_time=naive_utc(start + timedelta(minutes=minutes)), version=version,
    )  # fmt: skip


def event(seq: int, **kind: Any) -> EngineEvent:
    return EngineEvent(sequence=seq, timestamp=0, **kind)


def step(op: OpType, type_: str, name: str) -> StepEventMetadata:
    return StepEventMetadata(op=op, urn=f"urn:pulumi:dev::deplight::{type_}::{name}", type=type_,
                             provider="")  # fmt: skip


@dataclass
class UpPlan:
    """What the next ``up`` does: succeed (default), or fail before/after the engine started."""

    raises: BaseException | None = None
    engine_runs: bool = True
    """When raising: did the engine start (prelude emitted, failed update recorded)?"""


@dataclass
class FakeCli:
    """``workspace.pulumi_command``: only ``config set KEY --type int ... -- VALUE`` is needed."""

    owner: FakeAutoStack | None = None

    def run(self, args: list[str], cwd: str, additional_env: Any, on_output: Any = None,
            on_error: Any = None) -> CommandResult:  # fmt: skip
        assert self.owner is not None and args[:2] == ["config", "set"], args
        key, value = args[2], args[args.index("--") + 1]
        kind = args[args.index("--type") + 1]
        self.owner.calls.append(("set_config --type", {"key": key, "value": value, "type": kind}))
        if key in self.owner.unwritable:
            raise self.owner._unwritable(key)
        self.owner.config[key] = int(value) if kind == "int" else value
        return CommandResult(stdout="", stderr="", code=0)


@dataclass
class FakeWorkspace:
    url: str
    stack: str
    update_in_progress: bool = False
    pulumi_command: FakeCli = field(default_factory=FakeCli)
    work_dir: str = "."
    env_vars: dict[str, str] = field(default_factory=dict)

    def who_am_i(self) -> WhoAmIResult:
        return WhoAmIResult(user="tester", url=self.url, organizations=[])

    def project_settings(self) -> ProjectSettings:
        return ProjectSettings(name=PROJECT, runtime="python")

    def list_stacks(self) -> list[StackSummary]:
        return [StackSummary(name=self.stack, current=True,
                             update_in_progress=self.update_in_progress)]  # fmt: skip


@dataclass
class FakeAutoStack:
    """``pulumi.automation.Stack`` as far as :class:`PulumiStack` uses it."""

    name: str
    config: dict[str, Any]
    entries: list[UpdateSummary] = field(default_factory=list)
    """History, newest first."""
    stack_outputs: dict[str, Any] = field(default_factory=dict)
    workspace: FakeWorkspace = field(
        default_factory=lambda: FakeWorkspace("file:///nowhere", "dev")
    )
    secret_keys: frozenset[str] = frozenset()
    plans: list[UpPlan] = field(default_factory=list)
    on_up: Callable[[dict[str, Any]], None] | None = None
    """Called with the config of a succeeding ``up``: makes AWS look released (MotoWorld)."""
    drift: bool = False
    changed_outside: list[tuple[str, str]] = field(default_factory=list)
    """``(type, name)`` of resources changed outside Pulumi: the state still matches the program,
    so only a preview with ``refresh`` (which reads them back from the cloud) sees the change."""
    unwritable: frozenset[str] = frozenset()
    """Config keys whose ``config set`` fails (e.g. a read-only stack file)."""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workspace.pulumi_command.owner = self

    def _unwritable(self, key: str) -> CommandError:
        return CommandError(CommandResult(
            stdout="", stderr=f"error: open Pulumi.{self.name}.yaml: permission denied", code=255,
        ))  # fmt: skip

    # config, as `pulumi config get/set/rm [--path]` behaves
    def _missing(self, key: str) -> CommandError:
        return CommandError(CommandResult(
            stdout="", code=255,
            stderr=f"error: configuration key '{key}' not found for stack '{self.name}'",
        ))  # fmt: skip

    def get_config(self, key: str, *, path: bool = False) -> ConfigValue:
        self.calls.append(("get_config", {"key": key, "path": path}))
        if path and "." in key:
            top, sub = key.split(".", 1)
            value = self.config.get(top, {})
            if not isinstance(value, dict) or sub not in value:
                raise self._missing(key)
            return ConfigValue(str(value[sub]))
        if key not in self.config:
            raise self._missing(key)
        value = self.config[key]
        return ConfigValue(json.dumps(value) if isinstance(value, dict) else str(value))

    def set_config(self, key: str, value: ConfigValue, *, path: bool = False) -> None:
        self.calls.append(("set_config", {"key": key, "value": value.value, "path": path}))
        if key in self.unwritable:
            raise self._unwritable(key)
        typed: Any = value.value
        if path and "." in key and typed.isdigit():  # nested --path values: ints become ints
            typed = int(typed)  # (a top-level value stays a string, also with --path)
        if path and "." in key:
            top, sub = key.split(".", 1)
            self.config.setdefault(top, {})[sub] = typed
        else:
            self.config[key] = typed

    def remove_config(self, key: str, *, path: bool = False) -> None:
        self.calls.append(("remove_config", {"key": key, "path": path}))
        self.config.pop(key, None)

    # engine
    def _now(self) -> datetime:
        newest = self.entries[0].start_time.replace(tzinfo=UTC) if self.entries else None
        now = datetime.now(UTC)
        return max(now, newest + timedelta(seconds=1)) if newest else now

    def up(self, **kwargs: Any) -> UpResult:
        self.calls.append(("up", {k: v for k, v in kwargs.items() if k not in ("on_event",
                                                                              "on_output")}))  # fmt: skip
        on_event = kwargs.get("on_event") or (lambda e: None)
        plan = self.plans.pop(0) if self.plans else UpPlan()
        start = self._now()
        if plan.raises is not None and not plan.engine_runs:
            raise plan.raises
        on_event(event(1, prelude_event=PreludeEvent(config={})))
        on_event(event(2, resource_pre_event=ResourcePreEvent(
            step(OpType.UPDATE, "aws:ecs/taskDefinition:TaskDefinition", "web-task"))))  # fmt: skip
        if plan.raises is not None:
            self.entries.insert(0, self._entry(kwargs["message"], start, "failed"))
            raise plan.raises
        if self.on_up:
            self.on_up(self.config)
        on_event(event(3, summary_event=SummaryEvent(
            maybe_corrupt=False, duration_seconds=1, resource_changes={OpType.UPDATE: 1},
            policy_packs={})))  # fmt: skip
        entry = self._entry(kwargs["message"], start, "succeeded")
        self.entries.insert(0, entry)
        return UpResult(stdout="", stderr="", summary=entry, outputs=self.outputs())

    def _entry(self, message: str, start: datetime, result: str) -> UpdateSummary:
        return UpdateSummary(
            kind="update", start_time=naive_utc(start), message=message,
            environment={"exec.kind": "auto.local"},
            config=history_config(self.config, self.secret_keys), result=result,
            end_time=naive_utc(start + timedelta(seconds=1)), version=0,
        )  # fmt: skip

    def preview(self, **kwargs: Any) -> PreviewResult:
        self.calls.append(("preview", {k: v for k, v in kwargs.items() if k not in ("on_event",
                                                                                  "on_output")}))  # fmt: skip
        changes = [("aws:ecs/service:Service", "web-service")] if self.drift else []
        if kwargs.get("refresh"):
            changes += self.changed_outside
        if changes and kwargs.get("expect_no_changes"):
            on_event = kwargs.get("on_event") or (lambda e: None)
            for seq, (type_, name) in enumerate(changes, 1):
                on_event(event(seq, resource_pre_event=ResourcePreEvent(
                    step(OpType.UPDATE, type_, name))))  # fmt: skip
            raise CommandError(CommandResult(
                stdout="", code=255, stderr="error: no changes were expected but changes occurred",
            ))  # fmt: skip
        return PreviewResult(stdout="", stderr="", change_summary={OpType.SAME: 42})

    def refresh(self, **kwargs: Any) -> None:
        self.calls.append(("refresh", {}))

    def history(self, page_size: int | None = None, page: int | None = None,
                show_secrets: bool = True) -> list[UpdateSummary]:  # fmt: skip
        self.calls.append(("history", {"page_size": page_size, "page": page,
                                       "show_secrets": show_secrets}))  # fmt: skip
        if page_size is None:  # the CLI's default page: the 10 newest only
            page_size, page = 10, 1
        first = (max(page or 1, 1) - 1) * page_size
        return self.entries[first : first + page_size]

    def outputs(self) -> dict[str, OutputValue]:
        return {k: OutputValue(v, secret=False) for k, v in self.stack_outputs.items()}

    def cancel(self) -> None:
        self.calls.append(("cancel", {}))
        root = Path(self.workspace.url.removeprefix("file://"))
        for lock in root.glob(".pulumi/locks/**/*.json"):
            lock.unlink()

    def ops(self) -> list[str]:
        """The engine operations and config writes, in order."""
        return [name for name, _ in self.calls if name in
                ("set_config", "set_config --type", "remove_config", "up", "preview", "refresh",
                 "cancel")]  # fmt: skip


def write_lock(root: Path, stack: str, who: str = "ci", host: str = "runner-7", pid: int = 4242,
               at: str = "2024-05-01T09:58:00Z") -> Path:  # fmt: skip
    """A self-managed backend's lock file (pkg/backend/diy/lock.go)."""
    lock = root / ".pulumi" / "locks" / "organization" / PROJECT / stack / "0b5e.json"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"pid": pid, "username": who, "hostname": host, "timestamp": at}))
    return lock


# -- moto -----------------------------------------------------------------------------------------


@functools.cache
def moto_client(endpoint: str, service: str) -> Any:
    """One boto3 client per moto server and service (creating clients is the slow part)."""
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


class MotoWorld:
    """The AWS resources of one stack, as the program would have created them."""

    def __init__(self, endpoint: str, stack: str = "dev", *, desired: int = 2) -> None:
        self.stack, self.desired = stack, desired
        self.prefix = f"web-{stack}"

        client = functools.partial(moto_client, endpoint)
        self.ecr, self.ecs, self.elbv2 = client("ecr"), client("ecs"), client("elbv2")
        self.ddb, self.ec2, self.cd = client("dynamodb"), client("ec2"), client("codedeploy")
        self.autoscaling = client("application-autoscaling")
        self.aws = Aws(REGION, endpoint_url=endpoint, clients={
            name: client(name) for name in ("ecr", "ecs", "elbv2", "dynamodb", "codedeploy",
                                            "application-autoscaling")
        })  # fmt: skip
        self.repo_uri = self.ecr.create_repository(repositoryName=self.prefix)["repository"][
            "repositoryUri"
        ]
        self.ecs.create_cluster(clusterName=self.prefix)
        vpc = self.ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
        self.tg_arn = self.elbv2.create_target_group(
            Name=f"{self.prefix}-blue", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        self.table = f"{self.prefix}-releases"
        self.ddb.create_table(
            TableName=self.table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in
                                  (out.AUDIT_HASH_KEY, out.AUDIT_RANGE_KEY, out.AUDIT_RELEASE_ID)],
            KeySchema=[{"AttributeName": out.AUDIT_HASH_KEY, "KeyType": "HASH"},
                       {"AttributeName": out.AUDIT_RANGE_KEY, "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{
                "IndexName": out.AUDIT_RELEASE_INDEX,
                "KeySchema": [{"AttributeName": out.AUDIT_RELEASE_ID, "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }],
        )  # fmt: skip
        self.healthy_targets(desired)

    def push(self, *tags: str) -> None:
        for tag in tags:
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {"digest": f"sha256:{hashlib.sha256(tag.encode()).hexdigest()}"},
                }
            )
            self.ecr.put_image(repositoryName=self.prefix, imageManifest=manifest, imageTag=tag)

    def healthy_targets(self, count: int) -> None:
        self.elbv2.register_targets(
            TargetGroupArn=self.tg_arn,
            Targets=[{"Id": f"10.10.1.{10 + i}", "Port": 8080} for i in range(count)],
        )

    def run(self, tag: str, *, running: int | None = None) -> str:
        """ECS runs ``tag``: a new task definition revision and the service's primary deployment
        on it (what a successful rolling ``up`` leaves behind)."""
        td = self.ecs.register_task_definition(
            family=self.prefix, requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
            cpu="256", memory="512",
            containerDefinitions=[{"name": "web", "image": f"{self.repo_uri}:{tag}",
                                   "portMappings": [{"containerPort": 8080}]}],
        )["taskDefinition"]["taskDefinitionArn"]  # fmt: skip
        # moto reads the running count of a new service from this variable (in-process server).
        os.environ["MOTO_ECS_SERVICE_RUNNING"] = str(self.desired if running is None else running)
        try:
            self.ecs.create_service(
                cluster=self.prefix, serviceName=self.prefix, taskDefinition=td,
                desiredCount=self.desired, launchType="FARGATE",
                loadBalancers=[{"targetGroupArn": self.tg_arn, "containerName": "web",
                                "containerPort": 8080}],
            )  # fmt: skip
        finally:
            os.environ.pop("MOTO_ECS_SERVICE_RUNNING", None)
        # The program registers the service with Application Auto Scaling (min/max around it).
        self.autoscaling.register_scalable_target(
            ServiceNamespace="ecs", ResourceId=f"service/{self.prefix}/{self.prefix}",
            ScalableDimension="ecs:service:DesiredCount", MinCapacity=1,
            MaxCapacity=2 * self.desired,
        )  # fmt: skip
        return str(td)

    def on_up(self, config: dict[str, Any]) -> None:
        self.run(str(config["deplight:image_tag"]))

    def codedeploy(self) -> None:
        self.cd.create_application(applicationName=self.prefix, computePlatform="ECS")
        self.cd.create_deployment_group(
            applicationName=self.prefix, deploymentGroupName=self.prefix,
            serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
        )  # fmt: skip

    def outputs(self, *, codedeploy: bool = False) -> dict[str, Any]:
        values = {
            out.REPOSITORY_NAME: self.prefix, out.REPOSITORY_URL: self.repo_uri,
            out.CLUSTER_NAME: self.prefix, out.SERVICE_NAME: self.prefix,
            out.CONTAINER_NAME: "web", out.AUDIT_TABLE_NAME: self.table,
            out.BLUE_TARGET_GROUP_NAME: f"{self.prefix}-blue",
            out.DEPLOY_STRATEGY: "codedeploy" if codedeploy else "rolling",
        }  # fmt: skip
        if codedeploy:
            values[out.CODEDEPLOY_APPLICATION] = self.prefix
            values[out.CODEDEPLOY_GROUP] = self.prefix
        return values

    def audit(self) -> list[dict[str, Any]]:
        """Audit records of the stack, oldest first."""
        from boto3.dynamodb.types import TypeDeserializer

        des = TypeDeserializer()
        items = self.ddb.scan(TableName=self.table)["Items"]
        records = [{k: des.deserialize(v) for k, v in item.items()} for item in items]
        return sorted(records, key=lambda r: r[out.AUDIT_RANGE_KEY])


class NoSleep(Env):
    """Time that does not wait: ``sleep`` advances the clock."""

    def __init__(self) -> None:
        self.t = 0.0
        super().__init__(clock=lambda: self.t, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.t += seconds


def adapter(fake: FakeAutoStack, tmp_path: Path) -> PulumiStack:
    """The real adapter over the fake; policy pack present so ``up`` attaches it."""
    policies = tmp_path / "policies"
    (policies / "config").mkdir(parents=True, exist_ok=True)
    (policies / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (policies / "config" / f"{fake.name}.json").write_text("{}")
    return PulumiStack(fake, work_dir=tmp_path, policy_dir=policies)


# -- the doubles behave like what they stand for ------------------------------------------------


def test_fake_history_pages_like_the_cli() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    entries = [summary(SHA["A"], message=f"deploy: {i}", start=t0 + timedelta(hours=i))
               for i in range(25)][::-1]  # fmt: skip
    fake = FakeAutoStack("dev", {}, entries)
    assert len(fake.history()) == 10, "without page_size the CLI returns its default page"
    assert [len(fake.history(page_size=10, page=p)) for p in (1, 2, 3, 4)] == [10, 10, 5, 0]


def test_summary_builds_the_sdk_dataclass_with_secret_sentinel() -> None:
    s = UpdateSummary(
        kind="update", start_time=datetime(2024, 1, 1), message="m", environment={},
        config=history_config({"deplight:token": "x"}, frozenset({"deplight:token"})),
        result="succeeded",
    )  # fmt: skip
    assert s.config["deplight:token"].value == "[secret]" and s.config["deplight:token"].secret


def test_moto_world_runs_the_released_image(aws_endpoint: str) -> None:
    world = MotoWorld(aws_endpoint)
    world.push(SHA["A"])
    td = world.run(SHA["A"])
    svc = world.ecs.describe_services(cluster=world.prefix, services=[world.prefix])["services"][0]
    primary = next(d for d in svc["deployments"] if d["status"] == "PRIMARY")
    assert primary["taskDefinition"] == td and primary["runningCount"] == 2
    health = world.elbv2.describe_target_health(TargetGroupArn=world.tg_arn)
    assert {d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"]} == {"healthy"}
