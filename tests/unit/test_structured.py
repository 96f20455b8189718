"""chat.completions.parse(): structured output validated into pydantic models."""

from __future__ import annotations

from typing import Any

import pytest
import respx
from pydantic import BaseModel

from llama_client import (
    AsyncLlamaClient,
    InvalidRequestError,
    LlamaClient,
    ParsedChatCompletion,
    StructuredOutputError,
    StructuredOutputTruncatedError,
)
from tests.wire import LOCAL_BASE_URL, PLAIN, Script

MSGS = [{"role": "user", "content": "Invent a person."}]


class Person(BaseModel):
    name: str
    age: int


def test_parse_sends_a_strict_json_schema_and_validates(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    # llama-server's grammar output: valid JSON with odd whitespace (servers.md §3.3)
    script = Script(PLAIN.completion('{"name" :\n\n"Ada", "age" :\n\n36}'))
    mock.post("/chat/completions").mock(side_effect=script)
    r = client.chat.completions.parse(messages=MSGS, response_format=Person, temperature=0)
    assert isinstance(r, ParsedChatCompletion)
    person = r.choices[0].message.parsed
    assert person == Person(name="Ada", age=36)
    assert r.choices[0].message.content == '{"name" :\n\n"Ada", "age" :\n\n36}'
    assert r.usage is not None and r.usage.total_tokens == 15
    body = script.bodies[0]
    assert body["temperature"] == 0
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Person", "schema": Person.model_json_schema(), "strict": True},
    }


def test_parse_retries_with_the_validation_error(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    script = Script(
        PLAIN.completion('{"name": "Ada", "age": "old"}'),
        PLAIN.completion('```json\n{"name": "Ada", "age": 36}\n```'),
    )
    mock.post("/chat/completions").mock(side_effect=script)
    r = client.chat.completions.parse(messages=MSGS, response_format=Person, max_parse_retries=1)
    assert r.choices[0].message.parsed == Person(name="Ada", age=36)
    retry = script.bodies[1]["messages"]
    assert [m["role"] for m in retry] == ["user", "assistant", "user"]
    assert retry[1]["content"] == '{"name": "Ada", "age": "old"}'
    assert "age: Input should be a valid integer" in retry[2]["content"]


def test_parse_gives_up_with_every_attempt(mock: respx.MockRouter, client: LlamaClient) -> None:
    script = Script(
        PLAIN.completion("not json"), PLAIN.completion('{"name": "Ada"}'), PLAIN.completion(None)
    )
    mock.post("/chat/completions").mock(side_effect=script)
    with pytest.raises(StructuredOutputError) as info:
        client.chat.completions.parse(messages=MSGS, response_format=Person, max_parse_retries=2)
    err = info.value
    assert not isinstance(err, StructuredOutputTruncatedError)
    assert err.attempts == ["not json", '{"name": "Ada"}', None]
    assert len(err.errors) == 3 and "age: Field required" in err.errors[1]
    assert err.usage.total_tokens == 45
    assert err.completion.choices[0].message.content is None
    assert len(script.bodies) == 3


def test_no_retries(mock: respx.MockRouter, client: LlamaClient) -> None:
    mock.post("/chat/completions").mock(side_effect=Script(PLAIN.completion("{}")))
    with pytest.raises(StructuredOutputError) as info:
        client.chat.completions.parse(messages=MSGS, response_format=Person, max_parse_retries=0)
    assert info.value.attempts == ["{}"]


def test_truncated_reply_raises_at_once(mock: respx.MockRouter, client: LlamaClient) -> None:
    script = Script(PLAIN.completion('{"name": "Ada", "ag', finish_reason="length"))
    mock.post("/chat/completions").mock(side_effect=script)
    with pytest.raises(StructuredOutputTruncatedError) as info:
        client.chat.completions.parse(messages=MSGS, response_format=Person, max_tokens=8)
    assert info.value.attempts == ['{"name": "Ada", "ag']
    assert "max_tokens" in str(info.value)
    assert len(script.bodies) == 1


def test_json_object_and_dict_schemas_pass_through(
    mock: respx.MockRouter, client: LlamaClient
) -> None:
    script = Script(
        PLAIN.completion('{"a": [1, 2]}'), PLAIN.completion("[1, 2]"), PLAIN.completion("[3]")
    )
    mock.post("/chat/completions").mock(side_effect=script)
    r = client.chat.completions.parse(messages=MSGS, response_format={"type": "json_object"})
    assert r.choices[0].message.parsed == {"a": [1, 2]}
    assert script.bodies[0]["response_format"] == {"type": "json_object"}
    schema = {"type": "json_schema", "json_schema": {"name": "nums", "schema": {"type": "array"}}}
    r2 = client.chat.completions.parse(messages=MSGS, response_format=schema)
    assert r2.choices[0].message.parsed == [1, 2]
    assert script.bodies[1]["response_format"] == schema
    # and create() sends them untouched
    r3 = client.chat.completions.create(messages=MSGS, response_format=schema)
    assert r3.choices[0].message.content == "[3]"
    assert script.bodies[2]["response_format"] == schema


def test_json_object_must_be_an_object(mock: respx.MockRouter, client: LlamaClient) -> None:
    mock.post("/chat/completions").mock(side_effect=Script(PLAIN.completion("[1]")))
    with pytest.raises(StructuredOutputError, match="expected a JSON object"):
        client.chat.completions.parse(
            messages=MSGS, response_format={"type": "json_object"}, max_parse_retries=0
        )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"response_format": {"type": "text"}}, "response_format"),
        ({"response_format": dict}, "response_format"),
        ({"response_format": Person, "max_parse_retries": -1}, "max_parse_retries"),
        ({"response_format": Person, "n": 2}, "n"),
        ({"response_format": Person, "temperature": 9}, "temperature"),
    ],
)
def test_bad_arguments_fail_before_io(
    mock: respx.MockRouter, client: LlamaClient, kwargs: dict[str, Any], field: str
) -> None:
    route = mock.post("/chat/completions")
    with pytest.raises(InvalidRequestError) as info:
        client.chat.completions.parse(messages=MSGS, **kwargs)
    assert info.value.field == field
    assert not route.called


async def test_async_parse_retry_then_success(mock: respx.MockRouter) -> None:
    script = Script(PLAIN.completion("{"), PLAIN.completion('{"name": "Bo", "age": 3}'))
    mock.post("/chat/completions").mock(side_effect=script)
    async with AsyncLlamaClient(base_url=LOCAL_BASE_URL, model="llama", max_retries=0) as ac:
        r = await ac.chat.completions.parse(messages=MSGS, response_format=Person)
    assert r.choices[0].message.parsed == Person(name="Bo", age=3)
    assert "Invalid JSON" in script.bodies[1]["messages"][-1]["content"]


async def test_async_parse_exhaustion_and_length(mock: respx.MockRouter) -> None:
    async with AsyncLlamaClient(base_url=LOCAL_BASE_URL, model="llama", max_retries=0) as ac:
        mock.post("/chat/completions").mock(
            side_effect=Script(PLAIN.completion("x"), PLAIN.completion("y"))
        )
        with pytest.raises(StructuredOutputError) as info:
            await ac.chat.completions.parse(
                messages=MSGS, response_format=Person, max_parse_retries=1
            )
        assert info.value.attempts == ["x", "y"]
        mock.post("/chat/completions").mock(
            side_effect=Script(PLAIN.completion("{", finish_reason="length"))
        )
        with pytest.raises(StructuredOutputTruncatedError):
            await ac.chat.completions.parse(messages=MSGS, response_format=Person)
