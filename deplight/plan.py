"""``deplight plan``: the resource tree a ``pulumi up`` of a stack would create, offline.

Pure rendering over a :class:`~deplight.harness.ProgramRun`. Per resource it shows the inputs
that decide behaviour, in words where the raw property would hide them: each container's image
and health check, what each listener does (forward to which target group, redirect), who may
assume each role and what it may do, security-group rules as sentences. Documents (IAM policies,
container definitions, dashboards) are summarised in the text, printed whole with
``--show-documents``, and always whole in ``--json``. Values the mocks invented (ids, ARNs, DNS
names that only AWS knows) are shown as ``<id of web-dev-vpc>`` placeholders.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deplight.harness import ProgramRun, Registered

PLACEHOLDER_NOTE = (
    "Values in <angle brackets> are known only after AWS creates the resource; "
    "they are placeholders here."
)
DOCUMENTS_HINT = "--show-documents prints it"

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
LISTENER_RULES = ("aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule")
TARGET_GROUPS = ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
ECS_SERVICE = "aws:ecs/service:Service"

# The inputs worth a reviewer's eye per resource type (engine property names).
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone"),
    "aws:ec2/natGateway:NatGateway": ("subnetId",),
    "aws:ec2/routeTable:RouteTable": ("routes",),
    SECURITY_GROUP: ("vpcId", "description"),
    SG_INGRESS: (),
    SG_EGRESS: (),
    "aws:ecr/repository:Repository": ("name", "imageTagMutability", "imageScanningConfiguration"),
    "aws:ecs/cluster:Cluster": ("name", "settings"),
    TASK_DEFINITION: ("family", "cpu", "memory"),
    ECS_SERVICE: (
        "name", "desiredCount", "launchType", "deploymentController", "networkConfiguration",
    ),
    "aws:lb/loadBalancer:LoadBalancer": (
        "name", "internal", "enableDeletionProtection", "dropInvalidHeaderFields",
    ),
    "aws:lb/targetGroup:TargetGroup": ("name", "port", "targetType"),
    "aws:lb/listener:Listener": ("port", "protocol", "sslPolicy", "certificateArn"),
    "aws:lb/listenerRule:ListenerRule": ("priority",),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "retentionInDays"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (
        "name", "metricName", "threshold", "comparisonOperator", "treatMissingData",
    ),
    "aws:codedeploy/deploymentGroup:DeploymentGroup": (
        "deploymentGroupName", "deploymentConfigName", "autoRollbackConfiguration",
    ),
    ROLE: ("name", "maxSessionDuration", "permissionsBoundary"),
    ROLE_POLICY: ("role",),
    ROLE_POLICY_ATTACHMENT: ("role", "policyArn"),
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
    "pulumi-python:dynamic/deplight:Release": (
        "task_definition_arn", "application_name", "deployment_group_name", "all_at_once",
    ),
}  # fmt: skip
SKIP_INPUTS = {"tags", "tagsAll", "__provider", "__defaults"}
MAX_AUTO_INPUTS = 4
DOCUMENT_INPUTS = {"policy", "assumeRolePolicy", "containerDefinitions", "dashboardBody",
                   "inlinePolicies"}  # fmt: skip
"""Inputs that hold whole documents (JSON strings or lists of them)."""


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


def _parse_json(value: Any) -> Any:
    """A JSON document given as a string (as the engine carries policies), else ``value``."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@dataclass
class _Context:
    """What describing one resource may look up: the run, placeholders, names of references."""

    run: ProgramRun
    subst: _Placeholders
    names: dict[str, str] = field(default_factory=dict)
    """An ARN, id or physical name of a registered resource -> its logical name."""

    @classmethod
    def of(cls, run: ProgramRun) -> _Context:
        names: dict[str, str] = {}
        for r in run.resources:
            if not r.custom:
                continue
            for value in (r.id, r.outputs.get("arn"), r.outputs.get("name")):
                if isinstance(value, str) and value:
                    names.setdefault(value, r.name)
        return cls(run, _Placeholders(run.generated), names)

    def ref(self, value: Any) -> str:
        """A reference as the resource it points at (``web-prod-blue``), else as a value."""
        if isinstance(value, str) and value in self.names:
            return self.names[value]
        shown = self.subst(value)
        return shown if isinstance(shown, str) else json.dumps(shown)

    def related(self, types: Iterable[str], key: str, target: Registered) -> list[Registered]:
        """Resources of ``types`` whose input ``key`` refers to ``target``."""
        wanted = set(types)
        own = {v for v in (target.id, target.outputs.get("arn"), target.outputs.get("name"),
                           target.inputs.get("name")) if v}  # fmt: skip
        return [r for r in self.run.resources if r.type in wanted and r.inputs.get(key) in own]


