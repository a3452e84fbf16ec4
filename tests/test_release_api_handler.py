"""The release API handler end to end: moto's server (DynamoDB, Secrets Manager, CodeDeploy, ECS,
CloudWatch) over HTTP, a fake OIDC issuer and a fake GitHub on 127.0.0.1.

The audit records the handler reads are written by the release commands' own code
(:class:`rollback.audit.DynamoAudit`), and what the handler writes is read back through it, so
both sides are proven to share one record format.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from components import contract as out
from release_api import github as gh
from release_api import handler, records, site, tokens
from release_api.config import Config, ConfigError
from rollback.audit import DynamoAudit, new_handle, stamp, unfinished
from tests.conftest import ROOT
from tests.release_api_fakes import AUDIENCE, PAGE_CLIENT_ID, FakeGithub, FakeIssuer, api_event

REGION = "us-east-1"
A, B, C, D = "a1a1a1a", "b2b2b2b", "c3c3c3c", "d4d4d4d"
PROD_GROUP = "deplight-prod-rollback"


@pytest.fixture(scope="module")
def moto(moto_endpoint: str) -> str:
    """The session's moto server (tests/conftest.py)."""
    return moto_endpoint


@pytest.fixture(scope="module")
def issuer() -> Iterator[FakeIssuer]:
    with FakeIssuer().running() as fake:
        yield fake


class World:
    """One test's AWS side, fakes and handler environment."""

    def __init__(self, moto: str, issuer: FakeIssuer, github: FakeGithub) -> None:
        self.moto, self.issuer, self.github = moto, issuer, github

        def client(service: str) -> Any:
            return boto3.client(service, region_name=REGION, endpoint_url=moto)

        self.ddb, self.secrets = client("dynamodb"), client("secretsmanager")
        self.cd, self.ecs, self.cw = client("codedeploy"), client("ecs"), client("cloudwatch")
        self.t0 = datetime.now(UTC) - timedelta(days=1)
        self.minute = 0

    def table(self, stack: str) -> str:
        name = f"web-{stack}-releases"
        self.ddb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": out.AUDIT_HASH_KEY, "KeyType": "HASH"},
                       {"AttributeName": out.AUDIT_RANGE_KEY, "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in
                                  (out.AUDIT_HASH_KEY, out.AUDIT_RANGE_KEY, out.AUDIT_RELEASE_ID)],
            GlobalSecondaryIndexes=[{"IndexName": out.AUDIT_RELEASE_INDEX,
                                     "KeySchema": [{"AttributeName": out.AUDIT_RELEASE_ID,
                                                    "KeyType": "HASH"}],
                                     "Projection": {"ProjectionType": "ALL"}}],
        )  # fmt: skip
        return name

    def env(self, stack: str = "dev", tier: str = "development", **extra: str) -> dict[str, str]:
        env = {
            "DEPLIGHT_STACK": stack, "DEPLIGHT_TIER": tier,
            "DEPLIGHT_AUDIT_TABLE": f"web-{stack}-releases", "DEPLIGHT_STRATEGY": "rolling",
            "DEPLIGHT_CLUSTER": f"web-{stack}", "DEPLIGHT_SERVICE": f"web-{stack}",
            "DEPLIGHT_ROLLBACK_ALARMS": f"web-{stack}-5xx-rate,web-{stack}-p99-latency",
            "DEPLIGHT_JWT_ISSUER": self.issuer.url, "DEPLIGHT_JWT_AUDIENCES": AUDIENCE,
            "DEPLIGHT_GROUPS_CLAIM": "groups",
            "DEPLIGHT_GITHUB_REPOSITORY": "example-org/example-service",
            "DEPLIGHT_GITHUB_WORKFLOW": "rollback.yml", "DEPLIGHT_GITHUB_REF": "main",
            "DEPLIGHT_GITHUB_TOKEN_SECRET": f"deplight/{stack}/github-dispatch",
            "GITHUB_API_URL": self.github.url, "DEPLIGHT_AWS_ENDPOINT_URL": self.moto,
            "AWS_REGION": REGION,
        }  # fmt: skip
        if tier == "production":
            env["DEPLIGHT_PRODUCTION_GROUP"] = PROD_GROUP
        env.update(extra)
        return env

    def secret(self, stack: str, value: str) -> None:
        self.secrets.create_secret(Name=f"deplight/{stack}/github-dispatch", SecretString=value)

    def release(self, stack: str, op: str, to: str, frm: str | None = None,
                result: str | None = "succeeded", **extra: Any) -> dict[str, Any]:  # fmt: skip
        """One record as ``deplight deploy``/``rollback`` writes it, a minute after the last."""
        self.minute += 1
        started = self.t0 + timedelta(minutes=self.minute)
        handle = new_handle(stack, op, started)
        record = {"operation": op, "who": "octocat", "trigger": "ci", "started_at": stamp(started),
                  "from_tag": frm, "to_tag": to, "reason": f"{op} {to}", "path": "slow"}  # fmt: skip
        audit = DynamoAudit(self.ddb, f"web-{stack}-releases", stack)
        if result is None:
            audit.begin(handle, {**record, **extra})
        else:
            audit.complete(handle, {**record, "result": result, **extra})
        return {**record, "sk": handle.sk, "release_id": handle.release_id}

    def cli_records(self, stack: str) -> list[dict[str, Any]]:
        return DynamoAudit(self.ddb, f"web-{stack}-releases", stack).records()

    def call(self, method: str, path: str, *, env: dict[str, str], token: str | None = "default",
             claims: Any = "default", query: dict[str, str] | None = None,
             body: Any = None) -> tuple[int, dict[str, Any], dict[str, str]]:  # fmt: skip
        if token == "default":
            token = self.issuer.token()
        if claims == "default":
            claims = token_claims(token) if token else None
        resp = handler.handle(api_event(method, path, token=token, claims=claims, query=query,
                                        body=body), env=env)  # fmt: skip
        return resp["statusCode"], json.loads(resp["body"]), resp["headers"]

    def rollback(self, env: dict[str, str], token: str | None = "default",
                 **body: Any) -> tuple[int, dict[str, Any], dict[str, str]]:  # fmt: skip
        return self.call("POST", "/rollbacks", env=env, token=token, body=body)


