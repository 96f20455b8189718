"""When to retry a failed attempt and how long to wait: decisions only, no I/O.

What is retried: connection errors, timeouts, HTTP 408, 409, 429 and 5xx (plus a provider's own
statuses, e.g. Groq's 498), up to ``max_retries`` times. tenacity does the whole job once a
first attempt has failed (:meth:`RetryPolicy.tenacity_kwargs`): ``stop_after_attempt`` counts,
``retry_if_exception`` asks :meth:`RetryPolicy.should_retry`, ``before_sleep`` logs, and the
wait is tenacity's ``wait_exponential`` (0.5 s doubling up to 8 s) with multiplicative jitter
(each wait is 75-100 % of the nominal one), under a wait that prefers what the server asked
for: a ``Retry-After`` (seconds or HTTP date) or ``retry-after-ms`` header. When the server
asks for more than :attr:`RetryPolicy.max_retry_after` (60 s) the error is raised at once.

The happy path never touches tenacity: the senders (``llama_client/_async/transport.py`` and
its generated sync twin) build a ``Retrying`` only after a first attempt failed with an error
this policy retries, and tenacity itself is imported at that moment.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import httpx

from .errors import APIConnectionError, APIStatusError

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["RETRY_STATUSES", "RetryPolicy", "parse_retry_after"]

logger = logging.getLogger("llama_client")

RETRY_STATUSES = frozenset({408, 409, 429})


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait, from ``retry-after-ms`` or ``Retry-After``."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:  # pragma: no cover - older Pythons
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _failure(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


class _Jittered:
    """A tenacity wait: another wait scaled by a random 75-100 %, so that clients that failed
    together do not retry together."""

    __slots__ = ("nominal",)

    def __init__(self, nominal: Callable[[RetryCallState], float]) -> None:
        self.nominal = nominal

    def __call__(self, state: RetryCallState) -> float:
        return self.nominal(state) * (0.75 + random.random() * 0.25)


class _ServerAsked:
    """A tenacity wait: the ``Retry-After`` of an error response, else ``otherwise``."""

    __slots__ = ("otherwise",)

    def __init__(self, otherwise: Callable[[RetryCallState], float]) -> None:
        self.otherwise = otherwise

    def __call__(self, state: RetryCallState) -> float:
        exc = _failure(state)
        if isinstance(exc, APIStatusError):
            asked = parse_retry_after(exc.response.headers)
            if asked is not None:
                return asked
        return self.otherwise(state)


class RetryPolicy:
    """When to retry and how long to wait. Pure logic; the senders hand it to tenacity."""

    __slots__ = (
        "_wait",
        "extra_statuses",
        "initial_backoff",
        "max_backoff",
        "max_retries",
        "max_retry_after",
    )

    def __init__(
        self,
        max_retries: int = 2,
        *,
        initial_backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 60.0,
        extra_statuses: Collection[int] = (),
    ) -> None:
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be a non-negative integer, got {max_retries!r}")
        self.max_retries = max_retries
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        #: statuses retried on top of 408/409/429/5xx (a provider's, e.g. Groq 498)
        self.extra_statuses = frozenset(extra_statuses)
        self._wait: Callable[[RetryCallState], float] | None = None  # built on first failure

    def should_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, APIConnectionError):
            return True
        if isinstance(exc, APIStatusError):
            status = exc.status_code
            if status in RETRY_STATUSES or status >= 500 or status in self.extra_statuses:
                wait = parse_retry_after(exc.response.headers)
                return wait is None or wait <= self.max_retry_after
        return False

    def retries(self, exc: BaseException) -> bool:
        """Whether a failed first attempt leads to any retry at all."""
        return self.max_retries > 0 and self.should_retry(exc)

    def tenacity_wait(self) -> Callable[[RetryCallState], float]:
        """The tenacity wait: the server's ``Retry-After``, else jittered exponential backoff."""
        if self._wait is None:
            from tenacity import wait_exponential

            backoff = wait_exponential(multiplier=self.initial_backoff, max=self.max_backoff)
            self._wait = _ServerAsked(_Jittered(backoff))
        return self._wait

    def wait(self, attempt: int, exc: BaseException | None) -> float:
        """Seconds tenacity waits after failed attempt number ``attempt`` (1-based)."""
        from tenacity import Future, RetryCallState, Retrying

        state = RetryCallState(Retrying(), None, (), {})
        state.attempt_number = attempt
        if exc is not None:
            state.outcome = Future.construct(attempt, exc, has_exception=True)
        return self.tenacity_wait()(state)

    def _log_retry(self, state: RetryCallState) -> None:
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        logger.debug(
            "attempt %d failed (%s); retrying in %.2f s",
            state.attempt_number,
            _describe(_failure(state)),
            delay,
        )

    def tenacity_kwargs(self) -> dict[str, Any]:
        """Everything tenacity needs besides ``sleep``: stop, retry, wait, logging."""
        from tenacity import retry_if_exception, stop_after_attempt

        return {
            "stop": stop_after_attempt(self.max_retries + 1),
            "retry": retry_if_exception(self.should_retry),
            "wait": self.tenacity_wait(),
            "before_sleep": self._log_retry,
            "reraise": True,
        }


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, APIStatusError):
        return f"HTTP {exc.status_code}"
    return type(exc).__name__ if exc is not None else "unknown"