# -- facts: the inputs that decide behaviour, in words ---------------------------------------------


def _ports(protocol: Any, low: Any, high: Any) -> str:
    proto = str(protocol)
    if proto in ("-1", "all"):
        return "all traffic"
    if low is None:
        return proto.upper()
    low, high = int(low), int(high if high is not None else low)
    return f"{proto.upper()} {low}" if low == high else f"{proto.upper()} {low}-{high}"


def _peer(ctx: _Context, props: Mapping[str, Any]) -> str:
    if props.get("cidrIpv4") or props.get("cidrIpv6"):
        cidr = props.get("cidrIpv4") or props.get("cidrIpv6")
        return f"{cidr} (anywhere)" if cidr in ("0.0.0.0/0", "::/0") else str(cidr)
    if props.get("referencedSecurityGroupId"):
        return f"security group {ctx.ref(props['referencedSecurityGroupId'])}"
    if props.get("prefixListId"):
        return f"prefix list {ctx.ref(props['prefixListId'])}"
    return "nowhere"


def _rule_sentence(ctx: _Context, rule: Registered) -> str:
    p = rule.inputs
    what = _ports(p.get("ipProtocol"), p.get("fromPort"), p.get("toPort"))
    if rule.type == SG_INGRESS:
        return f"allows in {what} from {_peer(ctx, p)}"
    return f"allows out {what} to {_peer(ctx, p)}"


def _inline_rule_sentences(ctx: _Context, group: Registered) -> list[str]:
    out = []
    for direction, word, prep in (("ingress", "in", "from"), ("egress", "out", "to")):
        for rule in _as_list(group.inputs.get(direction)):
            if not isinstance(rule, Mapping):
                continue
            what = _ports(rule.get("protocol"), rule.get("fromPort"), rule.get("toPort"))
            peers = [*_as_list(rule.get("cidrBlocks")), *_as_list(rule.get("ipv6CidrBlocks")),
                     *(f"security group {ctx.ref(g)}" for g in _as_list(rule.get("securityGroups")))]  # fmt: skip
            out.append(f"allows {word} {what} {prep} {', '.join(map(str, peers)) or 'nowhere'}")
    return out


def _health_check_words(check: Mapping[str, Any] | None) -> str:
    if not check:
        return "none in the container (only the load balancer's target-group check)"
    command = [str(c) for c in _as_list(check.get("command"))]
    shown = " ".join(command[1:]) if command[:1] in (["CMD"], ["CMD-SHELL"]) else " ".join(command)
    form = "shell" if command[:1] == ["CMD-SHELL"] else "exec"
    timing = ", ".join(
        f"{label} {check[key]}{unit}"
        for key, label, unit in (("interval", "every", "s"), ("timeout", "timeout", "s"),
                                 ("retries", "retries", ""), ("startPeriod", "start period", "s"))
        if check.get(key) is not None
    )  # fmt: skip
    return f"`{shown}` ({form} form; {timing})"


def _container_facts(ctx: _Context, res: Registered) -> list[str]:
    containers = _parse_json(res.inputs.get("containerDefinitions"))
    out = []
    for c in _as_list(containers):
        if not isinstance(c, Mapping):
            continue
        name = c.get("name")
        out.append(f"container {name}: image {ctx.subst(c.get('image'))}"
                   + ("" if c.get("essential", True) else " (not essential)"))  # fmt: skip
        ports = [f"{p.get('containerPort')}/{p.get('protocol', 'tcp')}"
                 for p in _as_list(c.get("portMappings"))]  # fmt: skip
        if ports:
            out.append(f"container {name}: listens on {', '.join(ports)}")
        out.append(f"container {name}: health check {_health_check_words(c.get('healthCheck'))}")
        env = [e.get("name") for e in _as_list(c.get("environment"))]
        secrets = [f"{s.get('name')} <- {ctx.ref(s.get('valueFrom'))}"
                   for s in _as_list(c.get("secrets"))]  # fmt: skip
        if env:
            out.append(f"container {name}: environment {', '.join(map(str, env))}")
        if secrets:
            out.append(f"container {name}: secrets {', '.join(secrets)}")
        log = (c.get("logConfiguration") or {}).get("options") or {}
        if log.get("awslogs-group"):
            out.append(f"container {name}: logs to {ctx.subst(log['awslogs-group'])}")
    return out


