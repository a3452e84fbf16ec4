"""The Network component: VPC, public and private subnets over N AZs, NAT, security groups.

Security groups follow DESIGN.md: the ALB's group admits 80/443 from the internet and the test
listener port from the allowed CIDRs only; the tasks' group admits the container port from the
ALB's group only. Rules are separate resources (not inline blocks) so the two groups can refer to
each other without a cycle and a rule change never replaces a group.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.iam import service_trust_policy, stack_tags
from components.settings import NatStrategy, NetworkSettings

ANYWHERE_V4 = "0.0.0.0/0"
ANYWHERE_V6 = "::/0"
HTTP_PORT = 80
HTTPS_PORT = 443


def subnet_cidrs(cidr: str, az_count: int) -> tuple[list[str], list[str]]:
    """Public and private subnet CIDRs of the first ``az_count`` AZs, from a fixed layout.

    The VPC is halved: public subnets come from the lower half, private ones from the upper half.
    Each half is cut into per-AZ slots of one size that depends on the VPC CIDR only (8 slots, 4
    in a /24, see ``NetworkSettings.subnet_prefix``), and the AZ at index ``i`` always gets slot
    ``i`` of each half. So going from N to N+1 AZs adds two subnets and leaves the first N AZs'
    subnets exactly as they were (no replacement), and going down removes only the last AZ's.
    """
    layout = NetworkSettings(cidr=cidr, az_count=az_count)
    if az_count > layout.az_slots:
        raise ValueError(
            f"deplight:network.cidr: {cidr} has room for {layout.az_slots} AZs in the subnet "
            f"layout, {az_count} requested"
        )
    public_half, private_half = ipaddress.ip_network(cidr).subnets(prefixlen_diff=1)

    def slots(half: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
        return [str(b) for b in half.subnets(new_prefix=layout.subnet_prefix)][:az_count]

    return slots(public_half), slots(private_half)


def nat_gateway_count(nat: NatStrategy, az_count: int) -> int:
    """How many NAT gateways a strategy creates."""
    return {NatStrategy.NONE: 0, NatStrategy.SINGLE: 1, NatStrategy.PER_AZ: az_count}[nat]


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    """Inputs of :class:`Network`."""

    prefix: str
    """Name prefix (``<service>-<stack>``)."""
    network: NetworkSettings
    """VPC shape."""
    container_port: int
    """Port the tasks listen on; only the ALB may reach it."""
    test_port: int
    """Port of the ALB's test listener."""
    test_cidrs: Sequence[str] = ()
    """Who may reach the test listener; empty means nobody from outside."""
    availability_zones: Sequence[str] | None = None
    """AZ names to use; looked up from the region when not given."""
    permissions_boundary: pulumi.Input[str] | None = None
    """The stack's permissions boundary (``PermissionsBoundary.arn``): every role here carries it."""
    kms_key_arn: pulumi.Input[str] | None = None
    """The stack's customer-managed key for the flow log group (``None``: AWS-managed)."""


