"""Server replies as real servers send them: the one module of reply builders for every tier.

Bodies are plain dicts, event streams are bytes; the ``*_response`` helpers wrap them in an
``httpx.Response`` for respx. Which server answers is a :class:`Server` profile, the identity
fields every reply carries and how much of vLLM's null padding it sends:

* :data:`VLLM` -- a vLLM 0.32 reply with every null field it sends (the default);
* :data:`FAULT` -- the lean reply the fault server (``tests/faultserver.py``) sends;
* :data:`PLAIN` -- a minimal reply from a local server, as the tool and structured-output tests
  script it (usage 10 + 5, model ``llama``);
* :data:`TINY` -- the smallest valid reply, no usage, as the provider tests script it.

Nothing here imports the SDK (only the stdlib and httpx), so ``tests/faultserver.py`` and the
benchmarks can use it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from types import EllipsisType
from typing import Any

import httpx

BASE_URL = "http://llama.test/v1"
# The base URL the examples default to; the tool / structured-output unit tests mock it.
LOCAL_BASE_URL = "http://127.0.0.1:8000/v1"

SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}

_VLLM_MESSAGE_NULLS = ("refusal", "annotations", "audio", "function_call", "reasoning")


def usage_body(prompt: int, completion: int) -> dict[str, int]:
    """``usage`` in vLLM's key order."""
    return {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
    }


