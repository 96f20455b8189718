"""``LlamaClient`` and ``AsyncLlamaClient``.

Both are thin shells over :class:`~llama_client._base_client._BaseClient`: they add the sending
(through :mod:`llama_client._transport`), the stream object of their kind and the resources
(:mod:`llama_client.resources`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from types import TracebackType
from typing import Any, Literal

import httpx
from typing_extensions import Self

from ._base_client import (
    _UNSET,
    DEFAULT_BASE_URL,
    DEFAULT_LIMITS,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ChatAttempt,
    M,
    ProviderSpec,
    _async_http,
    _BaseClient,
)
from ._response import parse_model
from ._streaming import _ABANDONED, AsyncStream, Stream, close_abandoned
from ._transport import AsyncSender, SyncSender
from .errors import APIError, InvalidRequestError
from .providers import Fallback
from .providers._endpoint import Endpoint
from .providers.base import UnsupportedPolicy
from .resources.chat import AsyncChat, Chat
from .resources.models import AsyncModels, Models
from .types.chat import ChatCompletionChunk

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "AsyncLlamaClient",
    "LlamaClient",
]


class LlamaClient(_BaseClient):
    """A synchronous client for an OpenAI-compatible Llama server.

    Arguments override the environment (``LLAMA_PROVIDER``, ``LLAMA_BASE_URL``,
    ``LLAMA_API_KEY``, ``LLAMA_MODEL``), which overrides the defaults (a local vLLM at
    ``http://localhost:8000/v1``, no key). ``provider="groq"`` talks to a hosted vendor (its
    key from ``GROQ_API_KEY``); a list of providers falls over from one to the next. The
    ``LLAMA_*`` variables describe your own server: ``LLAMA_BASE_URL`` and ``LLAMA_API_KEY``
    reach self-hosted providers only, and ``LLAMA_MODEL`` reaches a hosted vendor only when
    the model catalogue knows it (translated to the vendor's id).

    ``api_key`` may be ASCII ``bytes``; ``default_headers`` values are strings (or ASCII
    bytes), and None removes a header. Anything that cannot be sent in an HTTP header is
    refused here with :class:`InvalidRequestError`, before any I/O. A ``user:password@`` in
    ``base_url`` is sent as HTTP Basic auth (and never printed).
    ``unsupported`` decides what happens to a parameter the provider cannot honour: ``"warn"``
    (drop it, warn once), ``"drop"`` or ``"error"``. Use it as a context manager, or call
    :meth:`close`, to release its connections.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | bytes | None = None,
        model: str | None = None,
        timeout: float | httpx.Timeout | None = _UNSET,
        max_retries: int | None = None,
        default_headers: Mapping[str, str | None] | None = None,
        http_client: httpx.Client | None = None,
        provider: ProviderSpec | None = None,
        unsupported: UnsupportedPolicy = "warn",
        fallback: Fallback | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            model=model,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            provider=provider,
            unsupported=unsupported,
            fallback=fallback,
        )
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise InvalidRequestError(
                "http_client",
                "must be an httpx.Client (use AsyncLlamaClient for httpx.AsyncClient)",
            )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=self.timeout, limits=DEFAULT_LIMITS)
        self._senders: dict[str, SyncSender] = {}
        self._sender = self._sender_for(self._endpoints[0])

    def _sender_for(self, ep: Endpoint) -> SyncSender:
        sender = self._senders.get(ep.name)
        if sender is None:
            sender = SyncSender(self._http, ep.policy, ep.provider.classify_error)
            self._senders[ep.name] = sender
        return sender

    @cached_property
    def chat(self) -> Chat:
        return Chat(self)

    @cached_property
    def models(self) -> Models:
        return Models(self)

    def with_options(
        self,
        *,
        model: str | None = None,
        timeout: float | httpx.Timeout | None = _UNSET,
        max_retries: int | None = None,
        default_headers: Mapping[str, str | None] | None = None,
    ) -> LlamaClient:
        """A copy with some settings changed, sharing this client's connections."""
        copy = LlamaClient(
            **self._copy_kwargs(),
            model=model or self.model,
            timeout=self.timeout if timeout is _UNSET else timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            default_headers={**self._default_headers, **(default_headers or {})},
            http_client=self._http,
        )
        copy._model_from_env = not model and self._model_from_env
        return copy

    def close(self) -> None:
        """Close the connection pool (unless the httpx client was passed in by the caller)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the one request path ------------------------------------------------------------

    def _run(
        self, plan: list[ChatAttempt], stream: bool
    ) -> tuple[Endpoint, httpx.Response, Stream[ChatCompletionChunk] | None]:
        """Send a planned chat call, falling over to the next provider when one fails
        (for a stream: only before its first chunk)."""
        if _ABANDONED:  # streams a garbage collection dropped: close them outside the pool
            close_abandoned()
        for tried, (ep, request) in enumerate(plan, 1):
            try:
                response = self._sender_for(ep).send(request, stream=stream)
                chunks: Stream[ChatCompletionChunk] | None = None
                if stream:
                    chunks = Stream(response, self._decoder(ep))
                    chunks.provider_name = ep.name
                    if tried < len(plan):
                        chunks._prime()
            except APIError as exc:
                if self._give_up(ep, exc, len(plan), tried):
                    raise
                continue
            self._answered(ep, len(plan))
            return ep, response, chunks
        raise AssertionError("a chat plan is never empty")  # pragma: no cover

    def _open_stream(self, plan: list[ChatAttempt]) -> Stream[ChatCompletionChunk]:
        chunks = self._run(plan, True)[2]
        assert chunks is not None
        return chunks

    def _get(self, path: str, cls: type[M], options: Mapping[str, Any]) -> M:
        request = self._build_request(self._http, "GET", path, options=self._check_options(options))
        return parse_model(self._sender.send(request), cls)


class AsyncLlamaClient(_BaseClient):
    """The asynchronous twin of :class:`LlamaClient`: the same surface, awaited.

    ``transport="aiohttp"`` (needs ``llama-client[aiohttp]``) sends through aiohttp's
    connection pool instead of httpx's, which is much faster with many requests in flight;
    retries, timeouts, errors and streams behave the same.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | bytes | None = None,
        model: str | None = None,
        timeout: float | httpx.Timeout | None = _UNSET,
        max_retries: int | None = None,
        default_headers: Mapping[str, str | None] | None = None,
        http_client: httpx.AsyncClient | None = None,
        provider: ProviderSpec | None = None,
        unsupported: UnsupportedPolicy = "warn",
        fallback: Fallback | None = None,
        transport: Literal["httpx", "aiohttp"] = "httpx",
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            model=model,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
            provider=provider,
            unsupported=unsupported,
            fallback=fallback,
        )
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise InvalidRequestError(
                "http_client", "must be an httpx.AsyncClient (use LlamaClient for httpx.Client)"
            )
        if http_client is not None and transport != "httpx":
            raise InvalidRequestError(
                "transport", "cannot be combined with http_client (give that client the transport)"
            )
        self._owns_http = http_client is None
        self._http = http_client or _async_http(transport, self.timeout)
        self._senders: dict[str, AsyncSender] = {}
        self._sender = self._sender_for(self._endpoints[0])

    def _sender_for(self, ep: Endpoint) -> AsyncSender:
        sender = self._senders.get(ep.name)
        if sender is None:
            sender = AsyncSender(self._http, ep.policy, ep.provider.classify_error)
            self._senders[ep.name] = sender
        return sender

    @cached_property
    def chat(self) -> AsyncChat:
        return AsyncChat(self)

    @cached_property
    def models(self) -> AsyncModels:
        return AsyncModels(self)

    def with_options(
        self,
        *,
        model: str | None = None,
        timeout: float | httpx.Timeout | None = _UNSET,
        max_retries: int | None = None,
        default_headers: Mapping[str, str | None] | None = None,
    ) -> AsyncLlamaClient:
        """A copy with some settings changed, sharing this client's connections."""
        copy = AsyncLlamaClient(
            **self._copy_kwargs(),
            model=model or self.model,
            timeout=self.timeout if timeout is _UNSET else timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            default_headers={**self._default_headers, **(default_headers or {})},
            http_client=self._http,
        )
        copy._model_from_env = not model and self._model_from_env
        return copy

    async def close(self) -> None:
        """Close the connection pool (unless the httpx client was passed in by the caller)."""
        if self._owns_http:
            await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _run(
        self, plan: list[ChatAttempt], stream: bool
    ) -> tuple[Endpoint, httpx.Response, AsyncStream[ChatCompletionChunk] | None]:
        """The async twin of :meth:`LlamaClient._run`."""
        for tried, (ep, request) in enumerate(plan, 1):
            try:
                response = await self._sender_for(ep).send(request, stream=stream)
                chunks: AsyncStream[ChatCompletionChunk] | None = None
                if stream:
                    chunks = AsyncStream(response, self._decoder(ep))
                    chunks.provider_name = ep.name
                    if tried < len(plan):
                        await chunks._prime()
            except APIError as exc:
                if self._give_up(ep, exc, len(plan), tried):
                    raise
                continue
            self._answered(ep, len(plan))
            return ep, response, chunks
        raise AssertionError("a chat plan is never empty")  # pragma: no cover

    async def _open_stream(self, plan: list[ChatAttempt]) -> AsyncStream[ChatCompletionChunk]:
        chunks = (await self._run(plan, True))[2]
        assert chunks is not None
        return chunks

    async def _get(self, path: str, cls: type[M], options: Mapping[str, Any]) -> M:
        request = self._build_request(self._http, "GET", path, options=self._check_options(options))
        return parse_model(await self._sender.send(request), cls)
