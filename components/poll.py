"""One way to wait for something in AWS or on the stack: poll a probe until its answer is final or
a deadline passes.

Every wait of the release tooling uses it: the release resource following a CodeDeploy
deployment (:mod:`components.release_provider`, which runs in Pulumi's dynamic provider host),
the fast rollback waiting for CodeDeploy or ECS, the stack lock, verification, the pre-migration
snapshot and the migration task (:mod:`rollback`). It imports neither Pulumi nor boto3, so any of
them can use it.

Time is injected (``clock``, ``sleep``), so tests and benchmarks can pass a fake clock that their
``sleep`` advances instead of waiting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S")


def _answered(answer: object) -> bool:
    return answer is not None


@dataclass(frozen=True)
class Polled(Generic[S]):
    """How a wait ended."""

    done: bool
    """``until(answer)`` held; ``False``: the deadline passed first."""
    answer: S
    """The last probe's answer (on timeout, the one that found the deadline passed)."""


@dataclass(frozen=True)
class Tolerate:
    """Probe errors that do not end a wait (throttling, a 5xx, a dropped connection)."""

    transient: Callable[[Exception], bool]
    """Whether an error is worth probing again after; any other error ends the wait."""
    backoff: Callable[[int], float]
    """The pause after the n-th tolerated error in a row (n from 1); cut to the time left."""
    report: Callable[[Exception, int, float], None] | None = None
    """Called with the error, n and the pause, before that pause."""


class StillFailingError(Exception):
    """The deadline passed while the probe kept failing with tolerated errors; raised from the
    last of them."""

    def __init__(self, failures: int, error: Exception) -> None:
        super().__init__(f"the last {failures} probe(s) failed, the last with {error}")
        self.failures = failures
        """Tolerated errors in a row, up to the deadline."""
        self.error = error
        """The last of them."""


def poll(
    probe: Callable[[], S],
    *,
    deadline: float,
    interval_s: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    until: Callable[[S], bool] = _answered,
    on_wait: Callable[[S], None] | None = None,
    tolerate: Tolerate | None = None,
) -> Polled[S]:
    """Calls ``probe`` until ``until(answer)`` holds (by default: until it answers anything but
    ``None``) or ``clock()`` reaches ``deadline``.

    Each round: probe; a final answer ends the wait (``done``). Otherwise the clock is read once:
    at or past the deadline the wait ends with that answer (not ``done``); before it,
    ``on_wait(answer)`` reports the wait and ``sleep(interval_s)`` pauses. So the probe runs at
    least once, even with the deadline already past, and the clock is read only in rounds that
    did not end the wait. That pause is not cut to the deadline: a round that starts before the
    deadline sleeps the full interval, and the round after it is the last.

    An error from ``probe`` ends the wait, unless ``tolerate`` says it is transient: then, if
    time is left, it is reported and the probe runs again after ``tolerate.backoff(n)`` for the
    n-th such error in a row, never sleeping past the deadline; with no time left,
    :class:`StillFailingError` is raised from that error. An answer resets the count.
    """
    failures = 0
    while True:
        try:
            answer = probe()
        except Exception as exc:
            if tolerate is None or not tolerate.transient(exc):
                raise
            failures += 1
            remaining = deadline - clock()
            if remaining <= 0:
                raise StillFailingError(failures, exc) from exc
            pause = min(tolerate.backoff(failures), remaining)
            if tolerate.report is not None:
                tolerate.report(exc, failures, pause)
            sleep(pause)
            continue
        failures = 0
        if until(answer):
            return Polled(True, answer)
        if clock() >= deadline:
            return Polled(False, answer)
        if on_wait is not None:
            on_wait(answer)
        sleep(interval_s)
