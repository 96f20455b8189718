"""Watching a call: usage totals, hooks and OpenTelemetry spans, fed from the one request
path. No I/O.

The client holds one :class:`Observer` (its usage totals, and its hooks and tracer when it has
them) and asks it for a :class:`Watch` per call. The send loop tells the watch what happens,
in order, at a handful of points:

* the sender: :meth:`Watch.attempt` before every HTTP attempt, :meth:`Watch.retrying` when
  tenacity is about to retry one;
* the client's loop: :meth:`Watch.fell_over` when a provider failed and the next one is tried,
  :meth:`Watch.answered` when the answer arrived (a stream: when it opened),
  :meth:`Watch.failed` when the call fails for good (any exception, cancellation included);
* a stream: :meth:`Watch.stream_ended` once, when it is exhausted, fails, is closed or dropped.

Everything a hook or a span needs is computed here, and only when something listens: with no
hooks and no tracer a watch exists only for chat calls and only adds to the usage totals.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._redact import is_credential_header
from ._secrets import mask_url

if TYPE_CHECKING:
    import httpx

    from ._call import Call
    from ._otel import CallSpan, Tracer
    from ._streaming import ChatChunkDecoder
    from .hooks import Hooks
    from .providers._endpoint import Endpoint
    from .types.chat import ChatCompletionChunk
    from .usage import UsageTotals

__all__ = ["Observer", "Watch"]

_ids = itertools.count(1)  # next() on a count is atomic in CPython: ids are unique
#: Characters of server text (an error message) a hook or a span receives at most.
MAX_MESSAGE = 2000


class Observer:
    """A client's usage totals, and its hooks and tracer (None when it has none)."""

    __slots__ = ("hooks", "tracer", "usage")

    def __init__(self, usage: UsageTotals, hooks: Hooks | None, tracer: Tracer | None) -> None:
        self.usage = usage
        self.hooks = hooks
        self.tracer = tracer

    def watch(self, call: Call[Any], default_model: str | None, routed: str) -> Watch | None:
        """A watch for ``call``, planned to go to the provider named ``routed`` first; None
        for a call nothing watches (no hooks or tracer, and not a chat call, so no usage)."""
        if self.hooks is None and self.tracer is None and call.params is None:
            return None
        model = call.model or default_model
        if model and call.model and model.startswith(routed + ":"):  # "groq:<id>" routing
            model = model[len(routed) + 1 :]
        return Watch(self, call, model)


def _error_fields(exc: BaseException) -> tuple[str, int | None, str]:
    status = getattr(exc, "status_code", None)
    message = str(exc)
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + f"... [{len(message) - MAX_MESSAGE} more characters]"
    return type(exc).__name__, status if isinstance(status, int) else None, message


#: Masked copies of the header sets seen lately (most calls send the same few sets).
_MASKED: dict[tuple[tuple[bytes, bytes], ...], dict[str, str]] = {}


def _masked_headers(headers: httpx.Headers) -> dict[str, str]:
    """The headers as a dict, every credential header shown as ``"[secure]"``."""
    key = tuple(headers.raw)
    masked = _MASKED.get(key)
    if masked is None:
        masked = {
            name: "[secure]" if is_credential_header(name) else value
            for name, value in headers.items()
        }
        if len(_MASKED) >= 64:
            _MASKED.clear()
        _MASKED[key] = masked
    return dict(masked)  # a copy: a hook may change its own


class _StreamSeen:
    """What a watched stream's chunks said (only when a hook or a span wants it)."""

    __slots__ = ("finish", "id", "kept", "model", "text")

    def __init__(self, capture: bool) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.finish: dict[int, str] = {}
        #: choice index -> its text (only when content is captured, bounded by the tracer)
        self.text: dict[int, list[str]] | None = {} if capture else None
        self.kept: dict[int, int] = {}  # characters kept per choice


