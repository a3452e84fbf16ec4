"""The rollback alarms, evaluated with CloudWatch's semantics in the situations that matter.

CodeDeploy stops a deployment (and ECS rolls back an ``ecs_bluegreen`` one) while a watched alarm
is in ALARM. So on a healthy idle stack, and on a stack just bootstrapped (no service, no tasks,
empty target groups), no rollback alarm may be in ALARM, or it stops the first release; while
zero healthy targets during a release must be. The alarm definitions are the ones the program
registers (under mocks); ``tests/cloudwatch_eval.py`` evaluates them, and says why not moto.

What the ALB publishes for a target group without targets (zeros, or nothing) and what FILL does
with a series that has no point in the window are not pinned down by AWS's documentation, so
every case is checked under each reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from deplight.harness import ProgramRun, read_stack_config, run_program
from tests.cloudwatch_eval import (
    BOTH_FILL_READINGS,
    Evaluator,
    Metrics,
    Semantics,
    alarm_state,
)
from tests.conftest import program_run

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ALB = "AWS/ApplicationELB"
EMPTY_GROUP_READINGS = ("zero", "absent")
READINGS = [(s, e) for s in BOTH_FILL_READINGS for e in EMPTY_GROUP_READINGS]
READING_IDS = [f"fill_empty={s.fill_empty}-empty_group={e}" for s, e in READINGS]

_BOOTSTRAP: dict[str, ProgramRun] = {}


def bootstrapped(stack: str) -> ProgramRun:
    """The stack's first ``up``: no image_tag yet, so no task definition and no service."""
    if stack not in _BOOTSTRAP:
        config = read_stack_config(stack)
        del config["deplight:image_tag"]
        _BOOTSTRAP[stack] = run_program(stack, config)
    return _BOOTSTRAP[stack]


@dataclass(frozen=True)
class World:
    """What is running and what CloudWatch receives, the same in every minute of the window."""

    desired: int | None
    """The ECS service's desired task count; ``None``: the service does not exist yet."""
    blue: tuple[int, int] | None
    """(healthy, unhealthy) targets in blue; ``None``: no target registered."""
    green: tuple[int, int] | None
    """The same for green."""
    empty_group: str
    """How the ALB reports a target group without targets: ``zero`` or ``absent``."""
    requests: int = 0
    target_5xx: int = 0
    elb_5xx: int = 0
    p99_seconds: float = 0.2


def metrics(run: ProgramRun, world: World) -> Metrics:
    o = run.outputs
    alb = {"LoadBalancer": o["alb_arn_suffix"]}
    m = Metrics()
    for suffix, group in ((o["blue_target_group_arn_suffix"], world.blue),
                          (o["green_target_group_arn_suffix"], world.green)):  # fmt: skip
        dims = {"TargetGroup": suffix, **alb}
        zero = 0.0 if world.empty_group == "zero" else None
        healthy, unhealthy = group if group is not None else (zero, zero)
        m.put(ALB, "HealthyHostCount", dims, healthy)
        m.put(ALB, "UnHealthyHostCount", dims, unhealthy)
    # The ALB publishes request metrics only for minutes with requests, and a 5xx count only
    # when it is not zero.
    if world.requests:
        m.put(ALB, "RequestCount", alb, world.requests)
        m.put(ALB, "TargetResponseTime", alb, world.p99_seconds)
    m.put(ALB, "HTTPCode_Target_5XX_Count", alb, world.target_5xx or None)
    m.put(ALB, "HTTPCode_ELB_5XX_Count", alb, world.elb_5xx or None)
    if world.desired is not None:
        # Container Insights, under the name the service really has
        name = o["service_name"] or run.settings.prefix
        m.put("ECS/ContainerInsights", "DesiredTaskCount",
              {"ClusterName": o["cluster_name"], "ServiceName": name}, world.desired)  # fmt: skip
    return m


def rollback_alarms(run: ProgramRun) -> dict[str, Any]:
    names = set(run.outputs["rollback_alarm_names"])
    alarms = {a.inputs["name"]: a.inputs for a in run.of_type(ALARM) if a.inputs["name"] in names}
    assert set(alarms) == names, "every rollback alarm the group watches is registered"
    return alarms


def states(run: ProgramRun, world: World, semantics: Semantics) -> dict[str, str]:
    m = metrics(run, world)
    return {name: alarm_state(alarm, m, semantics) for name, alarm in rollback_alarms(run).items()}


