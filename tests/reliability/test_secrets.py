"""The API key never leaks: not in logs at any level, reprs, messages, or to another address.

Runs a tour of calls that succeed, retry, fail and break, with every logger at DEBUG, and
then looks for the key in everything the SDK produced. Redirects: the client does not follow
them (a 3xx is an APIStatusError naming the target); a caller who gives the client an httpx
client that does follow them still never sends the key to another origin (httpx drops the
Authorization header across origins), which is checked here too with two loopback servers.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from llama_client import APIStatusError, AsyncLlamaClient, LlamaClient
from tests.faultserver import FaultServer, completion, drop, respond, slow, sse_stream, status
from tests.reliability.conftest import KEY, MSGS
from tests.wire import delta_chunk, sse_events

SECRETS = (KEY, f"Bearer {KEY}", KEY[3:15])


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"API key found in {where}: {text[:300]!r}"


def exception_texts(exc: BaseException) -> Iterator[tuple[str, str]]:
    """Every rendering of an exception and its chain a user or a log handler might see."""
    yield "str", str(exc)
    yield "repr", repr(exc)
    yield "traceback", "".join(traceback.format_exception(exc))
    for name in ("message", "body", "request", "response"):
        value = getattr(exc, name, None)
        if value is not None:
            yield name, f"{value!s} {value!r}"
    request = getattr(exc, "request", None)
    if request is not None:
        yield "request.headers", repr(request.headers)  # httpx masks Authorization here


def tour(server: FaultServer, mode: str) -> list[object]:
    """Calls through every outcome; returns every object and exception the SDK handed back."""
    got: list[object] = []
    scripts: list[tuple[list[Any], bool]] = [  # (behaviours, streamed call?)
        ([completion()], False),
        ([status(503), completion()], False),
        ([status(401)], False),
        ([status(400)], False),
        ([respond(200, b"not json")], False),
        ([drop()], False),
        ([slow(2.0, completion())], False),
        ([sse_stream(sse_events(delta_chunk("a"), delta_chunk(finish="stop")))], True),
        ([sse_stream(sse_events(delta_chunk("a"), {"error": {"message": "boom"}}))], True),
        ([sse_stream(sse_events(delta_chunk("a"), delta_chunk("b")), drop_after=1)], True),
    ]
    for behaviours, stream in scripts:
        server.script(*behaviours)
        got += call(server, mode, stream)
    return got


def call(server: FaultServer, mode: str, stream: bool) -> list[object]:
    got: list[object] = []
    kwargs: dict[str, Any] = {
        "base_url": server.url,
        "api_key": KEY,
        "model": "m",
        "max_retries": 1,
    }
    if mode == "sync":
        client = LlamaClient(**kwargs)
        got += [client, client.with_options(max_retries=0)]
        try:
            if stream:
                s = client.chat.completions.create(messages=MSGS, stream=True)
                got.append(s)
                got += list(s)
            else:
                got.append(client.chat.completions.create(messages=MSGS, timeout=0.3))
                got.append(client.chat.completions.with_raw_response.create(messages=MSGS))
        except Exception as exc:
            got.append(exc)
        client.close()
        return got

    async def run() -> None:
        client = AsyncLlamaClient(**kwargs)
        got.extend([client, client.with_options(max_retries=0)])
        try:
            if stream:
                s = await client.chat.completions.create(messages=MSGS, stream=True)
                got.append(s)
                got.extend([c async for c in s])
            else:
                got.append(await client.chat.completions.create(messages=MSGS, timeout=0.3))
                got.append(await client.chat.completions.with_raw_response.create(messages=MSGS))
        except Exception as exc:
            got.append(exc)
        await client.close()

    asyncio.run(run())
    return got


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_key_never_in_logs_reprs_or_messages(
    server: FaultServer, sleeps: list[float], caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level: ours, httpx, httpcore, asyncio
    objects = tour(server, mode)
    assert server.attempts >= 10
    assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in server.requests)
    assert any(isinstance(o, BaseException) for o in objects)
    assert caplog.records, "nothing was logged: the log check would prove nothing"
    for record in caplog.records:
        assert_no_secret(record.getMessage(), f"log record {record.name}")
        assert_no_secret(caplog.handler.format(record), f"formatted log {record.name}")
    for obj in objects:
        if isinstance(obj, BaseException):
            for where, text in exception_texts(obj):
                assert_no_secret(text, f"{type(obj).__name__}.{where}")
        else:
            assert_no_secret(str(obj), f"str({type(obj).__name__})")
            assert_no_secret(repr(obj), f"repr({type(obj).__name__})")
            if hasattr(obj, "model_dump_json"):
                assert_no_secret(obj.model_dump_json(), type(obj).__name__)


def test_client_repr_hides_the_key_but_the_key_is_usable(server: FaultServer) -> None:
    with LlamaClient(base_url=server.url, api_key=KEY, model="m") as client:
        assert "***" in repr(client)
        assert_no_secret(repr(client), "repr(client)")
        assert client.api_key == KEY  # reachable on purpose, never printed


# ------------------------------------------------------------------------------ redirects


@pytest.fixture
def other_origin() -> Iterator[FaultServer]:
    """A second loopback server: same host, another port, so another origin."""
    with FaultServer() as other:
        yield other


def redirect_to(target: FaultServer, code: int) -> Any:
    return respond(code, b"", headers={"location": f"{target.url}/chat/completions"})


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_redirects_are_not_followed_by_default(
    make: Any, server: FaultServer, other_origin: FaultServer, sleeps: list[float], code: int
) -> None:
    server.script(redirect_to(other_origin, code))
    h = make()
    with pytest.raises(APIStatusError) as info:
        h.create()
    assert info.value.status_code == code
    assert other_origin.url in str(info.value)
    assert "not followed" in str(info.value)
    assert other_origin.attempts == 0
    assert server.attempts == 1  # a redirect is not retried either
    assert h.busy_connections() == 0


def test_redirect_on_a_stream_call_is_not_followed(
    make: Any, server: FaultServer, other_origin: FaultServer
) -> None:
    server.script(redirect_to(other_origin, 307))
    h = make()
    _chunks, exc = h.stream()
    assert isinstance(exc, APIStatusError) and exc.status_code == 307
    assert other_origin.attempts == 0
    assert h.busy_connections() == 0


def test_following_client_drops_the_key_across_origins(
    server: FaultServer, other_origin: FaultServer
) -> None:
    server.script(redirect_to(other_origin, 307))
    other_origin.script(completion("from the other origin"))
    http = httpx.Client(follow_redirects=True)
    with LlamaClient(base_url=server.url, api_key=KEY, model="m", http_client=http) as client:
        r = client.chat.completions.create(messages=MSGS)
    http.close()
    assert r.choices[0].message.content == "from the other origin"
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    (forwarded,) = other_origin.requests
    assert "authorization" not in forwarded.headers
    assert all(KEY not in v for v in forwarded.headers.values())
    assert forwarded.body == server.requests[0].body  # 307 keeps the body, only the key goes


async def test_async_following_client_drops_the_key_across_origins(
    server: FaultServer, other_origin: FaultServer
) -> None:
    server.script(redirect_to(other_origin, 308))
    other_origin.script(completion("async other origin"))
    async with httpx.AsyncClient(follow_redirects=True) as http:
        client = AsyncLlamaClient(base_url=server.url, api_key=KEY, model="m", http_client=http)
        r = await client.chat.completions.create(messages=MSGS)
    assert r.choices[0].message.content == "async other origin"
    (forwarded,) = other_origin.requests
    assert "authorization" not in forwarded.headers


def test_following_client_keeps_the_key_on_the_same_origin(server: FaultServer) -> None:
    server.script(
        respond(307, b"", headers={"location": f"{server.url}/chat/completions?moved=1"}),
        completion(),
    )
    http = httpx.Client(follow_redirects=True)
    with LlamaClient(base_url=server.url, api_key=KEY, model="m", http_client=http) as client:
        client.chat.completions.create(messages=MSGS)
    http.close()
    assert [r.headers.get("authorization") for r in server.requests] == [f"Bearer {KEY}"] * 2


# ------------------------------------------------------------------------------ issue 14
# base_url passwords, credential headers other than Authorization, and server text that
# quotes the key back. Messages, reprs, tracebacks and logs stay clean; ``exc.body`` (like
# ``exc.response``) keeps the server's data exactly as it arrived.

import socket  # noqa: E402

from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from llama_client import APIConnectionError, APIError, APITimeoutError  # noqa: E402
from llama_client._secrets import mask_url  # noqa: E402
from llama_client.errors import status_error  # noqa: E402
from llama_client.providers import Provider  # noqa: E402
from tests.reliability.conftest import Harness  # noqa: E402

PASSWORD = "pw-secret-4567890"


def assert_clean(exc: BaseException, *secrets: str) -> None:
    """No secret (nor the key) in any rendering of ``exc`` except its raw ``body``."""
    for where, text in exception_texts(exc):
        if where == "body":
            continue
        assert_no_secret(text, f"{type(exc).__name__}.{where}")
        for secret in secrets:
            assert secret not in text, f"{secret!r} found in {type(exc).__name__}.{where}"


@pytest.fixture
def make_at(mode: str) -> Iterator[Any]:
    made: list[Any] = []

    def factory(base_url: str, **options: Any) -> Any:
        h = Harness(mode, base_url, **options)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.close()


def with_password(url: str) -> str:
    return url.replace("http://", f"http://alice:{PASSWORD}@")


def test_mask_url_hides_userinfo() -> None:
    assert mask_url("http://alice:pw@h:1/v1?q=1") == "http://alice:***@h:1/v1?q=1"
    assert mask_url("https://token@h/v1") == "https://***@h/v1"  # a lone user name: a token
    assert mask_url("http://a:b@c@h/v1") == "http://a:***@h/v1"
    assert mask_url("http://h/v1/a@b") == "http://h/v1/a@b"  # an @ in the path is no userinfo
    assert mask_url(httpx.URL("http://h:1/v1")) == "http://h:1/v1"
    assert PASSWORD not in repr(Provider(name="p", base_url=with_password("http://h/v1")))


def test_base_url_password_never_printed(
    make_at: Any, server: FaultServer, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # ours, httpx's "HTTP Request: POST <url>", httpcore's
    h = make_at(with_password(server.url), api_key=None, max_retries=1)
    server.script(status(503), completion())
    h.create()
    assert server.requests[0].headers["authorization"].startswith("Basic ")
    server.script(slow(2.0, completion()))
    with pytest.raises(APITimeoutError) as timed_out:
        h.create(timeout=0.2)
    texts = [repr(h.client), str(h.client), repr(h.client._endpoints[0]), h.client.base_url]
    assert "alice:***@" in repr(h.client)
    refused = make_at(with_password(closed_port_url()), api_key=None, max_retries=0)
    with pytest.raises(APIConnectionError) as no_server:
        refused.create()
    assert_clean(timed_out.value, PASSWORD)
    assert_clean(no_server.value, PASSWORD)
    assert "127.0.0.1" in str(no_server.value)  # the address is still shown, masked
    assert caplog.records
    texts += [caplog.handler.format(r) for r in caplog.records]
    for text in texts:
        assert PASSWORD not in text, text


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


@pytest.mark.parametrize(
    "how", ["auth=api-key", "default x-api-key", "extra x-goog-api-key", "extra authorization"]
)
def test_every_credential_header_is_masked_in_the_request_repr(
    make: Any, server: FaultServer, sleeps: list[float], how: str
) -> None:
    options: dict[str, Any] = {}
    extra: dict[str, str] = {}
    if how == "auth=api-key":  # Azure style
        options["provider"] = Provider(name="azure-like", auth="api-key")
        header = "api-key"
    elif how == "default x-api-key":
        options = {"api_key": None, "default_headers": {"X-Api-Key": KEY}}
        header = "x-api-key"
    elif how == "extra x-goog-api-key":
        options["api_key"] = None
        extra = {"X-Goog-Api-Key": KEY}
        header = "x-goog-api-key"
    else:
        options["api_key"] = None
        extra = {"Authorization": f"Bearer {KEY}"}
        header = "authorization"
    server.script(status(401))
    h = make(**options)
    with pytest.raises(APIStatusError) as info:
        h.create(extra_headers=extra) if extra else h.create()
    exc = info.value
    assert KEY in server.requests[0].headers[header]  # it is sent...
    assert KEY in exc.request.headers[header]  # ...and still readable on purpose
    assert_clean(exc)  # ...but never shown: repr(exc.request.headers) masks it
    assert "[secure]" in repr(exc.request.headers)
    assert exc.response.request is exc.request


ECHOES: list[tuple[str, Any]] = [
    (
        "json 401",
        lambda: respond(401, {"error": {"message": f"Invalid credentials: Bearer {KEY}"}}),
    ),
    ("text 403", lambda: respond(403, f"key {KEY} is not allowed")),
    ("detail 422", lambda: respond(422, {"detail": [{"msg": f"bad header {KEY}"}]})),
    ("500 list", lambda: respond(500, [f"Authorization: Bearer {KEY}"])),
    # the preview cuts the message in the middle of the key: its start is masked too
    ("cut in the key", lambda: respond(400, "x" * 1990 + KEY)),
    ("redirect", lambda: respond(302, b"", headers={"location": f"http://evil/?k={KEY}"})),
    ("200 not json", lambda: respond(200, f"<html>{KEY}</html>")),
    ("200 error body", lambda: respond(200, {"error": {"message": f"key {KEY} revoked"}})),
]


@pytest.mark.parametrize("echo", [e for _, e in ECHOES], ids=[n for n, _ in ECHOES])
def test_server_text_quoting_the_key_is_redacted(
    make: Any, server: FaultServer, sleeps: list[float], echo: Any
) -> None:
    server.script(echo())
    h = make(max_retries=0)
    with pytest.raises(APIError) as info:
        h.create()
    assert_clean(info.value, KEY[:8])
    assert "***" in str(info.value)
    assert h.busy_connections() == 0


def test_redaction_keeps_the_raw_body(make: Any, server: FaultServer) -> None:
    server.script(respond(401, {"error": {"message": f"Invalid credentials: Bearer {KEY}"}}))
    with pytest.raises(APIStatusError) as info:
        make().create()
    assert str(info.value) == "Error code: 401 - Invalid credentials: ***"
    assert info.value.body == {"error": {"message": f"Invalid credentials: Bearer {KEY}"}}


@pytest.mark.parametrize(
    "script",
    [
        lambda: sse_stream(sse_events(delta_chunk("a"), {"error": {"message": f"bad {KEY}"}})),
        lambda: sse_stream(sse_events({"error": {"message": f"bad key Bearer {KEY}"}})),
        lambda: sse_stream(sse_events(delta_chunk("a"), f"not json {KEY}")),
        lambda: respond(200, {"error": {"message": f"no stream for {KEY}"}}),
    ],
    ids=["error event after a chunk", "first event", "bad event", "json instead of stream"],
)
def test_stream_errors_quoting_the_key_are_redacted(
    make: Any, server: FaultServer, script: Any
) -> None:
    server.script(script())
    h = make(max_retries=0)
    _chunks, exc = h.stream()
    assert isinstance(exc, APIError)
    assert_clean(exc, KEY[:8])


def test_basic_auth_password_echo_is_redacted(make_at: Any, server: FaultServer) -> None:
    server.script(respond(401, {"error": {"message": f"user alice, password {PASSWORD}: no"}}))
    h = make_at(with_password(server.url), api_key=None)
    with pytest.raises(APIStatusError) as info:
        h.create()
    assert_clean(info.value, PASSWORD)


@settings(max_examples=200, deadline=None)
@given(
    before=st.text(max_size=2100),
    after=st.text(max_size=50),
    as_json=st.booleans(),
    header=st.sampled_from(["Authorization", "api-key", "X-Api-Key"]),
)
def test_any_error_text_around_the_key_is_redacted(
    before: str, after: str, as_json: bool, header: str
) -> None:
    """Wherever the key sits in an error body, and wherever the preview cuts it, no 4+
    character start of it survives in the message (``status_error``, the real path)."""
    value = f"Bearer {KEY}" if header == "Authorization" else KEY
    request = httpx.Request(
        "POST", "http://127.0.0.1:1/v1/chat/completions", headers={header: value}
    )
    assume(KEY[:4] not in before + after)  # any "sk-f" in the message then comes from the key
    text = before + KEY + after
    body: object = {"error": {"message": text}} if as_json else text
    message = str(status_error(httpx.Response(401, request=request), body))
    assert KEY[:4] not in message
