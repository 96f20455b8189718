"""Chat completion types: request messages and response objects.

Request messages may be given as these models or as plain dicts of the same shape. Response
models accept what real servers send (``tool_calls`` absent or null, ``content`` null or "",
``choices: []`` in a usage chunk, ``stop_reason`` as null, string or integer) and keep unknown
fields.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import ToolCallArgumentsError
from ._base import ResponseModel

__all__ = [
    "AssistantMessage",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatMessage",
    "Choice",
    "ChoiceDelta",
    "ChoiceDeltaFunction",
    "ChoiceDeltaToolCall",
    "ChoiceLogprobs",
    "ChunkChoice",
    "ContentPart",
    "FunctionCall",
    "ImagePart",
    "ImageURL",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "SystemMessage",
    "TextPart",
    "TokenLogprob",
    "ToolCall",
    "ToolMessage",
    "TopLogprob",
    "Usage",
    "UserMessage",
]


# --------------------------------------------------------------------------- request messages


class _Param(BaseModel):
    """Base of request-side models: unknown fields are passed through to the server."""

    model_config = ConfigDict(extra="allow", defer_build=True)


class TextPart(_Param):
    type: Literal["text"] = "text"
    text: str


class ImageURL(_Param):
    url: str
    detail: str | None = None


class ImagePart(_Param):
    """An image for vision models (Llama 3.2 11B/90B Vision)."""

    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


ContentPart = TextPart | ImagePart


class FunctionCall(ResponseModel):
    """The function a tool call names, and its arguments as the JSON text the server sent."""

    name: str
    arguments: str = ""

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict. ``""`` (some servers' way of saying "none") gives ``{}``.

        Raises :class:`~llama_client.ToolCallArgumentsError` when the text is not a JSON object
        (e.g. a call cut off by ``max_tokens``) or is nested too deeply to decode.
        """
        text = self.arguments
        if not text.strip():
            return {}
        try:
            value = json.loads(text)
            if isinstance(value, str):
                # Double-encoded: a JSON string holding the JSON object.
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
        except ValueError as exc:
            raise ToolCallArgumentsError(self.name, text, [f"not valid JSON: {exc}"]) from None
        except RecursionError:
            raise ToolCallArgumentsError(self.name, text, ["nested too deeply to decode"]) from None
        if not isinstance(value, dict):
            raise ToolCallArgumentsError(
                self.name, text, [f"expected a JSON object, got {type(value).__name__}"]
            )
        return value

    @field_validator("arguments", mode="before")
    @classmethod
    def _arguments_as_text(cls, value: object) -> object:
        # Some servers send the arguments as an object, or null; keep one type: the JSON text.
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)
        return value


class ToolCall(ResponseModel):
    """A tool call requested by the model. ``id`` is an opaque server string."""

    id: str | None = None
    type: str = "function"
    function: FunctionCall


class SystemMessage(_Param):
    role: Literal["system"] = "system"
    content: str | list[TextPart]
    name: str | None = None


class UserMessage(_Param):
    role: Literal["user"] = "user"
    content: str | list[ContentPart]
    name: str | None = None


class AssistantMessage(_Param):
    role: Literal["assistant"] = "assistant"
    content: str | list[TextPart] | None = None
    tool_calls: list[ToolCall] | None = None
    name: str | None = None


class ToolMessage(_Param):
    role: Literal["tool"] = "tool"
    content: str | list[TextPart]
    tool_call_id: str


ChatMessage = SystemMessage | UserMessage | AssistantMessage | ToolMessage


# --------------------------------------------------------------------------- responses


