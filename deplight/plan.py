"""``deplight plan``: the resource tree a ``pulumi up`` of a stack would create, offline.

Pure rendering over a :class:`~deplight.harness.ProgramRun`; values the mocks invented (ids,
ARNs, DNS names that only AWS knows) are shown as ``<id of web-dev-vpc>`` placeholders.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from deplight.harness import ProgramRun, Registered

PLACEHOLDER_NOTE = (
    "Values in <angle brackets> are known only after AWS creates the resource; "
    "they are placeholders here."
)

# The inputs worth a reviewer's eye per resource type (engine property names).
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone"),
    "aws:ec2/natGateway:NatGateway": ("subnetId",),
    "aws:ec2/routeTable:RouteTable": ("routes",),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (
        "ipProtocol", "fromPort", "toPort", "cidrIpv4", "cidrIpv6", "referencedSecurityGroupId",
    ),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": (
        "ipProtocol", "fromPort", "toPort", "cidrIpv4", "cidrIpv6", "referencedSecurityGroupId",
    ),
    "aws:ecr/repository:Repository": ("name", "imageTagMutability", "imageScanningConfiguration"),
    "aws:ecs/cluster:Cluster": ("name", "settings"),
    "aws:ecs/taskDefinition:TaskDefinition": ("family", "cpu", "memory"),
    "aws:ecs/service:Service": (
        "name", "desiredCount", "launchType", "deploymentController", "networkConfiguration",
    ),
    "aws:lb/loadBalancer:LoadBalancer": (
        "name", "internal", "enableDeletionProtection", "dropInvalidHeaderFields",
    ),
    "aws:lb/targetGroup:TargetGroup": ("name", "port", "targetType", "healthCheck"),
    "aws:lb/listener:Listener": ("port", "protocol", "sslPolicy", "certificateArn"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "retentionInDays"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (
        "name", "metricName", "threshold", "comparisonOperator", "treatMissingData",
    ),
    "aws:codedeploy/deploymentGroup:DeploymentGroup": (
        "deploymentGroupName", "deploymentConfigName", "autoRollbackConfiguration",
    ),
    "aws:iam/role:Role": ("name", "maxSessionDuration"),
    "aws:dynamodb/table:Table": ("name", "billingMode", "hashKey", "rangeKey"),
    "aws:rds/cluster:Cluster": (
        "clusterIdentifier", "engineVersion", "storageEncrypted", "deletionProtection",
        "backupRetentionPeriod", "serverlessv2ScalingConfiguration",
    ),
    "aws:rds/clusterInstance:ClusterInstance": (
        "identifier", "instanceClass", "availabilityZone", "publiclyAccessible",
    ),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        "replicationGroupId", "engine", "nodeType", "numCacheClusters", "automaticFailoverEnabled",
        "transitEncryptionEnabled",
    ),
    "aws:secretsmanager/secretVersion:SecretVersion": ("secretId",),
    "pulumi-python:dynamic/data:AuthToken": ("length", "rotation"),
    # the CodeDeploy release resource
    "pulumi-python:dynamic:Resource": (
        "task_definition_arn", "application_name", "deployment_group_name", "all_at_once",
    ),
}  # fmt: skip
SKIP_INPUTS = {"tags", "tagsAll", "__provider", "__defaults"}
MAX_AUTO_INPUTS = 4
MAX_VALUE_CHARS = 160


class _Placeholders:
    """Replaces every mock-invented value inside a string with ``<what it stands for>``."""

    def __init__(self, generated: Mapping[str, str]) -> None:
        self.generated = dict(generated)
        keys = sorted((k for k in generated if len(k) >= 6), key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, keys))) if keys else None

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            if self.pattern is None:
                return value
            return self.pattern.sub(lambda m: f"<{self.generated[m.group(0)]}>", value)
        if isinstance(value, Mapping):
            return {k: self(v) for k, v in value.items() if k not in SKIP_INPUTS}
        if isinstance(value, (list, tuple)):
            return [self(v) for v in value]
        if isinstance(value, float) and value.is_integer():
            return int(value)  # protobuf Structs carry every number as a float
        return value


def key_inputs(res: Registered) -> dict[str, Any]:
    """The inputs shown for a resource: the curated ones, or its first few scalar inputs."""
    wanted = KEY_INPUTS.get(res.type)
    if wanted is not None:
        return {k: res.inputs[k] for k in wanted if res.inputs.get(k) not in (None, "", [], {})}
    if not res.custom:
        return {}
    shown: dict[str, Any] = {}
    for k, v in res.inputs.items():
        if k in SKIP_INPUTS or isinstance(v, (dict, list)) or v in (None, ""):
            continue
        shown[k] = v
        if len(shown) == MAX_AUTO_INPUTS:
            break
    return shown


def build_tree(run: ProgramRun) -> list[dict[str, Any]]:
    """Nests resources by parent, in the run's order, with placeholder-substituted inputs."""
    subst = _Placeholders(run.generated)
    nodes: dict[str, dict[str, Any]] = {}
    for r in run.resources:
        node: dict[str, Any] = {
            "name": r.name,
            "type": r.type,
            "kind": "resource" if r.custom else "component",
            "inputs": subst(key_inputs(r)),
            "children": [],
        }
        if r.ignore_changes:
            node["ignore_changes"] = list(r.ignore_changes)
        if r.protect:
            node["protect"] = True
        nodes[r.urn] = node
    roots: list[dict[str, Any]] = []
    for r in run.resources:
        parent = nodes.get(r.parent)
        (parent["children"] if parent is not None else roots).append(nodes[r.urn])
    return roots


