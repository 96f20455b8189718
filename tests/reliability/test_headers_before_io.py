"""Header names and values, and the API key, are checked before any socket is opened.

A key or header that would break the HTTP framing (CR, LF, another control character,
non-ASCII text, surrounding whitespace), a header value of the wrong type or a bad header name
raises ``InvalidRequestError`` when the client is built (``default_headers``, the key: once) or
when the call is made (``extra_headers``), with a message that never repeats the value. Before,
a CR/LF key opened a connection, failed as a connection error, was retried, and the message
held the whole key.

Documented choices checked here: ``bytes`` keys and values are accepted when ASCII (decoded);
a ``None`` header value removes that header (as in requests); ints and other types are
refused. A ``base_url`` with ``user:password@`` is sent as ``Authorization: Basic`` (the URL
itself goes out without it) on every transport; together with a key that also needs the
``Authorization`` header it is refused when the client is built (aiohttp raised a bare
``ValueError`` at the first call).
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import h11
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llama_client import AsyncLlamaClient, InvalidRequestError, LlamaClient
from llama_client.providers import Provider
from tests.faultserver import FaultServer
from tests.reliability.conftest import KEY, MSGS, Harness

BAD_KEYS: list[tuple[str, object]] = [
    ("crlf-injection", f"{KEY}\r\nX-Injected: 1"),
    ("lf", f"{KEY}\n"),
    ("cr", f"sk-\r{KEY}"),
    ("nul", f"{KEY}\x00"),
    ("del", f"{KEY}\x7f"),
    ("non-ascii", f"{KEY}é"),
    ("non-ascii-bytes", KEY.encode() + b"\xff"),
    ("leading-space", f" {KEY}"),
    ("trailing-tab", f"{KEY}\t"),
    ("int", 1234567890),
    ("list", [KEY]),
]

BAD_HEADERS: list[tuple[str, dict[Any, Any]]] = [
    ("value-crlf", {"X-Team": "a\r\nX-Injected: 1"}),
    ("value-lf", {"X-Team": "a\n"}),
    ("value-nul", {"X-Team": "a\x00b"}),
    ("value-non-ascii", {"X-Team": "équipe"}),
    ("value-int", {"X-Retry": 3}),
    ("value-float", {"X-Retry": 1.5}),
    ("value-bool", {"X-Flag": True}),
    ("value-list", {"X-Team": ["a"]}),
    ("value-bytes-non-ascii", {"X-Team": b"\xe9quipe"}),
    ("value-surrounding-space", {"X-Team": " a "}),
    ("name-space", {"X Team": "a"}),
    ("name-colon", {"X-Team:": "a"}),
    ("name-crlf", {"X-Team\r\nX-Injected": "a"}),
    ("name-empty", {"": "a"}),
    ("name-int", {1: "a"}),
    ("name-non-ascii", {"X-Équipe": "a"}),
    ("framing-content-length", {"Content-Length": "1"}),
    ("framing-transfer-encoding", {"transfer-encoding": "chunked"}),
]
SECRET_VALUE = "hdr-secret-value-0123456789"


def build(mode: str, server: FaultServer, **kwargs: Any) -> Any:
    kwargs = {"base_url": server.url, "model": "m", "max_retries": 2, **kwargs}
    if mode == "sync":
        return LlamaClient(**kwargs)
    return AsyncLlamaClient(transport="aiohttp" if mode == "aiohttp" else "httpx", **kwargs)


def assert_untouched(server: FaultServer) -> None:
    assert server.connections == 0, "a connection was opened"
    assert server.attempts == 0


def assert_not_quoted(exc: BaseException, *values: object, name: str = "") -> None:
    """Neither the key nor any of ``values`` (8+ characters) is in the message; a header's
    name is shown on purpose, so a value that is part of it does not count."""
    text = f"{exc} {exc!r}"
    for value in values:
        shown = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        for part in (shown, shown.strip(), KEY, SECRET_VALUE):
            if len(part) >= 8 and part not in name:
                assert part not in text, f"the value is quoted in {text!r}"


# --------------------------------------------------------------------------- the API key


@pytest.mark.parametrize("bad", [b for _, b in BAD_KEYS], ids=[n for n, _ in BAD_KEYS])
def test_a_key_that_cannot_be_sent_is_refused_when_the_client_is_built(
    mode: str, server: FaultServer, bad: object
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build(mode, server, api_key=bad)
    assert info.value.field == "api_key"
    assert "the api_key argument" in str(info.value)
    assert_not_quoted(info.value, bad)
    assert_untouched(server)


def test_a_bad_key_from_the_environment_names_the_variable(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLAMA_API_KEY", f"{KEY}\n")  # read from a file, newline and all
    with pytest.raises(InvalidRequestError, match="LLAMA_API_KEY") as info:
        LlamaClient(base_url=server.url)
    assert "newline" in str(info.value)
    assert_not_quoted(info.value, KEY)
    monkeypatch.setenv("GROQ_API_KEY", f"gsk_{KEY}\r\n")
    with pytest.raises(InvalidRequestError, match="GROQ_API_KEY") as info:
        LlamaClient(provider="groq")
    assert_not_quoted(info.value, KEY)
    assert_untouched(server)


def test_an_ascii_bytes_key_is_sent_as_text(make: Any, server: FaultServer) -> None:
    h = make(api_key=KEY.encode())
    h.create()
    assert h.client.api_key == KEY
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"  # not "Bearer b'sk...'"


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize("bad", [b for _, b in BAD_HEADERS], ids=[n for n, _ in BAD_HEADERS])
def test_bad_default_headers_are_refused_when_the_client_is_built(
    mode: str, server: FaultServer, bad: dict[Any, Any]
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        build(mode, server, api_key=KEY, default_headers=bad)
    assert info.value.field == "default_headers"
    assert_not_quoted(info.value, *bad.values())
    good = build(mode, server, api_key=KEY)
    with pytest.raises(InvalidRequestError) as info:
        good.with_options(default_headers=bad)
    assert info.value.field == "default_headers"
    assert_untouched(server)


@pytest.mark.parametrize("bad", [b for _, b in BAD_HEADERS], ids=[n for n, _ in BAD_HEADERS])
def test_bad_extra_headers_are_refused_before_io(
    make: Any, server: FaultServer, bad: dict[Any, Any]
) -> None:
    h = make()
    with pytest.raises(InvalidRequestError) as info:
        h.create(extra_headers=bad)
    assert info.value.field == "extra_headers"
    assert_not_quoted(info.value, *bad.values())
    _chunks, exc = h.stream(extra_headers=bad)
    assert isinstance(exc, InvalidRequestError) and exc.field == "extra_headers"
    assert_untouched(server)
    assert h.busy_connections() == 0


def test_a_secret_header_value_is_never_quoted(make: Any, server: FaultServer) -> None:
    h = make()
    with pytest.raises(InvalidRequestError) as info:
        h.create(extra_headers={"X-Api-Key": f"{SECRET_VALUE}\r\n"})
    assert_not_quoted(info.value, SECRET_VALUE)
    assert "'X-Api-Key'" in str(info.value)  # the name is shown, the value is not
    assert_untouched(server)


def test_extra_headers_must_be_a_mapping(make: Any, server: FaultServer) -> None:
    h = make()
    with pytest.raises(InvalidRequestError, match="mapping"):
        h.create(extra_headers=[("X-Team", "a")])
    assert_untouched(server)


def test_none_removes_a_header_and_bytes_are_sent_as_text(make: Any, server: FaultServer) -> None:
    h = make(default_headers={"User-Agent": None, "X-Team": "a", "X-Bytes": b"raw"})
    h.create()
    h.create(extra_headers={"X-Team": None, "Authorization": None, "X-Call": b"c"})
    first, second = (r.headers for r in server.requests)
    assert "user-agent" not in first  # neither ours nor the HTTP library's default
    assert first["x-team"] == "a" and first["x-bytes"] == "raw"
    assert first["authorization"] == f"Bearer {KEY}"
    assert "x-team" not in second and "authorization" not in second and "user-agent" not in second
    assert second["x-call"] == "c"


def test_headers_are_checked_once_not_per_call(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llama_client import _base_client

    calls: list[str] = []
    real = _base_client.check_headers

    def spy(field: str, headers: object) -> Any:
        calls.append(field)
        return real(field, headers)

    monkeypatch.setattr(_base_client, "check_headers", spy)
    with LlamaClient(base_url=server.url, api_key=KEY, model="m", default_headers={"X": "1"}) as c:
        for _ in range(3):
            c.chat.completions.create(messages=MSGS)
        c.chat.completions.create(messages=MSGS, extra_headers={"X-Call": "1"})
    assert calls == ["default_headers", "extra_headers"]


# --------------------------------------------------------------------------- user:password@


@pytest.fixture
def make_at(mode: str) -> Any:
    """``make_at(base_url, **options)``: a Harness of the current mode at another base URL."""
    made: list[Harness] = []

    def factory(base_url: str, **options: Any) -> Harness:
        h = Harness(mode, base_url, **options)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.close()


def test_base_url_userinfo_is_sent_as_basic_auth(make_at: Any, server: FaultServer) -> None:
    url = server.url.replace("http://", "http://alice:p%40ss-word-123@")
    h = make_at(url, api_key=None)
    h.create()
    (request,) = server.requests
    expected = base64.b64encode(b"alice:p@ss-word-123").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.path == "/v1/chat/completions"
    assert h.client.base_url == server.url  # the credentials left the URL
    copy = h.client.with_options(max_retries=0)  # a copy keeps them
    assert copy._endpoints[0].headers["Authorization"] == f"Basic {expected}"


def test_base_url_userinfo_with_a_bearer_key_is_refused_on_every_transport(
    mode: str, server: FaultServer
) -> None:
    url = server.url.replace("http://", "http://alice:pw-secret-123@")
    with pytest.raises(InvalidRequestError) as info:
        build(mode, server, base_url=url, api_key=KEY)
    assert info.value.field == "base_url"
    assert "pw-secret-123" not in str(info.value) and KEY not in str(info.value)
    assert "alice:***@" in str(info.value)
    assert_untouched(server)


def test_base_url_userinfo_with_an_api_key_header_sends_both(
    make_at: Any, server: FaultServer
) -> None:
    url = server.url.replace("http://", "http://alice:pw-secret-123@")
    h = make_at(url, provider=Provider(name="gateway", auth="api-key"))
    h.create()
    (request,) = server.requests
    assert request.headers["api-key"] == KEY
    assert request.headers["authorization"].startswith("Basic ")


def test_aiohttp_userinfo_without_key_does_not_raise_valueerror(server: FaultServer) -> None:
    pytest.importorskip("aiohttp")
    url = server.url.replace("http://", "http://alice:pw-secret-123@")

    async def run() -> None:
        client = AsyncLlamaClient(base_url=url, model="m", transport="aiohttp")
        await client.chat.completions.create(messages=MSGS)
        await client.close()

    asyncio.run(run())
    assert server.requests[0].headers["authorization"].startswith("Basic ")


# --------------------------------------------------------------------------- property


KEYS = st.one_of(
    st.text(max_size=24),
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=24),
    st.binary(max_size=24),
    st.from_regex(r"\A[ -~]{1,24}\Z"),
)
VALUES = st.one_of(KEYS, st.none(), st.integers(), st.floats(allow_nan=False))
NAMES = st.one_of(
    st.just("X-Value"),
    st.from_regex(r"\A[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,16}\Z"),
    st.text(max_size=12),
    st.sampled_from(["Content-Length", "transfer-encoding", "Authorization", "Accept"]),
)


def _h11_accepts(name: str, value: str) -> None:
    h11.Request(method="POST", target="/", headers=[("Host", "x"), (name, value)])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=KEYS, name=NAMES, value=VALUES)
def test_any_key_or_header_is_sent_intact_or_refused_before_io(
    key: object, name: str, value: object
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"object": "list", "data": []})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    try:
        client = LlamaClient(
            base_url="http://127.0.0.1:9/v1",
            api_key=key,  # type: ignore[arg-type]
            default_headers={name: value},  # type: ignore[dict-item]
            http_client=http,
        )
    except InvalidRequestError as exc:
        assert exc.field in ("api_key", "default_headers")
        assert_not_quoted(exc, key, value, name=name)
        assert not seen
        return
    client.models.list()
    http.close()
    (request,) = seen
    text_key = key.decode() if isinstance(key, bytes) else key
    if name.lower() != "authorization":
        if text_key:
            assert request.headers["authorization"] == f"Bearer {text_key}"
            _h11_accepts("Authorization", f"Bearer {text_key}")
        else:
            assert "authorization" not in request.headers
    if value is None:
        assert name not in request.headers
    else:
        text = value.decode() if isinstance(value, bytes) else value
        assert isinstance(text, str)
        assert request.headers[name] == text
        _h11_accepts(name, text)
