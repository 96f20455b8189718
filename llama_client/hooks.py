"""Hooks: your callbacks, called with a typed event at each step of a call. No I/O.

``LlamaClient(hooks=Hooks(on_request=..., on_response=..., on_retry=..., on_fallback=...,
on_stream_end=..., on_error=...))`` calls each callback with one of the frozen event objects
below; ``hooks=callback`` (a bare callable) receives every event. Every event has ``kind``
(``"request"``, ``"retry"``, ...) and ``to_dict()``, a JSON-ready dict, so one hook can log
every call to a JSONL file::

    def log(event):
        with open("calls.jsonl", "a") as f:
            f.write(json.dumps(event.to_dict()) + "\\n")

    client = LlamaClient(hooks=log)

What a call emits, in order: a :class:`RequestEvent` before every HTTP attempt (retries and
fallback included), a :class:`RetryEvent` when an attempt failed and the same provider is tried
again, a :class:`FallbackEvent` when a provider failed and the next one is tried; then either a
:class:`ResponseEvent` (the answer arrived; for a stream: its status and headers arrived) or
an :class:`ErrorEvent` (the call failed for good). A stream ends with a
:class:`StreamEndEvent`: exhausted, failed, closed early or dropped. ``call_id`` ties the events
of one call together.

A call refused before any I/O (:class:`~llama_client.errors.InvalidRequestError`: bad
arguments, checked when the call is made) emits no event: it never became a request.

Secrets never reach a hook: credential headers are masked (``"[secure]"``), URLs lose their
password, and error messages are already stripped of the request's credentials. The request
body (``RequestEvent.body``) is your own data: it holds the prompt, never the API key.

Hooks are plain functions, called in the thread (or the event loop task) that makes the call,
for :class:`~llama_client.AsyncLlamaClient` too: a hook that does slow I/O slows every call, so
hand the event to a queue or a logging handler instead. A client shared by threads calls its
hooks from each of them: make them thread-safe (a ``logging`` handler is). A coroutine function is refused. A hook
that raises does not break the call: the exception is logged (logger ``llama_client.hooks``,
level ERROR, with its traceback) and the call goes on. With ``Hooks(..., raise_errors=True)``
it propagates instead, as :class:`~llama_client.errors.HookError` (its ``__cause__`` is the
hook's exception).
"""

from __future__ import annotations

import inspect
import logging
import time as _time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from .errors import HookError, InvalidRequestError

__all__ = [
    "ErrorEvent",
    "Event",
    "FallbackEvent",
    "Hook",
    "Hooks",
    "RequestEvent",
    "ResponseEvent",
    "RetryEvent",
    "StreamEndEvent",
]

logger = logging.getLogger("llama_client.hooks")


