"""``LlamaClient`` and ``AsyncLlamaClient`` and their resources.

Both clients share :class:`_BaseClient`, which resolves the configuration, builds every
request and interprets every response without doing I/O. The sync and async classes only add
the sending (through :mod:`llama_client._transport`) and the stream object of their kind.
"""

from __future__ import annotations

import json
import os
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
from ._transport import AsyncSender, RetryPolicy, SyncSender
from ._validation import REQUEST_OPTIONS, build_chat_body
from ._version import __version__
from .errors import InvalidRequestError
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
DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)

M = TypeVar("M", bound=BaseModel)


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
    ) -> None:
        url = base_url or os.environ.get("LLAMA_BASE_URL") or DEFAULT_BASE_URL
        if not url.startswith(("http://", "https://")):
            raise InvalidRequestError(
                "base_url", f"must start with http:// or https://, got {url!r}"
            )
        self.base_url = url.rstrip("/")
        self._api_key = (
            api_key if api_key is not None else (os.environ.get("LLAMA_API_KEY") or None)
        )
        self.model = model or os.environ.get("LLAMA_MODEL") or None
        self.timeout = DEFAULT_TIMEOUT if timeout is _UNSET else _as_timeout(timeout)
        self.max_retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
        self._policy = RetryPolicy(self.max_retries)
        self._default_headers = dict(default_headers or {})
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": f"llama-client/{__version__}",
        }
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        headers.update(self._default_headers)
        self._headers = headers
        self._stream_headers = {**headers, "Accept": "text/event-stream"}

    @property
    def api_key(self) -> str | None:
        """The API key in use (never shown by ``repr``)."""
        return self._api_key

    def __repr__(self) -> str:
        key = "'***'" if self._api_key else "None"
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key={key}, max_retries={self.max_retries})"
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
    ) -> httpx.Request:
        headers = self._stream_headers if stream else self._headers
        extra_headers = options.get("extra_headers")
        if extra_headers:
            headers = {**headers, **extra_headers}
        extra_body = options.get("extra_body")
        if extra_body:
            if body is None:
                raise InvalidRequestError("extra_body", f"{method} {path} takes no body")
            body = {**body, **extra_body}
        timeout = options.get("timeout")
        return http.build_request(
            method,
            self.base_url + path,
            content=_encode(body) if body is not None else None,
            headers=headers,
            params=options.get("extra_query") or None,
            timeout=self.timeout if timeout is None else _as_timeout(timeout),
        )

    def _chat_request(
        self,
        http: httpx.Client | httpx.AsyncClient,
        messages: Sequence[MessageParam],
        model: str | None,
        stream: bool,
        params: Mapping[str, Any],
    ) -> tuple[httpx.Request, ToolCallPolicy | None]:
        """The request, and what to do with the reply's tool calls (None without tools)."""
        params, tool_policy = prepare_tool_params(params)
        body = build_chat_body(messages, self._resolve_model(model), stream, params)
        options = {k: params[k] for k in REQUEST_OPTIONS if k in params}
        request = self._build_request(
            http, "POST", "/chat/completions", body=body, options=options, stream=stream
        )
        return request, tool_policy

    @staticmethod
    def _finish_chat(
        response: httpx.Response, tool_policy: ToolCallPolicy | None
    ) -> ChatCompletion:
        completion = parse_model(response, ChatCompletion)
        return tool_policy.apply(completion) if tool_policy else completion

    @staticmethod
    def _check_options(options: Mapping[str, Any]) -> Mapping[str, Any]:
        unknown = set(options) - REQUEST_OPTIONS
        if unknown:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        return options

    @staticmethod
    def _with_stream_usage(params: dict[str, Any]) -> dict[str, Any]:
        # stream() promises usage on the final completion: ask for the usage chunk unless the
        # caller chose stream_options themselves.
        if params.get("stream_options") is None:
            params = {**params, "stream_options": {"include_usage": True}}
        return params