def token_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(tokens.b64url_decode(payload)))


@contextmanager
def make_world(moto: str, issuer: FakeIssuer) -> Iterator[World]:
    """A clean moto, empty key caches, a fake GitHub, and dev and prod audit tables and secrets."""
    urllib.request.urlopen(urllib.request.Request(f"{moto}/moto-api/reset", method="POST"),
                           timeout=10).close()  # fmt: skip
    tokens._JWKS.clear()
    gh.clear_cache()
    with FakeGithub().running() as github:
        w = World(moto, issuer, github)
        for stack in ("dev", "prod"):
            w.table(stack)
            w.secret(stack, "github_pat_dispatchonly0000000000")
        yield w


@pytest.fixture
def world(moto: str, issuer: FakeIssuer) -> Iterator[World]:
    with make_world(moto, issuer) as w:
        yield w


def seed_dev(w: World, stack: str = "dev") -> None:
    """A deployed, B deployed (current)."""
    w.release(stack, "deploy", A)
    w.release(stack, "deploy", B, A)


# -- rollbacks ------------------------------------------------------------------------------------


def test_dev_rollback_records_dispatches_and_answers_202(world: World) -> None:
    seed_dev(world)
    status, body, _ = world.rollback(world.env(), stack="dev", reason="5xx after B",
                                     request_id="req-0001-dev")  # fmt: skip
    assert status == 202, body
    assert (body["from"], body["to"], body["status"], body["duplicate"]) == (B, A, "dispatched",
                                                                            False)  # fmt: skip
    assert body["runs_url"] == (
        "https://github.com/example-org/example-service/actions/workflows/rollback.yml"
    )
    assert body["requested_by"] == "alice@example.com"
    [dispatch] = world.github.dispatches()
    assert (
        dispatch.path
        == "/repos/example-org/example-service/actions/workflows/rollback.yml/dispatches"
    )
    assert dispatch.headers["authorization"] == "Bearer github_pat_dispatchonly0000000000"
    assert dispatch.body == {"ref": "main", "inputs": {
        "stack": "dev", "to": A, "request_id": "req-0001-dev",
        "reason": "5xx after B [requested by alice@example.com]"}}  # fmt: skip
    # The release commands' own reader sees the request as a complete record, newest first.
    newest = world.cli_records("dev")[0]
    assert newest["operation"] == "rollback-request" and newest["result"] == "dispatched"
    assert (newest["who"], newest["subject"], newest["from_tag"], newest["to_tag"]) == (
        "alice@example.com",
        "00u1oncall",
        B,
        A,
    )
    assert newest["request_id"] == "req-0001-dev" and newest["release_id"] == "request-req-0001-dev"
    assert newest["source_ip"] == "203.0.113.7" and newest["trigger"] == "api"
    assert not unfinished(world.cli_records("dev"))


def test_prod_needs_the_group_and_the_exact_confirmation(world: World) -> None:
    seed_dev(world, "prod")
    env = world.env("prod", "production")
    no_group = world.issuer.token(groups=["engineering"])
    status, body, _ = world.rollback(env, no_group, stack="prod", reason="r", confirm="ROLLBACK-PROD",
                                     request_id="req-prod-0001")  # fmt: skip
    assert status == 403 and PROD_GROUP in body["error"] and "engineering" in body["error"]
    member = world.issuer.token(groups=["engineering", PROD_GROUP])
    for confirm in (None, "rollback-prod", "ROLLBACK-PROD "):
        status, body, _ = world.rollback(env, member, stack="prod", reason="r", confirm=confirm,
                                         request_id="req-prod-0002")  # fmt: skip
        assert status == 400 and "confirm: production stack prod needs exactly 'ROLLBACK-PROD'" in (
            body["error"]), body  # fmt: skip
    assert world.github.dispatches() == [] and world.cli_records("prod")[0]["to_tag"] == B
    status, body, _ = world.rollback(env, member, stack="prod", reason="bad canary",
                                     confirm="ROLLBACK-PROD", request_id="req-prod-0003")  # fmt: skip
    assert status == 202 and body["to"] == A, body
    [dispatch] = world.github.dispatches()
    assert dispatch.body["inputs"]["confirm"] == "ROLLBACK-PROD"
    assert dispatch.body["inputs"]["stack"] == "prod"


