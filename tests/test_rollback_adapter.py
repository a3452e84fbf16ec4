"""The adapter seam: :class:`rollback.stack.PulumiStack` over a fake ``pulumi.automation.Stack``
that returns the SDK's own dataclasses and raises the SDK's own errors, including
``ConcurrentUpdateError`` and ``CommandError`` raised in the middle of ``up``."""

from __future__ import annotations

import ast
import inspect
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from pulumi.automation import (
    CommandError,
    CommandResult,
    ConcurrentUpdateError,
    OpType,
    Stack,
    StackNotFoundError,
)

from rollback import stack as stack_module
from rollback.errors import (
    DeplightError,
    EngineError,
    StackLockedError,
    UnknownStackError,
    parse_lock_error,
)
from rollback.progress import Progress
from rollback.releases import build_log, fetch_history
from rollback.stack import PulumiStack, file_backend_root, lock_dirs, read_s3_locks
from tests.test_rollback_support import (
    REGION,
    SHA,
    FakeAutoStack,
    FakeCli,
    FakeWorkspace,
    UpPlan,
    adapter,
    summary,
    write_lock,
)

ROOT = Path(__file__).resolve().parent.parent
LOCKED = (
    "error: the stack is currently locked by 2 lock(s). Either wait for the other process(es) to "
    "end or delete the lock file with `pulumi cancel`.\n"
    "  s3://state/.pulumi/locks/organization/deplight/prod/1.json: created by runner@gh-42 "
    "(pid 311) at 2024-05-01T10:00:00Z\n"
    "  s3://state/.pulumi/locks/organization/deplight/prod/2.json: created by alice@laptop "
    "(pid 9) at 2024-05-01T10:01:30.123456789+02:00"
)


def make(tmp_path: Path, **kw: object) -> tuple[FakeAutoStack, PulumiStack]:
    config = {"deplight:image_tag": SHA["A"], "deplight:release": {"kind": "deploy"}}
    fake = FakeAutoStack("dev", config, **kw)  # type: ignore[arg-type]
    return fake, adapter(fake, tmp_path)


