"""Provider behaviour through the client (respx): parameter mapping, message cleaning,
usage and finish-reason normalisation, error mapping, rate-limit headers, routing."""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import pytest
import respx

from llama_client import (
    AsyncLlamaClient,
    ContextLengthExceededError,
    InvalidRequestError,
    LlamaClient,
    RateLimitError,
    ResponseValidationError,
    StreamError,
    ToolUseFailedError,
    UnsupportedParameterError,
    UnsupportedParameterWarning,
)
from tests.unit.providers_support import MSGS, clear_env, instant_retries
from tests.wire import TINY, piecewise_response, sent_json, sse, sse_response

GROQ = "https://api.groq.com/openai/v1/chat/completions"
TOGETHER = "https://api.together.xyz/v1/chat/completions"
FIREWORKS = "https://api.fireworks.ai/inference/v1/chat/completions"
VLLM = "http://localhost:8000/v1/chat/completions"
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)
    instant_retries(monkeypatch)
    for key in ("GROQ_API_KEY", "TOGETHER_API_KEY", "FIREWORKS_API_KEY", "CEREBRAS_API_KEY"):
        monkeypatch.setenv(key, "k-" + key.lower())


def _ok(url: str, mock: respx.MockRouter, body: dict[str, Any] | None = None) -> respx.Route:
    return mock.post(url).mock(return_value=httpx.Response(200, json=body or TINY.completion()))


# --------------------------------------------------------------------------- default client


def test_default_client_is_plain_vllm_and_passes_model_through() -> None:
    with respx.mock() as mock:
        route = _ok(VLLM, mock)
        # the alias is checked against what the server lists (issue #9, item 6): served verbatim
        listing = {"object": "list", "data": [{"id": "llama-3.1-8b-instruct"}]}
        mock.get("http://localhost:8000/v1/models").respond(json=listing)
        client = LlamaClient()
        client.chat.completions.create(
            model="llama-3.1-8b-instruct", messages=MSGS, max_completion_tokens=5, top_k=3
        )
        route.mock(return_value=sse_response(sse(TINY.text_chunk("a", "stop"))))
        with client.chat.completions.stream(model="x", messages=MSGS) as s:
            s.until_done()
    first = sent_json(route, 0)
    assert first["model"] == "llama-3.1-8b-instruct"
    assert first["max_completion_tokens"] == 5 and first["top_k"] == 3
    assert "authorization" not in route.calls[0].request.headers
    # stream() asks vLLM for the usage chunk, as before
    assert sent_json(route, 1)["stream_options"] == {"include_usage": True}


def test_llama_provider_env_selects_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLAMA_PROVIDER", "groq")
    with respx.mock() as mock:
        route = _ok(GROQ, mock)
        LlamaClient().chat.completions.create(model="llama-3.1-8b-instruct", messages=MSGS)
    assert sent_json(route)["model"] == "llama-3.1-8b-instant"


def test_provider_prefix_in_model_string_routes_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    with respx.mock() as mock:
        fw = _ok(FIREWORKS, mock)
        groq = _ok(GROQ, mock)
        client = LlamaClient(provider="groq")
        r = client.chat.completions.create(model="fireworks:llama-3.1-405b-instruct", messages=MSGS)
        client.chat.completions.create(model="llama-3.1-8b-instruct", messages=MSGS)
    assert r.provider_name == "fireworks"
    assert sent_json(fw)["model"] == "accounts/fireworks/models/llama-v3p1-405b-instruct"
    assert fw.calls.last.request.headers["authorization"] == "Bearer k-fireworks_api_key"
    assert groq.call_count == 1


def test_colon_in_a_model_id_that_is_not_a_provider_passes_through() -> None:
    with respx.mock() as mock:
        route = mock.post("http://localhost:11434/v1/chat/completions").mock(
            return_value=httpx.Response(200, json=TINY.completion())
        )
        LlamaClient(provider="ollama").chat.completions.create(model="llama3.1:8b", messages=MSGS)
    assert sent_json(route)["model"] == "llama3.1:8b"


def test_alias_the_vendor_does_not_offer_fails_before_io() -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = _ok(GROQ, mock)
        client = LlamaClient(provider="groq")
        with pytest.raises(InvalidRequestError, match="does not offer") as info:
            client.chat.completions.create(model="llama-3.1-405b-instruct", messages=MSGS)
    assert "llama-3.1-8b-instruct" in str(info.value)
    assert "llama-3.3-70b-instruct" in str(info.value)
    assert not route.called


