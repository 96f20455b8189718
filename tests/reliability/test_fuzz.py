"""Property tests: the decoders and parsers that read server bytes.

- The SSE decoder gives the same events however the bytes are split.
- On arbitrary input, the SSE decoder, the chunk decoder, the error-body parser, the status
  error builder, the response parser and the Retry-After parser never raise anything but the
  project's own exceptions (:class:`LlamaClientError` subclasses) -- most never raise at all.
- The Llama-native tool-call text parser (``llama_client.llama_format``) gets the same
  "never raises" property.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llama_client import ChatCompletion, LlamaClientError
from llama_client._response import parse_model
from llama_client._sse import ServerSentEvent, SSEDecoder
from llama_client._streaming import ChatChunkDecoder
from llama_client._transport import RetryPolicy, parse_retry_after, raise_for_status
from llama_client.errors import APIStatusError, ErrorInfo, error_info, status_error
from llama_client.llama_format import extract_tool_calls

FUZZ = settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# ------------------------------------------------------------------------------ strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "error",
                    "message",
                    "detail",
                    "msg",
                    "type",
                    "code",
                    "param",
                    "error_type",
                    "choices",
                    "delta",
                    "index",
                    "finish_reason",
                    "content",
                    "usage",
                    "id",
                    "x",
                ]
            )
            | st.text(max_size=8),
            inner,
            max_size=5,
        )
    ),
    max_leaves=8,
)
eols = st.sampled_from([b"\n", b"\r\n", b"\r"])
field_lines = st.one_of(
    st.builds(
        lambda t: b"data: " + t.encode(),
        st.text(alphabet=st.characters(exclude_characters="\r\n"), max_size=20),
    ),
    st.builds(lambda t: b"data:" + t.encode(), st.text(alphabet='ab {}[]":,é', max_size=10)),
    st.just(b"data"),
    st.builds(lambda t: b"event: " + t.encode(), st.sampled_from(["error", "message", "ping"])),
    st.builds(lambda t: b"id: " + t.encode(), st.text(alphabet="0123456789abc", max_size=4)),
    st.builds(lambda t: b"retry: " + t.encode(), st.text(alphabet="0123456789x", max_size=4)),
    st.just(b": keep-alive"),
    st.just(b""),  # blank line: dispatch
    st.just(b"data: [DONE]"),
)


@st.composite
def sse_bodies(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(field_lines, eols), max_size=25))
    return b"".join(line + eol for line, eol in lines) + draw(st.sampled_from([b"", b"data: tail"]))


@st.composite
def splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def decode(pieces: list[bytes]) -> tuple[list[ServerSentEvent], str | None]:
    d = SSEDecoder()
    events: list[ServerSentEvent] = []
    for p in pieces:
        events += d.feed(p)
    events += d.flush()
    return events, d.last_event_id


# ------------------------------------------------------------------------------ SSE decoder


@FUZZ
@given(st.data(), sse_bodies())
def test_sse_events_do_not_depend_on_how_bytes_are_split(data: st.DataObject, body: bytes) -> None:
    whole = decode([body])
    assert decode(data.draw(splits(body))) == whole
    assert decode([body[i : i + 1] for i in range(len(body))]) == whole


@FUZZ
@given(st.data(), st.binary(max_size=300))
def test_sse_split_invariance_on_arbitrary_bytes(data: st.DataObject, body: bytes) -> None:
    assert decode(data.draw(splits(body))) == decode([body])


@FUZZ
@given(st.lists(st.text(max_size=40), min_size=1, max_size=5), eols)
def test_sse_data_lines_round_trip(datas: list[str], eol: bytes) -> None:
    # Every event sent as data lines comes back with its lines joined by "\n".
    clean = [d.replace("\r", "").replace("\n", " ") for d in datas]
    body = b"".join(b"data: " + d.encode() + eol + eol for d in clean)
    events, _ = decode([body])
    assert [e.data for e in events] == clean


# ------------------------------------------------------------------------------ chunk decoder


def run_chunk_decoder(pieces: list[bytes]) -> None:
    decoder = ChatChunkDecoder()
    try:
        for p in pieces:
            decoder.feed(p)
            decoder.raise_pending()
            if decoder.done:
                return
        decoder.finish()
        decoder.raise_pending()
    except LlamaClientError:
        pass


@FUZZ
@given(st.data(), st.binary(max_size=400))
def test_chunk_decoder_only_raises_own_errors_on_bytes(data: st.DataObject, body: bytes) -> None:
    run_chunk_decoder(data.draw(splits(body)))


@FUZZ
@given(st.data(), st.lists(json_values, max_size=6), st.booleans())
def test_chunk_decoder_only_raises_own_errors_on_json_events(
    data: st.DataObject, values: list[Any], done: bool
) -> None:
    body = b"".join(b"data: " + json.dumps(v).encode() + b"\n\n" for v in values)
    if done:
        body += b"data: [DONE]\n\n"
    run_chunk_decoder(data.draw(splits(body)))


chunkish = st.fixed_dictionaries(
    {
        "id": st.text(max_size=5),
        "object": st.just("chat.completion.chunk"),
        "created": st.integers(0, 2**31),
        "model": st.text(max_size=5),
    },
    optional={
        "choices": st.lists(
            st.fixed_dictionaries(
                {"index": st.integers(-2, 3)},
                optional={
                    "delta": json_values
                    | st.fixed_dictionaries(
                        {},
                        optional={
                            "content": st.text(max_size=5) | st.none(),
                            "tool_calls": json_values,
                        },
                    ),
                    "finish_reason": st.none()
                    | st.sampled_from(["stop", "length", "tool_calls"])
                    | json_values,
                },
            ),
            max_size=3,
        )
        | json_values,
        "usage": json_values,
        "error": json_values,
    },
)


@FUZZ
@given(st.lists(chunkish, max_size=6), st.booleans())
def test_chunk_decoder_only_raises_own_errors_on_near_chunks(chunks: list[Any], done: bool) -> None:
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    run_chunk_decoder([body + (b"data: [DONE]\n\n" if done else b"")])


# ------------------------------------------------------------------------------ error bodies


def fake_response(
    status: int, content: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    return httpx.Response(status, content=content, headers=headers, request=request)


@FUZZ
@given(json_values | st.binary(max_size=50), st.none() | st.integers(100, 599))
def test_error_info_never_raises(body: Any, status: int | None) -> None:
    info = error_info(body, status)
    assert isinstance(info, ErrorInfo)
    assert isinstance(info.message, str) and info.message
    assert info.code is None or isinstance(info.code, (int, str))
    assert info.type is None or isinstance(info.type, str)
    assert info.param is None or isinstance(info.param, str)


@FUZZ
@given(json_values, st.integers(400, 599))
def test_status_error_always_builds_a_status_error(body: Any, status: int) -> None:
    exc = status_error(fake_response(status, json.dumps(body).encode()), body)
    assert isinstance(exc, APIStatusError)
    assert exc.status_code == status
    str(exc)


@FUZZ
@given(
    st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(200, 599),
    st.sampled_from(["application/json", "text/plain", "text/html", ""]),
)
def test_reading_any_response_raises_only_own_errors(body: bytes, status: int, ctype: str) -> None:
    response = fake_response(status, body, {"content-type": ctype} if ctype else None)
    try:
        raise_for_status(response)
        parse_model(response, ChatCompletion)
    except LlamaClientError:
        pass


header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@FUZZ
@given(header_text, header_text, st.sampled_from([429, 503, 500, 408]))
def test_retry_after_parsing_never_raises(value: str, ms: str, status: int) -> None:
    headers = httpx.Headers({"retry-after": value, "retry-after-ms": ms})
    wait = parse_retry_after(headers)
    assert wait is None or wait >= 0
    policy = RetryPolicy()
    exc = status_error(fake_response(status, b"", dict(headers)), None)
    policy.should_retry(exc)
    assert policy.wait(1, exc) >= 0


# ------------------------------------------------------------------------------ tool-call text


tool_texts = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda pre, v: pre + json.dumps(v),
        st.sampled_from(["", "<|python_tag|>", " ", "<function=get_weather>"]),
        json_values,
    ),
    st.builds(
        lambda a, b: f"[get_weather(city={a!r}, n={b})]", st.text(max_size=10), st.integers()
    ),
)


@FUZZ
@given(tool_texts)
def test_tool_call_text_parser_only_raises_own_errors(text: str) -> None:
    with contextlib.suppress(LlamaClientError):
        extract_tool_calls(text, frozenset({"get_weather", "search"}))
