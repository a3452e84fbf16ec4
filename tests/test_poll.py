"""The poller every wait of the release tooling uses (components/poll.py), on a fake clock: the
probe's answers are scripted, ``sleep`` advances the clock, nothing waits."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from components.poll import Polled, StillFailingError, Tolerate, poll


class FakeTime:
    """``sleep`` advances ``clock``; both keep a record."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.reads = 0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        self.reads += 1
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(answers: Iterable[Any]) -> Callable[[], Any]:
    """A probe answering ``answers`` in turn; an exception in the list is raised instead."""
    it = iter(answers)

    def probe() -> Any:
        answer = next(it)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return probe


def test_the_final_answer_is_returned_and_the_clock_read_only_in_rounds_that_wait() -> None:
    t = FakeTime()
    polled = poll(scripted([None, None, "done"]), deadline=60, interval_s=10, clock=t.clock,
                  sleep=t.sleep)  # fmt: skip
    assert polled == Polled(True, "done")
    assert t.sleeps == [10, 10] and t.reads == 2


def test_until_decides_what_is_final() -> None:
    t = FakeTime()
    polled = poll(scripted([1, 2, 3, 4]), until=lambda n: n >= 3, deadline=60, interval_s=5,
                  clock=t.clock, sleep=t.sleep)  # fmt: skip
    assert polled == Polled(True, 3) and t.sleeps == [5, 5]


def test_the_deadline_ends_the_wait_with_the_last_answer() -> None:
    # rounds at 0, 10 and 20 s wait; the round at 30 s finds the deadline (25 s) passed. The
    # regular pause is not cut to the deadline: the third one ends 5 s past it.
    t = FakeTime()
    polled = poll(scripted(["a", "b", "c", "d", "e"]), until=lambda _a: False, deadline=25,
                  interval_s=10, clock=t.clock, sleep=t.sleep)  # fmt: skip
    assert polled == Polled(False, "d")
    assert t.sleeps == [10, 10, 10] and t.now == 30


def test_the_deadline_is_reached_at_exactly_the_deadline() -> None:
    t = FakeTime()
    polled = poll(scripted(["a", "b", "c"]), until=lambda _a: False, deadline=20, interval_s=10,
                  clock=t.clock, sleep=t.sleep)  # fmt: skip
    assert polled == Polled(False, "c") and t.sleeps == [10, 10]


def test_the_probe_runs_once_even_when_the_deadline_has_passed() -> None:
    t = FakeTime(start=100)
    probe = scripted([None])
    assert poll(probe, deadline=50, interval_s=10, clock=t.clock, sleep=t.sleep) == Polled(
        False, None
    )
    assert t.sleeps == []


def test_progress_is_reported_before_each_pause_only() -> None:
    """``on_wait`` sees the answer of every round that waits, before its pause; not the final
    answer and not the one that found the deadline passed."""
    t = FakeTime()
    seen: list[tuple[float, str]] = []
    poll(scripted(["a", "b", "done"]), until=lambda a: a == "done", deadline=60, interval_s=10,
         clock=t.clock, sleep=t.sleep, on_wait=lambda a: seen.append((t.now, a)))  # fmt: skip
    assert seen == [(0, "a"), (10, "b")]

    t, seen = FakeTime(), []
    poll(scripted(["a", "b", "c"]), until=lambda _a: False, deadline=15, interval_s=10,
         clock=t.clock, sleep=t.sleep, on_wait=lambda a: seen.append((t.now, a)))  # fmt: skip
    assert seen == [(0, "a"), (10, "b")]


def test_an_error_ends_the_wait_unless_tolerated() -> None:
    t = FakeTime()
    with pytest.raises(OSError, match="refused"):
        poll(scripted([None, OSError("refused")]), deadline=60, interval_s=10, clock=t.clock,
             sleep=t.sleep)  # fmt: skip
    assert t.sleeps == [10]

    t = FakeTime()
    only_os = Tolerate(transient=lambda e: isinstance(e, OSError), backoff=lambda _n: 1)
    with pytest.raises(ValueError, match="denied"):
        poll(scripted([ValueError("denied")]), deadline=60, interval_s=10, clock=t.clock,
             sleep=t.sleep, tolerate=only_os)  # fmt: skip
    assert t.sleeps == []


def test_tolerated_errors_back_off_and_an_answer_resets_the_count() -> None:
    t = FakeTime()
    reports: list[tuple[str, int, float]] = []
    tolerate = Tolerate(transient=lambda e: isinstance(e, OSError),
                        backoff=lambda n: 5.0 * 2 ** (n - 1),
                        report=lambda e, n, pause: reports.append((str(e), n, pause)))  # fmt: skip
    answers = [OSError("one"), OSError("two"), "not yet", OSError("three"), "done"]
    polled = poll(scripted(answers), until=lambda a: a == "done", deadline=600, interval_s=10,
                  clock=t.clock, sleep=t.sleep, tolerate=tolerate)  # fmt: skip
    assert polled == Polled(True, "done")
    assert t.sleeps == [5, 10, 10, 5]
    assert reports == [("one", 1, 5), ("two", 2, 10), ("three", 1, 5)]


def test_tolerated_errors_never_sleep_past_the_deadline_then_give_up() -> None:
    t = FakeTime()
    errors = [OSError(f"down {n}") for n in range(1, 6)]
    tolerate = Tolerate(transient=lambda e: isinstance(e, OSError), backoff=lambda _n: 40)
    with pytest.raises(StillFailingError) as info:
        poll(scripted(["not yet", *errors]), until=lambda _a: False, deadline=100, interval_s=10,
             clock=t.clock, sleep=t.sleep, tolerate=tolerate)  # fmt: skip
    # 10 s after the answer, then 40, 40 and the 10 s left; the fourth error finds none left
    assert t.sleeps == [10, 40, 40, 10] and t.now == 100
    assert info.value.failures == 4 and info.value.error is errors[3]
    assert info.value.__cause__ is errors[3]
    assert str(info.value) == "the last 4 probe(s) failed, the last with down 4"
