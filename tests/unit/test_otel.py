"""OpenTelemetry spans (``otel=``): one per call with the GenAI attributes, one child per
attempt once an attempt failed, a stream's span ending with the stream, content only on
opt-in, no secret anywhere."""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx
import pytest
import respx

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from llama_client import (
    AsyncLlamaClient,
    BadRequestError,
    InvalidRequestError,
    LlamaClient,
    StreamError,
)
from llama_client.otel import CONTENT_ENV, OTel
from tests.unit.providers_support import clear_env, instant_retries
from tests.wire import (
    BASE_URL,
    chunk,
    completion_body,
    sse,
    sse_reply,
    sse_response,
    usage_chunk,
)

MSGS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is the secret plan?"},
]
KEY = "sk-otel-secret-987654"
URL = f"{BASE_URL}/chat/completions"
GROQ = "https://api.groq.com/openai/v1"
TOGETHER = "https://api.together.xyz/v1"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)
    instant_retries(monkeypatch)
    monkeypatch.delenv(CONTENT_ENV, raising=False)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def _otel(exporter: InMemorySpanExporter, **kw: Any) -> OTel:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return OTel(tracer_provider=provider, **kw)


def _spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return list(exporter.get_finished_spans())


def _everything(spans: list[ReadableSpan]) -> str:
    return json.dumps(
        [
            {
                "name": s.name,
                "attributes": dict(s.attributes or {}),
                "status": s.status.description,
                "events": [dict(e.attributes or {}) for e in s.events],
            }
            for s in spans
        ],
        default=str,
    )


def _call_span(spans: list[ReadableSpan]) -> ReadableSpan:
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 1, [s.name for s in spans]
    return roots[0]


# --------------------------------------------------------------------------- one call


@respx.mock
def test_one_span_per_call_with_the_genai_attributes(exporter: InMemorySpanExporter) -> None:
    respx.post(URL).respond(json=completion_body())
    client = LlamaClient(base_url=BASE_URL, api_key=KEY, model="m", otel=_otel(exporter))
    client.usage.set_prices({"vllm:m": (1.0, 1.0)})
    client.chat.completions.create(messages=MSGS, max_tokens=50, temperature=0.2, top_p=0.9)
    spans = _spans(exporter)
    assert len(spans) == 1  # answered at the first attempt: no child span
    span = spans[0]
    assert span.name == "chat m" and span.kind == SpanKind.CLIENT
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "vllm" and attrs["gen_ai.system"] == "vllm"
    assert attrs["gen_ai.request.model"] == "m"
    assert attrs["gen_ai.request.max_tokens"] == 50
    assert attrs["gen_ai.request.temperature"] == 0.2 and attrs["gen_ai.request.top_p"] == 0.9
    assert attrs["gen_ai.response.model"] == "meta-llama/Llama-3.1-8B-Instruct"
    assert attrs["gen_ai.response.id"] == "chatcmpl-8c1f2a3b4c5d6e7f"
    assert tuple(attrs["gen_ai.response.finish_reasons"]) == ("stop",)  # type: ignore[arg-type]
    assert attrs["gen_ai.usage.input_tokens"] == 12 and attrs["gen_ai.usage.output_tokens"] == 3
    assert attrs["server.address"] == "llama.test" and attrs["server.port"] == 80
    assert attrs["llama_client.cost_usd"] == pytest.approx(15e-6)
    assert attrs["llama_client.attempts"] == 1 and attrs["llama_client.retries"] == 0
    assert span.status.status_code != StatusCode.ERROR
    text = _everything(spans)
    assert "gen_ai.input.messages" not in text and "secret plan" not in text  # no opt-in
    assert KEY not in text


@respx.mock
async def test_async_call_span(exporter: InMemorySpanExporter) -> None:
    respx.post(URL).respond(json=completion_body())
    async with AsyncLlamaClient(base_url=BASE_URL, model="m", otel=_otel(exporter)) as c:
        await c.chat.completions.create(messages=MSGS)
    (span,) = _spans(exporter)
    assert span.name == "chat m" and span.attributes["gen_ai.usage.output_tokens"] == 3  # type: ignore[index]


@respx.mock
def test_a_failed_call_has_error_type_and_status(exporter: InMemorySpanExporter) -> None:
    respx.post(URL).respond(400, json={"error": {"message": f"bad key {KEY}"}})
    client = LlamaClient(base_url=BASE_URL, api_key=KEY, model="m", otel=_otel(exporter))
    with pytest.raises(BadRequestError):
        client.chat.completions.create(messages=MSGS)
    (span,) = _spans(exporter)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "BadRequestError"  # type: ignore[index]
    assert KEY not in _everything([span])


# --------------------------------------------------------------------------- attempts


