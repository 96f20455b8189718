"""Fallback between providers: which one to try next, and cooldowns. Pure logic, no I/O.

A client built on several providers asks :class:`Fallback` for the order to try them in
(providers on cooldown go last, soonest-available first, so a call is never refused only
because everything is cooling down), reports each failure (which decides whether to move on
and starts that provider's cooldown) and each success (which ends it). The sync and async
clients only loop over the answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from ..errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    InternalServerError,
    RateLimitError,
    StreamError,
)

__all__ = ["DEFAULT_COOLDOWN", "Fallback", "should_fall_over"]

#: Seconds a provider that just failed is tried last.
DEFAULT_COOLDOWN = 30.0


def should_fall_over(exc: BaseException) -> bool:
    """Whether another provider might succeed where this failure happened.

    Yes for connection errors and timeouts, rate limits (429 and vendor equivalents), 408 and
    5xx, and a stream that broke before its first chunk; no for other 4xx, which the same
    request would get from any provider.
    """
    if isinstance(exc, (APIConnectionError, RateLimitError, InternalServerError, StreamError)):
        return True
    if isinstance(exc, APIStatusError):
        return exc.status_code == 408 or exc.status_code >= 500
    return False


class Fallback:
    """Cooldown bookkeeping for a client's providers; may be shared between clients.

    ``clock`` returns seconds (``time.monotonic`` by default); tests pass a fake one.
    """

    def __init__(
        self, cooldown: float = DEFAULT_COOLDOWN, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not isinstance(cooldown, (int, float)) or cooldown < 0:
            raise ValueError(f"cooldown must be a non-negative number of seconds, got {cooldown!r}")
        self.cooldown = float(cooldown)
        self.clock = clock
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def cooling_down(self) -> dict[str, float]:
        """Provider name → seconds of cooldown left, for providers still cooling down."""
        now = self.clock()
        return {name: until - now for name, until in self._until.items() if until > now}

    def order(self, names: Sequence[str]) -> list[int]:
        """Indexes into ``names`` in the order to try them."""
        now = self.clock()
        ready = [i for i, n in enumerate(names) if self._until.get(n, 0.0) <= now]
        cooling = sorted(
            (i for i, n in enumerate(names) if self._until.get(n, 0.0) > now),
            key=lambda i: self._until[names[i]],
        )
        return ready + cooling

    def failed(self, name: str, exc: BaseException) -> bool:
        """Record that ``name`` failed with ``exc``; True when the next provider should be
        tried (the failure then also puts ``name`` on cooldown)."""
        if not isinstance(exc, APIError) or not should_fall_over(exc):
            return False
        with self._lock:
            self._until[name] = self.clock() + self.cooldown
        return True

    def succeeded(self, name: str) -> None:
        """Record that ``name`` answered: its cooldown ends."""
        if name in self._until:
            with self._lock:
                self._until.pop(name, None)
