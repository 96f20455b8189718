"""run_tools: sync and async loops against scripted server replies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import respx

from llama_client import (
    AsyncLlamaClient,
    InvalidRequestError,
    LlamaClient,
    MaxToolRoundsError,
    ToolRunResult,
    tool,
)
from llama_client.tools import code_interpreter
from tests.wire import LOCAL_BASE_URL, PLAIN, Script, llamacpp_call, vllm_call

MSGS = [{"role": "user", "content": "Weather in Paris and the time?"}]


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


@tool
def get_time(tz: str = "UTC") -> dict[str, str]:
    """The current time."""
    return {"tz": tz, "time": "12:00"}


@tool
def broken(x: int) -> str:
    """Always fails."""
    raise RuntimeError("backend down")


def _calls(*calls: dict[str, Any]) -> dict[str, Any]:
    return PLAIN.completion(None, tool_calls=list(calls), finish_reason="tool_calls")


def test_two_rounds_then_an_answer(mock: respx.MockRouter, client: LlamaClient) -> None:
    script = Script(
        _calls(vllm_call("get_weather", '{"city": "Paris"}', id="c1")),
        _calls(vllm_call("get_time", "{}", id="c2")),
        PLAIN.completion("Sunny, and it is noon."),
    )
    mock.post("/chat/completions").mock(side_effect=script)
    result = client.chat.run_tools(messages=MSGS, tools=[get_weather, get_time], max_rounds=3)
    assert isinstance(result, ToolRunResult)
    assert result.content == "Sunny, and it is noon."
    assert result.rounds == 3
    assert result.usage.total_tokens == 45
    assert result.pending_tool_calls == []
    roles = [m["role"] for m in result.messages]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert result.messages[1]["tool_calls"][0]["id"] == "c1"
    assert result.messages[2] == {"role": "tool", "tool_call_id": "c1", "content": "sunny in Paris"}
    assert json.loads(result.messages[4]["content"]) == {"tz": "UTC", "time": "12:00"}
    # every request carried the tools and the growing history; the caller's list is untouched
    assert [len(b["messages"]) for b in script.bodies] == [1, 3, 5]
    assert all(b["tools"][0]["function"]["name"] == "get_weather" for b in script.bodies)
    assert len(MSGS) == 1


def test_several_calls_are_split_into_single_call_messages(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    script = Script(
        PLAIN.completion(
            "On it.",
            tool_calls=[
                llamacpp_call("get_weather", '{"city": "Paris"}', id="a"),
                llamacpp_call("get_time", '{"tz": "CET"}', id="b"),
            ],
            finish_reason="tool_calls",
        ),
        PLAIN.completion("Done."),
    )
    mock.post("/chat/completions").mock(side_effect=script)
    result = client.chat.run_tools(messages=MSGS, tools=[get_weather, get_time])
    history = script.bodies[1]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "assistant", "tool"]
    assert [len(m["tool_calls"]) for m in history if m["role"] == "assistant"] == [1, 1]
    assert history[1]["content"] == "On it." and history[3]["content"] == ""
    assert [m["tool_call_id"] for m in history if m["role"] == "tool"] == ["a", "b"]
    assert result.messages[-1] == {"role": "assistant", "content": "Done."}


def test_several_calls_kept_together_when_asked(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    script = Script(
        _calls(
            vllm_call("get_weather", '{"city": "A"}', id="a"), vllm_call("get_time", "{}", id="b")
        ),
        PLAIN.completion("Done."),
    )
    mock.post("/chat/completions").mock(side_effect=script)
    client.chat.run_tools(messages=MSGS, tools=[get_weather, get_time], split_tool_calls=False)
    history = script.bodies[1]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in history[1]["tool_calls"]] == ["a", "b"]


def test_text_calls_from_servers_without_a_parser(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    script = Script(
        PLAIN.completion('<|python_tag|>{"name": "get_weather", "parameters": {"city": "Rome"}}'),
        PLAIN.completion("It is sunny in Rome."),
    )
    mock.post("/chat/completions").mock(side_effect=script)
    result = client.chat.run_tools(messages=MSGS, tools=[get_weather])
    assistant = script.bodies[1]["messages"][1]
    call_id = assistant["tool_calls"][0]["id"]
    assert call_id.startswith("call_")
    assert assistant["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Rome"}',
    }
    assert script.bodies[1]["messages"][2] == {
        "role": "tool",
        "tool_call_id": call_id,
        "content": "sunny in Rome",
    }
    assert result.content == "It is sunny in Rome."


def test_errors_are_fed_back_to_the_model(mock: respx.MockRouter, client: LlamaClient) -> None:
    script = Script(
        _calls(
            vllm_call("broken", '{"x": 1}', id="e1"),
            vllm_call("get_weather", '{"town": "Paris"}', id="e2"),
            vllm_call("get_weather", '{"city": "Par', id="e3"),
            vllm_call("nope", "{}", id="e4"),
        ),
        PLAIN.completion("Sorry."),
    )
    mock.post("/chat/completions").mock(side_effect=script)
    result = client.chat.run_tools(
        messages=MSGS, tools=[broken, get_weather], split_tool_calls=False
    )
    outputs = {m["tool_call_id"]: m["content"] for m in result.messages if m["role"] == "tool"}
    assert outputs["e1"] == "Error: broken raised RuntimeError: backend down"
    assert outputs["e2"].startswith(
        "Error: invalid arguments for get_weather: city: Field required"
    )
    assert "not valid JSON" in outputs["e3"]
    assert outputs["e4"] == "Error: there is no tool named 'nope'. Tools: broken, get_weather."
    assert result.content == "Sorry."


def test_tool_errors_can_be_raised(mock: respx.MockRouter, client: LlamaClient) -> None:
    mock.post("/chat/completions").mock(side_effect=Script(_calls(vllm_call("broken", '{"x": 1}'))))
    with pytest.raises(RuntimeError, match="backend down"):
        client.chat.run_tools(messages=MSGS, tools=[broken], raise_tool_errors=True)


def test_max_rounds_raises_with_the_conversation(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    script = Script(*[_calls(vllm_call("get_time", "{}", id=f"t{i}")) for i in range(2)])
    mock.post("/chat/completions").mock(side_effect=script)
    with pytest.raises(MaxToolRoundsError) as info:
        client.chat.run_tools(messages=MSGS, tools=[get_time], max_rounds=2)
    err = info.value
    assert err.max_rounds == 2
    # a valid history: the first round's call and result; the unanswered reply separately
    assert [m["role"] for m in err.messages] == ["user", "assistant", "tool"]
    assert err.completion.choices[0].message.tool_calls[0].id == "t1"  # type: ignore[index]
    assert len(script.bodies) == 2


def test_forcing_tool_choice_applies_to_the_first_round_only(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    script = Script(_calls(vllm_call("get_time", "{}")), PLAIN.completion("Noon."))
    mock.post("/chat/completions").mock(side_effect=script)
    client.chat.run_tools(messages=MSGS, tools=[get_time], tool_choice="required", temperature=0)
    assert [b["tool_choice"] for b in script.bodies] == ["required", "auto"]
    assert all(b["temperature"] == 0 for b in script.bodies)


def test_calls_to_tools_without_a_handler_are_handed_back(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    script = Script(PLAIN.completion("<|python_tag|>print(2 + 2)<|eom_id|>"))
    mock.post("/chat/completions").mock(side_effect=script)
    result = client.chat.run_tools(messages=MSGS, tools=[get_weather, code_interpreter])
    assert [c.function.parsed_arguments() for c in result.pending_tool_calls] == [
        {"code": "print(2 + 2)"}
    ]
    assert result.messages[-1]["tool_calls"][0]["function"]["name"] == "code_interpreter"
    assert len(script.bodies) == 1


def test_code_interpreter_runs_only_with_a_registered_handler(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    ran: list[str] = []
    runner = code_interpreter.with_handler(lambda code: ran.append(code) or "4")
    script = Script(PLAIN.completion("<|python_tag|>print(2 + 2)"), PLAIN.completion("It is 4."))
    mock.post("/chat/completions").mock(side_effect=script)
    result = client.chat.run_tools(messages=MSGS, tools=[runner])
    assert ran == ["print(2 + 2)"]
    assert result.messages[2]["content"] == "4" and result.content == "It is 4."


def test_bad_arguments_fail_before_io(mock: respx.MockRouter, client: LlamaClient) -> None:
    route = mock.post("/chat/completions")

    @tool
    async def slow(x: int) -> int:
        return x

    with pytest.raises(InvalidRequestError, match="max_rounds"):
        client.chat.run_tools(messages=MSGS, tools=[get_time], max_rounds=0)
    with pytest.raises(InvalidRequestError, match="at least one tool"):
        client.chat.run_tools(messages=MSGS, tools=[])
    with pytest.raises(InvalidRequestError, match="async"):
        client.chat.run_tools(messages=MSGS, tools=[slow])
    with pytest.raises(InvalidRequestError, match="messages"):
        client.chat.run_tools(messages=[], tools=[get_time])
    assert not route.called


# --------------------------------------------------------------------------- async


async def test_async_tools_run_concurrently(mock: respx.MockRouter) -> None:
    running = 0
    peak = 0

    @tool
    async def lookup(key: str) -> str:
        """Look a key up."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return key.upper()

    script = Script(
        _calls(*[vllm_call("lookup", json.dumps({"key": k}), id=k) for k in "abc"]),
        PLAIN.completion("ABC"),
    )
    mock.post("/chat/completions").mock(side_effect=script)
    async with AsyncLlamaClient(base_url=LOCAL_BASE_URL, model="llama", max_retries=0) as ac:
        result = await ac.chat.run_tools(messages=MSGS, tools=[lookup, get_weather])
    assert peak == 3  # all three were running at once
    assert [m["content"] for m in result.messages if m["role"] == "tool"] == ["A", "B", "C"]
    assert result.content == "ABC"