def _action_words(ctx: _Context, action: Mapping[str, Any]) -> str:
    kind = action.get("type")
    if kind == "forward":
        groups = [(g.get("arn"), g.get("weight")) for g in
                  _as_list((action.get("forward") or {}).get("targetGroups"))]  # fmt: skip
        if not groups:
            return f"forward to target group {ctx.ref(action.get('targetGroupArn'))}"
        return "forward to " + ", ".join(
            f"target group {ctx.ref(arn)}" + (f" (weight {weight})" if weight is not None else "")
            for arn, weight in groups
        )
    if kind == "redirect":
        r = action.get("redirect") or {}
        to = f"{r.get('protocol', '#{protocol}')}:{r.get('port', '#{port}')}"
        return f"redirect to {to} ({r.get('statusCode', 'HTTP_301')})"
    if kind == "fixed-response":
        f = action.get("fixedResponse") or {}
        return f"answer {f.get('statusCode')} itself ({f.get('contentType', 'no body')})"
    return f"{kind} {json.dumps(ctx.subst(dict(action)), sort_keys=True)}"


RULE_FIELDS = {"pathPattern": "path matches", "hostHeader": "host matches",
               "httpRequestMethod": "method is", "sourceIp": "client address in"}  # fmt: skip


def _condition_words(ctx: _Context, cond: Mapping[str, Any]) -> str:
    for key, words in RULE_FIELDS.items():
        if isinstance(cond.get(key), Mapping):
            return f"{words} {' or '.join(map(str, _as_list(cond[key].get('values'))))}"
    return json.dumps(ctx.subst(dict(cond)), sort_keys=True)


def _listener_facts(ctx: _Context, res: Registered) -> list[str]:
    key = "defaultActions" if res.type in LISTENERS else "actions"
    actions = [a for a in _as_list(res.inputs.get(key)) if isinstance(a, Mapping)]
    out = [f"does: {'; then '.join(_action_words(ctx, a) for a in actions) or 'nothing'}"]
    if res.type in LISTENER_RULES:
        for cond in _as_list(res.inputs.get("conditions")):
            if isinstance(cond, Mapping):
                out.append(f"when: {_condition_words(ctx, cond)}")
        out.append(f"on listener: {ctx.ref(res.inputs.get('listenerArn'))}")
    if "defaultActions" in res.ignore_changes or "actions" in res.ignore_changes:
        out.append("note: the deployment controller changes these actions at each release")
    return out


def _target_group_facts(_ctx: _Context, res: Registered) -> list[str]:
    hc = res.inputs.get("healthCheck") or {}
    if not hc:
        return []
    return [
        f"health check: {hc.get('protocol', 'HTTP')} GET {hc.get('path', '/')} every "
        f"{hc.get('interval', 30)}s (timeout {hc.get('timeout', 5)}s), healthy after "
        f"{hc.get('healthyThreshold', 5)} successes, unhealthy after "
        f"{hc.get('unhealthyThreshold', 2)} failures, success codes {hc.get('matcher', '200')}"
    ]


def _service_facts(ctx: _Context, res: Registered) -> list[str]:
    out = []
    if res.inputs.get("taskDefinition"):
        out.append(f"runs: task definition {ctx.ref(res.inputs['taskDefinition'])}")
    for lb in _as_list(res.inputs.get("loadBalancers")):
        if isinstance(lb, Mapping):
            out.append(f"behind: target group {ctx.ref(lb.get('targetGroupArn'))} -> container "
                       f"{lb.get('containerName')}:{lb.get('containerPort')}")  # fmt: skip
    return out


def _statement_words(ctx: _Context, st: Mapping[str, Any]) -> str:
    actions = [str(a) for a in _as_list(st.get("Action") or st.get("NotAction"))]
    resources = [ctx.ref(r) for r in _as_list(st.get("Resource") or st.get("NotResource"))]
    verb = st.get("Effect", "Allow")
    text = (f"{verb}{' all but' if 'NotAction' in st else ''} {', '.join(actions)} on "
            f"{'all but ' if 'NotResource' in st else ''}{', '.join(resources) or '(none)'}")  # fmt: skip
    if st.get("Condition"):
        text += f" if {_conditions(ctx, st['Condition'])}"
    return f"{st['Sid']}: {text}" if st.get("Sid") else text