def test_group_claim_as_a_single_string_also_counts(world: World) -> None:
    seed_dev(world, "prod")
    member = world.issuer.token(roles=PROD_GROUP, groups=None)
    status, body, _ = world.rollback(world.env("prod", "production", DEPLIGHT_GROUPS_CLAIM="roles"),
                                     member, stack="prod", reason="r", confirm="ROLLBACK-PROD",
                                     request_id="req-prod-0004")  # fmt: skip
    assert status == 202, body


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (lambda i: i.token(exp=1_600_000_000, iat=1_599_999_000, nbf=None), "expired"),
        (lambda i: i.token(aud="api://someone-else"), "audience"),
        (lambda i: i.token(iss="https://evil.example.com/oauth2/default"), "issuer"),
        (lambda i: i.unsigned("none"), "algorithm must be RS256, found 'none'"),
        (lambda i: i.unsigned("RS256"), "unsigned"),
        (lambda i: i.hs256_with_public_key(), "algorithm must be RS256, found 'HS256'"),
        (lambda i: i.token(key=i.other_key), "signature does not verify"),
        (lambda i: i.token(header={"kid": "rotated-away"}), "signing key 'rotated-away'"),
        (lambda i: i.token(exp=None), "no numeric expiry"),
        (lambda i: i.token(nbf=4_000_000_000), "not valid before"),
        (lambda i: "not-a-jwt", "not a signed JWT"),
    ],
)
def test_bad_tokens_are_refused_with_401_and_change_nothing(world: World, make: Any,
                                                            phrase: str) -> None:  # fmt: skip
    seed_dev(world)
    token = make(world.issuer)
    # The authorizer's claims match the token, as if API Gateway had let it through.
    claims = token_claims(token) if token.count(".") == 2 else {"sub": "00u1oncall"}
    for method, path, body in (("POST", "/rollbacks", {"stack": "dev", "reason": "r",
                                                       "request_id": "req-bad-token"}),
                               ("GET", "/releases", None)):  # fmt: skip
        status, answer, _ = world.call(method, path, env=world.env(), token=token, claims=claims,
                                       query={"stack": "dev"}, body=body)  # fmt: skip
        assert status == 401 and phrase in answer["error"], answer
    assert world.github.dispatches() == [] and len(world.cli_records("dev")) == 2


def test_requests_without_the_authorizer_or_with_another_token_are_refused(world: World) -> None:
    env = world.env()
    status, body, _ = world.call("GET", "/releases", env=env, claims=None, query={"stack": "dev"})
    assert status == 401 and "JWT authorizer" in body["error"]
    status, body, _ = world.call("GET", "/releases", env=env, token=None,
                                 claims={"sub": "00u1oncall"}, query={"stack": "dev"})  # fmt: skip
    assert status == 401 and "Bearer" in body["error"]
    mallory = world.issuer.token(sub="00u1mallory")
    status, body, _ = world.call("GET", "/releases", env=env, token=mallory,
                                 claims=token_claims(world.issuer.token()),
                                 query={"stack": "dev"})  # fmt: skip
    assert status == 401 and "not the one the API's authorizer validated" in body["error"]


def test_jwks_is_fetched_once_and_refetched_for_a_rotated_key(world: World) -> None:
    before = world.issuer.jwks_requests
    for _ in range(3):
        assert world.call("GET", "/releases", env=world.env(), query={"stack": "dev"})[0] == 200
    assert world.issuer.jwks_requests == before + 1


def test_the_same_request_id_dispatches_once(world: World) -> None:
    seed_dev(world)
    env = world.env()
    body = {"stack": "dev", "reason": "flaky network retry", "request_id": "4b7c-retry-0001"}
    first = world.rollback(env, **body)
    again = world.rollback(env, **body)
    assert first[0] == again[0] == 202
    assert again[1]["duplicate"] is True and again[1]["to"] == first[1]["to"] == A
    assert len(world.github.dispatches()) == 1
    assert len([r for r in world.cli_records("dev") if r.get("request_id")]) == 1
    status, answer, _ = world.rollback(env, **{**body, "reason": "something else"})
    assert status == 409 and "already used for a different request" in answer["error"]
    other = world.issuer.token(sub="00u1bob", email="bob@example.com")
    status, answer, _ = world.rollback(env, other, **body)
    assert status == 409 and "alice@example.com" in answer["error"]
    assert len(world.github.dispatches()) == 1


