"""The analysis cache: keyed by the hash of what the analysis read, in a local directory or the
stack's DynamoDB audit table (moto's server over HTTP)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from components.contract import AUDIT_HASH_KEY, AUDIT_RANGE_KEY
from deplight.analyze import engine
from deplight.analyze.cache import CACHE_PARTITION, CacheError, DynamoCache, LocalCache
from deplight.analyze.engine import analyze
from deplight.cli import main
from rollback.audit import DynamoAudit
from tests.test_analyze_rules import SERVICES
from tests.test_rollback_support import MotoWorld


@pytest.fixture
def service(tmp_path: Path) -> Path:
    path = tmp_path / "svc"
    shutil.copytree(SERVICES / "flask-gunicorn", path)
    (path / "README.md").write_text("Catalogue API\n")
    return path


def test_repeat_analysis_is_a_cache_hit_with_the_same_report(service: Path, tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "cache")
    cold = analyze(service, cache=cache)
    warm = analyze(service, cache=cache)
    assert (cold.cache_hit, warm.cache_hit) == (False, True)
    assert warm.cache_key == cold.cache_key
    assert warm.report.to_dict() == cold.report.to_dict()
    assert "Procfile" in cold.files_read and "README.md" not in cold.files_read
    assert warm.files_read == cold.files_read


@pytest.mark.parametrize("change", ["edit Procfile", "edit app.py", "delete .python-version",
                                    "add Dockerfile", "edit requirements.txt"])  # fmt: skip
def test_changing_anything_the_analysis_read_invalidates(change: str, service: Path,
                                                         tmp_path: Path) -> None:  # fmt: skip
    cache = LocalCache(tmp_path / "cache")
    first = analyze(service, cache=cache)
    action, name = change.split()
    if action == "edit":
        text = (service / name).read_text()
        (service / name).write_text(text.replace("5000", "5001") if name == "Procfile"
                                    else text + "\n")  # fmt: skip
    elif action == "delete":
        (service / name).unlink()
    else:
        (service / name).write_text("FROM python:3.12-slim\nEXPOSE 5000\n")
    second = analyze(service, cache=cache)
    assert not second.cache_hit and second.cache_key != first.cache_key
    if name == "Procfile":
        assert second.report.value("port") == 5001  # the new answer, not the cached one
    assert analyze(service, cache=cache).cache_hit  # and the new answer is cached


def test_a_file_the_analysis_did_not_read_does_not_invalidate(
    service: Path, tmp_path: Path
) -> None:
    cache = LocalCache(tmp_path / "cache")
    analyze(service, cache=cache)
    (service / "README.md").write_text("Catalogue API, now with prices\n")
    assert analyze(service, cache=cache).cache_hit


def test_rules_version_is_part_of_the_key(service: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    cache = LocalCache(tmp_path / "cache")
    analyze(service, cache=cache)
    monkeypatch.setattr(engine, "RULES_VERSION", "test-next")
    assert not analyze(service, cache=cache).cache_hit


def test_a_corrupt_entry_is_a_miss(service: Path, tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "cache")
    key = analyze(service, cache=cache).cache_key
    (tmp_path / "cache" / f"{key}.json").write_text("{not json")
    again = analyze(service, cache=cache)
    assert not again.cache_hit and again.report.value("port") == 5000
    assert json.loads((tmp_path / "cache" / f"{key}.json").read_text())["schema"] == 1


def test_cli_uses_the_xdg_cache_by_default(service: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    main(["analyze", str(service), "--json"])
    first = json.loads(capsys.readouterr().out)["cache"]
    main(["analyze", str(service), "--json"])
    second = json.loads(capsys.readouterr().out)["cache"]
    assert first["backend"] == f"directory {tmp_path / 'xdg' / 'deplight' / 'analyze'}"
    assert (first["hit"], second["hit"]) == (False, True)
    assert list((tmp_path / "xdg" / "deplight" / "analyze").glob("entry-*.json"))
    assert not (service / ".deplight-cache").exists()
    main(["analyze", str(service), "--json", "--no-cache"])
    assert json.loads(capsys.readouterr().out)["cache"] == {"backend": None, "hit": False,
                                                            "key": second["key"]}  # fmt: skip


def test_dynamodb_cache_in_the_audit_table(aws_endpoint: str, service: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    world = MotoWorld(aws_endpoint, "dev")  # the audit table, created as the program creates it
    args = ["analyze", str(service), "--json", "--cache-table", world.table]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert (first["cache"]["hit"], second["cache"]["hit"]) == (False, True)
    assert second["cache"]["backend"] == f"DynamoDB table {world.table}"
    assert second["report"] == first["report"]

    items = world.ddb.scan(TableName=world.table)["Items"]
    assert {i[AUDIT_HASH_KEY]["S"] for i in items} == {CACHE_PARTITION}
    assert {i[AUDIT_RANGE_KEY]["S"].split("-")[0] for i in items} == {"index", "entry"}
    # The release log of every stack stays clean: cache items live in their own partition.
    assert DynamoAudit(world.ddb, world.table, "dev").records() == []

    (service / "Procfile").write_text("web: gunicorn --bind 0.0.0.0:5002 app:app\n")
    assert main(args) == 0
    third = json.loads(capsys.readouterr().out)
    assert not third["cache"]["hit"]
    assert third["report"]["findings"]["port"]["value"] == 5002


def test_a_missing_table_is_bad_input(aws_endpoint: str, service: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main(["analyze", str(service), "--json", "--cache-table", "nope"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"] == "--cache-table nope: no such DynamoDB table" and doc["report"] is None


def test_dynamo_cache_errors_name_the_table(aws_endpoint: str) -> None:
    from tests.test_rollback_support import moto_client

    cache = DynamoCache(moto_client(aws_endpoint, "dynamodb"), "missing")
    with pytest.raises(CacheError, match="--cache-table missing: no such DynamoDB table"):
        cache.put("entry-x", {"a": 1})