async def test_async_loop_feeds_errors_back_and_mixes_sync_tools(mock: respx.MockRouter) -> None:
    @tool
    async def afail(x: int) -> str:
        raise ValueError("bad x")

    script = Script(
        _calls(
            vllm_call("afail", '{"x": 1}', id="1"),
            vllm_call("get_weather", '{"city": "Oslo"}', id="2"),
        ),
        PLAIN.completion("ok"),
    )
    mock.post("/chat/completions").mock(side_effect=script)
    async with AsyncLlamaClient(base_url=LOCAL_BASE_URL, model="llama", max_retries=0) as ac:
        result = await ac.chat.run_tools(messages=MSGS, tools=[afail, get_weather])
    outputs = {m["tool_call_id"]: m["content"] for m in result.messages if m["role"] == "tool"}
    assert outputs == {"1": "Error: afail raised ValueError: bad x", "2": "sunny in Oslo"}


async def test_async_max_rounds_and_raise(mock: respx.MockRouter) -> None:
    @tool
    async def afail(x: int) -> str:
        raise ValueError("bad x")

    mock.post("/chat/completions").mock(
        side_effect=Script(*[_calls(vllm_call("get_time", "{}")) for _ in range(3)])
    )
    async with AsyncLlamaClient(base_url=LOCAL_BASE_URL, model="llama", max_retries=0) as ac:
        with pytest.raises(MaxToolRoundsError) as info:
            await ac.chat.run_tools(messages=MSGS, tools=[get_time], max_rounds=1)
        assert [m["role"] for m in info.value.messages] == ["user"]
        mock.post("/chat/completions").mock(
            side_effect=Script(_calls(vllm_call("afail", '{"x": 1}')))
        )
        with pytest.raises(ValueError, match="bad x"):
            await ac.chat.run_tools(messages=MSGS, tools=[afail], raise_tool_errors=True)