def test_only_the_adapter_imports_pulumi_automation() -> None:
    importers = []
    for path in sorted((ROOT / "rollback").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            if any(n.startswith("pulumi.automation") for n in names):
                importers.append(path.name)
    assert sorted(set(importers)) == ["stack.py"]


def test_config_get_set_remove(tmp_path: Path) -> None:
    fake, stack = make(tmp_path)
    assert stack.get_config("deplight:image_tag") == SHA["A"]
    assert stack.get_config("deplight:release.kind", path=True) == "deploy"
    assert stack.get_config("deplight:schema_version") is None, "missing keys read as None"
    stack.set_config("deplight:schema_version", "13", path=True)
    assert fake.config["deplight:schema_version"] == "13", "top-level values stay strings"
    stack.set_int_config("deplight:schema_version", 13)
    assert fake.config["deplight:schema_version"] == 13
    assert fake.calls[-1] == (
        "set_config --type", {"key": "deplight:schema_version", "value": "13", "type": "int"})  # fmt: skip
    stack.remove_config("deplight:release")
    assert "deplight:release" not in fake.config


def test_int_config_falls_back_to_a_string_on_old_clis(tmp_path: Path) -> None:
    class OldCli(FakeCli):
        def run(self, args: list[str], *rest: object, **kw: object) -> CommandResult:
            raise CommandError(CommandResult(stdout="", stderr="Error: unknown flag: --type",
                                             code=255))  # fmt: skip

    fake, stack = make(
        tmp_path, workspace=FakeWorkspace("file:///x", "dev", pulumi_command=OldCli())
    )
    stack.set_int_config("deplight:schema_version", 14)
    assert fake.config["deplight:schema_version"] == "14"


def test_up_attaches_the_policy_pack_and_its_stack_config(tmp_path: Path) -> None:
    fake, stack = make(tmp_path)
    progress = Progress("test")
    result = stack.up(message="deploy: abc1234", on_event=progress)
    [(_, call)] = [c for c in fake.calls if c[0] == "up"]
    assert call["message"] == "deploy: abc1234"
    assert call["policy_packs"] == [str(tmp_path / "policies")]
    assert call["policy_pack_configs"] == [str(tmp_path / "policies" / "config" / "dev.json")]
    assert call["show_secrets"] is False
    assert progress.engine_started and progress.changes, "events reached the callback"
    assert result.summary.result == "succeeded" and result.summary.message == "deploy: abc1234"


def test_up_without_a_policy_pack_runs_without(tmp_path: Path) -> None:
    fake = FakeAutoStack("dev", {})
    stack = PulumiStack(fake, work_dir=tmp_path, policy_dir=tmp_path / "absent")
    stack.up(message="deploy: abc1234")
    [(_, call)] = [c for c in fake.calls if c[0] == "up"]
    assert call["policy_packs"] is None and call["policy_pack_configs"] is None


def test_concurrent_update_mid_up_names_the_lock_holders(tmp_path: Path) -> None:
    fake, stack = make(tmp_path)
    fake.plans.append(UpPlan(
        raises=ConcurrentUpdateError(CommandResult(stdout="", stderr=LOCKED, code=255)),
        engine_runs=False,
    ))  # fmt: skip
    with pytest.raises(StackLockedError) as caught:
        stack.up(message="deploy: abc1234")
    text = str(caught.value)
    assert "runner@gh-42 (pid 311, since 2024-05-01T10:00:00+00:00)" in text
    assert "alice@laptop (pid 9" in text and "--cancel-stale" in text
    assert [h.pid for h in caught.value.holders] == [311, 9]
    assert caught.value.exit_code == 1


def test_command_error_mid_up_keeps_the_error_lines(tmp_path: Path) -> None:
    fake, stack = make(tmp_path)
    stderr = (
        "Updating (dev):\n  pulumi:pulumi:Stack deplight-dev running\n"
        "error: update failed\n  aws:ecs:Service (web-dev): error: waiting for ECS service: "
        "timeout while waiting for state to become 'tasksStable'"
    )
    fake.plans.append(UpPlan(raises=CommandError(CommandResult(stdout="", stderr=stderr,
                                                               code=255))))  # fmt: skip
    with pytest.raises(EngineError) as caught:
        stack.up(message="deploy: abc1234")
    assert "pulumi up failed: error: update failed" in str(caught.value)
    assert "tasksStable" in str(caught.value) and "Updating (dev)" not in str(caught.value)
    assert fake.entries[0].result == "failed", "the failed update is recorded in history"


def test_stack_not_found_is_bad_input(tmp_path: Path) -> None:
    class Missing(FakeAutoStack):
        def history(self, *a: object, **k: object) -> list:  # type: ignore[override]
            raise StackNotFoundError(CommandResult(
                stdout="", stderr="error: no stack named 'qa' found", code=255))  # fmt: skip

    stack = adapter(Missing("qa", {}), tmp_path)
    with pytest.raises(UnknownStackError, match=r"no stack named 'qa'.*pulumi stack init qa") as c:
        stack.history(page_size=10, page=1)
    assert c.value.exit_code == 2


def test_select_without_the_cli_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack_module.shutil, "which", lambda name: None)
    with pytest.raises(DeplightError, match="pulumi CLI is not on PATH"):
        PulumiStack.select("dev")


def test_history_is_paged_until_empty_without_secrets(tmp_path: Path) -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    entries = [summary(SHA["A"], message=f"deploy: {i:03d}", start=t0 + timedelta(minutes=i))
               for i in range(250)][::-1]  # fmt: skip
    fake, stack = make(tmp_path, entries=entries)
    got = fetch_history(stack, page_size=100)
    assert len(got) == 250
    pages = [c for c in fake.calls if c[0] == "history"]
    assert [c[1]["page"] for c in pages] == [1, 2, 3, 4], "stops at the first empty page"
    assert all(c[1]["page_size"] == 100 and c[1]["show_secrets"] is False for c in pages)
    assert len(build_log(got).updates) == 250


def test_outputs_are_plain_values(tmp_path: Path) -> None:
    _fake, stack = make(tmp_path, stack_outputs={"repository_name": "web-dev", "count": 3})
    assert stack.outputs() == {"repository_name": "web-dev", "count": 3}


def test_lock_holders_of_a_file_backend(tmp_path: Path) -> None:
    state = tmp_path / "state"
    _fake, stack = make(tmp_path, workspace=FakeWorkspace(f"file://{state}", "dev"))
    assert stack.lock_holders() == []
    write_lock(state, "dev", who="ci", host="runner-7", pid=4242)
    [holder] = stack.lock_holders()
    assert (holder.who, holder.pid) == ("ci@runner-7", 4242)
    assert holder.where.endswith("/.pulumi/locks/organization/deplight/dev/0b5e.json")
    stack.cancel()
    assert stack.lock_holders() == [], "cancel removes a self-managed backend's lock files"


