"""OpenTelemetry spans of calls, after the GenAI semantic conventions. No I/O of its own.

Imported only when a client is built with ``otel=`` (it imports ``opentelemetry``, from the
``llama-client[otel]`` extra). :class:`Tracer` starts a :class:`CallSpan` per call; the call's
:class:`~llama_client._observe.Watch` drives it:

* one span per call, kind CLIENT, named ``chat {model}`` (``{method} {path}`` for a call that
  is not a chat completion), carrying ``gen_ai.operation.name``, ``gen_ai.provider.name`` (and
  the older ``gen_ai.system``), ``gen_ai.request.*`` (model, max_tokens, temperature, top_p,
  ...), ``server.address`` / ``server.port``, and when the answer arrives
  ``gen_ai.response.model``, ``gen_ai.response.id``, ``gen_ai.response.finish_reasons``,
  ``gen_ai.usage.input_tokens`` / ``output_tokens`` (plus ``llama_client.attempts``,
  ``llama_client.retries``, ``llama_client.cost_usd``); a failure sets ``error.type`` and the
  ERROR status;
* when an attempt fails and another follows (a retry or a fallback), one child span per attempt
  (``chat {model} attempt {n}``), the failed ones with their ``error.type``; a call answered at
  the first attempt has no child span;
* a streamed call's span ends when its stream ends, fails, or is closed or dropped;
* message content (``gen_ai.input.messages`` / ``gen_ai.output.messages``, JSON in the
  conventions' parts format, each text cut at ``max_content`` characters) only when
  :attr:`OTel.capture_content <llama_client.otel.OTel.capture_content>` is on;
* never a header, a key or a URL's password.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from ._json import text_default
from ._observe import MAX_MESSAGE, request_attributes
from ._version import __version__

if TYPE_CHECKING:
    import httpx
    from opentelemetry.trace import Span

    from ._call import Call
    from ._observe import _StreamSeen
    from .otel import OTel

__all__ = ["CallSpan", "Names", "Tracer"]

#: A provider's names on a span: its GenAI ``gen_ai.provider.name`` (the conventions' name for
#: it where they have one, e.g. ``aws.bedrock``) and its registry name (``llama_client.provider``).
Names = tuple[str, str]


class Tracer:
    """The client's OpenTelemetry tracer and content settings."""

    __slots__ = ("capture_content", "max_content", "tracer")

    def __init__(self, config: OTel) -> None:
        self.tracer = trace.get_tracer(
            "llama_client", __version__, tracer_provider=config.tracer_provider
        )
        self.capture_content = config.content_captured()
        self.max_content = config.max_content

    def start(self, call: Call[Any], model: str | None) -> CallSpan | None:
        """The span of a call; None when it records nothing (no SDK configured, or sampled
        out): the call then pays nothing more for tracing."""
        span = CallSpan(self, call, model)
        if not span.span.is_recording():
            span.span.end()
            return None
        return span


def _host_port(url: httpx.URL) -> tuple[str, int | None]:
    port = url.port
    if port is None:
        port = 443 if url.scheme == "https" else 80 if url.scheme == "http" else None
    return url.host, port