def test_a_concurrent_duplicate_loses_the_conditional_write(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two Lambdas both see no guard; DynamoDB's transaction lets exactly one write it."""
    seed_dev(world)
    env = world.env()
    body = {"stack": "dev", "reason": "race", "request_id": "race-0000-0001"}
    assert world.rollback(env, **body)[0] == 202
    real_guard = records.AuditTable.guard
    calls: list[str] = []

    def stale_first_read(self: records.AuditTable, request_id: str) -> Any:
        calls.append(request_id)
        return None if len(calls) == 1 else real_guard(self, request_id)

    monkeypatch.setattr(records.AuditTable, "guard", stale_first_read)
    status, answer, _ = world.rollback(env, **body)
    assert status == 202 and answer["duplicate"] is True and len(calls) == 2
    assert len(world.github.dispatches()) == 1
    assert len([r for r in world.cli_records("dev") if r.get("request_id")]) == 1


@pytest.mark.parametrize(
    ("script", "status", "phrase"),
    [
        ((500, {"message": "Server Error"}, {}), 502, "could not dispatch rollback.yml"),
        ((401, {"message": "Bad credentials"}, {}), 502, "rejected the token"),
        ((403, {"message": "Resource not accessible by integration"}, {}), 502,
         "Actions: Read and write"),
        ((404, {"message": "Not Found"}, {}), 502, "not found"),
        ((422, {"message": "Unexpected inputs provided"}, {}), 502, "accept these inputs"),
        ((403, {"message": "API rate limit exceeded"}, {"x-ratelimit-remaining": "0",
                                                        "retry-after": "30"}), 429, "rate limit"),
    ],
)  # fmt: skip
def test_github_failures_are_reported_and_recorded_as_failed(
    world: World, script: Any, status: int, phrase: str
) -> None:
    seed_dev(world)
    env = world.env()
    world.github.script.append(script)
    body = {"stack": "dev", "reason": "r", "request_id": "gh-fail-00001"}
    got, answer, headers = world.rollback(env, **body)
    assert got == status and phrase in answer["error"] and "NOT dispatched" in answer["error"]
    assert answer["request_id"] == "gh-fail-00001" and answer["status"] == "failed"
    if status == 429:
        assert headers["retry-after"] == "30"
    record = next(r for r in world.cli_records("dev") if r.get("request_id") == "gh-fail-00001")
    assert record["result"] == "failed" and phrase in record["error"]
    assert (
        record["reason"] == "r" and record["who"] == "alice@example.com" and "finished_at" in record
    )
    # a retry with the same id does not dispatch; a new id does
    got, answer, _ = world.rollback(env, **body)
    assert got == 409 and "already failed" in answer["error"]
    assert world.rollback(env, **{**body, "request_id": "gh-fail-00002"})[0] == 202
    assert len(world.github.dispatches()) == 2  # the failed one and the new one


def test_an_unreadable_secret_is_a_recorded_failure(world: World) -> None:
    seed_dev(world)
    env = world.env(DEPLIGHT_GITHUB_TOKEN_SECRET="deplight/dev/absent")
    status, body, _ = world.rollback(env, stack="dev", reason="r", request_id="no-secret-0001")
    assert status == 502 and "cannot read the GitHub token secret deplight/dev/absent" in (
        body["error"]) and "ResourceNotFoundException" in body["error"]  # fmt: skip
    assert world.github.dispatches() == []
    assert world.cli_records("dev")[0]["result"] == "failed"


def test_a_malformed_secret_never_leaks_its_value(world: World) -> None:
    seed_dev(world)
    world.secrets.put_secret_value(SecretId="deplight/dev/github-dispatch",
                                   SecretString='{"tokn": "ghp_secretvalue"}')  # fmt: skip
    status, body, _ = world.rollback(
        world.env(), stack="dev", reason="r", request_id="bad-secret-1"
    )
    assert status == 502 and "found keys ['tokn']" in body["error"]
    assert "ghp_secretvalue" not in json.dumps(body) + json.dumps(world.cli_records("dev"))


def test_a_github_app_secret_mints_a_repository_scoped_installation_token(world: World) -> None:
    seed_dev(world)
    app_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    world.github.app_public_key = app_key.public_key()
    pem = app_key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()  # fmt: skip
    world.secrets.put_secret_value(SecretId="deplight/dev/github-dispatch", SecretString=json.dumps(
        {"app_id": world.github.app_id, "installation_id": 42, "private_key": pem}))  # fmt: skip
    env = world.env()
    for i in range(2):
        status, body, _ = world.rollback(
            env, stack="dev", reason="r", request_id=f"app-token-{i:04}"
        )
        assert status == 202, body
    minted = [r for r in world.github.requests if r.path == "/app/installations/42/access_tokens"]
    assert len(minted) == 1, "the installation token is cached"
    assert minted[0].body == {
        "repositories": ["example-service"],
        "permissions": {"actions": "write"},
    }
    assert {d.headers["authorization"] for d in world.github.dispatches()} == {
        f"Bearer {world.github.installation_token}"
    }


def test_a_wrong_app_key_is_reported(world: World) -> None:
    seed_dev(world)
    world.github.app_public_key = rsa.generate_private_key(65537, 2048).public_key()
    wrong = rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()  # fmt: skip
    world.secrets.put_secret_value(SecretId="deplight/dev/github-dispatch", SecretString=json.dumps(
        {"app_id": world.github.app_id, "installation_id": 42, "private_key": wrong}))  # fmt: skip
    status, body, _ = world.rollback(
        world.env(), stack="dev", reason="r", request_id="app-wrong-01"
    )
    assert status == 502 and "refused an installation token" in body["error"] and "401" in (
        body["error"])  # fmt: skip
    assert world.github.dispatches() == []


# -- targets --------------------------------------------------------------------------------------


def test_targets_must_be_known_good_and_not_current(world: World) -> None:
    world.release("dev", "deploy", A)
    world.release("dev", "deploy", B, A)
    world.release("dev", "deploy", C, B, result="failed", error="verification failed: 5xx")
    world.release("dev", "deploy", D, B, result="refused", error="image-in-ecr: missing")
    env = world.env()
    status, body, _ = world.rollback(env, stack="dev", to=C, reason="r", request_id="target-0001")
    assert status == 409 and f"{C} is not a known-good release" in body["error"]
    assert f"known-good: {B}, {A}" in body["error"]
    status, body, _ = world.rollback(env, stack="dev", to=B, reason="r", request_id="target-0002")
    assert status == 409 and f"{B} is already the current release" in body["error"]
    status, body, _ = world.rollback(env, stack="dev", to=A, reason="r", request_id="target-0003")
    assert status == 202 and (body["from"], body["to"]) == (B, A)
    assert world.github.dispatches()[0].body["inputs"]["to"] == A


def test_after_a_failed_deploy_whose_up_ran_the_default_target_is_the_last_good(
    world: World,
) -> None:
    """The config stayed at C (the engine ran), so rolling back means going to B, as the CLI
    would choose."""
    world.release("dev", "deploy", A)
    world.release("dev", "deploy", B, A)
    world.release("dev", "deploy", C, B, result="failed", update_id="u-3",
                  error="verification failed: 5xx")  # fmt: skip
    status, body, _ = world.rollback(world.env(), stack="dev", reason="r", request_id="target-0004")
    assert status == 202 and (body["from"], body["to"]) == (C, B), body


def test_the_default_target_skips_a_release_a_rollback_moved_away_from(world: World) -> None:
    world.release("dev", "deploy", A)
    world.release("dev", "deploy", B, A)
    world.release("dev", "deploy", C, B)
    world.release("dev", "rollback", B, C)  # C was bad
    world.release("dev", "deploy", D, B)
    status, body, _ = world.rollback(world.env(), stack="dev", reason="r", request_id="target-0005")
    assert status == 202 and (body["from"], body["to"]) == (D, B)


def test_nothing_to_roll_back_to_is_409(world: World) -> None:
    world.release("dev", "deploy", A)
    status, body, _ = world.rollback(world.env(), stack="dev", reason="r", request_id="target-0006")
    assert status == 409 and "no known-good release to roll back to" in body["error"]


# -- input validation -----------------------------------------------------------------------------


def test_bad_bodies_are_400_naming_every_field(world: World) -> None:
    status, body, _ = world.rollback(world.env(), stack=7, to="LATEST", reason="", request_id="x",
                                     force=True)  # fmt: skip
    assert status == 400
    problems = body["problems"]
    assert any(p.startswith("unknown field(s) force") for p in problems)
    assert "stack: expected a string, found 7" in problems
    assert any(p.startswith("request_id: expected 8-64") for p in problems)
    assert any(p.startswith("reason: expected 1-300 characters") for p in problems)
    assert any(p.startswith("to: expected a git commit SHA") for p in problems)
    for raw, phrase in (("{not json", "not valid JSON"), ("[1]", "expected a JSON object")):
        status, body, _ = world.call("POST", "/rollbacks", env=world.env(), body=raw)
        assert status == 400 and phrase in body["error"]
    status, body, _ = world.rollback(world.env(), stack="dev", reason="line1\nline2",
                                     request_id="multi-line-01")  # fmt: skip
    assert status == 400 and "on one line" in body["error"]
    assert world.github.dispatches() == []


def test_unknown_stack_route_limit_and_cursor(world: World) -> None:
    env = world.env()
    status, body, _ = world.rollback(env, stack="qa", reason="r", request_id="unknown-stack")
    assert status == 404 and "unknown stack 'qa'; this API serves stack 'dev'" in body["error"]
    assert world.call("GET", "/deployment", env=env, query={"stack": "prod"})[0] == 404
    status, body, _ = world.call("GET", "/releases", env=env, query={})
    assert status == 400 and "stack: required" in body["error"]
    status, body, _ = world.call("DELETE", "/releases", env=env, query={"stack": "dev"})
    assert status == 404 and "no route 'DELETE /releases'" in body["error"]
    status, body, _ = world.call("GET", "/releases", env=env, query={"stack": "dev", "limit": "0"})
    assert status == 400 and "limit: expected an integer in 1-100" in body["error"]
    status, body, _ = world.call("GET", "/releases", env=env, query={"stack": "dev",
                                                                     "cursor": "bm9wZQ=="})  # fmt: skip
    assert status == 400 and "cursor" in body["error"]


def test_a_misconfigured_function_says_so_without_details(world: World) -> None:
    env = world.env()
    del env["DEPLIGHT_AUDIT_TABLE"]
    status, body, _ = world.call("GET", "/releases", env=env, query={"stack": "dev"})
    assert (
        status == 500
        and body["error"] == "the release API is misconfigured; see the function's logs"
    )


def test_dynamodb_throttling_is_429(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    def throttled(*_a: Any, **_k: Any) -> Any:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                     "Message": "slow down"}}, "Query")  # fmt: skip

    monkeypatch.setattr(records.AuditTable, "page", throttled)
    status, body, headers = world.call("GET", "/releases", env=world.env(), query={"stack": "dev"})
    assert status == 429 and "throttling" in body["error"] and headers["retry-after"] == "5"


