"""The release API's Lambda handler (API Gateway HTTP API, payload format 2.0).

Routes:

- ``GET /releases?stack=S[&limit=N][&cursor=C]``: the release log from the audit table, newest
  first, paged; with the current release, the known-good tags and the default rollback target.
  Rollback requests show how far they got (requested, dispatched, running, succeeded, ...).
- ``GET /deployment?stack=S``: the deployment in progress, if any, and the rollback alarms.
- ``POST /rollbacks`` with ``{stack, to?, reason, confirm?, request_id}``: validates, records a
  *requested* audit record with the caller's identity, dispatches ``rollback.yml`` and answers
  202. The same ``request_id`` twice dispatches once.
- ``GET /``, ``/index.html``, ``/page.css``, ``/page.js`` and ``GET /stacks``: the release page
  and its sign-in settings (:mod:`release_api.site`), when ``DEPLIGHT_PAGE_CLIENT_ID`` is set.
  They hold no data and are the only routes answered without a caller.

Authentication of the data routes happens twice: API Gateway's JWT authorizer validates the token
before the function runs (its claims arrive in ``requestContext.authorizer.jwt.claims``), and the
handler verifies the bearer token again against the issuer's JWKS (:mod:`release_api.tokens`) and
requires both to name the same subject. A data request that reaches the function without the
authorizer's claims is refused, so a data route added without the authorizer fails closed.

Every error is a JSON object ``{"error": "<what is wrong and what to do>", ...}`` with the
status that fits: 400 bad input, 401 no or bad token, 403 not allowed, 404 unknown route or
stack, 409 conflicts with the release log or an earlier request, 429 throttled (DynamoDB or
GitHub), 502/503 an upstream service failed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from release_api import deployment, github, records, site, tokens
from release_api.config import Config, ConfigError
from release_api.contract import CONFIRM_PROD, REQUEST_OPERATION, stamp

log = logging.getLogger("deplight.release_api")
log.setLevel(logging.INFO)

IMAGE_TAG_RE = re.compile(r"^[0-9a-f]{7,40}$")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{7,63}$")
MAX_BODY_BYTES = 8 * 1024
MAX_REASON = 300
DEFAULT_PAGE, MAX_PAGE = 20, 100
BODY_FIELDS = ("stack", "to", "reason", "confirm", "request_id")
THROTTLED = {"ThrottlingException", "ProvisionedThroughputExceededException",
             "RequestLimitExceeded", "TooManyRequestsException", "Throttling"}  # fmt: skip
_BOTO = BotoConfig(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3,
                   read_timeout=10)  # fmt: skip


class ApiError(Exception):
    """An answer other than 2xx: ``{"error": message, **extra}`` with ``http_status``."""

    def __init__(self, http_status: int, message: str, /, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = http_status, message, extra


@dataclass(frozen=True)
class Caller:
    subject: str
    who: str
    groups: tuple[str, ...]


@dataclass
class Deps:
    """What the handler talks to; the defaults are the real services."""

    clients: Callable[[Config, str], Any]
    clock: Callable[[], float] = time.time
    page_dir: Path = site.STATIC_DIR
    """The release page's files (in the zip; tests point at ``deplight/page/``)."""


_CLIENTS: dict[tuple[str, str | None, str | None], Any] = {}


def _client(cfg: Config, service: str) -> Any:
    key = (service, cfg.aws_endpoint, cfg.region)
    if key not in _CLIENTS:
        _CLIENTS[key] = boto3.client(service, region_name=cfg.region,
                                     endpoint_url=cfg.aws_endpoint, config=_BOTO)  # fmt: skip
    return _CLIENTS[key]


DEFAULT_DEPS = Deps(clients=_client)


# -- responses ------------------------------------------------------------------------------------


def respond(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
            ) -> dict[str, Any]:  # fmt: skip
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "cache-control": "no-store",
                    "x-content-type-options": "nosniff", **(headers or {})},
        "body": json.dumps(body, default=str),
    }  # fmt: skip


# -- authentication -------------------------------------------------------------------------------


