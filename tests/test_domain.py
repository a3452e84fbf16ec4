"""``ingress.domain`` + ``ingress.hosted_zone_id``: a DNS-validated ACM certificate and an alias."""

from __future__ import annotations

from typing import Any

import pytest

from components.settings import SettingsError, parse_settings
from deplight.check import evaluate_in_process, load_policy_config
from deplight.harness import ProgramRun, read_stack_config, run_program
from tests.conftest import ROOT
from tests.iam_eval import Request, allowed
from tests.test_iam_permissions import deploy_policies

ZONE = "Z0123456789ABCDEFGHIJ"
CERT = "aws:acm/certificate:Certificate"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
LISTENER = "aws:lb/listener:Listener"


def with_ingress(stack: str, **ingress: Any) -> ProgramRun:
    config = read_stack_config(stack)
    merged = {**(config.get("deplight:ingress") or {}), **ingress}
    config["deplight:ingress"] = {k: v for k, v in merged.items() if v is not None}
    return run_program(stack, config)


def test_a_domain_gets_a_validated_certificate_and_an_alias() -> None:
    run = with_ingress("prod", certificate_arn=None, domain="api.example.com",
                       hosted_zone_id=ZONE)  # fmt: skip
    cert = run.one(CERT)
    assert (cert.inputs["domainName"], cert.inputs["validationMethod"]) == (
        "api.example.com",
        "DNS",
    )
    option = cert.outputs["domainValidationOptions"][0]
    validation_record = run.one(RECORD, "web-prod-cert-validation")
    assert validation_record.inputs["zoneId"] == ZONE
    assert validation_record.inputs["name"] == option["resourceRecordName"]
    assert validation_record.inputs["records"] == [option["resourceRecordValue"]]
    validated = run.one(VALIDATION)
    assert validated.inputs["certificateArn"] == cert.outputs["arn"]
    assert validated.inputs["validationRecordFqdns"] == [validation_record.outputs["fqdn"]]
    for port in (443, 8443):
        listener = next(x for x in run.of_type(LISTENER) if int(x.inputs["port"]) == port)
        assert listener.inputs["protocol"] == "HTTPS"
        assert listener.inputs["certificateArn"] == validated.outputs["certificateArn"], port
    alias = run.one(RECORD, "web-prod-alias")
    alb = run.one("aws:lb/loadBalancer:LoadBalancer")
    assert (alias.inputs["name"], alias.inputs["type"], alias.inputs["zoneId"]) == (
        "api.example.com", "A", ZONE)  # fmt: skip
    assert alias.inputs["aliases"] == [{"name": alb.outputs["dnsName"],
                                        "zoneId": alb.outputs["zoneId"],
                                        "evaluateTargetHealth": True}]  # fmt: skip
    assert run.outputs["service_url"] == "https://api.example.com"
    config, _ = load_policy_config("prod", ROOT / "policies")
    assert [v for v in evaluate_in_process(run, config) if v.level == "mandatory"] == []


def test_a_given_certificate_is_used_and_only_the_alias_is_created() -> None:
    run = with_ingress("prod", domain="api.example.com", hosted_zone_id=ZONE)
    assert not run.of_type(CERT) and not run.of_type(VALIDATION)
    assert [r.name for r in run.of_type(RECORD)] == ["web-prod-alias"]
    https = next(x for x in run.of_type(LISTENER) if int(x.inputs["port"]) == 443)
    assert https.inputs["certificateArn"] == run.settings.ingress.certificate_arn


def test_a_domain_turns_dev_https_with_the_redirect() -> None:
    run = with_ingress("dev", domain="dev.example.com", hosted_zone_id=ZONE)
    by_port = {int(x.inputs["port"]): x for x in run.of_type(LISTENER)}
    assert by_port[443].inputs["protocol"] == "HTTPS"
    assert by_port[80].inputs["defaultActions"][0]["type"] == "redirect"


def test_without_a_domain_nothing_dns_exists() -> None:
    run = run_program("prod")
    assert not run.of_type(CERT) and not run.of_type(RECORD)


def deploy_statements(run: ProgramRun) -> dict[str, Any]:
    return {st["Sid"]: st for doc in deploy_policies(run) for st in doc["Statement"]}


def test_ci_may_manage_the_certificate_and_only_that_zone() -> None:
    run = with_ingress("prod", certificate_arn=None, domain="api.example.com",
                       hosted_zone_id=ZONE)  # fmt: skip
    with_domain = deploy_statements(run)
    zone = with_domain["RecordsInTheDomainsZone"]
    assert zone["Resource"] == f"arn:aws:route53:::hostedzone/{ZONE}"
    assert "route53:ChangeResourceRecordSets" in zone["Action"]
    assert "RecordsInTheDomainsZone" not in deploy_statements(run_program("prod"))
    # evaluated: this stack's certificate and zone only
    policies = deploy_policies(run)
    cert = run.one(CERT)
    assert cert.inputs["tags"] == {"deplight:stack": "web-prod"}
    arn = str(cert.outputs["arn"])
    mine, theirs = {"aws:RequestTag/deplight:stack": "web-prod"}, {
        "aws:RequestTag/deplight:stack": "other-svc"}  # fmt: skip
    assert allowed(Request("acm:RequestCertificate", arn, mine), policies)
    assert not allowed(Request("acm:RequestCertificate", arn, theirs), policies)
    owned = {"aws:ResourceTag/deplight:stack": "web-prod"}
    foreign = {"aws:ResourceTag/deplight:stack": "other-svc"}
    assert allowed(Request("acm:DeleteCertificate", arn, owned), policies)
    assert not allowed(Request("acm:DeleteCertificate", arn, foreign), policies)
    record = "route53:ChangeResourceRecordSets"
    assert allowed(Request(record, f"arn:aws:route53:::hostedzone/{ZONE}"), policies)
    assert not allowed(Request(record, "arn:aws:route53:::hostedzone/ZOTHER123"), policies)


@pytest.mark.parametrize(
    ("ingress", "fragment"),
    [
        ({"domain": "api.example.com"},
         "deplight:ingress.hosted_zone_id: expected a value when ingress.domain is set"),
        ({"hosted_zone_id": ZONE},
         "deplight:ingress.domain: expected a value when ingress.hosted_zone_id is set"),
        ({"domain": "https://api.example.com", "hosted_zone_id": ZONE},
         "deplight:ingress.domain: expected a lowercase DNS name"),
        ({"domain": "api.example.com", "hosted_zone_id": "zone-1"},
         "deplight:ingress.hosted_zone_id: expected a Route 53 hosted zone id"),
    ],
)  # fmt: skip
def test_bad_domains_name_the_key(ingress: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError) as exc:
        parse_settings("prod", {"ingress": ingress})
    assert any(fragment in e for e in exc.value.errors), exc.value.errors
