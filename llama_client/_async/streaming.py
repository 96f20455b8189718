"""The stream object of a streamed call: it moves bytes from the HTTP response into a
:class:`~llama_client._streaming.ChatChunkDecoder` (which does no I/O) and hands out chunks.

It is an iterator and a context manager, and gives its connection back when it ends, fails,
is closed (``close()``, leaving the ``with`` block) or is dropped by the caller, never from
inside the garbage collector: it holds no reference cycle (no generator or closure kept on
``self``), and a dropped stream is closed by the ``*_abandon`` helper of
:mod:`llama_client._streaming`, which explains why.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar

import httpx

from .._streaming import (
    _OPEN,
    ChatChunkDecoder,
    _broken,
    _hold,
    _redact,
    async_abandon,
    async_owner,
    async_release,
    end_dropped,
)
from ..errors import APIError

if TYPE_CHECKING:
    from .._observe import Watch

__all__ = ["AsyncStream"]

T = TypeVar("T")


class AsyncStream(Generic[T]):
    """A stream of chunks: iterate it with ``async for``; ``async with`` closes it early.

    The connection is released when the stream ends, fails, is closed (``close()``, leaving
    the ``async with`` block) or is dropped by the caller (a ``break`` out of a loop over it).
    ``provider_name`` names the provider that answered (set by the client).
    """

    def __init__(self, response: httpx.Response, decoder: ChatChunkDecoder) -> None:
        self.response = response
        self.provider_name: str | None = None
        self._decoder = decoder
        self._ready: list[T] = []  # decoded chunks not yet delivered, last first
        self._source: AsyncIterator[bytes] | None = None
        self._owner = async_owner()
        self._watch: Watch | None = None  # the call's watch, told once when the stream ends
        self._cost: float | None = None  # the estimate the watch made when the stream ended
        source = response.aiter_bytes()
        _OPEN.add(source)
        self._source = source

    @property
    def cost(self) -> float | None:
        """Estimated USD of the call's tokens, known once the stream ended with a usage chunk
        (``stream_options={"include_usage": True}``) and the price is known; else None."""
        return self._cost

    async def _prime(self) -> None:
        """Read up to the first chunk now, so a failure before it raises here; the chunk is
        still the first one iteration yields."""
        try:
            first = await self.__anext__()
        except StopAsyncIteration:
            return
        self._ready.append(first)

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        ready = self._ready
        if ready:
            return ready.pop()
        decoder = self._decoder
        source = self._source
        try:
            if source is not None and decoder.error is None and not decoder.done:
                async for data in source:
                    chunks: list[T] = decoder.feed(data)  # type: ignore[assignment]
                    if decoder.error is not None:
                        _hold(decoder)
                    if chunks:
                        if len(chunks) > 1:
                            chunks.reverse()
                            self._ready = chunks
                            return chunks.pop()
                        return chunks[0]
                    if decoder.done:
                        break
                else:
                    await self._release()
                    chunks = decoder.finish()  # type: ignore[assignment]
                    if chunks:
                        chunks.reverse()
                        self._ready = chunks
                        return chunks.pop()
        except (httpx.TransportError, httpx.DecodingError) as exc:
            await self._release()
            error = _broken(exc, decoder, self.response)
            if self._watch is not None:
                self._ended(error)
            raise error from exc
        except APIError as exc:  # the decoder's: server text, which may quote a credential
            _redact(decoder, exc)
            await self._release()
            if self._watch is not None:
                self._ended(exc)
            raise
        except BaseException as exc:
            await self._release()
            if self._watch is not None:
                self._ended(exc)
            raise
        await self._release()
        if self._watch is not None:
            self._ended(decoder.error)
        decoder.raise_pending()
        raise StopAsyncIteration

    def _ended(self, error: BaseException | None, closed: bool = False) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            self._cost = watch.stream_ended(self._decoder, error, closed)

    async def _release(self) -> None:
        source, self._source = self._source, None
        await async_release(source, self.response)

    async def close(self) -> None:
        """Stop reading and release the connection."""
        self._ready = []
        self._decoder.error = None
        await self._release()
        await self.response.aclose()
        if self._watch is not None:
            self._ended(None, closed=True)

    aclose = close

    def __del__(self) -> None:
        source = getattr(self, "_source", None)
        if source is not None and not sys.is_finalizing():
            self._source = None
            async_abandon(source, self.response, self._owner)
            watch = getattr(self, "_watch", None)
            if watch is not None:
                self._watch = None
                end_dropped(watch.stream_ended, self._decoder, self._owner)

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
