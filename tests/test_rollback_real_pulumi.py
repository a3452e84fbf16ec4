"""The adapter against the real ``pulumi`` CLI: a tiny resource-free project named ``deplight`` on
a local file backend (``PULUMI_CONFIG_PASSPHRASE``), so no cloud and no provider plugin is needed.

Checks what the fakes assume: ``--type int`` config, ``--path`` objects (and top-level ``--path``
values staying strings), object config as a JSON string in history, paging (the CLI's default page
of 10, pages until an empty one), ``version`` 0 on a self-managed backend, the lock error of
two concurrent ``up`` runs, lock files and ``cancel``. Skipped where the CLI is not installed; the PR
workflow installs it, so they run there.
"""

from __future__ import annotations

import inspect
import json
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

needs_cli = pytest.mark.skipif(
    shutil.which("pulumi") is None,
    reason="needs the pulumi CLI on PATH (real `up` against a local file backend)",
)

HOLD_ENV = "DEPLIGHT_TEST_HOLD_UNTIL"
PROGRAM = f"""\
import os
import time

import pulumi

# A test that needs an update to hold the stack's lock names a file here; the program waits
# (at most 120 s) until the file exists.
hold = os.environ.get("{HOLD_ENV}")
deadline = time.monotonic() + 120
while hold and not os.path.exists(hold) and time.monotonic() < deadline:
    time.sleep(0.1)

config = pulumi.Config()
pulumi.export("image_tag", config.get("image_tag"))
pulumi.export("schema_version", config.get_int("schema_version"))
"""


def test_the_sdk_still_has_no_typed_config_setter() -> None:
    """Why ``PulumiStack.set_int_config`` calls ``pulumi config set --type int`` itself: the SDK's
    ``set_config`` takes a ``ConfigValue`` (a string and a secret flag) and ``path`` only, so a
    number set through it is stored as ``"12"``. When the SDK gains a type, this fails: use it."""
    assert list(inspect.signature(auto.Stack.set_config).parameters) == ["self", "key", "value",
                                                                          "path"]  # fmt: skip
    assert list(inspect.signature(auto.Stack.set_all_config).parameters) == ["self", "config",
                                                                              "path"]  # fmt: skip
    assert list(inspect.signature(auto.ConfigValue.__init__).parameters) == ["self", "value",
                                                                              "secret"]  # fmt: skip


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    proj, state = tmp_path / "proj", tmp_path / "state"
    proj.mkdir()
    state.mkdir()
    (proj / "Pulumi.yaml").write_text(
        f"name: deplight\nruntime:\n  name: python\n  options:\n    virtualenv: {sys.prefix}\n"
    )
    (proj / "__main__.py").write_text(PROGRAM)
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{state}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test-only-passphrase")
    monkeypatch.setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
    auto.create_stack("dev", work_dir=str(proj))
    return proj, state


@needs_cli
def test_real_config_up_and_history(project: tuple[Path, Path]) -> None:
    from rollback.releases import Kind, build_log, fetch_history
    from rollback.stack import PulumiStack

    proj, _ = project
    stack = PulumiStack.select("dev", work_dir=proj)
    assert stack.get_config("deplight:image_tag") is None
    for tag, kind in (("3f2a9c1", "deploy"), ("4b5c6d7", "deploy"), ("3f2a9c1", "rollback")):
        stack.set_config("deplight:image_tag", tag)
        stack.set_int_config("deplight:schema_version", 12)
        stack.set_config("deplight:release.kind", kind, path=True)
        message = f"deploy: {tag}" if kind == "deploy" else f"rollback: 4b5c6d7 -> {tag} (test)"
        result = stack.up(message=message)
        assert result.summary.result == "succeeded"
        assert stack.outputs()["image_tag"] == tag

    stack_file = yaml.safe_load((proj / "Pulumi.dev.yaml").read_text())["config"]
    assert stack_file["deplight:schema_version"] == 12, "--type int stores an integer, not '12'"
    assert stack_file["deplight:image_tag"] == "3f2a9c1"
    assert stack_file["deplight:release"] == {"kind": "rollback"}
    assert stack.get_config("deplight:release.kind", path=True) == "rollback"

    log = build_log(fetch_history(stack, page_size=2))
    assert [u.kind for u in log.updates] == [Kind.ROLLBACK, Kind.DEPLOY, Kind.DEPLOY]
    assert [u.tag for u in log.known_good] == ["3f2a9c1", "4b5c6d7"]
    assert all(u.schema_version == 12 for u in log.updates)
    assert len({u.id for u in log.updates}) == 3
    assert stack.preview(expect_no_changes=True) is not None