def test_unknown_provider_lists_known_ones() -> None:
    with pytest.raises(InvalidRequestError, match=r"known: .*groq"):
        LlamaClient(provider="nope")


def test_catalog_lists_the_clients_providers() -> None:
    rows = LlamaClient(provider="groq").models.catalog()
    assert {(r.alias, r.id, r.max_output) for r in rows} == {
        ("llama-3.1-8b-instruct", "llama-3.1-8b-instant", 8192),
        ("llama-3.3-70b-instruct", "llama-3.3-70b-versatile", 32768),
    }
    assert all(r.provider == "groq" and r.context_window == 131072 for r in rows)
    assert LlamaClient().models.catalog() == []  # vLLM serves what it was started with


def test_providers_catalog_stays_callable_after_a_provider_call() -> None:
    # The model table is a submodule loaded on first use; it must not shadow the function.
    import llama_client.providers as providers

    with respx.mock() as mock:
        _ok(GROQ, mock)
        LlamaClient(provider="groq").chat.completions.create(
            model="llama-3.1-8b-instruct", messages=MSGS
        )
    rows = providers.catalog(["groq"])
    assert {r.id for r in rows} == {"llama-3.1-8b-instant", "llama-3.3-70b-versatile"}
    from llama_client.providers import catalog

    assert callable(catalog)


# --------------------------------------------------------------------------- unsupported policy


def test_unsupported_warn_drops_and_warns_once_per_client() -> None:
    with respx.mock() as mock:
        route = _ok(GROQ, mock)
        client = LlamaClient(provider="groq")
        with pytest.warns(UnsupportedParameterWarning, match="logprobs.*groq"):
            client.chat.completions.create(
                model="llama-3.1-8b-instruct", messages=MSGS, logprobs=True
            )
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            client.chat.completions.create(
                model="llama-3.1-8b-instruct", messages=MSGS, logprobs=True
            )
    assert "logprobs" not in sent_json(route)


def test_unsupported_drop_is_silent() -> None:
    with respx.mock() as mock:
        route = _ok(GROQ, mock)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            LlamaClient(provider="groq", unsupported="drop").chat.completions.create(
                model="llama-3.1-8b-instruct", messages=MSGS, presence_penalty=0.5, n=2
            )
    body = sent_json(route)
    assert "presence_penalty" not in body and "n" not in body


def test_unsupported_error_raises_before_io() -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = _ok(GROQ, mock)
        client = LlamaClient(provider="groq", unsupported="error")
        with pytest.raises(UnsupportedParameterError) as info:
            client.chat.completions.create(model="llama-3.1-8b-instruct", messages=MSGS, n=2)
    assert info.value.field == "n" and info.value.provider == "groq"
    assert isinstance(info.value, InvalidRequestError)
    assert not route.called


async def test_unsupported_error_raises_before_io_async() -> None:
    with respx.mock(assert_all_called=False) as mock:
        route = _ok(GROQ, mock)
        client = AsyncLlamaClient(provider="groq", unsupported="error")
        with pytest.raises(UnsupportedParameterError):
            await client.chat.completions.create(
                model="llama-3.1-8b-instruct", messages=MSGS, logprobs=True
            )
    assert not route.called


def test_bad_unsupported_value() -> None:
    with pytest.raises(InvalidRequestError, match="unsupported"):
        LlamaClient(unsupported="ignore")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- parameter mapping


