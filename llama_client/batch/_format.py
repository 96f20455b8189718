"""The OpenAI batch file format, both ways, and the id rules. No I/O.

Input lines (JSONL, one request each)::

    {"custom_id": "q1", "method": "POST", "url": "/v1/chat/completions", "body": {...}}
    {"messages": [{"role": "user", "content": "..."}], "temperature": 0.7}
    {"prompt": "..."}

The two plain forms are a request body on their own (``prompt`` becomes one user message);
their id is ``auto-`` plus the first 24 hex digits of the SHA-256 of the line's canonical
JSON, so it survives reordering and editing other lines. Two identical plain lines therefore
share an id and are reported as duplicates (give them ``custom_id``s, or a ``seed``, to buy
both). Defaults (the run's model and parameters) fill what a body leaves out; the *body hash*
is taken over the body as sent, defaults included, and decides whether a stored result still
answers the line.

Output lines::

    {"id": "batch_req_...", "custom_id": "q1",
     "response": {"status_code": 200, "request_id": "...", "body": {...completion...}},
     "error": null,
     "x_llama_client": {"body_hash": "...", "line": 3, "attempts": 1, "provider": "vllm"}}

A failure keeps ``error: {"code", "message"}`` and, when the server answered, ``response``
with its status and body. ``x_llama_client`` is ours; readers of the OpenAI format ignore it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidRequestError, LlamaClientError

__all__ = [
    "CHAT_URLS",
    "MAX_CUSTOM_ID",
    "BatchInputError",
    "BatchRequest",
    "BatchStateError",
    "DuplicateCustomIdError",
    "ResultRecord",
    "body_hash",
    "canonical_json",
    "encode_result",
    "failure_line",
    "parse_line",
    "parse_result",
    "success_line",
    "success_line_bytes",
]

#: the endpoints a line may name (the chat completions path, with or without ``/v1``)
CHAT_URLS = frozenset({"/v1/chat/completions", "/chat/completions"})
#: longest custom id accepted (bytes of UTF-8)
MAX_CUSTOM_ID = 512
#: most problems listed in one BatchInputError
MAX_LISTED = 20


class BatchInputError(InvalidRequestError):
    """The input file has lines that cannot be run; nothing was sent.

    ``problems`` lists ``(line_number, message)`` (1-based lines, at most 20 listed; ``total``
    counts them all). ``field`` is ``"input"``.
    """

    def __init__(self, problems: list[tuple[int, str]], total: int | None = None) -> None:
        self.problems = problems
        self.total = len(problems) if total is None else total
        shown = "; ".join(f"line {n}: {msg}" for n, msg in problems[:MAX_LISTED])
        more = f" (and {self.total - MAX_LISTED} more)" if self.total > MAX_LISTED else ""
        super().__init__("input", f"{self.total} bad line(s): {shown}{more}")


class DuplicateCustomIdError(BatchInputError):
    """Two or more lines share a ``custom_id``; nothing was sent. ``duplicates`` maps each
    repeated id to its line numbers."""

    def __init__(self, duplicates: dict[str, list[int]]) -> None:
        self.duplicates = duplicates
        problems = [
            (lines[0], f"custom_id {_show(cid)} is repeated on lines {', '.join(map(str, lines))}")
            for cid, lines in duplicates.items()
        ]
        super().__init__(problems)


class BatchStateError(LlamaClientError):
    """A results file or run directory cannot be read as this run's state."""


def _show(text: str, limit: int = 80) -> str:
    shown = text if len(text) <= limit else text[:limit] + "..."
    return json.dumps(shown, ensure_ascii=True)


#: json.dumps with these arguments, built once (it builds an encoder per call otherwise)
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def canonical_json(value: object) -> str:
    """Sorted keys, no spaces, UTF-8 kept: equal JSON values give equal text."""
    return _canonical(value)


def body_hash(body: Mapping[str, Any]) -> str:
    """The first 32 hex digits of SHA-256 over the canonical body."""
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class BatchRequest:
    """One input line, ready to send: its id, 1-based line number, full body and body hash."""

    custom_id: str
    line: int
    body: dict[str, Any]
    body_hash: str


def _line_error(line: int, message: str) -> BatchInputError:
    return BatchInputError([(line, message)])


def parse_line(
    data: bytes | str, line: int, defaults: Mapping[str, Any] | None = None
) -> BatchRequest:
    """Read one input line (either form); :class:`BatchInputError` names the line."""
    return parse_checked(data, line, defaults, digest=True)


