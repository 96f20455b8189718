"""``LlamaClient`` and ``AsyncLlamaClient`` and their resources.

Both clients share :class:`_BaseClient`, which resolves the configuration, builds every
request and interprets every response without doing I/O. The sync and async classes only add
the sending (through :mod:`llama_client._transport`) and the stream object of their kind.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from functools import cached_property
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

import httpx
from pydantic import BaseModel
from typing_extensions import Self, Unpack

from ._chat_stream import AsyncChatCompletionStreamManager, ChatCompletionStreamManager
from ._response import APIResponse, parse_model
from ._streaming import AsyncStream, ChatChunkDecoder, Stream
from ._structured import StructuredOutput
from ._tool_calls import ToolCallPolicy, prepare_tool_params
from ._tool_loop import ToolRunResult, arun_tools, run_tools
from ._transport import AsyncSender, SyncSender
from ._validation import REQUEST_OPTIONS, build_chat_body
from ._version import __version__
from .errors import APIError, InvalidRequestError, UnsupportedParameterWarning
from .providers import Fallback, ModelInfo, Provider, catalog, find_provider, get_provider
from .providers._endpoint import Endpoint, resolve_endpoint
from .providers.base import UnsupportedPolicy
from .tools import ToolLike
from .types.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion
from .types.models import Model, ModelList
from .types.params import (
    ChatCompletionParams,
    MessageParam,
    ParseParams,
    RequestOptions,
    RunToolsParams,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "AsyncLlamaClient",
    "LlamaClient",
]

#: vLLM's default address: what the client talks to when nothing else is configured.
DEFAULT_BASE_URL = "http://localhost:8000/v1"
#: Generous for long generations, quick to notice a server that is not there.
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=5.0)
DEFAULT_MAX_RETRIES = 2
#: httpx's own defaults. Keeping more idle connections makes httpcore's async pool much slower
#: under concurrency (64 in flight on loopback: 3x fewer requests/s with 100 kept alive), so
#: we stay with them; AsyncLlamaClient(transport="aiohttp") is the fast path for heavy
#: concurrency and keeps a larger pool (AIOHTTP_LIMITS).
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
AIOHTTP_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)

M = TypeVar("M", bound=BaseModel)

logger = logging.getLogger("llama_client")

#: ``provider=`` accepts a registered name, a Provider, or an ordered list of them (fallback).
ProviderSpec = str | Provider | Sequence[str | Provider]
#: One planned attempt of a chat call: the provider endpoint and the request for it.
ChatAttempt = tuple[Endpoint, httpx.Request]


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()


def _json_default(value: object) -> object:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encode(body: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(
            body, ensure_ascii=False, separators=(",", ":"), default=_json_default
        ).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError("body", f"cannot be encoded as JSON: {exc}") from None


def _providers_from(spec: ProviderSpec | None) -> list[Provider]:
    if spec is None:
        spec = os.environ.get("LLAMA_PROVIDER") or "vllm"
        if "," in spec:
            spec = [name for name in spec.split(",") if name.strip()]
    items: Sequence[str | Provider] = [spec] if isinstance(spec, (str, Provider)) else spec
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not items:
        raise InvalidRequestError(
            "provider", "must be a provider name, a Provider, or a list of them"
        )
    providers = [p if isinstance(p, Provider) else get_provider(str(p).strip()) for p in items]
    names = [p.name for p in providers]
    if len(set(names)) != len(names):
        raise InvalidRequestError("provider", f"each provider may appear once, got {names}")
    return providers


def _as_timeout(value: float | httpx.Timeout | None) -> httpx.Timeout:
    if isinstance(value, httpx.Timeout):
        return value
    if value is None:
        return httpx.Timeout(None)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidRequestError(
            "timeout", f"must be a positive number of seconds or httpx.Timeout, got {value!r}"
        )
    return httpx.Timeout(float(value), connect=min(float(value), DEFAULT_TIMEOUT.connect or 5.0))


def _async_http(name: str, timeout: httpx.Timeout) -> httpx.AsyncClient:
    """The async httpx client for ``transport=``: httpx's own pool, or aiohttp's (lazy import)."""
    if name == "httpx":
        return httpx.AsyncClient(timeout=timeout, limits=DEFAULT_LIMITS)
    if name != "aiohttp":
        raise InvalidRequestError("transport", f"must be 'httpx' or 'aiohttp', got {name!r}")
    try:
        from ._aiohttp_transport import AiohttpClient
    except ImportError as exc:
        raise ImportError(
            "transport='aiohttp' needs aiohttp: pip install 'llama-client[aiohttp]'"
        ) from exc
    return AiohttpClient(timeout=timeout, limits=AIOHTTP_LIMITS)


def _timeout_dict(value: float | httpx.Timeout | None) -> dict[str, float | None]:
    return _as_timeout(value).as_dict()


class _BaseClient:
    """Configuration, request building and response interpretation shared by both clients."""

    base_url: str
    model: str | None
    timeout: httpx.Timeout
    max_retries: int

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        model: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int | None,
        default_headers: Mapping[str, str] | None,
        provider: ProviderSpec | None = None,
        unsupported: UnsupportedPolicy = "warn",
        fallback: Fallback | None = None,
    ) -> None:
        self.model = model or os.environ.get("LLAMA_MODEL") or None
        self.timeout = DEFAULT_TIMEOUT if timeout is _UNSET else _as_timeout(timeout)
        self.max_retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise InvalidRequestError(
                "max_retries", f"must be a non-negative integer, got {self.max_retries!r}"
            )
        if unsupported not in ("warn", "drop", "error"):
            raise InvalidRequestError(
                "unsupported", f'must be "warn", "drop" or "error", got {unsupported!r}'
            )
        self._unsupported: UnsupportedPolicy = unsupported
        self._default_headers = dict(default_headers or {})
        self._base_headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": f"llama-client/{__version__}",
        }
        providers = _providers_from(provider)
        several = len(providers) > 1
        if several and (base_url or api_key):
            raise InvalidRequestError(
                "base_url" if base_url else "api_key",
                "with several providers each one takes its URL and key from its own environment "
                "variables; register a Provider with its base_url for a custom address",
            )
        self._endpoints = [
            self._resolve(p, base_url=base_url, api_key=api_key, generic_env=not several)
            for p in providers
        ]
        self._by_name = {ep.name: ep for ep in self._endpoints}
        self._extra_endpoints: dict[str, Endpoint] = {}
        self._fallback = fallback if fallback is not None else Fallback()
        self._warned: set[tuple[str, str]] = set()
        primary = self._endpoints[0]
        self.provider = primary.provider
        self.base_url = primary.base_url
        self._api_key = primary.api_key
        self._headers = primary.headers
        self._stream_headers = primary.stream_headers
        self._prepared_for: httpx.Client | httpx.AsyncClient | None = None
        self._parts: dict[tuple[int, str, str, bool], tuple[httpx.URL, httpx.Headers]] = {}
        self._timeout_dict: dict[str, float | None] = {}
        self._policy = primary.policy

    def _resolve(
        self, provider: Provider, *, base_url: str | None, api_key: str | None, generic_env: bool
    ) -> Endpoint:
        return resolve_endpoint(
            provider,
            base_url=base_url,
            api_key=api_key,
            env=os.environ,
            base_headers=self._base_headers,
            default_headers=self._default_headers,
            max_retries=self.max_retries,
            generic_env=generic_env,
        )

    @property
    def providers(self) -> list[str]:
        """The names of this client's providers, in fallback order."""
        return [ep.name for ep in self._endpoints]

    def _copy_kwargs(self) -> dict[str, Any]:
        """Arguments that rebuild this client's providers (for ``with_options``)."""
        single = len(self._endpoints) == 1
        return {
            "provider": [ep.provider for ep in self._endpoints],
            "base_url": self.base_url if single else None,
            "api_key": (self._api_key or "") if single else None,
            "unsupported": self._unsupported,
            "fallback": self._fallback,
        }

    @property
    def api_key(self) -> str | None:
        """The API key in use (never shown by ``repr``)."""
        return self._api_key

    def __repr__(self) -> str:
        key = "'***'" if self._api_key else "None"
        names = self.providers
        provider = names[0] if len(names) == 1 else names
        return (
            f"{type(self).__name__}(provider={provider!r}, base_url={self.base_url!r}, "
            f"model={self.model!r}, api_key={key}, max_retries={self.max_retries})"
        )

    # -- request building (no I/O) -------------------------------------------------------

    def _resolve_model(self, model: str | None) -> str:
        chosen = model or self.model
        if not chosen:
            raise InvalidRequestError(
                "model",
                "no model given: pass model=... to the call or the client, or set LLAMA_MODEL",
            )
        if not isinstance(chosen, str):
            raise InvalidRequestError("model", f"must be a string, got {type(chosen).__name__}")
        return chosen

    def _build_request(
        self,
        http: httpx.Client | httpx.AsyncClient,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        options: Mapping[str, Any],
        stream: bool = False,
        endpoint: Endpoint | None = None,
        provider_headers: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        ep = endpoint or self._endpoints[0]
        extra_body = options.get("extra_body")
        if extra_body:
            if body is None:
                raise InvalidRequestError("extra_body", f"{method} {path} takes no body")
            body = {**body, **extra_body}
        content = _encode(body) if body is not None else None
        timeout = options.get("timeout")
        extra_headers = options.get("extra_headers")
        if http.cookies or http.params:
            # The httpx client has state of its own to merge in: let it build the request.
            headers = ep.stream_headers if stream else ep.headers
            if provider_headers:
                headers = {**headers, **provider_headers}
            if extra_headers:
                headers = {**headers, **extra_headers}
            query = options.get("extra_query")
            if ep.query:
                query = {**ep.query, **(query or {})}
            return http.build_request(
                method,
                ep.base_url + path,
                content=content,
                headers=headers,
                params=query or None,
                timeout=self.timeout if timeout is None else _as_timeout(timeout),
            )
        # The hot path: the same request httpx's build_request would make, from parts prepared
        # once per client and endpoint (parsed URL, headers merged with the httpx client's).
        url, merged = self._request_parts(http, ep, path, stream)
        extra_query = options.get("extra_query")
        if extra_query:
            url = url.copy_merge_params(extra_query)
        if provider_headers or extra_headers:
            merged = httpx.Headers(merged)
            merged.update(provider_headers or {})
            merged.update(extra_headers or {})
        return httpx.Request(
            method,
            url,
            headers=merged,
            content=content,
            extensions={
                "timeout": self._timeout_dict if timeout is None else _timeout_dict(timeout)
            },
        )

    def _request_parts(
        self, http: httpx.Client | httpx.AsyncClient, ep: Endpoint, path: str, stream: bool
    ) -> tuple[httpx.URL, httpx.Headers]:
        """The URL and headers of a request to ``ep``, prepared once and then reused."""
        if self._prepared_for is not http:
            self._prepared_for = http
            self._parts = {}
            self._timeout_dict = self.timeout.as_dict()
        key = (id(ep), ep.base_url, path, stream)
        parts = self._parts.get(key)
        if parts is None:
            merged = httpx.Headers(http.headers)
            merged.update(ep.stream_headers if stream else ep.headers)
            url = httpx.URL(ep.base_url + path)
            if ep.query:
                url = url.copy_merge_params(ep.query)
            parts = self._parts[key] = (url, merged)
        return parts

    def _route(self, model: str | None) -> tuple[list[Endpoint], str]:
        """The endpoints a call goes to and the model name for them: ``"groq:llama-..."``
        picks one provider for this call; anything else uses the client's providers."""
        chosen = self._resolve_model(model)
        prefix, sep, rest = chosen.partition(":")
        if sep and rest and prefix and "/" not in prefix:
            ep = self._by_name.get(prefix) or self._extra_endpoints.get(prefix)
            if ep is None:
                found = find_provider(prefix)
                if found is not None:
                    ep = self._resolve(found, base_url=None, api_key=None, generic_env=False)
                    self._extra_endpoints[prefix] = ep
            if ep is not None:
                return [ep], rest
        return self._endpoints, chosen

    def _chat_plan(
        self,
        http: httpx.Client | httpx.AsyncClient,
        messages: Sequence[MessageParam],
        model: str | None,
        stream: bool,
        params: Mapping[str, Any],
        *,
        want_usage: bool = False,
    ) -> tuple[list[ChatAttempt], ToolCallPolicy | None]:
        """Validate a chat call and build its request for each provider it may go to, and
        what to do with the reply's tool calls (None without tools).

        Everything that can be refused is refused here, before any I/O. With several
        providers, one that cannot serve the call (model not offered, a parameter refused)
        is left out; the call fails only when none can.
        """
        params, tool_policy = prepare_tool_params(params)
        endpoints, name = self._route(model)
        body = build_chat_body(messages, name, stream, params)
        options = {k: params[k] for k in REQUEST_OPTIONS if k in params}
        attempts: list[ChatAttempt] = []
        refused: InvalidRequestError | None = None
        for ep in endpoints:
            try:
                prepared = ep.provider.prepare(
                    body, stream=stream, want_usage=want_usage, unsupported=self._unsupported
                )
            except InvalidRequestError as exc:
                if len(endpoints) == 1:
                    raise
                logger.debug("provider %r skipped: %s", ep.name, exc)
                refused = refused or exc
                continue
            for param, reason in prepared.dropped:
                self._warn_dropped(ep.name, param, reason)
            request = self._build_request(
                http,
                "POST",
                "/chat/completions",
                body=prepared.body,
                options=options,
                stream=stream,
                endpoint=ep,
                provider_headers=prepared.headers,
            )
            attempts.append((ep, request))
        if not attempts:
            assert refused is not None
            raise refused
        if len(attempts) > 1:
            order = self._fallback.order([ep.name for ep, _ in attempts])
            attempts = [attempts[i] for i in order]
        return attempts, tool_policy

    def _warn_dropped(self, provider: str, param: str, reason: str) -> None:
        if self._unsupported != "warn" or (provider, param) in self._warned:
            return
        self._warned.add((provider, param))
        warnings.warn(
            f"{param} {reason} by provider {provider!r}; it was not sent",
            UnsupportedParameterWarning,
            stacklevel=4,
        )

    def _give_up(self, ep: Endpoint, exc: APIError, attempts: int, tried: int) -> bool:
        """After ``ep`` failed with ``exc`` (attempt ``tried`` of ``attempts``): True to raise,
        False to try the next provider."""
        if attempts == 1:
            return True
        moved = self._fallback.failed(ep.name, exc)
        if moved and tried < attempts:
            logger.info("provider %r failed (%s); trying the next one", ep.name, type(exc).__name__)
            return False
        return True

    def _answered(self, ep: Endpoint, attempts: int) -> None:
        if attempts > 1:
            self._fallback.succeeded(ep.name)

    @staticmethod
    def _finish_chat(
        ep: Endpoint, response: httpx.Response, tool_policy: ToolCallPolicy | None
    ) -> ChatCompletion:
        completion = ep.provider.normalize_completion(parse_model(response, ChatCompletion))
        if tool_policy:
            completion = tool_policy.apply(completion)
        completion._provider = ep.name
        return completion

    @staticmethod
    def _decoder(ep: Endpoint) -> ChatChunkDecoder:
        return ChatChunkDecoder(ep.provider.chunk_normalizer())

    def _catalog(self) -> list[ModelInfo]:
        return catalog([ep.provider for ep in self._endpoints])

    @staticmethod
    def _check_options(options: Mapping[str, Any]) -> Mapping[str, Any]:
        unknown = set(options) - REQUEST_OPTIONS
        if unknown:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        return options


class LlamaClient(_BaseClient):
    """A synchronous client for an OpenAI-compatible Llama server.

    Arguments override the environment (``LLAMA_PROVIDER``, ``LLAMA_BASE_URL``,
    ``LLAMA_API_KEY``, ``LLAMA_MODEL``), which overrides the defaults (a local vLLM at
    ``http://localhost:8000/v1``, no key). ``provider="groq"`` talks to a hosted vendor (its
    key from ``GROQ_API_KEY``); a list of providers falls over from one to the next.
    ``unsupported`` decides what happens to a parameter the provider cannot honour: ``"warn"``
    (drop it, warn once), ``"drop"`` or ``"error"``. Use it as a context manager, or call
    :meth:`close`, to release its connections.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | httpx.Timeout | None = _UNSET,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
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
        default_headers: Mapping[str, str] | None = None,
    ) -> LlamaClient:
        """A copy with some settings changed, sharing this client's connections."""
        return LlamaClient(
            **self._copy_kwargs(),
            model=model or self.model,
            timeout=self.timeout if timeout is _UNSET else timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            default_headers={**self._default_headers, **(default_headers or {})},
            http_client=self._http,
        )

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
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | httpx.Timeout | None = _UNSET,
        max_retries: int | None = None,
        default_headers: Mapping[str, str] | None = None,
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
        default_headers: Mapping[str, str] | None = None,
    ) -> AsyncLlamaClient:
        """A copy with some settings changed, sharing this client's connections."""
        return AsyncLlamaClient(
            **self._copy_kwargs(),
            model=model or self.model,
            timeout=self.timeout if timeout is _UNSET else timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            default_headers={**self._default_headers, **(default_headers or {})},
            http_client=self._http,
        )

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