def summary(run: ProgramRun) -> dict[str, int]:
    """Resources per type, most frequent first (components included)."""
    counts = Counter(r.type for r in run.resources)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _fmt(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def render_text(run: ProgramRun, warnings: list[str] | None = None) -> str:
    """The tree as indented text, then the summary line and the placeholder note."""
    lines = [f"Stack {run.stack}: resources a `pulumi up` would create", ""]

    def walk(node: dict[str, Any], depth: int) -> None:
        pad = "    " * depth
        extra = []
        if node.get("ignore_changes"):
            extra.append("ignore_changes=" + ",".join(node["ignore_changes"]))
        if node.get("protect"):
            extra.append("protected")
        head = f"{pad}{'+' if node['kind'] == 'resource' else '*'} {node['type']}  {node['name']}"
        lines.append(head + (f"  [{'; '.join(extra)}]" if extra else ""))
        for k, v in node["inputs"].items():
            lines.append(f"{pad}      {k}: {_fmt(v)}")
        for child in node["children"]:
            walk(child, depth + 1)

    for root in build_tree(run):
        walk(root, 0)
    counts = summary(run)
    custom = sum(1 for r in run.resources if r.custom)
    components = len(run.resources) - custom
    lines.append("")
    lines.append(
        f"Summary: {custom} resources in {components} components: "
        + ", ".join(f"{n} {t}" for t, n in counts.items())
    )
    for w in warnings or []:
        lines.append(f"warning: {w}")
    lines.append(PLACEHOLDER_NOTE)
    return "\n".join(lines)


def render_json(run: ProgramRun, warnings: list[str] | None = None) -> str:
    """The same as :func:`render_text`, for machines."""
    subst = _Placeholders(run.generated)
    return json.dumps(
        {
            "stack": run.stack,
            "resources": build_tree(run),
            "summary": summary(run),
            "resource_count": sum(1 for r in run.resources if r.custom),
            "component_count": sum(1 for r in run.resources if not r.custom),
            "outputs": subst(run.outputs),
            "warnings": list(warnings or []),
            "note": PLACEHOLDER_NOTE,
        },
        indent=2,
        default=str,
    )