def test_groq_params_and_message_cleaning() -> None:
    history = [
        {"role": "user", "content": "hi", "name": None},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "thinking",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    with respx.mock() as mock:
        route = _ok(GROQ, mock)
        LlamaClient(provider="groq").chat.completions.create(
            model="llama-3.1-8b-instruct", messages=history, max_tokens=9, tools=TOOLS
        )
    body = sent_json(route)
    assert body["max_completion_tokens"] == 9 and "max_tokens" not in body
    assert body["messages"][0] == {"role": "user", "content": "hi"}
    assert "reasoning_content" not in body["messages"][1]
    assert "content" not in body["messages"][1]
    assert history[1]["reasoning_content"] == "thinking"  # the caller's dict is untouched


def test_groq_refuses_response_format_when_streaming() -> None:
    client = LlamaClient(provider="groq", unsupported="error")
    with (
        respx.mock(assert_all_called=False),
        pytest.raises(UnsupportedParameterError, match="stream"),
    ):
        client.chat.completions.create(
            model="llama-3.1-8b-instruct",
            messages=MSGS,
            stream=True,
            response_format={"type": "json_object"},
        )


def test_fireworks_params() -> None:
    with respx.mock() as mock:
        route = _ok(FIREWORKS, mock)
        LlamaClient(provider="fireworks").chat.completions.create(
            model="llama-3.1-8b-instruct",
            messages=MSGS,
            tools=TOOLS,
            tool_choice="required",
            max_completion_tokens=7,
            logprobs=True,
            top_logprobs=2,
        )
    body = sent_json(route)
    assert body["tool_choice"] == "any"
    assert body["max_tokens"] == 7 and "max_completion_tokens" not in body
    assert body["logprobs"] == 2 and "top_logprobs" not in body
    assert body["context_length_exceeded_behavior"] == "error"


def test_caller_can_override_a_provider_default_body_field() -> None:
    with respx.mock() as mock:
        route = _ok(FIREWORKS, mock)
        LlamaClient(provider="fireworks").chat.completions.create(
            model="x", messages=MSGS, extra_body={"context_length_exceeded_behavior": "truncate"}
        )
    assert sent_json(route)["context_length_exceeded_behavior"] == "truncate"


def test_together_logprobs_count_and_empty_tool_calls_removed() -> None:
    with respx.mock() as mock:
        route = _ok(TOGETHER, mock)
        LlamaClient(provider="together").chat.completions.create(
            model="llama-3.1-8b-instruct",
            messages=[*MSGS, {"role": "assistant", "content": "x", "tool_calls": []}],
            logprobs=True,
        )
    body = sent_json(route)
    assert body["logprobs"] == 1
    assert "tool_calls" not in body["messages"][1]


def test_tgi_response_format_and_tools_exclusive() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    with respx.mock() as mock:
        route = _ok("http://localhost:8080/v1/chat/completions", mock)
        client = LlamaClient(provider="tgi", unsupported="drop")
        client.chat.completions.create(
            model="tgi",
            messages=MSGS,
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
        )
        client.chat.completions.create(
            model="tgi", messages=MSGS, tools=TOOLS, response_format={"type": "json_object"}
        )
    assert sent_json(route, 0)["response_format"] == {"type": "json", "value": schema}
    assert "response_format" not in sent_json(route, 1)


def test_llamacpp_schema_and_named_tool_choice() -> None:
    schema = {"type": "object"}
    with respx.mock() as mock:
        route = _ok("http://localhost:8080/v1/chat/completions", mock)
        client = LlamaClient(provider="llamacpp")
        client.chat.completions.create(
            model="x",
            messages=MSGS,
            response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema}},
        )
    assert sent_json(route)["response_format"] == {"type": "json_object", "schema": schema}
    strict = LlamaClient(provider="llamacpp", unsupported="error")
    with (
        respx.mock(assert_all_called=False),
        pytest.raises(UnsupportedParameterError, match="named"),
    ):
        strict.chat.completions.create(
            model="x",
            messages=MSGS,
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "f"}},
        )


def test_ollama_drops_ignored_params() -> None:
    with respx.mock() as mock:
        route = _ok("http://localhost:11434/v1/chat/completions", mock)
        LlamaClient(provider="ollama", unsupported="drop").chat.completions.create(
            model="llama3.2", messages=MSGS, top_k=5, max_completion_tokens=4, seed=1
        )
    body = sent_json(route)
    assert "top_k" not in body and body["max_tokens"] == 4 and body["seed"] == 1


def test_deepinfra_tool_choice_required_refused() -> None:
    client = LlamaClient(provider="deepinfra", api_key="dk", unsupported="error")
    with (
        respx.mock(assert_all_called=False),
        pytest.raises(UnsupportedParameterError, match="required"),
    ):
        client.chat.completions.create(
            model="x", messages=MSGS, tools=TOOLS, tool_choice="required"
        )


def test_meta_length_param_and_response_format_types() -> None:
    with respx.mock() as mock:
        route = _ok("https://api.llama.com/compat/v1/chat/completions", mock)
        LlamaClient(provider="meta", api_key="lk", unsupported="drop").chat.completions.create(
            model="llama-3.3-70b-instruct",
            messages=MSGS,
            max_tokens=3,
            response_format={"type": "json_object"},
        )
    body = sent_json(route)
    assert body["max_completion_tokens"] == 3 and "response_format" not in body


def test_sambanova_and_azure_flatten_text_parts() -> None:
    parts = [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]
    with respx.mock() as mock:
        route = _ok("https://api.sambanova.ai/v1/chat/completions", mock)
        LlamaClient(provider="sambanova", api_key="k").chat.completions.create(
            model="x", messages=parts
        )
    assert sent_json(route)["messages"][0]["content"] == "ab"


