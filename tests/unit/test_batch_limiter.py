"""The adaptive limiter's decisions, with time passed in (no sleeping)."""

from __future__ import annotations

import pytest

from llama_client.batch import AdaptiveLimiter
from llama_client.types.ratelimit import RateLimitInfo


def test_starts_at_the_bound_and_never_exceeds_it() -> None:
    lim = AdaptiveLimiter(8)
    assert lim.limit == 8 and lim.delay(0.0) == 0.0
    for _ in range(100):
        lim.started(0.0)
        lim.succeeded(0.0)
    assert lim.limit == 8


def test_a_429_halves_the_window_once_per_burst_and_pauses_for_retry_after() -> None:
    lim = AdaptiveLimiter(16)
    for _ in range(16):
        lim.started(0.0)
    for _ in range(10):  # one burst: many 429s at once
        lim.rate_limited_by_server(10.0, 2.5)
    assert lim.limit == 8
    assert lim.rate_limited == 10
    assert lim.delay(10.0) == pytest.approx(2.5)
    assert lim.delay(12.5) == 0.0
    lim.rate_limited_by_server(12.0, None)  # a second burst, a second later
    assert lim.limit == 4


def test_without_retry_after_the_pause_doubles_with_consecutive_429s() -> None:
    lim = AdaptiveLimiter(4)
    pauses = []
    now = 0.0
    for _ in range(8):
        lim.started(now)
        lim.rate_limited_by_server(now, None)
        pauses.append(lim.delay(now))
        now += 100.0
    assert pauses[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(pauses) <= 60.0
    lim.started(now)
    lim.succeeded(now)  # an answer resets the streak
    lim.started(now)
    lim.rate_limited_by_server(now, None)
    assert lim.delay(now) == 1.0


def test_ramps_back_up_additively_after_a_cut() -> None:
    lim = AdaptiveLimiter(16)
    lim.started(0.0)
    lim.rate_limited_by_server(0.0, 0.0)
    assert lim.limit == 8
    successes = 0
    while lim.limit < 16:
        lim.started(1.0)
        lim.succeeded(1.0)
        successes += 1
    # +1 per window's worth of answers: 8+9+...+15 = 92 answers, not 8
    assert 80 <= successes <= 100


def test_follows_the_providers_request_budget_until_its_reset() -> None:
    lim = AdaptiveLimiter(100)
    lim.started(0.0)
    lim.succeeded(0.0, RateLimitInfo(remaining_requests=2, reset_requests=5.0))
    assert lim.delay(0.0) == 0.0
    lim.started(0.0)
    lim.started(0.0)
    assert lim.delay(1.0) == pytest.approx(4.0)  # none left: wait for the reset
    assert lim.delay(5.0) == 0.0  # reset passed: the budget is unknown again


def test_requests_started_after_the_server_counted_are_taken_off() -> None:
    lim = AdaptiveLimiter(100)
    for _ in range(5):
        lim.started(0.0)
    # the first answer says 3 left, but 4 more requests were already on their way
    lim.succeeded(0.0, RateLimitInfo(remaining_requests=3, reset_requests=10.0))
    assert lim.delay(0.0) > 0


def test_follows_the_token_budget() -> None:
    lim = AdaptiveLimiter(100)
    lim.started(0.0, 100)
    lim.succeeded(0.0, RateLimitInfo(remaining_tokens=1000, reset_tokens=6.0))
    assert lim.delay(0.0, 900) == 0.0
    lim.started(0.0, 900)
    assert lim.delay(0.0, 200) == pytest.approx(6.0)
    assert lim.delay(0.0, 100) == 0.0


def test_share_takes_a_fraction_of_the_reported_budget() -> None:
    alone, quarter = AdaptiveLimiter(100), AdaptiveLimiter(100, share=0.25)
    info = RateLimitInfo(remaining_requests=8, reset_requests=60.0)
    for lim in (alone, quarter):
        lim.started(0.0)
        lim.succeeded(0.0, info)
    started = {}
    for name, lim in (("alone", alone), ("quarter", quarter)):
        n = 0
        while lim.delay(0.0) == 0.0 and n < 100:
            lim.started(0.0)
            n += 1
        started[name] = n
    assert started == {"alone": 8, "quarter": 2}


def test_fixed_requests_per_minute_is_a_token_bucket() -> None:
    lim = AdaptiveLimiter(100, requests_per_minute=120)  # 2/s, a second's burst
    lim.started(0.0)
    lim.started(0.0)
    assert lim.delay(0.0) == pytest.approx(0.5)
    assert lim.delay(0.5) == 0.0
    halved = AdaptiveLimiter(100, requests_per_minute=120, share=0.5)
    halved.started(0.0)
    assert halved.delay(0.0) == pytest.approx(1.0)


def test_fixed_tokens_per_minute() -> None:
    lim = AdaptiveLimiter(100, tokens_per_minute=6000)  # 100/s
    lim.started(0.0, 100)
    assert lim.delay(0.0, 50) == pytest.approx(0.5)
    assert lim.delay(0.0, 10_000) == pytest.approx(1.0)  # bigger than the bucket: a full one


def test_a_5xx_or_connection_error_does_not_change_the_window() -> None:
    lim = AdaptiveLimiter(8)
    lim.started(0.0)
    lim.failed(0.0)
    assert lim.limit == 8 and lim.delay(0.0) == 0.0 and lim.in_flight == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_concurrency": 0},
        {"max_concurrency": 4, "share": 0.0},
        {"max_concurrency": 4, "share": 1.5},
        {"max_concurrency": 4, "requests_per_minute": 0},
        {"max_concurrency": 4, "tokens_per_minute": -1},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AdaptiveLimiter(**kwargs)  # type: ignore[arg-type]


def test_snapshot() -> None:
    lim = AdaptiveLimiter(4)
    lim.started(0.0)
    lim.rate_limited_by_server(0.0, 3.0)
    snap = lim.snapshot(1.0)
    assert (snap.window, snap.in_flight, snap.paused_for, snap.rate_limited) == (2, 0, 2.0, 1)
