"""Observation of a provider that is not OpenAI-compatible: Bedrock Converse (SigV4, binary
event stream). Hooks, spans and usage see the same calls, tokens and costs as for any other
provider, and no AWS credential reaches any of them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

pytest.importorskip("botocore")
sdk = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from llama_client import LlamaClient, OTel  # noqa: E402
from tests.unit.test_bedrock import (  # noqa: E402
    AKID,
    CONVERSE,
    CONVERSE_STREAM,
    MODEL_ID,
    SECRET,
    TOKEN,
    _aws_env,  # noqa: F401 - the autouse fixture: offline AWS credentials
)
from tests.wire import (  # noqa: E402
    bedrock_error,
    converse_answer,
    converse_stream_events,
    eventstream_response,
)

MSGS = [{"role": "user", "content": "Hi"}]
PRICE = 0.22  # USD per 1M tokens, both ways: the catalogue's Bedrock price of this model


def _observed(monkeypatch: pytest.MonkeyPatch) -> tuple[LlamaClient, list[Any], Any]:
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    events: list[Any] = []
    client = LlamaClient(
        provider="bedrock",
        model="llama-3.1-8b-instruct",
        hooks=events.append,
        otel=OTel(tracer_provider=provider, capture_content=True),
    )
    return client, events, exporter


def _no_credential(events: list[Any], exporter: Any) -> None:
    text = json.dumps([e.to_dict() for e in events])
    text += json.dumps([dict(s.attributes or {}) for s in exporter.get_finished_spans()])
    for secret in (AKID, SECRET, TOKEN):
        assert secret not in text


def test_a_converse_call_is_observed(monkeypatch: pytest.MonkeyPatch) -> None:
    client, events, exporter = _observed(monkeypatch)
    with respx.mock() as mock:
        mock.post(CONVERSE).mock(
            side_effect=[
                bedrock_error(429, "ThrottlingException", "Too many requests"),
                httpx.Response(200, json=converse_answer(usage=(11, 4))),
            ]
        )
        r = client.chat.completions.create(messages=MSGS, max_tokens=20)
    assert [e.kind for e in events] == ["request", "retry", "request", "response"]
    assert events[1].error == "RateLimitError"
    assert events[3].prompt_tokens == 11 and events[3].response_model == MODEL_ID
    assert r.cost == pytest.approx(15 * PRICE / 1e6)
    row = client.usage.get("bedrock", "llama-3.1-8b-instruct")
    assert row is not None and (row.requests, row.retries, row.total_tokens) == (1, 1, 15)
    spans = exporter.get_finished_spans()
    call = next(s for s in spans if s.parent is None)
    assert call.attributes["gen_ai.provider.name"] == "aws.bedrock"  # type: ignore[index]
    assert call.attributes["llama_client.provider"] == "bedrock"  # type: ignore[index]
    assert call.attributes["gen_ai.usage.output_tokens"] == 4  # type: ignore[index]
    assert call.attributes["server.address"] == "bedrock-runtime.us-east-1.amazonaws.com"  # type: ignore[index]
    assert len(spans) == 3  # the call and its two attempts
    _no_credential(events, exporter)


def test_a_converse_stream_is_observed_to_its_metadata_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, events, exporter = _observed(monkeypatch)
    stream_events = converse_stream_events("Sunny ", "today.", usage=(9, 3))
    with respx.mock() as mock:
        mock.post(CONVERSE_STREAM).mock(return_value=eventstream_response(*stream_events))
        with client.chat.completions.stream(messages=MSGS) as stream:
            final = stream.get_final_completion()
    assert [e.kind for e in events] == ["request", "response", "stream_end"]
    end = events[-1]
    assert end.outcome == "completed" and (end.prompt_tokens, end.completion_tokens) == (9, 3)
    assert end.finish_reasons == ("stop",)
    assert final.cost == pytest.approx(12 * PRICE / 1e6)
    (span,) = exporter.get_finished_spans()
    out = json.loads(str(span.attributes["gen_ai.output.messages"]))  # type: ignore[index]
    assert out[0]["parts"][0]["content"] == "Sunny today."
    _no_credential(events, exporter)