# -- reading --------------------------------------------------------------------------------------


def test_release_log_is_paged_newest_first_and_follows_requests_to_their_end(world: World) -> None:
    seed_dev(world)
    world.release("dev", "deploy", C, B)
    env = world.env()
    assert world.rollback(env, stack="dev", reason="r", request_id="follow-0001")[0] == 202
    status, body, _ = world.call("GET", "/releases", env=env, query={"stack": "dev", "limit": "2"})
    assert status == 200
    assert body["current"]["to_tag"] == C and body["known_good"] == [C, B, A]
    assert body["default_target"] == B
    first, second = body["releases"]
    assert first["operation"] == "rollback-request" and first["status"] == "dispatched"
    assert first["rollback"] is None and second["to_tag"] == C
    status, page2, _ = world.call("GET", "/releases", env=env,
                                  query={"stack": "dev", "limit": "2",
                                         "cursor": body["next_cursor"]})  # fmt: skip
    assert [r["to_tag"] for r in page2["releases"]] == [B, A]
    if page2["next_cursor"]:  # DynamoDB may hand out a cursor at the exact end: an empty page
        page3 = world.call("GET", "/releases", env=env, query={
            "stack": "dev", "limit": "2", "cursor": page2["next_cursor"]})[1]  # fmt: skip
        assert page3["releases"] == [] and page3["next_cursor"] is None
    # the workflow's rollback starts (the intent record carries the request id) ...
    audit = DynamoAudit(world.ddb, "web-dev-releases", "dev")
    started = datetime.now(UTC) + timedelta(seconds=1)
    handle = new_handle("dev", "rollback", started)
    audit.begin(handle, {"operation": "rollback", "who": "deplight-bot[bot]", "trigger": "ci",
                         "started_at": stamp(started), "from_tag": C, "to_tag": B,
                         "reason": "r [requested by alice@example.com]",
                         "request_id": "follow-0001"})  # fmt: skip
    request = world.call("GET", "/releases", env=env, query={"stack": "dev"})[1]["releases"][1]
    assert request["operation"] == "rollback-request" and request["status"] == "running"
    assert request["rollback"]["result"] == "started, no outcome"
    # ... and ends
    audit.finish(handle, {"result": "succeeded", "update_id": "u-9"})
    shown = world.call("GET", "/releases", env=env, query={"stack": "dev"})[1]
    request = shown["releases"][1]
    assert request["status"] == "succeeded" and request["rollback"]["to_tag"] == B
    assert request["rollback"]["release_id"] == handle.release_id
    assert shown["current"]["to_tag"] == B


