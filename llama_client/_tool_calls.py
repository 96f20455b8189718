"""Making a reply's tool calls trustworthy when tools were offered (no I/O).

:class:`ToolCallPolicy` is built once per request from ``tools=[...]`` and applied to the
ChatCompletion (non-streamed, or accumulated from a stream):

- calls naming a tool that was not offered are moved to ``message.rejected_tool_calls``
  (vLLM's streamed ``auto`` calls can carry a string from the output as the name);
- when no tool call came back, a call written as text in ``content`` (see
  :mod:`llama_client.llama_format`) becomes ``tool_calls``; ``finish_reason`` becomes
  ``"tool_calls"``, and the server's values stay in ``raw_finish_reason`` and ``raw_content``.

:class:`TextHoldBack` keeps streamed text that starts like a tool call out of ``text_stream``
until the stream has ended and it is known whether it was one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from .errors import InvalidRequestError, RequestRefusedError
from .llama_format import call_markers, extract_tool_calls, starts_like_call
from .tools import ToolSet
from .types.chat import ChatCompletion, FunctionCall, ToolCall

__all__ = [
    "TextHoldBack",
    "ToolCallPolicy",
    "new_tool_call_id",
    "prepare_tool_params",
    "text_was_call",
]


def new_tool_call_id() -> str:
    """An id for a tool call the server sent without one (or wrote as text)."""
    return f"call_{uuid.uuid4().hex[:24]}"


def text_was_call(completion: ChatCompletion) -> bool:
    """True when choice 0's content was turned into tool calls by the policy."""
    return bool(completion.choices) and completion.choices[0].message.raw_content is not None


class ToolCallPolicy:
    """What to do with the tool calls of a reply to a request that offered ``tools``."""

    __slots__ = ("parse_text", "tools")

    def __init__(self, tools: ToolSet, parse_text: bool = True) -> None:
        self.tools = tools
        self.parse_text = parse_text

    def apply(self, completion: ChatCompletion) -> ChatCompletion:
        """Validate and complete the tool calls of every choice, in place; returns it."""
        names = self.tools.names
        for choice in completion.choices:
            message = choice.message
            if message.tool_calls:
                offered = [c for c in message.tool_calls if c.function.name in names]
                rejected = [c for c in message.tool_calls if c.function.name not in names]
                if rejected:
                    message.rejected_tool_calls = rejected
                    message.tool_calls = offered or None
                    if not offered and choice.finish_reason == "tool_calls":
                        choice.raw_finish_reason = choice.raw_finish_reason or choice.finish_reason
                        choice.finish_reason = "stop"
                if offered:
                    continue
            if not self.parse_text or not message.content:
                continue
            found = extract_tool_calls(message.content, names)
            if found is None:
                continue
            message.raw_content = message.content
            message.content = found.content
            message.tool_calls = [
                ToolCall(
                    id=new_tool_call_id(),
                    type="function",
                    function=FunctionCall(name=c.name, arguments=c.arguments),
                )
                for c in found.calls
            ]
            choice.raw_finish_reason = choice.raw_finish_reason or choice.finish_reason
            choice.finish_reason = "tool_calls"
        return completion

    def holdback(self) -> TextHoldBack | None:
        """A fresh text filter for one stream, or None when text calls are not parsed."""
        return TextHoldBack(self.tools.names) if self.parse_text else None


class TextHoldBack:
    """Streamed text in, text safe to show out; text that starts like a call is held.

    ``feed`` returns what may be shown now. Once the reply is known to be plain text,
    everything passes straight through. ``release(is_call)`` at the end returns the held text
    unless it turned out to be a tool call.

    Linear in the length of the stream: deciding looks only at the first characters after
    leading whitespace (as many as the longest marker), kept apart from the held text, so no
    delta makes it re-read what came before.
    """

    __slots__ = ("_buffer", "_head", "_held", "_markers", "_probe")

    def __init__(self, names: frozenset[str]) -> None:
        self._markers = call_markers(names)
        self._probe = max(len(m) for m in self._markers)
        self._buffer: list[str] = []
        self._head = ""  # the reply so far without leading whitespace, up to _probe chars
        self._held: bool | None = None  # None: undecided; True: holding; False: passing

    def feed(self, text: str) -> str:
        if self._held is False:
            return text
        self._buffer.append(text)
        if self._held is None:
            head = self._head + text if self._head else text.lstrip()
            self._head = head[: self._probe]
            verdict = starts_like_call(self._head, self._markers)
            if verdict is None:
                return ""
            self._held = verdict
            if not verdict:
                out = "".join(self._buffer)
                self._buffer.clear()
                return out
        return ""

    def release(self, is_call: bool) -> str:
        out = "" if is_call else "".join(self._buffer)
        self._buffer.clear()
        self._held = False
        return out


def prepare_tool_params(
    params: Mapping[str, Any],
) -> tuple[Mapping[str, Any], ToolCallPolicy | None]:
    """Convert ``tools=[...]`` to dicts and take out ``parse_tool_calls``; checks before I/O.

    Returns the body parameters and the policy for the reply (None when no tools were given).
    A named ``tool_choice`` must name one of the tools.
    """
    if "tools" not in params and "parse_tool_calls" not in params:
        return params, None  # the common case: nothing to convert, nothing copied
    out = dict(params)
    parse_text = out.pop("parse_tool_calls", True)
    if not isinstance(parse_text, bool):
        raise InvalidRequestError("parse_tool_calls", "must be True or False")
    tools = out.get("tools")
    if tools is None:
        return out, None
    toolset = ToolSet.from_param(tools)
    out["tools"] = toolset.params()
    choice = out.get("tool_choice")
    if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        name = choice["function"].get("name")
        if isinstance(name, str) and name not in toolset:
            raise RequestRefusedError(
                "tool_choice",
                f"names {name!r}, which is not among the tools ({', '.join(sorted(toolset.names))})",
            )
    if not toolset:
        return out, None
    return out, ToolCallPolicy(toolset, parse_text)