class CallSpan:
    """The span of one call and, once an attempt failed, the spans of its attempts."""

    __slots__ = (
        "_attempt_span",
        "_attempt_start",
        "_ctx",
        "_multi",
        "_n",
        "_name",
        "_provider",
        "_tracer",
        "_where",
        "capture_content",
        "max_content",
        "span",
    )

    def __init__(self, tracer: Tracer, call: Call[Any], model: str | None) -> None:
        self._tracer = tracer.tracer
        self.capture_content = tracer.capture_content
        self.max_content = tracer.max_content
        chat = call.params is not None
        attributes: dict[str, Any] = {}
        if chat:
            model_name = model or ""
            self._name = f"chat {model_name}" if model_name else "chat"
            attributes["gen_ai.operation.name"] = "chat"
            if model_name:
                attributes["gen_ai.request.model"] = model_name
            attributes.update(request_attributes(call.params))
        else:
            self._name = f"{call.method} {call.path}"
        self.span: Span = self._tracer.start_span(
            self._name, kind=SpanKind.CLIENT, attributes=attributes
        )
        if self.capture_content and call.messages is not None and self.span.is_recording():
            messages = input_messages(call.messages, self.max_content)
            self.span.set_attribute("gen_ai.input.messages", messages)
        self._ctx: Any = None  # the context of the call span: made for the first child span
        self._attempt_span: Span | None = None
        self._attempt_start = 0
        self._multi = False
        self._n = 0
        self._provider: Names | None = None
        self._where: tuple[str, int | None] = ("", None)

    # -- attempts ---------------------------------------------------------------------------

    def attempt(self, n: int, provider: Names, request: httpx.Request) -> None:
        self._n = n
        self._provider = provider
        self._attempt_start = time.time_ns()
        host, port = self._where = _host_port(request.url)
        if n == 1:
            self._set_provider(self.span, provider, host, port)
        if self._multi:
            self._attempt_span = self._child(provider, host, port, None)

    def _child(
        self, provider: Names, host: str | None, port: int | None, start: int | None
    ) -> Span:
        if self._ctx is None:
            self._ctx = trace.set_span_in_context(self.span)
        attributes: dict[str, Any] = {"llama_client.attempt": self._n}
        attributes.update(_provider_attributes(provider, host, port))
        return self._tracer.start_span(
            f"{self._name} attempt {self._n}",
            context=self._ctx,
            kind=SpanKind.CLIENT,
            start_time=start,
            attributes=attributes,
        )

    @staticmethod
    def _set_provider(span: Span, provider: Names, host: str, port: int | None) -> None:
        span.set_attributes(_provider_attributes(provider, host, port))

    def attempt_failed(self, exc: BaseException | None) -> None:
        """The current attempt failed and another follows (a retry or a fallback)."""
        span = self._attempt_span
        if span is None:  # the first failure: its span is made now, from when it started
            names = self._provider or ("?", "?")  # set by attempt(), which always came first
            span = self._child(names, *self._where, self._attempt_start)
        _set_error(span, exc)
        span.end()
        self._attempt_span = None
        self._multi = True

    # -- the end ----------------------------------------------------------------------------

    def _finish_attempt(self, error: BaseException | None) -> None:
        span, self._attempt_span = self._attempt_span, None
        if span is not None:
            if error is not None:
                _set_error(span, error)
            span.end()

    def _end_attributes(self, provider: Names, retries: int) -> dict[str, Any]:
        return {
            "gen_ai.provider.name": provider[0],
            "gen_ai.system": provider[0],
            "llama_client.provider": provider[1],
            "llama_client.attempts": self._n,
            "llama_client.retries": retries,
        }

    def end_ok(
        self,
        provider: Names,
        result: Any,
        tokens: tuple[int, int] | None,
        cost: float | None,
        retries: int,
    ) -> None:
        self._finish_attempt(None)
        attributes = self._end_attributes(provider, retries)
        if result is not None:
            model = getattr(result, "model", None)
            if model:
                attributes["gen_ai.response.model"] = model
            rid = getattr(result, "id", None)
            if rid:
                attributes["gen_ai.response.id"] = rid
            choices = getattr(result, "choices", None) or ()
            reasons = [c.finish_reason for c in choices if getattr(c, "finish_reason", None)]
            if reasons:
                attributes["gen_ai.response.finish_reasons"] = reasons
            if self.capture_content and choices:
                attributes["gen_ai.output.messages"] = output_messages(choices, self.max_content)
        _add_tokens(attributes, tokens, cost)
        self.span.set_attributes(attributes)
        self.span.end()

    def end_stream(
        self,
        provider: Names,
        seen: _StreamSeen | None,
        tokens: tuple[int, int] | None,
        cost: float | None,
        error: BaseException | None,
        retries: int,
    ) -> None:
        self._finish_attempt(error)
        attributes = self._end_attributes(provider, retries)
        span = self.span
        if seen is not None:
            if seen.model:
                attributes["gen_ai.response.model"] = seen.model
            if seen.id:
                attributes["gen_ai.response.id"] = seen.id
            if seen.finish:
                reasons = [v for _, v in sorted(seen.finish.items())]
                attributes["gen_ai.response.finish_reasons"] = reasons
            if seen.text is not None and seen.text:
                messages = [
                    {
                        "role": "assistant",
                        "parts": [
                            {"type": "text", "content": _cut("".join(parts), self.max_content)}
                        ],
                        "finish_reason": seen.finish.get(index, ""),
                    }
                    for index, parts in sorted(seen.text.items())
                ]
                attributes["gen_ai.output.messages"] = json.dumps(messages)
        _add_tokens(attributes, tokens, cost)
        span.set_attributes(attributes)
        if error is not None:
            _set_error(span, error)
        span.end()

    def end_error(self, exc: BaseException, retries: int) -> None:
        self._finish_attempt(exc)
        if self._provider is not None:
            self.span.set_attributes(
                {"llama_client.attempts": self._n, "llama_client.retries": retries}
            )
        _set_error(self.span, exc)
        self.span.end()