@dataclass(frozen=True)
class _Event:
    kind: ClassVar[str] = ""
    #: when the event happened (``time.time()``: seconds since the epoch)
    time: float = field(default_factory=_time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict, ``kind`` first (bytes decoded as UTF-8)."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out


@dataclass(frozen=True)
class RequestEvent(_Event):
    """An HTTP attempt is about to be sent (once per attempt: retries and fallback included)."""

    kind: ClassVar[str] = "request"
    call_id: int
    #: 1 for the first HTTP attempt of the call, counting on over retries and providers
    attempt: int
    provider: str
    #: the model the call asked for (``None`` for a call without one, e.g. ``models.list()``)
    model: str | None
    method: str
    #: the URL, its password masked
    url: str
    #: the request headers, every credential header shown as ``"[secure]"``
    headers: Mapping[str, str]
    stream: bool
    #: the request body as sent (JSON bytes), or b""
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class RetryEvent(_Event):
    """An attempt failed with an error that is retried: the same provider is asked again
    after ``wait`` seconds."""

    kind: ClassVar[str] = "retry"
    call_id: int
    #: the attempt that failed (as in :attr:`RequestEvent.attempt`)
    attempt: int
    provider: str
    model: str | None
    #: the exception's class name (``"RateLimitError"``, ``"APIConnectionError"``)
    error: str
    status_code: int | None
    message: str
    wait: float


@dataclass(frozen=True)
class FallbackEvent(_Event):
    """A provider failed (retries spent, or an error that is not retried) and the call moves
    on to the next provider."""

    kind: ClassVar[str] = "fallback"
    call_id: int
    from_provider: str
    to_provider: str
    model: str | None
    error: str
    status_code: int | None
    message: str


@dataclass(frozen=True)
class ResponseEvent(_Event):
    """The call was answered. For a stream this is when its status and headers arrived; the
    tokens come with its :class:`StreamEndEvent`."""

    kind: ClassVar[str] = "response"
    call_id: int
    provider: str
    model: str | None
    status_code: int
    #: the server's ``x-request-id`` (or ``request-id``) header
    request_id: str | None
    stream: bool
    #: HTTP attempts made (1 when the first one succeeded)
    attempts: int
    retries: int
    #: seconds since the call started
    elapsed: float
    #: what the answer says (None for a stream, or when the server did not say)
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: tuple[str, ...] = ()
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    #: estimated USD (None when the price or the token counts are unknown)
    cost: float | None = None


@dataclass(frozen=True)
class StreamEndEvent(_Event):
    """A streamed call's stream ended: ``outcome`` is ``"completed"`` (read to its end),
    ``"error"`` (it failed: ``error`` and ``message`` say how) or ``"closed"`` (closed or
    dropped before its end)."""

    kind: ClassVar[str] = "stream_end"
    call_id: int
    provider: str
    model: str | None
    outcome: str
    chunks: int
    elapsed: float
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: tuple[str, ...] = ()
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float | None = None
    error: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class ErrorEvent(_Event):
    """The call failed for good (after its retries and fallback): the exception is raised
    to the caller right after this event."""

    kind: ClassVar[str] = "error"
    call_id: int
    provider: str | None
    model: str | None
    error: str
    status_code: int | None
    message: str
    attempts: int
    retries: int
    elapsed: float


#: Any event a hook can receive.
Event = RequestEvent | RetryEvent | FallbackEvent | ResponseEvent | StreamEndEvent | ErrorEvent
#: A hook: a plain function of one event (its return value is ignored).
Hook = Callable[[Any], object]

_KINDS = ("request", "retry", "fallback", "response", "stream_end", "error")


class Hooks:
    """Callbacks per kind of event; ``on_event`` receives every event. Each argument is a
    function or a list of functions, called in order."""

    __slots__ = ("_by_kind", "raise_errors")

    def __init__(
        self,
        *,
        on_request: Hook | list[Hook] | None = None,
        on_response: Hook | list[Hook] | None = None,
        on_retry: Hook | list[Hook] | None = None,
        on_fallback: Hook | list[Hook] | None = None,
        on_stream_end: Hook | list[Hook] | None = None,
        on_error: Hook | list[Hook] | None = None,
        on_event: Hook | list[Hook] | None = None,
        raise_errors: bool = False,
    ) -> None:
        given = {
            "request": on_request,
            "response": on_response,
            "retry": on_retry,
            "fallback": on_fallback,
            "stream_end": on_stream_end,
            "error": on_error,
        }
        every = _checked("on_event", on_event)
        self._by_kind: dict[str, tuple[Hook, ...]] = {}
        for kind in _KINDS:
            hooks = _checked(f"on_{kind}", given[kind]) + every
            if hooks:
                self._by_kind[kind] = hooks
        #: True: a hook's exception propagates as HookError; False (default): it is logged
        self.raise_errors = bool(raise_errors)

    def wants(self, kind: str) -> bool:
        """Whether any hook listens to events of ``kind``."""
        return kind in self._by_kind

    def emit(self, event: _Event) -> None:
        """Call the hooks of ``event.kind`` with ``event``."""
        for hook in self._by_kind.get(event.kind, ()):
            try:
                result = hook(event)
            except Exception as exc:
                self._failed(hook, event, exc)
                continue
            if inspect.isawaitable(result):  # an async callable that is no coroutine function
                close = getattr(result, "close", None)
                if close is not None:
                    close()
                self._failed(hook, event, TypeError("a hook must not return an awaitable"))

    def _failed(self, hook: Hook, event: _Event, exc: Exception) -> None:
        name = getattr(hook, "__qualname__", None) or type(hook).__name__
        if self.raise_errors:
            raise HookError(name, event.kind) from exc
        logger.error(
            "hook %s raised on a %s event; the call goes on", name, event.kind, exc_info=exc
        )

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self._by_kind.items())
        return f"Hooks({counts})"


def _checked(name: str, value: Hook | list[Hook] | tuple[Hook, ...] | None) -> tuple[Hook, ...]:
    if value is None:
        return ()
    hooks = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    for hook in hooks:
        if not callable(hook):
            raise InvalidRequestError(f"hooks.{name}", f"must be callable, got {hook!r}")
        if inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(
            getattr(hook, "__call__", None)  # noqa: B004 - an object whose __call__ is async
        ):
            raise InvalidRequestError(
                f"hooks.{name}",
                "must be a plain function: hooks are called inline, also by AsyncLlamaClient "
                "(hand the event to an asyncio.Queue to do async work)",
            )
    return hooks


def as_hooks(value: Hooks | Hook | None) -> Hooks | None:
    """``hooks=`` of the clients: a :class:`Hooks`, a function receiving every event, or None."""
    if value is None or isinstance(value, Hooks):
        return value
    if callable(value):
        return Hooks(on_event=value)
    raise InvalidRequestError("hooks", f"must be a Hooks or a function, got {value!r}")
