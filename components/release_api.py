"""The ReleaseApi component: the release page and its back end, safe to expose to the internet.

An API Gateway HTTP API whose three data routes (``GET /releases``, ``GET /deployment``,
``POST /rollbacks``) all sit behind a JWT authorizer for the team's OIDC identity provider, a
Python Lambda (the ``release_api/`` package of this repository, zipped by Pulumi), the function's
log group, access logs, throttling on the stage and tighter throttling on ``POST /rollbacks``,
CORS for the release page's origin only, and a role that can read this stack's audit table and
deployment state, write audit records and read one secret (the GitHub token), nothing else.

With ``release_api.page_client_id`` set, the API also serves the release page (``GET /``,
``/index.html``, ``/page.css``, ``/page.js``) and its sign-in settings (``GET /stacks``) without
the authorizer: they hold no data, and the page needs them to sign in
(:mod:`release_api.site`). The page's files go into the zip from ``deplight/page/``.

The function is invoked only by this API (the permission's source ARN is the API's execution
ARN); it has no function URL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.contract import Strategy, Tier
from components.iam import Grants, service_trust_policy, stack_tags
from components.settings import ReleaseApiSettings
from release_api import site

HANDLER_DIR = Path(__file__).resolve().parent.parent / "release_api"
"""The Lambda's code: this repository's ``release_api/`` package."""
PAGE_DIR = Path(__file__).resolve().parent.parent / "deplight" / "page"
"""The release page's files (``deplight dashboard`` serves the same ones)."""
HANDLER = "release_api.handler.lambda_handler"
RUNTIME = "python3.13"
ROLLBACK_ROUTE = "POST /rollbacks"
ROUTES = ("GET /releases", "GET /deployment", ROLLBACK_ROUTE)
"""The data routes, each behind the JWT authorizer."""
PAGE_ROUTES = site.PUBLIC_ROUTES
"""The page's files and its sign-in settings, without an authorizer (only with
``page_client_id``)."""
FUNCTION_TIMEOUT_S = 15
INTEGRATION_TIMEOUT_MS = 20_000
"""Longer than the function may run, shorter than API Gateway's 30 s limit."""

ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime", "routeKey": "$context.routeKey",
    "status": "$context.status", "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency", "caller": "$context.authorizer.claims.sub",
    "authorizerError": "$context.authorizer.error",
    "integrationError": "$context.integrationErrorMessage", "userAgent": "$context.identity.userAgent",
}, separators=(",", ":"))  # fmt: skip
"""One JSON line per request: who (the token's ``sub``), which route, what status."""


GRANTS = Grants(
    preview_reads=(
        "apigateway:GET",
        "lambda:GetFunction",
        "lambda:GetFunctionCodeSigningConfig",
        "lambda:GetPolicy",
        "lambda:ListVersionsByFunction",
    ),
)
"""The release API is changed by an administrator's ``pulumi up`` only, like the CI roles: its
Lambda holds the GitHub dispatch token, so CI (which runs repository code) gets no write on it
and its role carries no permissions boundary that CI could work under. PR previews may read it
(``pulumi preview --refresh``)."""


def function_name(prefix: str) -> str:
    return f"{prefix}-release-api"