class Watch:
    """One call, as observed. See the module docstring for who calls what."""

    __slots__ = (
        "_end",
        "_pending_end",
        "_seen",
        "_started",
        "answered_by",
        "attempts",
        "call",
        "call_id",
        "ep",
        "hooks",
        "model",
        "provider_retries",
        "retries",
        "span",
        "usage",
    )

    def __init__(self, observer: Observer, call: Call[Any], model: str | None) -> None:
        self.call = call
        self.model = model
        self.usage = observer.usage if call.params is not None else None
        hooks = observer.hooks
        self.hooks = hooks
        self.call_id = next(_ids)
        self.attempts = 0
        self.retries = 0
        self.provider_retries = 0  # retries on the provider being tried
        self.ep: Endpoint | None = None  # set by the client before each provider is tried
        self.answered_by: Endpoint | None = None
        self._started = time.monotonic()
        self._end = False
        self._pending_end: tuple[ChatChunkDecoder, BaseException | None, bool] | None = None
        self._seen: _StreamSeen | None = None
        tracer = observer.tracer
        self.span: CallSpan | None = tracer.start(call, model) if tracer is not None else None

    # -- names ------------------------------------------------------------------------------

    def _provider(self) -> str:
        ep = self.ep
        return ep.name if ep is not None else "?"

    def model_for(self, ep: Endpoint | None) -> str:
        """The model as the call named it (a ``provider:`` routing prefix removed)."""
        return self.model or ""

    def _elapsed(self) -> float:
        return time.monotonic() - self._started

    # -- the sender ---------------------------------------------------------------------------

    def attempt(self, request: httpx.Request) -> None:
        """An HTTP attempt of this call is about to be sent."""
        self.attempts += 1
        span = self.span
        if span is not None:
            span.attempt(self.attempts, _names(self.ep), request)
        hooks = self.hooks
        if hooks is not None and hooks.wants("request"):
            from .hooks import RequestEvent

            hooks.emit(
                RequestEvent(
                    self.call_id,
                    self.attempts,
                    self._provider(),
                    self.model_for(self.ep) or None,
                    request.method,
                    mask_url(request.url),
                    _masked_headers(request.headers),
                    self.call.stream,
                    bytes(request.content) if request.content else b"",
                )
            )

    def retrying(self, exc: BaseException | None, wait: float) -> None:
        """The last attempt failed with ``exc`` and is retried after ``wait`` seconds."""
        self.retries += 1
        self.provider_retries += 1
        if self.span is not None:
            self.span.attempt_failed(exc)
        hooks = self.hooks
        if hooks is not None and hooks.wants("retry"):
            from .hooks import RetryEvent

            error, status, message = _error_fields(exc) if exc else ("unknown", None, "")
            hooks.emit(
                RetryEvent(
                    self.call_id,
                    self.attempts,
                    self._provider(),
                    self.model_for(self.ep) or None,
                    error,
                    status,
                    message,
                    wait,
                )
            )

    def retry_logger(
        self, log: Callable[[Any], object] | None
    ) -> Callable[[Any], None]:  # the tenacity RetryCallState
        """A tenacity ``before_sleep`` that tells this watch, after ``log``."""

        def before_sleep(state: Any) -> None:
            if log is not None:
                log(state)
            outcome = state.outcome
            exc = outcome.exception() if outcome is not None else None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            self.retrying(exc, float(wait))

        return before_sleep

    # -- the client's loop ------------------------------------------------------------------

    def fell_over(self, exc: BaseException, to: Endpoint) -> None:
        """The provider being tried failed with ``exc``; ``to`` is tried next."""
        ep = self.ep
        self._pending_end = None  # a stream that failed before its first chunk
        if self.usage is not None and ep is not None:
            self.usage.add(ep.name, self.model_for(ep), errors=1, retries=self.provider_retries)
        self.provider_retries = 0
        if self.span is not None:
            self.span.attempt_failed(exc)
        hooks = self.hooks
        if hooks is not None and hooks.wants("fallback"):
            from .hooks import FallbackEvent

            error, status, message = _error_fields(exc)
            hooks.emit(
                FallbackEvent(
                    self.call_id,
                    self._provider(),
                    to.name,
                    self.model_for(ep) or None,
                    error,
                    status,
                    message,
                )
            )

    def failed(self, exc: BaseException) -> None:
        """The call fails for good with ``exc`` (raised to the caller next)."""
        if self._end:
            return
        self._end = True
        ep = self.ep
        if self.usage is not None and ep is not None:
            self.usage.add(ep.name, self.model_for(ep), errors=1, retries=self.provider_retries)
        if self.span is not None:
            self.span.end_error(exc, self.retries)
        hooks = self.hooks
        if hooks is not None and hooks.wants("error"):
            from .hooks import ErrorEvent

            error, status, message = _error_fields(exc)
            hooks.emit(
                ErrorEvent(
                    self.call_id,
                    ep.name if ep is not None else None,
                    self.model_for(ep) or None,
                    error,
                    status,
                    message,
                    self.attempts,
                    self.retries,
                    self._elapsed(),
                )
            )

    def answered(self, response: httpx.Response, result: Any) -> None:
        """The answer arrived: ``result`` is what the call returns (a stream: the open
        stream; a raw call: None, its :meth:`parsed` follows if the caller parses it)."""
        ep = self.ep
        self.answered_by = ep
        provider = ep.name if ep is not None else "?"
        model = self.model_for(ep)
        if self.call.stream:
            self._respond(response, provider, model, None, None, None, stream=True)
            pending, self._pending_end = self._pending_end, None
            if pending is not None:  # the stream ended while it was read up to its first chunk
                cost = self.stream_ended(*pending)
                if result is not None:
                    result._cost = cost
            return
        self._end = True
        tokens = cost = None
        if self.usage is not None:
            tokens, cost = self._record(provider, model, result, requests=1)
            if cost is not None and hasattr(result, "_set_cost"):
                result._set_cost(cost)
        if self.hooks is None and self.span is None:
            return  # usage only (the usual case): nothing else listens
        if self.span is not None:
            self.span.end_ok(_names(ep), result, tokens, cost, self.retries)
        self._respond(response, provider, model, result, tokens, cost, stream=False)

    def _record(
        self, provider: str, model: str, result: Any, *, requests: int, unmetered: int = 0
    ) -> tuple[tuple[int, int] | None, float | None]:
        """Add an answered call to the usage totals: its tokens and estimated cost."""
        usage = getattr(result, "usage", None) if result is not None else None
        assert self.usage is not None
        if usage is None:
            self.usage.add(
                provider,
                model,
                requests=requests,
                retries=self.provider_retries,
                unmetered=1 if requests else unmetered,
            )
            return None, None
        prompt, completion = usage.prompt_tokens, usage.completion_tokens
        cost = self.usage.answered(
            provider,
            model,
            getattr(result, "model", None) or "",
            prompt,
            completion,
            self.provider_retries if requests else 0,
            requests,
            unmetered,
        )
        return (prompt, completion), cost

    def parsed(self, result: Any) -> Any:
        """A raw call's result, read when the caller parsed it: its tokens join the totals
        (the request was counted, as unmetered, when the answer arrived)."""
        ep = self.answered_by
        if self.usage is not None and ep is not None and getattr(result, "usage", None):
            _, cost = self._record(ep.name, self.model_for(ep), result, requests=0, unmetered=-1)
            if cost is not None and hasattr(result, "_set_cost"):
                result._set_cost(cost)
        return result

    def _respond(
        self,
        response: httpx.Response,
        provider: str,
        model: str,
        result: Any,
        tokens: tuple[int, int] | None,
        cost: float | None,
        *,
        stream: bool,
    ) -> None:
        hooks = self.hooks
        if hooks is None or not hooks.wants("response"):
            return
        from .hooks import ResponseEvent

        headers = response.headers
        hooks.emit(
            ResponseEvent(
                self.call_id,
                provider,
                model or None,
                response.status_code,
                headers.get("x-request-id") or headers.get("request-id"),
                stream,
                self.attempts,
                self.retries,
                self._elapsed(),
                getattr(result, "model", None) or None,
                getattr(result, "id", None) or None,
                _finish_reasons(result),
                tokens[0] if tokens else None,
                tokens[1] if tokens else None,
                cost,
            )
        )

    # -- streams ----------------------------------------------------------------------------

    def chunk_watcher(
        self, normalize: Callable[[ChatCompletionChunk], ChatCompletionChunk] | None
    ) -> Callable[[ChatCompletionChunk], ChatCompletionChunk] | None:
        """The chunk normaliser for this call's stream: ``normalize``, plus noting what the
        chunks say when a hook or a span wants it (else ``normalize`` itself)."""
        if self.hooks is None and self.span is None:
            return normalize
        capture = self.span is not None and self.span.capture_content
        seen = self._seen = _StreamSeen(capture)
        limit = self.span.max_content if self.span is not None else 0

        def watch(chunk: ChatCompletionChunk) -> ChatCompletionChunk:
            if normalize is not None:
                chunk = normalize(chunk)
            if seen.id is None and chunk.id:
                seen.id = chunk.id
            if seen.model is None and chunk.model:
                seen.model = chunk.model
            for choice in chunk.choices:
                if choice.finish_reason:
                    seen.finish[choice.index] = choice.finish_reason
                text = seen.text
                content = choice.delta.content
                if text is not None and content:
                    kept = seen.kept.get(choice.index, 0)
                    if kept <= limit:  # a running count: linear in the stream's length
                        text.setdefault(choice.index, []).append(content)
                        seen.kept[choice.index] = kept + len(content)
            return chunk

        return watch

    def stream_ended(
        self, decoder: ChatChunkDecoder, error: BaseException | None, closed: bool
    ) -> float | None:
        """The stream of this call ended (once): read to its end, failed with ``error``, or
        ``closed`` before its end. Returns the estimated cost (None when unknown)."""
        if self._end:
            return None
        if self.answered_by is None:  # still being read up to its first chunk (fallback)
            self._pending_end = (decoder, error, closed)
            return None
        self._end = True
        ep = self.answered_by
        provider, model = ep.name, self.model_for(ep)
        # (getattr: a provider's own stream decoder may keep neither)
        last = getattr(decoder, "last", None)
        tokens = cost = None
        if self.usage is not None:
            tokens, cost = self._record(provider, model, last, requests=1)
        outcome = "error" if error is not None else "closed" if closed else "completed"
        seen = self._seen
        if self.span is not None:
            self.span.end_stream(_names(ep), seen, tokens, cost, error, self.retries)
        hooks = self.hooks
        if hooks is not None and hooks.wants("stream_end"):
            from .hooks import StreamEndEvent

            name, _, message = _error_fields(error) if error is not None else (None, None, None)
            hooks.emit(
                StreamEndEvent(
                    self.call_id,
                    provider,
                    model or None,
                    outcome,
                    getattr(decoder, "chunks_seen", 0),
                    self._elapsed(),
                    seen.model if seen else None,
                    seen.id if seen else None,
                    tuple(v for _, v in sorted(seen.finish.items())) if seen else (),
                    tokens[0] if tokens else None,
                    tokens[1] if tokens else None,
                    cost,
                    name,
                    message,
                )
            )
        return cost


