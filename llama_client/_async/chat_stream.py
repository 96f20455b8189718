"""``chat.completions.stream()``: a stream whose chunks are also merged into one ChatCompletion.

The merging is :class:`~llama_client._chat_stream.ChatCompletionAccumulator` (no I/O); the
classes here only feed it while the caller iterates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._chat_stream import ChatCompletionAccumulator, _held_text
from .streaming import AsyncStream

if TYPE_CHECKING:  # the tool-call modules load on first use of tools=
    from .._tool_calls import ToolCallPolicy
    from ..types.chat import ChatCompletion, ChatCompletionChunk

__all__ = ["AsyncChatCompletionStream", "AsyncChatCompletionStreamManager"]


class AsyncChatCompletionStream:
    """What ``async with client.chat.completions.stream(...) as s`` gives.

    Iterate it for the raw chunks, or use :attr:`text_stream` for the text of the first choice;
    :meth:`get_final_completion` reads whatever is left and returns the whole ChatCompletion.
    """

    def __init__(
        self, stream: AsyncStream[ChatCompletionChunk], tool_policy: ToolCallPolicy | None = None
    ) -> None:
        self._stream = stream
        self._acc = ChatCompletionAccumulator()
        self._policy = tool_policy
        self._final: ChatCompletion | None = None

    @property
    def response(self) -> Any:
        """The underlying ``httpx.Response``."""
        return self._stream.response

    @property
    def provider_name(self) -> str | None:
        """The provider that answered."""
        return self._stream.provider_name

    # A plain iterator, not a generator: a generator kept on ``self`` would hold ``self``, and
    # that cycle would leave an abandoned stream (and its connection) to the garbage collector.
    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        chunk = await self._stream.__anext__()
        self._acc.add(chunk)
        return chunk

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The content of choice 0 as it arrives.

        When tools were offered, text that starts like a tool call is held back until the end
        and only shown if it was not one.
        """
        return self._text()

    async def _text(self) -> AsyncIterator[str]:
        hold = self._policy.holdback() if self._policy else None
        async for chunk in self:
            for choice in chunk.choices:
                if choice.index == 0 and choice.delta.content:
                    text = hold.feed(choice.delta.content) if hold else choice.delta.content
                    if text:
                        yield text
        if hold is not None:
            rest = _held_text(hold, await self.get_final_completion())
            if rest:
                yield rest

    async def until_done(self) -> None:
        """Read the rest of the stream."""
        add = self._acc.add  # what __anext__ does per chunk, without its call per chunk
        async for chunk in self._stream:
            add(chunk)

    async def get_final_completion(self) -> ChatCompletion:
        """The whole ChatCompletion; with tools, its tool calls validated and completed."""
        await self.until_done()
        if self._final is None:
            completion = self._acc.completion()
            completion = self._policy.apply(completion) if self._policy else completion
            completion._set_provider(self._stream.provider_name)
            completion._set_cost(self._stream.cost)
            self._final = completion
        return self._final

    async def get_final_text(self) -> str:
        """The whole text of choice 0 (reads the rest of the stream)."""
        await self.until_done()
        return self._acc.text(0)

    @property
    def current_completion_snapshot(self) -> ChatCompletion:
        """The ChatCompletion merged from the chunks read so far."""
        return self._acc.completion()

    async def close(self) -> None:
        """Stop reading and release the connection."""
        await self._stream.close()

    async def __aenter__(self) -> AsyncChatCompletionStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncChatCompletionStreamManager:
    """Opens the request when the ``async with`` block is entered, closes it when it is left."""

    def __init__(
        self,
        open_stream: Callable[[], Awaitable[AsyncStream[ChatCompletionChunk]]],
        tool_policy: ToolCallPolicy | None = None,
    ) -> None:
        self._open = open_stream
        self._policy = tool_policy
        self._stream: AsyncChatCompletionStream | None = None

    async def __aenter__(self) -> AsyncChatCompletionStream:
        self._stream = AsyncChatCompletionStream(await self._open(), self._policy)
        return self._stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.close()