def _conditions(ctx: _Context, condition: Mapping[str, Any]) -> str:
    parts = []
    for op, pairs in condition.items():
        for key, values in (pairs or {}).items():
            shown = " | ".join(str(ctx.subst(v)) for v in _as_list(values))
            parts.append(f"{key} {op} {shown}")
    return " and ".join(parts)


def _principal_words(ctx: _Context, principal: Any) -> str:
    if principal == "*":
        return "anyone"
    if not isinstance(principal, Mapping):
        return str(principal)
    words = []
    for kind, ids in principal.items():
        label = {"Service": "AWS service", "Federated": "identity provider",
                 "AWS": "AWS principal"}.get(kind, kind)  # fmt: skip
        words += [f"{label} {ctx.ref(i)}" for i in _as_list(ids)]
    return ", ".join(words)


def _role_facts(ctx: _Context, res: Registered) -> list[str]:
    out = []
    trust = _parse_json(res.inputs.get("assumeRolePolicy"))
    for st in _as_list(trust.get("Statement") if isinstance(trust, Mapping) else None):
        if not isinstance(st, Mapping):
            continue
        who = _principal_words(ctx, st.get("Principal"))
        how = ", ".join(map(str, _as_list(st.get("Action"))))
        text = f"{st.get('Effect', 'Allow')} {who} ({how})"
        if st.get("Condition"):
            text += f" if {_conditions(ctx, st['Condition'])}"
        out.append(f"trust: {text}")
    if not out:
        out.append("trust: nobody (no assume-role policy)")
    permissions: list[tuple[str, Any]] = []
    for inline in _as_list(res.inputs.get("inlinePolicies")):
        if isinstance(inline, Mapping) and inline.get("policy"):
            permissions.append((f"inline {inline.get('name') or 'policy'}",
                                _parse_json(inline["policy"])))  # fmt: skip
    for rp in ctx.related((ROLE_POLICY,), "role", res):
        permissions.append((rp.name, _parse_json(rp.inputs.get("policy"))))
    for arn in _as_list(res.inputs.get("managedPolicyArns")):
        out.append(f"permissions: managed policy {ctx.ref(arn)}")
    for att in ctx.related((ROLE_POLICY_ATTACHMENT,), "role", res):
        out.append(f"permissions: managed policy {ctx.ref(att.inputs.get('policyArn'))} "
                   f"({att.name})")  # fmt: skip
    for source, doc in permissions:
        statements = doc.get("Statement") if isinstance(doc, Mapping) else None
        for st in _as_list(statements):
            if isinstance(st, Mapping):
                out.append(f"permissions ({source}): {_statement_words(ctx, st)}")
    if not any(line.startswith("permissions") for line in out):
        out.append("permissions: none")
    if res.inputs.get("permissionsBoundary"):
        out.append(f"boundary: {ctx.ref(res.inputs['permissionsBoundary'])}")
    return out


def _security_group_facts(ctx: _Context, res: Registered) -> list[str]:
    rules = ctx.related((SG_INGRESS, SG_EGRESS), "securityGroupId", res)
    lines = [_rule_sentence(ctx, r) for r in rules] + _inline_rule_sentences(ctx, res)
    return [f"rule: {line}" for line in lines] or ["rule: none (nothing in, nothing out)"]


def _policy_facts(ctx: _Context, res: Registered) -> list[str]:
    doc = _parse_json(res.inputs.get("policy"))
    statements = doc.get("Statement") if isinstance(doc, Mapping) else None
    count = len(_as_list(statements))
    return [f"grants: {count} statement(s), listed under role {ctx.ref(res.inputs.get('role'))}"]


FACTS: dict[str, Callable[[_Context, Registered], list[str]]] = {
    TASK_DEFINITION: _container_facts,
    **dict.fromkeys(LISTENERS + LISTENER_RULES, _listener_facts),
    **dict.fromkeys(TARGET_GROUPS, _target_group_facts),
    ECS_SERVICE: _service_facts,
    ROLE: _role_facts,
    ROLE_POLICY: _policy_facts,
    SECURITY_GROUP: _security_group_facts,
    SG_INGRESS: lambda ctx, r: [_rule_sentence(ctx, r)],
    SG_EGRESS: lambda ctx, r: [_rule_sentence(ctx, r)],
}


