"""Hooks: typed events at every step of a call, sync and async, with no secret in them."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from llama_client import (
    AsyncLlamaClient,
    AuthenticationError,
    BadRequestError,
    HookError,
    InvalidRequestError,
    LlamaClient,
    StreamError,
)
from llama_client.hooks import (
    ErrorEvent,
    FallbackEvent,
    Hooks,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    StreamEndEvent,
)
from tests.unit.providers_support import clear_env, instant_retries
from tests.wire import BASE_URL, chunk, completion_body, sse, sse_reply, sse_response, usage_chunk

MSGS = [{"role": "user", "content": "Hi"}]
KEY = "sk-secret-key-123456"
GROQ = "https://api.groq.com/openai/v1"
TOGETHER = "https://api.together.xyz/v1"
URL = f"{BASE_URL}/chat/completions"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)
    instant_retries(monkeypatch)


def _recorder() -> tuple[list[Any], Any]:
    seen: list[Any] = []
    return seen, seen.append


def _kinds(events: list[Any]) -> list[str]:
    return [e.kind for e in events]


def _no_secret(events: list[Any]) -> None:
    for event in events:
        text = json.dumps(event.to_dict()) + repr(event)
        assert KEY not in text, event


def _stream_reply() -> httpx.Response:
    return sse_reply(chunk(content="Hel"), chunk(content="lo", finish="stop"), usage_chunk(7, 2))


# --------------------------------------------------------------------------- plain calls


@respx.mock
def test_a_call_emits_request_then_response() -> None:
    respx.post(URL).respond(json=completion_body(), headers={"x-request-id": "req-1"})
    events, hook = _recorder()
    client = LlamaClient(base_url=BASE_URL, api_key=KEY, model="m", hooks=hook)
    client.chat.completions.create(messages=MSGS, max_tokens=5)
    assert _kinds(events) == ["request", "response"]
    request, response = events
    assert isinstance(request, RequestEvent) and isinstance(response, ResponseEvent)
    assert request.call_id == response.call_id
    assert (request.attempt, request.provider, request.model, request.method) == (
        1,
        "vllm",
        "m",
        "POST",
    )
    assert request.url == URL and request.stream is False
    assert request.headers["authorization"] == "[secure]"
    assert json.loads(request.body)["max_tokens"] == 5
    assert response.status_code == 200 and response.request_id == "req-1"
    assert (response.prompt_tokens, response.completion_tokens) == (12, 3)
    assert response.finish_reasons == ("stop",)
    assert response.response_model == "meta-llama/Llama-3.1-8B-Instruct"
    assert response.attempts == 1 and response.retries == 0 and response.elapsed >= 0
    _no_secret(events)


@respx.mock
async def test_async_call_emits_request_then_response() -> None:
    respx.post(URL).respond(json=completion_body())
    events, hook = _recorder()
    async with AsyncLlamaClient(base_url=BASE_URL, api_key=KEY, model="m", hooks=hook) as c:
        await c.chat.completions.create(messages=MSGS)
    assert _kinds(events) == ["request", "response"]
    assert events[0].headers["authorization"] == "[secure]"
    _no_secret(events)


@respx.mock
def test_hooks_by_kind_only_hear_their_kind() -> None:
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(503, json={"error": {"message": "busy"}}),
            httpx.Response(200, json=completion_body()),
        ]
    )
    retries, responses, requests = [], [], []
    hooks = Hooks(
        on_retry=retries.append, on_response=[responses.append], on_request=requests.append
    )
    LlamaClient(base_url=BASE_URL, model="m", hooks=hooks).chat.completions.create(messages=MSGS)
    assert len(requests) == 2 and len(responses) == 1 and len(retries) == 1
    retry = retries[0]
    assert isinstance(retry, RetryEvent)
    assert (retry.attempt, retry.error, retry.status_code) == (1, "InternalServerError", 503)
    assert "busy" in retry.message and retry.wait >= 0
    assert [r.attempt for r in requests] == [1, 2]
    assert responses[0].attempts == 2 and responses[0].retries == 1


@respx.mock
async def test_async_retry_events() -> None:
    respx.post(URL).mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json=completion_body())]
    )
    events, hook = _recorder()
    async with AsyncLlamaClient(base_url=BASE_URL, model="m", hooks=hook) as c:
        await c.chat.completions.create(messages=MSGS)
    assert _kinds(events) == ["request", "retry", "request", "response"]
    assert events[1].error == "APIConnectionError" and events[1].status_code is None


def test_fallback_events_name_both_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_groq_secret_1")
    monkeypatch.setenv("TOGETHER_API_KEY", "tk_together_secret_1")
    events, hook = _recorder()
    with respx.mock() as mock:
        mock.post(f"{GROQ}/chat/completions").respond(503, json={"error": {"message": "down"}})
        mock.post(f"{TOGETHER}/chat/completions").respond(json=completion_body())
        client = LlamaClient(
            provider=["groq", "together"], model="llama-3.1-8b-instruct", max_retries=0, hooks=hook
        )
        client.chat.completions.create(messages=MSGS)
    assert _kinds(events) == ["request", "fallback", "request", "response"]
    fallback = events[1]
    assert isinstance(fallback, FallbackEvent)
    assert (fallback.from_provider, fallback.to_provider) == ("groq", "together")
    assert fallback.error == "InternalServerError" and fallback.status_code == 503
    assert [events[0].provider, events[2].provider, events[3].provider] == [
        "groq",
        "together",
        "together",
    ]
    for event in events:
        text = json.dumps(event.to_dict())
        assert "gsk_groq_secret_1" not in text and "tk_together_secret_1" not in text


@respx.mock
def test_a_failed_call_ends_with_an_error_event() -> None:
    respx.post(URL).respond(400, json={"error": {"message": "bad things"}})
    events, hook = _recorder()
    client = LlamaClient(base_url=BASE_URL, api_key=KEY, model="m", hooks=hook)
    with pytest.raises(Exception) as info:
        client.chat.completions.create(messages=MSGS)
    assert _kinds(events) == ["request", "error"]
    error = events[1]
    assert isinstance(error, ErrorEvent)
    assert error.error == type(info.value).__name__ and error.status_code == 400
    assert "bad things" in error.message and error.attempts == 1
    _no_secret(events)


@respx.mock
def test_a_key_echoed_by_the_server_never_reaches_a_hook() -> None:
    respx.post(URL).respond(401, json={"error": {"message": f"invalid key {KEY}"}})
    events, hook = _recorder()
    client = LlamaClient(base_url=BASE_URL, api_key=KEY, model="m", hooks=hook)
    with pytest.raises(AuthenticationError):
        client.chat.completions.create(messages=MSGS)
    assert events[-1].kind == "error"
    _no_secret(events)


def test_url_password_and_custom_credential_headers_are_masked() -> None:
    events, hook = _recorder()
    with respx.mock() as mock:
        mock.post("http://llama.test/v1/chat/completions").respond(json=completion_body())
        client = LlamaClient(
            base_url="http://bob:hunter2-password@llama.test/v1",
            model="m",
            default_headers={"x-goog-api-key": "goog-secret-value"},
            hooks=hook,
        )
        client.chat.completions.create(messages=MSGS)
    request = events[0]
    assert request.headers["x-goog-api-key"] == "[secure]"
    text = json.dumps(request.to_dict())
    assert "hunter2-password" not in text and "goog-secret-value" not in text


# --------------------------------------------------------------------------- streams


@respx.mock
def test_a_stream_emits_response_then_stream_end() -> None:
    respx.post(URL).mock(return_value=_stream_reply())
    events, hook = _recorder()
    client = LlamaClient(base_url=BASE_URL, model="m", hooks=hook)
    with client.chat.completions.stream(messages=MSGS) as s:
        assert _kinds(events) == ["request", "response"]
        assert events[1].stream is True and events[1].prompt_tokens is None
        s.get_final_completion()
    assert _kinds(events) == ["request", "response", "stream_end"]
    end = events[2]
    assert isinstance(end, StreamEndEvent)
    assert end.outcome == "completed" and end.chunks == 3
    assert (end.prompt_tokens, end.completion_tokens) == (7, 2)
    assert end.finish_reasons == ("stop",) and end.response_id


@respx.mock
async def test_async_stream_end_on_exhaustion() -> None:
    respx.post(URL).mock(return_value=_stream_reply())
    events, hook = _recorder()
    async with AsyncLlamaClient(base_url=BASE_URL, model="m", hooks=hook) as c:
        stream = await c.chat.completions.create(messages=MSGS, stream=True)
        assert _kinds(events) == ["request", "response"]
        async for _ in stream:
            pass
    assert _kinds(events) == ["request", "response", "stream_end"]
    assert events[2].outcome == "completed" and events[2].completion_tokens == 2


@respx.mock
def test_a_stream_closed_early_ends_as_closed() -> None:
    respx.post(URL).mock(return_value=_stream_reply())
    events, hook = _recorder()
    client = LlamaClient(base_url=BASE_URL, model="m", hooks=hook)
    stream = client.chat.completions.create(messages=MSGS, stream=True)
    next(iter(stream))
    stream.close()
    stream.close()  # once only
    assert _kinds(events) == ["request", "response", "stream_end"]
    assert events[2].outcome == "closed" and events[2].chunks >= 1


@respx.mock
async def test_async_stream_closed_early_ends_as_closed() -> None:
    respx.post(URL).mock(return_value=_stream_reply())
    events, hook = _recorder()
    async with AsyncLlamaClient(base_url=BASE_URL, model="m", hooks=hook) as c:
        async with c.chat.completions.stream(messages=MSGS) as s:
            async for _ in s:
                break
    assert _kinds(events) == ["request", "response", "stream_end"]
    assert events[2].outcome == "closed"


@respx.mock
def test_a_dropped_stream_still_ends() -> None:
    respx.post(URL).mock(return_value=_stream_reply())
    events, hook = _recorder()
    client = LlamaClient(base_url=BASE_URL, model="m", hooks=hook)
    stream = client.chat.completions.create(messages=MSGS, stream=True)
    next(iter(stream))
    del stream
    assert _kinds(events) == ["request", "response", "stream_end"]
    assert events[2].outcome == "closed"


@respx.mock
def test_a_stream_error_event_ends_the_stream_as_error() -> None:
    body = sse(chunk(content="Hi"), {"error": {"message": "boom in the stream"}})
    respx.post(URL).mock(return_value=sse_response(body))
    events, hook = _recorder()
    client = LlamaClient(base_url=BASE_URL, model="m", hooks=hook)
    with pytest.raises(Exception, match="boom"):
        for _ in client.chat.completions.create(messages=MSGS, stream=True):
            pass
    assert _kinds(events) == ["request", "response", "stream_end"]
    end = events[2]
    assert end.outcome == "error" and end.error == "StreamError" and "boom" in (end.message or "")


# --------------------------------------------------------------------------- failing hooks


@respx.mock
def test_a_hook_that_raises_is_logged_and_the_call_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    respx.post(URL).respond(json=completion_body())

    def broken(event: Any) -> None:
        raise RuntimeError("hook bug")

    client = LlamaClient(base_url=BASE_URL, model="m", hooks=broken)
    with caplog.at_level(logging.ERROR, logger="llama_client.hooks"):
        r = client.chat.completions.create(messages=MSGS)
    assert r.choices[0].message.content == "Hello!"
    logged = [rec for rec in caplog.records if rec.name == "llama_client.hooks"]
    assert len(logged) == 2  # request and response
    assert "broken" in logged[0].getMessage() and logged[0].exc_info is not None


@respx.mock
async def test_raise_errors_propagates_a_hook_error() -> None:
    respx.post(URL).respond(json=completion_body())

    def broken(event: Any) -> None:
        raise RuntimeError("hook bug")

    hooks = Hooks(on_response=broken, raise_errors=True)
    async with AsyncLlamaClient(base_url=BASE_URL, model="m", hooks=hooks) as c:
        with pytest.raises(HookError) as info:
            await c.chat.completions.create(messages=MSGS)
    assert isinstance(info.value.__cause__, RuntimeError) and info.value.kind == "response"


def test_bad_hooks_are_refused_before_any_io() -> None:
    async def coro(event: Any) -> None:
        return None

    with pytest.raises(InvalidRequestError, match="plain function"):
        AsyncLlamaClient(base_url=BASE_URL, hooks=coro)
    with pytest.raises(InvalidRequestError, match="plain function"):
        Hooks(on_request=[coro])
    with pytest.raises(InvalidRequestError, match="callable"):
        Hooks(on_error=42)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="hooks"):
        LlamaClient(base_url=BASE_URL, hooks="log")  # type: ignore[arg-type]


@respx.mock
def test_with_options_keeps_the_hooks() -> None:
    respx.post(URL).respond(json=completion_body())
    events, hook = _recorder()
    client = LlamaClient(base_url=BASE_URL, model="m", hooks=hook).with_options(max_retries=0)
    client.chat.completions.create(messages=MSGS)
    assert _kinds(events) == ["request", "response"]


@respx.mock
def test_models_calls_are_observed_too() -> None:
    respx.get(f"{BASE_URL}/models").respond(json={"object": "list", "data": [{"id": "a"}]})
    events, hook = _recorder()
    LlamaClient(base_url=BASE_URL, hooks=hook).models.list()
    assert _kinds(events) == ["request", "response"]
    assert events[0].method == "GET" and events[0].model is None


# --------------------------------------------------------------------------- JSONL


@respx.mock
def test_one_hook_logs_every_call_to_jsonl(tmp_path: Path) -> None:
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(429, json={"error": {"message": "slow down"}}),
            httpx.Response(200, json=completion_body()),
            httpx.Response(400, json={"error": {"message": "nope"}}),
        ]
    )
    path = tmp_path / "calls.jsonl"

    def log(event: Any) -> None:
        with path.open("a") as f:
            f.write(json.dumps(event.to_dict()) + "\n")

    client = LlamaClient(base_url=BASE_URL, api_key=KEY, model="m", hooks=log)
    client.chat.completions.create(messages=MSGS)
    with pytest.raises(BadRequestError):
        client.chat.completions.create(messages=MSGS)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [x["kind"] for x in lines] == [
        "request",
        "retry",
        "request",
        "response",
        "request",
        "error",
    ]
    assert len({x["call_id"] for x in lines}) == 2
    assert KEY not in path.read_text()


@respx.mock
def test_events_are_stamped_and_a_refused_call_emits_nothing() -> None:
    respx.post(URL).respond(json=completion_body())
    events, hook = _recorder()
    client = LlamaClient(base_url=BASE_URL, model="m", hooks=hook)
    with pytest.raises(InvalidRequestError):
        client.chat.completions.create(messages=[])
    assert events == []
    before = time.time()
    client.chat.completions.create(messages=MSGS)
    assert [e.kind for e in events] == ["request", "response"]
    assert before <= events[0].time <= events[1].time <= time.time()
    assert list(events[0].to_dict())[:3] == ["kind", "time", "call_id"]


@respx.mock
def test_a_key_echoed_inside_a_stream_never_reaches_a_hook() -> None:
    body = sse(chunk(content="Hi"), {"error": {"message": f"bad key {KEY}"}})
    respx.post(URL).mock(return_value=sse_response(body))
    events, hook = _recorder()
    client = LlamaClient(base_url=BASE_URL, api_key=KEY, model="m", hooks=hook)
    with pytest.raises(StreamError) as info:
        for _ in client.chat.completions.create(messages=MSGS, stream=True):
            pass
    assert KEY not in str(info.value)
    assert events[-1].kind == "stream_end" and events[-1].outcome == "error"
    assert "bad key" in (events[-1].message or "")
    _no_secret(events)
