"""Database migrations as a release step, and the restore point a rollback across one needs.

``deplight deploy --schema-version N`` with N above the stack's current ``schema_version`` and a
``deploy.migrate_command`` in the stack config:

1. in production (``deplight:tier``) with an Aurora cluster, snapshot the cluster first, named
   after the release: ``<cluster>-schema-<from>-to-<N>-<tag>-<release id>``;
2. register a revision of the service's task definition family with the *new* image (its health
   check removed: the migration serves no HTTP), and run it once as a Fargate task in the
   service's subnets and security group with the command as a container override;
3. follow it (DescribeTasks until STOPPED, bounded) and its CloudWatch logs (GetLogEvents on the
   stream the task definition's awslogs driver writes);
4. the release goes on only if the container exits 0.

A rollback to a release with a lower ``schema_version``, allowed with
``--allow-schema-downgrade``, must find the snapshot taken before the first migration past the
target's level (:func:`check_restore_point`); it prints how to restore it and never restores.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from components.contract import (
    CLUSTER_NAME,
    CONTAINER_NAME,
    DB_CLUSTER_IDENTIFIER,
    NAMESPACE,
    REPOSITORY_URL,
    TASK_ASSIGN_PUBLIC_IP,
    TASK_DEFINITION_ARN,
    TASK_SECURITY_GROUP_ID,
    TASK_SUBNET_IDS,
    Tier,
)
from components.poll import poll
from components.settings import migrate_command_problem
from rollback.aws import error_code
from rollback.checks import Check
from rollback.errors import BadInputError

log = logging.getLogger("deplight.migrate")

DEPLOY_KEY = f"{NAMESPACE}:deploy"
STARTED_BY = "deplight-migrate"
LOG_TAIL_LINES = 20
# What RegisterTaskDefinition accepts from a DescribeTaskDefinition answer (the rest is read-only).
REGISTER_KEYS = (
    "family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes",
    "placementConstraints", "requiresCompatibilities", "cpu", "memory", "pidMode", "ipcMode",
    "proxyConfiguration", "inferenceAccelerators", "ephemeralStorage", "runtimePlatform",
)  # fmt: skip
_SNAPSHOT_RE = re.compile(r"^(?P<cluster>.+)-schema-(?P<src>\d+|none)-to-(?P<dst>\d+)-")


def read_migrate_command(stack: Any) -> tuple[str, ...]:
    """``deplight:deploy.migrate_command`` from the stack config, validated as the program does.
    Object config comes back from ``pulumi config get`` as a JSON string."""
    raw = stack.get_config(DEPLOY_KEY)
    if not raw:
        return ()
    try:
        section = json.loads(raw)
    except json.JSONDecodeError:
        raise BadInputError(f"{DEPLOY_KEY}: expected an object, found {raw!r}") from None
    command = section.get("migrate_command") if isinstance(section, dict) else None
    if command in (None, []):
        return ()
    if (problem := migrate_command_problem(command)) is not None:
        raise BadInputError(f"{DEPLOY_KEY}.migrate_command: expected {problem}, found {command!r}")
    return tuple(command)


def snapshot_id(cluster: str, from_schema: int | None, to_schema: int, tag: str,
                release_id: str) -> str:  # fmt: skip
    """The pre-migration snapshot's name: which cluster, from which schema to which, for which
    release (letters, digits and single hyphens, as RDS requires)."""
    raw = f"{cluster}-schema-{'none' if from_schema is None else from_schema}-to-{to_schema}-{tag}-{release_id}"
    return re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9-]", "-", raw)).strip("-")[:255]


@dataclass(frozen=True)
class MigrationPlan:
    """Everything the migration step needs, decided before anything changes."""

    from_schema: int | None
    to_schema: int
    command: tuple[str, ...]
    image: str
    cluster: str
    task_definition: str
    """The revision the service runs now: the template of the one-off revision."""
    container: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    assign_public_ip: bool
    db_cluster: str | None
    snapshot: bool
    """Take a cluster snapshot first (production with an Aurora cluster)."""


@dataclass
class MigrationOutcome:
    """What the migration step did; ``ok`` only when the container exited 0."""

    ok: bool
    snapshot: str | None = None
    task_definition: str | None = None
    task_arn: str | None = None
    exit_code: int | None = None
    stopped_reason: str | None = None
    log_stream: str | None = None
    log_tail: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "snapshot": self.snapshot, "task_definition": self.task_definition,
            "task_arn": self.task_arn, "exit_code": self.exit_code,
            "stopped_reason": self.stopped_reason, "log_stream": self.log_stream,
            "log_tail": list(self.log_tail), "error": self.error,
        }  # fmt: skip

    def describe(self) -> str:
        if self.error:
            text = self.error
        else:
            text = f"migration task {self.task_arn} exited {self.exit_code}"
            if self.stopped_reason:
                text += f" ({self.stopped_reason})"
        if self.log_tail:
            text += "; last log lines:\n  " + "\n  ".join(self.log_tail)
        return text


def plan_migration(*, outputs: Mapping[str, Any], tier: Tier, command: tuple[str, ...],
                   from_schema: int | None, to_schema: int | None,
                   tag: str) -> tuple[MigrationPlan | None, list[Check]]:  # fmt: skip
    """Whether this deploy migrates, and the ``migration`` check saying so (or why it cannot)."""
    if to_schema is None or (from_schema is not None and to_schema <= from_schema):
        return None, []
    rise = f"schema_version {from_schema if from_schema is not None else '(none)'} -> {to_schema}"
    if not command:
        return None, [Check("migration", True, f"{rise}: no {DEPLOY_KEY}.migrate_command, so no "
                            "migration runs (the new schema_version is recorded)")]  # fmt: skip
    needed = (CLUSTER_NAME, TASK_DEFINITION_ARN, CONTAINER_NAME, TASK_SUBNET_IDS,
              TASK_SECURITY_GROUP_ID, REPOSITORY_URL)  # fmt: skip
    missing = [k for k in needed if not outputs.get(k)]
    if missing:
        bootstrap = TASK_DEFINITION_ARN in missing
        return None, [Check(
            "migration", False,
            f"{rise} needs a one-off task, but the stack has no {', '.join(missing)} output"
            + (" yet (bootstrap: nothing has been released). Release the image first without "
               "--schema-version, then deploy the same tag with --schema-version" if bootstrap
               else "; run `pulumi up` once so the outputs exist"),
        )]  # fmt: skip
    db_cluster = outputs.get(DB_CLUSTER_IDENTIFIER) or None
    snapshot = tier is Tier.PRODUCTION and db_cluster is not None
    plan = MigrationPlan(
        from_schema=from_schema, to_schema=to_schema, command=command,
        image=f"{outputs[REPOSITORY_URL]}:{tag}", cluster=str(outputs[CLUSTER_NAME]),
        task_definition=str(outputs[TASK_DEFINITION_ARN]), container=str(outputs[CONTAINER_NAME]),
        subnets=tuple(str(s) for s in outputs[TASK_SUBNET_IDS]),
        security_groups=(str(outputs[TASK_SECURITY_GROUP_ID]),),
        assign_public_ip=bool(outputs.get(TASK_ASSIGN_PUBLIC_IP, False)),
        db_cluster=str(db_cluster) if db_cluster else None, snapshot=snapshot,
    )  # fmt: skip
    if snapshot:
        before = f"after a snapshot of {db_cluster}"
    elif db_cluster:
        before = f"without a snapshot (tier {tier.value})"
    else:
        before = "without a snapshot (no Aurora cluster in this stack)"
    return plan, [Check("migration", True, f"{rise}: runs {' '.join(command)} once with "
                        f"{plan.image} {before}, before the release")]  # fmt: skip


# -- running it -----------------------------------------------------------------------------------


def take_snapshot(rds: Any, cluster: str, name: str, tags: Mapping[str, str], *,
                  timeout_s: float, poll_s: float, sleep: Callable[[float], None],
                  clock: Callable[[], float]) -> None:  # fmt: skip
    """CreateDBClusterSnapshot, then waits until it is ``available``; raises RuntimeError else."""
    rds.create_db_cluster_snapshot(
        DBClusterSnapshotIdentifier=name, DBClusterIdentifier=cluster,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )  # fmt: skip
    last = ""

    def snapshot_status() -> str:
        nonlocal last
        found = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=name)
        snap = (found.get("DBClusterSnapshots") or [{}])[0]
        status = str(snap.get("Status", "unknown"))
        line = f"snapshot {name}: {status}" + (
            f" ({snap['PercentProgress']}%)" if "PercentProgress" in snap else ""
        )
        if line != last:
            log.info("%s", line)
            last = line
        if status not in ("available", "creating", "copying"):
            raise RuntimeError(f"snapshot {name} ended {status}")
        return status

    polled = poll(snapshot_status, until=lambda status: status == "available",
                  deadline=clock() + timeout_s, interval_s=poll_s, clock=clock, sleep=sleep)  # fmt: skip
    if not polled.done:
        raise RuntimeError(f"snapshot {name} not available after {timeout_s:g} s ({polled.answer})")


def migration_task_definition(described: Mapping[str, Any], *, container: str, image: str,
                              tags: Mapping[str, str]) -> dict[str, Any]:  # fmt: skip
    """RegisterTaskDefinition arguments: the described revision with the new image in
    ``container`` and no health check there (pure)."""
    kwargs = {k: json.loads(json.dumps(described[k])) for k in REGISTER_KEYS if k in described}
    found = False
    for c in kwargs.get("containerDefinitions", []):
        if c.get("name") == container:
            c["image"] = image
            c.pop("healthCheck", None)
            found = True
    if not found:
        raise RuntimeError(f"task definition {described.get('taskDefinitionArn')} has no "
                           f"container {container!r}")  # fmt: skip
    kwargs["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    return kwargs


def log_location(task_definition: Mapping[str, Any], container: str,
                 task_arn: str) -> tuple[str, str] | None:  # fmt: skip
    """``(group, stream)`` the awslogs driver writes for ``container`` of the task, if it does."""
    for c in task_definition.get("containerDefinitions", []):
        if c.get("name") != container:
            continue
        conf = c.get("logConfiguration") or {}
        options = conf.get("options") or {}
        if conf.get("logDriver") != "awslogs" or "awslogs-group" not in options:
            return None
        prefix = options.get("awslogs-stream-prefix")
        task_id = task_arn.rsplit("/", 1)[-1]
        stream = f"{prefix}/{container}/{task_id}" if prefix else task_id
        return str(options["awslogs-group"]), stream
    return None


class LogFollower:
    """Reads new events of one log stream with GetLogEvents, keeping the last lines."""

    def __init__(self, logs: Any, group: str, stream: str) -> None:
        self.logs, self.group, self.stream = logs, group, stream
        self.token: str | None = None
        self.tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)

    def poll(self) -> None:
        while True:
            kwargs: dict[str, Any] = {"logGroupName": self.group, "logStreamName": self.stream,
                                      "startFromHead": True}  # fmt: skip
            if self.token:
                kwargs["nextToken"] = self.token
            try:
                page = self.logs.get_log_events(**kwargs)
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return  # the container has not written yet
                raise
            for event in page.get("events", []):
                line = str(event.get("message", "")).rstrip("\n")
                self.tail.append(line)
                log.info("migrate | %s", line)
            token = page.get("nextForwardToken")
            if not page.get("events") or token == self.token:
                self.token = token or self.token
                return
            self.token = token


def run_migration(aws: Any, plan: MigrationPlan, *, release_id: str, tag: str,
                  timeout_s: float, snapshot_timeout_s: float, poll_s: float,
                  sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.monotonic) -> MigrationOutcome:  # fmt: skip
    """Snapshot (when planned), one-off task with the new image, followed to the end."""
    outcome = MigrationOutcome(ok=False)
    tags = {"deplight:purpose": "migration", "deplight:release-id": release_id,
            "deplight:image-tag": tag, "deplight:schema-version": str(plan.to_schema)}  # fmt: skip
    ecs = aws.client("ecs")
    step = "snapshot"
    try:
        if plan.snapshot and plan.db_cluster:
            name = snapshot_id(plan.db_cluster, plan.from_schema, plan.to_schema, tag, release_id)
            outcome.snapshot = name
            take_snapshot(aws.client("rds"), plan.db_cluster, name, tags, timeout_s=snapshot_timeout_s,
                          poll_s=poll_s, sleep=sleep, clock=clock)  # fmt: skip
        step = "task definition"
        described = ecs.describe_task_definition(taskDefinition=plan.task_definition)[
            "taskDefinition"]  # fmt: skip
        registered = ecs.register_task_definition(**migration_task_definition(
            described, container=plan.container, image=plan.image, tags=tags))["taskDefinition"]  # fmt: skip
        outcome.task_definition = registered["taskDefinitionArn"]
        log.info("migration: registered %s with %s", outcome.task_definition, plan.image)
        step = "RunTask"
        started = ecs.run_task(
            cluster=plan.cluster, taskDefinition=outcome.task_definition, launchType="FARGATE",
            count=1, startedBy=STARTED_BY,
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": list(plan.subnets), "securityGroups": list(plan.security_groups),
                "assignPublicIp": "ENABLED" if plan.assign_public_ip else "DISABLED"}},
            overrides={"containerOverrides": [{"name": plan.container,
                                               "command": list(plan.command)}]},
        )  # fmt: skip
        if started.get("failures") or not started.get("tasks"):
            reasons = "; ".join(f"{f.get('arn', '')} {f.get('reason', '')}".strip()
                                for f in started.get("failures", [])) or "no task started"  # fmt: skip
            outcome.error = f"RunTask failed: {reasons}"
            return outcome
        outcome.task_arn = started["tasks"][0]["taskArn"]
        log.info("migration: task %s runs %s", outcome.task_arn, " ".join(plan.command))
        step = "following the task"
        _follow(aws, ecs, plan, registered, outcome, timeout_s=timeout_s, poll_s=poll_s,
                sleep=sleep, clock=clock)  # fmt: skip
    except (ClientError, BotoCoreError, RuntimeError) as exc:
        outcome.ok = False
        outcome.error = f"migration {step} failed: {exc}"
        if step == "following the task":
            outcome.error += (f" (task {outcome.task_arn} may still be running: check it in ECS "
                              "before deploying again)")  # fmt: skip
    finally:
        if outcome.task_definition:
            try:  # the one-off revision is not a release: keep the family's active list clean
                ecs.deregister_task_definition(taskDefinition=outcome.task_definition)
            except (ClientError, BotoCoreError) as exc:
                log.warning("could not deregister %s: %s", outcome.task_definition, exc)
    return outcome


def _follow(aws: Any, ecs: Any, plan: MigrationPlan, registered: Mapping[str, Any],
            outcome: MigrationOutcome, *, timeout_s: float, poll_s: float,
            sleep: Callable[[float], None], clock: Callable[[], float]) -> None:  # fmt: skip
    assert outcome.task_arn is not None
    where = log_location(registered, plan.container, outcome.task_arn)
    follower = LogFollower(aws.client("logs"), *where) if where else None
    if follower is None:
        log.warning("migration: the container does not log with awslogs; no log lines to follow")
    else:
        outcome.log_stream = f"{follower.group}:{follower.stream}"
    task_arn, last = outcome.task_arn, ""

    def describe() -> tuple[dict[str, Any], str]:
        nonlocal last
        tasks = ecs.describe_tasks(cluster=plan.cluster, tasks=[task_arn]).get("tasks", [])
        task = tasks[0] if tasks else {"lastStatus": "MISSING"}
        status = str(task.get("lastStatus"))
        if status != last:
            log.info("migration: task %s is %s", task_arn.rsplit("/", 1)[-1], status)
            last = status
        if follower:
            follower.poll()
        return task, status

    polled = poll(describe, until=lambda answer: answer[1] in ("STOPPED", "MISSING"),
                  deadline=clock() + timeout_s, interval_s=poll_s, clock=clock, sleep=sleep)  # fmt: skip
    task, status = polled.answer
    if not polled.done:
        ecs.stop_task(cluster=plan.cluster, task=task_arn,
                      reason=f"deplight: migration timed out after {timeout_s:g} s")  # fmt: skip
        if follower:
            outcome.log_tail = list(follower.tail)
        outcome.error = (f"migration task {task_arn} still {status} after "
                         f"{timeout_s:g} s: stopped it; the database may be partly migrated")  # fmt: skip
        return
    if follower:
        follower.poll()  # what the container wrote last
        outcome.log_tail = list(follower.tail)
    container: dict[str, Any] = next(
        (c for c in task.get("containers", []) if c.get("name") == plan.container), {}
    )
    code = container.get("exitCode")
    outcome.exit_code = int(code) if code is not None else None
    outcome.stopped_reason = task.get("stoppedReason") or container.get("reason") or None
    outcome.ok = outcome.exit_code == 0
    if outcome.exit_code is None:
        outcome.error = (f"migration task {outcome.task_arn} stopped without an exit code: "
                         f"{outcome.stopped_reason or task.get('stopCode') or status}")  # fmt: skip


# -- rollback: the restore point ------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    name: str
    cluster: str
    from_schema: int | None
    to_schema: int
    created: datetime | None
    status: str


def pre_migration_snapshots(rds: Any, cluster: str) -> list[Snapshot]:
    """The cluster's manual snapshots named by :func:`snapshot_id`, newest first."""
    found: list[Snapshot] = []
    for page in rds.get_paginator("describe_db_cluster_snapshots").paginate(
        DBClusterIdentifier=cluster, SnapshotType="manual"
    ):
        for s in page.get("DBClusterSnapshots", []):
            m = _SNAPSHOT_RE.match(str(s.get("DBClusterSnapshotIdentifier", "")))
            if not m or m["cluster"] != cluster:
                continue
            found.append(Snapshot(
                name=s["DBClusterSnapshotIdentifier"], cluster=cluster,
                from_schema=None if m["src"] == "none" else int(m["src"]), to_schema=int(m["dst"]),
                created=s.get("SnapshotCreateTime"), status=str(s.get("Status", "")),
            ))  # fmt: skip
    return sorted(found, key=lambda s: s.created.timestamp() if s.created else 0.0, reverse=True)