def test_azure_strips_tool_call_index_and_passes_extras() -> None:
    history = [
        *MSGS,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": "c",
                    "type": "function",
                    "function": {"name": "f", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c", "content": "1"},
    ]
    with respx.mock() as mock:
        route = mock.post(url__startswith="https://res.services.ai.azure.com/").mock(
            return_value=httpx.Response(200, json=TINY.completion())
        )
        LlamaClient(
            provider="azure", base_url="https://res.services.ai.azure.com/models", api_key="az"
        ).chat.completions.create(model="x", messages=history, top_k=4)
    body = sent_json(route)
    assert "index" not in body["messages"][1]["tool_calls"][0]
    assert route.calls.last.request.headers["extra-parameters"] == "pass-through"


def test_databricks_strips_name_from_non_user_messages() -> None:
    msgs = [
        {"role": "system", "content": "s", "name": "sys"},
        {"role": "user", "content": "u", "name": "bob"},
    ]
    with respx.mock() as mock:
        route = _ok("https://adb-2.example.net/serving-endpoints/chat/completions", mock)
        LlamaClient(
            provider="databricks",
            base_url="https://adb-2.example.net/serving-endpoints",
            api_key="d",
        ).chat.completions.create(model="my-endpoint", messages=msgs)
    body = sent_json(route)
    assert "name" not in body["messages"][0] and body["messages"][1]["name"] == "bob"
    assert body["model"] == "my-endpoint"


# --------------------------------------------------------------------------- responses


def test_finish_reasons_normalised_with_raw_kept() -> None:
    tool_msg = TINY.completion(finish_reason="stop")
    tool_msg["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    }
    with respx.mock() as mock:
        route = _ok(TOGETHER, mock, TINY.completion(finish_reason="eos"))
        client = LlamaClient(provider="together")
        r = client.chat.completions.create(model="x", messages=MSGS)
        route.mock(return_value=httpx.Response(200, json=tool_msg))
        t = client.chat.completions.create(model="x", messages=MSGS)
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].raw_finish_reason == "eos"  # type: ignore[attr-defined]
    assert t.choices[0].finish_reason == "tool_calls"
    assert t.choices[0].raw_finish_reason == "stop"  # type: ignore[attr-defined]


def test_tgi_eos_token_in_a_stream() -> None:
    body = sse(TINY.text_chunk("Hel"), TINY.text_chunk("lo", "eos_token"))
    with respx.mock() as mock:
        mock.post("http://localhost:8080/v1/chat/completions").mock(return_value=sse_response(body))
        with LlamaClient(provider="tgi").chat.completions.stream(model="x", messages=MSGS) as s:
            final = s.get_final_completion()
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].raw_finish_reason == "eos_token"  # type: ignore[attr-defined]
    assert final.choices[0].message.content == "Hello"


def _groq_stream() -> bytes:
    usage = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9, "queue_time": 0.01}
    return sse(
        TINY.text_chunk("He", delta={"role": "assistant"}),
        TINY.text_chunk("y", "stop", x_groq={"id": "req_1", "usage": usage}),
    )


def test_groq_stream_usage_from_x_groq_and_no_stream_options() -> None:
    with respx.mock() as mock:
        route = mock.post(GROQ).mock(return_value=sse_response(_groq_stream()))
        client = LlamaClient(provider="groq")
        with client.chat.completions.stream(model="llama-3.1-8b-instruct", messages=MSGS) as s:
            chunks = list(s)
            final = s.get_final_completion()
    assert "stream_options" not in sent_json(route)
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 9
    assert final.usage is not None and final.usage.prompt_tokens == 7
    assert final.provider_name == "groq" and s.provider_name == "groq"


async def test_groq_stream_usage_async() -> None:
    with respx.mock() as mock:
        mock.post(GROQ).mock(return_value=sse_response(_groq_stream()))
        client = AsyncLlamaClient(provider="groq")
        async with client.chat.completions.stream(
            model="llama-3.1-8b-instruct", messages=MSGS
        ) as s:
            final = await s.get_final_completion()
        stream = await client.chat.completions.create(
            model="llama-3.1-8b-instruct", messages=MSGS, stream=True
        )
        last = [c async for c in stream][-1]
    assert final.usage is not None and final.usage.completion_tokens == 2
    assert last.usage is not None and last.usage.total_tokens == 9
    assert stream.provider_name == "groq"


