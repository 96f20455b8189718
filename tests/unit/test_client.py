from __future__ import annotations

import json
import logging

import httpx
import pytest
import respx

import llama_client
from llama_client import (
    AsyncLlamaClient,
    ChatCompletion,
    InvalidRequestError,
    LlamaClient,
    ResponseValidationError,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
)
from llama_client.client import DEFAULT_BASE_URL
from tests.wire import BASE_URL, completion_body

MSGS = [{"role": "user", "content": "Hi"}]
URL = f"{BASE_URL}/chat/completions"


# --------------------------------------------------------------------------- configuration


def test_defaults_with_nothing_set() -> None:
    c = LlamaClient()
    assert c.base_url == DEFAULT_BASE_URL == "http://localhost:8000/v1"
    assert c.api_key is None and c.model is None
    assert c.max_retries == 2
    assert c.timeout.read == 600 and c.timeout.connect == 5


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_BASE_URL", "http://env.test/v1/")
    monkeypatch.setenv("LLAMA_API_KEY", "sk-env")
    monkeypatch.setenv("LLAMA_MODEL", "env-model")
    c = LlamaClient()
    assert (c.base_url, c.api_key, c.model) == ("http://env.test/v1", "sk-env", "env-model")


def test_arguments_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_BASE_URL", "http://env.test/v1")
    monkeypatch.setenv("LLAMA_API_KEY", "sk-env")
    monkeypatch.setenv("LLAMA_MODEL", "env-model")
    c = LlamaClient(
        base_url="http://arg.test/v1", api_key="sk-arg", model="arg-model", max_retries=0, timeout=3
    )
    assert (c.base_url, c.api_key, c.model, c.max_retries) == (
        "http://arg.test/v1",
        "sk-arg",
        "arg-model",
        0,
    )
    assert c.timeout.read == 3 and c.timeout.connect == 3


def test_bad_configuration_fails_early() -> None:
    with pytest.raises(InvalidRequestError, match="base_url"):
        LlamaClient(base_url="localhost:8000")
    with pytest.raises(InvalidRequestError, match="timeout"):
        LlamaClient(timeout=-1)
    with pytest.raises(ValueError, match="max_retries"):
        LlamaClient(max_retries=-1)
    with pytest.raises(InvalidRequestError, match="http_client"):
        LlamaClient(http_client=httpx.AsyncClient())  # type: ignore[arg-type]


def test_repr_hides_the_key() -> None:
    c = LlamaClient(api_key="sk-very-secret-123", model="m")
    assert "sk-very-secret-123" not in repr(c) and "***" in repr(c)
    assert "sk-very-secret-123" not in str(c)


@respx.mock
def test_auth_and_default_headers_are_sent() -> None:
    route = respx.post(URL).respond(json=completion_body())
    c = LlamaClient(base_url=BASE_URL, api_key="sk-1", model="m", default_headers={"X-Team": "a"})
    c.chat.completions.create(messages=MSGS)
    req = route.calls.last.request
    assert req.headers["authorization"] == "Bearer sk-1"
    assert req.headers["x-team"] == "a"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["user-agent"] == f"llama-client/{llama_client.__version__}"


@respx.mock
def test_no_key_means_no_auth_header() -> None:
    route = respx.post(URL).respond(json=completion_body())
    LlamaClient(base_url=BASE_URL, model="m").chat.completions.create(messages=MSGS)
    assert "authorization" not in route.calls.last.request.headers


# --------------------------------------------------------------------------- chat


@respx.mock
def test_create_sends_the_body_and_parses_the_result() -> None:
    route = respx.post(URL).respond(json=completion_body())
    c = LlamaClient(base_url=BASE_URL, model="meta-llama/Llama-3.1-8B-Instruct")
    r = c.chat.completions.create(
        messages=MSGS, max_tokens=64, temperature=0.0, stop=["\n"], seed=1
    )
    sent = json.loads(route.calls.last.request.content)
    assert sent == {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "messages": MSGS,
        "max_tokens": 64,
        "temperature": 0.0,
        "stop": ["\n"],
        "seed": 1,
    }
    assert isinstance(r, ChatCompletion)
    assert r.choices[0].message.content == "Hello!"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and r.usage.total_tokens == 15
    # vLLM's extra fields are kept, not dropped
    assert r.model_extra is not None and "kv_transfer_params" in r.model_extra
    assert r.choices[0].message.model_extra == {
        "refusal": None,
        "annotations": None,
        "audio": None,
        "function_call": None,
        "reasoning": None,
    }


@respx.mock
def test_per_call_model_overrides_client_model() -> None:
    route = respx.post(URL).respond(json=completion_body())
    LlamaClient(base_url=BASE_URL, model="a").chat.completions.create(messages=MSGS, model="b")
    assert json.loads(route.calls.last.request.content)["model"] == "b"


