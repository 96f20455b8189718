"""Sending a request, with retries: the only module that touches the network for a call.

The decisions (which failures are retried, how long to wait, what an error response becomes)
live in :class:`RetryPolicy` and :func:`raise_for_status`, which do no I/O; :class:`SyncSender`
and :class:`AsyncSender` are thin shells that run them around ``httpx`` with tenacity.

What is retried: connection errors, timeouts, HTTP 408, 409, 429 and 5xx, up to ``max_retries``
times, with exponential backoff and jitter (0.5 s doubling up to 8 s). A ``Retry-After`` (seconds
or HTTP date) or ``retry-after-ms`` header sets the wait instead; when it asks for more than
:attr:`RetryPolicy.max_retry_after` (60 s) the error is raised at once. Every attempt sends the
same bytes. A streamed call is retried only up to the moment its response status is known, so
no retry ever happens after a byte of the stream reached the caller.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Callable, Collection
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from ._response import (
    decode_body,
    undecodable_body,
    undecodable_response,
    unexpected_stream_body,
)
from ._secrets import mask_url, redact_exception, request_secrets
from .errors import APIConnectionError, APIError, APIStatusError, APITimeoutError, status_error

__all__ = [
    "AsyncSender",
    "Classifier",
    "RetryPolicy",
    "SyncSender",
    "parse_retry_after",
    "raise_for_status",
]

logger = logging.getLogger("llama_client")

RETRY_STATUSES = frozenset({408, 409, 429})


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


async def _async_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


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


#: Turns the generic exception for an error response into a provider's more precise one.
Classifier = Callable[[APIStatusError], APIStatusError]


def raise_for_status(response: httpx.Response, classify: Classifier | None = None) -> None:
    """Raise the project's exception for an error or redirect status (the body must be read).

    Redirects are not followed: following one would resend the prompt and the API key to
    whatever address the server names. A 3xx becomes an :class:`APIStatusError` naming it.
    """
    if response.status_code < 300:
        return
    retry_after = parse_retry_after(response.headers)
    exc = status_error(response, decode_body(response), retry_after=retry_after)
    raise exc if classify is None else classify(exc)


class RetryPolicy:
    """When to retry and how long to wait. Pure logic; the senders apply it."""

    __slots__ = (
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

    def wait(self, attempt: int, exc: BaseException | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if isinstance(exc, APIStatusError):
            asked = parse_retry_after(exc.response.headers)
            if asked is not None:
                return asked
        backoff = min(self.max_backoff, self.initial_backoff * 2.0 ** (attempt - 1))
        return backoff * (0.75 + random.random() * 0.25)

    def _tenacity_wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return self.wait(state.attempt_number, exc)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        logger.debug(
            "attempt %d failed (%s); retrying in %.2f s",
            state.attempt_number,
            _describe(exc),
            delay,
        )

    def tenacity_kwargs(self) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(self.max_retries + 1),
            "retry": retry_if_exception(self.should_retry),
            "wait": self._tenacity_wait,
            "before_sleep": self._log_retry,
            "reraise": True,
        }


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, APIStatusError):
        return f"HTTP {exc.status_code}"
    return type(exc).__name__ if exc is not None else "unknown"


def _connection_error(exc: httpx.TransportError, request: httpx.Request) -> APIConnectionError:
    where = f"{request.method} {mask_url(request.url.copy_with(query=None))}"
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"Request timed out: {where} ({type(exc).__name__})", request=request
        )
    detail = str(exc) or type(exc).__name__
    return APIConnectionError(f"Connection error: {where}: {detail}", request=request)


def _undecodable(
    response: httpx.Response | None,
    exc: httpx.DecodingError,
    request: httpx.Request,
    classify: Classifier | None,
) -> APIError:
    """A body that does not decode as its Content-Encoding says (``gzip`` on a plain body):
    an error status keeps its status error (and its retries); a success is unreadable.
    ``response`` is None when the transport itself decoded (and failed) before answering."""
    if response is not None and response.status_code >= 300:
        error = status_error(
            response,
            undecodable_body(response, exc),
            retry_after=parse_retry_after(response.headers),
        )
        return error if classify is None else classify(error)
    return undecodable_response(response, exc, request)


def _must_read(response: httpx.Response, stream: bool) -> bool:
    """Whether a streamed response is an error or JSON body that must be read before use."""
    return stream and (
        response.status_code >= 300 or "json" in response.headers.get("content-type", "")
    )


def _check(
    response: httpx.Response, *, stream: bool, classify: Classifier | None
) -> httpx.Response:
    """Raise for an error status, or for a JSON body where an event stream was asked for."""
    if logger.isEnabledFor(logging.DEBUG):
        request = response.request
        logger.debug(
            "%s %s -> HTTP %d", request.method, mask_url(request.url), response.status_code
        )
    raise_for_status(response, classify)
    if stream and "json" in response.headers.get("content-type", ""):
        exc = unexpected_stream_body(response)
        redact_exception(exc, request_secrets(response.request))
        raise exc
    return response


class SyncSender:
    """Sends a request with retries over an ``httpx.Client``."""

    __slots__ = ("classify", "http", "policy")

    def __init__(
        self, http: httpx.Client, policy: RetryPolicy, classify: Classifier | None = None
    ) -> None:
        self.http = http
        self.policy = policy
        self.classify = classify

    def _attempt(self, request: httpx.Request, stream: bool) -> httpx.Response:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("sending %s %s", request.method, mask_url(request.url))
        try:
            # Always opened as a stream and read here (what httpx's send does for
            # stream=False), so a body that fails to decode still has its status and headers.
            response = self.http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _connection_error(exc, request) from exc
        except httpx.DecodingError as exc:  # a transport that decodes (httpx.MockTransport)
            raise _undecodable(None, exc, request, self.classify) from exc
        if not stream or _must_read(response, stream):
            try:
                response.read()
            except httpx.TransportError as exc:
                raise _connection_error(exc, request) from exc
            except httpx.DecodingError as exc:
                raise _undecodable(response, exc, request, self.classify) from exc
            finally:
                response.close()
        return _check(response, stream=stream, classify=self.classify)

    def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send ``request``; for ``stream=True`` the returned response is open and unread."""
        try:
            return self._attempt(request, stream)
        except APIError as exc:
            if not self.policy.retries(exc):
                raise
            first = exc
        # Only a failed first attempt pays for the retry machinery: tenacity takes over with
        # that failure replayed as its attempt 1, so counting, waits and logging are unchanged.
        replay = [first]

        def attempt() -> httpx.Response:
            if replay:
                raise replay.pop()
            return self._attempt(request, stream)

        retrying = Retrying(sleep=lambda s: _sleep(s), **self.policy.tenacity_kwargs())
        result: httpx.Response = retrying(attempt)
        return result


