"""Settings validation: every rule, good and bad, and all problems reported at once."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from components import settings as settings_module
from components.contract import ReleaseKind, Strategy, Tier
from components.settings import FARGATE_SIZES, NatStrategy, SettingsError, TrafficShift
from deplight.harness import read_stack_config, settings_for

XRAY_IMAGE = "public.ecr.aws/xray/aws-xray-daemon@sha256:" + "ab" * 32
PROVIDER_ARN = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
GITHUB = {"repository": "example-org/example-service", "oidc_provider": "create"}
"""The two github keys every stack must set; the tests below add them unless they test them."""


def parse_settings(stack: str, raw: dict[str, Any], **kwargs: Any) -> Any:
    gh = raw.get("github")
    if isinstance(gh, dict) or gh is None:
        raw = {**raw, "github": {**GITHUB, **(gh or {})}}
    return settings_module.parse_settings(stack, raw, **kwargs)


def errors_of(raw: dict[str, Any], stack: str = "dev") -> list[str]:
    with pytest.raises(SettingsError) as info:
        parse_settings(stack, raw)
    return info.value.errors


def one_error(raw: dict[str, Any]) -> str:
    errs = errors_of(raw)
    assert len(errs) == 1, errs
    return errs[0]


def test_minimal_config_takes_tier_defaults() -> None:
    dev = parse_settings("dev", {"tier": "development", "image_tag": "3f2a9c1"})
    prod = parse_settings("prod", {"tier": "production", "image_tag": "3f2a9c1"})
    assert (dev.service.cpu, dev.service.memory, dev.service.desired_count) == (256, 512, 1)
    assert (prod.service.cpu, prod.service.memory, prod.service.min_count) == (1024, 2048, 3)
    assert dev.network.nat is NatStrategy.SINGLE and prod.network.nat is NatStrategy.PER_AZ
    assert dev.network.az_count == 2 and prod.network.az_count == 3
    assert dev.deploy.strategy is Strategy.ROLLING and prod.deploy.strategy is Strategy.CODEDEPLOY
    assert prod.deploy.traffic is TrafficShift.CANARY
    assert dev.observability.log_retention_days == 7
    # a year in production (CKV_AWS_338), flow logs too
    assert prod.observability.log_retention_days == 365
    assert prod.network.flow_logs_retention_days == 365
    # production: own KMS key, ALB access logs, WAF, read-only root filesystem; none in dev
    assert prod.observability.customer_managed_key and not dev.observability.customer_managed_key
    assert prod.ingress.access_logs and prod.ingress.waf
    assert not dev.ingress.access_logs and not dev.ingress.waf
    assert prod.service.readonly_root_filesystem and not dev.service.readonly_root_filesystem
    assert prod.ingress.deletion_protection and not dev.ingress.deletion_protection
    assert dev.prefix == "web-dev" and prod.prefix == "web-prod"
    assert dev.github.subjects == ("environment:dev",)


def test_missing_tier_defaults_to_production_the_safe_profile() -> None:
    s = parse_settings("anything", {"image_tag": "abcdef0"})
    assert s.tier is Tier.PRODUCTION
    assert s.network.nat is NatStrategy.PER_AZ


# The settings objects a tier's table fills, by the table's section names.
TIER_SECTIONS: dict[str, type] = {
    "service": settings_module.ServiceSettings, "network": settings_module.NetworkSettings,
    "deploy": settings_module.DeploySettings, "ingress": settings_module.IngressSettings,
    "observability": settings_module.ObservabilitySettings,
    "postgres": settings_module.PostgresSettings, "cache": settings_module.CacheSettings,
}  # fmt: skip


def tier_table(tier: Tier) -> dict[str, dict[str, Any]]:
    """Both tables of a tier (their section names do not overlap)."""
    main, data = settings_module.TIER_DEFAULTS[tier], settings_module.DATA_TIER_DEFAULTS[tier]
    assert not set(main) & set(data)
    return {**main, **data}


def test_every_tier_lists_the_same_keys_and_only_keys_whose_default_differs() -> None:
    dev, prod = tier_table(Tier.DEVELOPMENT), tier_table(Tier.PRODUCTION)
    assert set(dev) == set(prod) == set(TIER_SECTIONS)
    for section in TIER_SECTIONS:
        assert set(dev[section]) == set(prod[section]), (
            f"{section}: a key only one tier lists takes the field's default in the other "
            f"(development only: {sorted(set(dev[section]) - set(prod[section]))}, "
            f"production only: {sorted(set(prod[section]) - set(dev[section]))})"
        )
    same = [f"{s}.{k}: {v!r}" for s in dev for k, v in dev[s].items() if prod[s][k] == v]
    assert same == [], "the same in every tier: such a default belongs on the field alone"


@pytest.mark.parametrize("section", sorted(TIER_SECTIONS))
def test_a_field_of_a_tier_key_defaults_to_the_production_table_never_to_its_own(
    section: str,
) -> None:
    fields = {f.name: f for f in dataclasses.fields(TIER_SECTIONS[section])}
    for key, value in tier_table(Tier.PRODUCTION)[section].items():
        assert key in fields, f"{section}.{key}: not a field of {TIER_SECTIONS[section].__name__}"
        default = fields[key].default
        assert (type(default), default) == (type(value), value), (
            f"{section}.{key}: the field says {default!r}, the production tier {value!r}"
        )


def test_settings_built_directly_are_what_a_stack_without_a_tier_gets() -> None:
    """A settings object built in a test or a tool and a parsed stack that names no tier agree;
    the development tier differs from them by exactly its table."""
    untiered = parse_settings("s", {})
    dev = parse_settings("s", {"tier": "development"})
    development = tier_table(Tier.DEVELOPMENT)
    for section, cls in TIER_SECTIONS.items():
        parent = "data" if section in ("postgres", "cache") else ""
        got, got_dev = (getattr(getattr(s, parent) if parent else s, section)
                        for s in (untiered, dev))  # fmt: skip
        assert got == cls(), section
        assert got_dev == dataclasses.replace(cls(), **development[section]), section
    assert untiered.data == settings_module.DataSettings()
    assert untiered.notifications == dev.notifications == settings_module.NotificationSettings()
    assert untiered.release_api == dev.release_api == settings_module.ReleaseApiSettings()


def test_settings_are_frozen() -> None:
    s = parse_settings("dev", {"image_tag": "abcdef0"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.image_tag = "0000000"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.service.cpu = 512  # type: ignore[misc]


def test_stack_values_override_defaults_and_strings_from_cli_are_coerced() -> None:
    s = parse_settings(
        "dev",
        {
            "tier": "development",
            "image_tag": "0123456789abcdef0123456789abcdef01234567",
            "schema_version": "7",
            "service": {
                "cpu": "512",
                "memory": 1024,
                "xray": "true",
                "xray_daemon_image": XRAY_IMAGE,
            },
            "network": {"nat": "none", "az_count": 1},
        },
    )
    assert s.image_tag == "0123456789abcdef0123456789abcdef01234567"
    assert s.schema_version == 7
    assert (s.service.cpu, s.service.memory, s.service.xray) == (512, 1024, True)
    assert s.network.nat is NatStrategy.NONE and s.network.az_count == 1


def test_object_config_as_json_string_is_accepted() -> None:
    s = parse_settings("dev", {"service": '{"cpu": 512, "memory": 2048}', "image_tag": "abcdef0"})
    assert (s.service.cpu, s.service.memory) == (512, 2048)


def test_no_image_tag_means_bootstrap() -> None:
    s = parse_settings("dev", {})
    assert s.image_tag is None and s.bootstrap


def test_release_kind() -> None:
    assert parse_settings("dev", {}).release_kind is ReleaseKind.DEPLOY
    s = parse_settings("dev", {"release": {"kind": "rollback"}})
    assert s.release_kind is ReleaseKind.ROLLBACK
    assert "deplight:release.kind" in one_error({"release": {"kind": "revert"}})


@pytest.mark.parametrize(
    ("raw", "key", "fragment"),
    [
        ({"tier": "staging"}, "deplight:tier", "development, production"),
        ({"image_tag": "latest"}, "deplight:image_tag", "7-40 lowercase hex"),
        ({"image_tag": "abc12"}, "deplight:image_tag", "7-40"),
        ({"image_tag": "ABCDEF0"}, "deplight:image_tag", "lowercase hex"),
        ({"image_tag": "a" * 41}, "deplight:image_tag", "7-40"),
        ({"schema_version": -1}, "deplight:schema_version", "non-negative integer"),
        ({"service": {"container_port": 0}}, "deplight:service.container_port", "1-65535"),
        ({"service": {"container_port": 70000}}, "deplight:service.container_port", "1-65535"),
        ({"service": {"container_port": "http"}}, "deplight:service.container_port", "integer"),
        ({"service": {"health_check_path": "health"}}, "deplight:service.health_check_path",
         "starting with '/'"),
        ({"service": {"cpu": 300}}, "deplight:service.cpu", "valid Fargate CPU"),
        ({"service": {"cpu": 256, "memory": 4096}}, "deplight:service.memory",
         "allows with cpu 256"),
        ({"service": {"name": "Web_App"}}, "deplight:service.name", "lowercase name"),
        ({"service": {"min_count": 5, "max_count": 2}}, "deplight:service.min_count",
         "at most max_count"),
        ({"service": {"desired_count": 9, "min_count": 1, "max_count": 4}},
         "deplight:service.desired_count", "between min_count"),
        ({"service": {"secrets": {"DB": "not-an-arn"}}}, "deplight:service.secrets.DB",
         "Secrets Manager secret ARN"),
        ({"service": {"environment": {"1BAD": "x"}}}, "deplight:service.environment.1BAD",
         "environment variable name"),
        ({"service": {"xray": "maybe"}}, "deplight:service.xray", "true or false"),
        ({"service": {"xray": True}}, "deplight:service.xray_daemon_image", "digest-pinned"),
        ({"service": {"xray": True, "xray_daemon_image": "amazon/aws-xray-daemon:3.3.14"}},
         "deplight:service.xray_daemon_image", "pinned by digest"),
        ({"observability": {"audit_deletion_protection": "no"}},
         "deplight:observability.audit_deletion_protection", "true or false"),
        ({"network": {"cidr": "8.8.0.0/16"}}, "deplight:network.cidr", "private"),
        ({"network": {"cidr": "10.0.0.0/28"}}, "deplight:network.cidr", "/16 and /24"),
        ({"network": {"cidr": "10.0.0.1/16"}}, "deplight:network.cidr", "IPv4 CIDR"),
        ({"network": {"cidr": "10.0.0.0/24", "az_count": 6}}, "deplight:network.cidr",
         "room for 12 subnets"),
        ({"network": {"az_count": 0}}, "deplight:network.az_count", "1-6"),
        ({"network": {"az_count": 7}}, "deplight:network.az_count", "1-6"),
        ({"network": {"nat": "double"}}, "deplight:network.nat", "none, single, per_az"),
        ({"network": {"flow_logs_retention_days": 10}}, "deplight:network.flow_logs_retention_days",
         "CloudWatch retention value"),
        ({"deploy": {"strategy": "canary"}}, "deplight:deploy.strategy",
         "rolling, codedeploy, ecs_bluegreen"),
        ({"deploy": {"traffic": "sometimes"}}, "deplight:deploy.traffic", "all_at_once"),
        ({"deploy": {"percent": 100}}, "deplight:deploy.percent", "1-99"),
        ({"deploy": {"blue_termination_minutes": 3000}},
         "deplight:deploy.blue_termination_minutes", "0-2880"),
        ({"ingress": {"certificate_arn": "arn:aws:iam::123:cert"}},
         "deplight:ingress.certificate_arn", "ACM certificate ARN"),
        ({"ingress": {"test_port": 443}}, "deplight:ingress.test_port", "other than 80 and 443"),
        ({"ingress": {"test_port": 80}}, "deplight:ingress.test_port", "other than 80 and 443"),
        ({"ingress": {"test_cidrs": ["0.0.0.0/0"]}}, "deplight:ingress.test_cidrs",
         "not the whole internet"),
        ({"ingress": {"test_cidrs": ["10.0.0.300/8"]}}, "deplight:ingress.test_cidrs", "CIDRs"),
        ({"ingress": {"waf": "on"}}, "deplight:ingress.waf", "true or false"),
        ({"ingress": {"waf_rate_limit": 5}}, "deplight:ingress.waf_rate_limit", "10-2000000000"),
        ({"ingress": {"access_logs": 1}}, "deplight:ingress.access_logs", "true or false"),
        ({"ingress": {"access_logs_retention_days": 0}},
         "deplight:ingress.access_logs_retention_days", "1-3650"),
        ({"service": {"readonly_root_filesystem": "yes"}},
         "deplight:service.readonly_root_filesystem", "true or false"),
        ({"observability": {"customer_managed_key": "aws"}},
         "deplight:observability.customer_managed_key", "true or false"),
        ({"observability": {"log_retention_days": 0}},
         "deplight:observability.log_retention_days", "CloudWatch retention value"),
        ({"observability": {"xray_sampling_rate": 1.5}},
         "deplight:observability.xray_sampling_rate", "0.0-1.0"),
        ({"observability": {"alert_email": "oncall"}}, "deplight:observability.alert_email",
         "e-mail"),
        ({"github": {"repository": "just-a-name"}}, "deplight:github.repository", "owner/name"),
        ({"github": {"repository": "*/repo"}}, "deplight:github.repository", "no wildcards"),
        ({"github": {"subjects": ["*"]}}, "deplight:github.subjects", "no bare *"),
        ({"github": {"subjects": []}}, "deplight:github.subjects", "at least one"),
        ({"github": {"oidc_provider": "arn:aws:iam::123456789012:oidc-provider/example.com"}},
         "deplight:github.oidc_provider", "token.actions.githubusercontent.com"),
        ({"github": {"subjects": ["pull_request"]}}, "deplight:github.subjects",
         "unreviewed code"),
        ({"tier": "production", "github": {"subjects": ["environment:prod", "ref:refs/heads/main"]}},
         "deplight:github.subjects", "only environment:<name> subjects in a production-tier"),
        ({"tier": "production", "github": {"subjects": ["ref:refs/tags/v*"]}},
         "deplight:github.subjects", "required reviewers are the gate"),
        ({"github": {"auto_rollback": "sometimes"}}, "deplight:github.auto_rollback",
         "true or false"),
        ({"servce": {}}, "deplight:servce", "unknown key"),
        ({"service": {"cpus": 256}}, "deplight:service.cpus", "unknown key"),
        ({"network": "big"}, "deplight:network", "object"),
    ],
)  # fmt: skip
def test_each_rule_names_key_expectation_and_value(raw: dict[str, Any], key: str,
                                                   fragment: str) -> None:  # fmt: skip
    err = one_error(raw)
    assert err.startswith(f"{key}:"), err
    assert fragment in err, err
    if "unknown key" not in err:
        assert "found" in err, err


def test_good_values_of_each_rule_pass() -> None:
    s = parse_settings(
        "prod",
        {
            "service": {
                "cpu": 4096, "memory": 30720, "container_port": 65535, "health_check_path": "/",
                "secrets": {
                    "A": "arn:aws:ssm:us-east-1:123456789012:parameter/web/a",
                    "B": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:b-XyZ12",
                },
            },
            "network": {"cidr": "192.168.0.0/24", "az_count": 3},
            "ingress": {"test_cidrs": ["203.0.113.0/24", "2001:db8::/32"], "test_port": 9000},
            "github": {"subjects": ["environment:prod", "environment:prod-hotfix"],
                       "oidc_provider": PROVIDER_ARN},
        },
    )  # fmt: skip
    assert s.network.subnet_prefix == 27
    assert s.ingress.test_cidrs == ("203.0.113.0/24", "2001:db8::/32")


@pytest.mark.parametrize("cpu", sorted(FARGATE_SIZES))
def test_every_fargate_pair_is_accepted_and_neighbours_are_not(cpu: int) -> None:
    for memory in FARGATE_SIZES[cpu]:
        parse_settings("dev", {"service": {"cpu": cpu, "memory": memory}})
    below = FARGATE_SIZES[cpu][0] - 1
    assert "deplight:service.memory" in one_error({"service": {"cpu": cpu, "memory": below}})


def test_all_problems_are_reported_at_once() -> None:
    errs = errors_of(
        {
            "image_tag": "latest",
            "service": {"cpu": 256, "memory": 4096, "health_check_path": "x", "container_port": 0},
            "network": {"cidr": "8.8.8.0/24", "az_count": 9, "nat": "maybe"},
            "ingress": {"test_port": 443},
        }
    )
    keys = {e.split(":", 2)[0] + ":" + e.split(":", 2)[1] for e in errs}
    for key in (
        "deplight:image_tag", "deplight:service.memory", "deplight:service.health_check_path",
        "deplight:service.container_port", "deplight:network.cidr", "deplight:network.az_count",
        "deplight:network.nat", "deplight:ingress.test_port",
    ):  # fmt: skip
        assert key in keys, (key, errs)
    assert str(len(errs)) in str(SettingsError(errs))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_committed_stack_files_are_valid(stack: str) -> None:
    s = settings_for(stack, read_stack_config(stack))
    assert s.stack == stack and s.image_tag is not None


def test_committed_prod_differs_from_dev_only_as_data() -> None:
    dev = settings_for("dev", read_stack_config("dev"))
    prod = settings_for("prod", read_stack_config("prod"))
    assert dev.tier is Tier.DEVELOPMENT and prod.tier is Tier.PRODUCTION
    assert prod.ingress.certificate_arn and not dev.ingress.certificate_arn
    assert prod.service.min_count >= 2 and prod.network.az_count >= 2


def test_repository_and_oidc_provider_have_no_default() -> None:
    found = []
    for raw in ({}, {"github": {}}):
        with pytest.raises(SettingsError) as info:
            settings_module.parse_settings("dev", raw)
        found.append(info.value.errors)
    for errors in found:
        assert any(e.startswith("deplight:github.repository:") and "no default" in e
                   for e in errors), errors  # fmt: skip
        assert any(e.startswith("deplight:github.oidc_provider:") and "'create'" in e
                   for e in errors), errors  # fmt: skip


def test_refs_are_allowed_outside_production_and_the_rollback_environment_is_added() -> None:
    dev = parse_settings("dev", {"tier": "development", "github": {
        "subjects": ["environment:dev", "ref:refs/heads/main", "ref:refs/tags/v*"]}})  # fmt: skip
    assert dev.deploy_subjects == ("environment:dev", "ref:refs/heads/main", "ref:refs/tags/v*",
                                   "environment:dev-rollback")  # fmt: skip
    prod = parse_settings("prod", {"github": {"oidc_provider": PROVIDER_ARN}})
    assert prod.rollback_environment == "prod-rollback"
    assert prod.deploy_subjects == ("environment:prod", "environment:prod-rollback")
    assert not prod.github.creates_oidc_provider
    off = parse_settings("prod", {"github": {"auto_rollback": False}})
    assert off.rollback_environment is None and off.deploy_subjects == ("environment:prod",)


def test_a_secret_config_key_is_refused_without_its_value() -> None:
    raw = {"service": {"environment": {"API_KEY": "s3cr3t-value"}, "cpu": "s3cr3t-cpu"}}
    with pytest.raises(SettingsError) as info:
        parse_settings("dev", raw, secret_keys=["service"])
    (err,) = info.value.errors
    assert err.startswith("deplight:service:") and "deplight:service.secrets" in err, err
    assert "Secrets Manager" in err and "found a secret" in err
    assert "s3cr3t" not in str(info.value)


def test_errors_never_echo_a_value_that_may_be_a_secret() -> None:
    raw = {"service": {"secrets": {"DB": "postgres://admin:hunter2@db"},
                       "environment": {"TOKEN": {"nested": "hunter2"}}}}  # fmt: skip
    errs = errors_of(raw)
    assert {e.split(":")[1] for e in errs} == {"service.secrets.DB", "service.environment.TOKEN"}
    assert all("hunter2" not in e and "not shown" in e for e in errs), errs


def test_committed_stacks_are_a_valid_set_for_one_account() -> None:
    """One stack creates the account's GitHub OIDC provider; the others reference its ARN."""
    from tests.conftest import COMMITTED_STACKS

    parsed = {s: settings_for(s, read_stack_config(s)) for s in COMMITTED_STACKS}
    creators = [s for s, p in parsed.items() if p.github.creates_oidc_provider]
    assert len(creators) == 1, creators
    arns = {p.github.oidc_provider for s, p in parsed.items() if s not in creators}
    assert arns == {PROVIDER_ARN}, arns


@pytest.mark.parametrize(
    "subject",
    ["*", " * ", "", "environment:*", "ref:refs/heads/main:*", "pull_request:*", "repo:org/app:*",
     "environment:prod:*", "ref:refs/heads/*:*"],
)  # fmt: skip
def test_wildcard_subjects_are_refused(subject: str) -> None:
    err = one_error({"github": {"subjects": [subject]}})
    assert err.startswith("deplight:github.subjects:") and "no bare *" in err, err