# --- the evaluator itself --------------------------------------------------------------------------
def test_evaluator_follows_the_modelled_semantics() -> None:
    e = Evaluator(Metrics(periods=3), Semantics(fill_empty=False))
    series = {"a": [1.0, None, 3.0], "b": [None, None, None], "c": [2.0, 2.0, 2.0]}
    assert e.expression("1 + 2 * 3 - 4 / 2", series.__getitem__) == 5.0
    assert e.expression("a + c * 2", series.__getitem__) == [5.0, None, 7.0]
    assert e.expression("IF(c > 1, a, 0)", series.__getitem__) == [1.0, None, 3.0]
    assert e.expression("SUM([a, b, c])", series.__getitem__) == [3.0, 2.0, 5.0]
    assert e.expression("MAX([b, b])", series.__getitem__) == [None, None, None]
    assert e.expression("FILL(a, 0)", series.__getitem__) == [1.0, 0.0, 3.0]
    assert e.expression("FILL(b, 0)", series.__getitem__) == [None, None, None]
    filled = Evaluator(Metrics(periods=3), Semantics(fill_empty=True))
    assert filled.expression("FILL(b, 0)", series.__getitem__) == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="not modelled"):
        e.expression("RATE(a)", series.__getitem__)


# --- no rollback alarm in ALARM on a quiet stack ---------------------------------------------------
@pytest.mark.parametrize(("semantics", "empty_group"), READINGS, ids=READING_IDS)
@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_no_rollback_alarm_breaches_on_a_just_bootstrapped_stack(
    stack: str, semantics: Semantics, empty_group: str
) -> None:
    run = bootstrapped(stack)
    assert run.outputs["service_name"] is None
    world = World(desired=None, blue=None, green=None, empty_group=empty_group)
    assert set(states(run, world, semantics).values()) == {"OK"}, states(run, world, semantics)


@pytest.mark.parametrize(("semantics", "empty_group"), READINGS, ids=READING_IDS)
@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_no_rollback_alarm_breaches_on_a_healthy_idle_stack(
    stack: str, semantics: Semantics, empty_group: str
) -> None:
    run = program_run(stack)
    n = run.settings.service.desired_count
    # no traffic; blue serves with every task healthy; green is empty outside a release
    world = World(desired=n, blue=(n, 0), green=None, empty_group=empty_group)
    assert set(states(run, world, semantics).values()) == {"OK"}, states(run, world, semantics)


@pytest.mark.parametrize(("semantics", "empty_group"), READINGS, ids=READING_IDS)
def test_a_healthy_canary_breaches_nothing(semantics: Semantics, empty_group: str) -> None:
    run = program_run("prod")
    n = run.settings.service.desired_count
    world = World(desired=n, blue=(n, 0), green=(n, 0), empty_group=empty_group, requests=600,
                  p99_seconds=0.3)  # fmt: skip
    assert set(states(run, world, semantics).values()) == {"OK"}


def test_the_healthy_hosts_alarm_is_the_same_before_and_after_the_first_release() -> None:
    """Bootstrap and the first release register the same definition, so the first release
    neither updates the alarm nor inherits a state it had while nothing ran."""
    for stack in ("dev", "prod"):
        name = f"{program_run(stack).settings.prefix}-low-healthy-hosts"
        before = next(
            a.inputs for a in bootstrapped(stack).of_type(ALARM) if a.inputs["name"] == name
        )
        after = next(
            a.inputs for a in program_run(stack).of_type(ALARM) if a.inputs["name"] == name
        )
        assert before == after, stack


# --- but a bad release does breach -----------------------------------------------------------------
ZERO_HEALTHY = {
    "new tasks fail their health checks": lambda n: ((0, n), None),
    "every target deregistered": lambda n: (None, None),
    "blue gone, green unhealthy": lambda n: (None, (0, n)),
}


@pytest.mark.parametrize(("semantics", "empty_group"), READINGS, ids=READING_IDS)
@pytest.mark.parametrize("case", sorted(ZERO_HEALTHY))
@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_zero_healthy_hosts_during_a_release_is_breaching(
    stack: str, case: str, semantics: Semantics, empty_group: str
) -> None:
    run = program_run(stack)
    n = run.settings.service.desired_count
    blue, green = ZERO_HEALTHY[case](n)
    world = World(desired=n, blue=blue, green=green, empty_group=empty_group)
    result = states(run, world, semantics)
    assert result[f"{run.settings.prefix}-low-healthy-hosts"] == "ALARM", (case, result)


@pytest.mark.parametrize(
    "semantics", BOTH_FILL_READINGS, ids=lambda s: f"fill_empty={s.fill_empty}"
)
def test_target_5xx_without_elb_5xx_breaches_the_error_rate(semantics: Semantics) -> None:
    """The ALB publishes no ELB 5xx count in minutes without one: the rate must not depend on
    filling that empty series."""
    run = program_run("prod")
    n = run.settings.service.desired_count
    world = World(desired=n, blue=(n, 0), green=(n, 0), empty_group="absent", requests=200,
                  target_5xx=100)  # fmt: skip
    assert states(run, world, semantics)["web-prod-5xx-rate"] == "ALARM"
