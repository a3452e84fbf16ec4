"""A custom domain for the service: an ACM certificate validated in Route 53, and the alias record.

Two components because the load balancer sits between them: :class:`DomainCertificate` (the
certificate, its DNS validation record and the ``CertificateValidation`` that waits for ACM to
issue it) must exist before the HTTPS listeners, and :class:`DomainAlias` (``A`` alias to the ALB)
needs the load balancer. Both are created only when ``ingress.domain`` and
``ingress.hosted_zone_id`` are set; with ``ingress.certificate_arn`` as well, that certificate is
used and only the alias is created.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import Grants, Scope, request_tagged, resource_tagged, stack_tags


def grants(hosted_zone_id: str) -> Grants:
    """What CI needs for ``ingress.domain``: request and manage this stack's certificate (tagged
    with the stack tag, since ACM names certificates by generated ids) and write records in the
    one hosted zone."""

    def deploy(scope: Scope) -> list[dict[str, Any]]:
        certificates = f"{scope.arn}:acm:{scope.region}:{scope.account}:certificate/*"
        return [
            {
                # RequestCertificate names no resource before it exists: the tag decides.
                "Sid": "RequestTheDomainCertificateTaggedAsThisStack",
                "Effect": "Allow",
                "Action": ["acm:RequestCertificate", "acm:AddTagsToCertificate"],
                "Resource": "*",
                "Condition": request_tagged(scope.prefix),
            },
            {
                "Sid": "ManageThisStacksCertificate",
                "Effect": "Allow",
                "Action": ["acm:DescribeCertificate", "acm:DeleteCertificate",
                           "acm:ListTagsForCertificate", "acm:AddTagsToCertificate",
                           "acm:RemoveTagsFromCertificate"],
                "Resource": certificates,
                "Condition": resource_tagged(scope.prefix),
            },
            {
                "Sid": "RecordsInTheDomainsZone",
                "Effect": "Allow",
                "Action": ["route53:GetHostedZone", "route53:ListResourceRecordSets",
                           "route53:ChangeResourceRecordSets"],
                "Resource": f"{scope.arn}:route53:::hostedzone/{hosted_zone_id}",
            },
            {
                "Sid": "WaitForRoute53Changes",
                "Effect": "Allow",
                "Action": ["route53:GetChange"],
                "Resource": f"{scope.arn}:route53:::change/*",
            },
        ]  # fmt: skip

    return Grants(
        deploy=deploy,
        preview_reads=("acm:DescribeCertificate", "acm:ListTagsForCertificate",
                       "route53:GetHostedZone", "route53:ListResourceRecordSets"),
    )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class DomainCertificateArgs:
    """Inputs of :class:`DomainCertificate`."""

    prefix: str
    """Name prefix (``<service>-<stack>``): the certificate carries the stack tag."""
    domain: str
    """DNS name the certificate covers (``api.example.com``)."""
    hosted_zone_id: str
    """Route 53 zone of ``domain``, where the validation record goes."""


class DomainCertificate(pulumi.ComponentResource):
    """An ACM certificate for one name, validated by a DNS record in the hosted zone.

    ``certificate_arn`` comes from the ``CertificateValidation``: listeners that use it are
    created only once ACM has issued the certificate (a listener cannot use a pending one)."""

    certificate_arn: pulumi.Output[str]
    """The issued certificate."""

    def __init__(self, name: str, args: DomainCertificateArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:  # fmt: skip
        super().__init__("deplight:dns:Certificate", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=args.domain,
            validation_method="DNS",
            tags=stack_tags(args.prefix),
            opts=child,
        )
        # One name, no SANs: ACM asks for exactly one validation record.
        option = certificate.domain_validation_options[0]
        record = aws.route53.Record(
            f"{name}-cert-validation",
            zone_id=args.hosted_zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            # The same validation record serves a re-created certificate for the same name.
            allow_overwrite=True,
            opts=child,
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-cert-validated",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=child,
        )
        self.certificate_arn = validation.certificate_arn
        self.register_outputs({"certificate_arn": self.certificate_arn})


@dataclass(frozen=True, kw_only=True)
class DomainAliasArgs:
    """Inputs of :class:`DomainAlias`."""

    domain: str
    """The name that points at the load balancer."""
    hosted_zone_id: str
    """Route 53 zone of ``domain``."""
    alb_dns_name: pulumi.Input[str]
    """The load balancer's DNS name."""
    alb_zone_id: pulumi.Input[str]
    """The load balancer's canonical hosted zone (AWS's, per region)."""


class DomainAlias(pulumi.ComponentResource):
    """``domain`` as an ``A`` alias of the load balancer (no TTL: Route 53 follows the ALB)."""

    fqdn: pulumi.Output[str]
    """The record's name as Route 53 stores it."""

    def __init__(self, name: str, args: DomainAliasArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:  # fmt: skip
        super().__init__("deplight:dns:Alias", name, None, opts)
        record = aws.route53.Record(
            f"{name}-alias",
            zone_id=args.hosted_zone_id,
            name=args.domain,
            type="A",
            aliases=[aws.route53.RecordAliasArgs(
                name=args.alb_dns_name, zone_id=args.alb_zone_id, evaluate_target_health=True,
            )],
            opts=pulumi.ResourceOptions(parent=self),
        )  # fmt: skip
        self.fqdn = record.fqdn
        self.register_outputs({"fqdn": self.fqdn})