@dataclass(frozen=True)
class Server:
    """Who answers: the identity of its replies and which optional fields it sends."""

    id: str
    created: int
    model: str
    content: str | None  # the reply text when a test names none
    usage: tuple[int, int] | None  # (prompt, completion) tokens when a test names none
    logprobs: bool  # each choice carries "logprobs": null
    vllm_nulls: bool  # vLLM's other null fields on message, choice and body

    def completion(
        self,
        content: str | EllipsisType | None = ...,
        *,
        finish_reason: str = "stop",
        tool_calls: list[dict[str, Any]] | None = None,
        usage: tuple[int, int] | dict[str, Any] | EllipsisType | None = ...,
        **overrides: Any,
    ) -> dict[str, Any]:
        """A chat completion body; ``overrides`` replace top-level fields (``id``, ``model``...).

        ``content`` and ``usage`` left out (``...``) take the server's defaults; ``usage`` is
        ``(prompt, completion)`` tokens, a whole ``usage`` object, or None for none."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.content if content is ... else content,
        }
        if self.vllm_nulls:
            message.update(dict.fromkeys(_VLLM_MESSAGE_NULLS))
        if tool_calls is not None:
            message["tool_calls"] = tool_calls
        choice: dict[str, Any] = {"index": 0, "message": message}
        if self.logprobs:
            choice["logprobs"] = None
        choice["finish_reason"] = finish_reason
        if self.vllm_nulls:
            choice.update(stop_reason=None, token_ids=None)
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        }
        if self.vllm_nulls:
            body.update(service_tier=None, system_fingerprint="vllm-0.32.0-1a2b3c4d")
        usage = self.usage if usage is ... else usage
        if usage is not None:
            body["usage"] = usage_body(*usage) if isinstance(usage, tuple) else usage
        if self.vllm_nulls:
            body.update(prompt_logprobs=None, kv_transfer_params=None)
        body.update(overrides)
        return body

    def chunk(
        self,
        delta: dict[str, Any] | None = None,
        finish_reason: str | None = None,
        *,
        index: int = 0,
        choice: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """A stream chunk with one choice; ``choice`` adds fields to it, ``overrides`` to the chunk."""
        one: dict[str, Any] = {"index": index, "delta": delta or {}}
        if self.logprobs:
            one["logprobs"] = None
        one["finish_reason"] = finish_reason
        one.update(choice or {})
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [one],
        }
        body.update(overrides)
        return body

    def text_chunk(
        self,
        content: str | None = None,
        finish: str | None = None,
        *,
        index: int = 0,
        delta: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """A chunk whose delta is ``delta`` plus ``content`` when given."""
        d = dict(delta or {})
        if content is not None:
            d["content"] = content
        return self.chunk(d, finish, index=index, **overrides)

    def usage_chunk(self, prompt: int = 12, completion: int = 3) -> dict[str, Any]:
        """The last chunk of a stream asked for ``include_usage``: no choices, only usage."""
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage_body(prompt, completion),
        }


VLLM = Server(
    "chatcmpl-8c1f2a3b4c5d6e7f", 1764000000, "meta-llama/Llama-3.1-8B-Instruct",
    content="Hello!", usage=(12, 3), logprobs=True, vllm_nulls=True,
)  # fmt: skip
FAULT = Server(
    "chatcmpl-fault", 1764000000, "meta-llama/Llama-3.1-8B-Instruct",
    content="Hello!", usage=(12, 3), logprobs=True, vllm_nulls=False,
)  # fmt: skip
PLAIN = Server(
    "chatcmpl-0123456789abcdef", 1700000000, "llama",
    content=None, usage=(10, 5), logprobs=False, vllm_nulls=False,
)  # fmt: skip
TINY = Server("chatcmpl-1", 1, "m", content="hi", usage=None, logprobs=False, vllm_nulls=False)


# ------------------------------------------------------------------------------ shorthands


def completion_body(content: str | None = "Hello!", **kw: Any) -> dict[str, Any]:
    """A vLLM 0.32 chat completion body (``server=FAULT`` etc. for another server)."""
    server: Server = kw.pop("server", VLLM)
    return server.completion(content, **kw)


def chunk(index: int = 0, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    """A vLLM chunk; keyword arguments are the delta."""
    return VLLM.chunk(delta, finish, index=index)


def usage_chunk(prompt: int = 12, completion: int = 3) -> dict[str, Any]:
    return VLLM.usage_chunk(prompt, completion)


def delta_chunk(content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    """A chunk as the fault server sends it."""
    return FAULT.text_chunk(content, finish)


def text_chunks(*pieces: str, finish_reason: str = "stop") -> list[dict[str, Any]]:
    """A plain text stream: a role chunk, one chunk per piece, a finish chunk."""
    out = [PLAIN.chunk({"role": "assistant", "content": ""})]
    out += [PLAIN.chunk({"content": p}) for p in pieces]
    out.append(PLAIN.chunk({}, finish_reason))
    return out


def vllm_call(
    name: str, arguments: str, id: str = "chatcmpl-tool-9f8e7d6c5b4a3210"
) -> dict[str, Any]:
    """A tool call as vLLM writes it in a message."""
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


def llamacpp_call(
    name: str, arguments: str, id: str = "Xk2mP9qLr4tZ8wB1nC6vD3fG7hJ0sA5e"
) -> dict[str, Any]:
    """A tool call as llama-server writes it: key order type / function / id, no index."""
    return {"type": "function", "function": {"name": name, "arguments": arguments}, "id": id}


# ------------------------------------------------------------------------------ event streams


def sse_events(
    *events: dict[str, Any] | str | bytes, done: bool = True, eol: bytes = b"\n"
) -> list[bytes]:
    """One piece per event, then ``[DONE]``: a dict is sent JSON-encoded as ``data:``, a str
    as the ``data:`` payload as it is, bytes as a raw line (a comment, an ``event:`` field)."""
    out = []
    for e in events:
        if isinstance(e, bytes):
            out.append(e + eol + eol)
            continue
        data = e if isinstance(e, str) else json.dumps(e)
        out.append(b"data: " + data.encode() + eol + eol)
    if done:
        out.append(b"data: [DONE]" + eol + eol)
    return out


def sse(*events: dict[str, Any] | str | bytes, done: bool = True, sep: bytes = b"\n") -> bytes:
    """The events of :func:`sse_events` as one body."""
    return b"".join(sse_events(*events, done=done, eol=sep))


# ------------------------------------------------------------------------------ respx replies


def sse_response(
    body: bytes, status: int = 200, *, content_type: str = "text/event-stream"
) -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": content_type})


def sse_reply(*events: dict[str, Any] | str | bytes, done: bool = True) -> httpx.Response:
    """A 200 event-stream response carrying ``events``."""
    return httpx.Response(200, content=sse(*events, done=done), headers=SSE_HEADERS)


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


class Script:
    """A respx side effect: serves scripted bodies in order and records every request body."""

    def __init__(self, *replies: dict[str, Any]) -> None:
        self.replies = list(replies)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return httpx.Response(200, json=self.replies.pop(0))


def sent_json(route: Any, i: int = -1) -> dict[str, Any]:
    """The JSON body of a respx route's ``i``-th call (the last by default)."""
    result: dict[str, Any] = json.loads(route.calls[i].request.content)
    return result


# ------------------------------------------------------------------------------ AWS Bedrock
#
# Bedrock's Converse answers and its ConverseStream body, a binary AWS event-stream
# (``application/vnd.amazon.eventstream``). botocore only *decodes* event-stream
# (botocore.eventstream has no encoder); awscrt exposes no standalone encoder (only an RPC
# client that adds its own int32 ``:message-type`` headers); smithy-aws-event-stream, AWS's
# Python encoder, requires Python >= 3.12 and this project runs on 3.10+. So frames are built
# here, from the format's definition (prelude: total and header lengths, CRC32; string
# headers; payload; message CRC32), and tests/unit/test_bedrock.py checks every kind of frame
# built here against botocore's decoder (both CRCs, headers, payload).

