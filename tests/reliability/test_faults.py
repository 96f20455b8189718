"""Every fault of the fault server, through real sockets, for each client kind.

Each test runs three times (``mode``: sync, async, async over aiohttp) and checks the outcome
(a correct result or the right exception), the number of attempts the server saw, that every
attempt carried the same bytes, and that no connection is left checked out of the pool.
Backoff is made instant by the ``sleeps`` fixture, which records the waits instead.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import pytest

from llama_client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ContextLengthExceededError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ResponseValidationError,
    StreamError,
    UnprocessableEntityError,
)
from tests.faultserver import FaultServer, completion, drop, raw, respond, slow, sse_stream, status
from tests.wire import FAULT, completion_body, delta_chunk, sse_events

WORDS = ["Hel", "lo", ", wor", "ld", "!"]


def good_stream(**kw: Any) -> Any:
    chunks = [delta_chunk(w) for w in WORDS] + [delta_chunk(finish="stop")]
    return sse_stream(sse_events(*chunks), **kw)


def text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def assert_same_bodies(server: FaultServer) -> None:
    assert server.attempts >= 1
    assert len(set(server.bodies)) == 1, "a retry sent different bytes"
    json.loads(server.bodies[0])  # and they are the JSON body we meant


# ------------------------------------------------------------------------ statuses and retries


def test_503_n_times_then_success(make: Any, server: FaultServer, sleeps: list[float]) -> None:
    server.script(status(503), status(503), completion("recovered"))
    h = make(max_retries=2)
    r = h.create()
    assert r.choices[0].message.content == "recovered"
    assert server.attempts == 3
    assert len(sleeps) == 2
    assert_same_bodies(server)
    assert h.busy_connections() == 0


def test_503_more_times_than_retries_raises(
    make: Any, server: FaultServer, sleeps: list[float]
) -> None:
    server.script(status(503))
    h = make(max_retries=3)
    with pytest.raises(InternalServerError) as info:
        h.create()
    assert info.value.status_code == 503
    assert "injected 503" in str(info.value)
    assert server.attempts == 4
    assert_same_bodies(server)
    assert h.busy_connections() == 0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ],
    ids=["seconds", "ms", "ms-wins"],
)
def test_429_retry_after_is_honoured(
    make: Any, server: FaultServer, sleeps: list[float], headers: dict[str, str], expected: float
) -> None:
    server.script(status(429, headers=headers), completion())
    h = make()
    assert h.create().choices[0].message.content == "Hello!"
    assert sleeps == [expected]
    assert server.attempts == 2
    assert_same_bodies(server)
    assert h.busy_connections() == 0


def test_429_retry_after_http_date(make: Any, server: FaultServer, sleeps: list[float]) -> None:
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    server.script(status(429, headers={"retry-after": when}), completion())
    h = make()
    h.create()
    assert len(sleeps) == 1
    assert 3.0 <= sleeps[0] <= 5.0  # whole seconds in the date, and a little time passed
    assert server.attempts == 2


def test_429_asking_too_long_raises_at_once(
    make: Any, server: FaultServer, sleeps: list[float]
) -> None:
    server.script(status(429, headers={"retry-after": "3600"}), completion())
    h = make()
    with pytest.raises(RateLimitError) as info:
        h.create()
    assert info.value.retry_after == 3600.0
    assert server.attempts == 1
    assert sleeps == []
    assert h.busy_connections() == 0


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
def test_client_errors_are_never_retried(
    make: Any, server: FaultServer, sleeps: list[float], code: int
) -> None:
    server.script(status(code), completion())
    h = make(max_retries=5)
    with pytest.raises(APIStatusError) as info:
        h.create()
    assert info.value.status_code == code
    assert server.attempts == 1
    assert sleeps == []
    assert h.busy_connections() == 0


# ------------------------------------------------------------------------ dropped connections


def test_drop_before_response_is_retried(
    make: Any, server: FaultServer, sleeps: list[float]
) -> None:
    server.script(drop(), drop(), completion("third time"))
    h = make(max_retries=2)
    assert h.create().choices[0].message.content == "third time"
    assert server.attempts == 3
    assert_same_bodies(server)
    assert h.busy_connections() == 0


def test_drop_every_time_raises_connection_error(
    make: Any, server: FaultServer, sleeps: list[float]
) -> None:
    server.script(drop())
    h = make(max_retries=2)
    with pytest.raises(APIConnectionError) as info:
        h.create()
    assert not isinstance(info.value, APITimeoutError)
    assert server.attempts == 3
    assert h.busy_connections() == 0


def test_garbage_instead_of_http_is_a_connection_error(
    make: Any, server: FaultServer, sleeps: list[float]
) -> None:
    server.script(raw(b"SMTP ready\r\n\r\n"), completion())
    h = make()
    assert h.create().choices[0].message.content == "Hello!"
    assert server.attempts == 2


def test_a_json_body_cut_short_of_its_length_is_a_connection_error_then_retried(
    make: Any, server: FaultServer, sleeps: list[float]
) -> None:
    # (aiohttp reads such a body at once, with its headers: the same outcome as httpx's read)
    body = json.dumps(completion_body("Hello!", server=FAULT)).encode()
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
    server.script(raw(head.encode() + b"\r\n\r\n" + body[: len(body) // 2]), completion("again"))
    h = make(max_retries=1)
    assert h.create().choices[0].message.content == "again"
    assert server.attempts == 2
    assert h.busy_connections() == 0
    server.script(raw(head.encode() + b"\r\n\r\n" + body[:10]))
    with pytest.raises(APIConnectionError):
        make(max_retries=0).create()


def test_drop_mid_stream_is_not_retried(
    make: Any, server: FaultServer, sleeps: list[float]
) -> None:
    # The second behaviour would succeed: a retry would hide the failure and repeat output.
    server.script(good_stream(drop_after=3), good_stream())
    h = make(max_retries=3)
    chunks, exc = h.stream()
    assert isinstance(exc, StreamError)
    assert "after 3 chunks" in str(exc)
    assert text(chunks) == "".join(WORDS[:3])
    assert server.attempts == 1
    assert sleeps == []
    assert h.busy_connections() == 0
    # The client is still usable afterwards.
    server.script(completion())
    assert h.create().choices[0].message.content == "Hello!"
    assert h.busy_connections() == 0


def test_drop_after_stream_headers_is_not_retried(
    make: Any, server: FaultServer, sleeps: list[float]
) -> None:
    server.script(good_stream(drop_after=0), good_stream())
    h = make(max_retries=3)
    chunks, exc = h.stream()
    assert isinstance(exc, StreamError)
    assert chunks == []
    assert server.attempts == 1
    assert h.busy_connections() == 0


def test_stream_status_error_before_first_byte_is_retried(
    make: Any, server: FaultServer, sleeps: list[float]
) -> None:
    server.script(status(503), drop(), good_stream())
    h = make(max_retries=2)
    chunks, exc = h.stream()
    assert exc is None
    assert text(chunks) == "Hello, world!"
    assert server.attempts == 3
    assert_same_bodies(server)
    assert h.busy_connections() == 0


# ------------------------------------------------------------------------ stream shapes


def test_stream_without_done_and_unfinished_is_an_error(make: Any, server: FaultServer) -> None:
    server.script(sse_stream(sse_events(*[delta_chunk(w) for w in WORDS], done=False)))
    h = make()
    chunks, exc = h.stream()
    assert isinstance(exc, StreamError)
    assert "without [DONE]" in str(exc)
    assert text(chunks) == "Hello, world!"  # everything that arrived was delivered first
    assert server.attempts == 1
    assert h.busy_connections() == 0


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "close-delimited"])
def test_stream_without_done_but_finished_is_complete(
    make: Any, server: FaultServer, chunked: bool
) -> None:
    events = [delta_chunk(w) for w in WORDS] + [delta_chunk(finish="stop")]
    server.script(sse_stream(sse_events(*events, done=False), chunked=chunked))
    h = make()
    chunks, exc = h.stream()
    assert exc is None
    assert text(chunks) == "Hello, world!"
    assert h.busy_connections() == 0


def test_keepalive_comments_crlf_and_multiline_data(make: Any, server: FaultServer) -> None:
    first = json.dumps(delta_chunk("multi"), indent=1)  # spread over several data: lines
    multiline = "".join(f"data: {line}\r\n" for line in first.splitlines()) + "\r\n"
    body = (
        b": keep-alive\r\n\r\n"
        + multiline.encode()
        + b": ping\r\n"
        + b"".join(sse_events(delta_chunk("-line"), delta_chunk(finish="stop"), eol=b"\r\n"))
    )
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]  # splits CRLFs and UTF-8 alike
    server.script(sse_stream(pieces))
    h = make()
    chunks, exc = h.stream()
    assert exc is None
    assert text(chunks) == "multi-line"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert h.busy_connections() == 0


def test_error_event_after_200(make: Any, server: FaultServer, sleeps: list[float]) -> None:
    error = {"error": {"message": "engine overloaded", "type": "server_error", "code": 503}}
    server.script(sse_stream(sse_events(delta_chunk("par"), delta_chunk("tial"), error)))
    h = make(max_retries=3)
    chunks, exc = h.stream()
    assert isinstance(exc, StreamError)
    assert "engine overloaded" in str(exc)
    assert text(chunks) == "partial"
    assert server.attempts == 1
    assert sleeps == []
    assert h.busy_connections() == 0


def test_caller_closing_a_stream_early_releases_the_connection(
    make: Any, server: FaultServer
) -> None:
    events = [delta_chunk(str(i)) for i in range(200)] + [delta_chunk(finish="stop")]
    server.script(sse_stream(sse_events(*events)), completion())
    h = make()
    if h.loop is None:
        with h.client.chat.completions.create(
            messages=[{"role": "user", "content": "x"}], stream=True
        ) as s:
            for i, _ in enumerate(s):
                if i == 2:
                    break
    else:

        async def run() -> None:
            s = await h.client.chat.completions.create(
                messages=[{"role": "user", "content": "x"}], stream=True
            )
            async with s:
                i = 0
                async for _ in s:
                    i += 1
                    if i == 3:
                        break

        h._run(run())
    assert h.busy_connections() == 0
    assert h.create().choices[0].message.content == "Hello!"


def test_stream_manager_final_completion_through_faults(
    make: Any, server: FaultServer, sleeps: list[float]
) -> None:
    events = [delta_chunk(w) for w in WORDS] + [delta_chunk(finish="stop")]
    server.script(status(502), sse_stream(sse_events(*events)))
    h = make()
    final = h.final_completion()
    assert final.choices[0].message.content == "Hello, world!"
    assert server.attempts == 2
    assert json.loads(server.bodies[0])["stream_options"] == {"include_usage": True}
    assert h.busy_connections() == 0


# ------------------------------------------------------------------------ malformed bodies


def test_malformed_json_with_200(make: Any, server: FaultServer, sleeps: list[float]) -> None:
    server.script(respond(200, b'{"id": "x", "choices": [ oops'))
    h = make(max_retries=3)
    with pytest.raises(ResponseValidationError) as info:
        h.create()
    assert "[ oops" in str(info.value)  # shows what arrived
    assert server.attempts == 1
    assert h.busy_connections() == 0


def test_malformed_json_event_in_stream(make: Any, server: FaultServer) -> None:
    server.script(sse_stream(sse_events(delta_chunk("ok"), '{"choices": [ nope')))
    h = make()
    chunks, exc = h.stream()
    assert isinstance(exc, ResponseValidationError)
    assert "nope" in str(exc)
    assert text(chunks) == "ok"
    assert h.busy_connections() == 0


def test_json_body_where_a_stream_was_asked_for(make: Any, server: FaultServer) -> None:
    server.script(completion())
    h = make()
    chunks, exc = h.stream()
    assert isinstance(exc, ResponseValidationError)
    assert "application/json" in str(exc)
    assert chunks == []
    assert h.busy_connections() == 0


# ------------------------------------------------------------------------ deadlines


def test_per_call_timeout_bounds_a_slow_first_byte(
    make: Any, server: FaultServer, sleeps: list[float]
) -> None:
    server.script(slow(3.0, completion()))
    h = make(max_retries=1)
    start = time.monotonic()
    with pytest.raises(APITimeoutError):
        h.create(timeout=0.2)
    elapsed = time.monotonic() - start
    assert elapsed < 1.5, f"two 0.2 s attempts took {elapsed:.2f} s"
    assert server.attempts == 2
    assert h.busy_connections() == 0


def test_slow_first_byte_within_the_deadline_succeeds(make: Any, server: FaultServer) -> None:
    server.script(slow(0.15, completion("late but fine")))
    h = make(max_retries=0)
    assert h.create(timeout=5).choices[0].message.content == "late but fine"


def test_client_timeout_bounds_a_stalled_stream(make: Any, server: FaultServer) -> None:
    server.script(good_stream(stall=(2, 3.0)))
    h = make(timeout=0.3, max_retries=2)
    start = time.monotonic()
    chunks, exc = h.stream()
    assert isinstance(exc, APITimeoutError)
    assert "after 2 chunks" in str(exc)
    assert time.monotonic() - start < 1.5
    assert text(chunks) == "Hello"
    assert server.attempts == 1  # never retried once chunks were delivered
    assert h.busy_connections() == 0


# ------------------------------------------------------------------------ large bodies


def test_very_large_body(make: Any, server: FaultServer) -> None:
    content = "x" * (8 * 1024 * 1024) + "ü"
    server.script(completion(content))
    h = make()
    assert h.create().choices[0].message.content == content
    assert h.busy_connections() == 0


def test_very_large_error_body_is_bounded_in_the_message(make: Any, server: FaultServer) -> None:
    server.script(respond(400, {"error": {"message": "y" * 1_000_000}}))
    h = make()
    with pytest.raises(BadRequestError) as info:
        h.create()
    assert len(str(info.value)) < 3000
    assert "more characters" in str(info.value)
    assert h.busy_connections() == 0


def test_very_large_stream_event_and_many_chunks(make: Any, server: FaultServer) -> None:
    big = "z" * (2 * 1024 * 1024)
    events = [delta_chunk(big)] + [delta_chunk("a") for _ in range(2000)]
    server.script(sse_stream(sse_events(*events, delta_chunk(finish="stop"))))
    h = make()
    chunks, exc = h.stream()
    assert exc is None
    assert len(chunks) == 2002
    assert text(chunks) == big + "a" * 2000


# ------------------------------------------------------------------------ error body shapes

SHAPES: list[tuple[str, int, Any, type[APIStatusError], str]] = [
    (
        "openai",
        400,
        {
            "error": {
                "message": "bad temp",
                "type": "invalid_request_error",
                "param": "temperature",
                "code": None,
            }
        },
        BadRequestError,
        "bad temp",
    ),
    (
        "vllm",
        400,
        {
            "error": {
                "message": "vllm says no",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            }
        },
        BadRequestError,
        "vllm says no",
    ),
    ("vllm-auth", 401, {"error": "Unauthorized"}, AuthenticationError, "Unauthorized"),
    (
        "tgi",
        422,
        {"error": "Input validation error", "error_type": "validation"},
        UnprocessableEntityError,
        "Input validation error",
    ),
    ("fastapi-detail", 404, {"detail": "Not Found"}, NotFoundError, "Not Found"),
    (
        "fastapi-list",
        422,
        {"detail": [{"loc": ["body", "messages"], "msg": "field required"}]},
        UnprocessableEntityError,
        "field required",
    ),
    ("message", 400, {"message": "plain message"}, BadRequestError, "plain message"),
    ("list", 400, [{"error": "in a list"}], BadRequestError, "in a list"),
    ("text", 500, "upstream exploded", InternalServerError, "upstream exploded"),
    (
        "html",
        502,
        "<html><body>502 Bad Gateway</body></html>",
        InternalServerError,
        "502 Bad Gateway",
    ),
    ("empty", 503, b"", InternalServerError, "HTTP 503"),
    (
        "llamacpp-context",
        400,
        {
            "error": {
                "code": 400,
                "message": "the request exceeds the available context size",
                "type": "exceed_context_size_error",
            }
        },
        ContextLengthExceededError,
        "context size",
    ),
    (
        "vllm-context",
        400,
        {
            "error": {
                "message": "This model's maximum context length is 8192 tokens.",
                "type": "BadRequestError",
                "code": 400,
            }
        },
        ContextLengthExceededError,
        "maximum context length",
    ),
    (
        "not-json-ctype",
        400,
        b'{"error": {"message": "json as text"}}',
        BadRequestError,
        "json as text",
    ),
]


@pytest.mark.parametrize(
    ("code", "body", "cls", "needle"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES]
)
def test_error_body_shapes(
    make: Any,
    server: FaultServer,
    sleeps: list[float],
    code: int,
    body: Any,
    cls: type[APIStatusError],
    needle: str,
) -> None:
    ctype = "text/plain" if isinstance(body, bytes) else None
    server.script(respond(code, body, content_type=ctype))
    h = make(max_retries=0)
    with pytest.raises(cls) as info:
        h.create()
    assert type(info.value) is cls
    assert needle in str(info.value)
    assert info.value.status_code == code
    assert server.attempts == 1
    assert h.busy_connections() == 0


def test_error_body_shape_on_a_stream_call(make: Any, server: FaultServer) -> None:
    server.script(respond(400, {"error": {"message": "stream refused", "code": 400}}))
    h = make()
    chunks, exc = h.stream()
    assert isinstance(exc, BadRequestError)
    assert "stream refused" in str(exc)
    assert chunks == []
    assert h.busy_connections() == 0


def test_completion_body_with_error_field_and_200(make: Any, server: FaultServer) -> None:
    server.script(respond(200, {"error": {"message": "quota exhausted"}}))
    h = make()
    with pytest.raises(ResponseValidationError) as info:
        h.create()
    assert "quota exhausted" in str(info.value)
    assert server.attempts == 1


def test_unknown_fields_survive_the_wire(make: Any, server: FaultServer) -> None:
    server.script(respond(200, completion_body(kv_transfer_params={"a": 1}, server=FAULT)))
    h = make()
    r = h.create()
    assert r.model_extra is not None and r.model_extra["kv_transfer_params"] == {"a": 1}


def test_raw_response_has_status_headers_and_elapsed(make: Any, server: FaultServer) -> None:
    server.script(
        respond(200, completion_body("raw", server=FAULT), headers={"x-request-id": "req-42"})
    )
    h = make()
    create = h.client.chat.completions.with_raw_response.create
    raw_response = create(messages=[{"role": "user", "content": "x"}])
    if h.loop is not None:
        raw_response = h._run(raw_response)
    assert raw_response.status_code == 200
    assert raw_response.request_id == "req-42"
    assert raw_response.elapsed >= 0
    assert raw_response.parse().choices[0].message.content == "raw"
    assert h.busy_connections() == 0


def test_http_proxy_from_the_environment_is_used(
    mode: str, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.reliability.conftest import Harness

    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://{server.host}:{server.port}")
    monkeypatch.setenv("http_proxy", f"http://{server.host}:{server.port}")
    h = Harness(mode, "http://127.0.0.1:9/v1")  # nothing listens there: only the proxy answers
    try:
        assert h.create().choices[0].message.content == "Hello!"
    finally:
        h.close()
    assert server.requests[0].path == "http://127.0.0.1:9/v1/chat/completions"
