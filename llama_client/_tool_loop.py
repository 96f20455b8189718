"""``chat.run_tools``: call the model, run the tools it asks for, repeat.

:class:`ToolLoop` holds every decision and does no I/O: what to send next, which calls to
run (with validated arguments) and which to answer with an error text, how to append the
assistant message and the ``tool`` results, when to stop. ``arun_tools``
(:mod:`llama_client._async.tool_loop`) and the ``run_tools`` generated from it are the
shells: they only send requests and call the tool functions (async ones concurrently).

History and servers that accept one call per assistant message: the stock Llama 3.1 / 3.2
chat templates raise on an assistant message with two tool calls (llama-server answers 400).
With ``split_tool_calls=True`` (the default) several calls of one reply are written as
consecutive ``assistant`` (one call) + ``tool`` pairs, which every server accepts.

Bounds: a reply asking for more than ``max_tool_calls`` calls (default
:data:`DEFAULT_MAX_TOOL_CALLS`) raises :class:`~llama_client.TooManyToolCallsError` before
any of them runs; a model (or a server) can write thousands. The async loop runs at most
``max_concurrency`` tools at a time (default :data:`DEFAULT_MAX_CONCURRENCY`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from ._json import text_default
from ._tool_calls import new_tool_call_id
from ._validation import normalize_messages
from .errors import (
    InvalidRequestError,
    MaxToolRoundsError,
    ToolCallArgumentsError,
    TooManyToolCallsError,
    UnsafeContentError,
)
from .tools import Tool, ToolSet
from .types.chat import ChatCompletion, ToolCall, Usage, add_usage

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_MAX_TOOL_CALLS",
    "PlannedCall",
    "ToolLoop",
    "ToolRunResult",
    "tool_output",
]

T = TypeVar("T")

#: At most this many tool calls per reply, by default (``run_tools(max_tool_calls=...)``).
DEFAULT_MAX_TOOL_CALLS = 64
#: The async loop runs at most this many tools at once, by default (``max_concurrency``).
DEFAULT_MAX_CONCURRENCY = 8


@dataclass
class ToolRunResult:
    """What ``run_tools`` returns.

    ``final`` is the last ChatCompletion (the plain answer, or the reply whose calls were
    handed back), ``messages`` the whole conversation including tool calls and results,
    ``rounds`` the number of requests made and ``usage`` their summed token usage.
    ``pending_tool_calls`` lists calls the SDK did not run because their tool has no handler
    (e.g. ``code_interpreter``): answer them yourself and continue the conversation.
    """

    final: ChatCompletion
    messages: list[dict[str, Any]]
    rounds: int
    usage: Usage
    pending_tool_calls: list[ToolCall] = field(default_factory=list)

    @property
    def content(self) -> str | None:
        """The text of the final answer."""
        return self.final.choices[0].message.content if self.final.choices else None


@dataclass
class PlannedCall:
    """One tool call of a reply: run ``tool`` with ``arguments``, or answer with ``error``."""

    call: ToolCall
    tool: Tool[..., Any] | None
    arguments: dict[str, Any]
    error: str | None = None


class ToolLoop:
    """The state and decisions of one ``run_tools`` conversation (no I/O)."""

    def __init__(
        self,
        messages: Sequence[Any],
        tools: object,
        *,
        max_rounds: int,
        raise_tool_errors: bool,
        split_tool_calls: bool,
        tool_choice: object,
        max_tool_calls: int = DEFAULT_MAX_TOOL_CALLS,
    ) -> None:
        _check_positive("max_rounds", max_rounds)
        _check_positive("max_tool_calls", max_tool_calls)
        self.tools = ToolSet.from_param(tools)
        if not self.tools:
            raise InvalidRequestError("tools", "run_tools needs at least one tool")
        self.messages: list[dict[str, Any]] = [dict(m) for m in normalize_messages(messages)]
        self.max_rounds = max_rounds
        self.max_tool_calls = max_tool_calls
        self.raise_tool_errors = raise_tool_errors
        self.split_tool_calls = split_tool_calls
        self.tool_choice = tool_choice
        self.rounds = 0
        self.usage = Usage()
        self._content: str | None = None  # the content of the reply being answered

    def check_runnable(self, *, allow_async: bool) -> None:
        """Before any I/O: the sync loop cannot run coroutine tools."""
        if allow_async:
            return
        for t in self.tools:
            if t.is_async:
                raise InvalidRequestError(
                    "tools",
                    f"tool {t.name!r} is async; use AsyncLlamaClient.chat.run_tools to run it",
                )

    def request_params(self) -> dict[str, Any]:
        """The ``tools`` and ``tool_choice`` of the next request.

        A forcing ``tool_choice`` ("required" or a named function) applies to the first
        request only; later rounds use "auto", or the model could never answer.
        """
        params: dict[str, Any] = {"tools": self.tools}
        choice = self.tool_choice
        if choice is not None:
            params["tool_choice"] = choice if self.rounds == 0 or choice == "none" else "auto"
        return params

    def plan(self, completion: ChatCompletion) -> list[PlannedCall] | ToolRunResult:
        """Read a reply: the calls to run, or the result when the conversation is over."""
        self.rounds += 1
        if completion.usage is not None:
            self.usage = add_usage(self.usage, completion.usage)
        if not completion.choices:
            return self._result(completion)
        message = completion.choices[0].message
        # Calls to tools that were not offered are answered with an error, so the model can
        # correct itself instead of the loop ending on an empty reply.
        calls = [*(message.tool_calls or []), *(message.rejected_tool_calls or [])]
        if not calls:
            self.messages.append(_assistant(message.content, None))
            return self._result(completion)
        if len(calls) > self.max_tool_calls:
            raise TooManyToolCallsError(
                len(calls), self.max_tool_calls, list(self.messages), completion
            )
        calls = [c if c.id else c.model_copy(update={"id": new_tool_call_id()}) for c in calls]
        pending = [
            c for c in calls if (t := self.tools.get(c.function.name)) is not None and not t.handler
        ]
        if pending:
            self.messages.append(_assistant(message.content, calls))
            return self._result(completion, pending)
        if self.rounds >= self.max_rounds:
            raise MaxToolRoundsError(self.max_rounds, list(self.messages), completion)
        self._content = message.content
        return [self._plan_call(c) for c in calls]

    def _plan_call(self, call: ToolCall) -> PlannedCall:
        name = call.function.name
        t = self.tools.get(name)
        if t is None:
            offered = ", ".join(sorted(self.tools.names))
            return PlannedCall(
                call, None, {}, f"Error: there is no tool named {name!r}. Tools: {offered}."
            )
        try:
            arguments = t.validate_arguments(call.function.arguments)
        except ToolCallArgumentsError as exc:
            return PlannedCall(
                call,
                t,
                {},
                f"Error: invalid arguments for {name}: {'; '.join(exc.errors)}. "
                "Call the tool again with corrected arguments.",
            )
        return PlannedCall(call, t, arguments)

    def tool_failed(self, planned: PlannedCall, exc: Exception) -> str:
        """The text sent back for a tool that raised (or re-raise when so configured). A
        guard's verdict on a tool result (UnsafeContentError) always stops the loop."""
        if self.raise_tool_errors or isinstance(exc, UnsafeContentError):
            raise exc
        return f"Error: {planned.call.function.name} raised {type(exc).__name__}: {exc}"

    def record(self, planned: Sequence[PlannedCall], outputs: Sequence[str]) -> None:
        """Append the assistant message(s) and the tool results of one round."""
        content = self._content
        calls = [p.call for p in planned]
        if self.split_tool_calls and len(calls) > 1:
            for i, (call, output) in enumerate(zip(calls, outputs, strict=True)):
                self.messages.append(_assistant(content if i == 0 else None, [call]))
                self.messages.append(_tool_message(call, output))
        else:
            self.messages.append(_assistant(content, calls))
            self.messages.extend(
                _tool_message(call, output) for call, output in zip(calls, outputs, strict=True)
            )

    def _result(
        self, completion: ChatCompletion, pending: list[ToolCall] | None = None
    ) -> ToolRunResult:
        return ToolRunResult(
            final=completion,
            messages=self.messages,
            rounds=self.rounds,
            usage=self.usage,
            pending_tool_calls=pending or [],
        )


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequestError(name, f"must be a positive integer, got {value!r}")