def test_lock_holders_reported_by_pulumi_cloud(tmp_path: Path) -> None:
    ws = FakeWorkspace("https://api.pulumi.com", "dev", update_in_progress=True)
    _, stack = make(tmp_path, workspace=ws)
    [holder] = stack.lock_holders()
    assert "in progress" in holder.who


def test_lock_holders_of_an_s3_backend(aws_endpoint: str) -> None:
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=aws_endpoint)
    s3.create_bucket(Bucket="state")
    key = "team/.pulumi/locks/organization/deplight/prod/77.json"
    s3.put_object(Bucket="state", Key=key, Body=b'{"pid": 5, "username": "ci", '
                  b'"hostname": "gh", "timestamp": "2024-05-01T10:00:00.5Z"}')  # fmt: skip
    [holder] = read_s3_locks(s3, "s3://state/team?region=us-east-1", lock_dirs("prod", "deplight"))
    assert holder.describe() == f"ci@gh (pid 5, since 2024-05-01T10:00:00+00:00) [s3://state/{key}]"


def test_parse_lock_error_and_lock_dirs() -> None:
    assert [h.who for h in parse_lock_error(LOCKED)] == ["runner@gh-42", "alice@laptop"]
    assert parse_lock_error("error: [409] Conflict: Another update is currently in progress.") == []
    assert lock_dirs("prod", "deplight") == [
        ".pulumi/locks/organization/deplight/prod", ".pulumi/locks/prod"]  # fmt: skip
    assert lock_dirs("acme/deplight/prod", "deplight") == [".pulumi/locks/acme/deplight/prod"]


def test_preview_with_drift_raises_with_the_changes_seen(tmp_path: Path) -> None:
    _fake, stack = make(tmp_path, drift=True)
    progress = Progress("verify")
    with pytest.raises(EngineError, match="no changes were expected"):
        stack.preview(expect_no_changes=True, on_event=progress)
    assert progress.changes == ["update aws:ecs/service:Service web-service"]
    assert stack.preview().change_summary == {OpType.SAME: 42}


def test_the_adapter_passes_only_arguments_the_sdk_accepts(tmp_path: Path) -> None:
    """Guards the fake against drifting from ``pulumi.automation.Stack``'s real signatures."""
    fake, stack = make(tmp_path)
    stack.up(message="deploy: abc1234", on_event=Progress("t"))
    stack.preview(expect_no_changes=True, refresh=True)
    stack.refresh()
    stack.history(page_size=5, page=1)
    stack.set_config("deplight:schema_version", "3", path=True)
    stack.get_config("deplight:image_tag")
    stack.remove_config("deplight:schema_version")
    stack.cancel()
    for name, kwargs in fake.calls:
        if not hasattr(Stack, name):
            continue  # a CLI call of our own (config set --type)
        accepted = inspect.signature(getattr(Stack, name)).parameters
        assert set(kwargs) <= set(accepted), (name, set(kwargs) - set(accepted))
    up_call = next(kw for n, kw in fake.calls if n == "up")
    assert up_call["color"] == "never"


def test_file_backend_urls() -> None:
    assert file_backend_root("file:///var/state") == Path("/var/state")
    assert file_backend_root("file://~") == Path.home()
    assert file_backend_root("file://~/state?no_tmp_dir=true") == Path.home() / "state"


def test_a_cloud_lock_conflict_reads_without_the_cli_stream_names(tmp_path: Path) -> None:
    """Pulumi Cloud names no lock holder; the error quotes the CLI's line, not `stderr: ...`."""
    conflict = "error: [409] Conflict: Another update is currently in progress."
    fake, stack = make(tmp_path)
    fake.plans.append(UpPlan(
        raises=ConcurrentUpdateError(CommandResult(stdout="", stderr=conflict, code=255)),
        engine_runs=False,
    ))  # fmt: skip
    with pytest.raises(StackLockedError) as raised:
        stack.up(message="deploy: abc1234")
    assert f"stack dev is locked by {conflict}. Wait" in str(raised.value)
