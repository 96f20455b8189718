"""Llama 3.x native tool-call text: finding tool calls a server left in ``content``.

Servers started without a tool parser (or whose parser gave up) hand back the model's tool
call as plain text. :func:`extract_tool_calls` recognises every shape Llama 3.x models are
known to write, anywhere in the text:

- JSON objects ``{"name": ..., "parameters": {...}}``, with ``"arguments"`` instead of
  ``"parameters"``, with ``"type": "function"``, or nested as ``{"function": {...}}``;
  arguments as an object or as a JSON string; several calls separated by ``;``, commas or
  newlines, or given as a JSON list; inside Markdown fences;
- the tag form ``<function=name>{...}</function>``;
- the Llama 3.2 / 3.3 pythonic list ``[f(a=1, b="x"), g()]`` (also a single bare call
  ``f(a=1)`` when it is the whole reply); values must be literals, read with :mod:`ast`
  (never evaluated);
- built-in tools ``brave_search.call(query="...")`` and ``wolfram_alpha.call(...)``;
- an optional ``<|python_tag|>`` in front, and ``<|eom_id|>`` / ``<|eot_id|>`` left at the end.
  A reply that starts with ``<|python_tag|>`` and matches nothing else is code for
  ``code_interpreter`` (as Meta's own parser reads it), if that tool was offered.

Only names of offered tools become calls; everything else stays content. The functions here
are pure and never raise: any text, however broken, gives either calls or ``None``.
(Facts: ``llama-native.md`` §3 and §5.4.)
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CODE_INTERPRETER",
    "PYTHON_TAG",
    "ExtractedToolCalls",
    "TextToolCall",
    "could_start_tool_call",
    "extract_tool_calls",
]

PYTHON_TAG = "<|python_tag|>"
CODE_INTERPRETER = "code_interpreter"
_END_TOKENS = ("<|eom_id|>", "<|eot_id|>")
# Where a call may begin: a JSON object or list, the function tag, or a name followed by "(".
_START = re.compile(r"[{\[]|<function=|(?<![\w.])[A-Za-z_]\w*(?:\.call)?\s*\(")
_FUNCTION_TAG = re.compile(r"<function=([^>\s]+)>\s*")
_FUNCTION_END = re.compile(r"\s*</function>")
_PYTHONIC_LIST = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(")
_FENCE = re.compile(r"```[A-Za-z]*")
# Text between calls that is nothing but punctuation, tags and fences.
_FILLER = re.compile(r"(?:\s|[;,]|```[A-Za-z]*|<\|python_tag\|>|<\|eom_id\|>|<\|eot_id\|>)*")
# How many closing brackets to try for one candidate before giving up (bounds the work).
_MAX_CLOSE_TRIES = 64
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class TextToolCall:
    """One call found in text: the tool's name and its arguments as a JSON object text."""

    name: str
    arguments: str


@dataclass(frozen=True)
class ExtractedToolCalls:
    """What :func:`extract_tool_calls` found: the calls, and the text around them (or None)."""

    calls: tuple[TextToolCall, ...]
    content: str | None


def extract_tool_calls(text: str, tool_names: Collection[str]) -> ExtractedToolCalls | None:
    """Tool calls to the offered ``tool_names`` written as text in ``text``, or None.

    ``content`` of the result is whatever text is left once the calls (and the separators,
    tags and fences around them) are taken out, or None when nothing is left.
    """
    try:
        return _extract(text, tool_names)
    except (RecursionError, MemoryError, ValueError, TypeError, SyntaxError, OverflowError):
        # Pathological nesting or sizes: no call is better than an exception on a reply.
        return None


def could_start_tool_call(text: str, tool_names: Collection[str]) -> bool | None:
    """Whether a reply beginning with ``text`` may be a tool call written as text.

    True: it starts like one; False: it cannot be one; None: too short to tell yet. Used to
    hold streamed text back until the call has been recognised.
    """
    head = text.lstrip()
    if not head:
        return None
    markers = ["{", "[", "<function=", PYTHON_TAG, "```"]
    for name in tool_names:
        markers.append(name + "(")
        markers.append(name + ".call(")
    undecided = False
    for marker in markers:
        if head.startswith(marker):
            return True
        if marker.startswith(head):
            undecided = True
    return None if undecided else False


