"""Streamed chat completions: chunk decoding, without I/O.

:class:`ChatChunkDecoder` turns the bytes of an event stream into
:class:`~llama_client.types.ChatCompletionChunk` objects and decides whether the stream ended
properly. The stream objects that feed it (:class:`~llama_client.Stream`,
:class:`~llama_client.AsyncStream`) live in :mod:`llama_client._async.streaming` and its
generated sync twin.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import import_module
from typing import NoReturn

import httpx
from pydantic import ValidationError

from ._sse import ServerSentEvent, SSEDecoder
from .errors import APITimeoutError, ResponseValidationError, StreamError, error_info, preview
from .types.chat import ChatCompletionChunk

__all__ = ["ChatChunkDecoder"]


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
            self._raise_error(data)
        if not data.strip():
            return None
        try:
            chunk = ChatCompletionChunk.model_validate_json(data)
        except ValidationError as exc:
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

    def _raise_error(self, data: str, exc: ValidationError | None = None) -> NoReturn:
        try:
            body = json.loads(data)
        except ValueError:
            raise ResponseValidationError(
                f"A stream event is not valid JSON: {preview(data)}", body=data
            ) from None
        if isinstance(body, dict) and "error" in body:
            info = error_info(body)
            raise StreamError(
                f"The server reported an error in the stream: {info.message}", body=body
            )
        raise ResponseValidationError(
            f"A stream event is not a chat completion chunk: {preview(data)} ({exc})", body=body
        ) from exc


def _broken(exc: httpx.TransportError, decoder: ChatChunkDecoder) -> Exception:
    where = f"after {decoder.chunks_seen} chunks"
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"The stream timed out {where} ({type(exc).__name__}).")
    return StreamError(f"The stream broke {where}: {exc or type(exc).__name__}")


def __getattr__(name: str) -> object:
    # The stream objects moved to llama_client._async / _sync; this import path keeps working.
    if name in ("Stream", "AsyncStream"):
        return getattr(import_module("llama_client"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
