"""The Network component: subnets per AZ, NAT per strategy, security group rules, flow logs."""

from __future__ import annotations

import ipaddress
from typing import Any

import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.network import Network, NetworkArgs, nat_gateway_count, subnet_cidrs
from components.settings import NatStrategy, NetworkSettings
from deplight.harness import ProgramRun, read_stack_config, run_program
from tests.conftest import program_run

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SG = "aws:ec2/securityGroup:SecurityGroup"


def with_network(stack: str, **network: Any) -> ProgramRun:
    config = read_stack_config(stack)
    config["deplight:network"] = {**config["deplight:network"], **network}
    return run_program(stack, config)


# --- pure helpers ------------------------------------------------------------------------------
def test_subnet_cidrs_split_the_vpc_without_overlap() -> None:
    public, private = subnet_cidrs("10.0.0.0/16", 3)
    assert public == ["10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20"]
    assert private == ["10.0.128.0/20", "10.0.144.0/20", "10.0.160.0/20"]
    # a /24 has 4 slots per half, so its subnets stay at /27
    public, private = subnet_cidrs("192.168.0.0/24", 4)
    assert public[-1] == "192.168.0.96/27" and private[0] == "192.168.0.128/27"
    with pytest.raises(ValueError, match=r"192.168.0.0/24 has room for 4 AZs .* 5 requested"):
        subnet_cidrs("192.168.0.0/24", 5)


@given(
    prefix=st.integers(min_value=16, max_value=24),
    azs=st.integers(min_value=1, max_value=6),
    second_octet=st.integers(min_value=0, max_value=255),
)
def test_subnet_cidrs_property(prefix: int, azs: int, second_octet: int) -> None:
    vpc = ipaddress.ip_network(f"10.{second_octet}.0.0/{prefix}", strict=False)
    settings = NetworkSettings(cidr=str(vpc), az_count=azs)
    if azs > settings.az_slots:
        return  # rejected by settings validation (tested there)
    public, private = subnet_cidrs(str(vpc), azs)
    assert settings.subnet_prefix <= 27
    nets = [ipaddress.ip_network(c) for c in public + private]
    assert len(public) == len(private) == azs
    assert all(n.subnet_of(vpc) for n in nets)
    assert len({n for n in nets}) == len(nets)
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            assert not a.overlaps(b)


@given(
    prefix=st.integers(min_value=16, max_value=24),
    fewer=st.integers(min_value=1, max_value=6),
    more=st.integers(min_value=1, max_value=6),
)
def test_adding_azs_never_moves_an_existing_subnet(prefix: int, fewer: int, more: int) -> None:
    vpc = str(ipaddress.ip_network(f"10.0.0.0/{prefix}"))
    fewer, more = sorted((fewer, more))
    if more > NetworkSettings(cidr=vpc, az_count=more).az_slots:
        return  # rejected by settings validation
    small, large = subnet_cidrs(vpc, fewer), subnet_cidrs(vpc, more)
    assert large[0][:fewer] == small[0] and large[1][:fewer] == small[1]


@pytest.mark.parametrize(
    ("nat", "azs", "expected"),
    [(NatStrategy.NONE, 3, 0), (NatStrategy.SINGLE, 3, 1), (NatStrategy.PER_AZ, 3, 3),
     (NatStrategy.PER_AZ, 1, 1)],
)  # fmt: skip
def test_nat_gateway_count(nat: NatStrategy, azs: int, expected: int) -> None:
    assert nat_gateway_count(nat, azs) == expected


# --- the component in the real program ----------------------------------------------------------
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_one_public_and_one_private_subnet_per_az(stack: str) -> None:
    run = program_run(stack)
    azs = run.settings.network.az_count
    subnets = run.of_type(SUBNET)
    public = [s for s in subnets if s.inputs["tags"]["deplight:tier"] == "public"]
    private = [s for s in subnets if s.inputs["tags"]["deplight:tier"] == "private"]
    assert len(public) == len(private) == azs
    assert len({s.inputs["availabilityZone"] for s in public}) == azs
    assert {s.inputs["availabilityZone"] for s in public} == {
        s.inputs["availabilityZone"] for s in private
    }
    vpc = run.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == run.settings.network.cidr
    assert all(s.inputs["vpcId"] == vpc.id for s in subnets)
    assert not any(s.inputs.get("mapPublicIpOnLaunch") for s in subnets)
    network = run.one("deplight:network:Network")
    assert {r.urn for r in run.children(network.urn)} >= {vpc.urn, *(s.urn for s in subnets)}


@pytest.mark.parametrize(
    ("nat", "expected_nats", "expected_private_tables"),
    [("none", 0, 1), ("single", 1, 1), ("per_az", 3, 3)],
)
def test_nat_strategy(nat: str, expected_nats: int, expected_private_tables: int) -> None:
    run = with_network("prod", nat=nat)
    nats = run.of_type(NAT)
    assert len(nats) == expected_nats
    assert len(run.of_type("aws:ec2/eip:Eip")) == expected_nats
    public_ids = {
        s.id for s in run.of_type(SUBNET) if s.inputs["tags"]["deplight:tier"] == "public"
    }
    assert all(n.inputs["subnetId"] in public_ids for n in nats), "NAT must sit in public subnets"
    tables = [t for t in run.of_type("aws:ec2/routeTable:RouteTable") if "private" in t.name]
    assert len(tables) == expected_private_tables
    nat_routes = [r for t in tables for r in t.inputs.get("routes", []) if r.get("natGatewayId")]
    assert len(nat_routes) == expected_nats
    assert {r["natGatewayId"] for r in nat_routes} == {n.id for n in nats}
    # every private subnet is associated with a private route table
    assocs = run.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    private_ids = {s.id for s in run.of_type(SUBNET)} - public_ids
    table_ids = {t.id for t in tables}
    assert {a.inputs["subnetId"] for a in assocs if a.inputs["routeTableId"] in table_ids} == (
        private_ids
    )