class LlamaClient(_BaseClient):
    """A synchronous client for an OpenAI-compatible Llama server.

    Arguments override the environment (``LLAMA_BASE_URL``, ``LLAMA_API_KEY``, ``LLAMA_MODEL``),
    which overrides the defaults (a local vLLM at ``http://localhost:8000/v1``, no key).
    Use it as a context manager, or call :meth:`close`, to release its connections.
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
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            model=model,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
        )
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise InvalidRequestError(
                "http_client",
                "must be an httpx.Client (use AsyncLlamaClient for httpx.AsyncClient)",
            )
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=self.timeout, limits=DEFAULT_LIMITS)
        self._sender = SyncSender(self._http, self._policy)

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
            base_url=self.base_url,
            api_key=self._api_key or "",
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

    def _send_chat(
        self,
        messages: Sequence[MessageParam],
        model: str | None,
        stream: bool,
        params: Mapping[str, Any],
    ) -> tuple[httpx.Response, ToolCallPolicy | None]:
        request, tool_policy = self._chat_request(self._http, messages, model, stream, params)
        return self._sender.send(request, stream=stream), tool_policy

    def _get(self, path: str, cls: type[M], options: Mapping[str, Any]) -> M:
        request = self._build_request(self._http, "GET", path, options=self._check_options(options))
        return parse_model(self._sender.send(request), cls)


class AsyncLlamaClient(_BaseClient):
    """The asynchronous twin of :class:`LlamaClient`: the same surface, awaited."""

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
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key=api_key,
            model=model,
            timeout=timeout,
            max_retries=max_retries,
            default_headers=default_headers,
        )
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise InvalidRequestError(
                "http_client", "must be an httpx.AsyncClient (use LlamaClient for httpx.Client)"
            )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=self.timeout, limits=DEFAULT_LIMITS)
        self._sender = AsyncSender(self._http, self._policy)

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
            base_url=self.base_url,
            api_key=self._api_key or "",
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

    async def _send_chat(
        self,
        messages: Sequence[MessageParam],
        model: str | None,
        stream: bool,
        params: Mapping[str, Any],
    ) -> tuple[httpx.Response, ToolCallPolicy | None]:
        request, tool_policy = self._chat_request(self._http, messages, model, stream, params)
        return await self._sender.send(request, stream=stream), tool_policy

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
        response, tool_policy = self._client._send_chat(messages, model, stream, params)
        if stream:
            return Stream(response, ChatChunkDecoder())
        return self._client._finish_chat(response, tool_policy)

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
        request, tool_policy = client._chat_request(
            client._http, messages, model, True, client._with_stream_usage(dict(params))
        )
        return ChatCompletionStreamManager(
            lambda: Stream(client._sender.send(request, stream=True), ChatChunkDecoder()),
            tool_policy,
        )

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
        response, tool_policy = self._client._send_chat(messages, model, stream, params)
        if stream:
            return APIResponse(
                response, lambda: Stream[ChatCompletionChunk](response, ChatChunkDecoder())
            )
        return APIResponse(response, lambda: self._client._finish_chat(response, tool_policy))


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
        response, tool_policy = await self._client._send_chat(messages, model, stream, params)
        if stream:
            return AsyncStream(response, ChatChunkDecoder())
        return self._client._finish_chat(response, tool_policy)

    def stream(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> AsyncChatCompletionStreamManager:
        """``async with ac.chat.completions.stream(...) as s:`` — see :meth:`Completions.stream`."""
        client = self._client
        request, tool_policy = client._chat_request(
            client._http, messages, model, True, client._with_stream_usage(dict(params))
        )

        async def open_stream() -> AsyncStream[ChatCompletionChunk]:
            return AsyncStream(await client._sender.send(request, stream=True), ChatChunkDecoder())

        return AsyncChatCompletionStreamManager(open_stream, tool_policy)

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
        response, tool_policy = await self._client._send_chat(messages, model, stream, params)
        if stream:
            return APIResponse(
                response, lambda: AsyncStream[ChatCompletionChunk](response, ChatChunkDecoder())
            )
        return APIResponse(response, lambda: self._client._finish_chat(response, tool_policy))


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
