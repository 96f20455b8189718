"""run_tools is bounded, whatever the model asks for: through the fault server, every client.

- A reply asking for more than ``max_tool_calls`` calls (3,000 as ``tool_calls``, or as a
  JSON list written in the text) raises :class:`TooManyToolCallsError` (an ``APIError``)
  before any tool runs; exactly ``max_tool_calls`` calls all run.
- The async loop runs at most ``max_concurrency`` tools at once.
- Tool-call arguments nested 10,000 levels deep are invalid arguments: reported back to the
  model like any invalid JSON (the tool does not run), never a bare ``RecursionError``; the
  same for ``parsed_arguments()`` and ``validate_arguments()`` called directly.
- Bad limits are refused before any I/O.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

import pytest

import llama_client
from llama_client import (
    APIError,
    AsyncLlamaClient,
    InvalidRequestError,
    LlamaClient,
    ResponseValidationError,
    ToolCallArgumentsError,
    TooManyToolCallsError,
    tool,
)
from llama_client._tool_loop import DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_TOOL_CALLS
from llama_client.types.chat import FunctionCall
from tests.faultserver import FaultServer, completion, respond
from tests.wire import FAULT, completion_body

MSGS = [{"role": "user", "content": "Weather everywhere?"}]
DEEP = "[" * 10_000 + "]" * 10_000

RAN: list[str] = []


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    RAN.append(city)
    return f"sunny in {city}"


@pytest.fixture(autouse=True)
def _clear() -> None:
    RAN.clear()


def tool_reply(calls: list[dict[str, Any]], content: str | None = None) -> Any:
    body = completion_body(content, server=FAULT)
    body["choices"][0]["message"]["tool_calls"] = calls
    body["choices"][0]["finish_reason"] = "tool_calls"
    return respond(200, body)


def weather_call(i: int, arguments: str | None = None) -> dict[str, Any]:
    return {
        "id": f"call_{i}",
        "type": "function",
        "function": {
            "name": "get_weather",
            "arguments": arguments or json.dumps({"city": f"c{i}"}),
        },
    }


def run_tools(h: Any, **kw: Any) -> Any:
    """``chat.run_tools`` on the harness's client, sync or async."""
    kw.setdefault("messages", MSGS)
    kw.setdefault("tools", [get_weather])
    if h.loop is None:
        return h.client.chat.run_tools(**kw)
    return h._run(h.client.chat.run_tools(**kw))


def sent_messages(server: FaultServer, i: int) -> list[dict[str, Any]]:
    return json.loads(server.requests[i].body)["messages"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------ the call cap


def test_3000_tool_calls_raise_before_any_runs(make: Any, server: FaultServer) -> None:
    server.script(tool_reply([weather_call(i) for i in range(3000)]), completion("unused"))
    with pytest.raises(TooManyToolCallsError) as info:
        run_tools(make())
    exc = info.value
    assert isinstance(exc, ResponseValidationError) and isinstance(exc, APIError)
    assert (exc.count, exc.max_tool_calls) == (3000, DEFAULT_MAX_TOOL_CALLS)
    assert "3000" in str(exc) and "max_tool_calls" in str(exc)
    assert RAN == []
    assert server.attempts == 1
    assert exc.messages == MSGS  # the history before the offending reply
    assert exc.completion.choices[0].message.tool_calls is not None
    assert len(exc.completion.choices[0].message.tool_calls) == 3000


def test_3000_calls_written_as_a_json_list_in_text(make: Any, server: FaultServer) -> None:
    text = json.dumps(
        [{"name": "get_weather", "parameters": {"city": f"c{i}"}} for i in range(3000)]
    )
    server.script(respond(200, completion_body(text, server=FAULT)), completion("unused"))
    with pytest.raises(TooManyToolCallsError) as info:
        run_tools(make())
    assert info.value.count == 3000
    assert RAN == [] and server.attempts == 1


@pytest.mark.parametrize(("calls", "allowed"), [(5, True), (6, False)])
def test_the_cap_is_inclusive(make: Any, server: FaultServer, calls: int, allowed: bool) -> None:
    server.script(tool_reply([weather_call(i) for i in range(calls)]), completion("Done."))
    if allowed:
        result = run_tools(make(), max_tool_calls=5)
        assert result.content == "Done."
        assert sorted(RAN) == sorted(f"c{i}" for i in range(calls))
        assert sum(m["role"] == "tool" for m in sent_messages(server, 1)) == calls
    else:
        with pytest.raises(TooManyToolCallsError):
            run_tools(make(), max_tool_calls=5)
        assert RAN == []


def test_rejected_calls_count_too(make: Any, server: FaultServer) -> None:
    # Calls to tools that were not offered are answered too, so they count.
    calls = [weather_call(0)] + [
        {"id": f"x{i}", "type": "function", "function": {"name": "nope", "arguments": "{}"}}
        for i in range(3)
    ]
    server.script(tool_reply(calls), completion("Done."))
    with pytest.raises(TooManyToolCallsError) as info:
        run_tools(make(), max_tool_calls=3)
    assert info.value.count == 4 and RAN == []


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "3", None])
def test_bad_max_tool_calls_is_refused_before_io(make: Any, server: FaultServer, bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match="max_tool_calls"):
        run_tools(make(), max_tool_calls=bad)
    assert server.attempts == 0