@respx.mock
def test_no_model_anywhere_fails_before_io() -> None:
    route = respx.post(URL).respond(json=completion_body())
    with pytest.raises(InvalidRequestError, match="LLAMA_MODEL") as info:
        LlamaClient(base_url=BASE_URL).chat.completions.create(messages=MSGS)
    assert info.value.field == "model"
    assert not route.called


@respx.mock
def test_typed_messages_and_content_parts() -> None:
    route = respx.post(URL).respond(json=completion_body())
    msgs = [
        SystemMessage(content="Be brief."),
        UserMessage(content=[TextPart(text="Hello"), TextPart(text="again")]),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        ToolMessage(content="42", tool_call_id="t1"),
    ]
    LlamaClient(base_url=BASE_URL, model="m").chat.completions.create(messages=msgs)
    sent = json.loads(route.calls.last.request.content)["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1] == {
        "role": "user",
        "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "again"}],
    }
    assert sent[3] == {"role": "tool", "content": "42", "tool_call_id": "t1"}


@respx.mock
def test_response_message_can_be_sent_back() -> None:
    body = completion_body(content=None)
    body["choices"][0]["message"]["tool_calls"] = [
        {
            "id": "chatcmpl-tool-1",
            "type": "function",
            "function": {"name": "f", "arguments": '{"a": 1}'},
        }
    ]
    route = respx.post(URL).respond(json=body)
    c = LlamaClient(base_url=BASE_URL, model="m")
    r = c.chat.completions.create(messages=MSGS)
    history = [
        *MSGS,
        r.choices[0].message.to_param(),
        {"role": "tool", "tool_call_id": "chatcmpl-tool-1", "content": "ok"},
    ]
    c.chat.completions.create(messages=history)
    sent = json.loads(route.calls.last.request.content)["messages"]
    assert sent[1]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a": 1}'}


@respx.mock
def test_extra_headers_body_query_and_timeout() -> None:
    route = respx.post(URL).respond(json=completion_body())
    c = LlamaClient(base_url=BASE_URL, model="m")
    c.chat.completions.create(
        messages=MSGS,
        extra_headers={"X-Trace": "t-1"},
        extra_body={"top_k": 5, "stop_token_ids": [128009], "temperature": None},
        extra_query={"api-version": "2024-05-01"},
        timeout=12.5,
    )
    req = route.calls.last.request
    assert req.headers["x-trace"] == "t-1"
    assert req.url.params["api-version"] == "2024-05-01"
    sent = json.loads(req.content)
    assert sent["top_k"] == 5 and sent["stop_token_ids"] == [128009]
    assert sent["temperature"] is None  # extra_body is sent verbatim, even explicit nulls
    assert req.extensions["timeout"]["read"] == 12.5


@respx.mock
def test_unknown_keyword_is_a_type_error_before_io() -> None:
    route = respx.post(URL).respond(json=completion_body())
    with pytest.raises(TypeError, match="extra_body"):
        LlamaClient(base_url=BASE_URL, model="m").chat.completions.create(
            messages=MSGS, temprature=1
        )  # type: ignore[call-arg]
    assert not route.called


@pytest.mark.parametrize(
    "message",
    [
        {"role": "assistant", "content": None},  # content null, no tool calls key
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": "x", "tool_calls": None},
        {"role": "assistant", "content": "x", "tool_calls": []},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "type": "function",
                    "function": {"name": "f", "arguments": {"city": "Paris"}},
                    "id": "abc",
                }
            ],
        },
    ],
)
@respx.mock
def test_accepts_what_real_servers_send(message: dict[str, object]) -> None:
    body = completion_body()
    body["choices"][0]["message"] = message
    body["choices"][0]["stop_reason"] = 128009
    body["timings"] = {"prompt_n": 3}
    respx.post(URL).respond(json=body)
    r = LlamaClient(base_url=BASE_URL, model="m").chat.completions.create(messages=MSGS)
    assert r.choices[0].stop_reason == 128009
    assert r.model_extra is not None and r.model_extra["timings"] == {"prompt_n": 3}
    calls = r.choices[0].message.tool_calls
    if calls:
        assert json.loads(calls[0].function.arguments) == {"city": "Paris"}


@pytest.mark.parametrize("stop_reason", [None, " help", 0])
@respx.mock
def test_stop_reason_shapes(stop_reason: object) -> None:
    body = completion_body()
    body["choices"][0]["stop_reason"] = stop_reason
    respx.post(URL).respond(json=body)
    r = LlamaClient(base_url=BASE_URL, model="m").chat.completions.create(messages=MSGS)
    assert r.choices[0].stop_reason == stop_reason


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b'{"id": "x", "object": "chat.completion"}', "choices"),
        (b"<html>gateway</html>", "gateway"),
        (b"", "empty"),
        (b'{"error": {"message": "upstream failed"}}', "upstream failed"),
    ],
)
@respx.mock
def test_bad_success_body_raises_response_validation_error(content: bytes, match: str) -> None:
    respx.post(URL).respond(200, content=content)
    with pytest.raises(ResponseValidationError, match=match) as info:
        LlamaClient(base_url=BASE_URL, model="m").chat.completions.create(messages=MSGS)
    if content.startswith(b"{"):
        assert info.value.body == json.loads(content)


