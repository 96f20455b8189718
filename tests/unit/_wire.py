"""Builders for server replies as real servers send them (see servers.md)."""

from __future__ import annotations

import json
from typing import Any

import httpx

BASE_URL = "http://127.0.0.1:8000/v1"


def completion(
    content: str | None = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str = "stop",
    usage: tuple[int, int] | None = (10, 5),
    id: str = "chatcmpl-0123456789abcdef",
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": 1700000000,
        "model": "llama",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        }
    return body


def vllm_call(
    name: str, arguments: str, id: str = "chatcmpl-tool-9f8e7d6c5b4a3210"
) -> dict[str, Any]:
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


def llamacpp_call(
    name: str, arguments: str, id: str = "Xk2mP9qLr4tZ8wB1nC6vD3fG7hJ0sA5e"
) -> dict[str, Any]:
    # llama-server: key order type / function / id, no index
    return {"type": "function", "function": {"name": name, "arguments": arguments}, "id": id}


def sse(*chunks: dict[str, Any], done: bool = True) -> httpx.Response:
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks)
    if done:
        text += "data: [DONE]\n\n"
    return httpx.Response(
        200, content=text.encode(), headers={"content-type": "text/event-stream; charset=utf-8"}
    )


def chunk(
    delta: dict[str, Any] | None = None, finish_reason: str | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-0123456789abcdef",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "llama",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason, **extra}],
    }


def text_chunks(*pieces: str, finish_reason: str = "stop") -> list[dict[str, Any]]:
    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": p}) for p in pieces]
    out.append(chunk({}, finish_reason))
    return out


def sent_json(route: Any, i: int = -1) -> dict[str, Any]:
    return json.loads(route.calls[i].request.content)  # type: ignore[no-any-return]


class Script:
    """Serves scripted replies in order and records every request body."""

    def __init__(self, *replies: dict[str, Any]) -> None:
        self.replies = list(replies)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return httpx.Response(200, json=self.replies.pop(0))
