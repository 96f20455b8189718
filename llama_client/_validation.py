"""Checks of a chat request before anything is sent, and building its JSON body. No I/O.

Every failure raises :class:`~llama_client.errors.InvalidRequestError` (a ``ValueError``) that
names the offending field, e.g. ``messages[1].tool_call_id``. The checks refuse only what no
server accepts (a malformed message, a wrong JSON type, an inconsistent ``tool_choice``), with
:class:`~llama_client.errors.RequestRefusedError`, which is also a ``BadRequestError``. Limits
that differ by server (``top_logprobs``, ``n``) are the provider's capabilities; where none is
known the server decides (custom roles, ``stream_options`` without ``stream``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from pydantic import BaseModel

from ._error_parsing import preview
from .errors import InvalidRequestError, RequestRefusedError
from .types.params import ChatCompletionParams, RequestOptions

__all__ = [
    "MESSAGE_ROLES",
    "REQUEST_OPTIONS",
    "build_chat_body",
    "normalize_messages",
    "shown",
]

#: The standard roles in ``messages`` (``ipython`` is Llama's own name for tool results).
#: Other roles are sent as they are: vLLM accepts any role its chat template knows.
MESSAGE_ROLES = frozenset({"system", "user", "assistant", "tool", "ipython", "developer"})

#: Per-call options that shape the HTTP request rather than the JSON body.
REQUEST_OPTIONS = frozenset(RequestOptions.__required_keys__ | RequestOptions.__optional_keys__)

#: Arguments the client reads itself and never sends (see ``ChatCompletionParams``).
_NOT_SENT = frozenset({"parse_tool_calls", "check_context", "context_window", "control_tokens"})

#: Body parameters ``chat.completions.create`` accepts by name (others go in ``extra_body``):
#: the keys of the ``ChatCompletionParams`` TypedDict that declares them, so the two never drift.
CHAT_PARAMS = (
    frozenset(ChatCompletionParams.__required_keys__ | ChatCompletionParams.__optional_keys__)
    - REQUEST_OPTIONS
    - _NOT_SENT
)


def shown(value: object, limit: int = 100) -> str:
    """``repr(value)`` for an error message: bounded, and never raising (a list nested 10,000
    deep, an int too long to print, an object whose ``__repr__`` fails)."""
    try:
        text = repr(value)
    except Exception:  # RecursionError, ValueError, anything a user's __repr__ raises
        return f"a {type(value).__name__} that cannot be shown"
    return preview(text, limit)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_content(index: int, content: object, *, optional: bool) -> None:
    where = f"messages[{index}]"
    if content is None:
        if optional:
            return
        raise RequestRefusedError(f"{where}.content", "is required for this role")
    if isinstance(content, str):
        return
    if isinstance(content, (list, tuple)):
        for i, part in enumerate(content):
            if isinstance(part, BaseModel):
                continue
            if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
                raise RequestRefusedError(
                    f"{where}.content[{i}]",
                    'each content part must be an object with a "type", e.g. {"type": "text", "text": "..."}',
                )
            if part["type"] == "text" and not isinstance(part.get("text"), str):
                raise RequestRefusedError(f"{where}.content[{i}].text", "must be a string")
        return
    raise RequestRefusedError(
        f"{where}.content",
        f"must be a string or a list of content parts, not {type(content).__name__}",
    )


def normalize_messages(messages: object) -> list[Any]:
    """Validate ``messages`` and return them in a JSON-serialisable form.

    Plain dicts are passed on as they are (not copied); typed message models are dumped.
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise RequestRefusedError("messages", "must be a list of messages")
    if not messages:
        raise RequestRefusedError("messages", "must contain at least one message")
    out: list[Any] = []
    for i, message in enumerate(messages):
        if isinstance(message, BaseModel):
            message = message.model_dump(mode="json", exclude_none=True)
        elif not isinstance(message, Mapping):
            raise RequestRefusedError(
                f"messages[{i}]",
                f"must be a dict or a message model, not {type(message).__name__}",
            )
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise RequestRefusedError(
                f"messages[{i}].role",
                f"must be a non-empty string such as {', '.join(sorted(MESSAGE_ROLES))}; "
                f"got {shown(role)}",
            )
        content = message.get("content")
        if role not in MESSAGE_ROLES:  # a custom role: the server's chat template decides
            _check_content(i, content, optional=True)
        elif role == "assistant":
            tool_calls = message.get("tool_calls")
            if tool_calls is not None and not isinstance(tool_calls, (list, tuple)):
                raise RequestRefusedError(f"messages[{i}].tool_calls", "must be a list")
            if content is None and not tool_calls:
                raise RequestRefusedError(
                    f"messages[{i}].content", "an assistant message needs content or tool_calls"
                )
            _check_content(i, content, optional=True)
        else:
            if type(content) is not str:  # (the usual case needs no call)
                _check_content(i, content, optional=False)
            if role == "tool":
                tool_call_id = message.get("tool_call_id")
                if not isinstance(tool_call_id, str) or not tool_call_id:
                    raise RequestRefusedError(
                        f"messages[{i}].tool_call_id",
                        "a tool message needs the id of the tool call it answers",
                    )
        out.append(message)
    return out


def _check_range(name: str, value: object, low: float, high: float) -> None:
    if not _is_number(value):
        raise RequestRefusedError(name, f"must be a number, not {type(value).__name__}")
    if not low <= value <= high:  # type: ignore[operator]
        raise RequestRefusedError(name, f"must be between {low:g} and {high:g}, got {shown(value)}")


