"""Retrying storage requests: exponential backoff with jitter, retryable failures only (backup.md 5).

The spec retries a failed request up to five times when its status is retryable (5xx, throttling, connection
resets and timeouts); everything else — authentication, permissions, a missing bucket, an invalid request — fails at
once, because repeating it cannot help and only delays the message the user needs (backup.md 5.4). Which exception
is retryable is the backend's knowledge, so :func:`with_retries` takes a predicate; the policy (how many, how long)
is shared.

Delays use "equal jitter": retry *n* waits between half and all of ``min(max_delay, base_delay * 2**(n-1))``. The
lower half keeps the backoff growing (a throttled service really gets less traffic), the random upper half spreads
the two parts in flight and the other runners apart so they do not retry in lock-step.

The sleep function and the random source are parameters, so tests run the policy on a fake clock without sleeping.
"""

from __future__ import annotations

import asyncio
import random as _random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["DEFAULT_RETRY", "RetryPolicy", "is_transient_os_error", "with_retries"]

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]
OnRetry = Callable[[int, Exception, float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a retryable failure."""

    retries: int = 5
    """Retries after the first attempt (backup.md 5: up to five)."""
    base_delay: float = 0.5
    """Ceiling of the first retry's delay, in seconds; doubled for each further retry."""
    max_delay: float = 20.0
    """Largest ceiling of any delay, in seconds."""

    def __post_init__(self) -> None:
        if self.retries < 0 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("a retry policy needs retries >= 0 and 0 <= base_delay <= max_delay")

    def delay(self, retry: int, draw: float) -> float:
        """Seconds to wait before retry number ``retry`` (1-based), for a uniform ``draw`` in ``[0, 1)``."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return ceiling / 2 + draw * ceiling / 2


DEFAULT_RETRY = RetryPolicy()


async def with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    retryable: Callable[[Exception], bool],
    policy: RetryPolicy = DEFAULT_RETRY,
    sleep: Sleep = asyncio.sleep,
    random: Callable[[], float] = _random.random,
    on_retry: OnRetry | None = None,
) -> T:
    """The result of ``operation()``, calling it again after a backoff while it raises a retryable exception.

    The last exception is raised as itself when retries run out or the failure is not retryable. ``on_retry`` is
    told ``(retry number, exception, delay)`` before each wait (for logs and metrics; it must not log secrets, and
    storage exceptions carry none). Cancellation is never retried: only :class:`Exception` is caught.
    """
    retry = 0
    while True:
        try:
            return await operation()
        except Exception as exc:
            if retry >= policy.retries or not retryable(exc):
                raise
            retry += 1
            delay = policy.delay(retry, random())
            if on_retry is not None:
                on_retry(retry, exc, delay)
            await sleep(delay)


def is_transient_os_error(exc: BaseException) -> bool:
    """Connection resets, aborted connections, broken pipes and timeouts: the network's transient failures."""
    return isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError | TimeoutError)