def _whole_numbers(value: Any) -> Any:
    """Protobuf Structs carry every number as a float: 8080.0 -> 8080, recursively."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_whole_numbers(v) for v in value]
    return value


def facts(res: Registered, ctx: _Context) -> list[str]:
    """What the resource will do, in words (``trust: ...``, ``does: forward to ...``)."""
    describe = FACTS.get(res.type)
    if describe is None:
        return []
    return describe(ctx, dataclasses.replace(res, inputs=_whole_numbers(dict(res.inputs))))


def documents(res: Registered, subst: _Placeholders) -> dict[str, Any]:
    """Every document-valued input, parsed and whole (placeholders substituted)."""
    out = {}
    for key in sorted(DOCUMENT_INPUTS & set(res.inputs)):
        value = res.inputs[key]
        if key == "inlinePolicies":
            value = [{**p, "policy": _parse_json(p.get("policy"))} if isinstance(p, Mapping)
                     else p for p in _as_list(value)]  # fmt: skip
        else:
            value = _parse_json(value)
        if isinstance(value, (Mapping, list)) and value:
            out[key] = subst(value)
    return out


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
    """Nests resources by parent, in the run's order, with placeholder-substituted inputs, the
    facts in words and the whole documents."""
    ctx = _Context.of(run)
    nodes: dict[str, dict[str, Any]] = {}
    for r in run.resources:
        node: dict[str, Any] = {
            "name": r.name,
            "type": r.type,
            "kind": "resource" if r.custom else "component",
            "inputs": ctx.subst(
                {k: _parse_json(v) if k in DOCUMENT_INPUTS else v for k, v in key_inputs(r).items()}
            ),  # fmt: skip
            "facts": facts(r, ctx),
            "children": [],
        }
        if docs := documents(r, ctx.subst):
            node["documents"] = docs
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


def _fmt(key: str, value: Any) -> str:
    """One input on one line, never cut: documents are summarised (whole with --show-documents)."""
    if key in DOCUMENT_INPUTS and isinstance(value, (Mapping, list)):
        statements = value.get("Statement") if isinstance(value, Mapping) else None
        what = (f"IAM policy, {len(_as_list(statements))} statement(s)" if statements is not None
                else f"document, {len(json.dumps(value))} characters")  # fmt: skip
        return f"{what} ({DOCUMENTS_HINT})"
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def summary_table(run: ProgramRun) -> list[str]:
    """The per-type count as a table: one type per row, components marked."""
    counts = summary(run)
    custom = sum(1 for r in run.resources if r.custom)
    width = max((len(str(n)) for n in counts.values()), default=1)
    rows = [f"Summary: {custom} resources in {len(run.resources) - custom} components",
            f"  {'count':>{max(width, 5)}}  type"]  # fmt: skip
    kinds = {r.type: r.custom for r in run.resources}
    for type_, n in counts.items():
        rows.append(f"  {n:>{max(width, 5)}}  {type_}{'' if kinds[type_] else '  (component)'}")
    return rows


def render_text(run: ProgramRun, warnings: list[str] | None = None, *,
                show_documents: bool = False) -> str:  # fmt: skip
    """The tree as indented text, then the summary table, warnings and the placeholder note."""
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
            lines.append(f"{pad}      {k}: {_fmt(k, v)}")
        for fact in node["facts"]:
            lines.append(f"{pad}      {fact}")
        if show_documents:
            for key, doc in node.get("documents", {}).items():
                lines.append(f"{pad}      {key} (whole document):")
                for text in json.dumps(doc, indent=2, sort_keys=False).splitlines():
                    lines.append(f"{pad}        {text}")
        for child in node["children"]:
            walk(child, depth + 1)

    for root in build_tree(run):
        walk(root, 0)
    lines.append("")
    lines += summary_table(run)
    for w in warnings or []:
        lines.append(f"warning: {w}")
    lines.append(PLACEHOLDER_NOTE)
    return "\n".join(lines)


def render_json(run: ProgramRun, warnings: list[str] | None = None) -> str:
    """The same as :func:`render_text` with every document whole, for machines."""
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
