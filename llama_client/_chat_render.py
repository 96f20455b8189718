"""Llama 3.x chat templates, rendered the way each server renders them. No I/O.

A prompt's token count is the count of the text the server builds from the messages, so the
count is exact only when this text is the server's. The variants:

* ``llama3.1`` (also Llama 3.3): Meta's Hugging Face template as vLLM and TGI render it. A
  system block always opens the prompt with ``Cutting Knowledge Date: December 2023`` and
  ``Today Date: 26 Jul 2024`` (a literal date); tools go into the first user message, after
  ``Environment: ipython`` in the system block; tool results are ``ipython`` messages written
  as JSON; an assistant tool call is ``{"name": ..., "parameters": ...}``.
* ``llama3.2``: the same, but ``Today Date`` is the current date (``%d %b %Y``).
* ``llamacpp``: llama-server's Jinja path: the model's template (3.1 or 3.2) with today's
  date passed as ``date_string``.
* ``llamacpp-builtin``: llama-server without Jinja: ``<|start_header_id|>role...`` per message,
  contents trimmed, no system block and no tools.
* ``ollama-llama3.1`` / ``ollama-llama3.2``: Ollama's Go templates: a system block only with a
  system prompt or tools (3.1) or always (3.2), tools in the **last** user message, tool
  results as written.

Messages are first read as vLLM reads them: text parts joined with newlines, an assistant's
``tool_calls`` arguments parsed from their JSON string (invalid JSON: an empty object), tool
definitions reduced to ``type`` + ``function`` {``name``, ``description``, ``parameters``}.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .errors import InvalidRequestError

__all__ = ["TEMPLATES", "ChatTemplate", "render", "template_for"]

Style = Literal["meta", "plain", "ollama"]


@dataclass(frozen=True)
class ChatTemplate:
    """How one server family renders Llama 3.x chat messages into a prompt."""

    name: str
    style: Style
    #: ``Today Date`` of the system block: a fixed text, or None for the current date
    date: str | None = None
    #: Meta templates: tools in the first user message (True) or in the system block
    tools_in_user_message: bool = True
    #: Ollama: the 3.1 template (system block only when needed, ``Question: ``) or 3.2
    ollama_version: Literal["3.1", "3.2"] = "3.1"

    def today(self) -> str:
        return self.date if self.date is not None else time.strftime("%d %b %Y")


TEMPLATES: dict[str, ChatTemplate] = {
    t.name: t
    for t in (
        ChatTemplate("llama3.1", "meta", date="26 Jul 2024"),
        ChatTemplate("llama3.3", "meta", date="26 Jul 2024"),
        ChatTemplate("llama3.2", "meta"),
        ChatTemplate("llamacpp", "meta"),
        ChatTemplate("llamacpp-builtin", "plain"),
        ChatTemplate("ollama-llama3.1", "ollama", ollama_version="3.1"),
        ChatTemplate("ollama-llama3.2", "ollama", ollama_version="3.2"),
    )
}

_VERSION = re.compile(r"llama[-_ ]?v?3[.\-_p]([0-9])")


def model_version(model: str | None) -> str:
    """``"3.1"``, ``"3.2"`` or ``"3.3"`` from a model id or alias (3.1 when it does not say)."""
    if model:
        found = _VERSION.search(model.lower())
        if found and found.group(1) in ("2", "3"):
            return "3." + found.group(1)
    return "3.1"


def template_for(provider: str | None, model: str | None) -> ChatTemplate:
    """The template a provider renders a model's messages with: Ollama's Go templates,
    llama-server's Jinja path with today's date, or Meta's Hugging Face template (vLLM, TGI,
    hosted vendors)."""
    version = model_version(model)
    if provider == "ollama":
        return TEMPLATES["ollama-llama3.2" if version == "3.2" else "ollama-llama3.1"]
    if provider == "llamacpp":
        return TEMPLATES["llamacpp"]
    return TEMPLATES["llama" + version]


# -- reading messages as the server does --------------------------------------------------


def _text(where: str, content: object) -> str:
    """Message content as one string: text parts joined with newlines (vLLM's reading)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        texts: list[str] = []
        for i, part in enumerate(content):
            if hasattr(part, "model_dump"):
                part = part.model_dump(exclude_none=True)
            if isinstance(part, str):
                texts.append(part)
                continue
            if not isinstance(part, Mapping) or part.get("type") != "text":
                kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
                raise InvalidRequestError(
                    f"{where}.content[{i}]",
                    f"only text can be counted, not a {kind!r} part",
                )
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidRequestError(f"{where}.content[{i}].text", "must be a string")
            texts.append(text)
        return "\n".join(texts)
    raise InvalidRequestError(
        f"{where}.content",
        f"must be a string or a list of text parts, not {type(content).__name__}",
    )


@dataclass
class _Msg:
    role: str
    content: str
    #: (name, arguments as a dict) per call; None when the message has no tool calls
    calls: list[tuple[str, Any]] | None = None


def _arguments(raw: object) -> Any:
    if isinstance(raw, Mapping):
        return raw
    if isinstance(raw, str) and raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def read_messages(messages: Sequence[Any]) -> list[_Msg]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidRequestError("messages", "must be a list of messages")
    out: list[_Msg] = []
    for i, message in enumerate(messages):
        if type(message) is dict and type(message.get("content")) is str:
            role = message.get("role")
            if type(role) is str and role and not message.get("tool_calls"):
                out.append(_Msg(role, message["content"]))  # the common case, checked cheaply
                continue
        where = f"messages[{i}]"
        if hasattr(message, "model_dump"):
            message = message.model_dump(mode="json", exclude_none=True)
        if not isinstance(message, Mapping):
            raise InvalidRequestError(where, f"must be a dict, not {type(message).__name__}")
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise InvalidRequestError(f"{where}.role", "must be a non-empty string")
        msg = _Msg(role, _text(where, message.get("content")))
        tool_calls = message.get("tool_calls")
        if role == "assistant" and tool_calls:
            calls: list[tuple[str, Any]] = []
            for j, call in enumerate(tool_calls):
                if hasattr(call, "model_dump"):
                    call = call.model_dump(exclude_none=True)
                fn = call.get("function") if isinstance(call, Mapping) else None
                if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
                    raise InvalidRequestError(
                        f"{where}.tool_calls[{j}]", 'must be {"function": {"name": ..., ...}}'
                    )
                calls.append((fn["name"], _arguments(fn.get("arguments"))))
            msg.calls = calls
        out.append(msg)
    return out


def read_tools(tools: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    """Tool definitions as vLLM hands them to the template (``ChatCompletionToolsParam``)."""
    if tools is None:
        return None
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if hasattr(tool, "to_openai"):
            tool = tool.to_openai()
        elif hasattr(tool, "model_dump"):
            tool = tool.model_dump(exclude_none=True)
        fn = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
            raise InvalidRequestError(
                f"tools[{i}]", 'must be {"type": "function", "function": {"name": ..., ...}}'
            )
        function: dict[str, Any] = {
            "name": fn["name"],
            "description": fn.get("description"),
            "parameters": fn.get("parameters"),
        }
        if fn.get("strict") is not None:
            function["strict"] = fn["strict"]
        out.append({"type": "function", "function": function})
    return out


# -- the templates -------------------------------------------------------------------------

_H = "<|start_header_id|>"
_E = "<|end_header_id|>\n\n"
_EOT = "<|eot_id|>"
_BOS = "<|begin_of_text|>"
_CALL_FORMAT = (
    'Respond in the format {"name": function name, "parameters": dictionary of argument name '
    "and its value}.Do not use variables.\n\n"
)
_TOOLS_IN_USER = (
    "Given the following functions, please respond with a JSON for a function call with its "
    "proper arguments that best answers the given prompt.\n\n"
)
_TOOLS_IN_SYSTEM = (
    "You have access to the following functions. To call a function, please respond with JSON "
    "for a function call."
)


def _tojson(value: Any, indent: int | None = None) -> str:
    # transformers' tojson: json.dumps, non-ASCII kept, keys in the order given
    return json.dumps(value, ensure_ascii=False, indent=indent)


#: Tool definitions as the template writes them (``tojson(indent=4)``), by their compact JSON:
#: the same tools come with every call, and indented JSON is written by Python code (slow)
#: where compact JSON is written in C.
_TOOL_JSON: dict[str, str] = {}
_TOOL_JSON_MAX = 512


def _tool_json(tool: dict[str, Any]) -> str:
    key = json.dumps(tool, ensure_ascii=False, separators=(",", ":"))
    text = _TOOL_JSON.get(key)
    if text is None:
        text = json.dumps(tool, ensure_ascii=False, indent=4)
        if len(_TOOL_JSON) >= _TOOL_JSON_MAX or len(key) > 100_000:
            _TOOL_JSON.clear()
        _TOOL_JSON[key] = text
    return text


def _render_meta(msgs: list[_Msg], tools: list[dict[str, Any]] | None, t: ChatTemplate) -> str:
    out = [_BOS]
    system = ""
    if msgs and msgs[0].role == "system":
        system = msgs[0].content.strip()
        msgs = msgs[1:]
    out.append(_H + "system" + _E)
    if tools is not None:
        out.append("Environment: ipython\n")
    out.append("Cutting Knowledge Date: December 2023\nToday Date: " + t.today() + "\n\n")
    if tools is not None and not t.tools_in_user_message:
        out.append(_TOOLS_IN_SYSTEM + _CALL_FORMAT)
        out.extend(_tool_json(tool) + "\n\n" for tool in tools)
    out.append(system + _EOT)
    if tools is not None and t.tools_in_user_message:
        if not msgs:
            raise InvalidRequestError(
                "messages",
                "with tools, this chat template needs a user message to put them in",
            )
        first = msgs[0].content.strip()
        msgs = msgs[1:]
        out.append(_H + "user" + _E + _TOOLS_IN_USER + _CALL_FORMAT)
        out.extend(_tool_json(tool) + "\n\n" for tool in tools)
        out.append(first + _EOT)
    for i, m in enumerate(msgs):
        if m.role in ("tool", "ipython"):
            out.append(_H + "ipython" + _E + _tojson(m.content) + _EOT)
        elif m.calls is not None:
            if len(m.calls) != 1:
                raise InvalidRequestError(
                    f"messages[{i}].tool_calls",
                    "this chat template takes one tool call per assistant message (the server "
                    "answers 400); split the calls (run_tools(split_tool_calls=True) does)",
                )
            name, args = m.calls[0]
            out.append(
                _H
                + "assistant"
                + _E
                + '{"name": "'
                + name
                + '", "parameters": '
                + _tojson(args)
                + "}"
                + _EOT
            )
        else:
            out.append(_H + m.role + _E + m.content.strip() + _EOT)
    out.append(_H + "assistant" + _E)
    return "".join(out)


def _render_plain(msgs: list[_Msg]) -> str:
    ws = " \t\n\r\v\f"  # C isspace(): what llama.cpp's trim removes
    parts = [_BOS]
    parts.extend(_H + m.role + _E + m.content.strip(ws) + _EOT for m in msgs)
    parts.append(_H + "assistant" + _E)
    return "".join(parts)


def _go_json(value: Any, *, sort: bool) -> str:
    """``json.Marshal`` as Go writes it: compact, ``<``, ``>`` and ``&`` escaped."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _render_ollama(msgs: list[_Msg], tools: list[dict[str, Any]] | None, t: ChatTemplate) -> str:
    # Ollama merges consecutive messages of one role and collects the system messages.
    merged: list[_Msg] = []
    systems: list[str] = []
    for m in msgs:
        role = "tool" if m.role == "ipython" else m.role
        if role == "system":
            systems.append(m.content)
        if merged and merged[-1].role == role:
            merged[-1] = _Msg(role, merged[-1].content + "\n\n" + m.content, merged[-1].calls)
        else:
            merged.append(_Msg(role, m.content, m.calls))
    system = "\n\n".join(systems)
    out = [_BOS]
    has_tools = bool(tools)
    if t.ollama_version == "3.1":
        if system or has_tools:
            out.append(_H + "system<|end_header_id|>")
            if system:
                out.append("\n\n" + system)
            if has_tools:
                out.append(
                    "\n\nCutting Knowledge Date: December 2023\n\nWhen you receive a tool call "
                    "response, use the output to format an answer to the orginal user question."
                    "\n\nYou are a helpful assistant with tool calling capabilities."
                )
            out.append(_EOT)
    else:
        out.append(_H + "system" + _E + "Cutting Knowledge Date: December 2023\n\n")
        if system:
            out.append(system)
        if has_tools:
            out.append(
                "When you receive a tool call response, use the output to format an answer to "
                "the orginal user question.\n\nYou are a helpful assistant with tool calling "
                "capabilities."
            )
        out.append(_EOT)
    gen = _H + "assistant" + _E
    for i, m in enumerate(merged):
        last = i == len(merged) - 1
        if m.role == "user":
            out.append(_H + "user<|end_header_id|>")
            if has_tools and last:
                assert tools is not None
                out.append("\n\n" + _TOOLS_IN_USER)
                out.append(
                    'Respond in the format {"name": function name, "parameters": dictionary of '
                    "argument name and its value}. Do not use variables.\n\n"
                )
                out.extend(_go_json(tool, sort=False) + "\n" for tool in tools)
                out.append(("\nQuestion: " if t.ollama_version == "3.1" else "\n") + m.content)
                out.append(_EOT)
            else:
                out.append("\n\n" + m.content + _EOT)
            if last:
                out.append(gen)
        elif m.role == "assistant":
            out.append(_H + "assistant<|end_header_id|>")
            if m.calls:
                out.append("\n")
                out.extend(
                    '\n{"name": "' + name + '", "parameters": ' + _go_json(args, sort=True) + "}"
                    for name, args in m.calls
                )
            else:
                out.append("\n\n" + m.content)
            if not last:
                out.append(_EOT)
        elif m.role == "tool":
            out.append(_H + "ipython" + _E + m.content + _EOT)
            if last:
                out.append(gen)
    return "".join(out)


def render(messages: Sequence[Any], tools: Sequence[Any] | None, template: ChatTemplate) -> str:
    """The prompt text ``template`` makes of ``messages`` and ``tools``, with the open
    assistant header at the end (what a chat completion continues)."""
    msgs = read_messages(messages)
    if template.style == "plain":
        return _render_plain(msgs)
    defs = read_tools(tools)
    if template.style == "ollama":
        return _render_ollama(msgs, defs, template)
    return _render_meta(msgs, defs, template)
