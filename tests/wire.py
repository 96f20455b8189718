"""Builders for response bodies and event streams as real servers send them."""

from __future__ import annotations

import json
from typing import Any

BASE_URL = "http://llama.test/v1"

def completion_body(content: str | None = "Hello!", **overrides: Any) -> dict[str, Any]:
    """A chat completion body as vLLM 0.32 sends it (servers.md §2.3)."""
    body: dict[str, Any] = {
        "id": "chatcmpl-8c1f2a3b4c5d6e7f",
        "object": "chat.completion",
        "created": 1764000000,
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": None,
                    "annotations": None,
                    "audio": None,
                    "function_call": None,
                    "reasoning": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
                "stop_reason": None,
                "token_ids": None,
            }
        ],
        "service_tier": None,
        "system_fingerprint": "vllm-0.32.0-1a2b3c4d",
        "usage": {"prompt_tokens": 12, "total_tokens": 15, "completion_tokens": 3},
        "prompt_logprobs": None,
        "kv_transfer_params": None,
    }
    body.update(overrides)
    return body


def sse(*events: Any, done: bool = True, sep: bytes = b"\n") -> bytes:
    """Encode events as an SSE body; dicts are JSON-encoded, strings sent as they are."""
    out = b""
    for e in events:
        data = e if isinstance(e, str) else json.dumps(e)
        out += b"data: " + data.encode() + sep + sep
    if done:
        out += b"data: [DONE]" + sep + sep
    return out


def chunk(index: int = 0, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-8c1f2a3b4c5d6e7f",
        "object": "chat.completion.chunk",
        "created": 1764000000,
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def usage_chunk(prompt: int = 12, completion: int = 3) -> dict[str, Any]:
    return {
        "id": "chatcmpl-8c1f2a3b4c5d6e7f",
        "object": "chat.completion.chunk",
        "created": 1764000000,
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt + completion, "completion_tokens": completion},
    }


SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}