def code_archive(directory: Path = HANDLER_DIR, page_dir: Path = PAGE_DIR) -> pulumi.AssetArchive:
    """The package's modules under ``release_api/`` in the zip (the handler imports itself as
    ``release_api.*``), and the release page's files under ``release_api/static/`` (where
    :mod:`release_api.site` reads them). Only ``*.py`` and the page's files: no ``__pycache__``,
    so the archive's hash changes only when the code or the page does."""
    files = sorted(directory.glob("*.py"))
    if not (directory / "handler.py").is_file():
        raise FileNotFoundError(f"the release API's handler is missing: {directory / 'handler.py'}")
    missing = [name for name in site.PAGE_FILES if not (page_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"the release page's files are missing from {page_dir}: "
                                f"{', '.join(missing)}")  # fmt: skip
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {
        f"release_api/{p.name}": pulumi.FileAsset(str(p)) for p in files
    }
    static = site.STATIC_DIR.name
    for name in site.PAGE_FILES:
        assets[f"release_api/{static}/{name}"] = pulumi.FileAsset(str(page_dir / name))
    return pulumi.AssetArchive(assets)


def route_name(key: str) -> str:
    """``GET /releases`` -> ``get-releases``, ``GET /page.css`` -> ``get-page-css``, ``GET /`` ->
    ``get-root``."""
    method, path = key.split(" ", 1)
    return f"{method.lower()}-{path.strip('/').replace('.', '-').replace('/', '-') or 'root'}"


def secret_resource(secret: str, *, partition: str, region: str, account: str) -> str:
    """The secret's ARN for IAM: as given, or from its name (Secrets Manager appends ``-`` and six
    random characters to every secret's ARN)."""
    if secret.startswith("arn:"):
        return secret
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{secret}-??????"


def handler_policy(
    *, partition: str, region: str, account: str, stack: str, audit_table_arn: str,
    log_group_arn: str, secret: str, strategy: Strategy, codedeploy_application: str | None,
    codedeploy_group: str | None, cluster: str, service: str | None, alarm_names: Sequence[str],
    kms_key_arn: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """What the handler does, scoped to this stack's ARNs; no statement uses ``Resource: *``.

    DynamoDB access is further limited to this stack's partitions (``dynamodb:LeadingKeys``):
    the release log (``<stack>``) and the request ids (``<stack>#rollback-requests``).
    """
    r = f"{region}:{account}"
    partitions = [stack, f"{stack}#rollback-requests"]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadTheAuditTable",
            "Effect": "Allow",
            "Action": ["dynamodb:Query", "dynamodb:GetItem"],
            "Resource": audit_table_arn,
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": partitions}},
        },
        {
            # Put and Update, also inside TransactWriteItems; never Delete.
            "Sid": "WriteAuditRecords",
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Resource": audit_table_arn,
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": partitions}},
        },
        {
            "Sid": "ReadTheGithubToken",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": secret_resource(
                secret, partition=partition, region=region, account=account
            ),
        },
        {
            "Sid": "WriteItsLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{log_group_arn}:*",
        },
    ]
    if kms_key_arn:
        statements.append({
            # The audit table is encrypted with the stack's own key (production).
            "Sid": "UseTheStackKeyThroughDynamoDB",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": kms_key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}},
        })  # fmt: skip
    if alarm_names:
        statements.append({
            "Sid": "ReadTheRollbackAlarms",
            "Effect": "Allow",
            "Action": "cloudwatch:DescribeAlarms",
            "Resource": [f"arn:{partition}:cloudwatch:{r}:alarm:{n}" for n in alarm_names],
        })  # fmt: skip
    if strategy is Strategy.CODEDEPLOY and codedeploy_application and codedeploy_group:
        statements.append({
            "Sid": "ReadCodeDeployDeployments",
            "Effect": "Allow",
            "Action": ["codedeploy:ListDeployments", "codedeploy:GetDeployment",
                       "codedeploy:ListDeploymentTargets", "codedeploy:GetDeploymentTarget"],
            "Resource": f"arn:{partition}:codedeploy:{r}:deploymentgroup:"
                        f"{codedeploy_application}/{codedeploy_group}",
        })  # fmt: skip
    elif service:
        statements.append({
            "Sid": "ReadEcsDeployments",
            "Effect": "Allow",
            "Action": ["ecs:DescribeServices", "ecs:ListServiceDeployments",
                       "ecs:DescribeServiceDeployments"],
            "Resource": [f"arn:{partition}:ecs:{r}:service/{cluster}/{service}",
                         f"arn:{partition}:ecs:{r}:service-deployment/{cluster}/{service}/*"],
        })  # fmt: skip
    return {"Version": "2012-10-17", "Statement": statements}