# --------------------------------------------------------------------------- sync resources


class Completions:
    """``client.chat.completions``."""

    def __init__(self, client: LlamaClient) -> None:
        self._client = client

    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: Literal[False] = False,
        **params: Unpack[ChatCompletionParams],
    ) -> ChatCompletion: ...
    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: Literal[True],
        **params: Unpack[ChatCompletionParams],
    ) -> Stream[ChatCompletionChunk]: ...
    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: bool,
        **params: Unpack[ChatCompletionParams],
    ) -> ChatCompletion | Stream[ChatCompletionChunk]: ...
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: bool = False,
        **params: Unpack[ChatCompletionParams],
    ) -> ChatCompletion | Stream[ChatCompletionChunk]:
        """Create a chat completion; with ``stream=True`` an iterator of chunks.

        With ``tools``, the reply's tool calls are checked against them and a Llama tool call
        written as text becomes ``tool_calls`` (``parse_tool_calls=False`` turns that off);
        raw chunks of ``stream=True`` are passed on as sent (use :meth:`stream` for that).
        """
        client = self._client
        plan, tool_policy = client._chat_plan(client._http, messages, model, stream, params)
        ep, response, chunks = client._run(plan, stream)
        if chunks is not None:
            return chunks
        return client._finish_chat(ep, response, tool_policy)

    def stream(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> ChatCompletionStreamManager:
        """A streamed call whose chunks are also merged into one ChatCompletion.

        ``with client.chat.completions.stream(...) as s:`` then ``s.text_stream`` and
        ``s.get_final_completion()``. Arguments are checked now; the request is sent when
        the ``with`` block is entered.
        """
        client = self._client
        plan, tool_policy = client._chat_plan(
            client._http, messages, model, True, params, want_usage=True
        )
        return ChatCompletionStreamManager(lambda: client._open_stream(plan), tool_policy)

    @overload
    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[M],
        model: str | None = None,
        max_parse_retries: int = 2,
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[M]: ...
    @overload
    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: Mapping[str, Any],
        model: str | None = None,
        max_parse_retries: int = 2,
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[Any]: ...
    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[M] | Mapping[str, Any],
        model: str | None = None,
        max_parse_retries: int = 2,
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[Any]:
        """A completion whose reply is validated into ``response_format``: ``message.parsed``.

        A pydantic model is sent as a strict ``json_schema`` format; a dict format is sent as
        given. Invalid replies are re-asked with the error up to ``max_parse_retries`` times,
        then :class:`~llama_client.StructuredOutputError`; a reply cut off by the token limit
        raises :class:`~llama_client.StructuredOutputTruncatedError`.
        """
        state: StructuredOutput[Any] = StructuredOutput(
            response_format, messages, max_parse_retries, params
        )
        while True:
            completion = self.create(
                messages=state.messages,
                model=model,
                response_format=state.response_format,
                **params,
            )
            result = state.handle(completion)
            if result is not None:
                return result

    @cached_property
    def with_raw_response(self) -> CompletionsWithRawResponse:
        """The same methods, returning :class:`APIResponse` (headers, status) around the result."""
        return CompletionsWithRawResponse(self._client)


class CompletionsWithRawResponse:
    def __init__(self, client: LlamaClient) -> None:
        self._client = client

    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: Literal[False] = False,
        **params: Unpack[ChatCompletionParams],
    ) -> APIResponse[ChatCompletion]: ...
    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: Literal[True],
        **params: Unpack[ChatCompletionParams],
    ) -> APIResponse[Stream[ChatCompletionChunk]]: ...
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: bool = False,
        **params: Unpack[ChatCompletionParams],
    ) -> APIResponse[ChatCompletion] | APIResponse[Stream[ChatCompletionChunk]]:
        client = self._client
        plan, tool_policy = client._chat_plan(client._http, messages, model, stream, params)
        ep, response, chunks = client._run(plan, stream)
        if chunks is not None:
            opened = chunks
            return APIResponse(response, lambda: opened, provider_name=ep.name)
        return APIResponse(
            response,
            lambda: client._finish_chat(ep, response, tool_policy),
            provider_name=ep.name,
        )


