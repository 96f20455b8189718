"""Turning a successful HTTP response into the project's types (no I/O), and raw responses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ._error_parsing import error_info, preview, validation_problems
from ._ratelimit import RateLimitInfo, parse_rate_limit
from .errors import APIError, ResponseValidationError, StreamError

__all__ = [
    "APIResponse",
    "AnswerTokens",
    "completion_as_sent",
    "decode_body",
    "parse_json",
    "parse_model",
    "undecodable_body",
    "undecodable_response",
    "unexpected_stream_body",
]

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


def decode_body(response: httpx.Response) -> object:
    """The parsed JSON of a (read) response, or its text when it is not JSON (or is JSON
    nested too deeply to parse)."""
    content = response.content
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return response.text


def undecodable_body(response: httpx.Response | None, exc: httpx.DecodingError) -> str:
    """What to say about a body that does not decode as its ``Content-Encoding`` says (a
    ``gzip`` header on a plain body): its bytes are lost, so name the encoding and the error."""
    encoding = response.headers.get("content-encoding") if response is not None else None
    said = f"its Content-Encoding is {preview(encoding, 100)!r} but " if encoding else ""
    return (
        f"<the body could not be decoded: {said}decoding failed "
        f"({preview(str(exc) or type(exc).__name__, 200)})>"
    )


def undecodable_response(
    response: httpx.Response | None, exc: httpx.DecodingError, request: httpx.Request
) -> APIError:
    """The error for a success response (or one whose status never surfaced) whose body does
    not decode (see :func:`undecodable_body`); error statuses keep their status error."""
    status = f"HTTP {response.status_code}" if response is not None else "no status"
    return ResponseValidationError(
        f"Unreadable response body ({status}): {undecodable_body(response, exc)}",
        request=request,
        body=None,
    )


def parse_model(response: httpx.Response, cls: type[M]) -> M:
    """Validate a read response body into ``cls``; a wrong body raises ResponseValidationError."""
    try:
        return cls.model_validate_json(response.content)
    except ValidationError as exc:
        body = decode_body(response)
        _refuse_error_body(response, body)
        first = validation_problems(exc, limit=1, root="body")
        raise ResponseValidationError(
            f"Unexpected response body for {cls.__name__} (HTTP {response.status_code}): "
            f"{preview(response.content) or '<empty>'} [{exc.error_count()} problem(s); first: "
            f"{first[0] if first else exc}]",
            request=response.request,
            body=body,
        ) from None


def parse_json(response: httpx.Response) -> object:
    """The decoded JSON of a read response body (any shape; the caller checks it); a body
    that is not JSON, or an ``{"error": ...}`` body, raises ResponseValidationError."""
    body = decode_body(response)
    if isinstance(body, str) or body is None:
        raise ResponseValidationError(
            f"Expected a JSON body (HTTP {response.status_code}), got: "
            f"{preview(response.content) or '<empty>'}",
            request=response.request,
            body=body,
        )
    _refuse_error_body(response, body)
    return body


def _refuse_error_body(response: httpx.Response, body: object) -> None:
    """ResponseValidationError for an ``{"error": ...}`` body that came with a 2xx status."""
    if isinstance(body, dict) and "error" in body:
        info = error_info(body, response.status_code)
        raise ResponseValidationError(
            f"The server answered HTTP {response.status_code} with an error body: {info.message}",
            request=response.request,
            body=body,
        )


def _no_constant(name: str) -> object:
    raise ValueError(name)  # NaN / Infinity: not strict JSON, so not "as sent"


#: json.loads refusing NaN and infinities, built once (json.loads with an argument builds
#: a decoder per call)
_decode_strict = json.JSONDecoder(parse_constant=_no_constant).decode


def _is_int(value: object) -> bool:
    return type(value) is int


def _opt_str(value: object) -> bool:
    return value is None or type(value) is str


def _usage_as_sent(usage: object) -> bool:
    if type(usage) is not dict:
        return False
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        if name in usage and not _is_int(usage[name]):
            return False
    for name in ("prompt_tokens_details", "completion_tokens_details"):
        if usage.get(name) is not None and type(usage[name]) is not dict:
            return False
    return True


def _choice_as_sent(choice: object) -> bool:
    if type(choice) is not dict:
        return False
    message = choice.get("message")
    if type(message) is not dict:
        return False
    if not _opt_str(message.get("content")) or type(message.get("role", "")) is not str:
        return False
    # Tool calls, logprobs and the SDK's own fields have a nested shape the model checks
    # (an empty list of tool calls, as some servers send, has none).
    calls = message.get("tool_calls")
    if calls is not None and (type(calls) is not list or calls):
        return False
    for name in ("raw_content", "rejected_tool_calls"):
        if message.get(name) is not None:
            return False
    for name in ("logprobs", "raw_finish_reason"):
        if choice.get(name) is not None:
            return False
    stop = choice.get("stop_reason")
    return (
        _is_int(choice.get("index", 0))
        and _opt_str(choice.get("finish_reason"))
        and (stop is None or type(stop) is str or _is_int(stop))
    )


def completion_as_sent(content: bytes) -> dict[str, Any] | None:
    """A chat completion body decoded without its model, when it is plainly one: strict JSON
    in UTF-8, an object without ``error``, every field the model declares of the type it
    declares (``choices`` a list of choices with a ``message``, ``usage`` with integer
    counts), no tool calls or logprobs (their shape is the model's to check). For such a
    body the model would change nothing: its dump is the body. None for anything else,
    which the model then reads (and, when it is wrong, says what arrived)."""
    try:
        data = _decode_strict(content.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if type(data) is not dict or "error" in data:
        return None
    choices = data.get("choices")
    if type(choices) is not list or not all(_choice_as_sent(c) for c in choices):
        return None
    usage = data.get("usage")
    if usage is not None and not _usage_as_sent(usage):
        return None
    for name in ("id", "object", "model"):
        if name in data and type(data[name]) is not str:
            return None
    if not _is_int(data.get("created", 0)) or not _opt_str(data.get("system_fingerprint")):
        return None
    return data


def unexpected_stream_body(response: httpx.Response) -> Exception:
    """The error for a streamed call answered with a JSON body instead of an event stream."""
    body = decode_body(response)
    if isinstance(body, dict) and "error" in body:
        info = error_info(body, response.status_code)
        return StreamError(
            f"The server reported an error instead of a stream: {info.message}", body=body
        )
    return ResponseValidationError(
        "Asked for a stream but the server answered with "
        f"{response.headers.get('content-type', 'no content type')}: {preview(response.content)}",
        request=response.request,
        body=body,
    )


class _Tokens:
    __slots__ = ("completion_tokens", "prompt_tokens")

    def __init__(self, prompt: int, completion: int) -> None:
        self.prompt_tokens = prompt
        self.completion_tokens = completion


class AnswerTokens:
    """What the usage totals read of a chat answer (``model``, ``usage``), taken from its
    decoded JSON (:func:`completion_as_sent`) rather than a ChatCompletion."""

    __slots__ = ("model", "usage")

    def __init__(self, data: dict[str, Any]) -> None:
        self.model: str = data.get("model") or ""
        usage = data.get("usage")
        self.usage = (
            _Tokens(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
            if usage
            else None
        )


class APIResponse(Generic[R]):
    """What ``with_raw_response`` methods return: the HTTP response, and ``parse()`` for the result."""

    def __init__(
        self,
        http_response: httpx.Response,
        parse: Callable[[], R],
        *,
        provider_name: str | None = None,
        as_sent: Callable[[], dict[str, Any] | None] | None = None,
    ) -> None:
        self.http_response = http_response
        #: the provider that answered (with several providers, the one fallback reached)
        self.provider_name = provider_name
        self._parse = parse
        self._parsed: R | None = None
        self._done = False
        self._as_sent = as_sent

    @property
    def headers(self) -> httpx.Headers:
        return self.http_response.headers

    @property
    def status_code(self) -> int:
        return self.http_response.status_code

    @property
    def url(self) -> httpx.URL:
        return self.http_response.url

    @property
    def request_id(self) -> str | None:
        h = self.http_response.headers
        value: str | None = h.get("x-request-id") or h.get("request-id")
        return value

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """The ``x-ratelimit-*`` headers of the response, parsed (None when there are none)."""
        return parse_rate_limit(self.http_response.headers)

    @property
    def elapsed(self) -> float:
        """Seconds from sending the request to receiving the response headers (or whole body)."""
        return self.http_response.elapsed.total_seconds()

    def parse(self) -> R:
        """The typed result (a ChatCompletion, a Stream, ...); parsed once."""
        if not self._done:
            self._parsed = self._parse()
            self._done = True
        return self._parsed  # type: ignore[return-value]

    def parse_as_sent(self) -> dict[str, Any] | None:
        """A chat answer's JSON exactly as the server sent it, decoded, when reading it into
        a ChatCompletion would change nothing but the type: the body is plainly a completion
        (:func:`completion_as_sent`), the provider need not convert or normalize it, and no
        tool policy applies. None otherwise: call :meth:`parse`. For callers that store
        answers rather than use them (the batch engine), it costs a ``json.loads`` instead
        of a model; the answer's tokens join ``client.usage`` either way (once)."""
        if self._as_sent is None:
            return None
        return self._as_sent()

    def __repr__(self) -> str:
        return f"<APIResponse [{self.status_code}] {self.http_response.request.method} {self.url}>"