def test_deployment_of_a_rolling_stack_with_alarm_states(world: World) -> None:
    world.ecs.create_cluster(clusterName="web-dev")
    td = world.ecs.register_task_definition(
        family="web-dev", containerDefinitions=[{"name": "web", "image": "x", "memory": 512}]
    )["taskDefinition"]["taskDefinitionArn"]
    world.cw.put_metric_alarm(AlarmName="web-dev-5xx-rate", MetricName="m", Namespace="n",
                              Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                              ComparisonOperator="GreaterThanThreshold")  # fmt: skip
    world.cw.set_alarm_state(AlarmName="web-dev-5xx-rate", StateValue="ALARM",
                             StateReason="5xx above 1%")  # fmt: skip
    env = world.env()
    status, body, _ = world.call("GET", "/deployment", env=env, query={"stack": "dev"})
    assert status == 200 and body["in_progress"] is False and body["deployment"] is None
    world.ecs.create_service(cluster="web-dev", serviceName="web-dev", taskDefinition=td,
                             desiredCount=2)  # moto: 0 running -> rollout IN_PROGRESS  # fmt: skip
    status, body, _ = world.call("GET", "/deployment", env=env, query={"stack": "dev"})
    assert status == 200 and body["in_progress"] is True and body["strategy"] == "rolling"
    dep = body["deployment"]
    assert dep["stages"][0]["name"] == "ROLLOUT" and dep["stages"][0]["state"] == "IN_PROGRESS"
    assert dep["task_definition"] == td and dep["tasks"]["desired"] == 2
    assert dep["green_percent"] is None
    assert body["alarms"][0] == {"name": "web-dev-5xx-rate", "state": "ALARM",
                                 "reason": "5xx above 1%", "since": body["alarms"][0]["since"]}  # fmt: skip
    assert body["alarms"][1]["state"] == "MISSING" and body["alarming"] == ["web-dev-5xx-rate"]


