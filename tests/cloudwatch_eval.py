"""A small evaluator of CloudWatch alarm and metric-math semantics, for the alarm and scaling
definitions exactly as the program registers them (under mocks).

Why not moto: moto's CloudWatch stores alarms and metric data but never evaluates an alarm
(``put_metric_data`` leaves the state alone; only ``set_alarm_state`` changes it), and its metric
math "parser" only returns the series a query id names, without arithmetic, ``IF`` or ``FILL``.
A test there could only assert what it set itself.

What is modelled, per period (one value or *missing* per query, oldest first):

- a metric query returns the scenario's value for (namespace, metric, dimensions), or missing;
- arithmetic and comparisons are point-wise, a missing operand (or a division by zero) makes
  the point missing, comparisons give 1 or 0;
- ``IF(c, a[, b])`` is missing where ``c`` is, else ``a`` or ``b`` (missing without ``b``);
- ``SUM``/``MAX``/``MIN``/``AVG`` of an array ``[a, b, ...]`` aggregate the points present at
  each period and are missing only where every member is;
- ``FILL(m, v)`` replaces missing points of ``m`` with ``v``. What CloudWatch does with a series
  that has no point at all in the range is not documented precisely, so both readings are
  modelled (:attr:`Semantics.fill_empty`) and the tests require the right outcome under both;
- an alarm looks at the last ``evaluationPeriods`` points and goes to ALARM when at least
  ``datapointsToAlarm`` of them breach; a missing point breaches or not as ``treatMissingData``
  says (``breaching``/``notBreaching``; the other two modes are refused rather than guessed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Point = float | None
Series = list[Point]
Value = float | Series | list[Series]
MetricKey = tuple[str, str, frozenset[tuple[str, str]]]

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


@dataclass(frozen=True)
class Semantics:
    """The readings of CloudWatch behaviour that its documentation leaves open."""

    fill_empty: bool
    """``FILL(m, v)`` on a series with no point in the whole range: filled with ``v`` (True) or
    still missing (False)."""


BOTH_FILL_READINGS = (Semantics(fill_empty=True), Semantics(fill_empty=False))


def metric_key(namespace: str, name: str, dims: Mapping[str, Any] | Sequence[Mapping[str, Any]]
               ) -> MetricKey:  # fmt: skip
    """Dimensions as a dict (alarms) or a ``[{name, value}]`` list (scaling policies)."""
    if isinstance(dims, Mapping):
        pairs = {(str(k), str(v)) for k, v in dims.items()}
    else:
        pairs = {(str(d["name"]), str(d["value"])) for d in dims}
    return (namespace, name, frozenset(pairs))


@dataclass
class Metrics:
    """What CloudWatch holds for a scenario: one value (or nothing) per period and metric."""

    periods: int = 10
    data: dict[MetricKey, Series] = field(default_factory=dict)

    def put(self, namespace: str, name: str, dims: Mapping[str, str], value: float | None) -> None:
        """A metric published every period with ``value`` (``None``: never published)."""
        if value is not None:
            self.data[metric_key(namespace, name, dims)] = [float(value)] * self.periods

    def series(self, key: MetricKey) -> Series:
        return list(self.data.get(key, [None] * self.periods))


# --- expressions -----------------------------------------------------------------------------------
TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(>=|<=|==|!=|[-+*/()<>,\[\]]))")
PRECEDENCE = {"==": 1, "!=": 1, ">": 1, "<": 1, ">=": 1, "<=": 1, "+": 2, "-": 2, "*": 3, "/": 3}


def tokenize(expression: str) -> list[str]:
    tokens, pos = [], 0
    expression = expression.rstrip()
    while pos < len(expression):
        m = TOKEN.match(expression, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot parse {expression!r} at {pos}: {expression[pos:]!r}")
        tokens.append(next(g for g in m.groups() if g is not None))
        pos = m.end()
    return tokens


class Evaluator:
    """Evaluates one alarm's (or scaling policy's) queries against :class:`Metrics`."""

    def __init__(self, metrics: Metrics, semantics: Semantics) -> None:
        self.metrics = metrics
        self.semantics = semantics
        self.n = metrics.periods

    # point-wise helpers
    def _series(self, v: Value) -> Series:
        if isinstance(v, float):
            return [v] * self.n
        if v and isinstance(v[0], list):
            raise ValueError("an array of series where one series is expected")
        return v  # type: ignore[return-value]

    def _binary(self, op: str, a: Value, b: Value) -> Value:
        def one(x: Point, y: Point) -> Point:
            if x is None or y is None:
                return None
            if op == "/":
                return None if y == 0 else x / y
            if op in PRECEDENCE and PRECEDENCE[op] == 1:
                return float({"==": x == y, "!=": x != y, ">": x > y, "<": x < y,
                              ">=": x >= y, "<=": x <= y}[op])  # fmt: skip
            return {"+": x + y, "-": x - y, "*": x * y}[op]

        if isinstance(a, float) and isinstance(b, float):
            result = one(a, b)
            return result if result is not None else [None] * self.n
        sa, sb = self._series(a), self._series(b)
        return [one(x, y) for x, y in zip(sa, sb, strict=True)]

    def _call(self, name: str, args: list[Value]) -> Value:
        if name == "IF":
            cond = self._series(args[0])
            yes = self._series(args[1])
            no = self._series(args[2]) if len(args) > 2 else [None] * self.n
            return [None if c is None else (y if c != 0 else z)
                    for c, y, z in zip(cond, yes, no, strict=True)]  # fmt: skip
        if name == "FILL":
            s, fill = self._series(args[0]), args[1]
            if not isinstance(fill, float):
                raise ValueError("FILL with a non-constant value is not modelled")
            if all(p is None for p in s) and not self.semantics.fill_empty:
                return s
            return [fill if p is None else p for p in s]
        if name in ("SUM", "MAX", "MIN", "AVG"):
            (array,) = args
            if not (isinstance(array, list) and array and isinstance(array[0], list)):
                raise ValueError(f"{name} of a single series (a scalar in CloudWatch) is not "
                                 "modelled; pass an array [a, b]")  # fmt: skip
            out: Series = []
            for points in zip(*array, strict=True):
                present = [p for p in points if p is not None]
                agg = {"SUM": sum, "MAX": max, "MIN": min,
                       "AVG": lambda xs: sum(xs) / len(xs)}[name]  # fmt: skip
                out.append(float(agg(present)) if present else None)  # type: ignore[operator]
            return out
        raise ValueError(f"function {name} is not modelled")

    def expression(self, text: str, resolve: Callable[[str], Value]) -> Value:
        tokens = tokenize(text)
        pos = 0

        def peek() -> str | None:
            return tokens[pos] if pos < len(tokens) else None

        def take(expected: str | None = None) -> str:
            nonlocal pos
            tok = peek()
            if tok is None or (expected is not None and tok != expected):
                raise ValueError(f"{text!r}: expected {expected or 'more'}, found {tok!r}")
            pos += 1
            return tok

        def primary() -> Value:
            tok = take()
            if tok == "(":
                v = binary(1)
                take(")")
                return v
            if tok == "[":
                items = [self._series(binary(1))]
                while peek() == ",":
                    take(",")
                    items.append(self._series(binary(1)))
                take("]")
                return items
            if tok == "-":
                return self._binary("*", -1.0, primary())
            if re.fullmatch(r"\d+(?:\.\d+)?", tok):
                return float(tok)
            if peek() == "(":
                take("(")
                args = [binary(1)]
                while peek() == ",":
                    take(",")
                    args.append(binary(1))
                take(")")
                return self._call(tok, args)
            return resolve(tok)

        def binary(min_prec: int) -> Value:
            left = primary()
            while (op := peek()) in PRECEDENCE and PRECEDENCE[op] >= min_prec:
                take()
                right = binary(PRECEDENCE[op] + 1)
                left = self._binary(op, left, right)
            return left

        result = binary(1)
        if pos != len(tokens):
            raise ValueError(f"{text!r}: unexpected {tokens[pos]!r}")
        return result

    def queries(self, queries: Sequence[Mapping[str, Any]], *, stat_key: str = "metric") -> Series:
        """The series of the query with ``returnData`` among ``queries`` (alarm or scaling form)."""
        by_id = {q["id"]: q for q in queries}
        memo: dict[str, Value] = {}

        def resolve(qid: str) -> Value:
            if qid not in by_id:
                raise ValueError(f"expression references unknown id {qid!r}")
            if qid not in memo:
                q = by_id[qid]
                if q.get("expression"):
                    memo[qid] = self.expression(q["expression"], resolve)
                else:
                    m = q[stat_key]["metric"] if stat_key == "metricStat" else q[stat_key]
                    memo[qid] = self.metrics.series(
                        metric_key(m["namespace"], m["metricName"], m.get("dimensions") or {})
                    )
            return memo[qid]

        returned = [q["id"] for q in queries if q.get("returnData")]
        if len(returned) != 1:
            raise ValueError(f"expected exactly one query with returnData, found {returned}")
        return self._series(resolve(returned[0]))


def alarm_series(alarm: Mapping[str, Any], metrics: Metrics, semantics: Semantics) -> Series:
    """What an alarm (registered inputs, engine property names) evaluates, period by period."""
    if alarm.get("metricQueries"):
        return Evaluator(metrics, semantics).queries(alarm["metricQueries"])
    return metrics.series(
        metric_key(alarm["namespace"], alarm["metricName"], alarm.get("dimensions") or {})
    )


def alarm_state(alarm: Mapping[str, Any], metrics: Metrics, semantics: Semantics) -> str:
    """``ALARM`` or ``OK`` for the last ``evaluationPeriods`` points of ``metrics``."""
    n = int(alarm["evaluationPeriods"])
    m = int(alarm.get("datapointsToAlarm") or n)
    missing = alarm.get("treatMissingData") or "missing"
    if missing not in ("breaching", "notBreaching"):
        raise NotImplementedError(f"treatMissingData {missing!r} is not modelled")
    compare = COMPARISONS[alarm["comparisonOperator"]]
    threshold = float(alarm["threshold"])
    points = alarm_series(alarm, metrics, semantics)[-n:]
    breaching = sum(
        (missing == "breaching") if p is None else compare(p, threshold) for p in points
    )
    return "ALARM" if breaching >= m else "OK"
