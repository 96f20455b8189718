from __future__ import annotations

from typing import Any

import pytest
import respx

from llama_client import InvalidRequestError, LlamaClient
from llama_client._validation import build_chat_body
from tests.wire import BASE_URL, completion_body

OK = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([], "messages"),
        ("Hi", "messages"),
        (None, "messages"),
        ([42], "messages[0]"),
        ([{"role": "", "content": "x"}], "messages[0].role"),
        ([{"content": "x"}], "messages[0].role"),
        ([{"role": "user"}], "messages[0].content"),
        ([{"role": "user", "content": 5}], "messages[0].content"),
        ([{"role": "user", "content": [{"text": "no type"}]}], "messages[0].content[0]"),
        (
            [{"role": "user", "content": [{"type": "text", "text": 1}]}],
            "messages[0].content[0].text",
        ),
        ([{"role": "assistant", "content": None}], "messages[0].content"),
        ([{"role": "assistant", "content": "x", "tool_calls": "f()"}], "messages[0].tool_calls"),
        ([*OK, {"role": "tool", "content": "42"}], "messages[1].tool_call_id"),
        ([*OK, {"role": "tool", "content": "42", "tool_call_id": ""}], "messages[1].tool_call_id"),
    ],
)
def test_bad_messages_name_the_field(messages: Any, field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_chat_body(messages, "m", False, {})
    assert info.value.field == field
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(field)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -5}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"n": 0}, "n"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 2.1}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"presence_penalty": 3}, "presence_penalty"),
        ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"top_logprobs": -1, "logprobs": True}, "top_logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"logprobs": "yes"}, "logprobs"),
        ({"seed": "1"}, "seed"),
        ({"stop": 5}, "stop"),
        ({"stop": ["ok", ""]}, "stop"),
        ({"stream_options": "include_usage"}, "stream_options"),
        ({"response_format": "json"}, "response_format"),
        ({"tools": {"name": "f"}}, "tools"),
        ({"tools": [{"type": "function", "function": {}}]}, "tools[0]"),
        (
            {"tool_choice": "always", "tools": [{"type": "function", "function": {"name": "f"}}]},
            "tool_choice",
        ),
        ({"tool_choice": "auto"}, "tool_choice"),
        (
            {
                "tool_choice": {"type": "function"},
                "tools": [{"type": "function", "function": {"name": "f"}}],
            },
            "tool_choice",
        ),
        ({"top_k": 0}, "top_k"),
        ({"min_p": 2}, "min_p"),
        ({"repetition_penalty": 0}, "repetition_penalty"),
    ],
)
def test_bad_params_name_the_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build_chat_body(OK, "m", False, params)
    assert info.value.field == field


@pytest.mark.parametrize(
    "params",
    [
        {"temperature": 0},
        {"temperature": 2},
        {"top_p": 1},
        {"max_tokens": 1, "n": 2},
        {"logprobs": True, "top_logprobs": 20},
        {"stop": "\n"},
        {"tool_choice": "none"},
        {
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
        },
        {"top_k": -1},
        {"response_format": {"type": "json_object"}},
        {"temperature": None, "max_tokens": None},
    ],
)
def test_good_params_pass(params: dict[str, Any]) -> None:
    body = build_chat_body(OK, "m", False, params)
    for k, v in params.items():
        if v is not None:
            assert body[k] == v
        else:
            assert k not in body  # None means "not sent"


def test_stream_options_with_stream() -> None:
    body = build_chat_body(OK, "m", True, {"stream_options": {"include_usage": True}})
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_dict_messages_are_not_copied_or_changed() -> None:
    msgs = [{"role": "user", "content": "Hi", "name": "ann"}]
    body = build_chat_body(msgs, "m", False, {})
    assert body["messages"][0] is msgs[0]
    assert msgs == [{"role": "user", "content": "Hi", "name": "ann"}]


@respx.mock
def test_nothing_is_sent_when_validation_fails() -> None:
    route = respx.post(f"{BASE_URL}/chat/completions").respond(json=completion_body())
    c = LlamaClient(base_url=BASE_URL, model="m")
    with pytest.raises(ValueError):
        c.chat.completions.create(messages=OK, temperature=5)
    with pytest.raises(ValueError):
        c.chat.completions.stream(messages=OK, max_tokens=0)
    assert not route.called
