from __future__ import annotations

import pytest

from dbops.runtime.ratelimit import (
    BucketRateLimiter,
    ItemExponentialRateLimiter,
    MaxOfRateLimiter,
    TokenBucket,
    default_rate_limiter,
    spec_error_backoff,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_burst_then_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(2.0, 3, clock=clock)
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one token at 2/s
    assert bucket.try_take()
    assert not bucket.try_take()
    clock.now += 100
    assert bucket.tokens == 3  # never above burst


def test_token_bucket_reserve_queues_callers_in_order() -> None:
    clock = Clock()
    bucket = TokenBucket(10.0, 1, clock=clock)
    assert bucket.reserve() == 0
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)


def test_item_exponential_doubles_caps_and_forgets() -> None:
    limiter = ItemExponentialRateLimiter(0.005, 1000.0)
    delays = [limiter.when("k") for _ in range(20)]
    assert delays[:4] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    assert delays[-1] == 1000.0
    assert max(delays) == 1000.0
    assert limiter.num_requeues("k") == 20
    assert limiter.when("other") == 0.005  # per key
    limiter.forget("k")
    assert limiter.when("k") == 0.005
    for _ in range(200):
        limiter.when("huge")  # no overflow
    assert limiter.when("huge") == 1000.0


def test_spec_backoff_has_jitter_within_ten_percent() -> None:
    limiter = ItemExponentialRateLimiter(5.0, 300.0, jitter=0.1)
    delays = [limiter.when("k") for _ in range(8)]
    for got, base in zip(delays, [5, 10, 20, 40, 80, 160, 300, 300], strict=True):
        assert base * 0.9 <= got <= base * 1.1


def test_max_of_takes_longest_delay() -> None:
    clock = Clock()
    limiter = MaxOfRateLimiter(ItemExponentialRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 2, clock=clock))
    assert limiter.when("a") == 0.005
    assert limiter.when("b") == 0.005
    assert limiter.when("c") == pytest.approx(0.1)  # bucket exhausted: bucket delay wins
    assert limiter.num_requeues("a") == 1
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_default_limiters_construct() -> None:
    assert default_rate_limiter().when("x") == pytest.approx(0.005)
    assert 4.5 <= spec_error_backoff().when("x") <= 5.5
