"""Shared helpers for the provider tests: a clean environment, instant retries, SSE bodies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from llama_client.providers import get_provider, list_providers

GENERIC_ENV = ("LLAMA_PROVIDER", "LLAMA_BASE_URL", "LLAMA_API_KEY", "LLAMA_MODEL")


def clear_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every variable a provider could read, so tests see only what they set."""
    names = set(GENERIC_ENV)
    for name in list_providers():
        p = get_provider(name)
        names.update(p.api_key_env)
        names.update(p.base_url_env)
    for name in names:
        monkeypatch.delenv(name, raising=False)


def instant_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_async_sleep(seconds: float) -> None:
        return None

    monkeypatch.setattr("llama_client._transport._sleep", lambda s: None)
    monkeypatch.setattr("llama_client._transport._async_sleep", no_async_sleep)


def completion(
    content: str = "hi", finish: str = "stop", model: str = "m", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish,
            }
        ],
    }
    body.update(extra)
    return body


def sse(*events: Any, done: bool = True) -> bytes:
    """An event-stream body: each event a dict (JSON-encoded) or a raw line such as a comment."""
    out = []
    for event in events:
        if isinstance(event, str):
            out.append(event + "\n\n")
        else:
            out.append("data: " + json.dumps(event) + "\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def chunk(
    content: str | None = None,
    finish: str | None = None,
    index: int = 0,
    delta: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    d: dict[str, Any] = dict(delta or {})
    if content is not None:
        d["content"] = content
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": index, "delta": d, "finish_reason": finish}],
    }
    body.update(extra)
    return body


def sse_response(body: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": "text/event-stream"})


class BrokenStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that sends ``first`` and then loses the connection."""

    def __init__(self, first: bytes) -> None:
        self.first = first

    def __iter__(self) -> Iterator[bytes]:
        if self.first:
            yield self.first
        raise httpx.RemoteProtocolError("peer closed connection")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.first:
            yield self.first
        raise httpx.RemoteProtocolError("peer closed connection")


class PiecewiseStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body delivered in separate reads, one per piece."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = pieces

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


def piecewise_response(*pieces: bytes) -> httpx.Response:
    return httpx.Response(
        200, stream=PiecewiseStream(*pieces), headers={"content-type": "text/event-stream"}
    )


def broken_stream_response(first: bytes = b"") -> httpx.Response:
    return httpx.Response(
        200, stream=BrokenStream(first), headers={"content-type": "text/event-stream"}
    )


def sent_json(route: Any, n: int = -1) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(route.calls[n].request.content)
    return result


MSGS = [{"role": "user", "content": "Say hi."}]