class TopLogprob(ResponseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(ResponseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class ChoiceLogprobs(ResponseModel):
    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None


class Usage(ResponseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    #: OpenAI's breakdowns (``cached_tokens``, ``reasoning_tokens``...); vLLM sends them as null
    prompt_tokens_details: dict[str, Any] | None = None
    completion_tokens_details: dict[str, Any] | None = None


class ChatCompletionMessage(ResponseModel):
    """The assistant's reply. ``content`` may be None (tool calls only) or ""."""

    role: str = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    #: Set by the SDK when it recognised a tool call written as text: the content as sent.
    raw_content: str | None = None
    #: Set by the SDK: tool calls naming a tool that was not offered (kept, never run).
    rejected_tool_calls: list[ToolCall] | None = None

    def to_param(self) -> dict[str, object]:
        """This message as a request message, ready to append to a conversation."""
        out: dict[str, object] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [
                {
                    "id": c.id,
                    "type": c.type,
                    "function": {"name": c.function.name, "arguments": c.function.arguments},
                }
                for c in self.tool_calls
            ]
        return out


class Choice(ResponseModel):
    index: int = 0
    message: ChatCompletionMessage
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None
    #: vLLM only: None at EOS, the matched stop string, or a stop token id
    stop_reason: str | int | None = None
    #: Set by the SDK when it changed ``finish_reason`` (a tool call found in the text): the
    #: finish reason the server sent.
    raw_finish_reason: str | None = None


class ChatCompletion(ResponseModel):
    id: str = ""
    object: str = "chat.completion"
    created: int = 0
    model: str = ""
    choices: list[Choice]
    usage: Usage | None = None
    system_fingerprint: str | None = None

    @property
    def provider_name(self) -> str | None:
        """The provider adapter that answered (set by the client; not a server field)."""
        private = self.__pydantic_private__
        return private.get("provider") if private else None

    @property
    def cost(self) -> float | None:
        """Estimated USD of this answer's tokens, from :mod:`llama_client.pricing` (set by the
        client; None when the price or the token counts are unknown)."""
        private = self.__pydantic_private__
        return private.get("cost") if private else None

    def _set_cost(self, cost: float | None) -> None:
        if cost is not None:
            self._set_private("cost", cost)

    def _set_provider(self, name: str | None) -> None:
        if name is not None:
            self._set_private("provider", name)

    def _set_private(self, key: str, value: Any) -> None:
        # Kept with the private attributes, undeclared: each declared PrivateAttr costs every
        # parse of a completion about a microsecond, whether it is ever set or not.
        if self.__pydantic_private__ is None:
            object.__setattr__(self, "__pydantic_private__", {})
        self.__pydantic_private__[key] = value  # type: ignore[index]


T = TypeVar("T")


class ParsedChatCompletionMessage(ChatCompletionMessage, Generic[T]):
    """A message whose content was validated by ``parse()``: ``parsed`` holds the result."""

    parsed: T | None = None


class ParsedChoice(Choice, Generic[T]):
    message: ParsedChatCompletionMessage[T]


class ParsedChatCompletion(ChatCompletion, Generic[T]):
    """What ``chat.completions.parse()`` returns: ``choices[i].message.parsed`` is typed."""

    choices: list[ParsedChoice[T]]  # type: ignore[assignment]


class ChoiceDeltaFunction(ResponseModel):
    name: str | None = None
    arguments: str | None = None

    @field_validator("arguments", mode="before")
    @classmethod
    def _arguments_as_text(cls, value: object) -> object:
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)
        return value


class ChoiceDeltaToolCall(ResponseModel):
    index: int | None = None
    id: str | None = None
    type: str | None = None
    function: ChoiceDeltaFunction | None = None


class ChoiceDelta(ResponseModel):
    role: str | None = None
    content: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None


class ChunkChoice(ResponseModel):
    index: int = 0
    delta: ChoiceDelta = Field(
        default_factory=ChoiceDelta
    )  # not an instance: would build the schema at import
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None
    stop_reason: str | int | None = None


class ChatCompletionChunk(ResponseModel):
    """One streamed chunk. A usage-only chunk has ``choices == []``."""

    id: str = ""
    object: str = "chat.completion.chunk"
    created: int = 0
    model: str = ""
    choices: list[ChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None


def add_usage(total: Usage, more: Usage) -> Usage:
    """The token counts of two replies summed (``run_tools`` and ``parse()`` over their rounds)."""
    return Usage(
        prompt_tokens=total.prompt_tokens + more.prompt_tokens,
        completion_tokens=total.completion_tokens + more.completion_tokens,
        total_tokens=total.total_tokens + more.total_tokens,
    )
