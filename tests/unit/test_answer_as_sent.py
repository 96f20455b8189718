"""``APIResponse.parse_as_sent``: a chat answer decoded as the server sent it, only when the
client's own reading (a ChatCompletion, provider normalization, tool policy) would change
nothing but the type; anything else is left to ``parse()``."""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx

from llama_client import AsyncLlamaClient, LlamaClient
from llama_client._response import completion_as_sent
from tests.wire import BASE_URL, completion_body, sse_reply, text_chunks

URL = BASE_URL + "/chat/completions"
MSGS = [{"role": "user", "content": "Hi"}]


def _body(**kw: Any) -> dict[str, Any]:
    return completion_body("Hello!", **kw)


def test_a_plain_completion_is_taken_as_sent_and_dumps_as_the_model_would() -> None:
    from llama_client.types.chat import ChatCompletion

    body = _body()
    body["choices"][0]["stop_reason"] = None  # vLLM's extras are kept as they are
    body["prompt_logprobs"] = None
    body["choices"][0]["message"]["tool_calls"] = []  # what some servers send without calls
    content = json.dumps(body).encode()
    data = completion_as_sent(content)
    assert data == body
    # the model would change nothing: its dump is the body
    model = ChatCompletion.model_validate_json(content)
    assert model.model_dump(mode="json", exclude_unset=True) == data


def _with(path: tuple[Any, ...], value: Any) -> bytes:
    body = _body()
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"",
        b"[1, 2]",
        "\ufeff".encode() + json.dumps(_body()).encode(),  # a UTF-8 byte order mark
        json.dumps(_body()).encode("utf-16"),
        json.dumps(_body()).replace('"Hello!"', '"\xff"').encode("latin-1"),  # not UTF-8
        json.dumps({**_body(), "x": float("nan")}).encode(),  # NaN: not strict JSON
        json.dumps({"error": {"message": "overloaded"}}).encode(),
        json.dumps({**_body(), "error": None}).encode(),
        b"[" * 100_000 + b"]" * 100_000,  # nested too deep to decode
        _with(("choices",), "none"),
        _with(("choices",), [1]),
        _with(("choices", 0, "message"), None),
        _with(("choices", 0, "message", "content"), 5),
        _with(("choices", 0, "message", "role"), None),
        _with(("choices", 0, "message", "tool_calls"), [{"function": {"name": "f"}}]),
        _with(("choices", 0, "message", "tool_calls"), {}),
        _with(("choices", 0, "logprobs"), {"content": []}),
        _with(("choices", 0, "finish_reason"), 1),
        _with(("choices", 0, "index"), "0"),
        _with(("choices", 0, "index"), True),
        _with(("choices", 0, "stop_reason"), 1.5),
        _with(("choices", 0, "raw_finish_reason"), "eos"),  # the SDK's own field
        _with(("usage",), "many"),
        _with(("usage", "prompt_tokens"), "12"),
        _with(("usage", "completion_tokens"), 3.0),
        _with(("usage", "prompt_tokens_details"), 7),
        _with(("created",), 1.5),
        _with(("model",), None),
        _with(("id",), 7),
        _with(("system_fingerprint",), 1),
    ],
)
def test_anything_not_plainly_a_completion_is_left_to_the_model(content: bytes) -> None:
    assert completion_as_sent(content) is None


@respx.mock
def test_parse_as_sent_gives_the_body_and_counts_usage_once() -> None:
    body = {**_body(), "kv_transfer_params": None}
    respx.post(URL).respond(json=body)
    client = LlamaClient(base_url=BASE_URL, model="m")
    raw = client.chat.completions.with_raw_response.create(messages=MSGS)
    assert raw.parse_as_sent() == body
    assert client.usage.requests == 1 and client.usage.prompt_tokens == 12
    assert client.usage.completion_tokens == 3
    raw.parse_as_sent()
    parsed = raw.parse()  # both reads of one answer: its tokens counted once
    assert parsed.choices[0].message.content == "Hello!"
    assert (client.usage.prompt_tokens, client.usage.completion_tokens) == (12, 3)
    assert client.usage.total().unmetered == 0

    # parse first, then as sent: still once
    raw = client.chat.completions.with_raw_response.create(messages=MSGS)
    raw.parse()
    assert raw.parse_as_sent() == body
    assert (client.usage.requests, client.usage.prompt_tokens) == (2, 24)


@respx.mock
async def test_parse_as_sent_async() -> None:
    respx.post(URL).respond(json=_body())
    async with AsyncLlamaClient(base_url=BASE_URL, model="m") as client:
        raw = await client.chat.completions.with_raw_response.create(messages=MSGS)
        assert raw.parse_as_sent() == _body()
        assert client.usage.prompt_tokens == 12


@respx.mock
def test_what_the_client_would_change_is_not_taken_as_sent() -> None:
    client = LlamaClient(base_url=BASE_URL, model="m")
    create = client.chat.completions.with_raw_response.create

    # a vendor finish reason the provider maps ("eos" -> "stop")
    respx.post(URL).respond(json=_body(finish_reason="eos"))
    raw = create(messages=MSGS)
    assert raw.parse_as_sent() is None
    assert raw.parse().choices[0].finish_reason == "stop"

    # a tool policy reads the answer (tool calls written as text)
    respx.post(URL).respond(json=_body())
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert create(messages=MSGS, tools=tools).parse_as_sent() is None

    # a stream is not an answer body
    respx.post(URL).mock(return_value=sse_reply(*text_chunks("Hel", "lo")))
    streamed = create(messages=MSGS, stream=True)
    assert streamed.parse_as_sent() is None
    assert "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)


@respx.mock
def test_a_provider_that_reads_answers_its_own_way_is_never_taken_at_its_word(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llama_client.providers.base import Provider

    class Converting(Provider):
        def parse_completion(self, response: Any, cls: Any) -> Any:
            return super().parse_completion(response, cls)

    class WithUsageElsewhere(Provider):
        def extract_usage(self, extra: Any) -> Any:
            return None

    body = json.loads(json.dumps(_body()))
    assert Provider(name="plain").answer_as_sent(body)
    assert not Converting(name="c").answer_as_sent(body)
    assert WithUsageElsewhere(name="u").answer_as_sent(body)  # usage is in place
    del body["usage"]
    assert Provider(name="plain").answer_as_sent(body)
    assert not WithUsageElsewhere(name="u").answer_as_sent(body)  # it would look elsewhere
