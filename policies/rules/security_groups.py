"""Security groups in every form: nothing reachable from the whole internet except TCP 80/443."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .common import ANYWHERE, as_list, resource_policy, violation

SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
TYPES = (SG, SG_RULE, INGRESS_RULE)
ALL_PROTOCOLS = ("-1", "all")
TCP = ("tcp", "6")


def ingress_rules(type_: str, props: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Normalizes every form to {protocol, from, to, cidrs}."""
    if type_ == SG:
        for r in as_list(props.get("ingress")):
            yield {"protocol": str(r.get("protocol", "")).lower(), "from": r.get("fromPort"),
                   "to": r.get("toPort"),
                   "cidrs": as_list(r.get("cidrBlocks")) + as_list(r.get("ipv6CidrBlocks"))}  # fmt: skip
    elif type_ == SG_RULE:
        if props.get("type") == "ingress":
            yield {"protocol": str(props.get("protocol", "")).lower(), "from": props.get("fromPort"),
                   "to": props.get("toPort"),
                   "cidrs": as_list(props.get("cidrBlocks")) + as_list(props.get("ipv6CidrBlocks"))}  # fmt: skip
    elif type_ == INGRESS_RULE:
        yield {"protocol": str(props.get("ipProtocol", "")).lower(), "from": props.get("fromPort"),
               "to": props.get("toPort"),
               "cidrs": [c for c in (props.get("cidrIpv4"), props.get("cidrIpv6")) if c]}  # fmt: skip


def open_to_internet(rule: Mapping[str, Any]) -> bool:
    return any(c in ANYWHERE for c in rule["cidrs"])


def _port(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def internet_problem(rule: Mapping[str, Any], allowed: list[int]) -> str | None:
    if not open_to_internet(rule):
        return None
    if rule["protocol"] in ALL_PROTOCOLS:
        return "all protocols and ports are open to the whole internet"
    lo, hi = _port(rule["from"]), _port(rule["to"])
    if rule["protocol"] not in TCP or lo is None or lo != hi or lo not in allowed:
        return f"{rule['protocol']} {lo}-{hi} is open to the whole internet"
    return None


def check_ingress(type_: str, props: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[str]:
    allowed = [int(p) for p in cfg.get("allowedInternetPorts", [80, 443])]
    out = []
    for rule in ingress_rules(type_, props):
        if (problem := internet_problem(rule, allowed)) is not None:
            out.append(violation(
                {k: rule[k] for k in ("protocol", "from", "to", "cidrs")}, problem,
                f"allow only TCP {', '.join(map(str, allowed))} from 0.0.0.0/0 or ::/0 (the ALB); "
                "restrict anything else to known CIDRs or security groups",
            ))  # fmt: skip
    return out


POLICIES = [
    resource_policy(
        name="security-group-internet-ingress",
        description="Nothing is reachable from the whole internet except TCP 80/443.",
        types=TYPES,
        check=check_ingress,
        schema={
            "allowedInternetPorts": {
                "type": "array",
                "items": {"type": "integer"},
                "default": [80, 443],
            }
        },  # fmt: skip
    )
]
