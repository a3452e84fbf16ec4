"""``deplight dashboard``: the release page, served on 127.0.0.1 with a local back end.

The page (``deplight/page/``: HTML, CSS, one JavaScript module) talks to the routes of the release
API (:mod:`release_api.handler`); here they are answered from the stack on this machine:

- ``GET /releases?stack=S``: :func:`rollback.commands.read_releases` (the stack's update history
  through the Automation API seam, joined with the audit table), with the tier, the current
  release and the target a rollback would pick (:func:`rollback.checks.choose_target`).
- ``GET /deployment?stack=S``: the deployment in progress and the rollback alarms, read with the
  release API's own functions (:mod:`release_api.deployment`) from the stack's outputs.
- ``POST /rollbacks`` with ``{stack, to?, reason, confirm?, request_id}`` (validated as the release
  API does): runs :func:`rollback.commands.rollback` in a background thread and answers 202;
  ``GET /rollbacks/<request_id>`` follows it to its outcome. The same ``request_id`` twice starts
  one rollback; one rollback at a time.

No sign-in: the server binds to 127.0.0.1 only, refuses a ``Host`` other than 127.0.0.1 or
localhost (DNS rebinding) and a cross-origin ``Origin`` on POST.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from components.contract import (
    CLUSTER_NAME,
    CODEDEPLOY_APPLICATION,
    CODEDEPLOY_GROUP,
    CONFIRM_PROD,
    DEPLOY_STRATEGY,
    EXIT_FAILED,
    EXIT_OK,
    ROLLBACK_ALARM_NAMES,
    SERVICE_NAME,
    TIER_KEY,
    Strategy,
    Tier,
)
from deplight.cli_common import add_project_dir_argument
from release_api import deployment as reads
from release_api.handler import (
    MAX_BODY_BYTES,
    REQUEST_ID_RE,
    ApiError,
    parse_body,
    parse_rollback,
)
from release_api.site import PAGE_FILES
from rollback.checks import choose_target, tier_of
from rollback.commands import (
    Env,
    RollbackOptions,
    read_release_config,
    read_releases,
    rollback,
)
from rollback.errors import DeplightError
from rollback.port import StackPort

log = logging.getLogger("deplight.dashboard")

PAGE_DIR = Path(__file__).parent / "page"
STATIC = {"/": ("index.html", PAGE_FILES["index.html"])} | {
    f"/{name}": (name, content_type) for name, content_type in PAGE_FILES.items()
}
"""The same files, with the same content types, as the release API serves (release_api.site)."""
LOCAL_HOSTS = ("127.0.0.1", "localhost")
DEFAULT_PORT = 8400
OUTPUTS_TTL_S = 30.0
JOB_ROUTE = re.compile(r"^/rollbacks/([^/]+)$")
"""``GET /rollbacks/<request_id>``; the id must also be a valid request id (``REQUEST_ID_RE``)."""


@dataclass
class Job:
    """One rollback requested through the page."""

    request_id: str
    fingerprint: str
    to: str | None
    reason: str
    started: float
    status: str = "running"
    """``running``, then the rollback's status (``succeeded``, ``failed``, ``refused``,
    ``nothing-to-do``) or ``error`` when it raised."""
    summary: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    ended: float | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    def view(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "status": self.status, "to": self.to,
                "reason": self.reason, "summary": self.summary, "error": self.error,
                "result": self.result, "started": self.started, "ended": self.ended}  # fmt: skip


class Backend:
    """The release API's routes for one stack on this machine.

    ``stack`` is the Automation API seam (a fake in tests), ``aws`` the boto3 clients (moto in
    tests); ``options`` are extra :class:`RollbackOptions` fields (e.g. ``verify_timeout_s``) and
    ``env`` the rollback's time source.
    """

    def __init__(self, stack: StackPort, aws: Any, *, options: Mapping[str, Any] | None = None,
                 env: Env | None = None, clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.stack, self.aws = stack, aws
        self.options = dict(options or {})
        self.env, self.clock = env, clock
        self.jobs: dict[str, Job] = {}
        self.rollback_posts = 0
        """POST /rollbacks whose JSON body was read (counted before validation)."""
        self.rollbacks_started = 0
        self._lock = threading.Lock()
        self._outputs: tuple[float, dict[str, Any]] | None = None

    # -- reads --------------------------------------------------------------------------------

    def outputs(self) -> dict[str, Any]:
        """The stack's outputs, read again at most every ``OUTPUTS_TTL_S`` (they change only
        with an update, and the page polls)."""
        now = self.clock()
        if self._outputs is None or now - self._outputs[0] > OUTPUTS_TTL_S:
            self._outputs = (now, dict(self.stack.outputs()))
        return self._outputs[1]

    def _check_stack(self, name: str | None) -> str:
        if not name:
            raise ApiError(400, f"stack: required (e.g. ?stack={self.stack.name})")
        if name != self.stack.name:
            raise ApiError(404, f"stack: unknown stack {name!r}; this dashboard serves stack "
                           f"{self.stack.name!r}")  # fmt: skip
        return name

    def stacks(self) -> dict[str, Any]:
        return {"stacks": [self.stack.name], "source": "local", "sign_in": False,
                "confirm_prod": CONFIRM_PROD}  # fmt: skip

    def releases(self, name: str | None) -> dict[str, Any]:
        self._check_stack(name)
        history, report = read_releases(self.stack, self.aws)
        records = report["audit"]
        by_update = {str(r["update_id"]): r for r in records if r.get("update_id")}
        current_tag = read_release_config(self.stack).image_tag
        target, why = choose_target(history, current_tag, None)

        def joined(u: Mapping[str, Any]) -> dict[str, Any]:
            record = by_update.get(str(u["id"]), {})
            return {**u, **{k: record.get(k) for k in
                            ("who", "trigger", "reason", "path", "request_id", "ci_run")}}  # fmt: skip

        tier = tier_of(self.stack.get_config(TIER_KEY))
        return {
            "stack": self.stack.name,
            "tier": tier.value,
            "production": tier is Tier.PRODUCTION,
            "current_tag": current_tag,
            "current": joined(report["current"]) if report["current"] else None,
            "known_good": report["known_good"],
            "default_target": target.tag if target else None,
            "default_target_why": why,
            "releases": [joined(u) for u in report["updates"]],
            "unfinished": report["unfinished"],
            "audit_note": report["audit_note"],
        }

    def deployment(self, name: str | None) -> dict[str, Any]:
        """The same reads as the release API's ``GET /deployment``, configured from the stack's
        outputs instead of the function's environment."""
        self._check_stack(name)
        outputs = self.outputs()
        strategy = str(outputs.get(DEPLOY_STRATEGY) or Strategy.CODEDEPLOY)
        cluster, service = outputs.get(CLUSTER_NAME), outputs.get(SERVICE_NAME)
        found: dict[str, Any] | None = None
        note = None
        if strategy == Strategy.CODEDEPLOY:
            app, group = outputs.get(CODEDEPLOY_APPLICATION), outputs.get(CODEDEPLOY_GROUP)
            if app and group:
                found = reads.codedeploy_deployment(self.aws.client("codedeploy"), str(app),
                                                    str(group))  # fmt: skip
            else:
                note = "no CodeDeploy deployment group yet (the stack has not released an image)"
        elif not (cluster and service):
            note = "no ECS service yet (the stack has not released an image)"
        elif strategy == Strategy.ECS_BLUEGREEN:
            try:
                found = reads.ecs_bluegreen_deployment(self.aws.client("ecs"), str(cluster),
                                                       str(service))  # fmt: skip
            except LookupError as exc:
                raise ApiError(502, str(exc)) from None
        else:
            found = reads.rolling_deployment(self.aws.client("ecs"), str(cluster), str(service))
        names = outputs.get(ROLLBACK_ALARM_NAMES) or []
        alarms = reads.alarm_states(self.aws.client("cloudwatch"), [str(n) for n in names])
        return {
            "stack": self.stack.name,
            "strategy": strategy,
            "in_progress": found is not None,
            "deployment": found,
            "alarms": alarms,
            "alarming": [a["name"] for a in alarms if a.get("state") == "ALARM"],
            **({"note": note} if note else {}),
        }

    # -- rollbacks ----------------------------------------------------------------------------

    def start_rollback(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.rollback_posts += 1
        req = parse_rollback(body)
        self._check_stack(req.stack)
        production = tier_of(self.stack.get_config(TIER_KEY)) is Tier.PRODUCTION
        if production and req.confirm != CONFIRM_PROD:
            raise ApiError(400, f"confirm: production stack {req.stack} needs exactly "
                           f"{CONFIRM_PROD!r}, found {req.confirm!r}")  # fmt: skip
        if not production and req.confirm is not None and req.confirm != CONFIRM_PROD:
            raise ApiError(400, f"confirm: expected {CONFIRM_PROD!r} or nothing, found "
                           f"{req.confirm!r}")  # fmt: skip
        fingerprint = hashlib.sha256(json.dumps(
            {"stack": req.stack, "to": req.to, "reason": req.reason, "confirm": req.confirm},
            sort_keys=True).encode()).hexdigest()  # fmt: skip
        with self._lock:
            job = self.jobs.get(req.request_id)
            if job is not None:
                if job.fingerprint != fingerprint:
                    raise ApiError(409, f"request_id {req.request_id!r} was already used for a "
                                   "different request; use a new request_id",
                                   request_id=req.request_id)  # fmt: skip
                return 202, {**job.view(), "duplicate": True}
            running = [j for j in self.jobs.values() if j.status == "running"]
            if running:
                raise ApiError(409, f"a rollback of stack {req.stack} is already running "
                               f"(request {running[0].request_id}); wait for its outcome",
                               request_id=running[0].request_id)  # fmt: skip
            job = Job(req.request_id, fingerprint, req.to, req.reason, self.clock())
            self.jobs[req.request_id] = job
            self.rollbacks_started += 1
        opts = RollbackOptions(to=req.to, reason=req.reason, confirm=req.confirm,
                               request_id=req.request_id, **self.options)  # fmt: skip
        job.thread = threading.Thread(target=self._run, args=(job, opts), daemon=True,
                                      name=f"rollback-{req.request_id}")  # fmt: skip
        job.thread.start()
        return 202, {**job.view(), "duplicate": False}

    def _run(self, job: Job, opts: RollbackOptions) -> None:
        try:
            result = rollback(self.stack, self.aws, opts, self.env)
            job.result = result.to_dict()
            job.summary, job.error = result.summary, result.error
            status = result.status
        except DeplightError as exc:
            job.error, status = str(exc), "error"
        except (ClientError, BotoCoreError) as exc:
            job.error, status = f"AWS error: {exc}", "error"
        except Exception as exc:  # the page must see an outcome, whatever happened
            log.exception("rollback %s failed", job.request_id)
            job.error, status = f"unexpected error: {type(exc).__name__}: {exc}", "error"
        self._outputs = None  # an update may have changed them
        job.ended = self.clock()
        job.status = status  # last: the page stops following when this leaves "running"

    def job(self, request_id: str) -> dict[str, Any]:
        job = self.jobs.get(request_id)
        if job is None:
            raise ApiError(404, f"no rollback request {request_id!r} on this dashboard")
        return job.view()


# -- HTTP ---------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    backend: Backend
    server_version = "deplight-dashboard"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "no-store")
        self.send_header("x-content-type-options", "nosniff")
        self.send_header("content-security-policy", "default-src 'self'; frame-ancestors 'none'")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, doc: Mapping[str, Any]) -> None:
        self._send(status, json.dumps(doc, default=str).encode(), "application/json")

    def _host_ok(self) -> bool:
        host = urlsplit(f"//{self.headers.get('host', '')}").hostname
        return host in LOCAL_HOSTS

    def _answer(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            if not self._host_ok():
                raise ApiError(403, f"Host {self.headers.get('host')!r}: the dashboard answers "
                               "only http://127.0.0.1 or http://localhost")  # fmt: skip
            if method == "GET" and url.path in STATIC:
                name, content_type = STATIC[url.path]
                self._send(200, (PAGE_DIR / name).read_bytes(), content_type)
                return
            b = self.server_backend
            if method == "GET" and url.path == "/stacks":
                status, doc = 200, b.stacks()
            elif method == "GET" and url.path == "/releases":
                status, doc = 200, b.releases(query.get("stack"))
            elif method == "GET" and url.path == "/deployment":
                status, doc = 200, b.deployment(query.get("stack"))
            elif method == "POST" and url.path == "/rollbacks":
                status, doc = b.start_rollback(self._body())
            elif (
                method == "GET"
                and (m := JOB_ROUTE.match(url.path))
                and REQUEST_ID_RE.fullmatch(m.group(1))
            ):
                status, doc = 200, b.job(m.group(1))
            else:
                raise ApiError(404, f"no route '{method} {url.path}'; routes: GET /releases, "
                               "GET /deployment, POST /rollbacks, GET /rollbacks/<request_id>")  # fmt: skip
        except ApiError as exc:
            status, doc = exc.status, {"error": exc.message, **exc.extra}
        except DeplightError as exc:
            status, doc = 502, {"error": str(exc)}
        except (ClientError, BotoCoreError) as exc:
            status, doc = 502, {"error": f"AWS error: {exc}"}
        except Exception as exc:
            log.exception("dashboard: %s %s", method, url.path)
            status, doc = 500, {"error": f"internal error: {type(exc).__name__}: {exc}"}
        self._json(status, doc)

    @property
    def server_backend(self) -> Backend:
        # the HTTP server of serve() carries the back end as an attribute http.server lacks
        backend: Backend = self.server.backend  # type: ignore[attr-defined]
        return backend

    def _body(self) -> dict[str, Any]:
        origin = self.headers.get("origin")
        if origin and urlsplit(origin).hostname not in LOCAL_HOSTS:
            raise ApiError(403, f"Origin {origin!r}: rollbacks are accepted only from the "
                           "dashboard's own page")  # fmt: skip
        if "application/json" not in (self.headers.get("content-type") or ""):
            raise ApiError(415, "body: expected content-type application/json")
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:  # refused before it is read
            raise ApiError(400, f"body: larger than {MAX_BODY_BYTES} bytes")
        return parse_body(self.rfile.read(length))

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")


def make_server(backend: Backend, port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """The dashboard's server on 127.0.0.1:``port`` (0: any free port), not yet serving."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    server.backend = backend  # type: ignore[attr-defined]
    return server


# -- the subcommand -----------------------------------------------------------------------------


def _dashboard(args: argparse.Namespace) -> int:
    from rollback.cli import make_aws, preflight, select_stack

    try:
        stack = select_stack(args.stack, preflight(args))
        server = make_server(Backend(stack, make_aws(stack)), args.port)
    except DeplightError as exc:
        print(f"deplight dashboard: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the port is taken
        print(f"deplight dashboard: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    raw_host, port = server.server_address[:2]
    host = raw_host.decode() if isinstance(raw_host, bytes) else raw_host
    print(f"deplight dashboard: http://{host}:{port}/?stack={args.stack} (Ctrl-C stops)",
          flush=True)  # fmt: skip
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "dashboard",
        help="serve the release page of a stack on 127.0.0.1 (history, deployment, rollback)",
        description="Serves the release page on http://127.0.0.1:PORT: the stack's current "
        "release, its history with outcomes and reasons, the deployment in progress and the "
        "rollback alarms, and a rollback button that runs `deplight rollback` here. Binds to "
        "127.0.0.1 only; there is no sign-in.",
    )
    p.add_argument("--stack", required=True, metavar="ENV", help="stack (environment) name")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)")  # fmt: skip
    add_project_dir_argument(p)
    p.set_defaults(func=_dashboard)