def _groups(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if isinstance(value, str):  # some providers send one group, or a space-separated list
        return tuple(v for v in re.split(r"[\s,]+", value.strip("[]")) if v)
    return ()


def authenticate(event: Mapping[str, Any], cfg: Config) -> Caller:
    context_claims = (((event.get("requestContext") or {}).get("authorizer") or {}).get("jwt")
                      or {}).get("claims")  # fmt: skip
    if not isinstance(context_claims, Mapping) or not context_claims:
        raise ApiError(401, "no JWT authorizer claims in the request context: every route must "
                       "be behind the API's JWT authorizer")  # fmt: skip
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    scheme, _, token = str(headers.get("authorization", "")).partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Authorization header: expected 'Bearer <token>'")
    try:
        claims = tokens.verify(token.strip(), issuer=cfg.issuer, audiences=cfg.audiences,
                               jwks=tokens.jwks_for(cfg.issuer))  # fmt: skip
    except tokens.TokenError as exc:
        raise ApiError(401, f"invalid token: {exc}") from None
    except tokens.IssuerUnavailableError as exc:
        raise ApiError(
            503, f"cannot check the token against the identity provider: {exc}"
        ) from None
    if str(context_claims.get("sub")) != str(claims.get("sub")) or context_claims.get(
        "iss"
    ) != claims.get("iss"):
        raise ApiError(401, "the bearer token is not the one the API's authorizer validated "
                       "(sub or iss differ)")  # fmt: skip
    subject = str(claims.get("sub") or "")
    if not subject:
        raise ApiError(401, "invalid token: no subject (sub) claim")
    who = next((str(claims[k]) for k in ("email", "preferred_username", "username", "sub")
                if claims.get(k)), subject)  # fmt: skip
    return Caller(subject=subject, who=who, groups=_groups(claims.get(cfg.groups_claim)))


# -- request parsing ------------------------------------------------------------------------------


def _query(event: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()}


def _stack(value: str | None, cfg: Config) -> str:
    if not value:
        raise ApiError(400, "stack: required (e.g. ?stack=" + cfg.stack + ")")
    if value != cfg.stack:
        raise ApiError(404, f"stack: unknown stack {value!r}; this API serves stack {cfg.stack!r}")
    return value


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_PAGE
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise ApiError(400, f"limit: expected an integer in 1-{MAX_PAGE}, found {value!r}")
    return int(value)


def _body(event: Mapping[str, Any]) -> dict[str, Any]:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(400, "body: not valid base64-encoded UTF-8") from None
    return parse_body(raw.encode())


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body as the rollback routes take it (``deplight dashboard`` too): a JSON object
    of at most :data:`MAX_BODY_BYTES`; anything else is a 400 saying what was wrong."""
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(400, f"body: larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        raise ApiError(400, "body: not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "body: expected a JSON object {stack, to?, reason, confirm?, "
                       f"request_id}}, found {type(body).__name__}")  # fmt: skip
    return body


@dataclass(frozen=True)
class RollbackRequest:
    stack: str
    to: str | None
    reason: str
    confirm: str | None
    request_id: str

    def fingerprint(self, caller: Caller) -> str:
        doc = {"stack": self.stack, "to": self.to, "reason": self.reason,
               "confirm": self.confirm, "sub": caller.subject}  # fmt: skip
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def parse_rollback(body: Mapping[str, Any]) -> RollbackRequest:
    """Every problem with the body at once (400), each naming the field."""
    problems = []
    unknown = sorted(set(body) - set(BODY_FIELDS))
    if unknown:
        problems.append(
            f"unknown field(s) {', '.join(unknown)} (expected {', '.join(BODY_FIELDS)})"
        )

    def text(name: str, required: bool) -> str | None:
        value = body.get(name)
        if value is None or (value == "" and not required):
            if required:
                problems.append(f"{name}: required")
            return None
        if not isinstance(value, str):
            problems.append(f"{name}: expected a string, found {value!r}")
            return None
        return value

    stack = text("stack", True)
    request_id = text("request_id", True)
    if request_id is not None and not REQUEST_ID_RE.fullmatch(request_id):
        problems.append("request_id: expected 8-64 letters, digits, '.', '_' or '-' (a UUID "
                        f"works), found {request_id!r}")  # fmt: skip
    reason = text("reason", True)
    if reason is not None:
        reason = reason.strip()
        if not reason or len(reason) > MAX_REASON or any(ord(c) < 32 for c in reason):
            problems.append(f"reason: expected 1-{MAX_REASON} characters on one line, found "
                            f"{reason[:60]!r}{'...' if len(reason) > 60 else ''}")  # fmt: skip
    to = text("to", False)
    if to is not None and not IMAGE_TAG_RE.fullmatch(to):
        problems.append(
            f"to: expected a git commit SHA of 7-40 lowercase hex characters, found {to!r}"
        )
    confirm = text("confirm", False)
    if problems:
        raise ApiError(400, "invalid rollback request: " + "; ".join(problems), problems=problems)
    assert stack is not None and request_id is not None and reason is not None
    return RollbackRequest(stack, to, reason, confirm, request_id)


# -- routes ---------------------------------------------------------------------------------------


def get_releases(event: Mapping[str, Any], cfg: Config, caller: Caller, deps: Deps
                 ) -> tuple[int, dict[str, Any]]:  # fmt: skip
    q = _query(event)
    stack = _stack(q.get("stack"), cfg)
    limit = _limit(q.get("limit"))
    audit = records.AuditTable(deps.clients(cfg, "dynamodb"), cfg.audit_table, stack)
    try:
        page, next_cursor = audit.page(limit, q.get("cursor"))
    except records.BadCursorError as exc:
        raise ApiError(400, str(exc)) from None
    view = records.release_view(audit.releases(), complete=True)
    requests = [r for r in page if r.get("operation") == REQUEST_OPERATION]
    rollbacks = (
        audit.rollbacks_for_requests(min(str(r["sk"]) for r in requests)) if requests else {}
    )
    shown = []
    for r in page:
        item = records.public(r)
        if r.get("operation") == REQUEST_OPERATION:
            rollback = rollbacks.get(str(r.get("request_id")))
            item["status"] = records.request_status(r, rollback)
            item["rollback"] = records.public(rollback) if rollback else None
        shown.append(item)
    return 200, {
        "stack": stack,
        "tier": cfg.tier,
        "current": records.public(view.current) if view.current else None,
        "known_good": view.known_good,
        "default_target": view.default_target,
        "releases": shown,
        "next_cursor": next_cursor,
    }


def get_deployment(event: Mapping[str, Any], cfg: Config, caller: Caller, deps: Deps
                   ) -> tuple[int, dict[str, Any]]:  # fmt: skip
    stack = _stack(_query(event).get("stack"), cfg)
    found: dict[str, Any] | None = None
    note = None
    if cfg.strategy == "codedeploy":
        if cfg.codedeploy_application and cfg.codedeploy_group:
            found = deployment.codedeploy_deployment(
                deps.clients(cfg, "codedeploy"), cfg.codedeploy_application, cfg.codedeploy_group
            )
        else:
            note = "no CodeDeploy deployment group yet (the stack has not released an image)"
    elif not (cfg.cluster and cfg.service):
        note = "no ECS service yet (the stack has not released an image)"
    else:
        ecs = deps.clients(cfg, "ecs")
        if cfg.strategy == "ecs_bluegreen":
            try:
                found = deployment.ecs_bluegreen_deployment(ecs, cfg.cluster, cfg.service)
            except LookupError as exc:
                raise ApiError(502, str(exc)) from None
        else:
            found = deployment.rolling_deployment(ecs, cfg.cluster, cfg.service)
    alarms = deployment.alarm_states(deps.clients(cfg, "cloudwatch"), cfg.rollback_alarms)
    return 200, {
        "stack": stack,
        "strategy": cfg.strategy,
        "in_progress": found is not None,
        "deployment": found,
        "alarms": alarms,
        "alarming": [a["name"] for a in alarms if a.get("state") == "ALARM"],
        **({"note": note} if note else {}),
    }


def _accepted(guard: Mapping[str, Any], cfg: Config, duplicate: bool) -> tuple[int, dict[str, Any]]:
    return 202, {
        "request_id": guard.get("request_id"),
        "release_id": guard.get("release_id"),
        "stack": cfg.stack,
        "from": guard.get("from_tag"),
        "to": guard.get("to_tag"),
        "status": guard.get("result"),
        "requested_by": guard.get("who"),
        "workflow": cfg.github.workflow,
        "runs_url": cfg.github.runs_url(),
        "duplicate": duplicate,
    }


def _replay(guard: Mapping[str, Any], fingerprint: str, cfg: Config) -> tuple[int, dict[str, Any]]:
    """The answer to a request id that was seen before: never a second dispatch."""
    rid = guard.get("request_id")
    if guard.get("fingerprint") != fingerprint:
        raise ApiError(409, f"request_id {rid!r} was already used for a different request (by "
                       f"{guard.get('who')} at {guard.get('started_at')}); use a new request_id",
                       request_id=rid)  # fmt: skip
    state = guard.get("result")
    if state == "dispatched":
        return _accepted(guard, cfg, duplicate=True)
    if state == "failed":
        raise ApiError(409, f"request {rid!r} already failed and dispatched nothing: "
                       f"{guard.get('error')}. Send a new request_id to try again",
                       request_id=rid, status="failed")  # fmt: skip
    raise ApiError(409, f"request {rid!r} is still being dispatched, or its dispatch was "
                   "interrupted (the audit record shows it as requested). Check GET /releases "
                   "before trying again with a new request_id", request_id=rid,
                   status="requested")  # fmt: skip


def post_rollback(event: Mapping[str, Any], cfg: Config, caller: Caller, deps: Deps
                  ) -> tuple[int, dict[str, Any]]:  # fmt: skip
    req = parse_rollback(_body(event))
    _stack(req.stack, cfg)
    if cfg.production:
        if cfg.production_group not in caller.groups:
            raise ApiError(403, f"rolling back production stack {req.stack} needs membership of "
                           f"group {cfg.production_group!r} (token claim {cfg.groups_claim!r}); "
                           f"{caller.who} has {list(caller.groups) or 'no groups'}")  # fmt: skip
        if req.confirm != CONFIRM_PROD:
            raise ApiError(400, f"confirm: production stack {req.stack} needs exactly "
                           f"{CONFIRM_PROD!r}, found {req.confirm!r}")  # fmt: skip
    elif req.confirm is not None and req.confirm != CONFIRM_PROD:
        raise ApiError(400, f"confirm: expected {CONFIRM_PROD!r} or nothing, found {req.confirm!r}")

    audit = records.AuditTable(deps.clients(cfg, "dynamodb"), cfg.audit_table, req.stack)
    fingerprint = req.fingerprint(caller)
    if (guard := audit.guard(req.request_id)) is not None:
        return _replay(guard, fingerprint, cfg)

    view = records.release_view(audit.releases(), want=req.to)
    current = view.current.get("to_tag") if view.current else None
    if req.to is not None and req.to not in view.known_good:
        raise ApiError(409, f"to: {req.to} is not a known-good release of stack {req.stack} (no "
                       "succeeded deploy or rollback to it in the audit table); known-good: "
                       f"{', '.join(view.known_good[:10]) or 'none'}")  # fmt: skip
    target = req.to or view.default_target
    if target is None:
        raise ApiError(409, f"stack {req.stack} has no known-good release to roll back to other "
                       f"than the current one ({current or 'unknown'})")  # fmt: skip
    if target == current:
        raise ApiError(409, f"{target} is already the current release of stack {req.stack}")

    now = datetime.fromtimestamp(deps.clock(), UTC)
    release_id = f"request-{req.request_id}"
    sk = f"{stamp(now)}#{release_id}"
    record = {
        "sk": sk, "release_id": release_id, "operation": REQUEST_OPERATION,
        "request_id": req.request_id, "who": caller.who, "subject": caller.subject,
        "issuer": cfg.issuer, "trigger": "api", "started_at": stamp(now), "tier": cfg.tier,
        "from_tag": current, "to_tag": target, "reason": req.reason, "result": "requested",
        "workflow": cfg.github.workflow,
        "source_ip": ((event.get("requestContext") or {}).get("http") or {}).get("sourceIp"),
    }  # fmt: skip
    guard = {k: record[k] for k in ("request_id", "release_id", "who", "started_at", "from_tag",
                                    "to_tag", "result")}  # fmt: skip
    guard.update(fingerprint=fingerprint, record_sk=sk)
    if not audit.create_request(req.request_id, record, guard):
        existing = audit.guard(req.request_id)  # a concurrent request with the same id won
        if existing is None:
            raise ApiError(409, f"request {req.request_id!r} conflicts with a concurrent write; "
                           "check GET /releases")  # fmt: skip
        return _replay(existing, fingerprint, cfg)

    inputs = {"stack": req.stack, "to": target, "request_id": req.request_id,
              "reason": f"{req.reason} [requested by {caller.who}]"}  # fmt: skip
    if req.confirm:
        inputs["confirm"] = req.confirm
    try:
        token = github.TokenSource(deps.clients(cfg, "secretsmanager"), cfg.token_secret,
                                   cfg.github, clock=deps.clock).token()  # fmt: skip
        github.dispatch(cfg.github, token, inputs, clock=deps.clock)
    except github.GithubError as exc:
        _settle(audit, req.request_id, sk, {"result": "failed", "error": str(exc),
                                             "finished_at": stamp(datetime.now(UTC))})  # fmt: skip
        headers = {"retry-after": str(exc.retry_after)} if exc.retry_after else {}
        raise ApiError(exc.status, f"rollback request {req.request_id} recorded but NOT "
                       f"dispatched: {exc}", request_id=req.request_id, status="failed",
                       headers=headers) from None  # fmt: skip
    settled = _settle(audit, req.request_id, sk, {
        "result": "dispatched", "dispatched_at": stamp(datetime.now(UTC)),
        "runs_url": cfg.github.runs_url(),
    })  # fmt: skip
    status, body = _accepted({**guard, "result": "dispatched"}, cfg, duplicate=False)
    if not settled:
        body["warning"] = (
            "dispatched, but the audit record could not be updated and still "
            "shows 'requested'; the rollback's own record carries the request id"
        )
    return status, body


def _settle(audit: records.AuditTable, request_id: str, sk: str, outcome: dict[str, Any]) -> bool:
    try:
        audit.settle(request_id, sk, outcome)
    except (ClientError, BotoCoreError) as exc:
        log.error(json.dumps({"event": "audit-settle-failed", "request_id": request_id,
                              "outcome": outcome.get("result"), "error": str(exc)}))  # fmt: skip
        return False
    return True


def public(key: str, cfg: Config, deps: Deps) -> dict[str, Any]:
    """The page's files and ``GET /stacks`` (:mod:`release_api.site`): no caller, no data."""
    if cfg.page_client_id is None:
        raise ApiError(404, "this release API serves no page: set release_api.page_client_id "
                       "(the page's public OIDC client) to serve it")  # fmt: skip
    try:
        endpoints = tokens.jwks_for(cfg.issuer).endpoints()
    except tokens.IssuerUnavailableError as exc:
        raise ApiError(
            503, f"cannot read the identity provider's sign-in endpoints: {exc}"
        ) from None
    if key == site.CONFIG_ROUTE:
        return respond(200, site.sign_in_settings(cfg, endpoints),
                       {"referrer-policy": "no-referrer"})  # fmt: skip
    name = site.FILE_ROUTES[key]
    try:
        body = (deps.page_dir / name).read_text(encoding="utf-8")
    except OSError as exc:
        log.error(json.dumps({"event": "page-file-missing", "file": name, "error": str(exc)}))
        raise ApiError(500, f"the release page's {name} is missing from the function's "
                       "package; see the function's logs") from None  # fmt: skip
    return {"statusCode": 200, "headers": site.file_headers(name, endpoints.token), "body": body}


Route = Callable[[Mapping[str, Any], Config, Caller, Deps], tuple[int, dict[str, Any]]]
ROUTES: dict[str, Route] = {
    "GET /releases": get_releases,
    "GET /deployment": get_deployment,
    "POST /rollbacks": post_rollback,
}


def route_key(event: Mapping[str, Any]) -> str:
    key = event.get("routeKey")
    if key and key != "$default":
        return str(key)
    http = (event.get("requestContext") or {}).get("http") or {}
    return f"{http.get('method', '?')} {event.get('rawPath') or http.get('path', '?')}"


def handle(event: Mapping[str, Any], deps: Deps = DEFAULT_DEPS,
           env: Mapping[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    key = route_key(event)
    who = None
    try:
        try:
            cfg = Config.from_env(os.environ if env is None else env)
        except ConfigError as exc:
            log.error(json.dumps({"event": "misconfigured", "problems": str(exc)}))
            raise ApiError(
                500, "the release API is misconfigured; see the function's logs"
            ) from None
        route = ROUTES.get(key)
        if key in site.PUBLIC_ROUTES:
            response = public(key, cfg, deps)
            status = response["statusCode"]
        elif route is None:
            raise ApiError(404, f"no route {key!r}; routes: "
                           f"{', '.join((*ROUTES, *site.PUBLIC_ROUTES))}")  # fmt: skip
        else:
            caller = authenticate(event, cfg)
            who = caller.who
            status, body = route(event, cfg, caller, deps)
            response = respond(status, body)
    except ApiError as exc:
        headers = exc.extra.pop("headers", None)
        status, response = exc.status, respond(exc.status, {"error": exc.message, **exc.extra},
                                               headers)  # fmt: skip
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = 429 if code in THROTTLED else 502
        message = (f"AWS is throttling the release API ({code}); retry in a few seconds"
                   if status == 429 else f"AWS error ({code}): "
                   f"{exc.response.get('Error', {}).get('Message', '')}")  # fmt: skip
        response = respond(
            status, {"error": message}, {"retry-after": "5"} if status == 429 else None
        )
    except BotoCoreError as exc:
        status, response = 502, respond(502, {"error": f"cannot reach AWS: {exc}"})
    except Exception:  # an error JSON instead of API Gateway's bare 500; details in the log
        log.exception("unhandled error on %s", key)
        status, response = 500, respond(500, {"error": "internal error; see the function's logs"})
    log.info(json.dumps({"route": key, "status": status, "caller": who}))
    return response


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The function's entry point (``release_api.handler.lambda_handler``)."""
    return handle(event)
