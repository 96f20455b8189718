"""When the next request may start: the batch engine's rate decisions. No I/O, no clock.

Every method takes ``now`` (seconds, any monotonic origin), so the decisions are tested
without sleeping. The engine asks :meth:`AdaptiveLimiter.delay` before starting a request
and reports each outcome back. Four things hold a request back:

- **the concurrency window**: additive increase (+1 after a window's worth of successes), and
  halved on a 429 (at most once per second, so one burst of 429s counts once), never below 1
  nor above ``max_concurrency``;
- **a pause** after a 429: the server's ``Retry-After``, else 1 s doubling with consecutive
  429s up to 60 s; every start waits it out (the window then ramps back up from its half);
- **the provider's budgets** (``x-ratelimit-remaining/reset-{requests,tokens}``, parsed into
  :class:`~llama_client.types.ratelimit.RateLimitInfo`): the last response's remaining count,
  minus what was started since, until its reset time; none left → wait for the reset;
- **fixed budgets** given by the user (requests and tokens per minute), as token buckets
  holding one second's worth.

``share`` (0-1] scales every budget: N workers sharing one account each take ``1/N`` of
what the provider reports and of the fixed per-minute budgets.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..types.ratelimit import RateLimitInfo

__all__ = ["AdaptiveLimiter", "LimiterSnapshot"]

_MAX_PAUSE = 60.0
_CUT_SPACING = 1.0


class _Bucket:
    """A token bucket: ``rate`` per second, holding at most ``capacity``."""

    __slots__ = ("capacity", "level", "rate", "updated")

    def __init__(self, per_minute: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
            self.updated = now

    def wait(self, now: float, amount: float) -> float:
        self._refill(now)
        amount = min(amount, self.capacity)
        if self.level >= amount:
            return 0.0
        return (amount - self.level) / self.rate

    def take(self, now: float, amount: float) -> None:
        self._refill(now)
        self.level -= min(amount, self.capacity)


class _Budget:
    """What the provider said is left, counted down by what we started since."""

    __slots__ = ("left", "resets_at")

    def __init__(self) -> None:
        self.left: float | None = None
        self.resets_at = 0.0

    def wait(self, now: float, amount: float) -> float:
        if self.left is None or now >= self.resets_at:
            return 0.0
        return 0.0 if self.left >= amount else self.resets_at - now

    def take(self, now: float, amount: float) -> None:
        if self.left is not None and now < self.resets_at:
            self.left -= amount

    def update(
        self, now: float, remaining: int | None, reset: float | None, share: float, pending: float
    ) -> None:
        if remaining is None:
            return
        if reset is None:
            reset = 1.0  # a remaining count without a reset time: trust it for a second
        self.left = remaining * share - pending
        self.resets_at = now + reset


@dataclass(frozen=True)
class LimiterSnapshot:
    """The limiter's state, for progress displays and logs."""

    window: int
    in_flight: int
    paused_for: float
    rate_limited: int


class AdaptiveLimiter:
    """Bounded, adaptive admission for the batch engine (see the module docstring).

    ``max_concurrency`` bounds requests in flight; ``requests_per_minute`` and
    ``tokens_per_minute`` are optional fixed budgets; ``share`` is this worker's fraction of
    every budget (1.0 alone, ``1/N`` for N workers of one account).
    """

    def __init__(
        self,
        max_concurrency: int,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        share: float = 1.0,
        now: float = 0.0,
    ) -> None:
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency must be a positive integer, got {max_concurrency!r}")
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share must be in (0, 1], got {share!r}")
        for name, value in (
            ("requests_per_minute", requests_per_minute),
            ("tokens_per_minute", tokens_per_minute),
        ):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        self.max_concurrency = max_concurrency
        self.share = share
        self.window = float(max_concurrency)
        self.in_flight = 0
        self.paused_until = 0.0
        self.rate_limited = 0
        self._consecutive_429 = 0
        self._last_cut = -1e18
        self._rpm = _Bucket(requests_per_minute * share, now) if requests_per_minute else None
        self._tpm = _Bucket(tokens_per_minute * share, now) if tokens_per_minute else None
        self._requests = _Budget()
        self._tokens = _Budget()

    # -- asking ----------------------------------------------------------------------------

    @property
    def limit(self) -> int:
        """Requests that may be in flight now."""
        return max(1, min(self.max_concurrency, int(self.window)))

    def delay(self, now: float, tokens: int = 0) -> float:
        """Seconds to wait before a request estimated at ``tokens`` may start (0: now).
        The concurrency window is the caller's to respect (:attr:`limit`)."""
        waits = [
            self.paused_until - now,
            self._requests.wait(now, 1),
            self._tokens.wait(now, tokens),
        ]
        if self._rpm is not None:
            waits.append(self._rpm.wait(now, 1))
        if self._tpm is not None and tokens:
            waits.append(self._tpm.wait(now, tokens))
        return max(0.0, *waits)

    def snapshot(self, now: float) -> LimiterSnapshot:
        return LimiterSnapshot(
            self.limit, self.in_flight, max(0.0, self.paused_until - now), self.rate_limited
        )

    # -- telling ---------------------------------------------------------------------------

    def started(self, now: float, tokens: int = 0) -> None:
        """A request estimated at ``tokens`` was started."""
        self.in_flight += 1
        self._requests.take(now, 1)
        self._tokens.take(now, tokens)
        if self._rpm is not None:
            self._rpm.take(now, 1)
        if self._tpm is not None and tokens:
            self._tpm.take(now, tokens)

    def _observe(self, now: float, info: RateLimitInfo | None) -> None:
        if info is None:
            return
        others = max(0, self.in_flight - 1)  # started after the server counted this one
        self._requests.update(now, info.remaining_requests, info.reset_requests, self.share, others)
        self._tokens.update(now, info.remaining_tokens, info.reset_tokens, self.share, 0)

    def succeeded(self, now: float, info: RateLimitInfo | None = None) -> None:
        """A request was answered (any non-429 answer counts: the rate was not the problem)."""
        self._observe(now, info)
        self.in_flight = max(0, self.in_flight - 1)
        self._consecutive_429 = 0
        if self.window < self.max_concurrency:
            self.window = min(float(self.max_concurrency), self.window + 1.0 / self.window)

    def failed(self, now: float) -> None:
        """A request failed without an answer about the rate (connection error, 5xx)."""
        self.in_flight = max(0, self.in_flight - 1)

    def rate_limited_by_server(
        self, now: float, retry_after: float | None, info: RateLimitInfo | None = None
    ) -> None:
        """A 429: pause every start, and halve the window (once per burst)."""
        self._observe(now, info)
        self.in_flight = max(0, self.in_flight - 1)
        self.rate_limited += 1
        self._consecutive_429 += 1
        if retry_after is None:
            pause = min(_MAX_PAUSE, 2.0 ** min(self._consecutive_429 - 1, 6))
        else:
            pause = min(max(retry_after, 0.0), _MAX_PAUSE * 10)
        self.paused_until = max(self.paused_until, now + pause)
        if now - self._last_cut >= _CUT_SPACING:
            self.window = max(1.0, self.window / 2.0)
            self._last_cut = now