def function_environment(
    *, stack: str, tier: Tier, audit_table: str, strategy: Strategy,
    codedeploy_application: str | None, codedeploy_group: str | None, cluster: str,
    service: str | None, alarm_names: Sequence[str], settings: ReleaseApiSettings,
    repository: str,
) -> dict[str, str]:  # fmt: skip
    """The handler's configuration (``release_api.config.Config.from_env`` reads it). Plain
    values only: the GitHub token stays in Secrets Manager and is read at run time."""
    env = {
        "DEPLIGHT_STACK": stack,
        "DEPLIGHT_TIER": tier.value,
        "DEPLIGHT_AUDIT_TABLE": audit_table,
        "DEPLIGHT_STRATEGY": strategy.value,
        "DEPLIGHT_CLUSTER": cluster,
        "DEPLIGHT_SERVICE": service or "",
        "DEPLIGHT_ROLLBACK_ALARMS": ",".join(alarm_names),
        "DEPLIGHT_JWT_ISSUER": settings.jwt_issuer or "",
        "DEPLIGHT_JWT_AUDIENCES": ",".join(settings.jwt_audience),
        "DEPLIGHT_PRODUCTION_GROUP": settings.production_group or "",
        "DEPLIGHT_GROUPS_CLAIM": settings.groups_claim,
        "DEPLIGHT_PAGE_CLIENT_ID": settings.page_client_id or "",
        "DEPLIGHT_PAGE_SCOPES": ",".join(settings.page_scopes) if settings.page_client_id else "",
        **(
            {"DEPLIGHT_PAGE_AUDIENCE": settings.page_audience}
            if settings.page_client_id and settings.page_audience
            else {}
        ),
        "DEPLIGHT_GITHUB_REPOSITORY": repository,
        "DEPLIGHT_GITHUB_WORKFLOW": settings.github_workflow,
        "DEPLIGHT_GITHUB_REF": settings.github_ref,
        "DEPLIGHT_GITHUB_TOKEN_SECRET": settings.github_token_secret or "",
    }
    if strategy is Strategy.CODEDEPLOY and codedeploy_application and codedeploy_group:
        env["DEPLIGHT_CODEDEPLOY_APPLICATION"] = codedeploy_application
        env["DEPLIGHT_CODEDEPLOY_GROUP"] = codedeploy_group
    return {k: v for k, v in env.items() if v}


@dataclass(frozen=True, kw_only=True)
class ReleaseApiArgs:
    """Inputs of :class:`ReleaseApi`."""

    prefix: str
    """Name prefix (``<service>-<stack>``)."""
    stack: str
    """The stack (environment) the API serves."""
    tier: Tier
    """``production`` makes rollbacks need the group and the confirmation text."""
    region: str
    """Region of the stack."""
    settings: ReleaseApiSettings
    """Issuer, audience, origin, token secret, throttling."""
    repository: str
    """``owner/name`` of the repository whose ``rollback.yml`` is dispatched."""
    log_retention_days: int
    """Retention of the function's and the access log groups."""
    log_kms_key_arn: pulumi.Input[str] | None = None
    """KMS key for the log groups (optional)."""
    audit_table_name: pulumi.Input[str]
    """The stack's release/rollback audit table."""
    audit_table_arn: pulumi.Input[str]
    """Its ARN."""
    strategy: Strategy
    """How the stack releases: decides where the deployment in progress is read."""
    codedeploy_application: pulumi.Input[str] | None = None
    """CodeDeploy application (strategy codedeploy)."""
    codedeploy_group: pulumi.Input[str] | None = None
    """CodeDeploy deployment group (strategy codedeploy)."""
    cluster_name: pulumi.Input[str]
    """ECS cluster."""
    service_name: pulumi.Input[str] | None = None
    """ECS service (``None`` before the first release)."""
    rollback_alarm_names: pulumi.Input[Sequence[str]]
    """The alarms that stop a release: their states are shown with the deployment."""
    audit_kms_key_arn: pulumi.Input[str] | None = None
    """The stack's customer-managed key of the audit table (production), which the Lambda then
    uses through DynamoDB."""


