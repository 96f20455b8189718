from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from llama_client import (
    AsyncLlamaClient,
    ChatCompletionAccumulator,
    ChatCompletionChunk,
    LlamaClient,
    ResponseValidationError,
    StreamError,
)
from llama_client._streaming import ChatChunkDecoder
from llama_client.types.chat import Usage
from tests.wire import BASE_URL, SSE_HEADERS, chunk, completion_body, sse, usage_chunk

MSGS = [{"role": "user", "content": "Hi"}]
URL = f"{BASE_URL}/chat/completions"

# vLLM 0.32 plain text stream (servers.md §2.4): role chunk, content, finish chunk, usage chunk.
VLLM_TEXT = sse(
    chunk(role="assistant", content=""),
    chunk(content="Hel"),
    chunk(content="lo!"),
    chunk(finish="stop"),
    usage_chunk(12, 3),
)


class TrackedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that records whether it was closed, optionally breaking after its bytes."""

    def __init__(self, *parts: bytes, error: Exception | None = None) -> None:
        self.parts = parts
        self.error = error
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.parts
        if self.error:
            raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for p in self.parts:
            yield p
        if self.error:
            raise self.error

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


def mock_stream(body: TrackedStream | bytes, headers: dict[str, str] | None = None) -> respx.Route:
    stream = body if isinstance(body, TrackedStream) else TrackedStream(body)
    return respx.post(URL).mock(
        return_value=httpx.Response(200, stream=stream, headers=headers or SSE_HEADERS)
    )


def client() -> LlamaClient:
    return LlamaClient(base_url=BASE_URL, model="m", max_retries=0)


@respx.mock
def test_stream_yields_chunks_and_usage_chunk() -> None:
    route = mock_stream(VLLM_TEXT)
    chunks = list(
        client().chat.completions.create(
            messages=MSGS, stream=True, stream_options={"include_usage": True}
        )
    )
    sent = json.loads(route.calls.last.request.content)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert route.calls.last.request.headers["accept"] == "text/event-stream"
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello!"
    assert (
        chunks[-1].choices == []
        and chunks[-1].usage is not None
        and chunks[-1].usage.total_tokens == 15
    )


@respx.mock
def test_stream_manager_text_stream_and_final_completion() -> None:
    route = mock_stream(VLLM_TEXT)
    with client().chat.completions.stream(messages=MSGS, max_tokens=10) as s:
        assert route.called  # the request is sent when the block is entered
        assert list(s.text_stream) == ["Hel", "lo!"]
        final = s.get_final_completion()
    assert json.loads(route.calls.last.request.content)["stream_options"] == {"include_usage": True}
    assert final.choices[0].message.content == "Hello!"
    assert final.choices[0].finish_reason == "stop"
    assert final.usage is not None and final.usage.total_tokens == 15
    assert (
        final.id == "chatcmpl-8c1f2a3b4c5d6e7f"
        and final.model == "meta-llama/Llama-3.1-8B-Instruct"
    )


@respx.mock
def test_stream_manager_does_not_send_until_entered() -> None:
    route = mock_stream(VLLM_TEXT)
    manager = client().chat.completions.stream(messages=MSGS)
    assert not route.called
    with manager as s:
        assert s.get_final_text() == "Hello!"


def test_accumulation_equals_the_non_streamed_shape() -> None:
    acc = ChatCompletionAccumulator()
    decoder = ChatChunkDecoder()
    for c in decoder.feed(VLLM_TEXT):
        acc.add(c)
    streamed = acc.completion()
    expected = completion_body(content="Hello!")
    assert streamed.choices[0].message.content == expected["choices"][0]["message"]["content"]
    assert streamed.choices[0].finish_reason == expected["choices"][0]["finish_reason"]
    # (Usage declares OpenAI's *_tokens_details, None here: compared as models, issue #9 item 8)
    assert streamed.usage == Usage(**expected["usage"])


def test_n2_interleaved_with_index_1_first() -> None:
    acc = ChatCompletionAccumulator()
    for c in [
        chunk(1, role="assistant", content=None),
        chunk(0, role="assistant", content=None),
        chunk(1, content="B1"),
        chunk(0, content="A1"),
        chunk(0, content="A2"),
        chunk(1, content="B2", finish="length"),
        chunk(0, finish="stop"),
        usage_chunk(10, 8),
    ]:
        acc.add(ChatCompletionChunk.model_validate(c))
    final = acc.completion()
    assert [(ch.index, ch.message.content, ch.finish_reason) for ch in final.choices] == [
        (0, "A1A2", "stop"),
        (1, "B1B2", "length"),
    ]
    assert acc.text(1) == "B1B2"


def _tool_chunks(style: str) -> list[dict[str, Any]]:
    if style == "vllm":  # name alone, then argument fragments, final empty fragment with finish
        return [
            chunk(role="assistant", content=""),
            chunk(
                tool_calls=[
                    {
                        "id": "chatcmpl-tool-abc",
                        "type": "function",
                        "index": 0,
                        "function": {"name": "get_weather"},
                    }
                ]
            ),
            chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"city": "'}}]),
            chunk(tool_calls=[{"index": 0, "function": {"arguments": 'Paris"}'}}]),
            chunk(finish="tool_calls", tool_calls=[{"index": 0, "function": {"arguments": ""}}]),
        ]
    if style == "llamacpp":  # first fragment rides with the name; content before the call
        return [
            chunk(role="assistant", content=None),
            chunk(content="Let me check. "),
            chunk(
                tool_calls=[
                    {
                        "index": 0,
                        "id": "Ab12",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{"},
                    }
                ]
            ),
            chunk(tool_calls=[{"index": 0, "function": {"arguments": '"city": "Paris"}'}}]),
            chunk(finish="tool_calls"),
        ]
    # llama-cpp-python: id, type and name repeated in every delta
    rep = {"index": 0, "id": "call__0_get_weather_cmpl-1", "type": "function"}
    return [
        chunk(role="assistant", content=None),
        chunk(tool_calls=[rep | {"function": {"name": "get_weather", "arguments": '{"city": '}}]),
        chunk(tool_calls=[rep | {"function": {"name": "get_weather", "arguments": '"Paris"}'}}]),
        chunk(finish="tool_calls"),
    ]


@pytest.mark.parametrize("style", ["vllm", "llamacpp", "llama-cpp-python"])
def test_tool_call_deltas_merge_by_index(style: str) -> None:
    acc = ChatCompletionAccumulator()
    for c in _tool_chunks(style):
        acc.add(ChatCompletionChunk.model_validate(c))
    msg = acc.completion().choices[0].message
    assert msg.tool_calls is not None and len(msg.tool_calls) == 1
    call = msg.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id and call.type == "function"
    assert msg.content == ("Let me check. " if style == "llamacpp" else None)


def test_two_parallel_tool_calls_and_logprobs() -> None:
    acc = ChatCompletionAccumulator()
    lp = {"content": [{"token": "x", "logprob": -0.5, "bytes": [120], "top_logprobs": []}]}
    c1 = chunk(tool_calls=[{"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}}])
    c0 = chunk(tool_calls=[{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}])
    c2 = chunk(content="x")
    c2["choices"][0]["logprobs"] = lp
    for c in (c1, c0, c2):
        acc.add(ChatCompletionChunk.model_validate(c))
    msg = acc.completion().choices[0]
    assert [t.function.name for t in msg.message.tool_calls or []] == ["f", "g"]
    assert msg.logprobs is not None and msg.logprobs.content is not None
    assert msg.logprobs.content[0].logprob == -0.5


@respx.mock
def test_error_event_mid_stream_raises_stream_error_and_closes() -> None:
    # llama.cpp: HTTP 200, then an error event, then the connection closes without [DONE].
    body = TrackedStream(
        sse(chunk(role="assistant", content=None), chunk(content="{"), done=False)
        + b'data: {"error":{"code":500,"message":"The model produced output that does not match the expected peg-native format","type":"server_error"}}\n\n'
    )
    mock_stream(body)
    got = []
    with pytest.raises(StreamError, match="peg-native") as info:
        for c in client().chat.completions.create(messages=MSGS, stream=True):
            got.append(c)
    assert len(got) == 2
    assert isinstance(info.value.body, dict) and info.value.body["error"]["code"] == 500
    assert body.closed


@respx.mock
def test_openrouter_style_error_field_on_a_chunk() -> None:
    bad = chunk(finish="error", content="")
    bad["error"] = {"code": 502, "message": "Provider disconnected"}
    mock_stream(sse(chunk(content="a"), bad))
    with pytest.raises(StreamError, match="Provider disconnected"):
        list(client().chat.completions.create(messages=MSGS, stream=True))


@respx.mock
def test_event_named_error() -> None:
    mock_stream(b'event: error\ndata: {"error": {"message": "overloaded"}}\n\n')
    with pytest.raises(StreamError, match="overloaded"):
        list(client().chat.completions.create(messages=MSGS, stream=True))


@respx.mock
def test_stream_ending_without_done_or_finish_is_an_error() -> None:
    mock_stream(sse(chunk(role="assistant", content=""), chunk(content="Hal"), done=False))
    with pytest.raises(StreamError, match="without \\[DONE\\]"):
        list(client().chat.completions.create(messages=MSGS, stream=True))


@respx.mock
def test_stream_ending_without_done_but_finished_is_complete() -> None:
    mock_stream(sse(chunk(content="Hi"), chunk(finish="stop"), done=False))
    chunks = list(client().chat.completions.create(messages=MSGS, stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"


@respx.mock
def test_empty_200_stream_is_an_error() -> None:
    # llama-cpp-python answers a streamed context overflow with 200 and an empty body.
    mock_stream(b"")
    with pytest.raises(StreamError, match="before any event"):
        list(client().chat.completions.create(messages=MSGS, stream=True))


@respx.mock
def test_json_body_instead_of_stream() -> None:
    respx.post(URL).respond(200, json={"error": {"message": "stream not supported"}})
    with pytest.raises(StreamError, match="stream not supported"):
        client().chat.completions.create(messages=MSGS, stream=True)
    respx.post(URL).respond(200, json=completion_body())
    with pytest.raises(ResponseValidationError, match="application/json"):
        client().chat.completions.create(messages=MSGS, stream=True)


@respx.mock
def test_malformed_event_shows_what_arrived() -> None:
    mock_stream(sse("{not json"))
    with pytest.raises(ResponseValidationError, match="not json"):
        list(client().chat.completions.create(messages=MSGS, stream=True))
    mock_stream(sse({"unexpected": 1}))
    with pytest.raises(ResponseValidationError, match="unexpected"):
        list(client().chat.completions.create(messages=MSGS, stream=True))


@respx.mock
def test_crlf_keepalive_and_split_bytes_through_the_client() -> None:
    raw = b": keep-alive\r\n\r\n" + VLLM_TEXT.replace(b"\n", b"\r\n")
    parts = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    mock_stream(TrackedStream(*parts))
    with client().chat.completions.stream(messages=MSGS) as s:
        assert s.get_final_text() == "Hello!"


@respx.mock
def test_break_inside_with_closes_the_response() -> None:
    body = TrackedStream(VLLM_TEXT)
    mock_stream(body)
    with client().chat.completions.create(messages=MSGS, stream=True) as stream:
        for _ in stream:
            break
    assert body.closed


@respx.mock
def test_break_without_with_closes_when_the_stream_is_dropped() -> None:
    body = TrackedStream(VLLM_TEXT)
    mock_stream(body)
    for _ in client().chat.completions.create(messages=MSGS, stream=True):
        break
    gc.collect()
    assert body.closed


@respx.mock
def test_stream_manager_exit_closes_early() -> None:
    body = TrackedStream(VLLM_TEXT)
    mock_stream(body)
    with client().chat.completions.stream(messages=MSGS) as s:
        next(iter(s))
    assert body.closed


@respx.mock
def test_broken_connection_mid_stream_closes_and_raises() -> None:
    body = TrackedStream(
        sse(chunk(content="a"), done=False), error=httpx.ReadError("connection reset")
    )
    mock_stream(body)
    with pytest.raises(StreamError, match="broke after 1 chunks"):
        list(client().chat.completions.create(messages=MSGS, stream=True))
    assert body.closed


@respx.mock
def test_raw_response_stream() -> None:
    mock_stream(VLLM_TEXT, headers=SSE_HEADERS | {"x-request-id": "s-1"})
    raw = client().chat.completions.with_raw_response.create(messages=MSGS, stream=True)
    assert raw.request_id == "s-1"
    assert len(list(raw.parse())) == 5


# --------------------------------------------------------------------------- async twins


@respx.mock
async def test_async_stream_and_manager() -> None:
    mock_stream(VLLM_TEXT)
    async with AsyncLlamaClient(base_url=BASE_URL, model="m") as ac:
        stream = await ac.chat.completions.create(messages=MSGS, stream=True)
        chunks = [c async for c in stream]
        assert chunks[-1].usage is not None and chunks[-1].choices == []
        mock_stream(VLLM_TEXT)
        async with ac.chat.completions.stream(messages=MSGS) as s:
            texts = [t async for t in s.text_stream]
            final = await s.get_final_completion()
    assert texts == ["Hel", "lo!"]
    assert final.choices[0].message.content == "Hello!" and final.usage is not None


@respx.mock
async def test_async_error_event_and_close() -> None:
    body = TrackedStream(
        sse(chunk(content="x"), done=False) + b'data: {"error": {"message": "boom"}}\n\n'
    )
    mock_stream(body)
    async with AsyncLlamaClient(base_url=BASE_URL, model="m") as ac:
        stream = await ac.chat.completions.create(messages=MSGS, stream=True)
        with pytest.raises(StreamError, match="boom"):
            async for _ in stream:
                pass
    assert body.closed


@respx.mock
async def test_async_break_in_async_with_closes() -> None:
    body = TrackedStream(VLLM_TEXT)
    mock_stream(body)
    async with AsyncLlamaClient(base_url=BASE_URL, model="m") as ac:
        async with await ac.chat.completions.create(messages=MSGS, stream=True) as stream:
            async for _ in stream:
                break
    assert body.closed


@respx.mock
async def test_async_incomplete_stream() -> None:
    mock_stream(sse(chunk(content="Hal"), done=False))
    async with AsyncLlamaClient(base_url=BASE_URL, model="m") as ac:
        with pytest.raises(StreamError):
            async with ac.chat.completions.stream(messages=MSGS) as s:
                await s.get_final_completion()


def test_decoder_delivers_chunks_before_an_error_in_the_same_read() -> None:
    decoder = ChatChunkDecoder()
    a = b'data: {"choices": [{"index": 0, "delta": {"content": "a"}}]}\n\n'
    chunks = decoder.feed(a + b'data: {"error": "late"}\n\n')
    assert [c.choices[0].delta.content for c in chunks] == ["a"]
    with pytest.raises(StreamError, match="late"):
        decoder.raise_pending()
    decoder.raise_pending()  # raised once only


def test_decoder_error_in_unterminated_last_event() -> None:
    decoder = ChatChunkDecoder()
    assert (
        len(
            decoder.feed(
                b'data: {"choices": [{"index": 0, "delta": {"content": "a"}}]}\n\ndata: {"error": "late"}'
            )
        )
        == 1
    )
    with pytest.raises(StreamError, match="late"):
        decoder.finish()
