"""``client.chat``: chat completions (create, stream, parse, raw responses) and the tool loop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, overload

from typing_extensions import Unpack

from .._base_client import M
from .._chat_stream import AsyncChatCompletionStreamManager, ChatCompletionStreamManager
from .._response import APIResponse
from .._streaming import AsyncStream, Stream
from ..types.chat import ChatCompletion, ChatCompletionChunk, ParsedChatCompletion
from ..types.params import (
    ChatCompletionParams,
    MessageParam,
    ParseParams,
    RunToolsParams,
)

if TYPE_CHECKING:
    from .._tool_loop import ToolRunResult
    from ..client import AsyncLlamaClient, LlamaClient
    from ..tools import ToolLike


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
        from .._structured import StructuredOutput  # loaded on first use

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
        max_tool_calls: int = 64,  # _tool_loop.DEFAULT_MAX_TOOL_CALLS
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
        """
        from .._tool_loop import run_tools  # loaded on first use

        return run_tools(
            self.completions,
            messages,
            tools,
            model=model,
            max_rounds=max_rounds,
            raise_tool_errors=raise_tool_errors,
            split_tool_calls=split_tool_calls,
            params=params,
            max_tool_calls=max_tool_calls,
        )


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
        max_tool_calls: int = 64,  # _tool_loop.DEFAULT_MAX_TOOL_CALLS
        max_concurrency: int = 8,  # _tool_loop.DEFAULT_MAX_CONCURRENCY
        **params: Unpack[RunToolsParams],
    ) -> ToolRunResult:
        """The async twin of :meth:`Chat.run_tools`; the calls of one reply run concurrently,
        at most ``max_concurrency`` at a time.

        Stops at a reply without tool calls (``result.final``), or when a called tool has no
        handler (``result.pending_tool_calls``). After ``max_rounds`` requests that all asked
        for tools, raises :class:`~llama_client.MaxToolRoundsError` carrying the conversation.
        A reply asking for more than ``max_tool_calls`` calls raises
        :class:`~llama_client.TooManyToolCallsError` before any of them runs.
        A tool that raises, or arguments that fail validation, are reported to the model as
        the tool's result (``raise_tool_errors=True`` re-raises tool exceptions instead).
        ``split_tool_calls`` writes several calls of one reply as separate assistant+tool
        pairs, for chat templates that allow one call per message (stock Llama 3.1).
        """
        from .._tool_loop import arun_tools  # loaded on first use

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
        )