def test_groq_non_stream_usage_from_x_groq() -> None:
    body = TINY.completion(
        x_groq={"id": "q", "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    )
    with respx.mock() as mock:
        _ok(GROQ, mock, body)
        r = LlamaClient(provider="groq").chat.completions.create(model="x", messages=MSGS)
    assert r.usage is not None and r.usage.total_tokens == 2


def test_groq_in_stream_error() -> None:
    body = sse(
        TINY.text_chunk("a"),
        TINY.text_chunk(None, None, x_groq={"id": "q", "error": "over capacity"}),
    )
    with respx.mock() as mock:
        mock.post(GROQ).mock(return_value=sse_response(body))
        stream = LlamaClient(provider="groq").chat.completions.create(
            model="x", messages=MSGS, stream=True
        )
        with pytest.raises(StreamError, match="over capacity"):
            list(stream)


def test_together_usage_on_every_chunk_and_no_stream_options() -> None:
    u = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    u2 = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    body = sse(TINY.text_chunk("a", usage=u), TINY.text_chunk("b", "eos", usage=u2))
    with respx.mock() as mock:
        route = mock.post(TOGETHER).mock(return_value=sse_response(body))
        with LlamaClient(provider="together").chat.completions.stream(
            model="x", messages=MSGS
        ) as s:
            final = s.get_final_completion()
    assert "stream_options" not in sent_json(route)
    assert final.usage is not None and final.usage.total_tokens == 5
    assert final.choices[0].finish_reason == "stop"


def test_openrouter_comments_and_in_stream_error_event() -> None:
    first = sse(b": OPENROUTER PROCESSING", TINY.text_chunk("a"), done=False)
    error = sse(
        {
            "id": "x",
            "object": "chat.completion.chunk",
            "error": {"code": 502, "message": "upstream died"},
            "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
        },
        done=False,
    )
    with respx.mock() as mock:
        mock.post("https://openrouter.ai/api/v1/chat/completions").mock(
            return_value=piecewise_response(first, error)
        )
        stream = LlamaClient(provider="openrouter", api_key="k").chat.completions.create(
            model="x", messages=MSGS, stream=True
        )
        first = next(stream)
        with pytest.raises(StreamError, match="upstream died"):
            next(stream)
    assert first.choices[0].delta.content == "a"


# --------------------------------------------------------------------------- errors


def _err(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_groq_413_is_a_rate_limit_not_retried() -> None:
    body = {
        "error": {
            "message": "Request too large for model `llama-3.1-8b-instant` on tokens per minute (TPM): Limit 6000, Requested 9000",
            "type": "tokens",
            "code": "rate_limit_exceeded",
        }
    }
    headers = {"x-ratelimit-limit-tokens": "6000", "x-ratelimit-reset-tokens": "7.66s"}
    with respx.mock() as mock:
        route = mock.post(GROQ).mock(return_value=_err(413, body, headers))
        with pytest.raises(RateLimitError) as info:
            LlamaClient(provider="groq").chat.completions.create(model="x", messages=MSGS)
    assert route.call_count == 1
    assert info.value.status_code == 413
    limit = info.value.rate_limit
    assert limit is not None and limit.limit_tokens == 6000 and limit.reset_tokens == 7.66


def test_groq_498_is_retried() -> None:
    with respx.mock() as mock:
        route = mock.post(GROQ).mock(
            side_effect=[
                _err(498, {"error": {"message": "capacity exceeded", "code": "capacity_exceeded"}}),
                httpx.Response(200, json=TINY.completion()),
            ]
        )
        r = LlamaClient(provider="groq").chat.completions.create(model="x", messages=MSGS)
    assert route.call_count == 2 and r.choices[0].message.content == "hi"


async def test_groq_498_exhausted_is_a_rate_limit_async() -> None:
    with respx.mock() as mock:
        route = mock.post(GROQ).mock(
            return_value=_err(498, {"error": {"message": "capacity exceeded"}})
        )
        with pytest.raises(RateLimitError):
            await AsyncLlamaClient(provider="groq", max_retries=1).chat.completions.create(
                model="x", messages=MSGS
            )
    assert route.call_count == 2


def test_groq_tool_use_failed_keeps_failed_generation() -> None:
    body = {
        "error": {
            "message": "Failed to call a function. Please adjust your prompt.",
            "type": "invalid_request_error",
            "code": "tool_use_failed",
            "failed_generation": '<function=f>{"a": 1}</function>',
        }
    }
    with respx.mock() as mock:
        mock.post(GROQ).mock(return_value=_err(400, body))
        with pytest.raises(ToolUseFailedError) as info:
            LlamaClient(provider="groq").chat.completions.create(
                model="x", messages=MSGS, tools=TOOLS
            )
    assert info.value.failed_generation == '<function=f>{"a": 1}</function>'
    assert info.value.status_code == 400


@pytest.mark.parametrize(
    ("provider", "url", "status", "body"),
    [
        (
            "groq",
            GROQ,
            400,
            {
                "error": {
                    "message": "Please reduce the length of the messages or completion.",
                    "type": "invalid_request_error",
                    "code": "context_length_exceeded",
                }
            },
        ),
        (
            "together",
            TOGETHER,
            400,
            {
                "error": {
                    "message": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8193. Given: 9000 `inputs` tokens and 100 `max_new_tokens`",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        ),
        (
            "cerebras",
            "https://api.cerebras.ai/v1/chat/completions",
            400,
            {
                "error": {
                    "message": "Please reduce the length of your prompt. Current length is 9000 while limit is 8192",
                    "type": "invalid_request_error",
                }
            },
        ),
        (
            "tgi",
            "http://localhost:8080/v1/chat/completions",
            422,
            {
                "error": "Input validation error: `inputs` must have less than 4096 tokens. Given: 5000",
                "error_type": "validation",
            },
        ),
        (
            "llamacpp",
            "http://localhost:8080/v1/chat/completions",
            400,
            {
                "error": {
                    "code": 400,
                    "message": "request (10035 tokens) exceeds the available context size (4096 tokens), try increasing it",
                    "type": "exceed_context_size_error",
                    "n_prompt_tokens": 10035,
                    "n_ctx": 4096,
                }
            },
        ),
        (
            "vllm",
            VLLM,
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 2048 tokens. However, your prompt contains at least 2049 input tokens",
                    "type": "BadRequestError",
                    "param": "input_tokens",
                    "code": 400,
                }
            },
        ),
    ],
    ids=["groq", "together", "cerebras", "tgi", "llamacpp", "vllm"],
)
def test_context_overflow_per_vendor(provider: str, url: str, status: int, body: Any) -> None:
    with respx.mock() as mock:
        mock.post(url).mock(return_value=_err(status, body))
        with pytest.raises(ContextLengthExceededError):
            LlamaClient(provider=provider).chat.completions.create(model="x", messages=MSGS)


def test_raw_response_rate_limit_and_provider() -> None:
    headers = {
        "x-ratelimit-limit-requests": "14400",
        "x-ratelimit-remaining-requests": "14399",
        "x-ratelimit-reset-requests": "6s",
        "x-ratelimit-remaining-tokens": "5990",
    }
    with respx.mock() as mock:
        mock.post(GROQ).mock(
            return_value=httpx.Response(200, json=TINY.completion(), headers=headers)
        )
        raw = LlamaClient(provider="groq").chat.completions.with_raw_response.create(
            model="x", messages=MSGS
        )
    assert raw.provider_name == "groq"
    info = raw.rate_limit
    assert info is not None
    assert (info.limit_requests, info.remaining_requests, info.reset_requests) == (
        14400,
        14399,
        6.0,
    )
    assert info.remaining_tokens == 5990 and info.limit_tokens is None
    assert raw.parse().provider_name == "groq"


def test_with_options_keeps_providers_policy_and_fallback_state() -> None:
    client = LlamaClient(provider=["groq", "cerebras"], unsupported="error")
    copy = client.with_options(model="llama-3.1-8b-instruct", max_retries=0)
    assert copy.providers == ["groq", "cerebras"]
    assert copy._fallback is client._fallback
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route()
        with pytest.raises(UnsupportedParameterError):  # both refuse n > 1
            copy.chat.completions.create(messages=MSGS, n=3)
    assert not route.called
    single = LlamaClient(provider="groq", api_key="gsk_explicit").with_options(timeout=5)
    assert single.providers == ["groq"] and single.api_key == "gsk_explicit"


def test_groq_unreadable_x_groq_usage_shows_what_arrived() -> None:
    body = TINY.completion(x_groq={"id": "q", "usage": {"prompt_tokens": "many"}})
    with respx.mock() as mock:
        _ok(GROQ, mock, body)
        with pytest.raises(ResponseValidationError, match="many"):
            LlamaClient(provider="groq").chat.completions.create(model="x", messages=MSGS)