def _check_positive_int(name: str, value: object) -> None:
    if not _is_int(value) or value <= 0:  # type: ignore[operator]
        raise RequestRefusedError(name, f"must be a positive integer, got {shown(value)}")


def _check_params(params: Mapping[str, Any], stream: bool) -> None:
    for name in ("max_tokens", "max_completion_tokens", "n"):
        if name in params:
            _check_positive_int(name, params[name])
    if "temperature" in params:
        _check_range("temperature", params["temperature"], 0.0, 2.0)
    if "top_p" in params:
        _check_range("top_p", params["top_p"], 0.0, 1.0)
    if "min_p" in params:
        _check_range("min_p", params["min_p"], 0.0, 1.0)
    for name in ("presence_penalty", "frequency_penalty"):
        if name in params:
            _check_range(name, params[name], -2.0, 2.0)
    if "repetition_penalty" in params:
        value = params["repetition_penalty"]
        if not _is_number(value) or value <= 0:
            raise RequestRefusedError(
                "repetition_penalty", f"must be a positive number, got {shown(value)}"
            )
    if "top_k" in params:
        value = params["top_k"]
        if not _is_int(value) or (value < 1 and value != -1):
            raise RequestRefusedError(
                "top_k", f"must be a positive integer (or -1 for all), got {shown(value)}"
            )
    if "top_logprobs" in params:
        value = params["top_logprobs"]
        if not _is_int(value) or value < 0:  # the upper limit is the server's (vLLM --max-logprobs)
            raise RequestRefusedError(
                "top_logprobs", f"must be a non-negative integer, got {shown(value)}"
            )
        if not params.get("logprobs"):
            raise RequestRefusedError("top_logprobs", "needs logprobs=True")
    if "logprobs" in params and not isinstance(params["logprobs"], bool):
        raise RequestRefusedError("logprobs", "must be True or False")
    if "seed" in params and not _is_int(params["seed"]):
        raise RequestRefusedError("seed", f"must be an integer, got {shown(params['seed'])}")
    if "stop" in params:
        stop = params["stop"]
        if not isinstance(stop, str) and not (
            isinstance(stop, (list, tuple)) and all(isinstance(s, str) and s for s in stop)
        ):
            raise RequestRefusedError("stop", "must be a string or a list of non-empty strings")
    # (stream_options without stream=True: the server decides; vLLM answers its own 400)
    if "stream_options" in params and not isinstance(params["stream_options"], Mapping):
        raise RequestRefusedError(
            "stream_options", 'must be a dict such as {"include_usage": True}'
        )
    if "response_format" in params:
        rf = params["response_format"]
        if not isinstance(rf, Mapping) or not isinstance(rf.get("type"), str):
            raise RequestRefusedError(
                "response_format", 'must be a dict with a "type", e.g. {"type": "json_object"}'
            )
    if "tools" in params:
        tools = params["tools"]
        if not isinstance(tools, (list, tuple)):
            raise RequestRefusedError("tools", "must be a list of tool definitions")
        for i, t in enumerate(tools):
            fn = t.get("function") if isinstance(t, Mapping) else None
            if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not fn["name"]:
                raise RequestRefusedError(
                    f"tools[{i}]",
                    'must be {"type": "function", "function": {"name": ..., "parameters": {...}}}',
                )
    if "tool_choice" in params:
        choice = params["tool_choice"]
        if isinstance(choice, str):
            if choice not in ("none", "auto", "required"):
                raise RequestRefusedError(
                    "tool_choice",
                    f'must be "none", "auto", "required" or a named function, got {shown(choice)}',
                )
        elif not (
            isinstance(choice, Mapping)
            and isinstance(choice.get("function"), Mapping)
            and isinstance(choice["function"].get("name"), str)
        ):
            raise RequestRefusedError(
                "tool_choice",
                'a named choice must be {"type": "function", "function": {"name": ...}}',
            )
        if choice != "none" and not params.get("tools"):
            raise RequestRefusedError("tool_choice", "needs tools")


def _check_request_options(params: Mapping[str, Any]) -> None:
    """``extra_body`` and ``extra_query`` (``timeout`` is checked where it is used, and
    ``extra_headers`` with the other headers)."""
    extra_body = params.get("extra_body")
    if extra_body is not None and not isinstance(extra_body, Mapping):
        raise InvalidRequestError(
            "extra_body", f"must be a dict of body fields, not {type(extra_body).__name__}"
        )
    extra_query = params.get("extra_query")
    if extra_query is not None:
        try:  # what httpx accepts, encoded as it will be
            str(httpx.QueryParams(extra_query))
        except Exception as exc:  # httpx fails in many ways (TypeError, KeyError, ...)
            raise InvalidRequestError(
                "extra_query", f"cannot be sent as URL query parameters ({exc})"
            ) from None


def build_chat_body(
    messages: object, model: str, stream: bool, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Validate a chat call and return its JSON body (without ``extra_body``)."""
    unknown = [k for k in params if k not in CHAT_PARAMS and k not in REQUEST_OPTIONS]
    if unknown:
        raise TypeError(
            f"create() got unexpected keyword argument(s): {', '.join(sorted(unknown))}; "
            "pass server-specific fields in extra_body={...}"
        )
    if "extra_body" in params or "extra_query" in params:
        _check_request_options(params)
    body_params = {k: v for k, v in params.items() if v is not None and k not in REQUEST_OPTIONS}
    _check_params(body_params, stream)
    body: dict[str, Any] = {"model": model, "messages": normalize_messages(messages)}
    body.update(body_params)
    if stream:
        body["stream"] = True
    return body
