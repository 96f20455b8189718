"""Turning a successful HTTP response into the project's types (no I/O), and raw responses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ._error_parsing import error_info, preview, validation_problems
from ._ratelimit import RateLimitInfo, parse_rate_limit
from .errors import APIError, ResponseValidationError, StreamError

__all__ = [
    "APIResponse",
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
        if isinstance(body, dict) and "error" in body:
            info = error_info(body, response.status_code)
            raise ResponseValidationError(
                f"The server answered HTTP {response.status_code} with an error body: {info.message}",
                request=response.request,
                body=body,
            ) from None
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
    if isinstance(body, dict) and "error" in body:
        info = error_info(body, response.status_code)
        raise ResponseValidationError(
            f"The server answered HTTP {response.status_code} with an error body: {info.message}",
            request=response.request,
            body=body,
        )
    return body


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


class APIResponse(Generic[R]):
    """What ``with_raw_response`` methods return: the HTTP response, and ``parse()`` for the result."""

    def __init__(
        self,
        http_response: httpx.Response,
        parse: Callable[[], R],
        *,
        provider_name: str | None = None,
    ) -> None:
        self.http_response = http_response
        #: the provider that answered (with several providers, the one fallback reached)
        self.provider_name = provider_name
        self._parse = parse
        self._parsed: R | None = None
        self._done = False

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

    def __repr__(self) -> str:
        return f"<APIResponse [{self.status_code}] {self.http_response.request.method} {self.url}>"
