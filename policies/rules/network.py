"""The VPC: its default security group closed, flow logs on, tasks kept out of public subnets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .common import ANYWHERE, as_list, violation
from .stack import SERVICE, SUBNET, Res, id_of, stack_policy

VPC = "aws:ec2/vpc:Vpc"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
ROUTE = "aws:ec2/route:Route"


def check_default_sg(resources: Sequence[Res], _cfg: Mapping[str, Any]) -> list[tuple[Res, str]]:
    defaults = {str(r.props.get("vpcId")): r for r in resources if r.type == DEFAULT_SG}
    out = []
    for vpc in (r for r in resources if r.type == VPC):
        managed = defaults.get(str(id_of(vpc)))
        if managed is None:
            out.append((vpc, violation(None, "the VPC's default security group is not managed, "
                                       "so it keeps AWS's allow-all rules",
                                       "manage it with aws.ec2.DefaultSecurityGroup and no "
                                       "ingress or egress")))  # fmt: skip
    for sg in defaults.values():
        rules = as_list(sg.props.get("ingress")) + as_list(sg.props.get("egress"))
        if rules:
            out.append((sg, violation(rules, "the VPC's default security group has rules",
                                      "remove every ingress and egress rule from it")))  # fmt: skip
    return out


def check_flow_logs(resources: Sequence[Res], _cfg: Mapping[str, Any]) -> list[tuple[Res, str]]:
    logged = {str(r.props.get("vpcId")) for r in resources if r.type == FLOW_LOG}
    logged |= {str(r.props.get("resourceId")) for r in resources if r.type == FLOW_LOG}
    return [
        (
            vpc,
            violation(id_of(vpc), "the VPC has no flow log", "turn network.flow_logs on"),
        )  # fmt: skip
        for vpc in resources
        if vpc.type == VPC and str(id_of(vpc)) not in logged
    ]


def public_subnets(resources: Sequence[Res]) -> dict[str, str]:
    """Subnet id -> why it is public: it assigns public IPs, or it routes to an internet gateway."""
    out = {str(id_of(s)): "assigns public IPs on launch" for s in resources
           if s.type == SUBNET and s.props.get("mapPublicIpOnLaunch") is True}  # fmt: skip
    igw_tables = set()
    for rt in (r for r in resources if r.type == ROUTE_TABLE):
        for route in as_list(rt.props.get("routes")):
            if isinstance(route, Mapping) and str(route.get("gatewayId", "")).startswith("igw-") \
                    and route.get("cidrBlock") in ANYWHERE:  # fmt: skip
                igw_tables.add(str(id_of(rt)))
    for route in (r for r in resources if r.type == ROUTE):
        if str(route.props.get("gatewayId", "")).startswith("igw-"):
            igw_tables.add(str(route.props.get("routeTableId")))
    for assoc in (r for r in resources if r.type == ASSOCIATION):
        if str(assoc.props.get("routeTableId")) in igw_tables:
            out.setdefault(str(assoc.props.get("subnetId")), "routes to an internet gateway")
    return out


def check_task_subnets(resources: Sequence[Res], _cfg: Mapping[str, Any]) -> list[tuple[Res, str]]:
    public = public_subnets(resources)
    out = []
    for svc in (r for r in resources if r.type == SERVICE):
        subnets = [str(s) for s in as_list((svc.props.get("networkConfiguration") or {})
                                           .get("subnets"))]  # fmt: skip
        found = {s: public[s] for s in subnets if s in public}
        if found:
            out.append((svc, violation(found, "tasks run in public subnets",
                                       "run tasks in private subnets behind NAT "
                                       "(network.nat single or per_az)")))  # fmt: skip
    return out


POLICIES = [
    stack_policy(name="vpc-default-security-group-closed",
                 description="Every VPC's default security group is managed and has no rules.",
                 check=check_default_sg),
    stack_policy(name="vpc-flow-logs", description="Every VPC has a flow log.",
                 check=check_flow_logs),
    stack_policy(name="ecs-tasks-in-private-subnets",
                 description="Services run tasks only in subnets that neither assign public IPs "
                 "nor route to an internet gateway.", check=check_task_subnets),
]  # fmt: skip
