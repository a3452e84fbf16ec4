"""Deployment safety: what no public rule set checks, because it needs the whole stack.

A release is safe when a bad revision is caught and undone before it takes all traffic: the
alarms the deployment waits on watch both target groups, traffic moves in steps with a bake time,
the service keeps its capacity while it moves, the revision's image is this stack's own and
pinned, the container reports its own health, and the deployment shifts the listeners and target
groups the service really uses. The engine sends resource *outputs* to stack rules, so resources
are matched by names and ARNs (see :mod:`policies.rules.stack`).

A *rollback* release (``deplight:release.kind: rollback``) shifts all traffic at once through the
release resource's ``all_at_once`` input, not through the deployment group or the service, which
keep their canary or linear configuration: so rollbacks pass ``deployment-traffic-shifting`` by
construction, and a forward release never can be all at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .common import as_list, violation
from .stack import ALARM, GROUP, SERVICE, Res, stack_policy
from .task_definition import DIGEST, containers

TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
REPOSITORY = "aws:ecr/repository:Repository"
DEPLOYMENT_CONFIG = "aws:codedeploy/deploymentConfig:DeploymentConfig"
ALL_AT_ONCE = "CodeDeployDefault.ECSAllAtOnce"
PREDEFINED = re.compile(
    r"^CodeDeployDefault\.ECS(Canary|Linear)(\d+)Percent(?:Every)?(\d+)Minutes?$"
)


def tg_name(arn_or_suffix: Any) -> str:
    """``.../targetgroup/<name>/<id>`` or ``targetgroup/<name>/<id>`` -> ``<name>``."""
    text = str(arn_or_suffix)
    return text.split("targetgroup/", 1)[1].split("/", 1)[0] if "targetgroup/" in text else text


def alarm_target_groups(alarm: Res) -> set[str]:
    """Names of the target groups an alarm's metrics (plain or metric queries) are about."""
    dims = [alarm.props.get("dimensions") or {}]
    dims += [(q.get("metric") or {}).get("dimensions") or {}
             for q in as_list(alarm.props.get("metricQueries")) if isinstance(q, Mapping)]  # fmt: skip
    return {tg_name(d["TargetGroup"]) for d in dims if d.get("TargetGroup")}


def pair_info(group: Res) -> Mapping[str, Any]:
    info = (group.props.get("loadBalancerInfo") or {}).get("targetGroupPairInfo") or {}
    # the provider's max-one block may also arrive as a one-element list
    return next(iter(as_list(info)), {}) if not isinstance(info, Mapping) else info


def deployments(resources: Sequence[Res]) -> Iterator[tuple[Res, list[str], list[str]]]:
    """Every blue/green deployment: (the resource that waits, its alarms, its target groups).

    CodeDeploy groups; ECS services of the ECS controller with an alternate target group
    (ECS blue/green)."""
    for r in resources:
        if r.type == GROUP:
            pair = pair_info(r)
            tgs = [str(t.get("name")) for t in as_list(pair.get("targetGroups"))
                   if isinstance(t, Mapping)]  # fmt: skip
            alarms = as_list((r.props.get("alarmConfiguration") or {}).get("alarms"))
            yield r, [str(a) for a in alarms], tgs
        elif r.type == SERVICE:
            for lb in as_list(r.props.get("loadBalancers")):
                alt = (lb.get("advancedConfiguration") or {}).get("alternateTargetGroupArn")
                if alt:
                    alarms = as_list((r.props.get("alarms") or {}).get("alarmNames"))
                    yield r, [str(a) for a in alarms], [tg_name(lb.get("targetGroupArn")),
                                                        tg_name(alt)]  # fmt: skip


