"""Hand-written pydantic models for the "httpx + pydantic" floor: what a minimal typed client parses.

They mirror the fields of a chat completion and a chunk, keep unknown fields like the SDK's
models do (extra="allow"), and nothing more.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionCall(_Model):
    name: Optional[str] = None
    arguments: Optional[str] = None


class ToolCall(_Model):
    index: Optional[int] = None
    id: Optional[str] = None
    type: Optional[str] = None
    function: Optional[FunctionCall] = None


class Message(_Model):
    role: Optional[str] = None
    content: Optional[str] = None
    tool_calls: Optional[list[ToolCall]] = None


class Choice(_Model):
    index: int
    message: Message
    finish_reason: Optional[str] = None
    logprobs: Optional[Any] = None


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
    usage: Optional[Usage] = None


class ChunkChoice(_Model):
    index: int
    delta: Message
    finish_reason: Optional[str] = None
    logprobs: Optional[Any] = None


class Chunk(_Model):
    id: str
    object: str
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Optional[Usage] = None
