"""The adapter against the real ``pulumi`` CLI: a tiny resource-free project named ``deplight`` on
a local file backend (``PULUMI_CONFIG_PASSPHRASE``), so no cloud and no provider plugin is needed.

Checks what the fakes assume: ``--type int`` config, ``--path`` objects, object config as a JSON
string in history, paging, ``version`` on a self-managed backend, lock files and ``cancel``.
Skipped where the CLI is not installed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.skipif(
    shutil.which("pulumi") is None,
    reason="needs the pulumi CLI on PATH (real `up` against a local file backend)",
)

PROGRAM = """\
import pulumi

config = pulumi.Config()
pulumi.export("image_tag", config.get("image_tag"))
pulumi.export("schema_version", config.get_int("schema_version"))
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    from pulumi import automation as auto

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
