"""Streamed chat completions: chunk decoding (no I/O), and how a stream gives its connection
back.

:class:`ChatChunkDecoder` turns the bytes of an event stream into
:class:`~llama_client.types.ChatCompletionChunk` objects and decides whether the stream ended
properly. The stream objects that feed it (:class:`~llama_client.Stream`,
:class:`~llama_client.AsyncStream`) live in :mod:`llama_client._async.streaming` and its
generated sync twin; they close the response on exhaustion, on error, on ``close()``, when the
``with`` block is left early and when the caller drops them, never from inside the garbage
collector (see "closing an abandoned stream" below, and the ``async_*`` / ``sync_*`` helpers
they call, which scripts/unasync.py maps one to the other).
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, NoReturn

import httpx
from pydantic import ValidationError

from ._error_parsing import error_info, preview
from ._lazy import lazy_names
from ._redact import redact_exception
from ._sse import ServerSentEvent, SSEDecoder
from .errors import APITimeoutError, ResponseValidationError, StreamError

if TYPE_CHECKING:
    import asyncio

    from .providers.base import Framer
    from .types.chat import ChatCompletionChunk

__all__ = ["ChatChunkDecoder", "close_abandoned"]


class ChatChunkDecoder:
    """Bytes of a chat completion event stream in, chunks out.

    ``feed`` returns the chunks completed by the given bytes; ``finish`` is called at end of
    input and raises :class:`StreamError` when the stream ended early: without ``[DONE]`` and
    with a choice that never got a ``finish_reason`` (or with no event at all).
    ``normalize`` (a provider's chunk normaliser) is applied to every chunk, in order.
    ``framer`` cuts the bytes into events (SSE by default; a provider's own framing, such as
    AWS event-stream, yields the same events: see :meth:`Provider.stream_framer`).
    ``secrets`` are the credentials of the request: the stream redacts them from any error the
    decoder raises or holds (server text may quote them), on the failure path only.
    """

    __slots__ = (
        "_chunk_type",
        "_normalize",
        "_open",
        "_sse",
        "chunks_seen",
        "done",
        "error",
        "last",
        "secrets",
    )

    def __init__(
        self,
        normalize: Callable[[ChatCompletionChunk], ChatCompletionChunk] | None = None,
        framer: Framer | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.secrets = secrets
        self._normalize = normalize
        self._sse = SSEDecoder() if framer is None else framer
        # Imported here, not at module level: `import llama_client` defines no model class.
        from .types.chat import ChatCompletionChunk

        self._chunk_type = ChatCompletionChunk
        self._open: set[int] = set()  # choice indexes seen without a finish_reason yet
        self.chunks_seen = 0
        #: the last chunk decoded (its ``usage``, with ``include_usage``, counts the whole call)
        self.last: ChatCompletionChunk | None = None
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
            chunk = self._chunk_type.model_validate_json(data)
        except ValidationError as exc:  # also JSON nested too deeply: pydantic's own limit
            self._raise_error(data, exc)
        extra = chunk.model_extra
        if extra and extra.get("error"):
            self._raise_error(data)
        if self._normalize is not None:
            chunk = self._normalize(chunk)
        self.chunks_seen += 1
        self.last = chunk
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


# -- closing an abandoned stream --------------------------------------------------------------
#
# A stream the caller drops without closing it must still give its connection back, and it must
# never do so from inside the connection pool. httpx's sync pool (httpcore) holds a
# non-reentrant lock while it hands out connections; the cyclic garbage collector can run at
# any allocation in there, and whatever it finalises runs on that thread, inside that lock. A
# connection closed from there takes the same lock: the thread deadlocks on itself.
#
# So: (1) the stream objects hold no reference cycle (no generator or closure holding the
# stream, no traceback reaching back to it), and a stream the caller drops is closed at once,
# by reference counting, where it was dropped. (2) While a stream is open, its byte iterator
# (which holds the response, and in turn the connection) sits in ``_OPEN``, so it is never part
# of the garbage the collector finalises, even when the caller put the stream itself in a
# cycle. A sync stream found by the collector is only queued (``_ABANDONED``) and closed at
# the next safe point: the next request of a sync client, or the next stream closed. An async
# stream schedules its closing on its event loop, as asyncio does for async generators.

#: Byte iterators of the streams still open; see above.
_OPEN: set[object] = set()
#: Sync streams dropped during a garbage collection, waiting to be closed outside of it.
_ABANDONED: list[tuple[Iterator[bytes], httpx.Response]] = []
_collecting = False
_watching_gc = False
#: Watches of sync streams dropped during a garbage collection, told outside of it.
_ENDS: list[
    tuple[Callable[[ChatChunkDecoder, BaseException | None, bool], None], ChatChunkDecoder]
] = []


def _gc_phase(phase: str, info: dict[str, int]) -> None:
    global _collecting
    _collecting = phase == "start"


def _watch_gc() -> None:
    global _watching_gc
    if not _watching_gc:
        _watching_gc = True
        gc.callbacks.append(_gc_phase)


def _close_sync(source: Iterator[bytes], response: httpx.Response) -> None:
    try:
        source.close()  # type: ignore[attr-defined]
    finally:
        response.close()


def _abandon_sync(source: Iterator[bytes], response: httpx.Response) -> None:
    """A sync stream was dropped while open: close it now, or soon if inside a collection."""
    _OPEN.discard(source)
    if _collecting:
        _ABANDONED.append((source, response))
        return
    with contextlib.suppress(Exception):
        _close_sync(source, response)
    if _ABANDONED:
        close_abandoned()


def close_abandoned() -> None:
    """Close the sync streams queued by a garbage collection (call only outside the pool)."""
    while _ENDS:
        try:
            end, decoder = _ENDS.pop()
        except IndexError:  # another thread took the last one
            break
        _end_quietly(end, decoder)
    while _ABANDONED:
        try:
            source, response = _ABANDONED.pop()
        except IndexError:  # another thread took the last one
            return
        with contextlib.suppress(Exception):
            _close_sync(source, response)


_CLOSING: set[asyncio.Task[None]] = set()


async def _aclose(source: AsyncIterator[bytes], response: httpx.Response) -> None:
    try:
        await source.aclose()  # type: ignore[attr-defined]
    finally:
        await response.aclose()


def _start_aclose(source: AsyncIterator[bytes], response: httpx.Response) -> None:
    import asyncio

    task = asyncio.ensure_future(_aclose_quietly(source, response))
    _CLOSING.add(task)
    task.add_done_callback(_CLOSING.discard)


async def _aclose_quietly(source: AsyncIterator[bytes], response: httpx.Response) -> None:
    with contextlib.suppress(Exception):
        await _aclose(source, response)


def _hold(decoder: ChatChunkDecoder) -> None:
    """Keep the error ``decoder`` holds for later: detached from its frames, credentials out."""
    error = decoder.error
    assert error is not None
    _detach(error)
    if decoder.secrets:
        redact_exception(error, decoder.secrets)


def _redact(decoder: ChatChunkDecoder, exc: BaseException) -> None:
    """The credentials of the request out of an error the decoder raised."""
    if decoder.secrets:
        redact_exception(exc, decoder.secrets)


def _detach(exc: BaseException) -> None:
    """Drop the tracebacks of an error held for later: their frames lead back to the stream,
    which holds the error, and that cycle would leave the stream to the garbage collector."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        e.__traceback__ = None
        todo += (e.__cause__, e.__context__)


# -- the async_* helpers of AsyncStream and their sync_* twins of Stream ----------------------


def async_owner() -> asyncio.AbstractEventLoop | None:
    """The event loop a new async stream belongs to (None off asyncio, e.g. trio: a dropped
    stream is then closed by the async-generator hooks)."""
    import asyncio  # only async streams need it

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def sync_owner() -> asyncio.AbstractEventLoop | None:
    """A new sync stream belongs to no loop; make sure garbage collections are watched."""
    if not _watching_gc:
        _watch_gc()
    return None


async def async_release(source: AsyncIterator[bytes] | None, response: httpx.Response) -> None:
    """Close a finished or closed async stream's byte iterator and response."""
    if source is not None:
        _OPEN.discard(source)
        await _aclose(source, response)


def sync_release(source: Iterator[bytes] | None, response: httpx.Response) -> None:
    """Close a finished or closed sync stream's byte iterator and response, then any stream a
    garbage collection queued."""
    if source is not None:
        _OPEN.discard(source)
        _close_sync(source, response)
    if _ABANDONED or _ENDS:
        close_abandoned()


def async_abandon(
    source: AsyncIterator[bytes], response: httpx.Response, loop: asyncio.AbstractEventLoop | None
) -> None:
    """An async stream was dropped while open: schedule its closing on its event loop."""
    _OPEN.discard(source)
    if loop is not None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing can run
            loop.call_soon_threadsafe(_start_aclose, source, response)


def sync_abandon(
    source: Iterator[bytes], response: httpx.Response, loop: asyncio.AbstractEventLoop | None
) -> None:
    """A sync stream was dropped while open: close it now, or soon if inside a collection."""
    _abandon_sync(source, response)


def end_dropped(
    end: Callable[[ChatChunkDecoder, BaseException | None, bool], None],
    decoder: ChatChunkDecoder,
    loop: asyncio.AbstractEventLoop | None,
) -> None:
    """A stream was dropped while open: tell its watch (hooks, a span) that it was closed, never
    from inside a garbage collection: an async stream's on its loop, a sync stream's at once
    when the caller dropped it, else at the next safe point (as its connection is closed)."""
    if loop is not None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing can run
            loop.call_soon_threadsafe(_end_quietly, end, decoder)
        return
    if _collecting:
        _ENDS.append((end, decoder))
        return
    _end_quietly(end, decoder)


def _end_quietly(
    end: Callable[[ChatChunkDecoder, BaseException | None, bool], None], decoder: ChatChunkDecoder
) -> None:
    with contextlib.suppress(Exception):  # a hook's HookError has no caller to reach here
        end(decoder, None, True)


def async_before_request() -> None:
    """Before an async request: nothing to do (async streams close on their own loop)."""


def sync_before_request() -> None:
    """Before a sync request: close the streams a garbage collection dropped, here, outside
    the connection pool."""
    if _ABANDONED or _ENDS:
        close_abandoned()


# The stream objects moved to llama_client._async / _sync; these import paths keep working.
_MOVED = {"Stream": "llama_client._sync.streaming", "AsyncStream": "llama_client._async.streaming"}
__getattr__ = lazy_names(__name__, _MOVED, globals())[0]