class AsyncSender:
    """Sends a request with retries over an ``httpx.AsyncClient``."""

    __slots__ = ("classify", "http", "policy")

    def __init__(
        self, http: httpx.AsyncClient, policy: RetryPolicy, classify: Classifier | None = None
    ) -> None:
        self.http = http
        self.policy = policy
        self.classify = classify

    async def _attempt(self, request: httpx.Request, stream: bool) -> httpx.Response:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("sending %s %s", request.method, mask_url(request.url))
        try:
            response = await self.http.send(request, stream=True)  # read here: see SyncSender
        except httpx.TransportError as exc:
            raise _connection_error(exc, request) from exc
        except httpx.DecodingError as exc:  # a transport that decodes (httpx.MockTransport)
            raise _undecodable(None, exc, request, self.classify) from exc
        if not stream or _must_read(response, stream):
            try:
                await response.aread()
            except httpx.TransportError as exc:
                raise _connection_error(exc, request) from exc
            except httpx.DecodingError as exc:
                raise _undecodable(response, exc, request, self.classify) from exc
            finally:
                await response.aclose()
        return _check(response, stream=stream, classify=self.classify)

    async def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        try:
            return await self._attempt(request, stream)
        except APIError as exc:
            if not self.policy.retries(exc):
                raise
            first = exc
        replay = [first]  # as in SyncSender.send

        async def attempt() -> httpx.Response:
            if replay:
                raise replay.pop()
            return await self._attempt(request, stream)

        retrying = AsyncRetrying(sleep=_async_sleep_proxy, **self.policy.tenacity_kwargs())
        result: httpx.Response = await retrying(attempt)
        return result


async def _async_sleep_proxy(seconds: float) -> None:
    # Looked up at call time so tests can replace ``_async_sleep``.
    await _async_sleep(seconds)
