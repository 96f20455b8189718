"""client.usage: running totals per provider and model, thread- and async-safe, resettable;
completion.cost when the price is known."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
import respx

from llama_client import AsyncLlamaClient, InvalidRequestError, LlamaClient
from llama_client.usage import MAX_ROWS, UsageTotals
from tests.unit.providers_support import clear_env, instant_retries
from tests.wire import BASE_URL, chunk, completion_body, sse_reply, usage_chunk

MSGS = [{"role": "user", "content": "Hi"}]
URL = f"{BASE_URL}/chat/completions"
GROQ = "https://api.groq.com/openai/v1"
TOGETHER = "https://api.together.xyz/v1"
PRICE = {"vllm:m": (2.0, 4.0)}  # USD per 1M tokens: 12 prompt + 3 completion = 36e-6


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)
    instant_retries(monkeypatch)


def _client(**kw: object) -> LlamaClient:
    client = LlamaClient(base_url=BASE_URL, model="m", **kw)  # type: ignore[arg-type]
    client.usage.set_prices(PRICE)
    return client


@respx.mock
def test_totals_per_provider_and_model_with_cost() -> None:
    respx.post(URL).respond(json=completion_body())
    client = _client()
    r = client.chat.completions.create(messages=MSGS)
    assert r.cost == pytest.approx((12 * 2.0 + 3 * 4.0) / 1e6)
    client.chat.completions.create(messages=MSGS, model="other")
    row = client.usage.get("vllm", "m")
    assert row is not None
    assert (row.requests, row.prompt_tokens, row.completion_tokens, row.total_tokens) == (
        1,
        12,
        3,
        15,
    )
    assert row.cost == pytest.approx(36e-6)
    other = client.usage.get("vllm", "other")
    assert other is not None and other.requests == 1 and other.cost is None  # no price known
    assert client.usage.requests == 2 and client.usage.total_tokens == 30
    assert client.usage.cost == pytest.approx(36e-6)  # the priced row only
    assert [(u.provider, u.model) for u in client.usage.by_model()] == [
        ("vllm", "m"),
        ("vllm", "other"),
    ]
    assert "requests=2" in repr(client.usage)


@respx.mock
def test_new_prices_apply_to_the_calls_after_them() -> None:
    """Prices are looked up once per provider and model and cached: set_prices drops the
    cache, so a model that had no price gets one from the next call on."""
    respx.post(URL).respond(json=completion_body())
    client = LlamaClient(base_url=BASE_URL, model="m")
    assert client.chat.completions.create(messages=MSGS).cost is None
    client.usage.set_prices(PRICE)
    assert client.chat.completions.create(messages=MSGS).cost == pytest.approx(36e-6)
    client.usage.set_prices({"vllm:m": (1.0, 1.0)})
    assert client.chat.completions.create(messages=MSGS).cost == pytest.approx(15e-6)
    row = client.usage.get("vllm", "m")
    assert row is not None and row.requests == 3
    assert row.cost == pytest.approx(36e-6 + 15e-6)  # the unpriced first call adds nothing


@respx.mock
def test_catalogue_prices_give_a_cost_for_a_hosted_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_x")
    respx.post(f"{GROQ}/chat/completions").respond(
        json=completion_body(model="llama-3.1-8b-instant")
    )
    client = LlamaClient(provider="groq", model="llama-3.1-8b-instant")
    r = client.chat.completions.create(messages=MSGS)
    assert r.cost is not None and r.cost > 0
    assert client.usage.get("groq", "llama-3.1-8b-instant").cost == pytest.approx(r.cost)  # type: ignore[union-attr]


@respx.mock
def test_retries_and_errors_are_counted() -> None:
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(503, json={"error": {"message": "busy"}}),
            httpx.Response(200, json=completion_body()),
            httpx.Response(400, json={"error": {"message": "bad"}}),
        ]
    )
    client = _client()
    client.chat.completions.create(messages=MSGS)
    with pytest.raises(Exception, match="bad"):
        client.chat.completions.create(messages=MSGS)
    row = client.usage.get("vllm", "m")
    assert row is not None
    assert (row.requests, row.errors, row.retries) == (1, 1, 1)


def test_fallback_counts_an_error_for_the_provider_that_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_x")
    monkeypatch.setenv("TOGETHER_API_KEY", "tk_x")
    with respx.mock() as mock:
        mock.post(f"{GROQ}/chat/completions").respond(503, json={"error": {"message": "down"}})
        mock.post(f"{TOGETHER}/chat/completions").respond(json=completion_body())
        client = LlamaClient(provider=["groq", "together"], model="llama-3.1-8b-instruct")
        client.chat.completions.create(messages=MSGS)
    groq = client.usage.get("groq", "llama-3.1-8b-instruct")
    together = client.usage.get("together", "llama-3.1-8b-instruct")
    assert groq is not None and (groq.requests, groq.errors, groq.retries) == (0, 1, 2)
    assert together is not None and (together.requests, together.errors) == (1, 0)
    assert together.prompt_tokens == 12


@respx.mock
def test_a_routing_prefix_is_not_part_of_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_x")
    respx.post(f"{GROQ}/chat/completions").respond(json=completion_body())
    client = LlamaClient(base_url=BASE_URL, model="m")
    client.chat.completions.create(messages=MSGS, model="groq:llama-3.1-8b-instant")
    assert client.usage.get("groq", "llama-3.1-8b-instant") is not None


@respx.mock
def test_streams_count_when_they_end() -> None:
    respx.post(URL).mock(
        return_value=sse_reply(chunk(content="Hi", finish="stop"), usage_chunk(7, 2))
    )
    client = _client()
    with client.chat.completions.stream(messages=MSGS) as s:
        assert client.usage.requests == 0  # not yet: the stream is open
        final = s.get_final_completion()
    assert final.cost == pytest.approx((7 * 2.0 + 2 * 4.0) / 1e6)
    row = client.usage.get("vllm", "m")
    assert row is not None and (row.requests, row.prompt_tokens, row.completion_tokens) == (
        1,
        7,
        2,
    )


@respx.mock
def test_a_stream_without_usage_is_unmetered_not_guessed() -> None:
    respx.post(URL).mock(return_value=sse_reply(chunk(content="Hi", finish="stop")))
    client = _client()
    for _ in client.chat.completions.create(messages=MSGS, stream=True):
        pass
    row = client.usage.get("vllm", "m")
    assert row is not None and (row.requests, row.unmetered, row.total_tokens) == (1, 1, 0)
    assert row.cost is None


@respx.mock
def test_raw_calls_count_their_tokens_when_parsed() -> None:
    respx.post(URL).respond(json=completion_body())
    client = _client()
    raw = client.chat.completions.with_raw_response.create(messages=MSGS)
    row = client.usage.get("vllm", "m")
    assert row is not None and (row.requests, row.unmetered, row.total_tokens) == (1, 1, 0)
    completion = raw.parse()
    raw.parse()  # parsed once
    assert completion.cost == pytest.approx(36e-6)
    row = client.usage.get("vllm", "m")
    assert row is not None and (row.requests, row.unmetered, row.total_tokens) == (1, 0, 15)


@respx.mock
def test_reset_and_sharing_with_copies() -> None:
    respx.post(URL).respond(json=completion_body())
    client = _client()
    copy = client.with_options(max_retries=0)
    copy.chat.completions.create(messages=MSGS)
    assert client.usage is copy.usage and client.usage.requests == 1
    client.usage.reset()
    assert client.usage.requests == 0 and client.usage.by_model() == []
    assert client.usage.cost is None
    client.chat.completions.create(messages=MSGS)
    assert client.usage.cost == pytest.approx(36e-6)  # prices survive a reset
    shared = UsageTotals()
    a = LlamaClient(base_url=BASE_URL, model="m", usage=shared)
    b = LlamaClient(base_url=BASE_URL, model="m", usage=shared)
    a.chat.completions.create(messages=MSGS)
    b.chat.completions.create(messages=MSGS)
    assert shared.requests == 2


def test_bad_usage_and_prices_are_refused_before_any_io() -> None:
    with pytest.raises(InvalidRequestError, match="usage"):
        LlamaClient(base_url=BASE_URL, usage={})  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        UsageTotals().set_prices({"vllm:m": (-1.0, 2.0)})


def test_rows_are_bounded() -> None:
    totals = UsageTotals()
    for i in range(MAX_ROWS + 50):
        totals.add("vllm", f"model-{i}", requests=1, prompt=1)
    rows = totals.by_model()
    assert len(rows) == MAX_ROWS + 1
    other = totals.get("vllm", "(other)")
    assert other is not None and other.requests == 50
    assert totals.requests == MAX_ROWS + 50 and totals.prompt_tokens == MAX_ROWS + 50


@respx.mock
def test_totals_are_exact_under_threads() -> None:
    respx.post(URL).respond(json=completion_body())
    client = _client()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                client.chat.completions.create(messages=MSGS)
        except BaseException as exc:  # pragma: no cover - shown by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    row = client.usage.get("vllm", "m")
    assert row is not None and row.requests == 200 and row.prompt_tokens == 200 * 12
    assert row.cost == pytest.approx(200 * 36e-6)


def test_adding_from_threads_loses_nothing() -> None:
    totals = UsageTotals()

    def work() -> None:
        for _ in range(2000):
            totals.add("p", "m", requests=1, prompt=3, completion=1, cost=1.0)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    row = totals.get("p", "m")
    assert row is not None and row.requests == 16000 and row.prompt_tokens == 48000
    assert row.cost == 16000.0


@respx.mock
async def test_totals_are_exact_under_asyncio_concurrency() -> None:
    async with AsyncLlamaClient(base_url=BASE_URL, model="m") as client:
        client.usage.set_prices(PRICE)

        async def one(i: int) -> None:
            if i % 2:
                await client.chat.completions.create(messages=MSGS)
            else:
                async for _ in await client.chat.completions.create(
                    messages=MSGS, stream=True, stream_options={"include_usage": True}
                ):
                    pass

        respx.post(URL).mock(
            side_effect=lambda request: (
                sse_reply(chunk(content="Hi", finish="stop"), usage_chunk(12, 3))
                if b'"stream":true' in request.content
                else httpx.Response(200, json=completion_body())
            )
        )
        await asyncio.gather(*(one(i) for i in range(100)))
        row = client.usage.get("vllm", "m")
        assert row is not None and row.requests == 100 and row.total_tokens == 1500
        assert row.unmetered == 0 and row.cost == pytest.approx(100 * 36e-6)


@respx.mock
async def test_a_raw_async_stream_counts_when_it_ends() -> None:
    respx.post(URL).mock(
        return_value=sse_reply(chunk(content="Hi", finish="stop"), usage_chunk(7, 2))
    )
    async with AsyncLlamaClient(base_url=BASE_URL, model="m") as client:
        client.usage.set_prices(PRICE)
        raw = await client.chat.completions.with_raw_response.create(messages=MSGS, stream=True)
        assert client.usage.requests == 0
        stream = raw.parse()
        async for _ in stream:
            pass
        row = client.usage.get("vllm", "m")
    assert row is not None and (row.requests, row.total_tokens, row.unmetered) == (1, 9, 0)
    assert stream.cost == pytest.approx((7 * 2.0 + 2 * 4.0) / 1e6)