@respx.mock
def test_retries_give_one_child_span_per_attempt(exporter: InMemorySpanExporter) -> None:
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(503, json={"error": {"message": "busy"}}),
            httpx.ConnectError("refused"),
            httpx.Response(200, json=completion_body()),
        ]
    )
    client = LlamaClient(base_url=BASE_URL, model="m", otel=_otel(exporter))
    client.chat.completions.create(messages=MSGS)
    spans = _spans(exporter)
    call = _call_span(spans)
    children = sorted(
        (s for s in spans if s.parent is not None),
        key=lambda s: s.attributes["llama_client.attempt"],  # type: ignore[index]
    )
    assert [c.name for c in children] == [
        "chat m attempt 1",
        "chat m attempt 2",
        "chat m attempt 3",
    ]
    assert all(c.parent.span_id == call.context.span_id for c in children)  # type: ignore[union-attr]
    assert [c.attributes.get("error.type") for c in children] == [  # type: ignore[union-attr]
        "InternalServerError",
        "APIConnectionError",
        None,
    ]
    assert [c.status.status_code == StatusCode.ERROR for c in children] == [True, True, False]
    assert all(c.start_time <= c.end_time for c in children)  # type: ignore[operator]
    assert children[0].start_time >= call.start_time  # type: ignore[operator]
    assert children[0].attributes["server.address"] == "llama.test"  # type: ignore[index]
    assert call.attributes["llama_client.retries"] == 2  # type: ignore[index]
    assert call.status.status_code != StatusCode.ERROR


@respx.mock
async def test_async_retries_give_child_spans(exporter: InMemorySpanExporter) -> None:
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(429, json={"error": {"message": "slow"}}),
            httpx.Response(200, json=completion_body()),
        ]
    )
    async with AsyncLlamaClient(base_url=BASE_URL, model="m", otel=_otel(exporter)) as c:
        await c.chat.completions.create(messages=MSGS)
    spans = _spans(exporter)
    _call_span(spans)
    errors = sorted(str(s.attributes.get("error.type")) for s in spans if s.parent)  # type: ignore[union-attr]
    assert errors == ["None", "RateLimitError"]


def test_fallback_gives_child_spans_per_provider(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_groq_otel_secret")
    monkeypatch.setenv("TOGETHER_API_KEY", "tk_together_otel_secret")
    with respx.mock() as mock:
        mock.post(f"{GROQ}/chat/completions").respond(404, json={"error": {"message": "no"}})
        mock.post(f"{TOGETHER}/chat/completions").respond(json=completion_body())
        client = LlamaClient(
            provider=["groq", "together"], model="llama-3.1-8b-instruct", otel=_otel(exporter)
        )
        with pytest.raises(Exception, match="no"):
            client.chat.completions.create(messages=MSGS)
        exporter.clear()
        mock.post(f"{GROQ}/chat/completions").respond(503, json={"error": {"message": "down"}})
        client = LlamaClient(
            provider=["groq", "together"],
            model="llama-3.1-8b-instruct",
            max_retries=0,
            otel=_otel(exporter),
        )
        client.chat.completions.create(messages=MSGS)
    spans = _spans(exporter)
    call = _call_span(spans)
    children = sorted((s for s in spans if s.parent), key=lambda s: s.start_time or 0)
    assert [c.attributes["gen_ai.provider.name"] for c in children] == ["groq", "together"]  # type: ignore[index]
    assert children[0].attributes["error.type"] == "InternalServerError"  # type: ignore[index]
    assert call.attributes["gen_ai.provider.name"] == "together"  # type: ignore[index]
    assert call.attributes["server.address"] == "api.groq.com"  # type: ignore[index]  # first tried
    text = _everything(spans)
    assert "gsk_groq_otel_secret" not in text and "tk_together_otel_secret" not in text


# --------------------------------------------------------------------------- streams


def _stream() -> httpx.Response:
    return sse_reply(chunk(content="Hel"), chunk(content="lo", finish="stop"), usage_chunk(7, 2))


@respx.mock
def test_a_stream_span_ends_when_the_stream_is_exhausted(exporter: InMemorySpanExporter) -> None:
    respx.post(URL).mock(return_value=_stream())
    client = LlamaClient(base_url=BASE_URL, model="m", otel=_otel(exporter))
    stream = client.chat.completions.create(
        messages=MSGS, stream=True, stream_options={"include_usage": True}
    )
    first = next(iter(stream))
    assert first.choices[0].delta.content == "Hel"
    assert _spans(exporter) == []  # open while the stream is
    for _ in stream:
        pass
    (span,) = _spans(exporter)
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.usage.input_tokens"] == 7 and attrs["gen_ai.usage.output_tokens"] == 2
    assert tuple(attrs["gen_ai.response.finish_reasons"]) == ("stop",)  # type: ignore[arg-type]
    assert attrs["gen_ai.response.id"] and span.status.status_code != StatusCode.ERROR


@respx.mock
async def test_an_async_stream_span_ends_when_closed(exporter: InMemorySpanExporter) -> None:
    respx.post(URL).mock(return_value=_stream())
    async with AsyncLlamaClient(base_url=BASE_URL, model="m", otel=_otel(exporter)) as c:
        async with c.chat.completions.stream(messages=MSGS) as s:
            async for _ in s:
                break
            assert _spans(exporter) == []
        (span,) = _spans(exporter)
    # The server's whole reply arrived in one read: its usage chunk counts, though unread.
    assert span.attributes["gen_ai.usage.input_tokens"] == 7  # type: ignore[index]
    assert span.status.status_code != StatusCode.ERROR


@respx.mock
def test_a_sync_stream_span_ends_when_closed(exporter: InMemorySpanExporter) -> None:
    respx.post(URL).mock(return_value=_stream())
    client = LlamaClient(base_url=BASE_URL, model="m", otel=_otel(exporter))
    with client.chat.completions.stream(messages=MSGS) as s:
        next(iter(s))
    assert len(_spans(exporter)) == 1


@respx.mock
def test_a_broken_stream_span_has_the_error(exporter: InMemorySpanExporter) -> None:
    body = sse(chunk(content="Hi"), {"error": {"message": "boom"}})
    respx.post(URL).mock(return_value=sse_response(body))
    client = LlamaClient(base_url=BASE_URL, model="m", otel=_otel(exporter))
    with pytest.raises(StreamError):
        for _ in client.chat.completions.create(messages=MSGS, stream=True):
            pass
    (span,) = _spans(exporter)
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "StreamError"  # type: ignore[index]


# --------------------------------------------------------------------------- content


@respx.mock
def test_content_only_on_opt_in(exporter: InMemorySpanExporter) -> None:
    respx.post(URL).respond(json=completion_body(content="The plan is tea."))
    client = LlamaClient(
        base_url=BASE_URL, api_key=KEY, model="m", otel=_otel(exporter, capture_content=True)
    )
    client.chat.completions.create(messages=MSGS)
    (span,) = _spans(exporter)
    attrs = dict(span.attributes or {})
    sent = json.loads(str(attrs["gen_ai.input.messages"]))
    assert sent == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "What is the secret plan?"}]},
    ]
    out = json.loads(str(attrs["gen_ai.output.messages"]))
    assert out == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "The plan is tea."}],
            "finish_reason": "stop",
        }
    ]
    assert KEY not in _everything([span])


