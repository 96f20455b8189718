"""The stream object of a streamed call: it moves bytes from the HTTP response into a
:class:`~llama_client._streaming.ChatChunkDecoder` (which does no I/O) and hands out chunks.

It is an iterator and a context manager, and closes the response on exhaustion, on error,
on ``close()`` and when the ``with`` block is left early.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Generic, TypeVar

import httpx

from .._streaming import ChatChunkDecoder, _broken

__all__ = ["AsyncStream"]

T = TypeVar("T")


class AsyncStream(Generic[T]):
    """A stream of chunks: iterate it with ``async for``; ``async with`` closes it early.

    ``provider_name`` names the provider that answered (set by the client).
    """

    def __init__(self, response: httpx.Response, decoder: ChatChunkDecoder) -> None:
        self.response = response
        self.provider_name: str | None = None
        self._decoder = decoder
        self._iterator: AsyncIterator[T] = self._iterate()

    async def _prime(self) -> None:
        """Read up to the first chunk now, so a failure before it raises here; the chunk is
        still the first one iteration yields."""
        try:
            first = await self._iterator.__anext__()
        except StopAsyncIteration:
            return
        rest = self._iterator

        async def resume() -> AsyncIterator[T]:
            try:
                yield first
                async for item in rest:
                    yield item
            finally:
                await rest.aclose()  # type: ignore[attr-defined]

        self._iterator = resume()

    async def _iterate(self) -> AsyncIterator[T]:
        decoder = self._decoder
        try:
            async for data in self.response.aiter_bytes():
                for chunk in decoder.feed(data):
                    yield chunk  # type: ignore[misc]
                decoder.raise_pending()
                if decoder.done:
                    return
            for chunk in decoder.finish():
                yield chunk  # type: ignore[misc]
            decoder.raise_pending()
        except httpx.TransportError as exc:
            raise _broken(exc, decoder) from exc
        finally:
            await self.response.aclose()

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        return await self._iterator.__anext__()

    async def close(self) -> None:
        """Stop reading and release the connection."""
        await self._iterator.aclose()  # type: ignore[attr-defined]
        await self.response.aclose()

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