@pytest.mark.parametrize("nat", ["single", "per_az"])
def test_going_from_3_to_4_azs_keeps_the_first_3_azs_subnets(nat: str) -> None:
    three, four = (
        with_network("prod", az_count=3, nat=nat),
        with_network("prod", az_count=4, nat=nat),
    )

    def subnets(run: ProgramRun) -> dict[str, Any]:
        return {s.name: s.inputs for s in run.of_type(SUBNET)}

    before, after = subnets(three), subnets(four)
    assert len(after) == len(before) + 2
    # same logical names and identical inputs: the engine sees no change, so nothing is replaced
    for name, inputs in before.items():
        assert after[name] == inputs, name
    associations = {
        a.name: a.inputs["subnetId"]
        for a in three.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    }
    kept = {
        a.name: a.inputs["subnetId"]
        for a in four.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    }
    assert {k: kept[k] for k in associations} == associations  # fmt: skip


def _ingress_by_group(run: ProgramRun) -> dict[str, list[dict[str, Any]]]:
    groups = {g.id: g.name for g in run.of_type(SG)}
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in groups.values()}
    for rule in run.of_type(INGRESS):
        out[groups[rule.inputs["securityGroupId"]]].append(dict(rule.inputs))
    return out


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_security_groups(stack: str) -> None:
    run = program_run(stack)
    s = run.settings
    by_group = _ingress_by_group(run)
    alb = next(v for k, v in by_group.items() if k.endswith("alb-sg"))
    tasks = next(v for k, v in by_group.items() if k.endswith("task-sg"))
    alb_sg_id = next(g.id for g in run.of_type(SG) if g.name.endswith("alb-sg"))

    internet = [r for r in alb if r.get("cidrIpv4") == "0.0.0.0/0" or r.get("cidrIpv6") == "::/0"]
    assert sorted((int(r["fromPort"]), int(r["toPort"])) for r in internet) == [
        (80, 80), (80, 80), (443, 443), (443, 443),
    ]  # fmt: skip
    assert all(r["ipProtocol"] == "tcp" for r in internet)
    test_rules = [r for r in alb if int(r["fromPort"]) == s.ingress.test_port]
    assert sorted(r.get("cidrIpv4") or r.get("cidrIpv6") for r in test_rules) == sorted(
        s.ingress.test_cidrs
    )
    # tasks: only the container port, only from the ALB's group
    assert tasks == [
        {**tasks[0], "fromPort": float(s.service.container_port),
         "toPort": float(s.service.container_port), "referencedSecurityGroupId": alb_sg_id},
    ]  # fmt: skip
    assert "cidrIpv4" not in tasks[0] and "cidrIpv6" not in tasks[0]
    # nothing but the ALB group admits the internet
    for name, rules in by_group.items():
        if not name.endswith("alb-sg"):
            assert not any(r.get("cidrIpv4") == "0.0.0.0/0" for r in rules), name


def test_test_listener_port_closed_when_no_cidrs_are_allowed() -> None:
    config = read_stack_config("dev")
    config["deplight:ingress"] = {"test_cidrs": []}
    run = run_program("dev", config)
    assert not [r for r in run.of_type(INGRESS) if int(r.inputs["fromPort"]) == 8443]


def test_flow_logs_only_when_configured() -> None:
    assert program_run("prod").settings.network.flow_logs
    prod = program_run("prod").one("aws:ec2/flowLog:FlowLog")
    assert prod.inputs["trafficType"] == "ALL"
    assert not program_run("dev").of_type("aws:ec2/flowLog:FlowLog")


def test_network_outputs_are_registered() -> None:
    for stack in ("dev", "prod"):
        run = program_run(stack)
        outs = run.outputs
        n = run.settings.network.az_count
        assert outs["vpc_id"].startswith("vpc-")
        assert len(outs["public_subnet_ids"]) == n and len(outs["private_subnet_ids"]) == n
        assert all(x.startswith("subnet-") for x in outs["private_subnet_ids"])


@pulumi.runtime.test
def test_component_built_directly(pulumi_mocks: Any) -> Any:
    net = Network(
        "unit",
        NetworkArgs(
            prefix="unit-test",
            network=NetworkSettings(cidr="10.1.0.0/16", az_count=2, nat=NatStrategy.NONE),
            container_port=3000,
            test_port=9000,
            availability_zones=["eu-west-1a", "eu-west-1b"],
        ),
    )
    assert net.tasks_need_public_ip

    def check(args: list[Any]) -> None:
        vpc_id, public, private, alb_sg, task_sg, service = args
        assert vpc_id.startswith("vpc-"), vpc_id
        assert len(public) == len(private) == 2
        assert service == public, "without NAT the tasks run in the public subnets"
        assert alb_sg.startswith("sg-") and task_sg.startswith("sg-") and alb_sg != task_sg

    return pulumi.Output.all(
        net.vpc_id, net.public_subnet_ids, net.private_subnet_ids, net.alb_security_group_id,
        net.task_security_group_id, net.service_subnet_ids,
    ).apply(check)  # fmt: skip


def test_too_few_azs_in_region_is_a_clear_error_before_anything_is_registered(
    pulumi_mocks: Any,
) -> None:
    with pytest.raises(ValueError, match=r"deplight:network.az_count: 3 AZs requested .* only 2"):
        Network(
            "short",
            NetworkArgs(
                prefix="short-test",
                network=NetworkSettings(cidr="10.1.0.0/16", az_count=3),
                container_port=3000,
                test_port=9000,
                availability_zones=["eu-west-1a", "eu-west-1b"],
            ),
        )
