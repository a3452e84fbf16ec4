"""``deplight dashboard``'s back end over HTTP on 127.0.0.1 (no browser): the release API's routes
answered from a fake stack (the real adapter over SDK dataclasses) and moto, the rollback run in a
background thread, one rollback per request id, and the guards of a server without sign-in."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deplight.cli import build_parser
from deplight.dashboard import Backend, make_server
from tests.test_rollback_scenarios import A, B, Rig, two_releases


class Served:
    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.backend = Backend(rig.stack, rig.aws, options={"verify_timeout_s": 0}, env=rig.env)
        self.server = make_server(self.backend, 0)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:  # fmt: skip
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        data = json.dumps(body).encode() if body is not None else None
        sent = {"content-type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers={**sent, **(headers or {})})
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        ctype = resp.getheader("content-type") or ""
        return resp.status, json.loads(raw) if ctype.startswith("application/json") else raw

    def wait(self, request_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status, job = self.call("GET", f"/rollbacks/{request_id}")
            assert status == 200, job
            if job["status"] != "running":
                return job
            time.sleep(0.05)
        raise AssertionError(f"rollback {request_id} still running")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for job in self.backend.jobs.values():
            if job.thread:
                job.thread.join(timeout=10)


@pytest.fixture
def served(aws_endpoint: str, tmp_path: Path) -> Iterator[Served]:
    s = Served(Rig(aws_endpoint, tmp_path, history=two_releases(), image_tag=B))
    yield s
    s.close()


def body(**kw: Any) -> dict[str, Any]:
    return {"stack": "dev", "reason": "5xx after B", "request_id": "req-0001-abcdef", **kw}


def test_page_and_releases(served: Served) -> None:
    status, html = served.call("GET", "/")
    assert status == 200 and b'<script type="module" src="page.js">' in html
    status, doc = served.call("GET", "/releases?stack=dev")
    assert status == 200
    assert (doc["tier"], doc["current_tag"], doc["default_target"]) == ("development", B, A)
    assert [u["image_tag"] for u in doc["releases"]] == [B, A]
    status, doc = served.call("GET", "/deployment?stack=dev")
    assert status == 200 and doc["strategy"] == "rolling" and doc["in_progress"] is False
    assert doc["alarms"] == []


def test_releases_read_the_stack_history_once(served: Served) -> None:
    """The report and the default target come from the same read (a page of history is a call
    to the backend)."""
    from rollback.releases import fetch_history

    def pages() -> int:
        return [name for name, _ in served.rig.fake.calls].count("history")

    before = pages()
    fetch_history(served.backend.stack)
    one_read = pages() - before
    assert served.call("GET", "/releases?stack=dev")[0] == 200
    assert pages() - before - one_read == one_read


def test_wrong_or_missing_stack_and_unknown_route(served: Served) -> None:
    assert served.call("GET", "/releases?stack=prod") == (404, {
        "error": "stack: unknown stack 'prod'; this dashboard serves stack 'dev'"})  # fmt: skip
    status, doc = served.call("GET", "/deployment")
    assert status == 400 and doc["error"] == "stack: required (e.g. ?stack=dev)"
    status, doc = served.call("GET", "/nope")
    assert status == 404 and "no route 'GET /nope'" in doc["error"]
    for bad in ("/rollbacks/short", "/rollbacks/req-0001-abcdef/x", "/rollbacks/req%200001-abc"):
        assert served.call("GET", bad)[0] == 404, bad  # not a request id: no such route


def test_a_request_id_sent_twice_rolls_back_once(served: Served) -> None:
    status, first = served.call("POST", "/rollbacks", body())
    assert (
        status == 202 and first["duplicate"] is False and first["request_id"] == "req-0001-abcdef"
    )
    status, again = served.call("POST", "/rollbacks", body())
    assert status == 202 and again["duplicate"] is True
    job = served.wait("req-0001-abcdef")
    assert job["status"] == "succeeded", job
    assert served.rig.tag == A and served.backend.rollbacks_started == 1
    assert len(served.rig.ups()) == 1
    [record] = served.rig.world.audit()
    assert record["request_id"] == "req-0001-abcdef"
    status, doc = served.call("POST", "/rollbacks", body(reason="other"))
    assert status == 409 and "already used for a different request" in doc["error"]


def test_bad_bodies_are_refused_before_anything_runs(served: Served) -> None:
    status, doc = served.call("POST", "/rollbacks", {"stack": "dev", "to": "XYZ", "extra": 1})
    assert status == 400
    assert doc["problems"] == [
        "unknown field(s) extra (expected stack, to, reason, confirm, request_id)",
        "request_id: required", "reason: required",
        "to: expected a git commit SHA of 7-40 lowercase hex characters, found 'XYZ'",
    ]  # fmt: skip
    status, doc = served.call("POST", "/rollbacks", body(confirm="yes"))
    assert (status, doc["error"]) == (
        400,
        "confirm: expected 'ROLLBACK-PROD' or nothing, found 'yes'",
    )
    served.rig.fake.config["deplight:tier"] = "production"
    status, doc = served.call("POST", "/rollbacks", body(confirm="rollback-prod"))
    assert status == 400 and doc["error"] == (
        "confirm: production stack dev needs exactly 'ROLLBACK-PROD', found 'rollback-prod'"
    )
    assert served.backend.rollbacks_started == 0 and served.rig.ups() == []


def test_a_refused_rollback_reports_its_checks(served: Served) -> None:
    status, _ = served.call("POST", "/rollbacks", body(to="0123456789abcdef"))
    assert status == 202
    job = served.wait("req-0001-abcdef")
    assert job["status"] == "refused" and "0123456789abcdef" in job["summary"]
    assert served.rig.tag == B and served.rig.ups() == []


def test_only_local_hosts_and_same_origin_posts(served: Served) -> None:
    status, doc = served.call("GET", "/releases?stack=dev", headers={"host": "evil.example:80"})
    assert status == 403 and "Host 'evil.example:80'" in doc["error"]
    status, doc = served.call("POST", "/rollbacks", body(),
                              headers={"origin": "https://evil.example"})  # fmt: skip
    assert status == 403 and "Origin 'https://evil.example'" in doc["error"]
    status, doc = served.call("POST", "/rollbacks", None, headers={"content-type": "text/plain"})
    assert status == 415
    assert served.backend.rollbacks_started == 0


def test_the_subcommand_is_registered() -> None:
    args = build_parser().parse_args(["dashboard", "--stack", "dev", "--port", "0"])
    assert (args.command, args.stack, args.port) == ("dashboard", "dev", 0)
    assert build_parser().parse_args(["dashboard", "--stack", "dev"]).port == 8400


def test_the_wheel_carries_every_file_of_the_page() -> None:
    """Each file under deplight/page/ matches a package-data glob (the wheel's build reads them;
    tests/test_package.py builds and installs the wheel)."""
    import fnmatch
    import tomllib

    root = Path(__file__).parent.parent
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["deplight"]  # fmt: skip
    files = sorted(p.relative_to(root / "deplight").as_posix()
                   for p in (root / "deplight" / "page").iterdir())  # fmt: skip
    assert files == ["page/index.html", "page/page.css", "page/page.js"]
    assert all(any(fnmatch.fnmatch(f, g) for g in globs) for f in files)


def test_an_unknown_stack_is_bad_input_before_anything_listens(capsys: pytest.CaptureFixture[str]
                                                               ) -> None:  # fmt: skip
    from deplight.cli import main

    assert main(["dashboard", "--stack", "nosuch", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "deplight dashboard: --stack nosuch: no stack named 'nosuch'" in err
