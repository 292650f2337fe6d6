"""The retry policy on a fake clock: which failures are retried, how often, how long the waits are."""

from __future__ import annotations

import asyncio

import pytest

from dbops.storage.retry import DEFAULT_RETRY, RetryPolicy, is_transient_os_error, with_retries


class FakeClock:
    """``sleep`` advances ``now`` instantly and records each delay."""

    def __init__(self) -> None:
        self.now = 0.0
        self.delays: list[float] = []

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        self.now += delay


class Flaky:
    """Raises the given exceptions in turn, then returns ``"ok"``; counts calls."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def transient(exc: Exception) -> bool:
    return isinstance(exc, ConnectionResetError)


async def test_success_needs_no_wait() -> None:
    clock, op = FakeClock(), Flaky()
    assert await with_retries(op, retryable=transient, sleep=clock.sleep) == "ok"
    assert op.calls == 1 and clock.delays == []


async def test_retryable_failures_are_retried_with_growing_delays() -> None:
    clock, op = FakeClock(), Flaky(ConnectionResetError(), ConnectionResetError(), ConnectionResetError())
    policy = RetryPolicy(retries=5, base_delay=1.0, max_delay=100.0)
    result = await with_retries(op, retryable=transient, policy=policy, sleep=clock.sleep, random=lambda: 0.0)
    assert result == "ok" and op.calls == 4
    assert clock.delays == [0.5, 1.0, 2.0]  # half the ceiling with the smallest draw: the backoff still grows
    assert clock.now == 3.5


async def test_gives_up_after_five_retries_with_the_last_error() -> None:
    clock = FakeClock()
    errors = [ConnectionResetError(f"reset {i}") for i in range(10)]
    op = Flaky(*errors)
    with pytest.raises(ConnectionResetError, match="reset 5"):
        await with_retries(op, retryable=transient, sleep=clock.sleep)
    assert op.calls == 6  # the first attempt and five retries (backup.md 5)
    assert len(clock.delays) == DEFAULT_RETRY.retries == 5


async def test_non_retryable_failure_is_raised_at_once() -> None:
    clock, op = FakeClock(), Flaky(PermissionError("AccessDenied"))
    with pytest.raises(PermissionError):
        await with_retries(op, retryable=transient, sleep=clock.sleep)
    assert op.calls == 1 and clock.delays == []


async def test_cancellation_is_never_retried() -> None:
    clock = FakeClock()
    calls = 0

    async def cancelled() -> None:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await with_retries(cancelled, retryable=lambda _: True, sleep=clock.sleep)
    assert calls == 1 and clock.delays == []


async def test_on_retry_is_told_each_retry() -> None:
    clock, op = FakeClock(), Flaky(ConnectionResetError(), ConnectionResetError())
    seen: list[tuple[int, str, float]] = []
    await with_retries(
        op,
        retryable=transient,
        policy=RetryPolicy(base_delay=2.0, max_delay=10.0),
        sleep=clock.sleep,
        random=lambda: 0.5,
        on_retry=lambda n, exc, delay: seen.append((n, type(exc).__name__, delay)),
    )
    assert seen == [(1, "ConnectionResetError", 1.5), (2, "ConnectionResetError", 3.0)]
    assert clock.delays == [1.5, 3.0]


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.999999])
def test_delay_stays_within_half_and_all_of_the_capped_ceiling(draw: float) -> None:
    policy = RetryPolicy(retries=10, base_delay=0.5, max_delay=4.0)
    for retry in range(1, 11):
        ceiling = min(4.0, 0.5 * 2 ** (retry - 1))
        assert ceiling / 2 <= policy.delay(retry, draw) <= ceiling


def test_default_total_wait_is_bounded() -> None:
    worst = sum(DEFAULT_RETRY.delay(n, 0.999999) for n in range(1, DEFAULT_RETRY.retries + 1))
    assert 7 < worst < 16  # long enough for a throttled service to recover, short enough for a deadline


@pytest.mark.parametrize("kwargs", [{"retries": -1}, {"base_delay": -0.1}, {"base_delay": 5.0, "max_delay": 1.0}])
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionResetError(), True),
        (ConnectionAbortedError(), True),
        (BrokenPipeError(), True),
        (TimeoutError(), True),
        (PermissionError(), False),
        (FileNotFoundError(), False),
        (ValueError(), False),
    ],
)
def test_transient_os_errors(exc: Exception, expected: bool) -> None:
    assert is_transient_os_error(exc) is expected