def tool_output(value: object) -> str:
    """A tool's return value as the text of a ``tool`` message."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False, default=text_default)
    except (TypeError, ValueError):
        return str(value)


def _assistant(content: str | None, calls: Sequence[ToolCall] | None) -> dict[str, Any]:
    # content "" rather than null next to tool calls: llama-cpp-python rejects null there.
    message: dict[str, Any] = {"role": "assistant", "content": content or ""}
    if calls:
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.function.name, "arguments": c.function.arguments or "{}"},
            }
            for c in calls
        ]
    return message


def _tool_message(call: ToolCall, output: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.id, "content": output}


# --------------------------------------------------------------------------- shims
# The loop itself is written once, async, in llama_client/_async/tool_loop.py; the sync twin
# is generated by scripts/unasync.py, which maps each async helper below to its sync one.


async def run_concurrently(
    run: Callable[[T], Awaitable[str]], items: Sequence[T], limit: int
) -> list[str]:
    """Run ``run`` over ``items`` concurrently (``asyncio.gather``), at most ``limit`` at a
    time; the results in the order of ``items``."""
    import asyncio  # only the async loop needs it

    slots = asyncio.Semaphore(limit)

    async def bounded(item: T) -> str:
        async with slots:
            return await run(item)

    return list(await asyncio.gather(*(bounded(item) for item in items)))


def run_in_order(run: Callable[[T], str], items: Sequence[T], limit: int) -> list[str]:
    """Run ``run`` over ``items`` one after the other, in order (the sync twin: one at a time
    is within any ``limit``)."""
    return [run(item) for item in items]


async def maybe_awaited(value: object) -> object:
    """The value a tool returned, awaited when it is awaitable (an async tool)."""
    if isinstance(value, Awaitable):
        return await value
    return value


def as_returned(value: object) -> object:
    """The value a tool returned (the sync twin of :func:`maybe_awaited`: the sync loop refuses
    async tools before any I/O)."""
    return value


def fit_for_loop(messages: list[Any], budget: int, tools: object, model: str | None) -> list[Any]:
    """The messages of a tool loop's next request, trimmed to ``budget`` prompt tokens
    (``run_tools(context_budget=...)``): the oldest rounds go first, a call never without its
    results; the system prompt, the last user message and the newest round stay."""
    from ._tool_calls import prepare_tool_params
    from .tokens import fit_messages

    defs = prepare_tool_params({"tools": tools})[0].get("tools")
    kept, _ = fit_messages(
        messages, budget, tools=defs, model=model, strategy="messages", keep="user"
    )
    return kept