def test_deployment_of_a_codedeploy_stack(world: World) -> None:
    """moto lists and describes the deployment; it has no ListDeploymentTargets, so the stage
    detail reports that it could not be read (the Stubber test in test_release_api_deployment
    covers stages and traffic)."""
    world.cd.create_application(applicationName="web-prod", computePlatform="ECS")
    world.cd.create_deployment_group(
        applicationName="web-prod", deploymentGroupName="web-prod",
        serviceRoleArn="arn:aws:iam::123456789012:role/web-prod-codedeploy",
        deploymentStyle={"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"},
    )  # fmt: skip
    env = world.env("prod", "production", DEPLIGHT_STRATEGY="codedeploy",
                    DEPLIGHT_CODEDEPLOY_APPLICATION="web-prod",
                    DEPLIGHT_CODEDEPLOY_GROUP="web-prod")  # fmt: skip
    status, body, _ = world.call("GET", "/deployment", env=env, query={"stack": "prod"})
    assert status == 200 and body["deployment"] is None
    dep_id = world.cd.create_deployment(applicationName="web-prod", deploymentGroupName="web-prod",
                                        deploymentConfigName="CodeDeployDefault.ECSCanary10Percent5Minutes",
                                        )["deploymentId"]  # fmt: skip
    status, body, _ = world.call("GET", "/deployment", env=env, query={"stack": "prod"})
    assert status == 200 and body["in_progress"] is True and body["strategy"] == "codedeploy"
    assert body["deployment"]["id"] == dep_id and body["deployment"]["status"] == "Created"
    assert body["deployment"]["deployment_config"] == "CodeDeployDefault.ECSCanary10Percent5Minutes"
    assert "cannot read the deployment's target" in body["deployment"]["detail_error"]


def test_deployment_of_an_ecs_bluegreen_stack_and_of_a_bootstrap_stack(world: World) -> None:
    """Stubber for ECS ListServiceDeployments/DescribeServiceDeployments (moto lacks them);
    CloudWatch stays on moto."""
    from botocore.stub import Stubber

    ecs = boto3.client("ecs", region_name=REGION)
    stub = Stubber(ecs)
    arn = "arn:aws:ecs:us-east-1:123456789012:service-deployment/web-dev/web-dev/Xy"
    stub.add_response("list_service_deployments", {"serviceDeployments": [
        {"serviceDeploymentArn": arn, "status": "IN_PROGRESS"}]})  # fmt: skip
    stub.add_response("describe_service_deployments", {"serviceDeployments": [{
        "serviceDeploymentArn": arn, "status": "IN_PROGRESS", "lifecycleStage": "BAKE_TIME",
        "targetServiceRevision": {"arn": "r", "requestedProductionTrafficWeight": 100.0}}]})  # fmt: skip
    deps = handler.Deps(clients=lambda cfg, service: ecs if service == "ecs" else
                        handler._client(cfg, service))  # fmt: skip
    token = world.issuer.token()
    event = api_event("GET", "/deployment", token=token, claims=token_claims(token),
                      query={"stack": "dev"})  # fmt: skip
    with stub:
        resp = handler.handle(event, deps, env=world.env(DEPLIGHT_STRATEGY="ecs_bluegreen"))
    body = json.loads(resp["body"])
    assert resp["statusCode"] == 200 and body["strategy"] == "ecs_bluegreen"
    assert body["deployment"]["green_percent"] == 100.0
    assert [s["name"] for s in body["deployment"]["stages"] if s["state"] == "current"] == [
        "BAKE_TIME"
    ]
    # before the first release there is no service (and no CodeDeploy group) to read
    for extra in ({"DEPLIGHT_SERVICE": ""}, {"DEPLIGHT_STRATEGY": "codedeploy"}):
        status, body, _ = world.call("GET", "/deployment", env=world.env(**extra),
                                     query={"stack": "dev"})  # fmt: skip
        assert status == 200 and body["deployment"] is None and "not released" in body["note"]


# -- the release page -----------------------------------------------------------------------------

PAGE_DIR = ROOT / "deplight" / "page"


def page_env(w: World, **extra: str) -> dict[str, str]:
    return w.env(DEPLIGHT_PAGE_CLIENT_ID=PAGE_CLIENT_ID, **extra)


