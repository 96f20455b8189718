"""Streamed chat completions: chunk decoding (no I/O) and the sync and async stream objects.

:class:`ChatChunkDecoder` turns the bytes of an event stream into
:class:`~llama_client.types.ChatCompletionChunk` objects and decides whether the stream ended
properly. :class:`Stream` and :class:`AsyncStream` only move bytes from the HTTP response into
it; they are iterators and context managers and close the response on exhaustion, on error,
on ``close()`` and when the ``with`` block is left early.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Generic, NoReturn, TypeVar

import httpx
from pydantic import ValidationError

from ._sse import ServerSentEvent, SSEDecoder
from .errors import APITimeoutError, ResponseValidationError, StreamError, error_info, preview
from .types.chat import ChatCompletionChunk

__all__ = ["AsyncStream", "ChatChunkDecoder", "Stream"]

T = TypeVar("T")


class ChatChunkDecoder:
    """Bytes of a chat completion event stream in, chunks out.

    ``feed`` returns the chunks completed by the given bytes; ``finish`` is called at end of
    input and raises :class:`StreamError` when the stream ended early: without ``[DONE]`` and
    with a choice that never got a ``finish_reason`` (or with no event at all).
    ``normalize`` (a provider's chunk normaliser) is applied to every chunk, in order.
    """

    __slots__ = ("_normalize", "_open", "_sse", "chunks_seen", "done", "error")

    def __init__(
        self, normalize: Callable[[ChatCompletionChunk], ChatCompletionChunk] | None = None
    ) -> None:
        self._normalize = normalize
        self._sse = SSEDecoder()
        self._open: set[int] = set()  # choice indexes seen without a finish_reason yet
        self.chunks_seen = 0
        self.done = False
        #: An error found after some chunks of the same read: raised once those reached the caller.
        self.error: Exception | None = None

    def feed(self, data: bytes) -> list[ChatCompletionChunk]:
        return self._events(self._sse.feed(data))

    def finish(self) -> list[ChatCompletionChunk]:
        chunks = self._events(self._sse.flush())
        if not self.done and self.error is None:
            if self.chunks_seen == 0:
                raise StreamError(
                    "The stream ended before any event arrived (empty response body)."
                )
            if self._open:
                raise StreamError(
                    f"The stream ended without [DONE] after {self.chunks_seen} chunks, before "
                    f"choice(s) {sorted(self._open)} finished; the answer is incomplete."
                )
        return chunks

    def _events(self, events: list[ServerSentEvent]) -> list[ChatCompletionChunk]:
        out: list[ChatCompletionChunk] = []
        for event in events:
            if self.done:
                break
            try:
                chunk = self._parse(event)
            except (StreamError, ResponseValidationError) as exc:
                if not out:
                    raise
                self.error = exc  # deliver the chunks before it first
                break
            if chunk is not None:
                out.append(chunk)
        return out

    def raise_pending(self) -> None:
        """Raise an error held back by :meth:`feed` until its preceding chunks were delivered."""
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _parse(self, event: ServerSentEvent) -> ChatCompletionChunk | None:
        data = event.data
        if data == "[DONE]":
            self.done = True
            return None
        if event.event == "error":
            self._raise_error(data, error_event=True)
        if not data.strip():
            return None
        try:
            chunk = ChatCompletionChunk.model_validate_json(data)
        except ValidationError as exc:  # also JSON nested too deeply: pydantic's own limit
            self._raise_error(data, exc)
        extra = chunk.model_extra
        if extra and extra.get("error"):
            self._raise_error(data)
        if self._normalize is not None:
            chunk = self._normalize(chunk)
        self.chunks_seen += 1
        for choice in chunk.choices:
            if choice.finish_reason is None:
                self._open.add(choice.index)
            else:
                self._open.discard(choice.index)
        return chunk

    def _raise_error(
        self, data: str, exc: ValidationError | None = None, *, error_event: bool = False
    ) -> NoReturn:
        try:
            body: object = json.loads(data)
        except (ValueError, RecursionError) as error:  # not JSON, or nested thousands deep
            if error_event:
                raise StreamError(
                    f"The server reported an error in the stream: {preview(data) or '<empty>'}",
                    body=data,
                ) from None
            what = (
                "nested too deeply to read"
                if isinstance(error, RecursionError)
                else "not valid JSON"
            )
            raise ResponseValidationError(
                f"A stream event is {what}: {preview(data)}", body=data
            ) from None
        if error_event or (isinstance(body, dict) and "error" in body):
            info = error_info(body)
            raise StreamError(
                f"The server reported an error in the stream: {info.message}", body=body
            )
        raise ResponseValidationError(
            f"A stream event is not a chat completion chunk: {preview(data)} ({exc})", body=body
        ) from exc


def _broken(
    exc: httpx.TransportError | httpx.DecodingError,
    decoder: ChatChunkDecoder,
    response: httpx.Response | None = None,
) -> Exception:
    """The error for a stream whose reading failed: the connection broke or timed out, or
    its bytes do not decode as the ``Content-Encoding`` header says (``response`` names it)."""
    where = f"after {decoder.chunks_seen} chunks"
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"The stream timed out {where} ({type(exc).__name__}).")
    if isinstance(exc, httpx.DecodingError):
        encoding = response.headers.get("content-encoding") if response is not None else None
        said = f"its Content-Encoding is {preview(encoding, 100)!r}, but " if encoding else ""
        return StreamError(
            f"The stream could not be read {where}: {said}its bytes do not decode "
            f"({preview(str(exc) or type(exc).__name__, 200)})"
        )
    return StreamError(f"The stream broke {where}: {exc or type(exc).__name__}")


class Stream(Generic[T]):
    """A synchronous stream of chunks. Iterate it; use it in ``with`` to close it early.

    ``provider_name`` names the provider that answered (set by the client).
    """

    def __init__(self, response: httpx.Response, decoder: ChatChunkDecoder) -> None:
        self.response = response
        self.provider_name: str | None = None
        self._decoder = decoder
        self._iterator: Iterator[T] = self._iterate()

    def _prime(self) -> None:
        """Read up to the first chunk now, so a failure before it raises here; the chunk is
        still the first one iteration yields."""
        try:
            first = next(self._iterator)
        except StopIteration:
            return
        rest = self._iterator

        def resume() -> Iterator[T]:
            try:
                yield first
                yield from rest
            finally:
                rest.close()  # type: ignore[attr-defined]

        self._iterator = resume()

    def _iterate(self) -> Iterator[T]:
        decoder = self._decoder
        try:
            for data in self.response.iter_bytes():
                yield from decoder.feed(data)  # type: ignore[misc]
                decoder.raise_pending()
                if decoder.done:
                    return
            yield from decoder.finish()  # type: ignore[misc]
            decoder.raise_pending()
        except httpx.TransportError as exc:
            raise _broken(exc, decoder) from exc
        finally:
            self.response.close()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        return next(self._iterator)

    def close(self) -> None:
        """Stop reading and release the connection."""
        self._iterator.close()  # type: ignore[attr-defined]
        self.response.close()

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncStream(Generic[T]):
    """An asynchronous stream of chunks: ``async for`` it; ``async with`` closes it early."""

    def __init__(self, response: httpx.Response, decoder: ChatChunkDecoder) -> None:
        self.response = response
        self.provider_name: str | None = None
        self._decoder = decoder
        self._iterator: AsyncIterator[T] = self._iterate()

    async def _prime(self) -> None:
        """See :meth:`Stream._prime`."""
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
        await self._iterator.aclose()  # type: ignore[attr-defined]
        await self.response.aclose()

    aclose = close

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
