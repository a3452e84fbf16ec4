"""Release scenarios end to end: the real adapter over a fake ``pulumi.automation.Stack`` (SDK
dataclasses), AWS answered by moto over HTTP on 127.0.0.1. Each scenario asserts the final stack
config, the engine calls made and the audit records written.

CodeDeploy deployment states and ``StopDeployment``, which moto does not model (its deployments
never leave ``Created``), are answered by botocore's ``Stubber`` with responses shaped as in the
AWS CodeDeploy API reference (GetDeployment, ListDeploymentTargets, GetDeploymentTarget,
StopDeployment).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from pulumi.automation import CommandError, CommandResult, ConcurrentUpdateError

from components.contract import CONFIRM_PROD
from rollback.audit import DynamoAudit, new_handle
from rollback.aws import Aws
from rollback.commands import (
    DeployOptions,
    RollbackOptions,
    deploy,
    releases_report,
    render_releases,
    rollback,
    wait_for_unlock,
)
from rollback.errors import BadInputError, LockHolder
from rollback.stack import PulumiStack
from tests.test_rollback_support import (
    REGION,
    SHA,
    FakeAutoStack,
    FakeWorkspace,
    MotoWorld,
    NoSleep,
    SimulatedCrash,
    UpPlan,
    adapter,
    summary,
    write_lock,
)

A, B, C = SHA["A"], SHA["B"], SHA["C"]
T0 = datetime.now(UTC) - timedelta(days=3)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


class Rig:
    """One stack: its AWS side (moto), its Pulumi side (fake Stack behind the real adapter)."""

    def __init__(self, endpoint: str, tmp_path: Path, *, stack: str = "dev",
                 tier: str = "development", history: list[Any], image_tag: str,
                 schema: int | None = 12, pushed: tuple[str, ...] = (A, B, C),
                 running: str | None = None, codedeploy: bool = False) -> None:  # fmt: skip
        self.world = MotoWorld(endpoint, stack)
        self.world.push(*pushed)
        self.world.run(running or image_tag)
        config: dict[str, Any] = {"aws:region": REGION, "deplight:tier": tier,
                                  "deplight:image_tag": image_tag}  # fmt: skip
        if schema is not None:
            config["deplight:schema_version"] = schema
        self.state = tmp_path / "state"
        self.fake = FakeAutoStack(
            stack, config, list(history), self.world.outputs(codedeploy=codedeploy),
            FakeWorkspace(f"file://{self.state}", stack), on_up=self.world.on_up,
        )  # fmt: skip
        self.stack: PulumiStack = adapter(self.fake, tmp_path)
        self.aws: Aws = self.world.aws
        self.env = NoSleep()

    def rollback(self, **opts: Any) -> Any:
        opts.setdefault("verify_timeout_s", 0)
        return rollback(self.stack, self.aws, RollbackOptions(**opts), self.env)

    def deploy(self, tag: str, **opts: Any) -> Any:
        opts.setdefault("verify_timeout_s", 0)
        return deploy(self.stack, self.aws, DeployOptions(image_tag=tag, **opts), self.env)

    @property
    def tag(self) -> Any:
        return self.fake.config.get("deplight:image_tag")

    def ups(self) -> list[dict[str, Any]]:
        return [kw for name, kw in self.fake.calls if name == "up"]


def deployed(tag: str, at: float, **kw: Any) -> Any:
    return summary(tag, message=f"deploy: {tag}", start=hours(at), release_kind="deploy", **kw)


def two_releases() -> list[Any]:
    """A then B deployed, both succeeded (newest first)."""
    return [deployed(B, 2), deployed(A, 1)]


def test_rollback_to_previous(aws_endpoint: str, tmp_path: Path) -> None:
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    result = rig.rollback(reason="5xx after B")

    assert result.exit_code == 0 and result.status == "succeeded", result.summary
    assert rig.tag == A and rig.fake.config["deplight:release"] == {"kind": "rollback"}
    assert rig.fake.config["deplight:schema_version"] == 12
    assert rig.fake.ops() == ["set_config", "set_config", "up", "preview"]
    up = rig.ups()[0]
    assert up["message"] == f"rollback: {B} -> {A} (5xx after B)"
    assert up["policy_packs"] == [str(tmp_path / "policies")]
    assert up["policy_pack_configs"] == [str(tmp_path / "policies" / "config" / "dev.json")]
    [record] = rig.world.audit()
    assert record["operation"] == "rollback" and record["result"] == "succeeded"
    assert (record["from_tag"], record["to_tag"], record["path"]) == (B, A, "slow")
    assert record["who"] == "octocat" and record["trigger"] == "manual"
    assert record["reason"] == "5xx after B" and record["update_id"] == result.update_id
    assert record["duration_s"] >= 0 and "error" not in record
    # the history now shows the rollback as the current release
    report = releases_report(rig.stack, rig.aws)
    assert report["current"]["kind"] == "rollback" and report["current"]["image_tag"] == A


def test_rollback_to_a_tag_that_never_succeeded_is_refused(
    aws_endpoint: str, tmp_path: Path
) -> None:
    history = [deployed(C, 3, result="failed"), *two_releases()]
    rig = Rig(aws_endpoint, tmp_path, history=history, image_tag=C, running=B)
    result = rig.rollback(to=C)

    assert result.exit_code == 1 and result.status == "refused"
    assert f"{C} never succeeded" in result.summary and f"{B}, {A}" in result.summary
    assert rig.tag == C and rig.fake.ops() == []
    [record] = rig.world.audit()
    assert record["result"] == "refused" and "target-succeeded" in record["error"]
    assert record["to_tag"] == C


def test_rollback_refuses_a_missing_image(aws_endpoint: str, tmp_path: Path) -> None:
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B, pushed=(B,))
    result = rig.rollback()

    assert result.status == "refused" and result.exit_code == 1
    assert f"image web-dev:{A} is not in ECR" in result.summary
    assert rig.tag == B and rig.fake.ops() == []
    assert [r["result"] for r in rig.world.audit()] == ["refused"]


def test_schema_raise_refused_then_allowed_with_override(aws_endpoint: str, tmp_path: Path) -> None:
    history = [deployed(B, 2, schema=13), deployed(A, 1, schema=12)]
    rig = Rig(aws_endpoint, tmp_path, history=history, image_tag=B, schema=13)

    refused = rig.rollback()
    assert refused.status == "refused"
    assert "schema_version rose from 12" in refused.summary and "to 13" in refused.summary
    assert "--allow-schema-downgrade" in refused.summary
    assert rig.tag == B and rig.fake.ops() == []

    allowed = rig.rollback(allow_schema_downgrade=True)
    assert allowed.status == "succeeded", allowed.summary
    assert rig.tag == A and rig.fake.config["deplight:schema_version"] == 12
    records = rig.world.audit()
    assert [r["result"] for r in records] == ["refused", "succeeded"]
    assert (records[1]["from_schema"], records[1]["to_schema"]) == (13, 12)
    schema_check = next(c for c in allowed.checks if c.name == "schema-version")
    assert "overridden by --allow-schema-downgrade" in schema_check.reason


def test_production_tier_needs_confirmation(aws_endpoint: str, tmp_path: Path) -> None:
    rig = Rig(aws_endpoint, tmp_path, stack="prod", tier="production", history=two_releases(),
              image_tag=B)  # fmt: skip
    refused = rig.rollback()
    assert refused.status == "refused" and f"--confirm {CONFIRM_PROD}" in refused.summary
    assert rig.tag == B and rig.fake.ops() == []
    with pytest.raises(BadInputError, match="--confirm: expected ROLLBACK-PROD"):
        rig.rollback(confirm="yes please")

    confirmed = rig.rollback(confirm=CONFIRM_PROD)
    assert confirmed.status == "succeeded" and rig.tag == A
    assert [r["result"] for r in rig.world.audit()] == ["refused", "succeeded"]
    assert rig.world.audit()[1]["tier"] == "production"


def test_a_stack_named_prod_is_not_special(aws_endpoint: str, tmp_path: Path) -> None:
    """Confirmation follows deplight:tier (data), not the stack name."""
    rig = Rig(aws_endpoint, tmp_path, stack="prod", tier="development", history=two_releases(),
              image_tag=B)  # fmt: skip
    assert rig.rollback().status == "succeeded"


def test_concurrent_update_is_refused_with_the_lock_holder(
    aws_endpoint: str, tmp_path: Path
) -> None:
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    write_lock(rig.state, "dev", who="ci", host="runner-7", pid=4242)

    result = rig.rollback()
    assert result.status == "refused"
    assert "ci@runner-7 (pid 4242, since 2024-05-01T09:58:00+00:00)" in result.summary
    assert "--cancel-stale" in result.summary
    assert rig.tag == B and rig.fake.ops() == []
    assert "no-update-running" in rig.world.audit()[0]["error"]

    # only on request: the stale lock is cancelled, then the rollback runs
    done = rig.rollback(cancel_stale=True)
    assert done.status == "succeeded" and rig.tag == A
    assert rig.fake.ops()[:1] == ["cancel"]


def test_lock_taken_during_up_restores_config(aws_endpoint: str, tmp_path: Path) -> None:
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    stderr = (
        "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) "
        "to end or delete the lock file with `pulumi cancel`.\n"
        f"  file://{rig.state}/.pulumi/locks/organization/deplight/dev/9f.json: created by "
        "alice@laptop (pid 77) at 2024-05-01T10:00:00Z"
    )
    rig.fake.plans.append(UpPlan(
        raises=ConcurrentUpdateError(CommandResult(stdout="", stderr=stderr, code=255)),
        engine_runs=False,
    ))  # fmt: skip
    result = rig.rollback()

    assert result.status == "refused" and result.exit_code == 1
    assert "alice@laptop (pid 77" in result.summary and f"restored to {B}" in result.summary
    assert rig.tag == B and "deplight:release" not in rig.fake.config
    assert rig.fake.ops() == ["set_config", "set_config", "up", "set_config", "remove_config"]
    [record] = rig.world.audit()
    assert record["result"] == "refused" and "alice@laptop" in record["error"]


def _cd_stubs(stub: Stubber, group: str, *, canary: bool = False, stop: bool = True) -> None:
    """CodeDeploy of a green deployment in its blue termination wait (or, with ``canary``, still
    shifting: 10% on green), stopped with rollback (unless not ``stop``: found, and nothing
    more)."""
    now = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)

    def info(dep_id: str, status: str, **extra: Any) -> dict[str, Any]:
        return {"deploymentInfo": {
            "deploymentId": dep_id, "applicationName": group, "deploymentGroupName": group,
            "status": status, "computePlatform": "ECS", "createTime": now,
            "deploymentStyle": {"deploymentType": "BLUE_GREEN",
                                "deploymentOption": "WITH_TRAFFIC_CONTROL"},
            **extra,
        }}  # fmt: skip

    def target(dep_id: str, blue: float, green: float, step: str) -> dict[str, Any]:
        sets = [("Blue", blue, f"{group}-blue"), ("Green", green, f"{group}-green")]
        return {"deploymentTarget": {"deploymentTargetType": "ECSTarget", "ecsTarget": {
            "deploymentId": dep_id, "targetId": f"{group}:{group}", "status": "InProgress",
            "lifecycleEvents": [{"lifecycleEventName": step, "status": "Succeeded"}],
            "taskSetsInfo": [{"identifer": f"ecs-svc/{label}", "status": "ACTIVE",
                              "trafficWeight": weight, "taskSetLabel": label,
                              "targetGroup": {"name": tg}} for label, weight, tg in sets],
        }}}  # fmt: skip

    def state(dep_id: str, response: dict[str, Any], blue: float, green: float, step: str) -> None:
        stub.add_response("get_deployment", response, {"deploymentId": dep_id})
        stub.add_response("list_deployment_targets", {"targetIds": [f"{group}:{group}"]},
                          {"deploymentId": dep_id})  # fmt: skip
        stub.add_response("get_deployment_target", target(dep_id, blue, green, step),
                          {"deploymentId": dep_id, "targetId": f"{group}:{group}"})  # fmt: skip

    stub.add_response(
        "list_deployments", {"deployments": ["d-GREEN0001"]},
        {"applicationName": group, "deploymentGroupName": group,
         "includeOnlyStatuses": ["Created", "Queued", "InProgress", "Baking", "Ready"]},
    )  # fmt: skip
    if canary:
        state("d-GREEN0001", info("d-GREEN0001", "InProgress"), 90.0, 10.0, "AllowTraffic")
    else:
        state("d-GREEN0001", info("d-GREEN0001", "InProgress",
                                  instanceTerminationWaitTimeStarted=True),
              0.0, 100.0, "AfterAllowTraffic")  # fmt: skip
    if not stop:
        return
    stub.add_response("stop_deployment", {"status": "Pending", "statusMessage": "Stop requested"},
                      {"deploymentId": "d-GREEN0001", "autoRollbackEnabled": True})  # fmt: skip
    state("d-GREEN0001", info("d-GREEN0001", "Stopped", rollbackInfo={
        "rollbackDeploymentId": "d-ROLLBACK01", "rollbackMessage": "stopped by user"}),
        100.0, 0.0, "AllowTraffic")  # fmt: skip
    state("d-ROLLBACK01", info("d-ROLLBACK01", "Succeeded"), 100.0, 0.0, "AllowTraffic")


def test_fast_path_during_blue_termination_wait(aws_endpoint: str, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    rig = Rig(aws_endpoint, tmp_path, stack="prod", tier="production", history=two_releases(),
              image_tag=B, codedeploy=True)  # fmt: skip
    cd = boto3.client("codedeploy", region_name=REGION, endpoint_url=aws_endpoint)
    stub = Stubber(cd)
    _cd_stubs(stub, "web-prod")
    rig.aws = Aws(REGION, endpoint_url=aws_endpoint, clients={"codedeploy": cd})
    with stub, caplog.at_level(logging.INFO):
        result = rig.rollback(confirm=CONFIRM_PROD, reason="alarm: 5xx")
        stub.assert_no_pending_responses()

    assert result.status == "succeeded" and result.path == "fast", result.summary
    assert rig.tag == A and rig.fake.config["deplight:release"] == {"kind": "rollback"}
    # CodeDeploy was stopped before anything else changed; then config reverted and up ran
    assert rig.fake.ops() == ["set_config", "set_config", "up", "preview"]
    assert rig.ups()[0]["message"] == f"rollback: {B} -> {A} (alarm: 5xx)"
    progress = caplog.text
    assert "blue termination wait" in progress and "traffic blue 0%, green 100%" in progress
    assert "rollback deployment d-ROLLBACK01 succeeded" in progress
    [record] = rig.world.audit()
    assert record["path"] == "fast" and record["result"] == "succeeded"


class _DeployEnds(NoSleep):
    """Time while `deplight deploy` of C holds the lock and waits for its CodeDeploy deployment.
    Once the rollback has stopped that deployment, the deploy's `up` fails through the release
    resource: ``after`` seconds into the rollback's waiting, its lock file goes and its failed
    update appears in the history. ``after=None``: it never ends."""

    def __init__(self, rig: Rig, lock: Path, after: float | None) -> None:
        super().__init__()
        self.rig, self.lock, self.after = rig, lock, after

    def _sleep(self, seconds: float) -> None:
        super()._sleep(seconds)
        if self.after is not None and self.t >= self.after and self.lock.exists():
            self.lock.unlink()
            failed = summary(C, message=f"deploy: {C}", result="failed", release_kind="deploy",
                             start=datetime.now(UTC) - timedelta(minutes=12))  # fmt: skip
            self.rig.fake.entries.insert(0, failed)


def _deploying_c(aws_endpoint: str, tmp_path: Path, *, ends_after: float | None) -> Rig:
    """prod, B serving; `deplight deploy` of C set image_tag=C and release.kind=deploy and holds
    the lock (ci@runner-7, pid 4242) while its deployment runs."""
    rig = Rig(aws_endpoint, tmp_path, stack="prod", tier="production", history=two_releases(),
              image_tag=C, running=B, codedeploy=True)  # fmt: skip
    rig.fake.config["deplight:release"] = {"kind": "deploy"}
    lock = write_lock(rig.state, "prod", who="ci", host="runner-7", pid=4242)
    rig.env = _DeployEnds(rig, lock, ends_after)
    return rig


def _stubbed_codedeploy(rig: Rig, aws_endpoint: str, *, canary: bool,
                        stop: bool = True) -> Stubber:  # fmt: skip
    cd = boto3.client("codedeploy", region_name=REGION, endpoint_url=aws_endpoint)
    stub = Stubber(cd)
    _cd_stubs(stub, "web-prod", canary=canary, stop=stop)
    rig.aws = Aws(REGION, endpoint_url=aws_endpoint, clients={"codedeploy": cd})
    return stub


CLOUD_CONFLICT = "error: [409] Conflict: Another update is currently in progress."


def test_fast_path_while_the_deploy_holds_the_lock(aws_endpoint: str, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    """docs/rollback.md, "Rollback during a release": the canary of C is at 10% while its deploy
    holds the lock. The rollback stops the deployment through CodeDeploy (no lock needed), waits
    for the deploy's `up` to end, never removing its lock (even with --cancel-stale), and then
    reverts the config and runs `up`. Its first `up` still finds the stack locked
    (ConcurrentUpdateError, as Pulumi Cloud answers while its lock is held): the config is put
    back and it waits again."""
    rig = _deploying_c(aws_endpoint, tmp_path, ends_after=10)
    rig.fake.plans.append(UpPlan(
        raises=ConcurrentUpdateError(CommandResult(stdout="", stderr=CLOUD_CONFLICT, code=255)),
        engine_runs=False,
    ))  # fmt: skip
    stub = _stubbed_codedeploy(rig, aws_endpoint, canary=True)
    with stub, caplog.at_level(logging.INFO):
        result = rig.rollback(confirm=CONFIRM_PROD, reason="5xx in the canary", cancel_stale=True)
        stub.assert_no_pending_responses()

    assert result.status == "succeeded" and result.path == "fast", result.summary
    assert rig.tag == B and rig.fake.config["deplight:release"] == {"kind": "rollback"}
    assert "cancel" not in rig.fake.ops(), "a live lock is never removed"
    assert rig.fake.ops() == [
        "set_config", "set_config", "up",  # the lock was still held: nothing ran ...
        "set_config", "set_config",  # ... and the config was put back
        "set_config", "set_config", "up", "preview",
    ]  # fmt: skip
    assert [kw["message"] for kw in rig.ups()] == [f"rollback: {C} -> {B} (5xx in the canary)"] * 2
    lock_check = next(c for c in result.checks if c.name == "no-update-running")
    assert lock_check.ok and "locked by ci@runner-7 (pid 4242" in lock_check.reason
    assert "while CodeDeploy d-GREEN0001: InProgress" in lock_check.reason
    text = caplog.text
    assert "--cancel-stale ignored: the lock belongs to the update releasing d-GREEN0001" in text
    assert "traffic blue 90%, green 10%" in text
    assert "rollback deployment d-ROLLBACK01 succeeded" in text
    assert "waiting for the update holding the lock to end (0s waited, 10m00s left)" in text
    assert "the lock is free after 10s" in text
    assert "`up` found the stack locked" in text and "[409] Conflict" in text
    [record] = rig.world.audit()
    assert (record["path"], record["result"], record["from_tag"], record["to_tag"]) == (
        "fast", "succeeded", C, B)  # fmt: skip
    assert lock_check.line() in record["checks"]


def test_fast_path_when_the_lock_never_clears(aws_endpoint: str, tmp_path: Path) -> None:
    """The deployment is stopped and traffic is back on blue, but the update holding the lock
    does not end within --lock-timeout: a failure that says so, the config untouched."""
    rig = _deploying_c(aws_endpoint, tmp_path, ends_after=None)
    stub = _stubbed_codedeploy(rig, aws_endpoint, canary=True)
    with stub:
        result = rig.rollback(confirm=CONFIRM_PROD, reason="5xx", lock_timeout_s=60)
        stub.assert_no_pending_responses()

    assert result.status == "failed" and result.exit_code == 1 and result.path == "fast"
    summary_ = result.summary
    assert "still locked by ci@runner-7 (pid 4242" in summary_ and "after waiting 1m00s" in summary_
    assert "image_tag was not reverted and `up` did not run" in summary_
    assert ("traffic is already back on the task set that served before the stopped release: "
            "rollback deployment d-ROLLBACK01 succeeded") in summary_  # fmt: skip
    assert f"config unchanged ({C}): nothing was written" in summary_
    assert rig.tag == C and rig.fake.config["deplight:release"] == {"kind": "deploy"}
    assert rig.fake.ops() == [] and rig.env.lock.exists() and rig.env.t == 60
    [record] = rig.world.audit()
    assert (record["result"], record["path"]) == ("failed", "fast")
    assert "still locked" in record["error"] and "traffic is already back" in record["error"]
    assert record["config"] == f"unchanged ({C}): nothing was written"


class _Holders:
    """A stack whose lock holders are scripted, one list per call of ``lock_holders``."""

    def __init__(self, *answers: list[LockHolder]) -> None:
        self.answers = list(answers)

    def lock_holders(self) -> list[LockHolder]:
        return self.answers.pop(0)


def test_wait_for_unlock_logs_each_wait_and_the_outcome(caplog: pytest.LogCaptureFixture) -> None:
    ci = [LockHolder("ci@runner-7", pid=4242)]
    env = NoSleep()
    with caplog.at_level(logging.INFO, logger="deplight.release"):
        assert wait_for_unlock(_Holders(ci, ci, []), "rollback prod", deadline=90, poll_s=30,
                               env=env) == []  # fmt: skip
    waiting = "rollback prod: waiting for the update holding the lock to end"
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, f"{waiting} (0s waited, 1m30s left): ci@runner-7 (pid 4242)"),
        (logging.INFO, f"{waiting} (30s waited, 1m00s left): ci@runner-7 (pid 4242)"),
        (logging.INFO, "rollback prod: the lock is free after 1m00s"),
    ]  # fmt: skip

    caplog.clear()
    env = NoSleep()
    with caplog.at_level(logging.INFO, logger="deplight.release"):
        assert wait_for_unlock(_Holders(ci, ci, ci), "rollback prod", deadline=40, poll_s=30,
                               env=env) == ci  # fmt: skip
    assert env.t == 60, "the last pause is not cut to the deadline"
    assert [(r.levelno, r.getMessage()) for r in caplog.records][1:] == [
        (logging.INFO, f"{waiting} (30s waited, 10s left): ci@runner-7 (pid 4242)"),
        (logging.ERROR, "rollback prod: still locked after 1m00s by ci@runner-7 (pid 4242)"),
    ]  # fmt: skip

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="deplight.release"):
        assert wait_for_unlock(_Holders([]), "rollback prod", deadline=40, poll_s=30,
                               env=NoSleep()) == []  # fmt: skip
    assert caplog.records == [], "a free lock is not worth a line"


def test_a_rollback_in_progress_is_not_stopped_by_another(aws_endpoint: str,
                                                         tmp_path: Path) -> None:  # fmt: skip
    """The lock and the deployment belong to a rollback that alice started (its audit intent is the
    newest record, without an outcome): a second rollback must not stop it (traffic would go back
    to the release she is leaving). Nothing is stopped, nothing is written but the refusal."""
    rig = _deploying_c(aws_endpoint, tmp_path, ends_after=None)
    DynamoAudit(rig.aws.client("dynamodb"), rig.world.table, "prod").begin(
        new_handle("prod", "rollback", datetime.now(UTC) - timedelta(minutes=2)),
        {"operation": "rollback", "who": "alice", "trigger": "manual", "from_tag": C,
         "to_tag": B, "path": "slow"},
    )  # fmt: skip
    stub = _stubbed_codedeploy(rig, aws_endpoint, canary=True, stop=False)
    with stub:
        result = rig.rollback(confirm=CONFIRM_PROD, reason="5xx", cancel_stale=True)
        stub.assert_no_pending_responses()

    assert result.status == "refused" and result.exit_code == 1
    assert "no-update-running: locked by ci@runner-7 (pid 4242" in result.summary
    assert "it is not stopped because the newest audit record is a rollback without an outcome" in (
        result.summary
    )
    assert f"{C} -> {B} by alice (manual): started, no outcome" in result.summary
    assert rig.fake.ops() == [] and rig.env.lock.exists()
    assert [r.get("result") for r in rig.world.audit()] == [None, "refused"]


def test_auto_never_stops_a_release_in_progress(aws_endpoint: str, tmp_path: Path) -> None:
    """CI's automatic rollback runs after the failed deploy's workflow ended, so a lock held
    now belongs to another update: refused as before, deployment left alone."""
    rig = _deploying_c(aws_endpoint, tmp_path, ends_after=None)
    rig.fake.entries.insert(0, summary(C, message=f"deploy: {C}", result="failed",
                                       start=hours(3), release_kind="deploy"))  # fmt: skip
    stub = _stubbed_codedeploy(rig, aws_endpoint, canary=True, stop=False)
    with stub:
        result = rig.rollback(auto=True, yes=True)
        stub.assert_no_pending_responses()

    assert result.status == "refused" and "--auto never stops a release in progress" in (
        result.summary
    )
    assert rig.fake.ops() == [] and rig.tag == C


def test_after_the_lock_clears_a_failed_verification_claims_nothing_about_blue(
    aws_endpoint: str, tmp_path: Path
) -> None:
    """Once the rollback's own `up` ran, traffic is wherever that release put it: the failure
    reports what verification found, not where the fast path had left traffic."""
    rig = _deploying_c(aws_endpoint, tmp_path, ends_after=10)
    rig.fake.drift = True
    stub = _stubbed_codedeploy(rig, aws_endpoint, canary=True)
    with stub:
        result = rig.rollback(confirm=CONFIRM_PROD, reason="5xx")
    assert result.status == "failed" and "preview expects changes" in result.summary
    assert "traffic is already back" not in result.summary and rig.tag == B


def test_intent_is_recorded_before_the_fast_path_acts(aws_endpoint: str, tmp_path: Path) -> None:
    """The process dies while it waits for the lock: the intent record is there, no outcome."""
    rig = _deploying_c(aws_endpoint, tmp_path, ends_after=None)

    def killed(seconds: float) -> None:
        raise SimulatedCrash()

    rig.env.sleep = killed
    stub = _stubbed_codedeploy(rig, aws_endpoint, canary=True)
    with stub, pytest.raises(SimulatedCrash):
        rig.rollback(confirm=CONFIRM_PROD, reason="5xx")
    [record] = rig.world.audit()
    assert "result" not in record and record["path"] == "fast" and record["to_tag"] == B


def _failed_deploy_history() -> list[Any]:
    return [deployed(C, 3, result="failed"), *two_releases()]


def test_auto_after_a_failed_deploy_rolls_back(aws_endpoint: str, tmp_path: Path) -> None:
    rig = Rig(aws_endpoint, tmp_path, history=_failed_deploy_history(), image_tag=C, running=B)
    failed_id = releases_report(rig.stack, rig.aws)["latest"]["id"]
    result = rig.rollback(auto=True)

    assert result.status == "succeeded", result.summary
    assert rig.tag == B, "the newest known-good release before the failed one"
    assert rig.ups()[0]["message"].startswith(f"rollback: {C} -> {B} (automatic: deploy {C} failed")
    [record] = rig.world.audit()
    assert record["trigger"] == "auto" and record["handles_update"] == failed_id

    # run twice: the last update is now a rollback, so the second run does nothing
    again = rig.rollback(auto=True)
    assert again.status == "nothing-to-do" and again.exit_code == 0
    assert "nothing to do because" in again.summary and "itself a rollback" in again.summary
    assert len(rig.ups()) == 1 and len(rig.world.audit()) == 1


def test_auto_does_not_handle_the_same_failed_update_twice(
    aws_endpoint: str, tmp_path: Path
) -> None:
    rig = Rig(aws_endpoint, tmp_path, history=_failed_deploy_history(), image_tag=C, running=B)
    # the first attempt fails before the engine runs (e.g. the CLI cannot reach the backend)
    rig.fake.plans.append(UpPlan(raises=CommandError(CommandResult(
        stdout="", stderr="error: failed to load checkpoint: connection reset", code=255,
    )), engine_runs=False))  # fmt: skip
    first = rig.rollback(auto=True)
    assert first.status == "failed" and f"restored to {C}" in first.summary
    assert rig.tag == C

    second = rig.rollback(auto=True)
    assert second.status == "nothing-to-do" and second.exit_code == 0
    assert "already handled by rollback-" in second.summary
    assert len(rig.ups()) == 1
    assert [r["result"] for r in rig.world.audit()] == ["failed"]


def test_auto_after_a_failed_rollback_is_a_no_op(aws_endpoint: str, tmp_path: Path) -> None:
    history = [
        summary(A, message=f"rollback: {B} -> {A} (alarm)", start=hours(3), result="failed",
                release_kind="rollback"),
        *two_releases(),
    ]  # fmt: skip
    rig = Rig(aws_endpoint, tmp_path, history=history, image_tag=A, running=B)
    result = rig.rollback(auto=True)

    assert result.status == "nothing-to-do" and result.exit_code == 0
    assert "was itself a rollback" in result.summary
    assert rig.fake.ops() == [] and rig.world.audit() == []


def test_auto_ignores_a_failed_hand_run_up(aws_endpoint: str, tmp_path: Path) -> None:
    """An operator's `pulumi up` (the CLI's message is the commit's, not `deploy: ...`) fails
    while the stack config still says release.kind=deploy from the last deploy: B is healthy,
    so --auto must not roll it back."""
    history = [
        summary(B, message="Merge pull request #12 from team/alarms", start=hours(3),
                result="failed", release_kind="deploy"),
        *two_releases(),
    ]  # fmt: skip
    rig = Rig(aws_endpoint, tmp_path, stack="prod", tier="production", history=history,
              image_tag=B)  # fmt: skip
    rig.fake.config["deplight:release"] = {"kind": "deploy"}
    result = rig.rollback(auto=True, yes=True)

    assert result.status == "nothing-to-do" and result.exit_code == 0, result.summary
    assert "nothing to do because" in result.summary
    assert "was not a deplight deploy" in result.summary and "deploy:" in result.summary
    assert rig.tag == B and rig.fake.ops() == [] and rig.world.audit() == []


def test_auto_acts_when_a_deploy_failed_its_verification(aws_endpoint: str, tmp_path: Path) -> None:
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    rig.fake.on_up = None  # up "succeeds" but ECS keeps running B (it rolled back on its own)
    failed = rig.deploy(C)
    assert failed.status == "failed" and "verification failed" in failed.summary

    rig.fake.on_up = rig.world.on_up
    result = rig.rollback(auto=True)
    assert result.status == "succeeded" and rig.tag == B
    deploy_record, rollback_record = rig.world.audit()
    assert rollback_record["handles_update"] == deploy_record["update_id"]


def test_crash_after_the_intent_record_is_visible_next_run(aws_endpoint: str, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    rig.fake.plans.append(UpPlan(raises=SimulatedCrash(), engine_runs=True))
    with pytest.raises(SimulatedCrash):
        rig.rollback(reason="before the crash")
    [record] = rig.world.audit()
    assert "result" not in record and record["reason"] == "before the crash"

    report = releases_report(rig.stack, rig.aws)
    assert [r["release_id"] for r in report["unfinished"]] == [record["release_id"]]
    assert "started, no outcome" in render_releases(report)
    with caplog.at_level(logging.WARNING):
        rig.rollback(dry_run=True)
    assert "has no outcome" in caplog.text and record["release_id"] in caplog.text


def test_verification_failure_is_exit_1_with_what_differed(
    aws_endpoint: str, tmp_path: Path
) -> None:
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    rig.fake.on_up = None  # ECS keeps running B
    result = rig.rollback()

    assert result.exit_code == 1 and result.status == "failed"
    assert (
        f"with image {rig.world.repo_uri}:{B}, expected {rig.world.repo_uri}:{A}" in result.summary
    )
    assert rig.tag == A, "the engine ran with A: the config says what it ran"
    [record] = rig.world.audit()
    assert record["result"] == "failed" and "verification failed" in record["error"]


def test_drift_after_release_fails_verification(aws_endpoint: str, tmp_path: Path) -> None:
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    rig.fake.drift = True
    result = rig.rollback()
    assert result.exit_code == 1 and "preview expects changes" in result.summary
    assert "update aws:ecs/service:Service web-service" in result.summary


def test_a_change_made_outside_pulumi_fails_verification(aws_endpoint: str, tmp_path: Path) -> None:
    """The state still matches the program, but someone changed a resource in AWS: only a preview
    that refreshes (reads the resources back from AWS) sees it, and verification runs one."""
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    rig.fake.changed_outside = [("aws:lb/targetGroup:TargetGroup", "web-blue")]
    result = rig.rollback()

    assert result.exit_code == 1 and result.status == "failed", result.summary
    assert "preview expects changes (update aws:lb/targetGroup:TargetGroup web-blue)" in (
        result.summary
    )
    assert "reading the stack's resources back from AWS (refresh)" in result.summary
    [preview] = [kw for name, kw in rig.fake.calls if name == "preview"]
    assert preview["refresh"] is True and preview["expect_no_changes"] is True
    [record] = rig.world.audit()
    assert record["result"] == "failed" and "web-blue" in record["error"]


def test_dry_run_changes_nothing(aws_endpoint: str, tmp_path: Path) -> None:
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    result = rig.rollback(dry_run=True)
    assert result.status == "dry-run" and f"would roll back {B} -> {A}" in result.summary
    assert rig.fake.ops() == [] and rig.world.audit() == []


def test_a_refused_dry_run_records_nothing(aws_endpoint: str, tmp_path: Path) -> None:
    """docs/rollback.md: a dry run changes nothing and records nothing, also when the real run
    would be refused (here: a production-tier stack without --confirm)."""
    rig = Rig(aws_endpoint, tmp_path, stack="prod", tier="production", history=two_releases(),
              image_tag=B)  # fmt: skip
    result = rig.rollback(dry_run=True)

    assert result.status == "refused" and result.exit_code == 1
    assert "would be refused (dry run: nothing recorded)" in result.summary
    assert f"--confirm {CONFIRM_PROD}" in result.summary
    assert rig.fake.ops() == [] and rig.world.audit() == []
    report = releases_report(rig.stack, rig.aws)
    assert report["audit"] == [] and "Audit trail: 0 record(s)" in render_releases(report)


# -- deploy ---------------------------------------------------------------------------------------


def test_deploy_sets_config_runs_up_with_policies_and_verifies(
    aws_endpoint: str, tmp_path: Path
) -> None:
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    result = rig.deploy(C, schema_version=13)

    assert result.status == "succeeded", result.summary
    assert rig.tag == C and rig.fake.config["deplight:schema_version"] == 13
    assert rig.fake.config["deplight:release"] == {"kind": "deploy"}
    up = rig.ups()[0]
    assert up["message"] == f"deploy: {C}" and up["policy_packs"] and up["show_secrets"] is False
    assert (
        "set_config --type",
        {"key": "deplight:schema_version", "value": "13", "type": "int"},
    ) in rig.fake.calls
    [record] = rig.world.audit()
    assert (record["operation"], record["from_tag"], record["to_tag"]) == ("deploy", B, C)
    assert record["result"] == "succeeded"


def test_deploy_validates_the_sha(aws_endpoint: str, tmp_path: Path) -> None:
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    with pytest.raises(BadInputError, match="--image-tag: expected a git commit SHA"):
        rig.deploy("latest")
    assert rig.fake.ops() == []


def test_deploy_refuses_a_missing_image(aws_endpoint: str, tmp_path: Path) -> None:
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B, pushed=(A, B))
    result = rig.deploy(C)
    assert result.status == "refused" and f"web-dev:{C} is not in ECR" in result.summary
    assert rig.tag == B and rig.fake.ops() == []


def test_deploy_failure_after_the_engine_ran_keeps_the_config(
    aws_endpoint: str, tmp_path: Path
) -> None:
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    rig.fake.plans.append(UpPlan(raises=CommandError(CommandResult(
        stdout="", stderr="error: update failed: aws:ecs:Service web-dev: timeout", code=255,
    )), engine_runs=True))  # fmt: skip
    result = rig.deploy(C)
    assert result.status == "failed" and f"left at {C}" in result.summary
    assert rig.tag == C
    [record] = rig.world.audit()
    assert record["result"] == "failed" and record["update_id"] == result.update_id
    assert releases_report(rig.stack, rig.aws)["latest"]["result"] == "failed"


def test_bootstrap_deploy_without_outputs(aws_endpoint: str, tmp_path: Path) -> None:
    """A brand-new stack has no outputs (no repository, no audit table): the image cannot be
    checked unless --skip-image-check; the audit record is written once the table exists."""
    rig = Rig(aws_endpoint, tmp_path, history=[], image_tag=B)
    outputs = dict(rig.fake.stack_outputs)
    rig.fake.stack_outputs = {}
    del rig.fake.config["deplight:image_tag"]

    refused = rig.deploy(C)
    assert refused.status == "refused" and "--skip-image-check" in refused.summary

    def first_up(config: dict[str, Any]) -> None:
        rig.fake.stack_outputs = outputs
        rig.world.on_up(config)

    rig.fake.on_up = first_up
    result = rig.deploy(C, skip_image_check=True)
    assert result.status == "succeeded", result.summary
    [record] = rig.world.audit()
    assert record["result"] == "succeeded" and record["to_tag"] == C


def test_a_failed_config_write_restores_what_was_written(aws_endpoint: str, tmp_path: Path) -> None:
    history = [deployed(B, 2, schema=13), deployed(A, 1, schema=12)]
    rig = Rig(aws_endpoint, tmp_path, history=history, image_tag=B, schema=13)
    rig.fake.unwritable = frozenset({"deplight:schema_version"})
    result = rig.rollback(allow_schema_downgrade=True)

    assert result.status == "failed" and "could not set the config" in result.summary
    assert f"restored to {B}" in result.summary
    assert rig.tag == B and rig.fake.config["deplight:schema_version"] == 13
    assert "deplight:release" not in rig.fake.config and rig.ups() == []
    [record] = rig.world.audit()
    assert record["result"] == "failed" and "permission denied" in record["error"]


class _SplitEcs:
    """moto's ECS for everything, except the service-deployment APIs moto lacks (stubbed)."""

    STUBBED = (
        "list_service_deployments",
        "describe_service_deployments",
        "stop_service_deployment",
    )

    def __init__(self, real: Any, stubbed: Any) -> None:
        self.real, self.stubbed = real, stubbed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stubbed if name in self.STUBBED else self.real, name)