def check_alarms_cover(resources: Sequence[Res], _cfg: Mapping[str, Any]) -> list[tuple[Res, str]]:
    alarms = {str(r.props.get("name") or r.name): r for r in resources if r.type == ALARM}
    out = []
    for owner, names, tgs in deployments(resources):
        missing = [n for n in names if n not in alarms]
        if missing and owner.type == SERVICE:  # CodeDeploy: codedeploy-alarms-exist says so
            out.append((owner, violation(missing, "the deployment waits on alarms this stack "
                                         "does not define", "wait on the stack's "
                                         "rollback_alarm_names")))  # fmt: skip
        covered = set().union(*(alarm_target_groups(alarms[n]) for n in names if n in alarms))
        uncovered = [t for t in tgs if t not in covered]
        if uncovered:
            out.append((owner, violation(
                {"uncovered": uncovered, "alarms": names},
                "no rollback alarm the deployment waits on watches "
                + " and ".join(repr(t) for t in uncovered)
                + " (a bad revision serves from either group after a swap)",
                "wait on an unhealthy-hosts alarm per target group (the stack's "
                "blue-/green-unhealthy-hosts alarms)",
            )))  # fmt: skip
    return out


def _minutes(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def codedeploy_shift(group: Res, resources: Sequence[Res]) -> tuple[str, float | None]:
    """(kind, minutes between steps) of a group's deployment config."""
    name = str(group.props.get("deploymentConfigName") or "CodeDeployDefault.ECSAllAtOnce")
    if name == ALL_AT_ONCE:
        return "all at once", None
    if m := PREDEFINED.match(name):
        return m.group(1).lower(), float(m.group(3))
    for r in resources:
        if r.type == DEPLOYMENT_CONFIG and r.props.get("deploymentConfigName") == name:
            routing = r.props.get("trafficRoutingConfig") or {}
            kind = str(routing.get("type") or "AllAtOnce")
            block = routing.get("timeBasedCanary") or routing.get("timeBasedLinear") or {}
            if kind == "TimeBasedCanary":
                return "canary", _minutes(block.get("interval"))
            if kind == "TimeBasedLinear":
                return "linear", _minutes(block.get("interval"))
            return "all at once", None
    return f"unknown config {name!r}", None


def ecs_shift(service: Res) -> tuple[str, float | None]:
    """(kind, bake minutes of a step) of an ECS-controller service's deployment."""
    config = service.props.get("deploymentConfiguration") or {}
    strategy = str(config.get("strategy") or "ROLLING")
    if strategy == "CANARY":
        return "canary", _minutes((config.get("canaryConfiguration") or {})
                                  .get("canaryBakeTimeInMinutes"))  # fmt: skip
    if strategy == "LINEAR":
        return "linear", _minutes((config.get("linearConfiguration") or {})
                                  .get("stepBakeTimeInMinutes"))  # fmt: skip
    return ("all at once" if strategy == "BLUE_GREEN" else "rolling"), None


def check_traffic_shifting(resources: Sequence[Res], cfg: Mapping[str, Any]
                           ) -> list[tuple[Res, str]]:  # fmt: skip
    minimum = float(cfg.get("minBakeMinutes", 5))
    out = []
    for r in resources:
        if r.type == GROUP:
            kind, minutes = codedeploy_shift(r, resources)
        elif r.type == SERVICE and (r.props.get("deploymentController") or {}).get(
                "type", "ECS") == "ECS":  # fmt: skip
            kind, minutes = ecs_shift(r)
        else:
            continue
        if kind not in ("canary", "linear"):
            out.append((r, violation(kind, f"production traffic moves {kind}, not in steps",
                                     "use a canary or linear traffic shift (deploy.traffic) with "
                                     "CodeDeploy or ECS blue/green (deploy.strategy)")))  # fmt: skip
        elif minutes is None or minutes < minimum:
            out.append((r, violation(minutes, f"the {kind} steps bake less than {minimum:g} "
                                     "minutes before more traffic moves",
                                     f"set deploy.interval_minutes to at least {minimum:g}")))  # fmt: skip
    return out


def check_image_registry(resources: Sequence[Res], cfg: Mapping[str, Any]
                         ) -> list[tuple[Res, str]]:  # fmt: skip
    own = [str(r.props.get("repositoryUrl")) for r in resources if r.type == REPOSITORY]
    allowed = [str(p) for p in as_list(cfg.get("allowedRegistries", []))]
    out = []
    for task in (r for r in resources if r.type == TASK_DEFINITION):
        for c in containers(task.props):
            image = str(c.get("image", ""))
            if any(image.startswith((f"{url}:", f"{url}@")) for url in own):
                continue  # this stack's repository; task-definition-pinned-images pins the tag
            if any(image.startswith(p) for p in allowed) and DIGEST.search(image):
                continue
            problem = ("comes from an allowed registry but is not pinned by digest"
                       if any(image.startswith(p) for p in allowed)
                       else "does not come from this stack's ECR repository")  # fmt: skip
            out.append((task, violation(image, f"container {c.get('name')!r} image {problem}",
                                        "push release images to the stack's repository, or add "
                                        "the registry to allowedRegistries and pin the image by "
                                        "@sha256 digest")))  # fmt: skip
    return out


def _tg_names_of(actions: Any) -> set[str]:
    names = set()
    for a in as_list(actions):
        if not isinstance(a, Mapping):
            continue
        if a.get("targetGroupArn"):
            names.add(tg_name(a["targetGroupArn"]))
        for t in as_list((a.get("forward") or {}).get("targetGroups")):
            if isinstance(t, Mapping) and t.get("arn"):
                names.add(tg_name(t["arn"]))
    return names


def check_wiring(resources: Sequence[Res], _cfg: Mapping[str, Any]) -> list[tuple[Res, str]]:
    """The deployment shifts the service's own target groups behind listeners of one ALB."""
    by_arn = {str(r.props.get("arn")): r for r in resources
              if r.type in (LISTENER, LISTENER_RULE, TARGET_GROUP)}  # fmt: skip
    tg_names = {str(r.props.get("name")) for r in resources if r.type == TARGET_GROUP}
    services = [r for r in resources if r.type == SERVICE]
    out: list[tuple[Res, str]] = []

    def problem(owner: Res, found: Any, what: str) -> None:
        out.append((owner, violation(found, what, "wire the deployment to the service's blue and "
                                     "green target groups and to listeners of its ALB")))  # fmt: skip

    def check(owner: Res, tgs: list[str], service: Res | None, routes: dict[str, list[str]]
              ) -> None:  # fmt: skip
        if len(set(tgs)) != 2:
            problem(owner, tgs, "the deployment does not name two distinct target groups")
        if unknown := [t for t in tgs if t not in tg_names]:
            problem(owner, unknown, "the deployment names target groups this stack does not have")
        if service is None:
            problem(owner, None, "the deployment names no ECS service of this stack")
        else:
            served = {tg_name(lb.get("targetGroupArn"))
                      for lb in as_list(service.props.get("loadBalancers"))}  # fmt: skip
            if not served & set(tgs):
                problem(owner, sorted(served), "the service serves from neither of the "
                        "deployment's target groups")  # fmt: skip
        albs = set()
        for role, arns in routes.items():
            if not arns:
                problem(owner, arns, f"the deployment has no {role} listener")
            for arn in arns:
                res = by_arn.get(arn)
                if res is None:
                    problem(owner, arn, f"the {role} listener is not in this stack")
                    continue
                listener = by_arn.get(str(res.props.get("listenerArn"))) if (
                    res.type == LISTENER_RULE) else res  # fmt: skip
                actions = res.props.get("actions" if res.type == LISTENER_RULE else
                                        "defaultActions")  # fmt: skip
                if not _tg_names_of(actions) & set(tgs):
                    problem(owner, sorted(_tg_names_of(actions)), f"the {role} listener forwards "
                            "to neither of the deployment's target groups")  # fmt: skip
                if listener is not None:
                    albs.add(str(listener.props.get("loadBalancerArn")))
        if set(routes.get("production", [])) & set(routes.get("test", [])):
            problem(owner, routes, "the production and test routes are the same listener")
        if len(albs) > 1:
            problem(owner, sorted(albs), "the deployment's listeners are on different load "
                    "balancers")  # fmt: skip

    for r in resources:
        if r.type == GROUP:
            pair = pair_info(r)
            svc_name = (r.props.get("ecsService") or {}).get("serviceName")
            service = next((s for s in services if s.props.get("name") == svc_name), None)
            check(r, [str(t.get("name")) for t in as_list(pair.get("targetGroups"))
                      if isinstance(t, Mapping)], service,  # fmt: skip
                  {"production": [str(a) for a in as_list(
                      (pair.get("prodTrafficRoute") or {}).get("listenerArns"))],
                   "test": [str(a) for a in as_list(
                       (pair.get("testTrafficRoute") or {}).get("listenerArns"))]})  # fmt: skip
        elif r.type == SERVICE:
            for lb in as_list(r.props.get("loadBalancers")):
                adv = lb.get("advancedConfiguration") or {}
                if not adv.get("alternateTargetGroupArn"):
                    continue
                check(r, [tg_name(lb.get("targetGroupArn")),
                          tg_name(adv.get("alternateTargetGroupArn"))], r,
                      {"production": [str(adv.get("productionListenerRule") or "")],
                       "test": [str(adv["testListenerRule"])] if adv.get("testListenerRule")
                       else []})  # fmt: skip
    return out


def check_health_check(resources: Sequence[Res], _cfg: Mapping[str, Any]
                       ) -> list[tuple[Res, str]]:  # fmt: skip
    """The container a service puts behind its load balancer reports its own health.

    The service is matched to its task definition by family: under CodeDeploy the service keeps
    naming the revision it was created with, while releases register newer ones."""
    tasks = {str(r.props.get("family")): r for r in resources if r.type == TASK_DEFINITION}
    out = []
    for svc in (r for r in resources if r.type == SERVICE):
        family = str(svc.props.get("taskDefinition")).rsplit("/", 1)[-1].split(":", 1)[0]
        task = tasks.get(family)
        if task is None:
            out.append((svc, violation(svc.props.get("taskDefinition"), "the service runs a task "
                                       "definition this stack does not define, so its health "
                                       "check cannot be verified", "register the task definition "
                                       "in this stack")))  # fmt: skip
            continue
        served = {lb.get("containerName") for lb in as_list(svc.props.get("loadBalancers"))}
        for c in containers(task.props):
            if c.get("name") in served and not as_list((c.get("healthCheck") or {}).get("command")):
                out.append((task, violation(c.get("healthCheck"), f"container {c.get('name')!r} "
                                            "behind the load balancer has no health check",
                                            "add a healthCheck command (curl the health path)")))  # fmt: skip
    return out


POLICIES = [
    stack_policy(name="deployment-alarms-cover-both-target-groups",
                 description="The alarms a blue/green deployment waits on exist and watch both "
                 "its target groups.", check=check_alarms_cover),
    stack_policy(name="deployment-traffic-shifting",
                 description="Production traffic shifts canary or linear with a bake time, never "
                 "all at once (rollback releases excepted).", check=check_traffic_shifting,
                 schema={"minBakeMinutes": {"type": "number", "default": 5}}),
    stack_policy(name="deployment-image-registry",
                 description="Task images come from the stack's own ECR repository, or from an "
                 "allowed registry pinned by digest.", check=check_image_registry,
                 schema={"allowedRegistries": {"type": "array", "items": {"type": "string"},
                                               "default": []}}),
    stack_policy(name="deployment-blue-green-wiring",
                 description="A blue/green deployment shifts the service's own target groups "
                 "behind production and test listeners of one ALB.", check=check_wiring),
    stack_policy(name="deployment-container-health-check",
                 description="The container behind the load balancer has a health check.",
                 check=check_health_check),
]  # fmt: skip
