"""Every public method goes through the client's one verb, ``_request``; models calls too, so
they gain provider routing, fallback and ``with_raw_response``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llama_client import (
    APIResponse,
    AsyncLlamaClient,
    InvalidRequestError,
    LlamaClient,
    Model,
    ModelList,
    NotFoundError,
    tool,
)
from llama_client._call import Call, Deferred
from llama_client.providers import Fallback
from tests.unit.providers_support import clear_env, instant_retries
from tests.wire import BASE_URL, chunk, completion_body, sse

MSGS = [{"role": "user", "content": "Hi"}]
ROOT = Path(__file__).resolve().parents[2]
GROQ = "https://api.groq.com/openai/v1"
TOGETHER = "https://api.together.xyz/v1"
MODELS = {"object": "list", "data": [{"id": "a"}]}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)
    instant_retries(monkeypatch)
    monkeypatch.setenv("GROQ_API_KEY", "gsk_g")
    monkeypatch.setenv("TOGETHER_API_KEY", "tk_t")


def _spy(client: Any) -> list[str]:
    """Record every call that reaches the verb (resources bind it when they are created)."""
    seen: list[str] = []
    verb = client._request

    def request(call: Any) -> Any:
        inner = call.call if isinstance(call, Deferred) else call
        seen.append(f"{inner.method} {inner.path}")
        return verb(call)

    client._request = request
    return seen


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _tool_call_body() -> dict[str, Any]:
    body = completion_body(content=None)
    body["choices"][0]["finish_reason"] = "tool_calls"
    body["choices"][0]["message"]["tool_calls"] = [
        {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a":1,"b":2}'}}
    ]
    return body


@respx.mock
def test_every_sync_method_goes_through_the_verb() -> None:
    respx.get(f"{BASE_URL}/models").respond(json=MODELS)
    respx.get(f"{BASE_URL}/models/a").respond(json={"id": "a"})
    chat = respx.post(f"{BASE_URL}/chat/completions")
    client = LlamaClient(base_url=BASE_URL, model="m")
    seen = _spy(client)

    chat.respond(json=completion_body())
    client.chat.completions.create(messages=MSGS)
    client.chat.completions.with_raw_response.create(messages=MSGS)
    chat.respond(json=completion_body(content='{"x": 1}'))
    client.chat.completions.parse(messages=MSGS, response_format={"type": "json_object"})
    chat.respond(stream=sse(chunk(content="Hi", finish="stop")))
    list(client.chat.completions.create(messages=MSGS, stream=True))
    with client.chat.completions.stream(messages=MSGS) as s:
        s.get_final_completion()
    chat.mock(
        side_effect=[
            httpx.Response(200, json=_tool_call_body()),
            httpx.Response(200, json=completion_body()),
        ]
    )
    assert client.chat.run_tools(messages=MSGS, tools=[add]).rounds == 2
    client.models.list()
    client.models.retrieve("a")
    client.models.with_raw_response.list()
    client.models.with_raw_response.retrieve("a")
    assert seen == ["POST /chat/completions"] * 7 + ["GET /models"] * 4


@respx.mock
async def test_every_async_method_goes_through_the_verb() -> None:
    respx.get(f"{BASE_URL}/models").respond(json=MODELS)
    respx.get(f"{BASE_URL}/models/a").respond(json={"id": "a"})
    chat = respx.post(f"{BASE_URL}/chat/completions")
    client = AsyncLlamaClient(base_url=BASE_URL, model="m")
    seen = _spy(client)

    chat.respond(json=completion_body())
    await client.chat.completions.create(messages=MSGS)
    await client.chat.completions.with_raw_response.create(messages=MSGS)
    chat.respond(json=completion_body(content='{"x": 1}'))
    await client.chat.completions.parse(messages=MSGS, response_format={"type": "json_object"})
    chat.respond(stream=sse(chunk(content="Hi", finish="stop")))
    async for _ in await client.chat.completions.create(messages=MSGS, stream=True):
        pass
    async with client.chat.completions.stream(messages=MSGS) as s:
        await s.get_final_completion()
    chat.mock(
        side_effect=[
            httpx.Response(200, json=_tool_call_body()),
            httpx.Response(200, json=completion_body()),
        ]
    )
    assert (await client.chat.run_tools(messages=MSGS, tools=[add])).rounds == 2
    await client.models.list()
    await client.models.retrieve("a")
    await client.models.with_raw_response.list()
    await client.models.with_raw_response.retrieve("a")
    assert seen == ["POST /chat/completions"] * 7 + ["GET /models"] * 4
    await client.close()


def test_resources_touch_nothing_of_the_client_but_the_verb() -> None:
    for name in ("chat.py", "models.py"):
        text = (ROOT / "llama_client" / "_async" / name).read_text().replace("llama_client.", "")
        reached = set(re.findall(r"client\.(_\w+)", text))
        assert reached <= {"_request"}, (name, reached)


def test_stream_manager_checks_arguments_now_and_sends_on_entry() -> None:
    with respx.mock() as mock:
        route = mock.post(f"{BASE_URL}/chat/completions").respond(
            stream=sse(chunk(content="Hi", finish="stop"))
        )
        client = LlamaClient(base_url=BASE_URL, model="m")
        with pytest.raises(InvalidRequestError):
            client.chat.completions.stream(messages=[])
        manager = client.chat.completions.stream(messages=MSGS)
        assert route.call_count == 0
        with manager as s:
            assert route.call_count == 1
            assert s.get_final_text() == "Hi"


# --------------------------------------------------------------------------- models calls


def _two_providers(**kw: Any) -> LlamaClient:
    return LlamaClient(provider=["groq", "together"], fallback=Fallback(cooldown=30), **kw)


def test_models_list_falls_over_to_the_next_provider() -> None:
    with respx.mock() as mock:
        groq = mock.get(f"{GROQ}/models").respond(503, json={"error": {"message": "down"}})
        together = mock.get(f"{TOGETHER}/models").respond(json=MODELS)
        listed = _two_providers(max_retries=0).models.list()
    assert listed.ids == ["a"]
    assert groq.call_count == 1 and together.call_count == 1
    assert together.calls.last.request.headers["authorization"] == "Bearer tk_t"


async def test_async_models_list_falls_over_to_the_next_provider() -> None:
    with respx.mock() as mock:
        mock.get(f"{GROQ}/models").mock(side_effect=httpx.ConnectError("refused"))
        mock.get(f"{TOGETHER}/models").respond(json=MODELS)
        client = AsyncLlamaClient(provider=["groq", "together"], max_retries=0)
        raw = await client.models.with_raw_response.list()
    assert raw.provider_name == "together"
    assert isinstance(raw.parse(), ModelList) and raw.parse().ids == ["a"]


def test_models_list_does_not_fall_over_on_404() -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{GROQ}/models").respond(404, json={"error": {"message": "no"}})
        together = mock.get(f"{TOGETHER}/models").respond(json=MODELS)
        with pytest.raises(NotFoundError):
            _two_providers().models.list()
    assert together.call_count == 0


def test_models_retrieve_routes_by_provider_prefix() -> None:
    with respx.mock() as mock:
        route = mock.get(f"{TOGETHER}/models/meta-llama/x").respond(json={"id": "meta-llama/x"})
        model = LlamaClient(provider="groq").models.retrieve("together:meta-llama/x")
    assert isinstance(model, Model) and model.id == "meta-llama/x"
    assert route.calls.last.request.headers["authorization"] == "Bearer tk_t"


def test_models_retrieve_raw_response() -> None:
    with respx.mock() as mock:
        mock.get(f"{BASE_URL}/models/tiny").respond(
            json={"id": "tiny"}, headers={"x-request-id": "req-9"}
        )
        raw = LlamaClient(base_url=BASE_URL).models.with_raw_response.retrieve("tiny")
    assert isinstance(raw, APIResponse)
    assert raw.status_code == 200 and raw.request_id == "req-9" and raw.parse().id == "tiny"
    with pytest.raises(InvalidRequestError, match="model"):
        LlamaClient(base_url=BASE_URL).models.with_raw_response.retrieve("")


def test_models_options_are_checked_before_io() -> None:
    with respx.mock() as mock:
        route = mock.get(f"{BASE_URL}/models").respond(json=MODELS)
        client = LlamaClient(base_url=BASE_URL)
        with pytest.raises(TypeError, match="temperature"):
            client.models.list(temperature=1)  # type: ignore[call-arg]
        client.models.list(extra_headers={"X-Trace": "1"}, extra_query={"page": "2"})
    request = route.calls.last.request
    assert request.headers["x-trace"] == "1" and request.url.params["page"] == "2"


def test_call_descriptions_do_no_io() -> None:
    from llama_client._call import chat_call, get_call

    call = chat_call(MSGS, "m", False, {"temperature": 0.5})
    assert isinstance(call, Call) and call.path == "/chat/completions" and not call.stream
    assert call.tool_policy is None and call.params == {"temperature": 0.5}
    deferred = get_call("/models", Model, {}, model="a").deferred()
    assert deferred.call.model == "a" and deferred.call.method == "GET"


@pytest.mark.parametrize("messages", [None, "hi", 5])
def test_chat_call_with_bad_messages_is_refused_before_io(messages: Any) -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(f"{BASE_URL}/chat/completions").respond(json=completion_body())
        client = LlamaClient(base_url=BASE_URL, model="m")
        with pytest.raises(InvalidRequestError, match="messages"):
            client.chat.completions.create(messages=messages)
        with pytest.raises(InvalidRequestError, match="messages"):
            client.chat.completions.stream(messages=messages)
    assert route.call_count == 0