def restore_instructions(rds: Any, snap: Snapshot) -> str:
    """How to bring the snapshot back as a new cluster (copy-pasteable where the cluster answers)."""
    group, sgs, engine = "<db subnet group>", "<security group>", "aurora-postgresql"
    scaling = ""
    try:
        c = rds.describe_db_clusters(DBClusterIdentifier=snap.cluster)["DBClusters"][0]
        group = c.get("DBSubnetGroup") or group
        sgs = " ".join(g["VpcSecurityGroupId"] for g in c.get("VpcSecurityGroups", [])) or sgs
        engine = c.get("Engine") or engine
        s2 = c.get("ServerlessV2ScalingConfiguration") or {}
        if s2:
            scaling = (f" --serverless-v2-scaling-configuration MinCapacity={s2.get('MinCapacity')},"
                       f"MaxCapacity={s2.get('MaxCapacity')}")  # fmt: skip
    except (ClientError, BotoCoreError, IndexError, KeyError):
        pass
    restored = f"{snap.cluster}-restored"
    return (
        f"restore by hand if the database must go back to schema {snap.from_schema}: "
        f"`aws rds restore-db-cluster-from-snapshot --db-cluster-identifier {restored} "
        f"--snapshot-identifier {snap.name} --engine {engine} --db-subnet-group-name {group} "
        f"--vpc-security-group-ids {sgs}{scaling}`, then `aws rds create-db-instance "
        f"--db-instance-identifier {restored}-1 --db-cluster-identifier {restored} "
        f"--db-instance-class db.serverless --engine {engine}`, then copy the data back or point "
        "the application at the restored cluster. Nothing is restored automatically"
    )


