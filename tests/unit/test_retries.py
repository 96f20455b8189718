from __future__ import annotations

import email.utils
import logging
import time

import httpx
import pytest
import respx

from llama_client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncLlamaClient,
    BadRequestError,
    InternalServerError,
    LlamaClient,
    RateLimitError,
    StreamError,
)
from llama_client._transport import RetryPolicy, parse_retry_after
from tests.wire import BASE_URL, SSE_HEADERS, chunk, completion_body, sse

MSGS = [{"role": "user", "content": "Hi"}]
URL = f"{BASE_URL}/chat/completions"


def client(**kw: object) -> LlamaClient:
    return LlamaClient(base_url=BASE_URL, model="m", api_key="sk-top-secret", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
@respx.mock
def test_retryable_statuses_are_retried_then_succeed(status: int, sleeps: list[float]) -> None:
    route = respx.post(URL).mock(
        side_effect=[
            httpx.Response(status, json={"error": "busy"}),
            httpx.Response(200, json=completion_body()),
        ]
    )
    r = client().chat.completions.create(messages=MSGS)
    assert r.choices[0].message.content == "Hello!"
    assert route.call_count == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
@respx.mock
def test_client_errors_are_not_retried(status: int, sleeps: list[float]) -> None:
    route = respx.post(URL).respond(status, json={"error": {"message": "no"}})
    with pytest.raises(APIStatusError):
        client().chat.completions.create(messages=MSGS)
    assert route.call_count == 1
    assert sleeps == []


@respx.mock
def test_gives_up_after_max_retries(sleeps: list[float]) -> None:
    route = respx.post(URL).respond(503, json={"error": "down"})
    with pytest.raises(InternalServerError):
        client(max_retries=3).chat.completions.create(messages=MSGS)
    assert route.call_count == 4
    assert len(sleeps) == 3


@respx.mock
def test_max_retries_zero_makes_one_attempt(sleeps: list[float]) -> None:
    route = respx.post(URL).respond(503)
    with pytest.raises(InternalServerError):
        client(max_retries=0).chat.completions.create(messages=MSGS)
    assert route.call_count == 1


@respx.mock
def test_backoff_grows_exponentially_with_jitter(sleeps: list[float]) -> None:
    respx.post(URL).respond(500)
    with pytest.raises(InternalServerError):
        client(max_retries=6).chat.completions.create(messages=MSGS)
    nominal = [0.5, 1, 2, 4, 8, 8]
    assert len(sleeps) == 6
    for got, want in zip(sleeps, nominal, strict=True):
        assert 0.75 * want <= got <= want


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ],
)
@respx.mock
def test_retry_after_is_honoured(
    headers: dict[str, str], expected: float, sleeps: list[float]
) -> None:
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(429, headers=headers, json={"error": "slow"}),
            httpx.Response(200, json=completion_body()),
        ]
    )
    client().chat.completions.create(messages=MSGS)
    assert sleeps == [pytest.approx(expected)]


@respx.mock
def test_retry_after_http_date(sleeps: list[float]) -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    respx.post(URL).mock(
        side_effect=[
            httpx.Response(503, headers={"retry-after": when}),
            httpx.Response(200, json=completion_body()),
        ]
    )
    client().chat.completions.create(messages=MSGS)
    assert 17 <= sleeps[0] <= 20


@respx.mock
def test_retry_after_beyond_cap_raises_at_once(sleeps: list[float]) -> None:
    route = respx.post(URL).respond(429, headers={"retry-after": "3600"}, json={"error": "quota"})
    with pytest.raises(RateLimitError) as info:
        client().chat.completions.create(messages=MSGS)
    assert info.value.retry_after == 3600
    assert route.call_count == 1 and sleeps == []


def test_parse_retry_after_edge_cases() -> None:
    assert parse_retry_after(httpx.Headers({})) is None
    assert parse_retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert parse_retry_after(httpx.Headers({"retry-after": "-5"})) == 0.0
    past = email.utils.formatdate(time.time() - 100, usegmt=True)
    assert parse_retry_after(httpx.Headers({"retry-after": past})) == 0.0
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "x", "retry-after": "2"})) == 2.0


def test_policy_rejects_negative_retries() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(-1)


