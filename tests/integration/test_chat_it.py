"""Chat against a real server: what it really sends must parse into our types."""

from __future__ import annotations

import asyncio
import os

import pytest

from llama_client import (
    AsyncLlamaClient,
    AuthenticationError,
    ChatCompletion,
    ContextLengthExceededError,
    LlamaClient,
    NotFoundError,
)

HI = [{"role": "user", "content": "Say hello."}]
GREEDY = {"temperature": 0.0, "seed": 7}


def test_models_list(client: LlamaClient, model: str) -> None:
    models = client.models.list()
    assert model in models.ids
    assert all(m.object == "model" for m in models)


def test_plain_chat(client: LlamaClient) -> None:
    r = client.chat.completions.create(messages=HI, max_tokens=32, **GREEDY)
    choice = r.choices[0]
    assert isinstance(choice.message.content, str) and choice.message.content
    assert choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    assert r.usage is not None
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert 0 < r.usage.completion_tokens <= 32
    assert r.id and r.model


def test_max_tokens_gives_length(client: LlamaClient) -> None:
    r = client.chat.completions.create(messages=HI, max_tokens=2, **GREEDY)
    assert r.choices[0].finish_reason == "length"
    assert r.usage is not None and r.usage.completion_tokens == 2


def test_stop_string(client: LlamaClient) -> None:
    full = (
        client.chat.completions.create(messages=HI, max_tokens=32, **GREEDY)
        .choices[0]
        .message.content
        or ""
    )
    words = full.split()
    assert len(words) >= 2, (
        f"need an answer of two words or more to pick a stop string from: {full!r}"
    )
    stop = " " + words[1]
    r = client.chat.completions.create(messages=HI, max_tokens=32, stop=[stop], **GREEDY)
    choice = r.choices[0]
    assert choice.finish_reason == "stop"
    assert stop not in (choice.message.content or "")
    assert full.startswith(choice.message.content or "")
    if "stop_reason" in choice.model_fields_set:  # vLLM tells which stop string matched
        assert choice.stop_reason == stop


def test_n2_not_streamed(client: LlamaClient) -> None:
    r = client.chat.completions.create(messages=HI, max_tokens=8, n=2, temperature=1.0)
    assert sorted(c.index for c in r.choices) == [0, 1]
    assert all(isinstance(c.message.content, str) for c in r.choices)


def test_n2_streamed_interleaves_and_accumulates(client: LlamaClient) -> None:
    with client.chat.completions.stream(messages=HI, max_tokens=8, n=2, temperature=1.0) as s:
        order = [ch.index for chunk in s for ch in chunk.choices]
        final = s.get_final_completion()
    assert set(order) == {0, 1}
    assert [c.index for c in final.choices] == [0, 1]
    assert all(c.finish_reason in ("stop", "length") for c in final.choices)


def test_stream_with_usage_chunk(client: LlamaClient) -> None:
    chunks = list(
        client.chat.completions.create(
            messages=HI,
            max_tokens=16,
            stream=True,
            stream_options={"include_usage": True},
            **GREEDY,
        )
    )
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens > 0
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)


def test_stream_without_usage(client: LlamaClient) -> None:
    chunks = list(client.chat.completions.create(messages=HI, max_tokens=16, stream=True, **GREEDY))
    assert chunks and all(c.usage is None for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text


def test_stream_accumulation_equals_non_streamed(client: LlamaClient) -> None:
    plain = client.chat.completions.create(messages=HI, max_tokens=24, **GREEDY)
    with client.chat.completions.stream(messages=HI, max_tokens=24, **GREEDY) as s:
        pieces = list(s.text_stream)
        streamed = s.get_final_completion()
    assert isinstance(streamed, ChatCompletion)
    assert "".join(pieces) == streamed.choices[0].message.content
    assert streamed.choices[0].message.content == plain.choices[0].message.content
    assert streamed.choices[0].finish_reason == plain.choices[0].finish_reason
    assert streamed.usage is not None and plain.usage is not None
    assert streamed.usage.completion_tokens == plain.usage.completion_tokens
    assert streamed.usage.prompt_tokens == plain.usage.prompt_tokens


def test_logprobs_passthrough(client: LlamaClient) -> None:
    r = client.chat.completions.create(
        messages=HI, max_tokens=4, logprobs=True, top_logprobs=2, **GREEDY
    )
    lp = r.choices[0].logprobs
    assert lp is not None and lp.content is not None and len(lp.content) == 4
    assert all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in lp.content)
    with client.chat.completions.stream(
        messages=HI, max_tokens=4, logprobs=True, top_logprobs=2, **GREEDY
    ) as s:
        final = s.get_final_completion()
    slp = final.choices[0].logprobs
    assert slp is not None and slp.content is not None
    assert [t.token for t in slp.content] == [t.token for t in lp.content]


