"""Pre-flight checks refuse only what no server accepts (issue #9, item 8).

Limits that differ by server are left to the server (or to a provider capability); what is
refused before I/O is a ``RequestRefusedError``, which ``except BadRequestError`` catches as
code written for the openai SDK expects.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from llama_client import (
    AsyncLlamaClient,
    BadRequestError,
    InvalidRequestError,
    LlamaClient,
    RequestRefusedError,
)
from llama_client.providers import Provider
from llama_client.types.chat import Usage

BASE = "http://127.0.0.1:8000/v1"
MSGS = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def _reply(usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": usage or {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def _sent(route: respx.Route) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls.last.request.content)
    return body


@pytest.mark.parametrize(
    "params",
    [
        {"logprobs": True, "top_logprobs": 50},  # vLLM --max-logprobs 50 accepts it
        {"stream_options": {"include_usage": True}},  # without stream: the server's own 400
    ],
)
def test_limits_that_differ_by_server_are_sent(params: dict[str, Any]) -> None:
    with (
        respx.mock(base_url=BASE) as mock,
        LlamaClient(base_url=BASE, model="m", max_retries=0) as c,
    ):
        route = mock.post("/chat/completions").respond(json=_reply())
        c.chat.completions.create(messages=MSGS, **params)
        sent = _sent(route)
    for key, value in params.items():
        assert sent[key] == value


def test_custom_roles_are_sent_as_they_are() -> None:
    messages = [{"role": "narrator", "content": "Once upon a time"}, *MSGS]
    with (
        respx.mock(base_url=BASE) as mock,
        LlamaClient(base_url=BASE, model="m", max_retries=0) as c,
    ):
        route = mock.post("/chat/completions").respond(json=_reply())
        c.chat.completions.create(messages=messages)
        assert _sent(route)["messages"][0] == messages[0]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice"),
        (
            {"tool_choice": {"type": "function", "function": {"name": "g"}}, "tools": [TOOL]},
            "tool_choice",
        ),
        ({"tool_choice": {}, "tools": [TOOL]}, "tool_choice"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "42"}]}, "messages[0].tool_call_id"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"temperature": "hot"}, "temperature"),
    ],
)
def test_refusals_are_caught_as_bad_request(params: dict[str, Any], field: str) -> None:
    params = {"messages": MSGS, **params}
    with (
        respx.mock(base_url=BASE, assert_all_called=False) as mock,
        LlamaClient(base_url=BASE, model="m", max_retries=0) as c,
    ):
        route = mock.post("/chat/completions").respond(json=_reply())
        try:
            c.chat.completions.create(**params)
        except BadRequestError as exc:  # as written for the openai SDK
            caught: BadRequestError = exc
        else:  # pragma: no cover - the assertion below reports it
            pytest.fail("no BadRequestError")
        assert not route.called
    assert isinstance(caught, RequestRefusedError)
    assert isinstance(caught, InvalidRequestError) and isinstance(caught, ValueError)
    assert caught.status_code == 400 and caught.param == field == caught.field
    assert caught.response is None and caught.request is None and caught.body is None
    assert caught.rate_limit is None and caught.request_id is None
    assert str(caught).startswith(field)


async def test_refusals_are_caught_as_bad_request_async() -> None:
    async with AsyncLlamaClient(base_url=BASE, model="m", max_retries=0) as c:
        with pytest.raises(BadRequestError) as info:
            await c.chat.completions.create(
                messages=MSGS, tool_choice={"type": "function", "function": {"name": "f"}}
            )
    assert isinstance(info.value, RequestRefusedError) and info.value.status_code == 400


def test_a_provider_with_a_documented_top_logprobs_limit_refuses_more() -> None:
    capped = Provider(name="capped", base_url=BASE, max_top_logprobs=5)
    with (
        respx.mock(base_url=BASE) as mock,
        LlamaClient(provider=capped, model="m", max_retries=0) as c,
    ):
        route = mock.post("/chat/completions").respond(json=_reply())
        with pytest.raises(BadRequestError, match="at most 5") as info:
            c.chat.completions.create(messages=MSGS, logprobs=True, top_logprobs=6)
        assert isinstance(info.value, RequestRefusedError) and not route.called
        c.chat.completions.create(messages=MSGS, logprobs=True, top_logprobs=5)
        assert _sent(route)["top_logprobs"] == 5


def test_no_builtin_self_hosted_server_caps_top_logprobs() -> None:
    from llama_client.providers import get_provider

    for name in ("vllm", "llamacpp", "ollama", "tgi", "openai-compatible"):
        assert get_provider(name).max_top_logprobs is None


def test_usage_with_null_details_equals_the_plain_usage() -> None:
    vllm_usage = {
        "prompt_tokens": 3,
        "completion_tokens": 1,
        "total_tokens": 4,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }
    with (
        respx.mock(base_url=BASE) as mock,
        LlamaClient(base_url=BASE, model="m", max_retries=0) as c,
    ):
        mock.post("/chat/completions").respond(json=_reply(vllm_usage))
        completion = c.chat.completions.create(messages=MSGS)
    assert completion.usage == Usage(prompt_tokens=3, completion_tokens=1, total_tokens=4)
    details = Usage.model_validate({**vllm_usage, "prompt_tokens_details": {"cached_tokens": 2}})
    assert details.prompt_tokens_details == {"cached_tokens": 2}


def test_httpx_is_not_needed_to_build_the_refusal() -> None:
    # the class is usable on its own, e.g. in a test double
    exc = RequestRefusedError("n", "must be a positive integer")
    assert isinstance(exc, BadRequestError) and exc.message == "n: must be a positive integer"
    assert not isinstance(exc.response, httpx.Response)