@respx.mock
def test_content_opt_in_from_the_environment_and_streams(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONTENT_ENV, "true")
    respx.post(URL).mock(return_value=_stream())
    client = LlamaClient(base_url=BASE_URL, model="m", otel=_otel(exporter, max_content=4))
    with client.chat.completions.stream(messages=[{"role": "user", "content": "abcdefgh"}]) as s:
        s.get_final_completion()
    (span,) = _spans(exporter)
    attrs = dict(span.attributes or {})
    sent = json.loads(str(attrs["gen_ai.input.messages"]))
    assert sent[0]["parts"][0]["content"] == "abcd... [4 more characters]"
    out = json.loads(str(attrs["gen_ai.output.messages"]))
    assert (
        out[0]["parts"][0]["content"] == "Hell... [1 more characters]"
        and out[0]["finish_reason"] == "stop"
    )


@respx.mock
def test_tool_calls_in_content(exporter: InMemorySpanExporter) -> None:
    body = completion_body(
        content=None,
        finish_reason="tool_calls",
        tool_calls=[{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    )
    respx.post(URL).respond(json=body)
    client = LlamaClient(base_url=BASE_URL, model="m", otel=_otel(exporter, capture_content=True))
    msgs = [
        {"role": "user", "content": "call f"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c0", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c0", "content": "42"},
    ]
    client.chat.completions.create(messages=msgs)
    (span,) = _spans(exporter)
    sent = json.loads(str(span.attributes["gen_ai.input.messages"]))  # type: ignore[index]
    assert sent[1]["parts"] == [{"type": "tool_call", "id": "c0", "name": "f", "arguments": "{}"}]
    assert sent[2]["parts"] == [{"type": "tool_call_response", "id": "c0", "response": "42"}]
    out = json.loads(str(span.attributes["gen_ai.output.messages"]))  # type: ignore[index]
    assert out[0]["parts"][0]["type"] == "tool_call" and out[0]["finish_reason"] == "tool_calls"


# --------------------------------------------------------------------------- setup


def test_off_by_default_and_bad_settings_refused() -> None:
    client = LlamaClient(base_url=BASE_URL)
    assert client._observer.tracer is None
    assert LlamaClient(base_url=BASE_URL, otel=False)._observer.tracer is None
    with pytest.raises(InvalidRequestError, match="otel"):
        LlamaClient(base_url=BASE_URL, otel="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match="max_content"):
        OTel(max_content=0)


def test_otel_true_uses_the_global_provider() -> None:
    client = LlamaClient(base_url=BASE_URL, otel=True)
    assert client._observer.tracer is not None


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "llama_client._otel", raising=False)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"pip install 'llama-client\[otel\]'"):
        LlamaClient(base_url=BASE_URL, otel=True)
