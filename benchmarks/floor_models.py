"""Hand-written pydantic models for the "httpx + pydantic" floor: what a minimal typed client parses.

They mirror the fields of a chat completion and a chunk, keep unknown fields like the SDK's
models do (extra="allow"), and nothing more.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionCall(_Model):
    name: str | None = None
    arguments: str | None = None


class ToolCall(_Model):
    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: FunctionCall | None = None


class Message(_Model):
    role: str | None = None
    content: str | None = None
    tool_calls: list[ToolCall] | None = None


class Choice(_Model):
    index: int
    message: Message
    finish_reason: str | None = None
    logprobs: Any | None = None


class Usage(_Model):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Completion(_Model):
    id: str
    object: str
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | None = None


class ChunkChoice(_Model):
    index: int
    delta: Message
    finish_reason: str | None = None
    logprobs: Any | None = None


class Chunk(_Model):
    id: str
    object: str
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