BEDROCK_URL = "https://bedrock-runtime.us-east-1.amazonaws.com"
EVENTSTREAM_HEADERS = {"content-type": "application/vnd.amazon.eventstream"}


def eventstream_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string-valued headers (header value type 7)."""
    import binascii
    import struct

    head = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        head += struct.pack("!B", len(raw_name)) + raw_name
        head += struct.pack("!BH", 7, len(raw_value)) + raw_value
    prelude = struct.pack("!II", 16 + len(head) + len(payload), len(head))
    prelude += struct.pack("!I", binascii.crc32(prelude))
    message = prelude + head + payload
    return message + struct.pack("!I", binascii.crc32(message))


def aws_event(event_type: str, body: dict[str, Any]) -> bytes:
    """A ConverseStream event message (``messageStart``, ``contentBlockDelta``, ...)."""
    return eventstream_message(
        {
            ":event-type": event_type,
            ":content-type": "application/json",
            ":message-type": "event",
        },
        json.dumps(body).encode(),
    )


def aws_exception(exception_type: str, message: str) -> bytes:
    """An exception that arrives inside the stream (``throttlingException``, ...)."""
    return eventstream_message(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps({"message": message}).encode(),
    )


def converse_stream_events(
    *texts: str,
    stop_reason: str = "end_turn",
    tool: tuple[str, str, list[str]] | None = None,
    usage: tuple[int, int] | None = (11, 4),
) -> list[bytes]:
    """The messages of a ConverseStream answer: text deltas, then an optional tool call
    ``(toolUseId, name, input fragments)``, ``messageStop`` and the ``metadata`` event."""
    out = [aws_event("messageStart", {"role": "assistant"})]
    block = 0
    if texts:
        for text in texts:
            out.append(
                aws_event("contentBlockDelta", {"delta": {"text": text}, "contentBlockIndex": 0})
            )
        out.append(aws_event("contentBlockStop", {"contentBlockIndex": 0}))
        block = 1
    if tool is not None:
        use_id, name, fragments = tool
        start = {"start": {"toolUse": {"toolUseId": use_id, "name": name}}}
        out.append(aws_event("contentBlockStart", {**start, "contentBlockIndex": block}))
        for fragment in fragments:
            delta = {"delta": {"toolUse": {"input": fragment}}, "contentBlockIndex": block}
            out.append(aws_event("contentBlockDelta", delta))
        out.append(aws_event("contentBlockStop", {"contentBlockIndex": block}))
    out.append(aws_event("messageStop", {"stopReason": stop_reason}))
    if usage is not None:
        prompt, completion = usage
        meta = {
            "usage": {
                "inputTokens": prompt,
                "outputTokens": completion,
                "totalTokens": prompt + completion,
            },
            "metrics": {"latencyMs": 120},
        }
        out.append(aws_event("metadata", meta))
    return out


def converse_answer(
    text: str | None = "Hello!",
    *,
    stop_reason: str = "end_turn",
    tool_uses: list[tuple[str, str, dict[str, Any]]] = (),  # type: ignore[assignment]
    usage: tuple[int, int] = (11, 4),
) -> dict[str, Any]:
    """A Converse (non-streamed) answer body."""
    content: list[dict[str, Any]] = [{"text": text}] if text is not None else []
    for use_id, name, arguments in tool_uses:
        content.append({"toolUse": {"toolUseId": use_id, "name": name, "input": arguments}})
    prompt, completion = usage
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": {
            "inputTokens": prompt,
            "outputTokens": completion,
            "totalTokens": prompt + completion,
        },
        "metrics": {"latencyMs": 321},
    }


def bedrock_error(status: int, error_type: str, message: str) -> httpx.Response:
    """A Bedrock error answer: ``{"message"}`` with the type in ``x-amzn-ErrorType``."""
    return httpx.Response(
        status,
        json={"message": message},
        headers={
            "x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "x-amzn-RequestId": "5d1a3c1e-0000-4000-8000-000000000001",
        },
    )


def eventstream_response(*messages: bytes) -> httpx.Response:
    """A 200 ConverseStream answer delivered one message per read."""
    return httpx.Response(200, stream=PiecewiseStream(*messages), headers=EVENTSTREAM_HEADERS)