def _provider_attributes(provider: Names, host: str | None, port: int | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.provider.name": provider[0],
        "gen_ai.system": provider[0],
        "llama_client.provider": provider[1],
    }
    if host:
        attributes["server.address"] = host
    if port is not None:
        attributes["server.port"] = port
    return attributes


def _add_tokens(
    attributes: dict[str, Any], tokens: tuple[int, int] | None, cost: float | None
) -> None:
    if tokens is not None:
        attributes["gen_ai.usage.input_tokens"] = tokens[0]
        attributes["gen_ai.usage.output_tokens"] = tokens[1]
    if cost is not None:
        attributes["llama_client.cost_usd"] = cost


def _set_error(span: Span, exc: BaseException | None) -> None:
    name = type(exc).__name__ if exc is not None else "unknown"
    attributes: dict[str, Any] = {"error.type": name}
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        attributes["http.response.status_code"] = status
    span.set_attributes(attributes)
    message = str(exc) if exc is not None else ""
    span.set_status(Status(StatusCode.ERROR, f"{name}: {message[:MAX_MESSAGE]}"))


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more characters]"


def _parts(content: object, limit: int) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": _cut(content, limit)}]
    parts: list[dict[str, Any]] = []
    if isinstance(content, Sequence):
        for part in content:
            data = part.model_dump() if hasattr(part, "model_dump") else part
            if isinstance(data, Mapping) and data.get("type") == "text":
                parts.append({"type": "text", "content": _cut(str(data.get("text", "")), limit)})
            elif isinstance(data, Mapping):
                parts.append({"type": str(data.get("type", "unknown"))})
    return parts


def input_messages(messages: Sequence[Any], limit: int) -> str:
    """``gen_ai.input.messages``: the call's messages as JSON, in the conventions' parts
    format (texts cut at ``limit`` characters; images and other parts by their type only)."""
    out = []
    for message in messages:
        data = message.model_dump(exclude_none=True) if hasattr(message, "model_dump") else message
        if not isinstance(data, Mapping):
            continue
        role = str(data.get("role", ""))
        parts = _parts(data.get("content"), limit)
        if role == "tool":
            parts = [
                {
                    "type": "tool_call_response",
                    "id": data.get("tool_call_id"),
                    "response": _cut(str(data.get("content", "")), limit),
                }
            ]
        for call in data.get("tool_calls") or ():
            fn = (call.get("function") or {}) if isinstance(call, Mapping) else {}
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id") if isinstance(call, Mapping) else None,
                    "name": fn.get("name"),
                    "arguments": _cut(str(fn.get("arguments", "")), limit),
                }
            )
        out.append({"role": role, "parts": parts})
    return json.dumps(out, default=text_default)


def output_messages(choices: Sequence[Any], limit: int) -> str:
    """``gen_ai.output.messages``: the answer's choices as JSON, in the parts format."""
    out = []
    for choice in choices:
        message = choice.message
        parts = _parts(message.content, limit)
        for call in message.tool_calls or ():
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.id,
                    "name": call.function.name,
                    "arguments": _cut(call.function.arguments or "", limit),
                }
            )
        out.append(
            {
                "role": message.role or "assistant",
                "parts": parts,
                "finish_reason": choice.finish_reason or "",
            }
        )
    return json.dumps(out)
