"""Tool calling, the tool loop and structured output against a real server."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from llama_client import AsyncLlamaClient, LlamaClient, tool

QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
CALLS: list[str] = []


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    CALLS.append(city)
    return f"Sunny, 21 degrees in {city}."


@tool
async def aget_weather(city: str) -> str:
    """Current weather for a city."""
    CALLS.append(city)
    return f"Sunny, 21 degrees in {city}."


class Person(BaseModel):
    name: str
    age: int


CHOICES: list[Any] = ["auto", "required", {"type": "function", "function": {"name": "get_weather"}}]
IDS = ["auto", "required", "named"]


def _check_call(completion: Any) -> None:
    choice = completion.choices[0]
    calls = choice.message.tool_calls
    assert calls, f"no tool call in {choice.message!r}"
    assert calls[0].function.name == "get_weather"
    args = calls[0].function.parsed_arguments()
    assert isinstance(args.get("city"), str) and args["city"]
    assert calls[0].id
    assert choice.finish_reason == "tool_calls"


@pytest.mark.parametrize("tool_choice", CHOICES, ids=IDS)
def test_tool_call(client: LlamaClient, tool_choice: Any) -> None:
    r = client.chat.completions.create(
        messages=QUESTION, tools=[get_weather], tool_choice=tool_choice, max_tokens=96
    )
    _check_call(r)


@pytest.mark.parametrize("tool_choice", CHOICES, ids=IDS)
def test_tool_call_streamed(client: LlamaClient, tool_choice: Any) -> None:
    with client.chat.completions.stream(
        messages=QUESTION, tools=[get_weather], tool_choice=tool_choice, max_tokens=96
    ) as s:
        final = s.get_final_completion()
    _check_call(final)


def test_run_tools_round_trip(client: LlamaClient) -> None:
    CALLS.clear()
    result = client.chat.run_tools(
        messages=QUESTION, tools=[get_weather], tool_choice="required", max_tokens=96
    )
    assert CALLS and isinstance(CALLS[0], str)
    assert result.rounds >= 2
    roles = [m["role"] for m in result.messages]
    assert roles[0] == "user" and "tool" in roles and roles[-1] == "assistant"
    call_ids = [
        c["id"]
        for m in result.messages
        if m["role"] == "assistant"
        for c in m.get("tool_calls") or []
    ]
    tool_ids = [m["tool_call_id"] for m in result.messages if m["role"] == "tool"]
    assert tool_ids and tool_ids == call_ids
    assert isinstance(result.content, str) and result.content
    assert not result.final.choices[0].message.tool_calls
    assert result.usage.total_tokens > 0


def test_parse_structured_output(client: LlamaClient) -> None:
    r = client.chat.completions.parse(
        messages=[{"role": "user", "content": "Invent a person."}],
        response_format=Person,
        max_tokens=64,
    )
    person = r.choices[0].message.parsed
    assert isinstance(person, Person)
    assert person.name and isinstance(person.age, int)


async def test_async_run_tools_and_parse(aclient: AsyncLlamaClient) -> None:
    CALLS.clear()
    result = await aclient.chat.run_tools(
        messages=QUESTION, tools=[aget_weather], tool_choice="required", max_tokens=96
    )
    assert CALLS and result.rounds >= 2 and result.content
    r = await aclient.chat.completions.parse(
        messages=[{"role": "user", "content": "Invent a person."}],
        response_format=Person,
        max_tokens=64,
    )
    assert isinstance(r.choices[0].message.parsed, Person)


async def test_async_streamed_tool_call(aclient: AsyncLlamaClient) -> None:
    async with aclient.chat.completions.stream(
        messages=QUESTION, tools=[aget_weather], tool_choice="required", max_tokens=96
    ) as s:
        final = await s.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "aget_weather"
