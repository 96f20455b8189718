"""A fast OpenAI-compatible server for benchmarks: loopback only, stdlib asyncio, canned bytes.

Every answer is precomputed bytes, so the server does almost nothing per request and is not
the bottleneck (``python benchmarks/run.py`` measures its own throughput with a raw socket
client and prints it next to the results). The first path segment picks the answer::

    /v1/chat/completions            non-stream: a realistic vLLM chat completion
                                    stream:     100 content chunks, a finish chunk, a usage chunk, [DONE]
    /c<N>/v1/chat/completions       stream of N content chunks (non-stream: as above)
    /tools/v1/chat/completions      a tool call: non-stream message, or a stream of tool_calls deltas
    /broken<K>/v1/chat/completions  stream that stops after K chunks by closing the connection
    /guard/v1/chat/completions      a Llama Guard verdict: ``safe`` (non-stream)
    /v1/models                      a model list

Whether the call is streamed is read from ``"stream": true`` in the body, without parsing it.
Run alone: ``python benchmarks/server.py [--port N]``; it prints the port it listens on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
from functools import lru_cache
from typing import Any

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
CREATED = 1764000000
_WORDS = [
    "The",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "while",
    "the",
    "model",
    "keeps",
    "streaming",
    "tokens",
    "to",
    "a",
    "client",
    "that",
    "should",
    "not",
    "be",
    "the",
    "slow",
    "part",
    "of",
    "this",
    "benchmark",
]


def _completion(tool: bool, verdict: str | None = None) -> bytes:
    content = verdict or " ".join(_WORDS[i % len(_WORDS)] for i in range(100))
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if tool else content,
        "refusal": None,
        "annotations": None,
        "audio": None,
        "function_call": None,
        "reasoning": None,
    }
    if tool:
        message["tool_calls"] = [
            {
                "id": "chatcmpl-tool-5f2a",
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "arguments": '{"city": "Paris", "unit": "celsius"}',
                },
            }
        ]
    body = {
        "id": "chatcmpl-bench0123456789",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if tool else "stop",
                "stop_reason": None,
            }
        ],
        "service_tier": None,
        "system_fingerprint": None,
        "usage": {
            "prompt_tokens": 24,
            "total_tokens": 124,
            "completion_tokens": 100,
            "prompt_tokens_details": None,
        },
        "prompt_logprobs": None,
        "kv_transfer_params": None,
    }
    return json.dumps(body).encode()


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench0123456789",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _usage(n: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench0123456789",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "choices": [],
        "usage": {"prompt_tokens": 24, "total_tokens": 24 + n, "completion_tokens": n},
    }


def _events(events: list[dict[str, Any]]) -> list[bytes]:
    out = [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events]
    return [*out, b"data: [DONE]\n\n"]


@lru_cache(maxsize=64)
def _stream_events(n: int) -> list[bytes]:
    events = [_chunk({"role": "assistant", "content": ""})]
    events += [_chunk({"content": _WORDS[i % len(_WORDS)] + " "}) for i in range(n)]
    events += [_chunk({}, "stop"), _usage(n)]
    return _events(events)


@lru_cache(maxsize=1)
def _tool_events() -> list[bytes]:
    args = ['{"city', '": "Pa', 'ris", "un', 'it": "cel', 'sius"}']
    events = [
        _chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "chatcmpl-tool-5f2a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ],
            }
        )
    ]
    events += [_chunk({"tool_calls": [{"index": 0, "function": {"arguments": a}}]}) for a in args]
    events += [_chunk({}, "tool_calls"), _usage(len(args))]
    return _events(events)


def _chunked(pieces: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)


_JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)
_COMPLETION = _completion(tool=False)
_TOOL_COMPLETION = _completion(tool=True)
_GUARD_COMPLETION = _completion(tool=False, verdict="safe")
_MODELS = json.dumps(
    {
        "object": "list",
        "data": [
            {
                "id": MODEL,
                "object": "model",
                "created": CREATED,
                "owned_by": "vllm",
                "max_model_len": 8192,
            }
        ],
    }
).encode()
_NOT_FOUND = b'{"error": {"message": "no such route", "code": 404}}'
_PREFIX = re.compile(rb"^(?:/(c(\d+)|tools|guard|broken(\d+)))?(/v1/.*)$")


@lru_cache(maxsize=256)
def _answer(path: bytes, stream: bool) -> tuple[bytes, bool]:
    """(bytes to write, keep the connection open afterwards)."""
    m = _PREFIX.match(path.split(b"?", 1)[0])
    route = m.group(4) if m else b""
    if route == b"/v1/models":
        return _JSON_HEAD % len(_MODELS) + _MODELS, True
    if not m or route != b"/v1/chat/completions":
        return (
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n" % len(_NOT_FOUND)
        ) + _NOT_FOUND, True
    prefix = m.group(1) or b""
    if not stream:
        body = {b"tools": _TOOL_COMPLETION, b"guard": _GUARD_COMPLETION}.get(prefix, _COMPLETION)
        return _JSON_HEAD % len(body) + body, True
    if prefix == b"tools":
        return _SSE_HEAD + _chunked(_tool_events()) + b"0\r\n\r\n", True
    if m.group(3) is not None:  # broken<K>: K events, then the connection is closed mid-body
        return _SSE_HEAD + _chunked(_stream_events(100)[: int(m.group(3))]), False
    n = int(m.group(2)) if m.group(2) else 100
    return _SSE_HEAD + _chunked(_stream_events(n)) + b"0\r\n\r\n", True


class BenchProtocol(asyncio.Protocol):
    __slots__ = ("buf", "transport")

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        transport = self.transport
        assert transport is not None
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            lower = head.lower()
            length = 0
            i = lower.find(b"\r\ncontent-length:")
            if i >= 0:
                j = lower.find(b"\r\n", i + 2)
                length = int(lower[i + 17 : j if j >= 0 else len(lower)])
            total = end + 4 + length
            if len(buf) < total:
                break
            body = buf[end + 4 : total]
            buf = buf[total:]
            path = head.split(b" ", 2)[1]
            stream = b'"stream":true' in body or b'"stream": true' in body
            out, keep = _answer(path, stream)
            transport.write(out)
            if not keep:
                transport.close()
                break
        self.buf = buf


async def serve(port: int, ready: Any = None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(BenchProtocol, "127.0.0.1", port, backlog=1024)
    actual = server.sockets[0].getsockname()[1]
    print(actual, flush=True)
    if ready is not None:
        ready(actual)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
