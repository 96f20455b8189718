"""Observability against a real server: hooks, spans and usage totals agree with what vLLM
really sends (its usage counts, its stream's usage chunk, its ids)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest

from llama_client import AsyncLlamaClient, LlamaClient, OTel

BASE_URL = os.environ.get("LLAMA_IT_BASE_URL", "")

HI = [{"role": "user", "content": "Say hello."}]


def _client(model: str, **kw: Any) -> LlamaClient:
    return LlamaClient(
        provider="vllm",
        base_url=BASE_URL,
        api_key=os.environ.get("LLAMA_IT_API_KEY"),
        model=model,
        timeout=120,
        max_retries=1,
        **kw,
    )


def test_hooks_and_usage_match_the_servers_counts(model: str) -> None:
    events: list[Any] = []
    with _client(model, hooks=events.append) as client:
        client.usage.set_prices({f"vllm:{model}": (1.0, 2.0)})
        r = client.chat.completions.create(messages=HI, max_tokens=16, temperature=0.0)
        with client.chat.completions.stream(messages=HI, max_tokens=16, temperature=0.0) as s:
            final = s.get_final_completion()
        assert r.usage is not None and final.usage is not None
        row = client.usage.get("vllm", model)
    assert row is not None and row.requests == 2 and row.unmetered == 0
    assert row.prompt_tokens == r.usage.prompt_tokens + final.usage.prompt_tokens
    assert row.completion_tokens == r.usage.completion_tokens + final.usage.completion_tokens
    assert r.cost == pytest.approx(
        (r.usage.prompt_tokens * 1.0 + r.usage.completion_tokens * 2.0) / 1e6
    )
    assert final.cost is not None
    kinds = [e.kind for e in events]
    assert kinds == ["request", "response", "request", "response", "stream_end"]
    response, end = events[1], events[4]
    assert response.prompt_tokens == r.usage.prompt_tokens and response.response_id == r.id
    assert end.outcome == "completed" and end.completion_tokens == final.usage.completion_tokens
    for event in events:
        json.dumps(event.to_dict())  # every event is JSON-ready


def test_spans_carry_the_servers_answer(model: str) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with _client(model, otel=OTel(tracer_provider=provider)) as client:
        r = client.chat.completions.create(messages=HI, max_tokens=8, temperature=0.0)
        for _ in client.chat.completions.create(
            messages=HI, max_tokens=8, stream=True, stream_options={"include_usage": True}
        ):
            pass
    plain, streamed = exporter.get_finished_spans()
    assert r.usage is not None
    assert plain.attributes["gen_ai.response.id"] == r.id  # type: ignore[index]
    assert plain.attributes["gen_ai.usage.output_tokens"] == r.usage.completion_tokens  # type: ignore[index]
    assert streamed.attributes["gen_ai.usage.input_tokens"] == r.usage.prompt_tokens  # type: ignore[index]
    assert streamed.attributes["gen_ai.response.finish_reasons"]  # type: ignore[index]


async def test_async_usage_under_concurrency(model: str) -> None:
    async with AsyncLlamaClient(
        provider="vllm",
        base_url=BASE_URL,
        api_key=os.environ.get("LLAMA_IT_API_KEY"),
        model=model,
        timeout=120,
    ) as client:
        results = await asyncio.gather(
            *(
                client.chat.completions.create(messages=HI, max_tokens=4, temperature=0.0)
                for _ in range(6)
            )
        )
        row = client.usage.get("vllm", model)
    assert row is not None and row.requests == 6
    assert row.total_tokens == sum(r.usage.total_tokens for r in results if r.usage)
