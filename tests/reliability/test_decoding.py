"""A body that does not decode as its ``Content-Encoding`` says is a documented error.

httpx decodes ``gzip``/``deflate`` itself and raises ``httpx.DecodingError`` (not a
``TransportError``) when the bytes do not match. Through real sockets, for each client kind
(sync, async, async over aiohttp, which leaves decoding to httpx):

- a success status becomes :class:`ResponseValidationError` naming the encoding;
- an error status keeps its status error (and its retries), the message naming the encoding;
- a stream's failure is a :class:`StreamError` (``_broken``);
- a body that really is gzip still decodes;
- hypothesis: any bytes under any encoding header give a result or an ``APIError``, sync
  and async.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import zlib
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llama_client import (
    APIError,
    AsyncLlamaClient,
    BadRequestError,
    InternalServerError,
    LlamaClient,
    ResponseValidationError,
    StreamError,
)
from llama_client._streaming import ChatChunkDecoder, _broken
from tests.faultserver import FaultServer, raw
from tests.wire import FAULT, completion_body, delta_chunk, sse_events

BODY = json.dumps(completion_body("decoded", server=FAULT)).encode()
EVENTS = b"".join(sse_events(delta_chunk("Hi"), delta_chunk(finish="stop")))


def encoded_response(
    body: bytes,
    encoding: str,
    *,
    code: int = 200,
    reason: str = "OK",
    content_type: str = "application/json",
) -> Any:
    head = (
        f"HTTP/1.1 {code} {reason}\r\ncontent-type: {content_type}\r\n"
        f"content-encoding: {encoding}\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    return raw(head + body, keep_alive=True)


# ------------------------------------------------------------------------------ success status


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "gzip, deflate", "GZIP"])
def test_plain_body_under_an_encoding_header_is_response_validation_error(
    make: Any, server: FaultServer, encoding: str
) -> None:
    server.script(encoded_response(BODY, encoding))
    h = make(max_retries=2)
    with pytest.raises(ResponseValidationError) as info:
        h.create()
    message = str(info.value)
    # deflate may "decode" garbage instead of failing: then the body is shown as what arrived
    assert (
        encoding.lower().split(",")[0] in message.lower() or "Unexpected response body" in message
    )
    assert server.attempts == 1  # not retried: the same bytes would come back
    assert h.busy_connections() == 0


def test_gzip_cut_short_is_response_validation_error(make: Any, server: FaultServer) -> None:
    server.script(encoded_response(gzip.compress(BODY)[:20], "gzip"))
    with pytest.raises(ResponseValidationError):
        make(max_retries=0).create()


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_really_encoded_body_still_decodes(make: Any, server: FaultServer, encoding: str) -> None:
    data = gzip.compress(BODY) if encoding == "gzip" else zlib.compress(BODY)
    server.script(encoded_response(data, encoding))
    assert make().create().choices[0].message.content == "decoded"


def test_models_list_with_an_undecodable_body(make: Any, server: FaultServer) -> None:
    server.script(encoded_response(b'{"object": "list", "data": []}', "gzip"))
    h = make()
    with pytest.raises(ResponseValidationError, match="gzip"):
        if h.loop is None:
            h.client.models.list()
        else:
            h._run(h.client.models.list())


# ------------------------------------------------------------------------------ error status


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [(503, "Service Unavailable", InternalServerError), (400, "Bad Request", BadRequestError)],
)
def test_error_status_keeps_its_class_and_retries(
    make: Any, server: FaultServer, sleeps: list[float], code: int, reason: str, cls: type
) -> None:
    body = b'{"error": {"message": "overloaded"}}'
    server.script(encoded_response(body, "gzip", code=code, reason=reason))
    h = make(max_retries=2)
    with pytest.raises(cls) as info:
        h.create()
    assert info.value.status_code == code
    assert "gzip" in str(info.value)
    assert server.attempts == (3 if code == 503 else 1)  # a 503 is retried as usual
    assert h.busy_connections() == 0


# ------------------------------------------------------------------------------ streams


def test_stream_answered_with_undecodable_json(make: Any, server: FaultServer) -> None:
    server.script(encoded_response(b'{"error": "x"}', "gzip"))
    chunks, exc = make().stream()
    assert chunks == []
    assert isinstance(exc, ResponseValidationError) and "gzip" in str(exc)


def test_stream_with_error_status_and_undecodable_body(
    make: Any, server: FaultServer, sleeps: list[float]
) -> None:
    server.script(encoded_response(b"oops", "gzip", code=500, reason="Internal Server Error"))
    _, exc = make(max_retries=0).stream()
    assert isinstance(exc, InternalServerError) and "gzip" in str(exc)


def test_event_stream_that_does_not_decode_is_stream_error(make: Any, server: FaultServer) -> None:
    server.script(encoded_response(EVENTS, "gzip", content_type="text/event-stream"))
    _, exc = make().stream()
    assert isinstance(exc, StreamError) and "gzip" in str(exc)


def test_broken_names_the_encoding_of_a_stream_that_does_not_decode() -> None:
    response = httpx.Response(200, headers={"content-encoding": "gzip"})
    decoder = ChatChunkDecoder()
    decoder.chunks_seen = 3
    error = _broken(httpx.DecodingError("incorrect header check"), decoder, response)
    assert isinstance(error, StreamError)
    assert "after 3 chunks" in str(error) and "'gzip'" in str(error)
    assert "incorrect header check" in str(error)
    # without the response (older callers): still a StreamError
    assert isinstance(_broken(httpx.DecodingError("x"), decoder), StreamError)


# ------------------------------------------------------------------------------ any bytes

FUZZ = settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
encodings = st.sampled_from(
    ["gzip", "deflate", "identity", "gzip, deflate", "deflate, gzip", "x-unknown", ""]
)
payloads = st.one_of(
    st.binary(max_size=64),
    st.just(BODY),
    st.builds(lambda b, n: gzip.compress(b)[:n], st.just(BODY), st.integers(0, 200)),
    st.builds(lambda b, n: zlib.compress(b)[:n], st.just(BODY), st.integers(0, 200)),
)


def _mock(body: bytes, encoding: str, code: int) -> httpx.MockTransport:
    """Answers ``body`` undecoded, as a network transport does (httpx decodes when reading)."""
    headers = {"content-type": "application/json"}
    if encoding:
        headers["content-encoding"] = encoding
    return httpx.MockTransport(
        lambda request: httpx.Response(code, stream=httpx.ByteStream(body), headers=headers)
    )


@FUZZ
@given(body=payloads, encoding=encodings, code=st.sampled_from([200, 400, 500]))
def test_any_bytes_under_any_encoding_give_a_result_or_an_api_error(
    body: bytes, encoding: str, code: int
) -> None:
    msgs = [{"role": "user", "content": "hi"}]
    sync = LlamaClient(
        base_url="http://127.0.0.1:9/v1",
        model="m",
        max_retries=0,
        http_client=httpx.Client(transport=_mock(body, encoding, code)),
    )
    with contextlib.suppress(APIError):
        sync.chat.completions.create(messages=msgs)
    sync.close()
    aclient = AsyncLlamaClient(
        base_url="http://127.0.0.1:9/v1",
        model="m",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=_mock(body, encoding, code)),
    )

    async def call() -> None:
        with contextlib.suppress(APIError):
            await aclient.chat.completions.create(messages=msgs)
        await aclient.close()

    asyncio.run(call())


def test_a_transport_that_decodes_before_answering() -> None:
    # httpx.Response(content=...) decodes at once: inside the transport, before any status.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"plain", headers={"content-encoding": "gzip"})

    client = LlamaClient(
        base_url="http://127.0.0.1:9/v1",
        model="m",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with pytest.raises(ResponseValidationError, match="could not be decoded"):
        client.chat.completions.create(messages=[{"role": "user", "content": "hi"}])