# ------------------------------------------------------------------------------ concurrency


@pytest.mark.parametrize("limit", [None, 1, 3])
def test_async_tools_run_at_most_max_concurrency_at_once(
    mode: str, make: Any, server: FaultServer, limit: int | None
) -> None:
    if mode == "sync":
        pytest.skip("the sync loop runs tools one after the other")
    running = 0
    peak = 0

    @tool
    async def slow_weather(city: str) -> str:
        """Current weather, slowly."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.005)
        running -= 1
        return f"sunny in {city}"

    calls = [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": "slow_weather", "arguments": json.dumps({"city": f"c{i}"})},
        }
        for i in range(20)
    ]
    server.script(tool_reply(calls), completion("Done."))
    kw = {} if limit is None else {"max_concurrency": limit}
    result = run_tools(make(), tools=[slow_weather], **kw)
    assert result.content == "Done."
    assert peak == (DEFAULT_MAX_CONCURRENCY if limit is None else limit)
    assert sum(m["role"] == "tool" for m in sent_messages(server, 1)) == 20


@pytest.mark.parametrize("bad", [0, -2, False, 1.5, "8"])
def test_bad_max_concurrency_is_refused_before_io(server: FaultServer, bad: Any) -> None:
    async def run() -> None:
        async with AsyncLlamaClient(base_url=server.url, api_key="sk-x", model="m") as c:
            await c.chat.run_tools(messages=MSGS, tools=[get_weather], max_concurrency=bad)

    with pytest.raises(InvalidRequestError, match="max_concurrency"):
        asyncio.run(run())
    assert server.attempts == 0


def test_defaults_are_the_documented_constants() -> None:
    sync = inspect.signature(LlamaClient(base_url="http://x/v1").chat.run_tools).parameters
    asyn = inspect.signature(AsyncLlamaClient(base_url="http://x/v1").chat.run_tools).parameters
    assert sync["max_tool_calls"].default == DEFAULT_MAX_TOOL_CALLS
    assert asyn["max_tool_calls"].default == DEFAULT_MAX_TOOL_CALLS
    assert asyn["max_concurrency"].default == DEFAULT_MAX_CONCURRENCY
    assert "TooManyToolCallsError" in llama_client.__all__
    assert llama_client.errors.__doc__ is not None
    assert "TooManyToolCallsError" in llama_client.errors.__doc__


# ------------------------------------------------------------------------------ deep arguments


@pytest.mark.parametrize(
    "arguments",
    [
        json.dumps({"city": "x", "deep": json.loads("[" * 500 + "]" * 500)})[:-1]
        + ', "more": '
        + DEEP
        + "}",
        json.dumps('{"city": ' + DEEP + "}"),  # double-encoded
        DEEP,
    ],
    ids=["object", "double-encoded", "bare"],
)
def test_deep_tool_arguments_are_sent_back_as_invalid(
    make: Any, server: FaultServer, arguments: str
) -> None:
    server.script(tool_reply([weather_call(1, arguments)]), completion("Sorry."))
    result = run_tools(make())
    assert result.content == "Sorry."
    assert RAN == []  # the tool never ran
    answer = sent_messages(server, 1)[-1]
    assert answer["role"] == "tool" and answer["tool_call_id"] == "call_1"
    assert answer["content"].startswith("Error: invalid arguments for get_weather")


def test_parsed_arguments_too_deep_is_a_tool_call_arguments_error() -> None:
    for text in ('{"a": ' + DEEP + "}", json.dumps('{"a": ' + DEEP + "}")):
        with pytest.raises(ToolCallArgumentsError, match="nested too deeply"):
            FunctionCall(name="f", arguments=text).parsed_arguments()
        with pytest.raises(ToolCallArgumentsError, match="nested too deeply"):
            get_weather.validate_arguments(text)


def test_validate_arguments_of_a_deep_mapping() -> None:
    value: list[Any] = []
    for _ in range(20_000):
        value = [value]
    with pytest.raises(ToolCallArgumentsError, match="nested too deeply"):
        get_weather.validate_arguments({"city": value})
