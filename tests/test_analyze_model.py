"""`deplight analyze --model bedrock:<id>`: Bedrock is asked only about what the rules left
undecided, every answer field is validated, and the rules win where both speak. A fake Bedrock
Runtime on 127.0.0.1 stands in for AWS (tests/fake_bedrock.py says why not moto)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from deplight.analyze.cache import LocalCache
from deplight.analyze.engine import ModelError, analyze
from deplight.analyze.model import TOOL_NAME, BedrockAssist, parse_model_spec, tool_input
from deplight.cli import main
from tests.fake_bedrock import FakeBedrock
from tests.test_analyze_rules import SERVICES, write

MODEL_ID = "anthropic.claude-3-5-sonnet-20240620-v1:0"
FLASK_WITHOUT_HEALTH = {
    "requirements.txt": "Flask==3.0.3\ngunicorn==22.0.0\n",
    ".python-version": "3.12\n",
    "app.py": 'from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.route("/")\n'
              "def index():\n    return 'ok'\n",
}  # fmt: skip


@pytest.fixture
def bedrock() -> Iterator[FakeBedrock]:
    with FakeBedrock() as fake:
        yield fake


def assist(fake: FakeBedrock) -> BedrockAssist:
    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=fake.url)
    return BedrockAssist(MODEL_ID, client)


def item(value: object, file: str, line: int | None, reason: str = "seen in the file") -> dict:
    return {"value": value, "reason": reason, "evidence": [{"file": file, "line": line}]}


def test_asks_only_what_the_rules_left_undecided_and_rules_win(bedrock: FakeBedrock,
                                                               tmp_path: Path) -> None:  # fmt: skip
    service = write(tmp_path, FLASK_WITHOUT_HEALTH)
    bedrock.answer({
        "health_check_path": item("/", "app.py", 6, "the index route answers 200"),
        "port": item(9999, "app.py", 3),  # decided by the rules: must be ignored
    })  # fmt: skip
    report = analyze(service, model=assist(bedrock)).report

    (request,) = bedrock.requests
    assert request["path"] == f"/model/{MODEL_ID}/converse"
    assert "AWS4-HMAC-SHA256" in request["authorization"]  # signed like the real service
    body = request["body"]
    schema = body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]
    assert schema["required"] == ["health_check_path"]
    assert list(schema["properties"]) == ["health_check_path"]
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": TOOL_NAME}}
    prompt = body["messages"][0]["content"][0]["text"]
    assert '"port": 8000' in prompt and "--- app.py (numbered lines)" in prompt
    assert '6: @app.route("/")' in prompt

    health = report["health_check_path"]
    assert (health.value, health.source) == ("/", "model")
    assert health.reason == "model: the index route answers 200"
    assert health.evidence[0].text == '@app.route("/")'  # the file's line, not the model's words
    assert (report.value("port"), report["port"].source) == (8000, "rules")
    assert "model answer for port ignored: the rules decided it" in report.notes


def test_every_field_is_validated(bedrock: FakeBedrock, tmp_path: Path) -> None:
    service = tmp_path / "svc"
    shutil.copytree(SERVICES / "unknown", service)
    bedrock.answer({
        "language": item("cobol", "README.md", 1),
        "version": item("5.1", "README.md", 1, "the README names the shell"),
        "port": item(70000, "rotate.sh", 1),
        "health_check_path": item("/health", "server.py", 3),
        "start": item(["./rotate.sh"], "rotate.sh", 99),
        "resources": {"value": {"cpu": 256, "memory": 4096}, "reason": "small", "evidence": []},
        "build": {"value": "make install", "reason": "Makefile", "evidence": []},
        "framework": item("gin", "README.md", 1),
    })  # fmt: skip
    report = analyze(service, model=assist(bedrock)).report
    rejected = dict(n.removeprefix("model answer for ").split(" rejected: ", 1)
                    for n in report.notes if " rejected: " in n)  # fmt: skip
    assert "expected one of python, node" in rejected["language"]
    assert "a port in 1-65535" in rejected["port"]
    assert "evidence file 'server.py' is not in the checkout" in rejected["health_check_path"]
    assert "evidence line 99 is not a line of rotate.sh (1-3)" in rejected["start"]
    assert "a cpu/memory pair Fargate accepts" in rejected["resources"]
    assert rejected["build"] == "no evidence"
    assert "no language is known" in rejected["framework"]
    assert (report.value("version"), report["version"].source) == ("5.1", "model")
    assert report.undecided == [f for f in report.undecided if f != "version"]


def test_framework_must_belong_to_the_language(bedrock: FakeBedrock, tmp_path: Path) -> None:
    service = write(tmp_path, {"requirements.txt": "requests==2.32.3\n",
                               "serve.py": "import http.server\n"})  # fmt: skip
    bedrock.answer({"framework": item("gin", "serve.py", 1),
                    "port": item(8000, "serve.py", 1)})  # fmt: skip
    report = analyze(service, model=assist(bedrock)).report
    assert report.value("framework") is None
    assert any("framework rejected: expected a python framework (flask, fastapi, django)" in n
               for n in report.notes), report.notes  # fmt: skip
    assert (report.value("port"), report["port"].source) == (8000, "model")


def test_nothing_undecided_means_no_call(bedrock: FakeBedrock) -> None:
    report = analyze(SERVICES / "flask-gunicorn", model=assist(bedrock)).report
    assert bedrock.requests == [] and report.undecided == []


def test_a_model_answer_is_cached_and_a_failure_is_not(
    bedrock: FakeBedrock, tmp_path: Path
) -> None:
    service = write(tmp_path / "svc", FLASK_WITHOUT_HEALTH)
    cache = LocalCache(tmp_path / "cache")
    bedrock.fail(400, "ValidationException", "This model doesn't support the toolChoice field.")
    failed = analyze(service, cache=cache, model=assist(bedrock))
    assert failed.model_error and "ValidationException" in failed.model_error
    assert not (tmp_path / "cache").exists()  # nothing cached: the next run asks again
    bedrock.answer({"health_check_path": item("/", "app.py", 6)})
    first = analyze(service, cache=cache, model=assist(bedrock))
    again = analyze(service, cache=cache, model=assist(bedrock))
    assert (first.cache_hit, again.cache_hit) == (False, True)
    assert len(bedrock.requests) == 2  # the cached answer did not ask Bedrock again
    assert again.report.to_dict() == first.report.to_dict()
    without_model = analyze(service, cache=cache)
    assert not without_model.cache_hit  # the model id is part of the key


def test_an_answer_without_the_tool_call_fails() -> None:
    with pytest.raises(ModelError, match="did not call report_service_facts"):
        tool_input({"output": {"message": {"content": [{"text": "port 80"}]}},
                    "stopReason": "end_turn"})  # fmt: skip


@pytest.mark.parametrize(("spec", "message"), [
    ("gpt-4", "expected bedrock:<model-id>, found 'gpt-4'"),
    ("bedrock:", "'' is not a Bedrock model id"),
    ("bedrock:has space", "'has space' is not a Bedrock model id"),
])  # fmt: skip
def test_model_spec_is_checked(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape("--model: " + message)):
        parse_model_spec(spec)
    assert parse_model_spec(f"bedrock:{MODEL_ID}") == MODEL_ID


def test_cli_with_model_points_boto3_at_the_endpoint(
    bedrock: FakeBedrock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    service = write(tmp_path / "svc", FLASK_WITHOUT_HEALTH)
    monkeypatch.delenv("DEPLIGHT_AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", bedrock.url)
    bedrock.answer({"health_check_path": item("/", "app.py", 6)})
    code = main(["analyze", str(service), "--json", "--no-cache", "--model", f"bedrock:{MODEL_ID}"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    assert doc["report"]["findings"]["health_check_path"]["source"] == "model"
    assert "health_check_path: /" in doc["settings_block"]

    bedrock.fail(403, "AccessDeniedException", "You don't have access to the model.")
    code = main(["analyze", str(service), "--json", "--no-cache", "--model", f"bedrock:{MODEL_ID}"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and "AccessDeniedException" in doc["error"] and doc["report"] is not None


def test_cli_rejects_a_bad_model_spec_and_a_missing_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(tmp_path), "--json", "--model", "openai:gpt"]) == 2
    assert "expected bedrock:<model-id>" in json.loads(capsys.readouterr().out)["error"]
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert main(["analyze", str(tmp_path), "--json", "--model", f"bedrock:{MODEL_ID}"]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == (
        "--model: no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)"
    )