class ReleaseApi(pulumi.ComponentResource):
    """API Gateway HTTP API + JWT authorizer + Lambda for the release page (see module doc)."""

    api_url: pulumi.Output[str]
    """Base URL of the API (the ``$default`` stage's invoke URL)."""
    api_id: pulumi.Output[str]
    """The HTTP API's id."""
    function_name: pulumi.Output[str]
    """The Lambda function."""
    role_arn: pulumi.Output[str]
    """The function's role."""
    access_log_group_name: pulumi.Output[str]
    """Where API Gateway writes one line per request."""

    def __init__(
        self, name: str, args: ReleaseApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("deplight:releaseapi:ReleaseApi", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        tags = stack_tags(args.prefix)
        fn_name = function_name(args.prefix)
        account = aws.get_caller_identity().account_id
        partition = aws.get_partition().partition

        logs = aws.cloudwatch.LogGroup(
            f"{name}-release-api-logs",
            name=f"/aws/lambda/{fn_name}",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.log_kms_key_arn,
            tags=tags,
            opts=child,
        )
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-release-api-access-logs",
            name=f"/aws/apigateway/{fn_name}",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.log_kms_key_arn,
            tags=tags,
            opts=child,
        )

        codedeploy = args.strategy is Strategy.CODEDEPLOY
        role = aws.iam.Role(
            f"{name}-release-api-role",
            name=fn_name,
            description=f"The release API's Lambda for stack {args.stack}",
            assume_role_policy=service_trust_policy("lambda.amazonaws.com"),
            inline_policies=[
                aws.iam.RoleInlinePolicyArgs(
                    name="release-api",
                    policy=pulumi.Output.all(
                        args.audit_table_arn,
                        logs.arn,
                        args.codedeploy_application if codedeploy else None,
                        args.codedeploy_group if codedeploy else None,
                        args.cluster_name,
                        args.service_name,
                        args.rollback_alarm_names,
                        args.audit_kms_key_arn,
                    ).apply(
                        lambda v: json.dumps(
                            handler_policy(
                                partition=partition,
                                region=args.region,
                                account=account,
                                stack=args.stack,
                                audit_table_arn=v[0],
                                log_group_arn=v[1],
                                secret=s.github_token_secret or "",
                                strategy=args.strategy,
                                codedeploy_application=v[2],
                                codedeploy_group=v[3],
                                cluster=v[4],
                                service=v[5],
                                alarm_names=list(v[6] or []),
                                kms_key_arn=v[7],
                            )
                        )
                    ),
                )
            ],  # fmt: skip
            tags=tags,
            opts=child,
        )
        function = aws.lambda_.Function(
            f"{name}-release-api",
            name=fn_name,
            description=f"Release API of stack {args.stack}: release log, deployment, rollbacks",
            role=role.arn,
            runtime=RUNTIME,
            handler=HANDLER,
            code=code_archive(),
            architectures=["arm64"],
            memory_size=256,
            timeout=FUNCTION_TIMEOUT_S,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables=pulumi.Output.all(
                    args.audit_table_name,
                    args.codedeploy_application if codedeploy else None,
                    args.codedeploy_group if codedeploy else None,
                    args.cluster_name,
                    args.service_name,
                    args.rollback_alarm_names,
                ).apply(
                    lambda v: function_environment(
                        stack=args.stack,
                        tier=args.tier,
                        audit_table=v[0],
                        strategy=args.strategy,
                        codedeploy_application=v[1],
                        codedeploy_group=v[2],
                        cluster=v[3],
                        service=v[4],
                        alarm_names=list(v[5] or []),
                        settings=s,
                        repository=args.repository,
                    )
                )
            ),  # fmt: skip
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="JSON", log_group=logs.name
            ),
            tags=tags,
            # the log group first: otherwise Lambda creates it on first write, without retention
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs]),
        )

        api = aws.apigatewayv2.Api(
            f"{name}-release-api-http",
            name=fn_name,
            protocol_type="HTTP",
            description=f"Release API of stack {args.stack} "
            + (
                "(data routes behind the JWT authorizer; the release page and its sign-in "
                "settings public)"
                if s.page_client_id
                else "(every route behind the JWT authorizer)"
            ),
            # Only for a page hosted on another origin: the page the API serves is same-origin.
            cors_configuration=aws.apigatewayv2.ApiCorsConfigurationArgs(
                allow_origins=[s.allowed_origin],
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type"],
                max_age=600,
            )
            if s.allowed_origin
            else None,
            tags=tags,
            opts=child,
        )
        authorizer = aws.apigatewayv2.Authorizer(
            f"{name}-release-api-jwt",
            api_id=api.id,
            name=f"{fn_name}-jwt",
            authorizer_type="JWT",
            identity_sources=["$request.header.Authorization"],
            jwt_configuration=aws.apigatewayv2.AuthorizerJwtConfigurationArgs(
                issuer=s.jwt_issuer, audiences=list(s.jwt_audience)
            ),
            opts=child,
        )
        integration = aws.apigatewayv2.Integration(
            f"{name}-release-api-lambda",
            api_id=api.id,
            integration_type="AWS_PROXY",
            integration_method="POST",
            integration_uri=function.invoke_arn,
            payload_format_version="2.0",
            timeout_milliseconds=INTEGRATION_TIMEOUT_MS,
            opts=child,
        )
        target = integration.id.apply(lambda i: f"integrations/{i}")
        routes = [
            aws.apigatewayv2.Route(
                f"{name}-release-api-{route_name(key)}",
                api_id=api.id,
                route_key=key,
                authorization_type="JWT",
                authorizer_id=authorizer.id,
                target=target,
                opts=child,
            )
            for key in ROUTES
        ]
        if s.page_client_id:
            # The page's files and sign-in settings: no data, and needed before a token exists.
            routes += [
                aws.apigatewayv2.Route(
                    f"{name}-release-api-{route_name(key)}",
                    api_id=api.id,
                    route_key=key,
                    authorization_type="NONE",
                    target=target,
                    opts=child,
                )
                for key in PAGE_ROUTES
            ]
        stage = aws.apigatewayv2.Stage(
            f"{name}-release-api-stage",
            api_id=api.id,
            name="$default",
            auto_deploy=True,
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=access_logs.arn, format=ACCESS_LOG_FORMAT
            ),
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_rate_limit=s.throttle_rate,
                throttling_burst_limit=s.throttle_burst,
                detailed_metrics_enabled=True,
            ),
            route_settings=[
                aws.apigatewayv2.StageRouteSettingArgs(
                    route_key=ROLLBACK_ROUTE,
                    throttling_rate_limit=s.rollback_throttle_rate,
                    throttling_burst_limit=s.rollback_throttle_burst,
                    detailed_metrics_enabled=True,
                )
            ],
            tags=tags,
            # route settings name routes, which must exist first
            opts=pulumi.ResourceOptions(parent=self, depends_on=routes),
        )
        aws.lambda_.Permission(
            f"{name}-release-api-invoke",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="apigateway.amazonaws.com",
            # this API only, any stage and route: not any API Gateway in any account
            source_arn=api.execution_arn.apply(lambda arn: f"{arn}/*"),
            opts=child,
        )

        self.api_url = stage.invoke_url
        self.api_id = api.id
        self.function_name = function.name
        self.role_arn = role.arn
        self.access_log_group_name = access_logs.name
        self.register_outputs(
            {
                "api_url": self.api_url,
                "api_id": self.api_id,
                "function_name": self.function_name,
                "role_arn": self.role_arn,
                "access_log_group_name": self.access_log_group_name,
            }
        )