def parse_checked(
    data: bytes | str, line: int, defaults: Mapping[str, Any] | None, *, digest: bool
) -> BatchRequest:
    """:func:`parse_line`; without ``digest`` the body hash is left empty (a check of the
    line that needs no hash: nothing is stored yet that it could match)."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _line_error(line, f"not valid JSON ({exc})") from None
    return request_from(obj, line, defaults, digest=digest)


#: the keys of a line in the OpenAI batch form (any of them: the line is read as that form)
_OPENAI_FORM = frozenset({"custom_id", "body", "url", "method"})


def request_from(
    obj: object, line: int, defaults: Mapping[str, Any] | None = None, *, digest: bool = True
) -> BatchRequest:
    """A :class:`BatchRequest` from a decoded line (a Ray row, a dict built in code)."""
    if not isinstance(obj, dict):
        raise _line_error(line, f"expected a JSON object, got {type(obj).__name__}")
    if not _OPENAI_FORM.isdisjoint(obj):
        custom_id = obj.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise _line_error(line, "custom_id must be a non-empty string")
        if len(custom_id.encode("utf-8", "surrogatepass")) > MAX_CUSTOM_ID:
            raise _line_error(line, f"custom_id is longer than {MAX_CUSTOM_ID} bytes")
        method = obj.get("method", "POST")
        if method != "POST":
            raise _line_error(line, f"method must be POST, got {_show(str(method))}")
        url = obj.get("url", "/v1/chat/completions")
        if url not in CHAT_URLS:
            raise _line_error(
                line,
                f"url must be /v1/chat/completions (the one endpoint run), got {_show(str(url))}",
            )
        body = obj.get("body")
        if not isinstance(body, dict):
            raise _line_error(line, "body must be a JSON object")
        body = dict(body)
    else:
        custom_id = "auto-" + hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:24]
        body = dict(obj)
        if "prompt" in body:
            if "messages" in body:
                raise _line_error(line, "give either messages or prompt, not both")
            prompt = body.pop("prompt")
            if not isinstance(prompt, str):
                raise _line_error(line, "prompt must be a string")
            body["messages"] = [{"role": "user", "content": prompt}]
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _line_error(line, "the body needs a non-empty messages list (or a prompt)")
    if body.get("stream"):
        raise _line_error(line, "stream must not be set: a batch stores whole answers")
    body.pop("stream", None)
    if defaults:
        body = {**defaults, **body}
    if not isinstance(body.get("model", ""), str):
        raise _line_error(line, "model must be a string")
    return BatchRequest(custom_id, line, body, body_hash(body) if digest else "")


# -------------------------------------------------------------------------------- output


@dataclass(frozen=True)
class ResultRecord:
    """What a stored result line says, as the resume logic and the exports need it."""

    custom_id: str
    body_hash: str | None
    ok: bool
    #: finish reasons of the choices (empty for a failure)
    finish_reasons: tuple[str, ...]
    prompt_tokens: int
    completion_tokens: int
    #: the parsed line
    data: dict[str, Any]

    @property
    def truncated(self) -> bool:
        """Some choice stopped at the token limit (``finish_reason`` ``"length"``)."""
        return "length" in self.finish_reasons


class _Ids:
    """``batch_req_`` + a random run prefix + a counter: unique, and no syscall per line."""

    def __init__(self) -> None:
        self.prefix = "batch_req_" + uuid.uuid4().hex[:16]
        self.count = itertools.count()

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.count):08x}"


_request_id = _Ids()


def _meta(request: BatchRequest, attempts: int, provider: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"body_hash": request.body_hash, "line": request.line}
    meta["attempts"] = attempts
    if provider:
        meta["provider"] = provider
    return meta


def success_line(
    request: BatchRequest,
    body: Mapping[str, Any],
    *,
    status_code: int = 200,
    request_id: str | None = None,
    attempts: int = 1,
    provider: str | None = None,
) -> dict[str, Any]:
    """The output line of an answered request."""
    return {
        "id": _request_id(),
        "custom_id": request.custom_id,
        "response": {"status_code": status_code, "request_id": request_id, "body": dict(body)},
        "error": None,
        "x_llama_client": _meta(request, attempts, provider),
    }


#: json.dumps with arguments builds an encoder per call: this one is built once
_encode_small = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


def _small(value: object) -> bytes:
    """A small JSON value (an id, the metadata) as :func:`encode_result` writes it."""
    try:
        return _encode_small(value).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: its \\u escape
        return json.dumps(value, ensure_ascii=True, allow_nan=False).encode("ascii")


def success_line_bytes(
    request: BatchRequest,
    body: bytes,
    *,
    status_code: int = 200,
    request_id: str | None = None,
    attempts: int = 1,
    provider: str | None = None,
) -> bytes:
    """:func:`success_line`, encoded (newline included), around ``body``: the text of a JSON
    object exactly as the server sent it (strict JSON, UTF-8, without a line break: the
    caller checked), written as it is instead of decoded and encoded again."""
    return b"".join(
        (
            b'{"id": "',
            _request_id().encode(),  # ours: batch_req_ and hex digits
            b'", "custom_id": ',
            _small(request.custom_id),
            b', "response": {"status_code": ',
            str(int(status_code)).encode(),
            b', "request_id": ',
            _small(request_id),
            b', "body": ',
            body,
            b'}, "error": null, "x_llama_client": ',
            _small(_meta(request, attempts, provider)),
            b"}\n",
        )
    )


def failure_line(
    request: BatchRequest,
    code: str,
    message: str,
    *,
    status_code: int | None = None,
    request_id: str | None = None,
    body: object = None,
    attempts: int = 1,
    provider: str | None = None,
) -> dict[str, Any]:
    """The output line of a request that failed for good: ``error`` says why; ``response``
    holds the server's last answer when there was one."""
    response = None
    if status_code is not None:
        response = {"status_code": status_code, "request_id": request_id, "body": body}
    return {
        "id": _request_id(),
        "custom_id": request.custom_id,
        "response": response,
        "error": {"code": code, "message": message},
        "x_llama_client": _meta(request, attempts, provider),
    }


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def encode_result(record: Mapping[str, Any]) -> bytes:
    """One output line, newline included. Strict JSON: a NaN or infinity a server sent is
    written as null, a lone surrogate as its ``\\u`` escape."""
    try:
        return (json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    except ValueError:  # NaN / inf (ValueError) or a lone surrogate (UnicodeEncodeError)
        try:
            text = json.dumps(_finite(record), ensure_ascii=True, allow_nan=False)
        except RecursionError:
            text = json.dumps(_without_bodies(record), ensure_ascii=True, allow_nan=False)
        return (text + "\n").encode("ascii")
    except RecursionError:  # a server body nested deeper than JSON can be written back
        text = json.dumps(_without_bodies(record), ensure_ascii=True, allow_nan=False)
        return (text + "\n").encode("ascii")


_TOO_DEEP = "<omitted: the server's body is nested too deeply to store>"


def _without_bodies(record: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(record)
    response = out.get("response")
    if isinstance(response, dict) and "body" in response:
        out["response"] = {**response, "body": _TOO_DEEP}
    error = out.get("error")
    if isinstance(error, dict) and "body" in error:
        out["error"] = {**error, "body": _TOO_DEEP}
    return out


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def parse_result(data: bytes | str, where: str) -> ResultRecord:
    """Read one stored output line; :class:`BatchStateError` (naming ``where``) if it is not one."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BatchStateError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("custom_id"), str):
        raise BatchStateError(f"{where}: not a batch output line (no custom_id)")
    meta = obj.get("x_llama_client")
    digest = meta.get("body_hash") if isinstance(meta, dict) else None
    response = obj.get("response")
    status = response.get("status_code") if isinstance(response, dict) else None
    body = response.get("body") if isinstance(response, dict) else None
    ok = (
        obj.get("error") is None
        and isinstance(status, int)
        and 200 <= status < 300
        and isinstance(body, dict)
    )
    reasons: tuple[str, ...] = ()
    prompt = completion = 0
    if ok and isinstance(body, dict):
        choices = body.get("choices")
        if isinstance(choices, list):
            reasons = tuple(
                str(c.get("finish_reason"))
                for c in choices
                if isinstance(c, dict) and c.get("finish_reason") is not None
            )
    if isinstance(body, dict) and isinstance(body.get("usage"), dict):
        prompt = _int(body["usage"].get("prompt_tokens"))
        completion = _int(body["usage"].get("completion_tokens"))
    return ResultRecord(
        obj["custom_id"],
        digest if isinstance(digest, str) else None,
        ok,
        reasons,
        prompt,
        completion,
        obj,
    )