def check_restore_point(rds: Any, *, cluster: str | None, tier: Tier, target_tag: str,
                        target_schema: int | None) -> Check:  # fmt: skip
    """With ``--allow-schema-downgrade`` across a migration: the snapshot taken before the first
    migration past ``target_schema`` must exist and be available."""
    level = "(none)" if target_schema is None else str(target_schema)
    if cluster is None:
        return Check("restore-point", True, "the stack has no Aurora cluster (data.postgres off): "
                     "no snapshot to look for")  # fmt: skip
    if tier is not Tier.PRODUCTION:
        return Check("restore-point", True, f"tier {tier.value}: deplight deploy takes no "
                     "pre-migration snapshots here, so there is none to restore")  # fmt: skip
    try:
        snaps = pre_migration_snapshots(rds, cluster)
    except (ClientError, BotoCoreError) as exc:
        return Check("restore-point", False, f"could not look for the pre-migration snapshot of "
                     f"{cluster}: {exc}")  # fmt: skip
    usable = [s for s in snaps if s.from_schema == target_schema and s.status == "available"]
    if not usable:
        seen = ", ".join(f"{s.name} ({s.status})" for s in snaps[:5]) or "none"
        return Check(
            "restore-point", False,
            f"no available snapshot of {cluster} taken before migrating from schema {level} "
            f"(named {cluster}-schema-{level.strip('()')}-to-*; pre-migration snapshots found: "
            f"{seen}): {target_tag}'s database state could not be restored. Refusing to cross "
            "the migration without it",
        )  # fmt: skip
    snap = usable[0]
    when = f", taken {snap.created:%Y-%m-%d %H:%M} UTC" if snap.created else ""
    return Check(
        "restore-point", True,
        f"pre-migration snapshot {snap.name} (schema {level} before migrating to "
        f"{snap.to_schema}{when}) exists; {restore_instructions(rds, snap)}",
    )  # fmt: skip