def _names(ep: Endpoint | None) -> tuple[str, str]:
    """A provider's names for a span: the GenAI conventions' name, and the registry name."""
    if ep is None:
        return ("?", "?")
    return (ep.provider.semconv_name or ep.name, ep.name)


def _finish_reasons(result: Any) -> tuple[str, ...]:
    choices = getattr(result, "choices", None)
    if not choices:
        return ()
    return tuple(c.finish_reason for c in choices if getattr(c, "finish_reason", None))


def request_attributes(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The GenAI ``gen_ai.request.*`` attributes of a chat call's parameters."""
    if not params:
        return {}
    out: dict[str, Any] = {}
    max_tokens = params.get("max_tokens") or params.get("max_completion_tokens")
    for key, value in (
        ("max_tokens", max_tokens),
        ("temperature", params.get("temperature")),
        ("top_p", params.get("top_p")),
        ("top_k", params.get("top_k")),
        ("frequency_penalty", params.get("frequency_penalty")),
        ("presence_penalty", params.get("presence_penalty")),
        ("seed", params.get("seed")),
    ):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"gen_ai.request.{key}"] = value
    stop = params.get("stop")
    if isinstance(stop, str):
        out["gen_ai.request.stop_sequences"] = [stop]
    elif isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
        out["gen_ai.request.stop_sequences"] = list(stop)
    n = params.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:
        out["gen_ai.request.choice.count"] = n
    return out
