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
(Facts: Meta's Llama 3.1 / 3.2 / 3.3 prompt-format documentation and its reference parser.)

Cost: linear in the length of the text, whatever the model wrote. No candidate may re-read
the rest of the reply:

- where the JSON value or bracketed expression of a candidate ends is found by the
  scanners of :mod:`llama_client._spans`, which remember every bracket they passed, so that
  ``{"`` or ``brave_search.call(`` written 100,000 times is read once, not once per
  candidate;
- :mod:`json` decodes only text known to be one complete value, and a JSON value that is
  not a call is skipped as a whole. The first :data:`JSON_FAST_ATTEMPTS` JSON candidates
  are decoded directly, which keeps the usual reply (one call) at C speed;
- :func:`ast.parse` reads a candidate's expression once; a pythonic call nested inside an
  expression it refused is read again only while :data:`PYTHONIC_REREAD_BUDGET` characters
  per character of text last (a JSON call in there is found regardless);
- the pythonic scanner stops after :data:`PYTHONIC_SCAN_BUDGET` characters per character
  of text (contrived texts with every Python quote kind could
  otherwise make it repeat itself); pythonic calls left when it is spent stay content;
- a function tag's name is read no further than the longest offered name.

A value nested deeper than the decoders allow is not a call (it stays content) and costs
no more than its length; a real call after it, or after any other garbage, is still found.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, TypeAlias

from ._spans import (
    PYTHONIC_SCAN_BUDGET,
    JsonSpans,
    PythonSpans,
    json_scalar_end,
    json_string_end,
    skip_json_space,
)

__all__ = [
    "CODE_INTERPRETER",
    "JSON_FAST_ATTEMPTS",
    "PYTHONIC_REREAD_BUDGET",
    "PYTHONIC_SCAN_BUDGET",
    "PYTHON_TAG",
    "ExtractedToolCalls",
    "TextToolCall",
    "could_start_tool_call",
    "extract_tool_calls",
]

PYTHON_TAG = "<|python_tag|>"
CODE_INTERPRETER = "code_interpreter"
#: How many JSON candidates of one text are decoded directly with :mod:`json` (each attempt
#: may read to the end of the text once) before the linear scanner takes over.
JSON_FAST_ATTEMPTS = 16
#: :func:`ast.parse` reads each character once, plus at most this many characters per
#: character of text for pythonic calls nested inside an expression it already refused.
PYTHONIC_REREAD_BUDGET = 4
_REREAD_SLACK = 4096

_END_TOKENS = ("<|eom_id|>", "<|eot_id|>")
# What may open a candidate: a JSON value or pythonic list, "(" after an offered name, or
# "<function=". (One character class: the fastest search there is.)
_MARK = re.compile(r"[{\[(<]")
_PYTHONIC_LIST = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\(")
_FUNCTION_TAG = re.compile(r"<function=([^>\s]+)>")
_FUNCTION_END = re.compile(r"\s*</function>")
_SPACE = re.compile(r"\s+")
_FENCE = re.compile(r"```[A-Za-z]*")
# What text between calls may not contain, once its tags and fences are taken out.
_NOT_FILLER = re.compile(r"[^\s;,]")
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
    tags and fences around them) are taken out, or None when nothing is left. Linear in
    ``len(text)`` (see the module docstring).
    """
    try:
        return _extract(text, tool_names)
    except (RecursionError, MemoryError, ValueError, TypeError, SyntaxError, OverflowError):
        # A last resort: the deep and huge inputs known are handled where they occur.
        return None


def could_start_tool_call(text: str, tool_names: Collection[str]) -> bool | None:
    """Whether a reply beginning with ``text`` may be a tool call written as text.

    True: it starts like one; False: it cannot be one; None: too short to tell yet. Used to
    hold streamed text back until the call has been recognised.
    """
    return starts_like_call(text.lstrip(), call_markers(tool_names))


def call_markers(tool_names: Collection[str]) -> tuple[str, ...]:
    """What a reply that is a tool call written as text may begin with."""
    markers = ["{", "[", "<function=", PYTHON_TAG, "```"]
    for name in tool_names:
        markers.append(name + "(")
        markers.append(name + ".call(")
    return tuple(markers)


def starts_like_call(head: str, markers: tuple[str, ...]) -> bool | None:
    """:func:`could_start_tool_call` for a ``head`` without leading whitespace.

    Decided (True or False) once ``head`` is as long as the longest marker.
    """
    if not head:
        return None
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
    names = frozenset(n for n in tool_names if isinstance(n, str) and n)
    if not names:
        return None
    scan = _Scanner(text, names)
    calls: list[TextToolCall] = []
    rest: list[str] = []  # text outside calls
    pos = 0
    cursor = 0
    n = len(text)
    while cursor < n:
        mark = _MARK.search(text, cursor)
        if mark is None:
            break
        start, found, after = scan.candidate(mark.start(), cursor)
        if found is None:
            # Not a call. A JSON value that is not a call is content as a whole (so that a
            # call-shaped object nested inside prose JSON is not taken for a call).
            cursor = after
            continue
        rest.append(text[pos:start])
        calls.extend(found)
        pos = cursor = after
    rest.append(text[pos:])
    if not calls:
        return _code_interpreter(text, names)
    pieces = [p for p in rest if not _is_filler(p)]
    content = _clean("".join(pieces)) if pieces else ""
    return ExtractedToolCalls(tuple(calls), content or None)


def _is_filler(text: str) -> bool:
    """Nothing but whitespace, separators (``;`` ``,``), tags and fences."""
    for token in (PYTHON_TAG, *_END_TOKENS):
        text = text.replace(token, " ")
    return _NOT_FILLER.search(_FENCE.sub(" ", text)) is None


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
    # A call to a tool that was not offered is not code. One decode at position 0: linear.
    try:
        value, _ = _DECODER.raw_decode(text)
    except (ValueError, RecursionError):
        return False
    items = value if isinstance(value, list) else [value]
    return any(isinstance(v, dict) and ("name" in v or "function" in v) for v in items)


#: What a candidate gave: where it starts, its calls (None: not a call), where to go on.
Found: TypeAlias = "tuple[int, list[TextToolCall] | None, int]"


def _may_open_json(text: str, at: int) -> bool:
    """Whether a JSON object or list that is not empty may start at ``at``: a first key, its
    colon and the start of its value; or a first value and what follows it. (An empty one
    holds nothing to skip.) Reads no further than that, and keeps "{{{{" or "[1[1" from
    becoming a million candidates."""
    pos = skip_json_space(text, at + 1)
    if text[at] == "{":
        if not text.startswith('"', pos):
            return False
        end = json_string_end(text, pos)
        if end < 0:
            return False
        pos = skip_json_space(text, end)
        if not text.startswith(":", pos):
            return False
        pos = skip_json_space(text, pos + 1)
        close = "}"
    else:
        close = "]"
        if text.startswith("{", pos):
            return text.startswith(('"', "}"), skip_json_space(text, pos + 1))
    if text.startswith(("[", "{"), pos):
        return True
    end = json_scalar_end(text, pos)
    return end >= 0 and text.startswith((",", close), skip_json_space(text, end))


def _skip_space(text: str, pos: int = 0) -> int:
    space = _SPACE.match(text, pos)
    return space.end() if space else pos


def _is_name_char(char: str) -> bool:
    return char.isalnum() or char == "_" or char == "."


class _Scanner:
    """The candidates of one text: what each one is, and where to go on from it."""

    __slots__ = (
        "_bare_starts",
        "_fast",
        "_json",
        "_name_limit",
        "_py",
        "_py_read",
        "_reread",
        "names",
        "text",
    )

    def __init__(self, text: str, names: frozenset[str]) -> None:
        self.text = text
        self.names = names
        self._json: JsonSpans | None = None  # made on first use
        self._py: PythonSpans | None = None
        self._fast = JSON_FAST_ATTEMPTS
        self._name_limit = max(len(name) for name in names)
        # Pythonic candidates before this position lie inside an expression ast.parse has
        # already read and refused (a JSON call in it is found all the same); they are read
        # again only while the re-read budget lasts.
        self._py_read = -1
        self._reread = PYTHONIC_REREAD_BUDGET * len(text) + _REREAD_SLACK
        # A plain ``f(...)`` is a call only when it is the whole reply (after an optional
        # <|python_tag|>); in prose it is prose.
        lead = _skip_space(text)
        self._bare_starts = {lead}
        if text.startswith(PYTHON_TAG, lead):
            self._bare_starts.add(_skip_space(text, lead + len(PYTHON_TAG)))

    def candidate(self, at: int, cursor: int) -> Found:
        """The candidate marked at ``at`` (never before ``cursor``)."""
        char = self.text[at]
        # While direct decoding lasts, it is the cheapest test of a JSON candidate.
        if char == "{":
            if self._fast <= 0 and not _may_open_json(self.text, at):
                return at, None, at + 1
            return self._json_at(at)
        if char == "[":
            if self._fast > 0 or _may_open_json(self.text, at):
                found = self._json_at(at)
                if found[1] is not None or found[2] > at + 1:
                    return found  # calls, a whole value, or a run of failed brackets
            return self._pythonic_list_at(at)
        if char == "(":
            return self._call_at(at, cursor)
        return self._function_tag_at(at)  # "<"

    # -- JSON -------------------------------------------------------------------------------

    def _decode(self, start: int) -> tuple[bool, object, int]:
        """``(True, value, end)``; ``(False, None, end)`` for a complete value that cannot
        be decoded (too deep, too large); ``(False, None, -1)`` when none starts here."""
        text = self.text
        if self._fast > 0:
            self._fast -= 1
            try:
                value, end = _DECODER.raw_decode(text, start)
            except json.JSONDecodeError:
                return False, None, -1
            except (RecursionError, ValueError):
                pass  # too deep or too large: let the scanner say where it ends
            else:
                return True, value, end
        if self._json is None:
            self._json = JsonSpans(text)
        end = self._json.end(start)
        if end < 0:
            return False, None, -1
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except (RecursionError, ValueError):
            return False, None, end
        return True, value, end

    def _json_at(self, start: int) -> Found:
        ok, value, end = self._decode(start)
        if end < 0:
            # Not JSON. Pass a run of brackets known to fail as well ("[[[[...") at once,
            # up to the last one, which may still open a pythonic list.
            if self._json is not None and self.text.startswith(("[", "{"), start + 1):
                return start, None, max(self._json.failed_run(start), start + 1)
            return start, None, start + 1
        if not ok:
            return start, None, end  # complete but too deep or too large: content
        items = value if isinstance(value, list) else [value]
        calls = []
        for item in items:
            call = _json_call(item, self.names)
            if call is None:
                return start, None, end
            calls.append(call)
        return start, calls or None, end

    # -- <function=name>{...}</function> -------------------------------------------------------

    def _function_tag_at(self, start: int) -> Found:
        text = self.text
        if not text.startswith("<function=", start):
            return start, None, start + 1
        # The name is at most as long as the longest offered one: never read further.
        limit = min(start + len("<function=") + self._name_limit + 1, len(text))
        tag = _FUNCTION_TAG.match(text, start, limit)
        if tag is None or tag.group(1) not in self.names:
            return start, None, start + 1
        at = _skip_space(text, tag.end())
        if text.startswith("{", at):
            ok, args, end = self._decode(at)
            if not ok:
                return start, None, start + 1
        else:
            # Arguments as a JSON string holding the object, or null for none.
            end = json_scalar_end(text, at) if text.startswith(('"', "null"), at) else -1
            if end < 0:
                return start, None, start + 1
            args = json.loads(text[at:end])
        call = _make_call(tag.group(1), args)
        if call is None:
            return start, None, start + 1
        close = _FUNCTION_END.match(text, end)
        return start, [call], close.end() if close else end

    # -- pythonic and built-in calls ---------------------------------------------------------

    def _python_end(self, start: int) -> int:
        if self._py is None:
            self._py = PythonSpans(self.text)
        return self._py.end(start)

    def _parse_python(self, start: int, end: int) -> ast.expr | None:
        """``ast.parse`` of ``text[start:end]``, unless that would re-read refused text past
        the budget (then None, as for text that is not an expression)."""
        if start < self._py_read:
            if self._reread < end - start:
                return None
            self._reread -= end - start
        return _parse_expression(self.text[start:end])

    def _refused(self, end: int) -> None:
        self._py_read = max(self._py_read, end)

    def _pythonic_list_at(self, start: int) -> Found:
        if not _PYTHONIC_LIST.match(self.text, start):
            return start, None, start + 1
        end = self._python_end(start)
        if end < 0:
            return start, None, start + 1
        node = self._parse_python(start, end)
        if isinstance(node, ast.List) and node.elts:
            calls = [_ast_call(element, self.names) for element in node.elts]
            if all(calls):
                return start, [c for c in calls if c is not None], end
        self._refused(end)
        return start, None, start + 1

    def _call_at(self, paren: int, cursor: int) -> Found:
        """``name(...)`` or ``name.call(...)`` with the "(" at ``paren``."""
        text = self.text
        # Read back over spaces and the name; no further than the longest offered name.
        head_end = paren
        while head_end > cursor and text[head_end - 1].isspace():
            head_end -= 1
        start = head_end
        floor = max(cursor, head_end - self._name_limit - len(".call"))
        while start > floor and _is_name_char(text[start - 1]):
            start -= 1
        if start == head_end or (start > 0 and _is_name_char(text[start - 1])):
            return paren, None, paren + 1  # no name, or one longer than any offered
        head = text[start:head_end]
        builtin = head.endswith(".call")
        name = head[: -len(".call")] if builtin else head
        if (
            name not in self.names
            or "." in name
            or not (name[0].isascii() and (name[0].isalpha() or name[0] == "_"))
            or not (builtin or start in self._bare_starts)
        ):
            return paren, None, paren + 1
        end = self._python_end(paren)
        if end < 0:
            return paren, None, paren + 1
        node = self._parse_python(start, end)
        call = _ast_call(node, self.names) if isinstance(node, ast.Call) else None
        if call is not None and (
            builtin or text[_skip_space(text, end) :].rstrip() in ("", *_END_TOKENS)
        ):
            return start, [call], end
        self._refused(end)
        return paren, None, paren + 1


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
    try:
        if args is None:
            args = {}
        elif isinstance(args, str):
            # Arguments as a JSON string (OpenAI style), or an empty string meaning none.
            args = json.loads(args) if args.strip() else {}
        if not isinstance(args, dict):
            return None
        encoded = json.dumps(args, ensure_ascii=False, allow_nan=False)
    except (ValueError, RecursionError):
        return None
    return TextToolCall(name, encoded)


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
    try:
        for keyword in node.keywords:
            if keyword.arg is None:  # **kwargs
                return None
            ok, value = _literal(keyword.value)
            if not ok:
                return None
            args[keyword.arg] = value
    except RecursionError:
        return None
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