@respx.mock
def test_with_raw_response() -> None:
    respx.post(URL).respond(
        json=completion_body(),
        headers={"x-request-id": "r-9", "x-ratelimit-remaining-requests": "99"},
    )
    raw = LlamaClient(base_url=BASE_URL, model="m").chat.completions.with_raw_response.create(
        messages=MSGS
    )
    assert raw.status_code == 200
    assert raw.headers["x-ratelimit-remaining-requests"] == "99"
    assert raw.request_id == "r-9"
    parsed = raw.parse()
    assert parsed.choices[0].message.content == "Hello!"
    assert raw.parse() is parsed


@respx.mock
def test_models_list_and_retrieve() -> None:
    respx.get(f"{BASE_URL}/models").respond(
        json={
            "object": "list",
            "data": [
                {
                    "id": "meta-llama/Llama-3.1-8B-Instruct",
                    "object": "model",
                    "created": 1,
                    "owned_by": "vllm",
                    "root": "/models/tiny",
                    "max_model_len": 2048,
                }
            ],
            "models": [],
        }
    )
    respx.get(f"{BASE_URL}/models/tiny").respond(json={"id": "tiny", "object": "model"})
    c = LlamaClient(base_url=BASE_URL)
    models = c.models.list()
    assert [m.id for m in models] == ["meta-llama/Llama-3.1-8B-Instruct"] == models.ids
    assert len(models) == 1 and models[0].model_extra == {
        "root": "/models/tiny",
        "max_model_len": 2048,
    }
    assert c.models.retrieve("tiny").id == "tiny"
    with pytest.raises(InvalidRequestError):
        c.models.retrieve("")


def test_context_manager_closes_owned_client() -> None:
    with LlamaClient() as c:
        http = c._http
    assert http.is_closed


def test_user_supplied_http_client_is_left_open() -> None:
    http = httpx.Client()
    with LlamaClient(http_client=http):
        pass
    assert not http.is_closed
    http.close()


@respx.mock
def test_with_options_shares_connections_and_overrides() -> None:
    route = respx.post(URL).respond(json=completion_body())
    base = LlamaClient(base_url=BASE_URL, api_key="sk-1", model="m")
    other = base.with_options(model="n", max_retries=0)
    assert other._http is base._http and other.max_retries == 0
    other.chat.completions.create(messages=MSGS)
    assert json.loads(route.calls.last.request.content)["model"] == "n"
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-1"
    other.close()
    assert not base._http.is_closed


@respx.mock
def test_debug_logs_never_contain_the_key(caplog: pytest.LogCaptureFixture) -> None:
    respx.post(URL).respond(401, json={"error": "Unauthorized"})
    c = LlamaClient(base_url=BASE_URL, api_key="sk-hidden-777", model="m")
    with caplog.at_level(logging.DEBUG), pytest.raises(llama_client.AuthenticationError) as info:
        c.chat.completions.create(messages=MSGS)
    assert "sk-hidden-777" not in caplog.text
    assert "sk-hidden-777" not in str(info.value) and "sk-hidden-777" not in repr(info.value)


# --------------------------------------------------------------------------- async twins


@respx.mock
async def test_async_create_models_and_raw() -> None:
    route = respx.post(URL).respond(json=completion_body(), headers={"x-request-id": "r-1"})
    respx.get(f"{BASE_URL}/models").respond(json={"object": "list", "data": [{"id": "m"}]})
    async with AsyncLlamaClient(base_url=BASE_URL, model="m", api_key="sk-a") as ac:
        r = await ac.chat.completions.create(messages=MSGS, max_tokens=8)
        assert r.choices[0].message.content == "Hello!"
        assert route.calls.last.request.headers["authorization"] == "Bearer sk-a"
        raw = await ac.chat.completions.with_raw_response.create(messages=MSGS)
        assert raw.request_id == "r-1" and raw.parse().id == r.id
        assert [m.id for m in await ac.models.list()] == ["m"]
        assert (await ac.with_options(model="x").chat.completions.create(messages=MSGS)).id == r.id
    assert ac._http.is_closed


async def test_async_validation_before_io() -> None:
    async with AsyncLlamaClient(base_url=BASE_URL) as ac:
        with pytest.raises(InvalidRequestError, match="model"):
            await ac.chat.completions.create(messages=MSGS)
        with pytest.raises(InvalidRequestError, match="messages"):
            await ac.chat.completions.create(messages=[], model="m")