@needs_cli
def test_real_lock_is_reported_and_cancelled(project: tuple[Path, Path]) -> None:
    from rollback.errors import StackLockedError
    from rollback.stack import PulumiStack
    from tests.test_rollback_support import write_lock

    proj, state = project
    stack = PulumiStack.select("dev", work_dir=proj)
    stack.set_config("deplight:image_tag", "3f2a9c1")
    write_lock(state, "dev", who="ci", host="runner-7", pid=4242)
    [holder] = stack.lock_holders()
    assert holder.who == "ci@runner-7" and holder.pid == 4242
    with pytest.raises(StackLockedError, match=r"ci@runner-7 \(pid 4242"):
        stack.up(message="deploy: 3f2a9c1")
    stack.cancel()
    assert stack.lock_holders() == []
    assert stack.up(message="deploy: 3f2a9c1").summary.result == "succeeded"


@needs_cli
def test_real_typed_and_path_config(project: tuple[Path, Path]) -> None:
    from rollback.stack import PulumiStack

    proj, _ = project
    stack = PulumiStack.select("dev", work_dir=proj)

    def stored() -> dict:
        return yaml.safe_load((proj / "Pulumi.dev.yaml").read_text())["config"]

    stack.set_config("deplight:schema_version", "12", path=True)
    assert stored()["deplight:schema_version"] == "12", "a top-level --path value stays a string"
    stack.set_int_config("deplight:schema_version", 13)
    assert stored()["deplight:schema_version"] == 13, "--type int stores an integer"
    assert stack.get_config("deplight:schema_version") == "13"
    stack.set_config("deplight:image_tag", "3f2a9c1")
    stack.set_config("deplight:service.cpu", "512", path=True)
    assert stored()["deplight:schema_version"] == 13, "other writes keep the integer"
    assert stored()["deplight:service"] == {"cpu": 512}, "nested --path values are typed"
    result = stack.up(message="deploy: 3f2a9c1")
    assert result.summary.result == "succeeded"
    assert stack.outputs()["schema_version"] == 13, "the program reads it with get_int"


@needs_cli
def test_real_history_pages_newest_first_until_an_empty_page(project: tuple[Path, Path]) -> None:
    from rollback.releases import build_log, fetch_history
    from rollback.stack import PulumiStack

    proj, _ = project
    stack = PulumiStack.select("dev", work_dir=proj)
    stack.set_config("deplight:image_tag", "3f2a9c1")
    assert stack.up(message="deploy: 3f2a9c1").summary.result == "succeeded"
    raw = auto.select_stack(stack_name="dev", work_dir=str(proj))
    for n in range(1, 11):  # refreshes are recorded too, and are quicker than ups
        raw.refresh(message=f"refresh {n}", color="never")
    newest_first = [f"refresh {n}" for n in range(10, 0, -1)] + ["deploy: 3f2a9c1"]

    assert len(raw.history()) == 10, "without page_size the CLI returns its default page only"
    pages = [stack.history(page_size=4, page=p) for p in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [4, 4, 3, 0]
    assert [s.message for p in pages for s in p] == newest_first

    entries = fetch_history(stack, page_size=4)
    assert [s.message for s in entries] == newest_first
    assert {s.version for s in entries} == {0}, "self-managed backends do not number updates"
    assert [s.kind for s in entries] == ["refresh"] * 10 + ["update"]
    log = build_log(entries)
    assert [u.tag for u in log.known_good] == ["3f2a9c1"], "refreshes are not releases"


@needs_cli
def test_real_concurrent_up_reports_the_lock_holder(project: tuple[Path, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from rollback.errors import StackLockedError
    from rollback.stack import PulumiStack

    proj, state = project
    stack = PulumiStack.select("dev", work_dir=proj)
    stack.set_config("deplight:image_tag", "3f2a9c1")
    release = tmp_path / "release-the-first-up"
    monkeypatch.setenv(HOLD_ENV, str(release))
    first: dict[str, object] = {}

    def hold_the_lock() -> None:
        try:
            first["result"] = stack.up(message="deploy: 3f2a9c1").summary.result
        except Exception as exc:  # reported by the assertion below
            first["error"] = exc

    runner = threading.Thread(target=hold_the_lock, daemon=True)
    runner.start()
    locks = state / ".pulumi" / "locks" / "organization" / "deplight" / "dev"
    deadline = time.monotonic() + 60
    while not list(locks.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        lock_files = list(locks.glob("*.json"))
        assert len(lock_files) == 1, f"the first up should hold one lock in {locks}: {first}"
        [lock_file] = lock_files
        content = json.loads(lock_file.read_text())
        [holder] = stack.lock_holders()
        with pytest.raises(StackLockedError) as raised:
            stack.up(message="deploy: 4b5c6d7")
    finally:
        release.touch()
        runner.join(timeout=120)

    [reported] = raised.value.holders
    who = f"{content['username']}@{content['hostname']}"
    relative = str(lock_file.relative_to(state))
    for h in (holder, reported):
        assert (h.who, h.pid) == (who, content["pid"]), h
        assert h.where.endswith(relative), h
        assert h.since is not None
    assert reported.since == holder.since.replace(microsecond=0), "the error shows seconds only"
    assert f"{who} (pid {content['pid']}" in str(raised.value)
    assert first == {"result": "succeeded"}, first
    assert stack.lock_holders() == [], "a finished update releases its lock"
