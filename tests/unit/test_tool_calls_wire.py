"""Tool calls through create() and stream(), as vLLM, llama-server and llama-cpp-python send them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from llama_client import AsyncLlamaClient, InvalidRequestError, LlamaClient, tool
from tests.wire import (
    LOCAL_BASE_URL,
    PLAIN,
    llamacpp_call,
    sent_json,
    sse_reply,
    text_chunks,
    vllm_call,
)

MSGS = [{"role": "user", "content": "Weather in Paris?"}]


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


@tool
def get_time(tz: str = "UTC") -> str:
    """The current time."""
    return "12:00"


# --------------------------------------------------------------------------- request side


def test_tools_are_sent_as_openai_definitions(mock: respx.MockRouter, client: LlamaClient) -> None:
    route = mock.post("/chat/completions").respond(json=PLAIN.completion("hi"))
    client.chat.completions.create(
        messages=MSGS,
        tools=[get_weather, {"type": "function", "function": {"name": "raw", "parameters": {}}}],
        tool_choice="auto",
    )
    body = sent_json(route)
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather", "raw"]
    assert body["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assert body["tool_choice"] == "auto"
    assert "parse_tool_calls" not in body


def test_invalid_tool_fails_before_io(mock: respx.MockRouter, client: LlamaClient) -> None:
    route = mock.post("/chat/completions").respond(json=PLAIN.completion("hi"))
    with pytest.raises(InvalidRequestError) as info:
        client.chat.completions.create(messages=MSGS, tools=[get_weather, 3])  # type: ignore[list-item]
    assert info.value.field == "tools[1]"
    with pytest.raises(InvalidRequestError):
        client.chat.completions.stream(messages=MSGS, tools=[{"type": "function", "function": {}}])
    with pytest.raises(InvalidRequestError, match="parse_tool_calls"):
        client.chat.completions.create(messages=MSGS, tools=[get_weather], parse_tool_calls="no")  # type: ignore[typeddict-item]
    assert not route.called


# --------------------------------------------------------------------------- non-streamed


def test_vllm_tool_call(mock: respx.MockRouter, client: LlamaClient) -> None:
    mock.post("/chat/completions").respond(
        json=PLAIN.completion(
            None,
            tool_calls=[vllm_call("get_weather", '{"city": "Paris"}')],
            finish_reason="tool_calls",
        )
    )
    r = client.chat.completions.create(messages=MSGS, tools=[get_weather])
    choice = r.choices[0]
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.id == "chatcmpl-tool-9f8e7d6c5b4a3210"
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Paris"}')
    assert call.function.parsed_arguments() == {"city": "Paris"}
    assert choice.finish_reason == "tool_calls" and choice.raw_finish_reason is None
    assert choice.message.content is None and choice.message.raw_content is None


def test_vllm_named_choice_finishes_with_stop(mock: respx.MockRouter, client: LlamaClient) -> None:
    mock.post("/chat/completions").respond(
        json=PLAIN.completion(
            "", tool_calls=[vllm_call("get_weather", '{"city": "Oslo"}')], finish_reason="stop"
        )
    )
    r = client.chat.completions.create(
        messages=MSGS,
        tools=[get_weather],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert r.choices[0].message.tool_calls[0].function.parsed_arguments() == {"city": "Oslo"}  # type: ignore[index]
    # vLLM reports a forced named call as "stop"; the provider layer (issue 5) normalises
    # that to "tool_calls" and keeps the server's word
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.choices[0].raw_finish_reason == "stop"


def test_llamacpp_content_next_to_calls_and_no_index(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    mock.post("/chat/completions").respond(
        json=PLAIN.completion(
            "Let me look that up.",
            tool_calls=[llamacpp_call("get_weather", '{"city" :\n\n"Paris"}')],
            finish_reason="tool_calls",
        )
    )
    r = client.chat.completions.create(messages=MSGS, tools=[get_weather])
    message = r.choices[0].message
    assert message.content == "Let me look that up."
    assert message.tool_calls[0].id == "Xk2mP9qLr4tZ8wB1nC6vD3fG7hJ0sA5e"  # type: ignore[index]
    assert message.tool_calls[0].function.parsed_arguments() == {"city": "Paris"}  # type: ignore[index]


def test_llamacpp_truncated_call_with_length(mock: respx.MockRouter, client: LlamaClient) -> None:
    from llama_client import ToolCallArgumentsError

    mock.post("/chat/completions").respond(
        json=PLAIN.completion(
            "",
            tool_calls=[
                llamacpp_call("get_weather", '{"city": "Paris"}', id="a"),
                llamacpp_call("get_weather", '{"city" :\n\n"Be', id="b"),
            ],
            finish_reason="length",
        )
    )
    r = client.chat.completions.create(messages=MSGS, tools=[get_weather])
    calls = r.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 2
    assert calls[0].function.parsed_arguments() == {"city": "Paris"}
    with pytest.raises(ToolCallArgumentsError):
        calls[1].function.parsed_arguments()
    assert r.choices[0].finish_reason == "length"


def test_arguments_as_object(mock: respx.MockRouter, client: LlamaClient) -> None:
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Rome"}},
    }
    mock.post("/chat/completions").respond(
        json=PLAIN.completion(None, tool_calls=[call], finish_reason="tool_calls")
    )
    r = client.chat.completions.create(messages=MSGS, tools=[get_weather])
    assert r.choices[0].message.tool_calls[0].function.parsed_arguments() == {"city": "Rome"}  # type: ignore[index]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '{"name": "get_weather", "parameters": {"city": "Paris"}}',
            [("get_weather", {"city": "Paris"})],
        ),
        (
            '<|python_tag|>{"name": "get_weather", "arguments": {"city": "A"}}; {"name": "get_time", "arguments": {}}',
            [("get_weather", {"city": "A"}), ("get_time", {})],
        ),
        ('<function=get_time>{"tz": "CET"}</function>', [("get_time", {"tz": "CET"})]),
        (
            '[get_weather(city="Oslo"), get_time(tz="UTC")]',
            [("get_weather", {"city": "Oslo"}), ("get_time", {"tz": "UTC"})],
        ),
    ],
)
def test_call_written_as_text_becomes_tool_calls(
    mock: respx.MockRouter, client: LlamaClient, content: str, expected: list[Any]
) -> None:
    # A server without a tool parser (or whose parser gave up) returns the call as content.
    mock.post("/chat/completions").respond(json=PLAIN.completion(content, finish_reason="stop"))
    r = client.chat.completions.create(messages=MSGS, tools=[get_weather, get_time])
    choice = r.choices[0]
    calls = choice.message.tool_calls or []
    assert [(c.function.name, c.function.parsed_arguments()) for c in calls] == expected
    assert all(c.id and c.id.startswith("call_") for c in calls)
    assert len({c.id for c in calls}) == len(calls)
    assert choice.finish_reason == "tool_calls" and choice.raw_finish_reason == "stop"
    assert choice.message.content is None and choice.message.raw_content == content


def test_text_parsing_can_be_turned_off(mock: respx.MockRouter, client: LlamaClient) -> None:
    content = '{"name": "get_weather", "parameters": {"city": "Paris"}}'
    mock.post("/chat/completions").respond(json=PLAIN.completion(content))
    r = client.chat.completions.create(messages=MSGS, tools=[get_weather], parse_tool_calls=False)
    assert r.choices[0].message.content == content and r.choices[0].message.tool_calls is None
    assert r.choices[0].finish_reason == "stop"


def test_text_calls_only_for_offered_tools_and_only_with_tools(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    content = '{"name": "send_email", "parameters": {"to": "x"}}'
    mock.post("/chat/completions").respond(json=PLAIN.completion(content))
    r = client.chat.completions.create(messages=MSGS, tools=[get_weather])
    assert r.choices[0].message.content == content and r.choices[0].message.tool_calls is None
    # without tools nothing is interpreted
    mock.post("/chat/completions").respond(
        json=PLAIN.completion('{"name": "get_weather", "parameters": {"city": "P"}}')
    )
    r = client.chat.completions.create(messages=MSGS)
    assert r.choices[0].message.tool_calls is None


def test_calls_to_tools_not_offered_are_set_aside(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    mock.post("/chat/completions").respond(
        json=PLAIN.completion(
            None,
            tool_calls=[
                vllm_call("get_weather", '{"city": "A"}', id="1"),
                vllm_call("Paris", "", id="2"),
            ],
            finish_reason="tool_calls",
        )
    )
    r = client.chat.completions.create(messages=MSGS, tools=[get_weather])
    message = r.choices[0].message
    assert [c.id for c in message.tool_calls or []] == ["1"]
    assert [c.function.name for c in message.rejected_tool_calls or []] == ["Paris"]
    assert r.choices[0].finish_reason == "tool_calls"


def test_raw_response_applies_the_same_policy(mock: respx.MockRouter, client: LlamaClient) -> None:
    mock.post("/chat/completions").respond(
        json=PLAIN.completion('{"name": "get_weather", "parameters": {"city": "Paris"}}'),
        headers={"x-request-id": "r1"},
    )
    raw = client.chat.completions.with_raw_response.create(messages=MSGS, tools=[get_weather])
    assert raw.request_id == "r1"
    assert raw.parse().choices[0].message.tool_calls is not None


async def test_async_text_call(mock: respx.MockRouter) -> None:
    mock.post("/chat/completions").respond(json=PLAIN.completion('[get_weather(city="Lima")]'))
    async with AsyncLlamaClient(base_url=LOCAL_BASE_URL, model="llama", max_retries=0) as ac:
        r = await ac.chat.completions.create(messages=MSGS, tools=[get_weather])
    assert r.choices[0].message.tool_calls[0].function.parsed_arguments() == {"city": "Lima"}  # type: ignore[index]


# --------------------------------------------------------------------------- streamed


def _vllm_tool_stream() -> httpx.Response:
    return sse_reply(
        PLAIN.chunk({"role": "assistant", "content": ""}),
        PLAIN.chunk(
            {
                "tool_calls": [
                    {"id": "chatcmpl-tool-abc", "type": "function", "index": 0, "function": {"name": "get_weather"}}
                ]
            }
        ),
        PLAIN.chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "'}}]}),
        PLAIN.chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'Paris"}'}}]}),
        PLAIN.chunk({"tool_calls": [{"index": 0, "function": {"arguments": ""}}]}, "tool_calls"),
        {"id": "x", "object": "chat.completion.chunk", "created": 1, "model": "llama", "choices": [],
         "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16}},
    )  # fmt: skip


def _llamacpp_tool_stream() -> httpx.Response:
    # content first, then the call; the first argument fragment rides with the name
    return sse_reply(
        PLAIN.chunk({"role": "assistant", "content": None}),
        PLAIN.chunk({"content": "Checking."}),
        PLAIN.chunk({"tool_calls": [{"index": 0, "id": "Zz9", "type": "function", "function": {"name": "get_weather", "arguments": "{"}}]}),
        PLAIN.chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"cit'}}]}),
        PLAIN.chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'y": "Paris"}'}}]}),
        PLAIN.chunk({}, "tool_calls"),
    )  # fmt: skip


def _llama_cpp_python_tool_stream() -> httpx.Response:
    # every delta repeats id, type and name
    head = {"index": 0, "id": "call__0_get_weather_cmpl-1", "type": "function"}
    return sse_reply(
        PLAIN.chunk({"role": "assistant", "content": None}),
        PLAIN.chunk(
            {"tool_calls": [{**head, "function": {"name": "get_weather", "arguments": '{"city"'}}]}
        ),
        PLAIN.chunk(
            {
                "tool_calls": [
                    {**head, "function": {"name": "get_weather", "arguments": ': "Paris"}'}}
                ]
            }
        ),
        PLAIN.chunk({}, "tool_calls"),
    )


@pytest.mark.parametrize(
    ("stream", "call_id", "text"),
    [
        (_vllm_tool_stream, "chatcmpl-tool-abc", []),
        (_llamacpp_tool_stream, "Zz9", ["Checking."]),
        (_llama_cpp_python_tool_stream, "call__0_get_weather_cmpl-1", []),
    ],
)
def test_streamed_tool_call_deltas(
    mock: respx.MockRouter, client: LlamaClient, stream: Any, call_id: str, text: list[str]
) -> None:
    mock.post("/chat/completions").mock(return_value=stream())
    with client.chat.completions.stream(messages=MSGS, tools=[get_weather]) as s:
        assert list(s.text_stream) == text
        final = s.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, c.function.parsed_arguments()) for c in calls] == [
        (call_id, "get_weather", {"city": "Paris"})
    ]
    assert final.choices[0].finish_reason == "tool_calls"


def test_streamed_call_written_as_text_is_held_back_and_parsed(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    mock.post("/chat/completions").mock(
        return_value=sse_reply(
            *text_chunks(
                "<|python_tag|>", '{"name": "get_we', 'ather", "parameters": {"city": "Oslo"}}'
            )
        )
    )
    with client.chat.completions.stream(messages=MSGS, tools=[get_weather]) as s:
        shown = list(s.text_stream)
        final = s.get_final_completion()
    assert shown == []
    choice = final.choices[0]
    assert [c.function.parsed_arguments() for c in choice.message.tool_calls or []] == [
        {"city": "Oslo"}
    ]
    assert choice.finish_reason == "tool_calls" and choice.raw_finish_reason == "stop"
    assert (
        choice.message.raw_content
        == '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Oslo"}}'
    )


def test_streamed_json_that_is_not_a_call_is_released_at_the_end(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    mock.post("/chat/completions").mock(return_value=sse_reply(*text_chunks('{"answer"', ": 42}")))
    with client.chat.completions.stream(messages=MSGS, tools=[get_weather]) as s:
        assert "".join(s.text_stream) == '{"answer": 42}'
        assert s.get_final_completion().choices[0].message.tool_calls is None


def test_streamed_plain_text_passes_through_immediately(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    mock.post("/chat/completions").mock(
        return_value=sse_reply(*text_chunks("", " It", " is sunny."))
    )
    with client.chat.completions.stream(messages=MSGS, tools=[get_weather]) as s:
        pieces = list(s.text_stream)
    # the whitespace-only piece waits for the first real text, then everything flows
    assert "".join(pieces) == " It is sunny."
    assert pieces[-1] == " is sunny."


def test_streamed_prose_around_a_text_call(mock: respx.MockRouter, client: LlamaClient) -> None:
    mock.post("/chat/completions").mock(
        return_value=sse_reply(
            *text_chunks('{"name": "get_time", "parameters": {}}', " Then I will answer.")
        )
    )
    with client.chat.completions.stream(messages=MSGS, tools=[get_time]) as s:
        assert list(s.text_stream) == ["Then I will answer."]
        final = s.get_final_completion()
    assert final.choices[0].message.content == "Then I will answer."
    assert final.choices[0].message.tool_calls is not None


def test_vllm_streamed_name_not_offered_is_rejected(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    # servers.md §2.6: unconstrained auto output streamed a "call" named after output text
    mock.post("/chat/completions").mock(
        return_value=sse_reply(
            PLAIN.chunk({"role": "assistant", "content": ""}),
            PLAIN.chunk({"tool_calls": [{"id": "chatcmpl-tool-1", "type": "function", "index": 0, "function": {"name": "Paris"}}]}),
            PLAIN.chunk({}, "tool_calls"),
        )
    )  # fmt: skip
    with client.chat.completions.stream(messages=MSGS, tools=[get_weather]) as s:
        final = s.get_final_completion()
    choice = final.choices[0]
    assert choice.message.tool_calls is None
    assert [c.function.name for c in choice.message.rejected_tool_calls or []] == ["Paris"]
    assert choice.finish_reason == "stop" and choice.raw_finish_reason == "tool_calls"


def test_streamed_text_parsing_off(mock: respx.MockRouter, client: LlamaClient) -> None:
    content = '{"name": "get_weather", "parameters": {"city": "Oslo"}}'
    mock.post("/chat/completions").mock(return_value=sse_reply(*text_chunks(content)))
    with client.chat.completions.stream(
        messages=MSGS, tools=[get_weather], parse_tool_calls=False
    ) as s:
        assert list(s.text_stream) == [content]
        assert s.get_final_completion().choices[0].message.tool_calls is None


async def test_async_stream_text_call_and_deltas(mock: respx.MockRouter) -> None:
    route = mock.post("/chat/completions")
    route.mock(return_value=sse_reply(*text_chunks('[get_weather(city="Kyiv")]')))
    async with AsyncLlamaClient(base_url=LOCAL_BASE_URL, model="llama", max_retries=0) as ac:
        async with ac.chat.completions.stream(messages=MSGS, tools=[get_weather]) as s:
            shown = [t async for t in s.text_stream]
            final = await s.get_final_completion()
        assert shown == []
        assert final.choices[0].message.tool_calls[0].function.parsed_arguments() == {
            "city": "Kyiv"
        }  # type: ignore[index]

        route.mock(return_value=_llama_cpp_python_tool_stream())
        async with ac.chat.completions.stream(messages=MSGS, tools=[get_weather]) as s:
            final = await s.get_final_completion()
        assert final.choices[0].message.tool_calls[0].function.name == "get_weather"  # type: ignore[index]

        route.mock(return_value=sse_reply(*text_chunks("[1, 2", "]")))
        async with ac.chat.completions.stream(messages=MSGS, tools=[get_weather]) as s:
            assert "".join([t async for t in s.text_stream]) == "[1, 2]"


def test_tools_in_body_are_json(mock: respx.MockRouter, client: LlamaClient) -> None:
    route = mock.post("/chat/completions").respond(json=PLAIN.completion("ok"))
    client.chat.completions.create(messages=MSGS, tools=[get_time])
    assert json.loads(route.calls[0].request.content)["tools"][0]["function"]["parameters"][
        "properties"
    ] == {"tz": {"default": "UTC", "type": "string"}}


def test_named_tool_choice_must_be_offered(mock: respx.MockRouter, client: LlamaClient) -> None:
    route = mock.post("/chat/completions").respond(json=PLAIN.completion("ok"))
    with pytest.raises(InvalidRequestError) as info:
        client.chat.completions.create(
            messages=MSGS,
            tools=[get_weather],
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    assert info.value.field == "tool_choice" and "get_weather" in str(info.value)
    assert not route.called