# --------------------------------------------------------------------------- implementation


def _extract(text: str, tool_names: Collection[str]) -> ExtractedToolCalls | None:
    if not isinstance(text, str) or not tool_names:
        return None
    names = frozenset(tool_names)
    calls: list[TextToolCall] = []
    rest: list[str] = []  # text outside calls
    pos = 0
    cursor = 0
    n = len(text)
    while cursor < n:
        match = _START.search(text, cursor)
        if match is None:
            break
        start = match.start()
        found = _call_at(text, start, match.group(0), names)
        if found is None:
            # A JSON value that is not a call is content as a whole: skip past it so that a
            # call-shaped object nested inside prose JSON is not taken for a call.
            cursor = _skip_json(text, start) if match.group(0) in "{[" else start + 1
            continue
        new_calls, end = found
        rest.append(text[pos:start])
        calls.extend(new_calls)
        pos = cursor = end
    rest.append(text[pos:])
    if not calls:
        return _code_interpreter(text, names)
    pieces = [p for p in rest if not _FILLER.fullmatch(p)]
    content = _clean("".join(pieces)) if pieces else ""
    return ExtractedToolCalls(tuple(calls), content or None)


def _clean(text: str) -> str:
    text = text.replace(PYTHON_TAG, "")
    for token in _END_TOKENS:
        text = text.replace(token, "")
    return _FENCE.sub("", text).strip()


def _code_interpreter(text: str, names: frozenset[str]) -> ExtractedToolCalls | None:
    if CODE_INTERPRETER not in names:
        return None
    stripped = text.lstrip()
    if not stripped.startswith(PYTHON_TAG):
        return None
    code = stripped[len(PYTHON_TAG) :]
    for token in _END_TOKENS:
        code = code.replace(token, "")
    code = code.strip()
    if not code or _looks_like_json_call(code):
        return None
    args = json.dumps({"code": code}, ensure_ascii=False)
    return ExtractedToolCalls((TextToolCall(CODE_INTERPRETER, args),), None)


def _looks_like_json_call(text: str) -> bool:
    # A call to a tool that was not offered is not code.
    try:
        value, _ = _DECODER.raw_decode(text)
    except ValueError:
        return False
    items = value if isinstance(value, list) else [value]
    return any(isinstance(v, dict) and ("name" in v or "function" in v) for v in items)


def _skip_json(text: str, start: int) -> int:
    try:
        _, end = _DECODER.raw_decode(text, start)
    except ValueError:
        return start + 1
    return end


def _call_at(
    text: str, start: int, marker: str, names: frozenset[str]
) -> tuple[list[TextToolCall], int] | None:
    if marker == "{":
        return _json_at(text, start, names)
    if marker == "[":
        return _json_at(text, start, names) or _pythonic_list_at(text, start, names)
    if marker == "<function=":
        return _function_tag_at(text, start, names)
    return _bare_call_at(text, start, names)


# -- JSON ---------------------------------------------------------------------------------


def _json_at(text: str, start: int, names: frozenset[str]) -> tuple[list[TextToolCall], int] | None:
    try:
        value, end = _DECODER.raw_decode(text, start)
    except ValueError:
        return None
    items = value if isinstance(value, list) else [value]
    if not items:
        return None
    calls = []
    for item in items:
        call = _json_call(item, names)
        if call is None:
            return None
        calls.append(call)
    return calls, end


def _json_call(value: object, names: frozenset[str]) -> TextToolCall | None:
    if not isinstance(value, dict):
        return None
    inner = value.get("function")
    if isinstance(inner, dict) and "name" not in value:
        value = inner
    name = value.get("name")
    if not isinstance(name, str) or name not in names:
        return None
    if "parameters" in value:
        args = value["parameters"]
    elif "arguments" in value:
        args = value["arguments"]
    else:
        return None
    return _make_call(name, args)