class Network(pulumi.ComponentResource):
    """A VPC over N AZs with public/private subnets, NAT per strategy and the two security groups."""

    vpc_id: pulumi.Output[str]
    """The VPC."""
    vpc_arn: pulumi.Output[str]
    """Its ARN (the deploy role may adopt only this VPC's default security group)."""
    public_subnet_ids: pulumi.Output[list[str]]
    """One public subnet per AZ (the ALB lives here)."""
    private_subnet_ids: pulumi.Output[list[str]]
    """One private subnet per AZ (the tasks live here unless there is no NAT)."""
    alb_security_group_id: pulumi.Output[str]
    """The ALB's group: 80/443 from anywhere, the test port from the allowed CIDRs."""
    task_security_group_id: pulumi.Output[str]
    """The tasks' group: the container port from the ALB's group only."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        s = args.network
        self.tasks_need_public_ip: bool = s.nat is NatStrategy.NONE
        """True when there is no NAT: tasks then run in public subnets with a public IP."""
        child = pulumi.ResourceOptions(parent=self)
        tags = {**stack_tags(args.prefix), "Name": args.prefix}

        azs = list(args.availability_zones or [])
        if not azs:
            azs = list(aws.get_availability_zones(state="available").names)
        if len(azs) < s.az_count:
            raise ValueError(
                f"deplight:network.az_count: {s.az_count} AZs requested but the region has only "
                f"{len(azs)} ({', '.join(azs)})"
            )
        azs = azs[: s.az_count]
        # Validated before the component registers, so a bad AZ count leaves nothing behind.
        super().__init__("deplight:network:Network", name, None, opts)
        public_cidrs, private_cidrs = subnet_cidrs(s.cidr, s.az_count)

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=s.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**tags, "Name": f"{args.prefix}-vpc"},
            opts=child,
        )
        # The VPC's default security group, taken under management with no rules at all: nothing
        # may use it by accident (CIS AWS Foundations 5.4; every group here is explicit).
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.id,
            tags={**tags, "Name": f"{args.prefix}-default-unused"},
            opts=child,
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags={**tags, "Name": f"{args.prefix}-igw"}, opts=child
        )

        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block=ANYWHERE_V4, gateway_id=igw.id)],
            tags={**tags, "Name": f"{args.prefix}-public"},
            opts=child,
        )
        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        for i, az in enumerate(azs):
            pub = aws.ec2.Subnet(
                f"{name}-public-{i + 1}",
                vpc_id=vpc.id,
                cidr_block=public_cidrs[i],
                availability_zone=az,
                # The ALB needs no public IP on instances; tasks get one only without NAT, and
                # then ECS assigns it per task (assign_public_ip), not the subnet.
                map_public_ip_on_launch=False,
                tags={**tags, "Name": f"{args.prefix}-public-{az}", "deplight:tier": "public"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i + 1}-rta", subnet_id=pub.id, route_table_id=public_rt.id,
                opts=child,
            )  # fmt: skip
            public_subnets.append(pub)
            private_subnets.append(
                aws.ec2.Subnet(
                    f"{name}-private-{i + 1}",
                    vpc_id=vpc.id,
                    cidr_block=private_cidrs[i],
                    availability_zone=az,
                    map_public_ip_on_launch=False,
                    tags={
                        **tags,
                        "Name": f"{args.prefix}-private-{az}",
                        "deplight:tier": "private",
                    },
                    opts=child,
                )
            )

        nats: list[aws.ec2.NatGateway] = []
        for i in range(nat_gateway_count(s.nat, s.az_count)):
            eip = aws.ec2.Eip(
                f"{name}-nat-{i + 1}-eip", domain="vpc",
                tags={**tags, "Name": f"{args.prefix}-nat-{i + 1}"}, opts=child,
            )  # fmt: skip
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{i + 1}",
                    allocation_id=eip.id,
                    subnet_id=public_subnets[i].id,
                    tags={**tags, "Name": f"{args.prefix}-nat-{i + 1}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
            )
        # One private route table per NAT gateway (per AZ under per_az, so an AZ outage only
        # takes its own egress down), or one without a default route when there is no NAT.
        private_tables = [
            aws.ec2.RouteTable(
                f"{name}-private-rt-{i + 1}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block=ANYWHERE_V4, nat_gateway_id=nat.id)]
                if nat
                else [],
                tags={**tags, "Name": f"{args.prefix}-private-{i + 1}"},
                opts=child,
            )
            for i, nat in enumerate(nats or [None])
        ]
        for i, subnet in enumerate(private_subnets):
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{i + 1}-rta",
                subnet_id=subnet.id,
                route_table_id=private_tables[i % len(private_tables)].id,
                opts=child,
            )

        alb_sg = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            vpc_id=vpc.id,
            description=f"{args.prefix} ALB: HTTP/HTTPS from the internet, test port restricted",
            tags={**tags, "Name": f"{args.prefix}-alb"},
            opts=child,
        )
        task_sg = aws.ec2.SecurityGroup(
            f"{name}-task-sg",
            vpc_id=vpc.id,
            description=f"{args.prefix} tasks: container port from the ALB only",
            tags={**tags, "Name": f"{args.prefix}-tasks"},
            opts=child,
        )
        for port in (HTTP_PORT, HTTPS_PORT):
            for cidr_key, cidr in (("cidr_ipv4", ANYWHERE_V4), ("cidr_ipv6", ANYWHERE_V6)):
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-alb-in-{port}-{'v4' if cidr_key == 'cidr_ipv4' else 'v6'}",
                    security_group_id=alb_sg.id,
                    description=f"{'HTTP' if port == HTTP_PORT else 'HTTPS'} from the internet",
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    **{cidr_key: cidr},
                    tags=stack_tags(args.prefix),
                    opts=child,
                )
        for i, cidr in enumerate(args.test_cidrs):
            v6 = ipaddress.ip_network(cidr).version == 6
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-alb-in-test-{i + 1}",
                security_group_id=alb_sg.id,
                description="test listener (green before traffic shifts) from allowed CIDRs",
                ip_protocol="tcp",
                from_port=args.test_port,
                to_port=args.test_port,
                **({"cidr_ipv6": cidr} if v6 else {"cidr_ipv4": cidr}),
                tags=stack_tags(args.prefix),
                opts=child,
            )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-alb-out-tasks",
            security_group_id=alb_sg.id,
            description="to the tasks on the container port",
            ip_protocol="tcp",
            from_port=args.container_port,
            to_port=args.container_port,
            referenced_security_group_id=task_sg.id,
            tags=stack_tags(args.prefix),
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-task-in-alb",
            security_group_id=task_sg.id,
            description="container port from the ALB",
            ip_protocol="tcp",
            from_port=args.container_port,
            to_port=args.container_port,
            referenced_security_group_id=alb_sg.id,
            tags=stack_tags(args.prefix),
            opts=child,
        )
        # Tasks pull images from ECR, write logs, read secrets and call whatever the app needs;
        # egress is open, ingress is what is locked down.
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-task-out-all",
            security_group_id=task_sg.id,
            description="all egress (ECR, CloudWatch, SSM and the app's dependencies)",
            ip_protocol="-1",
            cidr_ipv4=ANYWHERE_V4,
            tags=stack_tags(args.prefix),
            opts=child,
        )

        if s.flow_logs:
            log_group = aws.cloudwatch.LogGroup(
                f"{name}-flow-logs",
                name=f"/deplight/{args.prefix}/vpc-flow-logs",
                retention_in_days=s.flow_logs_retention_days,
                kms_key_id=args.kms_key_arn,
                tags=tags,
                opts=child,
            )
            role = aws.iam.Role(
                f"{name}-flow-logs-role",
                assume_role_policy=service_trust_policy("vpc-flow-logs.amazonaws.com"),
                permissions_boundary=args.permissions_boundary,
                tags=tags,
                opts=child,
            )
            aws.iam.RolePolicy(
                f"{name}-flow-logs-policy",
                role=role.id,
                policy=pulumi.Output.json_dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                    "logs:DescribeLogStreams",
                                ],
                                "Resource": [
                                    log_group.arn,
                                    pulumi.Output.concat(log_group.arn, ":*"),
                                ],
                            }
                        ],
                    }
                ),
                opts=child,
            )
            aws.ec2.FlowLog(
                f"{name}-flow-log",
                vpc_id=vpc.id,
                traffic_type="ALL",
                log_destination_type="cloud-watch-logs",
                log_destination=log_group.arn,
                iam_role_arn=role.arn,
                tags=tags,
                opts=child,
            )

        self.vpc_id = vpc.id
        self.vpc_arn = vpc.arn
        self.public_subnet_ids = pulumi.Output.all(*[s_.id for s_ in public_subnets])
        self.private_subnet_ids = pulumi.Output.all(*[s_.id for s_ in private_subnets])
        self.alb_security_group_id = alb_sg.id
        self.task_security_group_id = task_sg.id
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "vpc_arn": self.vpc_arn,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "alb_security_group_id": self.alb_security_group_id,
                "task_security_group_id": self.task_security_group_id,
            }
        )

    @property
    def service_subnet_ids(self) -> pulumi.Output[list[str]]:
        """Where the tasks run: private subnets, or public ones when there is no NAT."""
        return self.public_subnet_ids if self.tasks_need_public_ip else self.private_subnet_ids
