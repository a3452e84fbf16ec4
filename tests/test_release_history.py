"""The release log from update history (pure): kinds, tags, identities, known-good releases, the
rollback target and the ``--auto`` decision, from ``UpdateSummary`` values built as the SDK does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pulumi.automation import UpdateSummary

from components.contract import Tier
from rollback.checks import (
    auto_decision,
    check_confirmation,
    check_lock,
    check_schema,
    choose_target,
    rollback_in_progress,
    tier_of,
)
from rollback.errors import LockHolder
from rollback.releases import Kind, build_log, fetch_history, normalise, update_id
from tests.test_rollback_support import SHA, FakeAutoStack, history_config, summary

A, B, C, D = SHA["A"], SHA["B"], SHA["C"], SHA["D"]
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def at(h: float) -> datetime:
    return T0 + timedelta(hours=h)


def dep(tag: str, h: float, **kw: object) -> UpdateSummary:
    return summary(tag, message=f"deploy: {tag}", start=at(h), **kw)  # type: ignore[arg-type]


def rb(src: str, dst: str, h: float, **kw: object) -> UpdateSummary:
    return summary(dst, message=f"rollback: {src} -> {dst} (why)", start=at(h), **kw)  # type: ignore[arg-type]


def test_kind_from_message_prefix_then_release_kind_config() -> None:
    log = build_log([
        dep(A, 1),
        rb(B, A, 2),
        summary(A, message="fix alarms", start=at(3), release_kind="rollback"),
        summary(A, message="Merge pull request #12", start=at(4)),
        summary(A, message="deploy: but config says rollback", start=at(5),
                release_kind="rollback"),
    ])  # fmt: skip
    kinds = [u.kind for u in reversed(log.updates)]
    assert kinds == [Kind.DEPLOY, Kind.ROLLBACK, Kind.ROLLBACK, Kind.OTHER, Kind.DEPLOY]


def test_object_config_arrives_as_json_string() -> None:
    entry = summary(A, message="x", start=at(1), release_kind="rollback")
    assert entry.config["deplight:release"].value == '{"kind": "rollback"}'
    assert normalise(entry).kind is Kind.ROLLBACK


def test_refresh_destroy_import_and_partial_updates_are_not_releases() -> None:
    log = build_log([
        dep(A, 1),
        summary(B, message="", start=at(2), kind="refresh"),
        summary(B, message="", start=at(3), kind="destroy"),
        summary(B, message="", start=at(4), kind="import"),
        summary(C, message=f"deploy: {C}", start=at(5),
                environment={"pulumi.flag.target": "set", "exec.kind": "cli"}),
        summary(D, message=f"deploy: {D}", start=at(6), environment={"pulumi.flag.exclude": "set"}),
    ])  # fmt: skip
    assert [u.tag for u in log.known_good] == [A]
    assert log.current is not None and log.current.tag == A
    assert log.latest is not None and log.latest.tag == A
    partial = [u for u in log.updates if u.partial_flags]
    assert [(u.tag, u.partial_flags) for u in partial] == [(D, ("exclude",)), (C, ("target",))]


def test_failed_and_cancelled_updates_are_recorded_but_not_known_good() -> None:
    log = build_log([dep(A, 1), dep(B, 2, result="failed"), dep(C, 3, result="in-progress")])
    assert [u.tag for u in log.known_good] == [A]
    assert log.latest is not None and (log.latest.tag, log.latest.result) == (C, "in-progress")
    assert [u.result for u in log.releases] == ["in-progress", "failed", "succeeded"]


def test_known_good_newest_first_deduplicated() -> None:
    log = build_log([dep(A, 1), dep(B, 2), dep(A, 3), dep(C, 4), rb(C, B, 5)])
    assert [u.tag for u in log.known_good] == [B, C, A]
    assert log.last_success(A) is not None and log.last_success(A).started == at(3)


def test_identity_is_start_time_and_message_not_version() -> None:
    """Self-managed backends report version 0 for every update."""
    same_time = [dep(A, 1, version=0), summary(A, message="other", start=at(1), version=0)]
    ids = {normalise(s).id for s in same_time}
    assert len(ids) == 2
    assert normalise(dep(A, 1, version=0)).id == normalise(dep(A, 1, version=7)).id
    assert (
        update_id(at(1), "deploy: x")
        == "2024-03-01T13:00:00Z#" + update_id(at(1), "deploy: x")[-8:]
    )


def test_secrets_missing_keys_and_strings() -> None:
    entry = UpdateSummary(
        kind="update", start_time=at(1).replace(tzinfo=None), message="deploy: x",
        environment={}, result="succeeded",
        config=history_config({"deplight:image_tag": A, "deplight:schema_version": "12",
                               "deplight:token": "s3cr3t"},
                              secret_keys=frozenset({"deplight:image_tag", "deplight:token"})),
    )  # fmt: skip
    update = normalise(entry)
    assert update.tag is None and update.schema_version == 12
    assert update.notes == ("deplight:image_tag is a secret; it must be plain config",)
    assert not update.known_good
    bare = normalise(UpdateSummary(kind="update", start_time=at(2).replace(tzinfo=None),
                                   message="", environment={}, config={}, result="succeeded"))  # fmt: skip
    assert (bare.tag, bare.schema_version, bare.duration_s) == (None, None, None)
    bad = normalise(summary(A, message="x", start=at(3), extra={"deplight:schema_version": "x"}))
    assert bad.schema_version is None and "not a non-negative integer" in bad.notes[0]


def test_durations() -> None:
    assert normalise(dep(A, 1, minutes=2.5)).duration_s == 150


def test_fetch_history_stops_when_a_backend_ignores_paging() -> None:
    class Unpaged(FakeAutoStack):
        def history(self, page_size=None, page=None, show_secrets=True):  # type: ignore[no-untyped-def]
            return list(self.entries)

    fake = Unpaged("dev", {}, [dep(B, 2), dep(A, 1)])
    assert len(fetch_history(fake, page_size=1)) == 2


@given(st.lists(st.sampled_from([A, B, C, D]), min_size=1, max_size=30),
       st.lists(st.booleans(), min_size=30, max_size=30))  # fmt: skip
def test_known_good_properties(tags: list[str], ok: list[bool]) -> None:
    log = build_log([dep(t, i, result="succeeded" if ok[i] else "failed")
                     for i, t in enumerate(tags)])  # fmt: skip
    good = [u.tag for u in log.known_good]
    assert len(good) == len(set(good))
    assert set(good) == {t for i, t in enumerate(tags) if ok[i]}
    starts = [u.started for u in log.known_good]
    assert starts == sorted(starts, reverse=True)


# -- target and checks ----------------------------------------------------------------------------


def test_target_is_newest_known_good_other_than_current() -> None:
    log = build_log([dep(A, 1), dep(B, 2), dep(C, 3, result="failed")])
    target, _ = choose_target(log, C, None)
    assert target is not None and target.tag == B


def test_target_skips_a_release_that_was_rolled_back_from() -> None:
    log = build_log([dep(D, 0), dep(A, 1), dep(B, 2), rb(B, A, 3)])
    target, why = choose_target(log, A, None)
    assert target is not None and target.tag == D and f"skipping {B}" in why


def test_requested_target_must_have_succeeded() -> None:
    log = build_log([dep(A, 1), dep(B, 2, result="failed")])
    assert choose_target(log, A, B)[0] is None
    assert choose_target(log, B, A)[0] is not None


def test_schema_check() -> None:
    log = build_log([dep(A, 1, schema=12), dep(B, 2, schema=13), dep(C, 3, schema=13)])
    target = log.last_success(A)
    refused = check_schema(log, target, 13, allow_downgrade=False)
    assert not refused.ok and "rose from 12" in refused.reason and "to 13" in refused.reason
    assert check_schema(log, target, 13, allow_downgrade=True).ok
    assert check_schema(log, log.last_success(B), 13, allow_downgrade=False).ok
    # a failed release attempt may have migrated the database too
    failed = build_log([dep(A, 1, schema=12), dep(B, 2, schema=14, result="failed")])
    assert not check_schema(failed, failed.last_success(A), 12, allow_downgrade=False).ok
    untracked = build_log([dep(A, 1, schema=None), dep(B, 2, schema=None)])
    assert check_schema(untracked, untracked.last_success(A), None, allow_downgrade=False).ok
    started = build_log([dep(A, 1, schema=None), dep(B, 2, schema=3)])
    assert not check_schema(started, started.last_success(A), 3, allow_downgrade=False).ok


@pytest.mark.parametrize(
    ("tier", "confirm", "yes", "ok"),
    [("development", None, False, True), ("production", None, False, False),
     ("production", "ROLLBACK-PROD", False, True), ("production", None, True, True),
     (None, None, False, False), ("bogus", None, False, False)],
)  # fmt: skip
def test_confirmation_follows_the_tier(tier: str | None, confirm: str | None, yes: bool,
                                       ok: bool) -> None:  # fmt: skip
    assert check_confirmation(tier_of(tier), confirm, yes).ok is ok
    assert tier_of(None) is Tier.PRODUCTION, "missing tier: the project default, production"


def test_lock_check() -> None:
    holder = LockHolder("ci@runner", 7)
    assert check_lock([], False).ok
    refused = check_lock([holder], False)
    assert not refused.ok and "ci@runner (pid 7)" in refused.reason
    assert check_lock([holder], True).ok


def test_a_lock_held_while_a_deployment_runs_is_waited_for_not_cancelled() -> None:
    holder = LockHolder("ci@runner", 7)
    running = "CodeDeploy d-1: InProgress, traffic blue 90%, green 10%"
    for cancel_stale in (False, True):
        check = check_lock([holder], cancel_stale, deployment=running, wait_s=600)
        assert check.ok and "stale" not in check.reason
        assert f"locked by ci@runner (pid 7) while {running} is in progress" in check.reason
        assert "waits up to 600 s" in check.reason and "never removed" in check.reason
    assert check_lock([], False, deployment=running).reason == "the stack is not locked"
    kept = check_lock([holder], True, deployment=running, keep_running="it is a rollback")
    assert not kept.ok and "not stopped because it is a rollback. Wait" in kept.reason


def test_a_rollback_in_progress_is_recognised() -> None:
    log = build_log([dep(A, 1), dep(B, 2)])
    assert rollback_in_progress(log, []) is None
    deploying = {"operation": "deploy", "from_tag": B, "to_tag": C, "who": "ci"}
    assert rollback_in_progress(log, [deploying]) is None, "a deploy in flight may be stopped"
    rolling = {"operation": "rollback", "from_tag": B, "to_tag": A, "who": "alice",
               "trigger": "manual", "started_at": "2024-03-01T15:00:00.000000Z"}  # fmt: skip
    assert "rollback without an outcome (2024-03-01T15:00:00.000000Z rollback" in str(
        rollback_in_progress(log, [rolling, deploying])
    )
    crashed_then_deploy = [deploying, rolling]  # newest first: the deploy came after
    assert rollback_in_progress(log, crashed_then_deploy) is None
    finished = {**rolling, "result": "succeeded"}
    assert rollback_in_progress(log, [finished]) is None
    cloud = build_log([dep(A, 1), rb(B, A, 2, result="in-progress")])
    assert "is a rollback in progress" in str(rollback_in_progress(cloud, []))


# -- --auto ---------------------------------------------------------------------------------------


def test_auto_acts_on_a_failed_deploy_only_once() -> None:
    log = build_log([dep(A, 1), dep(B, 2, result="failed")])
    latest = log.latest
    assert latest is not None
    decision = auto_decision(log, [])
    assert decision.act and decision.failed == latest and "failed" in decision.reason
    for outcome in ("succeeded", "failed", None):
        record = {"handles_update": latest.id, "release_id": "rollback-1", "result": outcome}
        if outcome is None:
            del record["result"]
        assert not auto_decision(log, [record]).act
    refused = {"handles_update": latest.id, "release_id": "rollback-1", "result": "refused"}
    assert auto_decision(log, [refused]).act, "a refusal changed nothing: CI may retry"


def test_auto_never_rolls_back_a_rollback() -> None:
    for result in ("succeeded", "failed"):
        log = build_log([dep(A, 1), dep(B, 2), rb(B, A, 3, result=result)])
        decision = auto_decision(log, [])
        assert not decision.act and "itself a rollback" in decision.reason


def test_auto_nothing_to_do_after_success_or_foreign_updates() -> None:
    assert not auto_decision(build_log([dep(A, 1)]), []).act
    assert not auto_decision(build_log([]), []).act
    foreign = build_log([dep(A, 1), summary(B, message="manual", start=at(2), result="failed")])
    assert "not a deplight deploy" in auto_decision(foreign, []).reason
    verification = build_log([dep(A, 1), dep(B, 2)])
    latest = verification.latest
    assert latest is not None
    failed_check = {"update_id": latest.id, "operation": "deploy", "result": "failed"}
    assert auto_decision(verification, [failed_check]).act


def test_auto_judges_by_the_message_not_by_release_kind_config() -> None:
    """release.kind stays `deploy` in the stack config after a deploy, so a later `pulumi up` run
    by hand carries it too: the release log shows it as a deploy, --auto must not."""
    hand_run = summary(B, message="Merge pull request #12", start=at(3), result="failed",
                       release_kind="deploy")  # fmt: skip
    log = build_log([dep(A, 1), dep(B, 2), hand_run])
    latest = log.latest
    assert latest is not None
    assert latest.kind is Kind.DEPLOY and latest.recorded_kind is Kind.OTHER
    decision = auto_decision(log, [])
    assert not decision.act and "was not a deplight deploy" in decision.reason
    after_rollback = summary(A, message="fix alarms", start=at(3), result="failed",
                             release_kind="rollback")  # fmt: skip
    decision = auto_decision(build_log([dep(A, 1), after_rollback]), [])
    assert not decision.act and "was not a deplight deploy" in decision.reason


def test_a_release_that_failed_verification_is_not_known_good() -> None:
    entries = [dep(B, 2), dep(A, 1)]
    log = build_log(entries, distrusted={normalise(entries[0]).id})
    assert [u.tag for u in log.known_good] == [A]
    assert log.current is not None and log.current.tag == A
    assert choose_target(log, A, B)[0] is None, "--to a release ECS never ran is refused"
