"""Reading error bodies: message, type, code and param out of whatever a server sent. No I/O.

Every function here is total: it never raises, however a body is shaped or nested. The
exception classes, and :func:`~llama_client.errors.status_error` which picks one for a
status, live in :mod:`llama_client.errors`; this module imports only :mod:`llama_client._json`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._json import text_default

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "ErrorInfo",
    "error_info",
    "is_context_length_error",
    "preview",
    "validation_problems",
]

# How much of a server body an exception message shows.
_BODY_PREVIEW = 2000


def preview(text: str | bytes, limit: int = _BODY_PREVIEW) -> str:
    """A bounded, printable rendering of a server body for exception messages."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if len(text) > limit:
        return text[:limit] + f"... [{len(text) - limit} more characters]"
    return text


class ErrorInfo:
    """What could be read out of an error body, whatever its shape."""

    __slots__ = ("code", "message", "param", "type")

    def __init__(
        self,
        message: str,
        type: str | None = None,
        code: int | str | None = None,
        param: str | None = None,
    ) -> None:
        self.message = message
        self.type = type
        self.code = code
        self.param = param


def _render(value: object, limit: int = _BODY_PREVIEW) -> str:
    """JSON-like text of ``value``, cut after about ``limit`` characters, without recursion.

    The fallback of :func:`_dumps` for a body nested deeper than ``json.dumps`` can go.
    """
    parts: list[str] = []
    size = 0
    stack: list[Iterator[object]] = [iter((value,))]
    while stack and size <= limit:
        try:
            item = next(stack[-1])
        except StopIteration:
            stack.pop()
            continue
        if isinstance(item, _Token):
            text = item.text
        elif isinstance(item, dict):
            text = "{"
            stack.append(_dict_items(item))
        elif isinstance(item, (list, tuple)):
            text = "["
            stack.append(_list_items(item))
        else:
            if isinstance(item, str) and len(item) > limit:
                item = item[:limit]
            try:
                text = json.dumps(item, default=text_default)
            except (TypeError, ValueError):
                text = json.dumps(repr(item))
        parts.append(text)
        size += len(text)
    text = "".join(parts)
    if stack or len(text) > limit:
        return text[:limit] + "... [cut: nested or long]"
    return text


class _Token:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_COMMA, _COLON = _Token(", "), _Token(": ")


def _dict_items(value: dict[Any, Any]) -> Iterator[object]:
    for i, (key, item) in enumerate(value.items()):
        if i:
            yield _COMMA
        yield _Token(json.dumps(key if isinstance(key, str) else str(key)))
        yield _COLON
        yield item
    yield _Token("}")


def _list_items(value: list[Any] | tuple[Any, ...]) -> Iterator[object]:
    for i, item in enumerate(value):
        if i:
            yield _COMMA
        yield item
    yield _Token("]")


def _dumps(value: object) -> str:
    """``json.dumps`` for messages: never raises, whatever the value (even nested 10,000 deep)."""
    try:
        return json.dumps(value, default=text_default)
    except (TypeError, ValueError, RecursionError):
        return _render(value)


def _as_opt_str(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else _dumps(value)


def _as_code(value: object) -> int | str | None:
    if isinstance(value, bool):
        return str(value)
    if value is None or isinstance(value, (int, str)):
        return value
    try:
        return str(value)
    except RecursionError:  # a list nested thousands deep
        return _render(value, 200)


def error_info(body: object, status_code: int | None = None) -> ErrorInfo:
    """Read message, type, code and param out of any error body shape servers send.

    Accepts ``{"error": {...}}``, ``{"error": "text"}``, ``{"detail": ...}`` (FastAPI),
    ``{"message": ...}``, a list, plain text and empty bodies. Never raises, whatever the body
    holds or however deep it nests.
    """
    fallback = f"HTTP {status_code}" if status_code is not None else "unknown error"
    try:
        return _error_info(body, fallback)
    except RecursionError:  # pragma: no cover - every step below is already depth-safe
        return ErrorInfo(f"{fallback} (an error body too deeply nested to read)")


def _error_info(body: object, fallback: str) -> ErrorInfo:
    if body is None or body == "" or body == b"":
        return ErrorInfo(fallback)
    if isinstance(body, (str, bytes)):
        return ErrorInfo(preview(body).strip() or fallback)
    if isinstance(body, dict):
        err: Any = body.get("error")
        if isinstance(err, dict):
            msg = err.get("message")
            if not isinstance(msg, str) or not msg:
                msg = _as_opt_str(err.get("msg")) or _as_opt_str(err) or fallback
            return ErrorInfo(
                preview(msg),
                type=_as_opt_str(err.get("type")),
                code=_as_code(err.get("code")),
                param=_as_opt_str(err.get("param")),
            )
        if isinstance(err, str) and err:
            # {"error": "Unauthorized"} (vLLM), TGI {"error": "...", "error_type": "..."}
            etype = (
                body.get("error_type")
                if isinstance(body.get("error_type"), str)
                else body.get("type")
            )
            return ErrorInfo(preview(err), type=_as_opt_str(etype), code=_as_code(body.get("code")))
        for key in ("detail", "message", "msg"):
            value = body.get(key)
            if value:
                return ErrorInfo(
                    preview(value if isinstance(value, str) else _dumps(value)),
                    type=_as_opt_str(body.get("type")),
                    code=_as_code(body.get("code", body.get("error_code"))),
                )
    return ErrorInfo(preview(_dumps(body)))


# Lower-case fragments of context-overflow messages from vLLM, llama.cpp, llama-cpp-python,
# TGI and OpenAI-style servers.
_CONTEXT_PATTERNS = (
    "maximum context length",
    "context length exceeded",
    "context_length_exceeded",
    "exceeds the available context size",
    "exceed_context_size",
    "context window",
    "prompt is too long",
    "input is too long",
    "too many input tokens",
    "must be <= ",  # TGI: `inputs` tokens + `max_new_tokens` must be <= N
    "reduce the length of the",
)


def is_context_length_error(info: ErrorInfo) -> bool:
    """True when an error body says the prompt does not fit the context window."""
    for value in (info.type, info.code if isinstance(info.code, str) else None):
        if value and ("context_length" in value or "context_size" in value):
            return True
    if info.param == "input_tokens":
        return True
    text = info.message.lower()
    return any(p in text for p in _CONTEXT_PATTERNS)


def validation_problems(
    exc: ValidationError, *, limit: int | None = None, root: str = "", show_input: bool = False
) -> list[str]:
    """A pydantic ``ValidationError`` as message lines: ``where: what`` each (``root`` names
    the whole value when the error has no location), at most ``limit`` of them and then
    ``and N more``; with ``show_input``, what was sent, bounded."""
    errors = exc.errors(include_url=False)
    lines = []
    for error in errors[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or root
        line = f"{where}: {error['msg']}" if where else str(error["msg"])
        if show_input:
            line += f" (the server sent {preview(repr(error['input']), 200)})"
        lines.append(line)
    if limit is not None and len(errors) > limit:
        lines.append(f"and {len(errors) - limit} more")
    return lines