class Chat:
    """``client.chat``."""

    def __init__(self, client: LlamaClient) -> None:
        self._client = client

    @cached_property
    def completions(self) -> Completions:
        return Completions(self._client)

    def run_tools(
        self,
        *,
        messages: Sequence[MessageParam],
        tools: Sequence[ToolLike],
        model: str | None = None,
        max_rounds: int = 8,
        raise_tool_errors: bool = False,
        split_tool_calls: bool = True,
        **params: Unpack[RunToolsParams],
    ) -> ToolRunResult:
        """Call the model, run the tools it asks for, send the results back; repeat.

        Stops at a reply without tool calls (``result.final``), or when a called tool has no
        handler (``result.pending_tool_calls``). After ``max_rounds`` requests that all asked
        for tools, raises :class:`~llama_client.MaxToolRoundsError` carrying the conversation.
        A tool that raises, or arguments that fail validation, are reported to the model as
        the tool's result (``raise_tool_errors=True`` re-raises tool exceptions instead).
        ``split_tool_calls`` writes several calls of one reply as separate assistant+tool
        pairs, for chat templates that allow one call per message (stock Llama 3.1).
        """
        return run_tools(
            self.completions,
            messages,
            tools,
            model=model,
            max_rounds=max_rounds,
            raise_tool_errors=raise_tool_errors,
            split_tool_calls=split_tool_calls,
            params=params,
        )