ECS_DEPLOYMENT = (
    "arn:aws:ecs:us-east-1:123456789012:service-deployment/web-prod/web-prod/AbCdEf0123"
)


def _ecs_bake_stubs(rig: Rig, aws_endpoint: str) -> Stubber:
    """Strategy ecs_bluegreen: a service deployment of web-prod baking, stopped with rollback,
    rolled back (ListServiceDeployments, DescribeServiceDeployments, StopServiceDeployment)."""
    rig.fake.stack_outputs["deploy_strategy"] = "ecs_bluegreen"
    arn = ECS_DEPLOYMENT
    real = boto3.client("ecs", region_name=REGION, endpoint_url=aws_endpoint)
    stubbed = boto3.client("ecs", region_name=REGION, endpoint_url=aws_endpoint)
    stub = Stubber(stubbed)
    stub.add_response("list_service_deployments", {"serviceDeployments": [
        {"serviceDeploymentArn": arn, "status": "IN_PROGRESS"}]},
        {"cluster": "web-prod", "service": "web-prod", "status": ["PENDING", "IN_PROGRESS"]})  # fmt: skip

    def described(status: str, stage: str) -> dict[str, Any]:
        return {"serviceDeployments": [{"serviceDeploymentArn": arn, "status": status,
                                        "lifecycleStage": stage}], "failures": []}  # fmt: skip

    stub.add_response("describe_service_deployments", described("IN_PROGRESS", "BAKE_TIME"),
                      {"serviceDeploymentArns": [arn]})  # fmt: skip
    stub.add_response("stop_service_deployment", {"serviceDeploymentArn": arn},
                      {"serviceDeploymentArn": arn, "stopType": "ROLLBACK"})  # fmt: skip
    stub.add_response("describe_service_deployments",
                      described("ROLLBACK_IN_PROGRESS", "RECONCILE_SERVICE"),
                      {"serviceDeploymentArns": [arn]})  # fmt: skip
    stub.add_response(
        "describe_service_deployments",
        described("ROLLBACK_SUCCESSFUL", "CLEAN_UP"),
        {"serviceDeploymentArns": [arn]},
    )
    rig.aws = Aws(REGION, endpoint_url=aws_endpoint, clients={"ecs": _SplitEcs(real, stubbed)})
    return stub


