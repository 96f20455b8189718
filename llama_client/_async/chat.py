"""``client.chat``: chat completions (create, stream, parse, raw responses) and the tool loop.

Each method describes its call (:mod:`llama_client._call`) and hands it to the client's one
verb, bound here once; nothing else of the client is touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, overload

from typing_extensions import Unpack

from .._base_client import M
from .._call import Call, chat_call
from .._response import APIResponse
from ..types.params import (
    ChatCompletionParams,
    ParseParams,
    RunToolsParams,
)
from .chat_stream import AsyncChatCompletionStreamManager
from .streaming import AsyncStream

if TYPE_CHECKING:
    from .._tool_loop import ToolRunResult
    from ..tools import ToolLike
    from ..types.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion
    from ..types.params import MessageParam
    from .client import AsyncLlamaClient

__all__ = ["AsyncChat", "AsyncCompletions", "AsyncCompletionsWithRawResponse"]


class AsyncCompletions:
    """``client.chat.completions``."""

    def __init__(self, client: AsyncLlamaClient) -> None:
        self._client = client
        self._request = client._request

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
        """Create a chat completion; with ``stream=True`` an iterator of chunks.

        With ``tools``, the reply's tool calls are checked against them and a Llama tool call
        written as text becomes ``tool_calls`` (``parse_tool_calls=False`` turns that off);
        raw chunks of ``stream=True`` are passed on as sent (use :meth:`stream` for that).
        A ``"provider:model"`` model sends the call to that provider only.
        """
        call: Call[ChatCompletion | AsyncStream[ChatCompletionChunk]]
        call = chat_call(messages, model, stream, params)
        return await self._request(call)

    def stream(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | None = None,
        **params: Unpack[ChatCompletionParams],
    ) -> AsyncChatCompletionStreamManager:
        """A streamed call whose chunks are also merged into one ChatCompletion.

        ``async with client.chat.completions.stream(...) as s:`` then ``s.text_stream`` and
        ``s.get_final_completion()``. Arguments are checked now; the request is sent when
        the ``async with`` block is entered.
        """
        call: Call[AsyncStream[ChatCompletionChunk]]
        call = chat_call(messages, model, True, params, want_usage=True)
        return AsyncChatCompletionStreamManager(self._request(call.deferred()), call.tool_policy)

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
        from .._structured import StructuredOutput  # loaded on first use

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
        """The same methods, returning :class:`APIResponse` (headers, status) around the result."""
        return AsyncCompletionsWithRawResponse(self._client)


class AsyncCompletionsWithRawResponse:
    """``client.chat.completions.with_raw_response``: each method returns an
    :class:`~llama_client.APIResponse`; its ``parse()`` gives what the plain method returns."""

    def __init__(self, client: AsyncLlamaClient) -> None:
        self._request = client._request

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
        """:meth:`AsyncCompletions.create`, returning the HTTP response around its result."""
        call: Call[APIResponse[ChatCompletion] | APIResponse[AsyncStream[ChatCompletionChunk]]]
        call = chat_call(messages, model, stream, params, raw=True)
        return await self._request(call)


class AsyncChat:
    """``client.chat``."""

    def __init__(self, client: AsyncLlamaClient) -> None:
        self._client = client

    @cached_property
    def completions(self) -> AsyncCompletions:
        """Chat completions: ``create``, ``stream``, ``parse`` and ``with_raw_response``."""
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
        max_tool_calls: int = 64,  # _tool_loop.DEFAULT_MAX_TOOL_CALLS
        max_concurrency: int = 8,  # _tool_loop.DEFAULT_MAX_CONCURRENCY
        context_budget: int | None = None,
        **params: Unpack[RunToolsParams],
    ) -> ToolRunResult:
        """Call the model, run the tools it asks for, send the results back; repeat.

        Stops at a reply without tool calls (``result.final``), or when a called tool has no
        handler (``result.pending_tool_calls``). After ``max_rounds`` requests that all asked
        for tools, raises :class:`~llama_client.MaxToolRoundsError` carrying the conversation.
        A reply asking for more than ``max_tool_calls`` calls raises
        :class:`~llama_client.TooManyToolCallsError` before any of them runs.
        A tool that raises, or arguments that fail validation, are reported to the model as
        the tool's result (``raise_tool_errors=True`` re-raises tool exceptions instead).
        ``split_tool_calls`` writes several calls of one reply as separate assistant+tool
        pairs, for chat templates that allow one call per message (stock Llama 3.1).
        The calls of one reply run concurrently in the async client, at most
        ``max_concurrency`` at a time, and one after the other in the sync client (which
        refuses async tools).
        ``context_budget`` (tokens; needs ``llama-client[tokens]``) trims what each request
        sends with :func:`~llama_client.tokens.fit_messages` (oldest rounds first, a tool call
        never without its results), so a long loop does not overflow the context; the result
        keeps the whole conversation.
        """
        from .tool_loop import arun_tools  # loaded on first use

        return await arun_tools(
            self.completions,
            messages,
            tools,
            model=model,
            max_rounds=max_rounds,
            raise_tool_errors=raise_tool_errors,
            split_tool_calls=split_tool_calls,
            params=params,
            max_tool_calls=max_tool_calls,
            max_concurrency=max_concurrency,
            context_budget=context_budget,
        )