class Models:
    """``client.models``."""

    def __init__(self, client: LlamaClient) -> None:
        self._client = client

    def list(self, **options: Unpack[RequestOptions]) -> ModelList:
        """The models the server offers; iterate the result for :class:`Model` objects."""
        return self._client._get("/models", ModelList, options)

    def retrieve(self, model: str, **options: Unpack[RequestOptions]) -> Model:
        if not model or not isinstance(model, str):
            raise InvalidRequestError("model", "must be a non-empty string")
        return self._client._get(f"/models/{model}", Model, options)

    def catalog(self) -> builtins.list[ModelInfo]:
        """The model catalogue for this client's providers: each canonical alias, the vendor
        id it is sent as, and the vendor's context and output limits. No I/O."""
        return self._client._catalog()


# --------------------------------------------------------------------------- async resources


class AsyncCompletions:
    """``client.chat.completions`` of :class:`AsyncLlamaClient`."""

    def __init__(self, client: AsyncLlamaClient) -> None:
        self._client = client

    @overload
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: Literal[False] = False,
        **params: Unpack[ChatCompletionParams],
    ) -> ChatCompletion: ...
    @overload
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: Literal[True],
        **params: Unpack[ChatCompletionParams],
    ) -> AsyncStream[ChatCompletionChunk]: ...
    @overload
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: bool,
        **params: Unpack[ChatCompletionParams],
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]: ...
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: bool = False,
        **params: Unpack[ChatCompletionParams],
    ) -> ChatCompletion | AsyncStream[ChatCompletionChunk]:
        """Create a chat completion; with ``stream=True`` an async iterator of chunks."""
        client = self._client
        plan, tool_policy = client._chat_plan(client._http, messages, model, stream, params)
        ep, response, chunks = await client._run(plan, stream)
        if chunks is not None:
            return chunks
        return client._finish_chat(ep, response, tool_policy)

    def stream(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> AsyncChatCompletionStreamManager:
        """``async with ac.chat.completions.stream(...) as s:`` — see :meth:`Completions.stream`."""
        client = self._client
        plan, tool_policy = client._chat_plan(
            client._http, messages, model, True, params, want_usage=True
        )
        return AsyncChatCompletionStreamManager(lambda: client._open_stream(plan), tool_policy)

    @overload
    async def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[M],
        model: str | None = None,
        max_parse_retries: int = 2,
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[M]: ...
    @overload
    async def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: Mapping[str, Any],
        model: str | None = None,
        max_parse_retries: int = 2,
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[Any]: ...
    async def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[M] | Mapping[str, Any],
        model: str | None = None,
        max_parse_retries: int = 2,
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[Any]:
        """A completion whose reply is validated into ``response_format``: ``message.parsed``.

        A pydantic model is sent as a strict ``json_schema`` format; a dict format is sent as
        given. Invalid replies are re-asked with the error up to ``max_parse_retries`` times,
        then :class:`~llama_client.StructuredOutputError`; a reply cut off by the token limit
        raises :class:`~llama_client.StructuredOutputTruncatedError`.
        """
        state: StructuredOutput[Any] = StructuredOutput(
            response_format, messages, max_parse_retries, params
        )
        while True:
            completion = await self.create(
                messages=state.messages,
                model=model,
                response_format=state.response_format,
                **params,
            )
            result = state.handle(completion)
            if result is not None:
                return result

    @cached_property
    def with_raw_response(self) -> AsyncCompletionsWithRawResponse:
        return AsyncCompletionsWithRawResponse(self._client)


class AsyncCompletionsWithRawResponse:
    def __init__(self, client: AsyncLlamaClient) -> None:
        self._client = client

    @overload
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: Literal[False] = False,
        **params: Unpack[ChatCompletionParams],
    ) -> APIResponse[ChatCompletion]: ...
    @overload
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: Literal[True],
        **params: Unpack[ChatCompletionParams],
    ) -> APIResponse[AsyncStream[ChatCompletionChunk]]: ...
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        stream: bool = False,
        **params: Unpack[ChatCompletionParams],
    ) -> APIResponse[ChatCompletion] | APIResponse[AsyncStream[ChatCompletionChunk]]:
        client = self._client
        plan, tool_policy = client._chat_plan(client._http, messages, model, stream, params)
        ep, response, chunks = await client._run(plan, stream)
        if chunks is not None:
            opened = chunks
            return APIResponse(response, lambda: opened, provider_name=ep.name)
        return APIResponse(
            response,
            lambda: client._finish_chat(ep, response, tool_policy),
            provider_name=ep.name,
        )