@pytest.mark.parametrize(
    ("exc", "raised"),
    [
        (httpx.ConnectError("refused"), APIConnectionError),
        (httpx.ReadTimeout("slow"), APITimeoutError),
        (httpx.RemoteProtocolError("dropped"), APIConnectionError),
    ],
)
@respx.mock
def test_connection_errors_and_timeouts_are_retried(
    exc: Exception, raised: type[Exception], sleeps: list[float]
) -> None:
    route = respx.post(URL).mock(side_effect=exc)
    with pytest.raises(raised) as info:
        client().chat.completions.create(messages=MSGS)
    assert route.call_count == 3
    assert "sk-top-secret" not in str(info.value)
    assert "chat/completions" in str(info.value)


@respx.mock
def test_retried_request_sends_identical_body(sleeps: list[float]) -> None:
    route = respx.post(URL).mock(
        side_effect=[
            httpx.Response(502),
            httpx.ConnectError("x"),
            httpx.Response(200, json=completion_body()),
        ]
    )
    client().chat.completions.create(messages=MSGS, temperature=0.2, max_tokens=5)
    bodies = [call.request.content for call in route.calls]
    assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2]


@respx.mock
def test_every_attempt_is_logged_without_the_key(
    sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    respx.post(URL).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json=completion_body())]
    )
    with caplog.at_level(logging.DEBUG, logger="llama_client"):
        client().chat.completions.create(messages=MSGS)
    sends = [r for r in caplog.records if r.getMessage().startswith("sending POST")]
    assert len(sends) == 2
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert all("sk-top-secret" not in r.getMessage() for r in caplog.records)


@respx.mock
def test_stream_error_status_is_retried_before_first_byte(sleeps: list[float]) -> None:
    route = respx.post(URL).mock(
        side_effect=[
            httpx.Response(503, json={"error": "warming up"}),
            httpx.Response(
                200, content=sse(chunk(content="ok", finish="stop")), headers=SSE_HEADERS
            ),
        ]
    )
    chunks = list(client().chat.completions.create(messages=MSGS, stream=True))
    assert route.call_count == 2
    assert chunks[0].choices[0].delta.content == "ok"


class _BrokenStream(httpx.SyncByteStream):
    def __init__(self, good: bytes) -> None:
        self.good = good
        self.closed = False

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield self.good
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body"
        )

    def close(self) -> None:
        self.closed = True


@respx.mock
def test_no_retry_after_stream_bytes_reached_the_caller(sleeps: list[float]) -> None:
    body = _BrokenStream(sse(chunk(role="assistant", content="Hel"), done=False))
    route = respx.post(URL).mock(return_value=httpx.Response(200, stream=body, headers=SSE_HEADERS))
    got = []
    with pytest.raises(StreamError, match="after 1 chunks"):
        for c in client().chat.completions.create(messages=MSGS, stream=True):
            got.append(c)
    assert len(got) == 1
    assert route.call_count == 1 and sleeps == []
    assert body.closed


@respx.mock
async def test_async_retries_and_honours_retry_after(sleeps: list[float]) -> None:
    route = respx.post(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"retry-after": "2"}),
            httpx.ConnectError("refused"),
            httpx.Response(200, json=completion_body()),
        ]
    )
    async with AsyncLlamaClient(base_url=BASE_URL, model="m") as ac:
        r = await ac.chat.completions.create(messages=MSGS)
    assert r.choices[0].message.content == "Hello!"
    assert route.call_count == 3
    assert sleeps[0] == 2.0 and 0.75 <= sleeps[1] <= 1.0


@respx.mock
async def test_async_does_not_retry_400(sleeps: list[float]) -> None:
    route = respx.post(URL).respond(400, json={"error": {"message": "bad"}})
    async with AsyncLlamaClient(base_url=BASE_URL, model="m") as ac:
        with pytest.raises(BadRequestError):
            await ac.chat.completions.create(messages=MSGS)
    assert route.call_count == 1


@respx.mock
async def test_async_timeout_exhausts_retries(sleeps: list[float]) -> None:
    route = respx.post(URL).mock(side_effect=httpx.ConnectTimeout("slow"))
    async with AsyncLlamaClient(base_url=BASE_URL, model="m", max_retries=1) as ac:
        with pytest.raises(APITimeoutError):
            await ac.chat.completions.create(messages=MSGS)
    assert route.call_count == 2
