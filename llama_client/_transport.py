"""What sending a request decides without sending: error statuses, failures, the sleep hooks.

The senders themselves (:class:`~llama_client._async.transport.AsyncSender`, and
:class:`~llama_client._sync.transport.Sender` generated from it) are the only code that puts
a call on the network; they run :class:`~llama_client._retry.RetryPolicy` through tenacity
around ``httpx`` and use the helpers here. Every attempt sends the same bytes. A streamed call
is retried only up to the moment its response status is known, so no retry ever happens after
a byte of the stream reached the caller.

Redirects are not followed: following one would resend the prompt and the API key to whatever
address the server names. A 3xx becomes an :class:`~llama_client.APIStatusError` naming it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx

from ._response import (
    decode_body,
    undecodable_body,
    undecodable_response,
    unexpected_stream_body,
)
from ._retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from ._secrets import mask_url, redact_exception, request_secrets
from .errors import APIConnectionError, APIError, APIStatusError, APITimeoutError, status_error

__all__ = [
    "RETRY_STATUSES",
    "Classifier",
    "RetryPolicy",
    "parse_retry_after",
    "raise_for_status",
]

logger = logging.getLogger("llama_client")


def _sleep(seconds: float) -> None:
    """How the sync sender waits between attempts (tests replace it)."""
    time.sleep(seconds)


async def _async_sleep(seconds: float) -> None:
    """How the async sender waits between attempts (tests replace it)."""
    import asyncio  # only a retry needs it

    await asyncio.sleep(seconds)


#: Turns the generic exception for an error response into a provider's more precise one.
Classifier = Callable[[APIStatusError], APIStatusError]


def raise_for_status(response: httpx.Response, classify: Classifier | None = None) -> None:
    """Raise the project's exception for an error or redirect status (the body must be read)."""
    if response.status_code < 300:
        return
    retry_after = parse_retry_after(response.headers)
    exc = status_error(response, decode_body(response), retry_after=retry_after)
    raise exc if classify is None else classify(exc)


def connection_error(exc: httpx.RequestError, request: httpx.Request) -> APIConnectionError:
    """The project's exception for a transport failure of ``request`` (or a redirect loop that
    a caller's ``httpx.Client(follow_redirects=True)`` gave up on: ``TooManyRedirects``)."""
    where = f"{request.method} {mask_url(request.url.copy_with(query=None))}"
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"Request timed out: {where} ({type(exc).__name__})", request=request
        )
    detail = str(exc) or type(exc).__name__
    return APIConnectionError(f"Connection error: {where}: {detail}", request=request)


def undecodable(
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


def must_read(response: httpx.Response, stream: bool) -> bool:
    """Whether a streamed response is an error or JSON body that must be read before use."""
    return stream and (
        response.status_code >= 300 or "json" in response.headers.get("content-type", "")
    )


def check(response: httpx.Response, *, stream: bool, classify: Classifier | None) -> httpx.Response:
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
