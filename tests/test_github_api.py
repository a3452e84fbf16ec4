"""GitHub deployments and the in-place PR comment, against a local stand-in for the GitHub API:
the calls GitHub documents, retries that are bounded, and a dead API that never fails the step."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from deplight import github
from rollback.notify import DeliveryError, Policy

REPO = "example-org/example-service"
FAST = Policy(attempts=3, timeout_s=2.0, backoff_s=0.01, deadline_s=10.0)


class FakeGitHub:
    """Deployments and issue comments of one repository, in memory."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.fail: list[int] = []  # statuses to answer next, before behaving
        self.deployments: dict[int, dict[str, Any]] = {}
        self.statuses: dict[int, list[dict[str, Any]]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((self.command, self.path, body))
                assert self.headers["Authorization"] == "Bearer t0ken"
                if fake.fail:
                    self._answer(fake.fail.pop(0), {"message": "Server Error"})
                    return
                self._answer(*fake.route(self.command, self.path, body))

            do_GET = do_POST = do_PATCH = _handle  # noqa: N815 - http.server's names

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        base = f"/repos/{REPO}"
        path, _, query = path.partition("?")
        if not path.startswith(base):
            return 404, {"message": "Not Found"}
        path = path[len(base) :]
        if method == "POST" and path == "/deployments":
            dep_id = len(self.deployments) + 1
            self.deployments[dep_id] = body
            return 201, {"id": dep_id}
        if m := re.fullmatch(r"/deployments/(\d+)/statuses", path):
            if int(m[1]) not in self.deployments:
                return 404, {"message": "Not Found"}
            self.statuses.setdefault(int(m[1]), []).append(body)
            return 201, {"id": 1, "state": body["state"]}
        if m := re.fullmatch(r"/issues/(\d+)/comments", path):
            if method == "GET":
                page = int(dict(p.split("=") for p in query.split("&"))["page"])
                items = sorted(self.comments.items())[(page - 1) * 100 : page * 100]
                return 200, [{"id": cid, **c} for cid, c in items]
            cid = len(self.comments) + 1
            self.comments[cid] = {"body": body["body"], "pr": int(m[1]),
                                  "html_url": f"https://github.com/{REPO}/pull/{m[1]}#c{cid}"}  # fmt: skip
            return 201, {"id": cid, **self.comments[cid]}
        if method == "PATCH" and (m := re.fullmatch(r"/issues/comments/(\d+)", path)):
            self.comments[int(m[1])]["body"] = body["body"]
            return 200, {"id": int(m[1]), **self.comments[int(m[1])]}
        return 404, {"message": "Not Found"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    monkeypatch.setattr(github, "_client", lambda: github.GitHub("t0ken", REPO, fake.url, FAST))
    yield fake
    fake.close()


def test_a_deployment_goes_in_progress_then_success(api: FakeGitHub, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    out = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert github.main(["deployment-start", "--environment", "prod", "--ref", "3f2a9c1",
                        "--description", "deploy 3f2a9c1", "--production", "--log-url",
                        "https://github.com/x/actions/runs/1", "--github-output"]) == 0  # fmt: skip
    assert out.read_text() == "deployment_id=1\n"
    assert api.deployments[1] == {
        "ref": "3f2a9c1", "environment": "prod", "description": "deploy 3f2a9c1",
        "auto_merge": False, "required_contexts": [], "production_environment": True,
        "transient_environment": False,
    }  # fmt: skip
    assert github.main(["deployment-status", "--id", "1", "--state", "success",
                        "--environment-url", "https://web-prod.example.com",
                        "--description", "deploy 3f2a9c1 succeeded"]) == 0  # fmt: skip
    assert [s["state"] for s in api.statuses[1]] == ["in_progress", "success"]
    assert api.statuses[1][1]["environment_url"] == "https://web-prod.example.com"
    assert api.statuses[1][1]["auto_inactive"] is True


def test_server_errors_are_retried(api: FakeGitHub) -> None:
    api.fail = [502, 503]
    gh = github.GitHub("t0ken", REPO, api.url, FAST)
    assert gh.create_deployment(ref="abc1234", environment="dev", description="d",
                                production=False) == 1  # fmt: skip
    assert len(api.requests) == 3


def test_a_dead_api_warns_and_exits_0(api: FakeGitHub, capsys: pytest.CaptureFixture[str]) -> None:
    api.fail = [500] * 10
    assert github.main(["deployment-start", "--environment", "prod", "--ref", "3f2a9c1"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("::warning title=deplight github::deployment-start: after 3 attempt(s)")
    assert len(api.requests) == 3  # bounded


def test_a_client_error_is_not_retried(api: FakeGitHub) -> None:
    gh = github.GitHub("t0ken", REPO, api.url, FAST)
    with pytest.raises(DeliveryError, match=r"HTTP 404.*not retried"):
        gh.set_status(99, state="failure", description="x")
    assert len(api.requests) == 1


def test_unreachable_api_is_a_warning(capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    dead = FakeGitHub()
    url = dead.url
    dead.close()
    monkeypatch.setattr(github, "_client", lambda: github.GitHub(
        "t0ken", REPO, url, Policy(attempts=2, timeout_s=1.0, backoff_s=0.01)))  # fmt: skip
    assert github.main(["deployment-status", "--id", "1", "--state", "failure"]) == 0
    assert "unreachable" in capsys.readouterr().err


def test_missing_token_is_a_clear_warning(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    assert github.main(["deployment-status", "--id", "1", "--state", "failure"]) == 0
    assert "GITHUB_TOKEN: expected a token, found nothing" in capsys.readouterr().err


def test_the_pr_comment_is_edited_in_place(api: FakeGitHub, tmp_path: Path) -> None:
    gh = github.GitHub("t0ken", REPO, api.url, FAST)
    for i in range(120):  # other people's comments, over more than one page
        api.comments[i + 1] = {"body": f"comment {i}", "pr": 7, "html_url": ""}
    first = gh.upsert_comment(7, "deplight-check", "check: 0 violations")
    assert first.endswith("#c121")
    body = tmp_path / "body.md"
    body.write_text("check: 2 violations")
    assert github.main(["pr-comment", "--pr", "7", "--marker", "deplight-check",
                        "--body-file", str(body)]) == 0  # fmt: skip
    ours = [c for c in api.comments.values() if "deplight-check" in c["body"]]
    assert [c["body"] for c in ours] == ["<!-- deplight-check -->\ncheck: 2 violations"]
    assert len(api.comments) == 121  # edited, not posted again
