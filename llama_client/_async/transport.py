"""Sending a request, with retries: the only code that puts a call on the network.

The decisions live elsewhere and do no I/O: :class:`~llama_client._retry.RetryPolicy` (what is
retried, how long to wait) and :mod:`llama_client._transport` (what a response or a failure
becomes). :class:`AsyncSender` runs them around ``httpx`` with tenacity.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import httpx

from .. import _transport
from .._retry import RetryPolicy
from .._secrets import mask_url
from .._transport import Classifier, check, connection_error, must_read, undecodable
from ..errors import APIError

if TYPE_CHECKING:
    from .._observe import Watch
    from ..providers.base import Signer

__all__ = ["AsyncSender"]

logger = logging.getLogger("llama_client")


async def _pause(seconds: float) -> None:
    # Looked up at call time, so tests can replace llama_client._transport's sleep.
    await _transport._async_sleep(seconds)


class AsyncSender:
    """Sends a request with retries over an ``httpx.AsyncClient``."""

    __slots__ = ("classify", "http", "policy", "sign")

    def __init__(
        self,
        http: httpx.AsyncClient,
        policy: RetryPolicy,
        classify: Classifier | None = None,
        sign: Signer | None = None,
    ) -> None:
        self.http = http
        self.policy = policy
        self.classify = classify
        #: a provider's per-attempt signing (SigV4): every attempt, retries too, is signed
        #: afresh over the final body, with the credentials current at that moment
        self.sign = sign

    async def _attempt(self, request: httpx.Request, stream: bool) -> httpx.Response:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("sending %s %s", request.method, mask_url(request.url))
        if self.sign is not None:
            self.sign(request)
        try:
            # Always opened as a stream and read here (what httpx's send does for
            # stream=False), so a body that fails to decode still has its status and headers.
            response = await self.http.send(request, stream=True)
        except httpx.DecodingError as exc:  # a transport that decodes (httpx.MockTransport)
            raise undecodable(None, exc, request, self.classify) from exc
        except httpx.RequestError as exc:  # transport failures; a caller's client's redirects
            raise connection_error(exc, request) from exc
        if not stream or must_read(response, stream):
            try:
                await response.aread()
            except httpx.TransportError as exc:
                raise connection_error(exc, request) from exc
            except httpx.DecodingError as exc:
                raise undecodable(response, exc, request, self.classify) from exc
            finally:
                await response.aclose()
        return check(response, stream=stream, classify=self.classify)

    async def send(
        self, request: httpx.Request, *, stream: bool = False, watch: Watch | None = None
    ) -> httpx.Response:
        """Send ``request``; for ``stream=True`` the returned response is open and unread.
        ``watch`` (when the call is observed) hears of every attempt and retry."""
        if watch is not None:
            watch.attempt(request)
        try:
            return await self._attempt(request, stream)
        except APIError as exc:
            if not self.policy.retries(exc):
                raise
            first = exc
        # Only a failed first attempt pays for the retry machinery: tenacity takes over with
        # that failure replayed as its attempt 1, so counting, waits and logging are unchanged.
        from tenacity import AsyncRetrying

        replay = [first]

        async def attempt() -> httpx.Response:
            if replay:
                raise replay.pop()
            if watch is not None:
                watch.attempt(request)
            return await self._attempt(request, stream)

        options = self.policy.tenacity_kwargs()
        if watch is not None:
            options["before_sleep"] = watch.retry_logger(options["before_sleep"])
        retrying = AsyncRetrying(sleep=_pause, **options)
        result: httpx.Response = await retrying(attempt)
        return result
