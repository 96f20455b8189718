"""``chat.run_tools``: the loop that sends requests and calls the tools.

Every decision is :class:`~llama_client._tool_loop.ToolLoop`'s (no I/O); this shell only sends
the next request and runs the calls of each reply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._tool_loop import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_TOOL_CALLS,
    PlannedCall,
    ToolLoop,
    ToolRunResult,
    _check_positive,
    fit_for_loop,
    maybe_awaited,
    run_concurrently,
    tool_output,
)

if TYPE_CHECKING:
    from .chat import AsyncCompletions

__all__ = ["arun_tools"]


async def arun_tools(
    completions: AsyncCompletions,
    messages: Sequence[Any],
    tools: object,
    *,
    model: str | None,
    max_rounds: int,
    raise_tool_errors: bool,
    split_tool_calls: bool,
    params: Mapping[str, Any],
    max_tool_calls: int = DEFAULT_MAX_TOOL_CALLS,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    context_budget: int | None = None,
) -> ToolRunResult:
    """Call the model, run the tools it asks for, send the results back; repeat.

    The calls of one reply run concurrently in the async client (``asyncio.gather``, at most
    ``max_concurrency`` at a time) and one after the other, in the order they were called, in
    the sync client. Sync tool functions are called directly in the event loop; make slow
    ones async.
    """
    params = dict(params)
    _check_positive("max_concurrency", max_concurrency)
    loop = ToolLoop(
        messages,
        tools,
        max_rounds=max_rounds,
        raise_tool_errors=raise_tool_errors,
        split_tool_calls=split_tool_calls,
        tool_choice=params.pop("tool_choice", None),
        max_tool_calls=max_tool_calls,
    )
    loop.check_runnable(allow_async=True)

    async def run(planned: PlannedCall) -> str:
        if planned.error is not None or planned.tool is None or planned.tool.handler is None:
            return planned.error or ""
        try:
            return tool_output(await maybe_awaited(planned.tool.handler(**planned.arguments)))
        except Exception as exc:
            return loop.tool_failed(planned, exc)

    while True:
        request = loop.request_params()
        sent = loop.messages
        if context_budget is not None:
            sent = fit_for_loop(sent, context_budget, request["tools"], model)
        completion = await completions.create(messages=sent, model=model, **params, **request)
        plan = loop.plan(completion)
        if isinstance(plan, ToolRunResult):
            return plan
        loop.record(plan, await run_concurrently(run, plan, max_concurrency))