def get(path: str, env: dict[str, str], page_dir: Path = PAGE_DIR,
        token: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A public route as API Gateway passes it: no authorizer claims."""
    deps = handler.Deps(clients=handler._client, page_dir=page_dir)
    return handler.handle(api_event("GET", path, token=token, claims=None), deps, env)


def test_the_page_is_served_without_a_caller_with_its_security_headers(world: World) -> None:
    env = page_env(world)
    csp = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
           f"connect-src 'self' {world.issuer.url}/v1/token; base-uri 'none'; "
           "form-action 'self'; frame-ancestors 'none'")  # fmt: skip
    for key, name in site.FILE_ROUTES.items():
        resp = get(key.split(" ", 1)[1], env)
        assert resp["statusCode"] == 200, (key, resp)
        assert resp["body"] == (PAGE_DIR / name).read_text(), key
        headers = resp["headers"]
        assert headers["content-type"] == site.PAGE_FILES[name], key
        assert headers["content-security-policy"] == csp, key
        assert headers["x-content-type-options"] == "nosniff", key
        assert headers["referrer-policy"] == "no-referrer", key
        assert headers["x-frame-options"] == "DENY", key
    assert world.github.requests == []


def test_the_page_has_nothing_inline_its_csp_would_block() -> None:
    """script-src and style-src are 'self' without hashes: no inline script, handler or style."""
    html = (PAGE_DIR / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S | re.I)
    assert scripts and all(not body.strip() for body in scripts)
    assert all("src=" in tag for tag in re.findall(r"<script\b[^>]*>", html, flags=re.I))
    assert not re.search(r"\son[a-z]+\s*=", html, flags=re.I)
    assert not re.search(r"\sstyle\s*=|<style\b", html, flags=re.I)
    assert not re.search(r"\b(src|href)\s*=\s*[\"']?(https?:)?//", html, flags=re.I)
    js = (PAGE_DIR / "page.js").read_text()
    assert not re.search(r"localStorage\s*(\.\w|\[)", js)  # and the browser tests check storage
    assert not re.search(r"\beval\(|new Function\(|setAttribute\(\s*[\"']style", js)


def test_stacks_tells_the_page_how_to_sign_in(world: World) -> None:
    resp = get("/stacks", page_env(world, DEPLIGHT_PAGE_SCOPES="openid,email,api://deplight/read"))
    assert resp["statusCode"] == 200, resp
    assert resp["headers"]["cache-control"] == "no-store"
    assert json.loads(resp["body"]) == {
        "stacks": ["dev"], "source": "api", "confirm_prod": "ROLLBACK-PROD",
        "sign_in": {"issuer": world.issuer.url, "client_id": PAGE_CLIENT_ID,
                    "scopes": ["openid", "email", "api://deplight/read"],
                    "authorization_endpoint": f"{world.issuer.url}/v1/authorize",
                    "token_endpoint": f"{world.issuer.url}/v1/token"},
    }  # fmt: skip
    assert json.loads(get("/stacks", page_env(world))["body"])["sign_in"]["scopes"] == [
        "openid", "email"]  # fmt: skip
    with_audience = page_env(world, DEPLIGHT_PAGE_AUDIENCE=AUDIENCE)
    assert json.loads(get("/stacks", with_audience)["body"])["sign_in"]["audience"] == AUDIENCE


def test_data_routes_still_need_the_authorizer_when_the_page_is_served(world: World) -> None:
    seed_dev(world)
    env = page_env(world)
    for method, path, query in (("GET", "/releases", {"stack": "dev"}),
                                ("GET", "/deployment", {"stack": "dev"}),
                                ("POST", "/rollbacks", None)):  # fmt: skip
        for token in (None, world.issuer.token()):  # no claims: not through the authorizer
            status, body, _ = world.call(method, path, env=env, token=token, claims=None,
                                         query=query, body={"stack": "dev"})  # fmt: skip
            assert status == 401, (method, path, body)
            assert "no JWT authorizer claims" in body["error"]
    assert world.github.dispatches() == []
    # with the authorizer's claims, the same routes answer as before
    assert world.call("GET", "/releases", env=env, query={"stack": "dev"})[0] == 200


def test_without_a_page_client_the_api_serves_no_page(world: World) -> None:
    for path in ("/", "/page.js", "/stacks"):
        resp = get(path, world.env())
        assert resp["statusCode"] == 404, path
        assert "set release_api.page_client_id" in json.loads(resp["body"])["error"]
    resp = get("/favicon.ico", page_env(world))
    assert resp["statusCode"] == 404
    assert (
        "routes: GET /releases, GET /deployment, POST /rollbacks, GET /,"
        in (json.loads(resp["body"])["error"])
    )


def test_an_unreachable_issuer_or_missing_files_are_clear_errors(world: World,
                                                                 tmp_path: Path) -> None:  # fmt: skip
    gone = "http://127.0.0.1:9/oauth2/default"  # the discard port: nothing listens
    resp = get("/", page_env(world, DEPLIGHT_JWT_ISSUER=gone))
    assert resp["statusCode"] == 503
    assert "cannot read the identity provider's sign-in endpoints" in json.loads(resp["body"])[
        "error"]  # fmt: skip
    resp = get("/page.js", page_env(world), page_dir=tmp_path)
    assert resp["statusCode"] == 500
    assert json.loads(resp["body"])["error"] == (
        "the release page's page.js is missing from the function's package; see the function's logs"
    )


def test_page_scopes_without_openid_are_a_configuration_error(world: World) -> None:
    with pytest.raises(ConfigError, match=r"DEPLIGHT_PAGE_SCOPES: expected a list with openid"):
        Config.from_env(page_env(world, DEPLIGHT_PAGE_SCOPES="email,profile"))
    assert Config.from_env(world.env(DEPLIGHT_PAGE_SCOPES="email")).page_client_id is None
