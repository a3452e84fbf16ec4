"""Realistic Pulumi mocks: what AWS would answer, without AWS.

Used by the tests and by the offline commands (``deplight plan``, ``deplight check``). Every
resource gets an id and outputs in AWS's real formats (account ``123456789012``, real ARN shapes,
``203.0.113.x`` addresses), derived deterministically from its logical name so that two runs of
the same program produce the same values. Every value invented here is recorded in
:attr:`RealisticMocks.generated`, so ``plan`` can show it as a placeholder rather than as a fact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pulumi

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
PROMISED_AZS = 3
"""Availability zones AWS documents for every region; names after these are placeholders."""


def _hex(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def _render_policy_document(args: dict[str, Any]) -> str:
    """Renders ``aws.iam.get_policy_document`` arguments to the IAM JSON AWS would return."""

    def principals(items: list[dict[str, Any]] | None) -> dict[str, Any] | None:
        if not items:
            return None
        out: dict[str, Any] = {}
        for p in items:
            ids = p.get("identifiers", [])
            out[p["type"]] = ids[0] if len(ids) == 1 else sorted(ids)
        return out

    statements = []
    for st in args.get("statements") or []:
        doc: dict[str, Any] = {"Effect": st.get("effect", "Allow")}
        if st.get("sid"):
            doc["Sid"] = st["sid"]
        for key, name in (("actions", "Action"), ("notActions", "NotAction"),
                          ("resources", "Resource"), ("notResources", "NotResource")):  # fmt: skip
            if st.get(key):
                vals = st[key]
                doc[name] = vals[0] if len(vals) == 1 else vals
        if p := principals(st.get("principals")):
            doc["Principal"] = p
        if conds := st.get("conditions"):
            cond: dict[str, dict[str, Any]] = {}
            for c in conds:
                vals = c.get("values", [])
                cond.setdefault(c["test"], {})[c["variable"]] = vals[0] if len(vals) == 1 else vals
            doc["Condition"] = cond
        statements.append(doc)
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2)


class RealisticMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and invokes as AWS would."""

    def __init__(self, region: str = DEFAULT_REGION) -> None:
        self.region = region
        self.generated: dict[str, str] = {}
        """Every value this mock invented -> a short description (``id of web-dev-vpc``)."""
        self.invokes: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "aws:index/getAvailabilityZones:getAvailabilityZones": self._azs,
            "aws:index/getCallerIdentity:getCallerIdentity": lambda _a: {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/deplight",
                "userId": "AIDAEXAMPLEUSERID",
                "id": ACCOUNT_ID,
            },
            "aws:index/getRegion:getRegion": lambda _a: {
                "name": self.region,
                "region": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.amazonaws.com",
                "description": self.region,
            },  # fmt: skip
            "aws:index/getPartition:getPartition": lambda _a: {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "id": "aws",
                "reverseDnsPrefix": "com.amazonaws",
            },  # fmt: skip
            "aws:iam/getPolicyDocument:getPolicyDocument": lambda a: {
                "json": _render_policy_document(a),
                "minifiedJson": _render_policy_document(a),
            },  # fmt: skip
        }

    # --- invokes -------------------------------------------------------------------------------
    def _azs(self, _args: dict[str, Any]) -> dict[str, Any]:
        letters = "abcdef"
        names = [f"{self.region}{c}" for c in letters]
        for i, zone in enumerate(names[PROMISED_AZS:], start=PROMISED_AZS + 1):
            self._gen(zone, f"availability zone {i} of {self.region}, if this account has one")
        return {
            "names": names,
            "zoneIds": [f"use1-az{i + 1}" for i in range(len(letters))],
            "state": "available",
            "id": self.region,
        }

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        handler = self.invokes.get(args.token)
        if handler is None:
            raise NotImplementedError(f"no mock for invoke {args.token}")
        return handler(dict(args.args)), []

    # --- resources -----------------------------------------------------------------------------
    def _gen(self, value: str, what: str) -> str:
        self.generated[value] = what
        return value

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs: dict[str, Any] = dict(args.inputs)
        typ, name = args.typ, args.name
        if not args.custom:  # component resources have no cloud identity
            return "", inputs
        seed = f"{typ}::{name}"
        acct, region = ACCOUNT_ID, self.region
        short = _hex(seed, 8)
        state = dict(inputs)

        def gen(key: str, value: str) -> None:
            state[key] = self._gen(value, f"{key} of {name}")

        # Physical name: what auto-naming would pick when the program gives none.
        phys = inputs.get("name") or f"{name}-{_hex(seed, 7)}"
        if "name" not in inputs and not typ.startswith("pulumi:providers:"):
            gen("name", phys)
        hex17 = _hex(seed, 17)
        rid = self._gen(f"{name}-{short}", f"id of {name}")
        arn = f"arn:aws:{typ.split(':')[1].split('/')[0]}:{region}:{acct}:{phys}"

        service = typ.split(":")[1].split("/")[0] if ":" in typ else ""
        if typ == "aws:ec2/vpc:Vpc":
            rid = self._gen(f"vpc-{hex17}", f"id of {name}")
            arn = f"arn:aws:ec2:{region}:{acct}:vpc/{rid}"
            gen("defaultSecurityGroupId", f"sg-{_hex(seed + 'sg', 17)}")
            gen("mainRouteTableId", f"rtb-{_hex(seed + 'rt', 17)}")
        elif typ == "aws:ec2/subnet:Subnet":
            rid = self._gen(f"subnet-{hex17}", f"id of {name}")
            arn = f"arn:aws:ec2:{region}:{acct}:subnet/{rid}"
        elif typ in ("aws:ec2/securityGroup:SecurityGroup",
                     "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"):  # fmt: skip
            rid = self._gen(f"sg-{hex17}", f"id of {name}")
            arn = f"arn:aws:ec2:{region}:{acct}:security-group/{rid}"
            state.setdefault("ingress", [])
            state.setdefault("egress", [])
        elif service in ("ec2", "vpc") and "/" in typ:
            prefix = {
                "aws:ec2/internetGateway:InternetGateway": "igw",
                "aws:ec2/natGateway:NatGateway": "nat",
                "aws:ec2/eip:Eip": "eipalloc",
                "aws:ec2/routeTable:RouteTable": "rtb",
                "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc",
                "aws:ec2/route:Route": "r",
                "aws:ec2/flowLog:FlowLog": "fl",
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr",
                "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr",
                "aws:ec2/securityGroupRule:SecurityGroupRule": "sgrule",
            }.get(typ, "res")
            rid = self._gen(f"{prefix}-{hex17}", f"id of {name}")
            arn = f"arn:aws:ec2:{region}:{acct}:{prefix}/{rid}"
            if typ == "aws:ec2/eip:Eip":
                gen("publicIp", f"203.0.113.{int(short, 16) % 250 + 1}")
                state["allocationId"] = rid
            if typ.endswith("SecurityGroupIngressRule") or typ.endswith("SecurityGroupEgressRule"):
                gen("securityGroupRuleId", rid)
        elif typ == "aws:ecr/repository:Repository":
            rid = phys
            arn = f"arn:aws:ecr:{region}:{acct}:repository/{phys}"
            gen("repositoryUrl", f"{acct}.dkr.ecr.{region}.amazonaws.com/{phys}")
            state["registryId"] = acct
        elif typ == "aws:ecs/cluster:Cluster":
            arn = f"arn:aws:ecs:{region}:{acct}:cluster/{phys}"
            rid = arn
        elif typ == "aws:ecs/taskDefinition:TaskDefinition":
            family = inputs.get("family", phys)
            arn = f"arn:aws:ecs:{region}:{acct}:task-definition/{family}:1"
            rid = family
            state["revision"] = 1
            gen("arnWithoutRevision", f"arn:aws:ecs:{region}:{acct}:task-definition/{family}")
        elif typ == "aws:ecs/service:Service":
            cluster = str(inputs.get("cluster", "cluster")).rsplit("/", 1)[-1]
            arn = f"arn:aws:ecs:{region}:{acct}:service/{cluster}/{phys}"
            rid = arn
        elif typ in ("aws:iam/role:Role", "aws:iam/policy:Policy", "aws:iam/user:User"):
            kind = typ.split(":")[-1].lower()
            arn = f"arn:aws:iam::{acct}:{kind}/{phys}"
            rid = phys
            if kind == "role":
                gen("uniqueId", f"AROA{_hex(seed, 17).upper()}")
        elif typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            host = str(inputs.get("url", "https://token.actions.githubusercontent.com"))
            arn = f"arn:aws:iam::{acct}:oidc-provider/{host.removeprefix('https://')}"
            rid = arn
        elif typ.startswith("aws:lb/") or typ.startswith("aws:alb/"):
            kind = typ.split(":")[-1]
            lb_name = str(phys)[:32]
            if kind == "LoadBalancer":
                suffix = f"app/{lb_name}/{_hex(seed, 16)}"
                arn = f"arn:aws:elasticloadbalancing:{region}:{acct}:loadbalancer/{suffix}"
                gen("arnSuffix", suffix)
                gen("dnsName", f"{lb_name}-{int(short, 16) % 10**10}.{region}.elb.amazonaws.com")
                state["zoneId"] = "Z35SXDOTRQ7X7K"
            elif kind == "TargetGroup":
                suffix = f"targetgroup/{lb_name}/{_hex(seed, 16)}"
                arn = f"arn:aws:elasticloadbalancing:{region}:{acct}:{suffix}"
                gen("arnSuffix", suffix)
            elif kind == "Listener":
                arn = (
                    f"arn:aws:elasticloadbalancing:{region}:{acct}:listener/app/"
                    f"{name[:32]}/{_hex(seed, 16)}/{_hex(seed + 'l', 16)}"
                )
            elif kind == "ListenerRule":
                arn = (
                    f"arn:aws:elasticloadbalancing:{region}:{acct}:listener-rule/app/"
                    f"{name[:32]}/{_hex(seed, 16)}/{_hex(seed + 'l', 16)}/{_hex(seed + 'r', 16)}"
                )
            rid = arn
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            arn = f"arn:aws:logs:{region}:{acct}:log-group:{phys}"
            rid = phys
        elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            arn = f"arn:aws:cloudwatch:{region}:{acct}:alarm:{phys}"
            rid = phys
        elif typ == "aws:cloudwatch/dashboard:Dashboard":
            dash = inputs.get("dashboardName", phys)
            arn = f"arn:aws:cloudwatch::{acct}:dashboard/{dash}"
            rid = dash
        elif typ == "aws:sns/topic:Topic":
            arn = f"arn:aws:sns:{region}:{acct}:{phys}"
            rid = arn
        elif typ == "aws:sns/topicSubscription:TopicSubscription":
            arn = f"{inputs.get('topic', f'arn:aws:sns:{region}:{acct}:topic')}:{_hex(seed, 8)}"
            rid = arn
        elif typ == "aws:dynamodb/table:Table":
            arn = f"arn:aws:dynamodb:{region}:{acct}:table/{phys}"
            rid = phys
        elif typ == "aws:codedeploy/application:Application":
            arn = f"arn:aws:codedeploy:{region}:{acct}:application:{phys}"
            rid = phys
            gen("applicationId", _hex(seed, 8) + "-" + _hex(seed, 4))
        elif typ == "aws:codedeploy/deploymentGroup:DeploymentGroup":
            app = inputs.get("appName", "app")
            group = inputs.get("deploymentGroupName", phys)
            arn = f"arn:aws:codedeploy:{region}:{acct}:deploymentgroup:{app}/{group}"
            rid = f"{_hex(seed, 8)}-{_hex(seed, 4)}"
        elif typ == "aws:codedeploy/deploymentConfig:DeploymentConfig":
            rid = inputs.get("deploymentConfigName", phys)
            arn = f"arn:aws:codedeploy:{region}:{acct}:deploymentconfig:{rid}"
        elif typ == "aws:xray/samplingRule:SamplingRule":
            rule = inputs.get("ruleName", phys)
            arn = f"arn:aws:xray:{region}:{acct}:sampling-rule/{rule}"
            rid = rule
        elif typ == "aws:kms/key:Key":
            key_id = self._gen(
                f"{_hex(seed, 8)}-{_hex(seed, 4)}-{_hex(seed + '1', 4)}-{_hex(seed + '2', 4)}-"
                f"{_hex(seed + '3', 12)}", f"key id of {name}")  # fmt: skip
            arn = f"arn:aws:kms:{region}:{acct}:key/{key_id}"
            rid = key_id
            state["keyId"] = key_id
        elif typ == "aws:wafv2/webAcl:WebAcl":
            acl_id = f"{_hex(seed, 8)}-{_hex(seed, 4)}-{_hex(seed + '1', 4)}-{_hex(seed + '2', 12)}"
            scope = "regional" if inputs.get("scope", "REGIONAL") == "REGIONAL" else "global"
            arn = f"arn:aws:wafv2:{region}:{acct}:{scope}/webacl/{phys}/{acl_id}"
            rid = self._gen(acl_id, f"id of {name}")
        elif typ == "aws:wafv2/webAclAssociation:WebAclAssociation":
            rid = f"{inputs.get('webAclArn')},{inputs.get('resourceArn')}"
        elif typ == "aws:s3/bucket:Bucket" or typ == "aws:s3/bucketV2:BucketV2":
            bucket = inputs.get("bucket", phys)
            arn = f"arn:aws:s3:::{bucket}"
            rid = bucket
            state["bucket"] = bucket
        elif typ == "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration":
            config_name = inputs.get("configurationName", phys)
            arn = f"arn:aws:chatbot::{acct}:chat-configuration/slack-channel/{config_name}"
            rid = arn
            gen("chatConfigurationArn", arn)
        elif typ == "aws:acm/certificate:Certificate":
            domain = str(inputs.get("domainName", "example.com"))
            cert_id = f"{_hex(seed, 8)}-{_hex(seed, 4)}-{_hex(seed + 'a', 4)}-{_hex(seed, 12)}"
            arn = f"arn:aws:acm:{region}:{acct}:certificate/{cert_id}"
            rid = arn
            state["domainValidationOptions"] = [{
                "domainName": domain, "resourceRecordType": "CNAME",
                "resourceRecordName": self._gen(f"_{_hex(seed, 32)}.{domain}.",
                                                f"validation record name of {name}"),
                "resourceRecordValue": self._gen(f"_{_hex(seed + 'v', 32)}.acm-validations.aws.",
                                                 f"validation record value of {name}"),
            }]  # fmt: skip
            state["status"] = "PENDING_VALIDATION"
        elif typ == "aws:acm/certificateValidation:CertificateValidation":
            rid = str(inputs.get("certificateArn", phys))
            arn = rid
        elif typ == "aws:route53/record:Record":
            record = str(inputs.get("name", phys))
            rid = f"{inputs.get('zoneId', 'Z0')}_{record}_{inputs.get('type', 'A')}"
            state["fqdn"] = record.rstrip(".")
            arn = rid
        elif typ.startswith("aws:s3/bucket") and "bucket" in inputs:
            # A bucket's configuration resources have no ARN of their own: IAM authorizes their
            # calls on the bucket, so they stand for it here.
            arn = f"arn:aws:s3:::{inputs['bucket']}"
            rid = str(inputs["bucket"])
        elif typ.startswith("aws:appautoscaling/"):
            rid = inputs.get("resourceId", phys)
            arn = (
                f"arn:aws:application-autoscaling:{region}:{acct}:scalable-target/{_hex(seed, 20)}"
            )
        elif typ == "aws:apigatewayv2/api:Api":
            rid = self._gen(_hex(seed, 10), f"id of {name}")
            arn = f"arn:aws:apigateway:{region}::/apis/{rid}"
            gen("apiEndpoint", f"https://{rid}.execute-api.{region}.amazonaws.com")
            gen("executionArn", f"arn:aws:execute-api:{region}:{acct}:{rid}")
        elif typ == "aws:apigatewayv2/stage:Stage":
            api = str(inputs.get("apiId", "api"))
            stage = str(inputs.get("name", phys))
            rid = stage
            arn = f"arn:aws:apigateway:{region}::/apis/{api}/stages/{stage}"
            path = "" if stage == "$default" else stage
            gen("invokeUrl", f"https://{api}.execute-api.{region}.amazonaws.com/{path}")
            gen("executionArn", f"arn:aws:execute-api:{region}:{acct}:{api}/{stage}")
        elif typ.startswith("aws:apigatewayv2/"):  # authorizer, integration, route: short ids
            rid = self._gen(_hex(seed, 7), f"id of {name}")
            arn = f"arn:aws:apigateway:{region}::/apis/{inputs.get('apiId', 'api')}/{rid}"
        elif typ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{region}:{acct}:function:{phys}"
            rid = phys
            gen("invokeArn", f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/"
                f"{arn}/invocations")  # fmt: skip
            gen("qualifiedArn", f"{arn}:$LATEST")
            state["version"] = "$LATEST"
        elif typ == "aws:lambda/permission:Permission":
            # A permission has no ARN of its own: a statement in the function's resource policy.
            rid = str(inputs.get("statementId") or self._gen(f"{name}-{short}", f"id of {name}"))
            arn = f"arn:aws:lambda:{region}:{acct}:function:{inputs.get('function')}#policy/{rid}"
        elif typ == "aws:rds/cluster:Cluster":
            rid = inputs.get("clusterIdentifier", phys)
            arn = f"arn:aws:rds:{region}:{acct}:cluster:{rid}"
            host = f"{_hex(seed, 12)}.{region}.rds.amazonaws.com"
            gen("endpoint", f"{rid}.cluster-{host}")
            gen("readerEndpoint", f"{rid}.cluster-ro-{host}")
            gen("clusterResourceId", f"cluster-{_hex(seed + 'r', 26).upper()}")
            state["clusterIdentifier"] = rid
            state["hostedZoneId"] = "Z2R2ITUGPM61AM"
            state.setdefault("port", 5432)
            if inputs.get("manageMasterUserPassword"):
                # RDS names the secret it manages rds!cluster-<uuid>, plus Secrets Manager's suffix.
                uuid = f"{_hex(seed, 8)}-{_hex(seed, 4)}-{_hex(seed + '1', 4)}-{_hex(seed + '2', 4)}-{_hex(seed + '3', 12)}"
                secret = f"arn:aws:secretsmanager:{region}:{acct}:secret:rds!cluster-{uuid}-{_hex(seed, 6)}"
                state["masterUserSecrets"] = [{
                    "secretArn": self._gen(secret, f"master user secret of {name}"),
                    "kmsKeyId": inputs.get("masterUserSecretKmsKeyId")
                    or f"arn:aws:kms:{region}:{acct}:key/{_hex(seed + 'k', 8)}-aws-managed",
                    "secretStatus": "active",
                }]  # fmt: skip
        elif typ == "aws:rds/clusterInstance:ClusterInstance":
            rid = inputs.get("identifier", phys)
            arn = f"arn:aws:rds:{region}:{acct}:db:{rid}"
            gen("endpoint", f"{rid}.{_hex(seed, 12)}.{region}.rds.amazonaws.com")
            gen("dbiResourceId", f"db-{_hex(seed + 'r', 26).upper()}")
            state.setdefault("port", 5432)
        elif typ == "aws:rds/subnetGroup:SubnetGroup":
            rid = phys
            arn = f"arn:aws:rds:{region}:{acct}:subgrp:{phys}"
        elif typ == "aws:elasticache/replicationGroup:ReplicationGroup":
            rid = inputs.get("replicationGroupId", phys)
            arn = f"arn:aws:elasticache:{region}:{acct}:replicationgroup:{rid}"
            host = f"{rid}.{_hex(seed, 6)}.use1.cache.amazonaws.com"
            gen("primaryEndpointAddress", f"master.{host}")
            gen("readerEndpointAddress", f"replica.{host}")
            nodes = int(inputs.get("numCacheClusters") or 1)
            state["memberClusters"] = [f"{rid}-{i + 1:03d}" for i in range(nodes)]
        elif typ == "aws:elasticache/subnetGroup:SubnetGroup":
            rid = phys
            arn = f"arn:aws:elasticache:{region}:{acct}:subnetgroup:{phys}"
        elif typ == "aws:secretsmanager/secret:Secret":
            # Secrets Manager appends a dash and six random characters to the name.
            secret_name = inputs.get("name") or f"{inputs.get('namePrefix', phys)}{_hex(seed, 26)}"
            state["name"] = self._gen(secret_name, f"name of {name}")
            arn = f"arn:aws:secretsmanager:{region}:{acct}:secret:{secret_name}-{_hex(seed, 6)}"
            rid = arn
        elif typ == "aws:secretsmanager/secretVersion:SecretVersion":
            version = (
                f"{_hex(seed, 8)}-{_hex(seed, 4)}-{_hex(seed + 'v', 4)}-{_hex(seed + 'w', 12)}"
            )
            gen("versionId", version)
            state["versionStages"] = ["AWSCURRENT"]
            rid = f"{inputs.get('secretId', 'secret')}|{version}"
            arn = str(inputs.get("secretId", ""))
        elif typ == "pulumi-python:dynamic/data:AuthToken":
            # What components.auth_token draws on create; a fixed placeholder here (never a
            # real credential), kept secret by the resource's additional_secret_outputs.
            rid = self._gen(_hex(seed, 16), f"id of {name}")
            state["result"] = self._gen(f"mock-token-{_hex(seed, 32)}", f"token of {name}")
        elif typ.startswith("pulumi-python:dynamic"):
            # The release resource: CodeDeploy answers with a deployment id and the revision
            # that now serves traffic.
            rid = self._gen(f"d-{_hex(seed, 9).upper()}", f"deployment id of {name}")
            state["deployment_id"] = rid
            state["deployment_status"] = "Succeeded"
            state["serving_task_definition_arn"] = inputs.get("task_definition_arn")
            state["events"] = ["Succeeded: production traffic is on the new task set"]

        state.setdefault("arn", self._gen(arn, f"arn of {name}"))
        state.setdefault("id", rid)
        state.setdefault("tagsAll", inputs.get("tags", {}))
        return rid, state
