"""The ReleaseApi component in the program under mocks, its pure builders and its settings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components import contract as keys
from components.contract import Strategy, Tier
from components.release_api import (
    ACCESS_LOG_FORMAT,
    HANDLER_DIR,
    PAGE_DIR,
    PAGE_ROUTES,
    ROUTES,
    code_archive,
    function_environment,
    handler_policy,
)
from components.settings import ReleaseApiSettings, SettingsError, parse_settings
from deplight.harness import ProgramRun, read_stack_config, run_program
from release_api.config import Config
from tests.conftest import program_run
from tests.release_api_fakes import FakeIssuer

API_TYPES = ("aws:apigatewayv2/api:Api", "aws:apigatewayv2/route:Route",
             "aws:apigatewayv2/authorizer:Authorizer", "aws:apigatewayv2/stage:Stage",
             "aws:apigatewayv2/integration:Integration", "aws:lambda/function:Function",
             "aws:lambda/permission:Permission")  # fmt: skip
ENABLED = {
    "enabled": True, "jwt_issuer": "https://login.example.com/oauth2/default",
    "jwt_audience": ["api://deplight-release"], "allowed_origin": "https://releases.example.com",
    "github_token_secret": "deplight/dev/github-dispatch",
}  # fmt: skip


def test_prod_registers_the_api_routes_authorizer_and_lambda() -> None:
    run = program_run("prod")
    [component] = run.of_type("deplight:releaseapi:ReleaseApi")
    children = {r.urn for r in run.children(component.urn)}
    for type_ in API_TYPES:
        assert run.of_type(type_) and all(r.urn in children for r in run.of_type(type_)), type_
    api = run.one("aws:apigatewayv2/api:Api")
    cors = api.inputs["corsConfiguration"]
    assert cors["allowOrigins"] == ["https://releases.example.com"]
    assert set(cors["allowMethods"]) == {"GET", "POST"} and "allowCredentials" not in cors
    authorizer = run.one("aws:apigatewayv2/authorizer:Authorizer")
    assert authorizer.inputs["authorizerType"] == "JWT"
    assert authorizer.inputs["identitySources"] == ["$request.header.Authorization"]
    assert authorizer.inputs["jwtConfiguration"] == {
        "issuer": "https://login.example.com/oauth2/default",
        "audiences": ["api://deplight-release"],
    }
    integration = run.one("aws:apigatewayv2/integration:Integration")
    fn = run.one("aws:lambda/function:Function")
    assert integration.inputs["integrationUri"] == fn.outputs["invokeArn"]
    assert integration.inputs["payloadFormatVersion"] == "2.0"
    routes = run.of_type("aws:apigatewayv2/route:Route")
    data = [r for r in routes if r.inputs["routeKey"] in ROUTES]
    assert sorted(r.inputs["routeKey"] for r in data) == sorted(ROUTES)
    for route in data:
        assert route.inputs["authorizationType"] == "JWT", route.urn
        assert route.inputs["authorizerId"] == authorizer.id, route.urn
        assert route.inputs["target"] == f"integrations/{integration.id}", route.urn
    # prod sets page_client_id: the page's files and sign-in settings, and nothing else, are public
    page = [r for r in routes if r not in data]
    assert sorted(r.inputs["routeKey"] for r in page) == sorted(PAGE_ROUTES)
    assert set(PAGE_ROUTES) == {"GET /", "GET /index.html", "GET /page.css", "GET /page.js",
                                "GET /stacks"}  # fmt: skip
    for route in page:
        assert route.inputs["authorizationType"] == "NONE", route.urn
        assert "authorizerId" not in route.inputs, route.urn
        assert route.inputs["target"] == f"integrations/{integration.id}", route.urn
    assert {r.name for r in data} == {"web-prod-release-api-get-releases",
                                      "web-prod-release-api-get-deployment",
                                      "web-prod-release-api-post-rollbacks"}  # fmt: skip
    stage = run.one("aws:apigatewayv2/stage:Stage")
    assert stage.inputs["name"] == "$default" and stage.inputs["autoDeploy"] is True
    assert stage.inputs["defaultRouteSettings"]["throttlingRateLimit"] == 5
    assert stage.inputs["defaultRouteSettings"]["throttlingBurstLimit"] == 10
    [post] = stage.inputs["routeSettings"]
    assert (post["routeKey"], post["throttlingRateLimit"], post["throttlingBurstLimit"]) == (
        "POST /rollbacks",
        1,
        2,
    )
    access = run.one("aws:cloudwatch/logGroup:LogGroup", "web-prod-release-api-access-logs")
    assert stage.inputs["accessLogSettings"] == {"destinationArn": access.outputs["arn"],
                                                 "format": ACCESS_LOG_FORMAT}  # fmt: skip
    assert access.inputs["retentionInDays"] == 365  # the stack's observability.log_retention_days
    assert set(stage.depends_on) >= {r.urn for r in routes}
    permission = run.one("aws:lambda/permission:Permission")
    assert permission.inputs["principal"] == "apigateway.amazonaws.com"
    assert permission.inputs["sourceArn"] == api.outputs["executionArn"] + "/*"
    assert permission.inputs["function"] == fn.inputs["name"]
    assert fn.inputs["name"] not in run.generated, (
        "the plan must not show the name as a placeholder"
    )
    assert not run.of_type("aws:lambda/functionUrl:FunctionUrl")
    assert run.outputs[keys.RELEASE_API_URL] == stage.outputs["invokeUrl"]
    assert run.outputs[keys.RELEASE_API_URL].startswith("https://")


def test_the_lambda_runs_this_repositorys_package_with_its_own_logs() -> None:
    run = program_run("prod")
    fn = run.one("aws:lambda/function:Function")
    assert fn.inputs["handler"] == "release_api.handler.lambda_handler"
    assert fn.inputs["runtime"].startswith("python3.")
    archive = fn.inputs["code"]
    assert isinstance(archive, pulumi.AssetArchive)
    expected = {f"release_api/{p.name}" for p in HANDLER_DIR.glob("*.py")}
    static = {f"release_api/static/{name}" for name in ("index.html", "page.css", "page.js")}
    assert set(archive.assets) == expected | static and "release_api/handler.py" in expected
    modules = {k: a for k, a in archive.assets.items() if k not in static}
    assert all(a.path.startswith(str(HANDLER_DIR)) for a in modules.values())
    # the page's files come from deplight/page/ (no copy in the repository)
    assert {k: archive.assets[k].path for k in static} == {
        f"release_api/static/{n}": str(PAGE_DIR / n) for n in ("index.html", "page.css", "page.js")
    }
    assert not (HANDLER_DIR / "static").exists()
    logs = run.one("aws:cloudwatch/logGroup:LogGroup", "web-prod-release-api-logs")
    assert fn.inputs["loggingConfig"] == {"logFormat": "JSON", "logGroup": logs.outputs["name"]}
    assert logs.inputs["name"] == f"/aws/lambda/{fn.inputs['name']}"
    assert logs.urn in fn.depends_on
    role = run.one("aws:iam/role:Role", "web-prod-release-api-role")
    assert fn.inputs["role"] == role.outputs["arn"]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                   "Action": "sts:AssumeRole"}]  # fmt: skip


def test_the_function_environment_is_one_the_handler_accepts() -> None:
    """What the component sets is exactly what release_api.config reads (no shared import)."""
    run = program_run("prod")
    env = run.one("aws:lambda/function:Function").inputs["environment"]["variables"]
    cfg = Config.from_env(env)
    assert (cfg.stack, cfg.tier, cfg.strategy, cfg.audit_table) == (
        "prod",
        "production",
        "codedeploy",
        "web-prod-releases",
    )
    assert (cfg.codedeploy_application, cfg.codedeploy_group) == ("web-prod", "web-prod")
    assert cfg.production_group == "deplight-prod-rollback" and len(cfg.rollback_alarms) == 5
    assert cfg.github.repository == "example-org/example-service"
    assert cfg.github.api_url == "https://api.github.com" and cfg.aws_endpoint is None
    assert cfg.token_secret == "deplight/prod/github-dispatch"
    assert (cfg.page_client_id, cfg.page_scopes) == ("0oa1deplightreleasepage", ("openid", "email"))
    assert not any(
        "token" in v.lower() and v.startswith(("ghp_", "github_pat_")) for v in env.values()
    )


def _run_with(stack: str, release_api: dict[str, Any] | None) -> ProgramRun:
    config = read_stack_config(stack)
    if release_api is None:
        config.pop("deplight:release_api", None)
    else:
        config["deplight:release_api"] = release_api
    return run_program(stack, config)


def test_nothing_is_registered_unless_enabled() -> None:
    for run in (program_run("dev"), _run_with("prod", {**ENABLED, "enabled": False,
                                                        "production_group": "g"})):  # fmt: skip
        assert not run.of_type("deplight:releaseapi:ReleaseApi"), run.stack
        for type_ in API_TYPES:
            assert not run.of_type(type_), (run.stack, type_)
        assert keys.RELEASE_API_URL not in run.outputs


def test_without_a_page_client_every_route_is_behind_the_authorizer() -> None:
    run = _run_with("dev", ENABLED)
    routes = run.of_type("aws:apigatewayv2/route:Route")
    assert sorted(r.inputs["routeKey"] for r in routes) == sorted(ROUTES)
    assert all(r.inputs["authorizationType"] == "JWT" for r in routes)
    assert run.one("aws:apigatewayv2/api:Api").inputs["description"] == (
        "Release API of stack dev (every route behind the JWT authorizer)"
    )
    env = run.one("aws:lambda/function:Function").inputs["environment"]["variables"]
    assert "DEPLIGHT_PAGE_CLIENT_ID" not in env and "DEPLIGHT_PAGE_SCOPES" not in env
    run = _run_with("dev", {**ENABLED, "page_client_id": "spa-client",
                            "page_scopes": ["openid", "api://deplight/read"]})  # fmt: skip
    routes = run.of_type("aws:apigatewayv2/route:Route")
    public = sorted(r.inputs["routeKey"] for r in routes if r.inputs["authorizationType"] == "NONE")
    assert public == sorted(PAGE_ROUTES)
    cfg = Config.from_env(
        run.one("aws:lambda/function:Function").inputs["environment"]["variables"]
    )
    assert (cfg.page_client_id, cfg.page_scopes) == (
        "spa-client",
        ("openid", "api://deplight/read"),
    )


def test_the_zip_as_laid_out_serves_the_page_without_deplight(tmp_path: Path) -> None:
    """The archive's files unpacked alone; a fresh interpreter where ``deplight`` cannot be
    imported answers ``GET /`` with the default page directory (``release_api/static``)."""
    for key, asset in code_archive().assets.items():
        target = tmp_path / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(asset.path, target)
    script = (
        "import json, sys\n"
        "sys.modules['deplight'] = None  # import deplight fails\n"
        "from release_api import handler\n"
        f"assert handler.__file__.startswith({str(tmp_path)!r}), handler.__file__\n"
        "event = {'routeKey': 'GET /', 'rawPath': '/', 'headers': {}, 'requestContext': {}}\n"
        "resp = handler.handle(event, env=json.loads(sys.argv[1]))\n"
        "print(json.dumps(resp))\n"
    )
    with FakeIssuer().running() as issuer:
        env = {"DEPLIGHT_STACK": "dev", "DEPLIGHT_TIER": "development",
               "DEPLIGHT_AUDIT_TABLE": "t", "DEPLIGHT_STRATEGY": "rolling",
               "DEPLIGHT_JWT_ISSUER": issuer.url, "DEPLIGHT_JWT_AUDIENCES": "api://x",
               "DEPLIGHT_GITHUB_REPOSITORY": "o/r", "DEPLIGHT_GITHUB_WORKFLOW": "rollback.yml",
               "DEPLIGHT_GITHUB_REF": "main", "DEPLIGHT_GITHUB_TOKEN_SECRET": "s",
               "DEPLIGHT_PAGE_CLIENT_ID": "spa-client"}  # fmt: skip
        done = subprocess.run([sys.executable, "-c", script, json.dumps(env)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    resp = json.loads(done.stdout)
    assert resp["statusCode"] == 200, resp
    assert resp["body"] == (PAGE_DIR / "index.html").read_text()
    assert f"connect-src 'self' {issuer.url}/v1/token" in resp["headers"]["content-security-policy"]


def test_a_rolling_dev_stack_reads_ecs_not_codedeploy() -> None:
    run = _run_with("dev", ENABLED)
    fn = run.one("aws:lambda/function:Function")
    cfg = Config.from_env(fn.inputs["environment"]["variables"])
    assert (cfg.tier, cfg.strategy, cfg.codedeploy_group) == ("development", "rolling", None)
    assert (cfg.cluster, cfg.service) == ("web-dev", "web-dev")
    policy = json.loads(run.one("aws:iam/role:Role", "web-dev-release-api-role")
                        .inputs["inlinePolicies"][0]["policy"])  # fmt: skip
    sids = {s["Sid"] for s in policy["Statement"]}
    assert "ReadEcsDeployments" in sids and "ReadCodeDeployDeployments" not in sids


def test_handler_policy_is_scoped_to_this_stack() -> None:
    common: dict[str, Any] = dict(
        partition="aws", region="eu-west-1", account="123456789012", stack="prod",
        audit_table_arn="arn:aws:dynamodb:eu-west-1:123456789012:table/web-prod-releases",
        log_group_arn="arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/web-prod-release-api",
        cluster="web-prod", service="web-prod", alarm_names=["web-prod-5xx-rate"],
        codedeploy_application="web-prod", codedeploy_group="web-prod",
    )  # fmt: skip
    doc = handler_policy(secret="deplight/prod/github", strategy=Strategy.CODEDEPLOY, **common)
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    for st in doc["Statement"]:
        assert "*" not in as_list(st["Resource"]), st
        assert not [a for a in as_list(st["Action"]) if a.endswith("*")], st
    assert by_sid["ReadTheGithubToken"]["Resource"] == (
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:deplight/prod/github-??????"
    )
    assert by_sid["WriteAuditRecords"]["Action"] == ["dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert by_sid["WriteAuditRecords"]["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["prod", "prod#rollback-requests"]}
    }
    assert by_sid["ReadCodeDeployDeployments"]["Resource"] == (
        "arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:web-prod/web-prod"
    )
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:deplight/prod/github-AbCdEf"
    doc = handler_policy(secret=arn, strategy=Strategy.ECS_BLUEGREEN, **common)
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["ReadTheGithubToken"]["Resource"] == arn
    assert by_sid["ReadEcsDeployments"]["Resource"][1] == (
        "arn:aws:ecs:eu-west-1:123456789012:service-deployment/web-prod/web-prod/*"
    )
    actions = {a for s in doc["Statement"] for a in as_list(s["Action"])}
    assert not {a for a in actions if a.startswith("dynamodb:Delete") or a == "dynamodb:Scan"}


def as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_function_environment_drops_what_does_not_apply() -> None:
    env = function_environment(
        stack="dev", tier=Tier.DEVELOPMENT, audit_table="t", strategy=Strategy.ROLLING,
        codedeploy_application=None, codedeploy_group=None, cluster="c", service=None,
        alarm_names=[], settings=ReleaseApiSettings(**{**ENABLED, "jwt_audience": ("a", "b")}),
        repository="o/r",
    )  # fmt: skip
    assert "DEPLIGHT_SERVICE" not in env and "DEPLIGHT_PRODUCTION_GROUP" not in env
    assert env["DEPLIGHT_JWT_AUDIENCES"] == "a,b"
    cfg = Config.from_env(env)
    assert cfg.service is None and cfg.audiences == ("a", "b") and cfg.rollback_alarms == ()


def test_code_archive_needs_the_handler(tmp_path: Any) -> None:
    (tmp_path / "other.py").write_text("")
    with pytest.raises(FileNotFoundError, match=r"handler\.py"):
        code_archive(tmp_path)


def test_code_archive_needs_the_pages_files(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    with pytest.raises(FileNotFoundError, match=r"missing from .*: page\.css, page\.js$"):
        code_archive(HANDLER_DIR, tmp_path)


# -- settings -------------------------------------------------------------------------------------


GH = {"github": {"repository": "example-org/example-service", "oidc_provider": "create"}}
"""The keys every stack file must have (no defaults), so only release_api is judged here."""


def errors_of(stack: str, release_api: Any, tier: str = "development") -> list[str]:
    with pytest.raises(SettingsError) as info:
        parse_settings(stack, {**GH, "tier": tier, "release_api": release_api})
    return info.value.errors


def test_enabled_needs_the_identity_provider_origin_and_secret() -> None:
    errors = errors_of("dev", {"enabled": True})
    assert errors == [
        "deplight:release_api.jwt_issuer: expected the OIDC issuer's https URL when "
        "release_api.enabled is true, found None",
        "deplight:release_api.jwt_audience: expected at least one audience when "
        "release_api.enabled is true, found None",
        "deplight:release_api.github_token_secret: expected the Secrets Manager secret holding the "
        "GitHub token when release_api.enabled is true, found None",
        "deplight:release_api.allowed_origin: expected the release page's origin (or "
        "page_client_id: the API serves it) when release_api.enabled is true, found None",
    ]


def test_a_page_audience_must_be_one_the_authorizer_accepts() -> None:
    [error] = errors_of("dev", {**ENABLED, "page_client_id": "spa", "page_audience": "api://other"})
    assert error == ("deplight:release_api.page_audience: expected one of jwt_audience (the "
                     "authorizer accepts only those), found 'api://other'")  # fmt: skip
    run = _run_with("dev", {**ENABLED, "page_client_id": "spa",
                            "page_audience": "api://deplight-release"})  # fmt: skip
    env = run.one("aws:lambda/function:Function").inputs["environment"]["variables"]
    assert Config.from_env(env).page_audience == "api://deplight-release"
    env = _run_with("dev", {**ENABLED, "page_client_id": "spa"}).one(
        "aws:lambda/function:Function").inputs["environment"]["variables"]  # fmt: skip
    assert "DEPLIGHT_PAGE_AUDIENCE" not in env and Config.from_env(env).page_audience is None


def test_a_page_the_api_serves_needs_no_cors() -> None:
    without_origin = {k: v for k, v in ENABLED.items() if k != "allowed_origin"}
    run = _run_with("dev", {**without_origin, "page_client_id": "spa-client"})
    assert run.one("aws:apigatewayv2/api:Api").inputs.get("corsConfiguration") is None


def test_production_also_needs_the_group() -> None:
    [error] = errors_of("prod", ENABLED, tier="production")
    assert error.startswith("deplight:release_api.production_group: expected the group allowed "
                            "to roll back production")  # fmt: skip
    settings = parse_settings("prod", {**GH, "tier": "production",
                                       "release_api": {**ENABLED, "production_group": "g"}})  # fmt: skip
    assert settings.release_api.production_group == "g"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("jwt_issuer", "http://login.example.com", "the OIDC issuer's https URL"),
        ("jwt_issuer", "https://login.example.com/?x=1", "the OIDC issuer's https URL"),
        ("allowed_origin", "*", "the release page's origin"),
        ("allowed_origin", "https://releases.example.com/page", "without a path"),
        ("allowed_origin", "http://releases.example.com", "http only for localhost"),
        ("jwt_audience", "a b", "audiences of 1-200 characters"),
        ("github_token_secret", "not a secret", "a Secrets Manager secret name or ARN"),
        ("github_workflow", "rollback.sh", "a workflow file name"),
        ("github_ref", "../main", "a branch name"),
        ("throttle_rate", 0, "an integer in 1-10000"),
        ("rollback_throttle_burst", "many", "an integer"),
        ("enabled", "yes", "true or false"),
        ("groups_claim", "group s", "a claim name"),
        ("page_client_id", "my client", "the page's public OIDC client id"),
        ("page_scopes", ["email"], "a list that includes openid"),
        ("page_scopes", "openid email", "OAuth scopes of 1-200 printable characters"),
        ("page_scopes", "a,b", "without spaces, commas"),
    ],
)
def test_each_bad_value_names_key_expectation_and_value(key: str, value: Any,
                                                        expected: str) -> None:  # fmt: skip
    errors = errors_of("dev", {**ENABLED, key: value})
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"deplight:release_api.{key}: expected ") and expected in errors[0]
    assert errors[0].endswith(f"found {value!r}")


def test_a_disabled_api_may_be_half_configured_and_local_origins_are_allowed() -> None:
    assert parse_settings("dev", {**GH, "release_api": {"jwt_issuer": "https://idp.example.com"}})
    s = parse_settings("dev", {**GH, "tier": "development", "release_api": {
        **ENABLED, "allowed_origin": "http://localhost:5173", "jwt_audience": "single"}})  # fmt: skip
    assert s.release_api.allowed_origin == "http://localhost:5173"
    assert s.release_api.jwt_audience == ("single",)
    assert errors_of("dev", {**ENABLED, "typo": 1})[0].startswith(
        "deplight:release_api.typo: unknown key"
    )
    assert parse_settings("dev", GH).release_api == ReleaseApiSettings()