def test_fast_path_for_ecs_bluegreen_during_bake_time(aws_endpoint: str, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    """Strategy ecs_bluegreen: ListServiceDeployments finds the deployment still baking,
    StopServiceDeployment(stopType=ROLLBACK) stops it, DescribeServiceDeployments reports the
    rollback done. moto lacks these three calls: Stubber responses are shaped as in the ECS API
    reference."""
    rig = Rig(aws_endpoint, tmp_path, stack="prod", tier="production", history=two_releases(),
              image_tag=B)  # fmt: skip
    stub = _ecs_bake_stubs(rig, aws_endpoint)
    with stub, caplog.at_level(logging.INFO):
        result = rig.rollback(confirm=CONFIRM_PROD, reason="bake alarm")
        stub.assert_no_pending_responses()

    assert result.status == "succeeded" and result.path == "fast", result.summary
    assert rig.tag == A
    assert rig.fake.ops() == ["set_config", "set_config", "up", "preview"]
    assert "BAKE_TIME" in caplog.text and "service deployment AbCdEf0123 rolled back" in caplog.text
    [record] = rig.world.audit()
    assert record["path"] == "fast" and record["result"] == "succeeded"


def test_ecs_fast_path_falls_back_when_the_deployment_already_finished(
    aws_endpoint: str, tmp_path: Path
) -> None:
    """StopServiceDeployment answers ConflictException once the deployment is over (ECS API
    reference); the rollback then takes the slow path."""
    rig = Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B)
    rig.fake.stack_outputs["deploy_strategy"] = "ecs_bluegreen"
    arn = "arn:aws:ecs:us-east-1:123456789012:service-deployment/web-dev/web-dev/Zz9"
    real = boto3.client("ecs", region_name=REGION, endpoint_url=aws_endpoint)
    stubbed = boto3.client("ecs", region_name=REGION, endpoint_url=aws_endpoint)
    stub = Stubber(stubbed)
    stub.add_response("list_service_deployments", {"serviceDeployments": [
        {"serviceDeploymentArn": arn, "status": "IN_PROGRESS"}]})  # fmt: skip
    stub.add_response("describe_service_deployments", {"serviceDeployments": [
        {"serviceDeploymentArn": arn, "status": "IN_PROGRESS",
         "lifecycleStage": "PRODUCTION_TRAFFIC_SHIFT"}], "failures": []})  # fmt: skip
    stub.add_client_error("stop_service_deployment", service_error_code="ConflictException",
                          service_message="The service deployment is not in progress.")  # fmt: skip
    rig.aws = Aws(REGION, endpoint_url=aws_endpoint, clients={"ecs": _SplitEcs(real, stubbed)})
    with stub:
        result = rig.rollback(reason="bad")
    assert result.status == "succeeded" and result.path == "slow", result.summary
    assert rig.tag == A


def test_ecs_fast_path_while_the_deploy_holds_the_lock(aws_endpoint: str, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    """ecs_bluegreen: `up` waits for ECS's own blue/green while holding the lock.
    StopServiceDeployment(ROLLBACK) needs no lock; then the rollback waits for that `up` to end."""
    rig = _deploying_c(aws_endpoint, tmp_path, ends_after=30)
    stub = _ecs_bake_stubs(rig, aws_endpoint)
    with stub, caplog.at_level(logging.INFO):
        result = rig.rollback(confirm=CONFIRM_PROD, reason="bake alarm")
        stub.assert_no_pending_responses()

    assert result.status == "succeeded" and result.path == "fast", result.summary
    assert rig.tag == B and rig.fake.ops() == ["set_config", "set_config", "up", "preview"]
    assert "while ECS service deployment AbCdEf0123: IN_PROGRESS, BAKE_TIME" in caplog.text
    assert "service deployment AbCdEf0123 rolled back" in caplog.text
    # ECS's rollback took one 10 s poll; the deploy's `up` ended 30 s in: 20 s of waiting
    assert "the lock is free after 20s" in caplog.text and rig.env.t == 30
    [record] = rig.world.audit()
    assert (record["path"], record["result"]) == ("fast", "succeeded")