class AsyncChat:
    def __init__(self, client: AsyncLlamaClient) -> None:
        self._client = client

    @cached_property
    def completions(self) -> AsyncCompletions:
        return AsyncCompletions(self._client)

    async def run_tools(
        self,
        *,
        messages: Sequence[MessageParam],
        tools: Sequence[ToolLike],
        model: str | None = None,
        max_rounds: int = 8,
        raise_tool_errors: bool = False,
        split_tool_calls: bool = True,
        **params: Unpack[RunToolsParams],
    ) -> ToolRunResult:
        """The async twin of :meth:`Chat.run_tools`; the calls of one reply run concurrently.

        Stops at a reply without tool calls (``result.final``), or when a called tool has no
        handler (``result.pending_tool_calls``). After ``max_rounds`` requests that all asked
        for tools, raises :class:`~llama_client.MaxToolRoundsError` carrying the conversation.
        A tool that raises, or arguments that fail validation, are reported to the model as
        the tool's result (``raise_tool_errors=True`` re-raises tool exceptions instead).
        ``split_tool_calls`` writes several calls of one reply as separate assistant+tool
        pairs, for chat templates that allow one call per message (stock Llama 3.1).
        """
        return await arun_tools(
            self.completions,
            messages,
            tools,
            model=model,
            max_rounds=max_rounds,
            raise_tool_errors=raise_tool_errors,
            split_tool_calls=split_tool_calls,
            params=params,
        )


class AsyncModels:
    def __init__(self, client: AsyncLlamaClient) -> None:
        self._client = client

    async def list(self, **options: Unpack[RequestOptions]) -> ModelList:
        return await self._client._get("/models", ModelList, options)

    async def retrieve(self, model: str, **options: Unpack[RequestOptions]) -> Model:
        if not model or not isinstance(model, str):
            raise InvalidRequestError("model", "must be a non-empty string")
        return await self._client._get(f"/models/{model}", Model, options)

    def catalog(self) -> builtins.list[ModelInfo]:
        """See :meth:`Models.catalog` (no I/O, so not awaited)."""
        return self._client._catalog()