def _make_call(name: str, args: object) -> TextToolCall | None:
    if args is None:
        args = {}
    elif isinstance(args, str):
        # Arguments as a JSON string (OpenAI style), or an empty string meaning none.
        if not args.strip():
            args = {}
        else:
            try:
                args = json.loads(args)
            except ValueError:
                return None
    if not isinstance(args, dict):
        return None
    try:
        encoded = json.dumps(args, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return None
    return TextToolCall(name, encoded)


# -- <function=name>{...}</function> -----------------------------------------------------------


def _function_tag_at(
    text: str, start: int, names: frozenset[str]
) -> tuple[list[TextToolCall], int] | None:
    tag = _FUNCTION_TAG.match(text, start)
    if tag is None or tag.group(1) not in names:
        return None
    try:
        args, end = _DECODER.raw_decode(text, tag.end())
    except ValueError:
        return None
    call = _make_call(tag.group(1), args)
    if call is None:
        return None
    close = _FUNCTION_END.match(text, end)
    return [call], close.end() if close else end


# -- pythonic and built-in calls -----------------------------------------------------------


def _pythonic_list_at(
    text: str, start: int, names: frozenset[str]
) -> tuple[list[TextToolCall], int] | None:
    if not _PYTHONIC_LIST.match(text, start):
        return None
    for end in _closing_positions(text, start, "]"):
        node = _parse_expression(text[start:end])
        if not isinstance(node, ast.List):
            continue
        calls = []
        for element in node.elts:
            call = _ast_call(element, names)
            if call is None:
                return None
            calls.append(call)
        return (calls, end) if calls else None
    return None


def _bare_call_at(
    text: str, start: int, names: frozenset[str]
) -> tuple[list[TextToolCall], int] | None:
    head = text[start : text.index("(", start)].strip()
    builtin = head.endswith(".call")
    name = head[: -len(".call")] if builtin else head
    if name not in names:
        return None
    if not builtin and text[:start].strip() not in ("", PYTHON_TAG):
        # A plain ``f(...)`` is only a call when it is the whole reply; in prose it is prose.
        return None
    for end in _closing_positions(text, start, ")"):
        node = _parse_expression(text[start:end])
        if not isinstance(node, ast.Call):
            continue
        call = _ast_call(node, names)
        if call is None:
            return None
        if not builtin and text[end:].strip() not in ("", *_END_TOKENS):
            return None
        return [call], end
    return None


def _closing_positions(text: str, start: int, close: str) -> list[int]:
    out: list[int] = []
    i = text.find(close, start)
    while i != -1 and len(out) < _MAX_CLOSE_TRIES:
        out.append(i + 1)
        i = text.find(close, i + 1)
    return out


def _parse_expression(source: str) -> ast.expr | None:
    try:
        return ast.parse(source, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None


def _ast_call(node: ast.expr, names: frozenset[str]) -> TextToolCall | None:
    if not isinstance(node, ast.Call) or node.args:
        return None
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "call" and isinstance(func.value, ast.Name):
        name = func.value.id  # brave_search.call(query="...")
    elif isinstance(func, ast.Name):
        name = func.id
    else:
        return None
    if name not in names:
        return None
    args: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:  # **kwargs
            return None
        ok, value = _literal(keyword.value)
        if not ok:
            return None
        args[keyword.arg] = value
    return _make_call(name, args)


_JSON_NAMES = {"true": True, "false": False, "null": None}


def _literal(node: ast.expr) -> tuple[bool, object]:
    """A JSON-compatible value from a literal expression; (False, None) for anything else."""
    if isinstance(node, ast.Constant):
        constant = node.value
        if constant is None or isinstance(constant, (str, bool, int, float)):
            return True, constant
        return False, None
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        # Models often write JSON's true/false/null inside pythonic calls.
        return True, _JSON_NAMES[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        ok, number = _literal(node.operand)
        if ok and isinstance(number, (int, float)) and not isinstance(number, bool):
            return True, -number if isinstance(node.op, ast.USub) else number
        return False, None
    if isinstance(node, (ast.List, ast.Tuple)):
        items: list[object] = []
        for element in node.elts:
            ok, item = _literal(element)
            if not ok:
                return False, None
            items.append(item)
        return True, items
    if isinstance(node, ast.Dict):
        out: dict[str, object] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is None:
                return False, None
            ok_key, key = _literal(key_node)
            ok_value, value = _literal(value_node)
            if not (ok_key and ok_value and isinstance(key, str)):
                return False, None
            out[key] = value
        return True, out
    return False, None
