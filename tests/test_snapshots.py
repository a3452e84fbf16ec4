"""The snapshot helper: a missing snapshot fails instead of being written, except on request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import snapshots
from tests.snapshots import UPDATE_ENV, assert_snapshot

VALUE = {"b": [1, 2], "a": "x"}


@pytest.fixture
def snapshot_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(snapshots, "SNAPSHOTS", tmp_path)
    monkeypatch.delenv(UPDATE_ENV, raising=False)
    monkeypatch.delenv("CI", raising=False)
    return tmp_path


@pytest.mark.parametrize("ci", ["true", "1", None])
def test_a_missing_snapshot_fails_and_is_not_written(snapshot_dir: Path, ci: str | None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    if ci is not None:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(AssertionError, match=rf"snapshot doc\.json is missing .*{UPDATE_ENV}=1"):
        assert_snapshot("doc", VALUE)
    assert not (snapshot_dir / "doc.json").exists()


def test_update_on_request_writes_then_compares(snapshot_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv(UPDATE_ENV, "1")
    assert_snapshot("doc", VALUE)
    assert json.loads((snapshot_dir / "doc.json").read_text()) == VALUE
    monkeypatch.delenv(UPDATE_ENV)
    assert_snapshot("doc", VALUE)
    with pytest.raises(AssertionError, match=r"doc\.json differs"):
        assert_snapshot("doc", {**VALUE, "a": "y"})


@pytest.mark.parametrize("existing", [True, False])
def test_update_is_refused_under_ci(snapshot_dir: Path, existing: bool,
                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    stored = snapshot_dir / "doc.json"
    if existing:
        stored.write_text(json.dumps({"old": True}))
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv(UPDATE_ENV, "1")
    with pytest.raises(AssertionError, match=rf"{UPDATE_ENV}=1 is refused under CI"):
        assert_snapshot("doc", VALUE)
    assert stored.exists() == existing
    if existing:
        assert json.loads(stored.read_text()) == {"old": True}


@pytest.mark.parametrize("ci", ["false", "0", ""])
def test_ci_set_to_false_is_local(snapshot_dir: Path, ci: str,
                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv(UPDATE_ENV, "1")
    assert_snapshot("doc", VALUE)
    assert (snapshot_dir / "doc.json").exists()


def test_a_differing_snapshot_fails_with_the_way_to_regenerate(snapshot_dir: Path) -> None:
    (snapshot_dir / "doc.json").write_text(json.dumps({**VALUE, "a": "old"}))
    with pytest.raises(AssertionError, match=rf"doc\.json differs .*{UPDATE_ENV}=1"):
        assert_snapshot("doc", VALUE)