def test_context_length_exceeded(client: LlamaClient, server_info: dict[str, object]) -> None:
    limit = server_info.get("max_model_len")
    if not isinstance(limit, int):
        pytest.skip("the server does not report max_model_len in /models")
    if limit > 200_000:
        pytest.skip("context window too large to overflow cheaply")
    long_prompt = "hello " * (limit + 100)
    with pytest.raises(ContextLengthExceededError):
        client.chat.completions.create(
            messages=[{"role": "user", "content": long_prompt}], max_tokens=4
        )


def test_unknown_model_is_not_found(client: LlamaClient) -> None:
    with pytest.raises(NotFoundError, match="no-such-model"):
        client.chat.completions.create(messages=HI, model="no-such-model", max_tokens=4)


def test_vllm_structured_outputs_via_extra_body(
    client: LlamaClient, server_info: dict[str, object]
) -> None:
    # vLLM-only constraints (choice, regex, grammar) are sent as vLLM names them.
    if server_info.get("owned_by") != "vllm":
        pytest.skip("vLLM-specific structured_outputs")
    r = client.chat.completions.create(
        messages=HI, max_tokens=8, extra_body={"structured_outputs": {"choice": ["alpha", "beta"]}}
    )
    assert r.choices[0].message.content in ("alpha", "beta")


def test_raw_response(client: LlamaClient) -> None:
    raw = client.chat.completions.with_raw_response.create(messages=HI, max_tokens=4)
    assert raw.status_code == 200
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.parse().choices


AUTH_URL = os.environ.get("LLAMA_IT_AUTH_BASE_URL")
AUTH_KEY = os.environ.get("LLAMA_IT_AUTH_KEY")
needs_auth_server = pytest.mark.skipif(
    not (AUTH_URL and AUTH_KEY),
    reason="set LLAMA_IT_AUTH_BASE_URL and LLAMA_IT_AUTH_KEY (a server started with --api-key)",
)


@needs_auth_server
def test_wrong_key_is_authentication_error(model: str) -> None:
    with LlamaClient(base_url=AUTH_URL, api_key="sk-wrong", model=model, max_retries=0) as c:
        with pytest.raises(AuthenticationError) as info:
            c.chat.completions.create(messages=HI, max_tokens=4)
    assert info.value.status_code == 401
    assert "sk-wrong" not in str(info.value)
    with (
        LlamaClient(base_url=AUTH_URL, model=model, max_retries=0) as c,
        pytest.raises(AuthenticationError),
    ):
        c.chat.completions.create(messages=HI, max_tokens=4)


@needs_auth_server
def test_right_key_succeeds(model: str) -> None:
    with LlamaClient(base_url=AUTH_URL, api_key=AUTH_KEY, model=model) as c:
        assert (
            c.chat.completions.create(messages=HI, max_tokens=4).choices[0].message.content
            is not None
        )
        assert model in c.models.list().ids


# --------------------------------------------------------------------------- async twins


async def test_async_chat(aclient: AsyncLlamaClient) -> None:
    r = await aclient.chat.completions.create(messages=HI, max_tokens=8, **GREEDY)
    assert r.choices[0].message.content
    assert r.usage is not None and r.usage.completion_tokens > 0


async def test_async_concurrent_calls(aclient: AsyncLlamaClient) -> None:
    results = await asyncio.gather(
        *(aclient.chat.completions.create(messages=HI, max_tokens=4, **GREEDY) for _ in range(4))
    )
    assert len({r.choices[0].message.content for r in results}) == 1  # greedy: the same answer


async def test_async_stream_and_usage(aclient: AsyncLlamaClient) -> None:
    stream = await aclient.chat.completions.create(
        messages=HI, max_tokens=8, stream=True, stream_options={"include_usage": True}, **GREEDY
    )
    chunks = [c async for c in stream]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


async def test_async_stream_manager_matches_plain(aclient: AsyncLlamaClient) -> None:
    plain = await aclient.chat.completions.create(messages=HI, max_tokens=16, **GREEDY)
    async with aclient.chat.completions.stream(messages=HI, max_tokens=16, **GREEDY) as s:
        text = "".join([t async for t in s.text_stream])
        final = await s.get_final_completion()
    assert text == final.choices[0].message.content == plain.choices[0].message.content
    assert final.usage is not None


async def test_async_errors(aclient: AsyncLlamaClient) -> None:
    with pytest.raises(NotFoundError):
        await aclient.chat.completions.create(messages=HI, model="no-such-model", max_tokens=4)
    assert (await aclient.models.list()).ids
