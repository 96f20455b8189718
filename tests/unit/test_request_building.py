"""The prepared-once request path builds what httpx's build_request would have built."""

from __future__ import annotations

import httpx
import respx

from llama_client import AsyncLlamaClient, LlamaClient
from tests.wire import BASE_URL, completion_body

URL = f"{BASE_URL}/chat/completions"
MSGS = [{"role": "user", "content": "Hi"}]


@respx.mock
def test_headers_of_a_passed_httpx_client_are_sent_and_ours_win() -> None:
    route = respx.post(URL).respond(json=completion_body())
    http = httpx.Client(headers={"X-Team": "search", "User-Agent": "theirs"})
    with LlamaClient(base_url=BASE_URL, model="m", api_key="k", http_client=http) as client:
        client.chat.completions.create(messages=MSGS)
        client.chat.completions.create(messages=MSGS, extra_headers={"X-Team": "per-call"})
    first, second = (c.request.headers for c in route.calls)
    assert first["x-team"] == "search"
    assert first["user-agent"].startswith("llama-client/")
    assert first["authorization"] == "Bearer k"
    assert first["accept-encoding"]  # httpx's defaults are kept
    assert second["x-team"] == "per-call"
    http.close()


@respx.mock
def test_cookies_of_the_httpx_client_are_sent() -> None:
    route = respx.post(URL).respond(json=completion_body())
    http = httpx.Client(cookies={"route": "node-7"})
    with LlamaClient(base_url=BASE_URL, model="m", http_client=http) as client:
        client.chat.completions.create(messages=MSGS)
    assert route.calls.last.request.headers["cookie"] == "route=node-7"
    http.close()


@respx.mock
def test_stream_accept_header_query_and_per_call_timeout() -> None:
    route = respx.post(url__startswith=URL).respond(json=completion_body())
    with LlamaClient(base_url=BASE_URL, model="m") as client:
        client.chat.completions.create(messages=MSGS, extra_query={"v": "2"}, timeout=3)
        client.chat.completions.create(messages=MSGS)
    first, second = (c.request for c in route.calls)
    assert first.url.params["v"] == "2"
    assert first.extensions["timeout"]["read"] == 3.0
    assert second.extensions["timeout"]["read"] == 600.0
    assert "v" not in second.url.params
    assert first.headers["accept"] == "application/json"


@respx.mock
async def test_async_client_sends_the_same_request() -> None:
    route = respx.post(URL).respond(json=completion_body())
    http = httpx.AsyncClient(headers={"X-Team": "async"})
    client = AsyncLlamaClient(base_url=BASE_URL, model="m", api_key="k", http_client=http)
    await client.chat.completions.create(messages=MSGS)
    request = route.calls.last.request
    assert request.headers["x-team"] == "async"
    assert request.headers["host"] == "llama.test"
    assert request.headers["content-length"] == str(len(request.content))
    await http.aclose()


def _as_httpx_builds_it(request: httpx.Request) -> list[tuple[bytes, bytes]]:
    """The headers httpx's own ``Request(content=...)`` gives the same method, URL, body and
    headers without Host and Content-Length (which httpx adds itself)."""
    own = [(k, v) for k, v in request.headers.raw if k.lower() not in (b"host", b"content-length")]
    rebuilt = httpx.Request(request.method, request.url, headers=own, content=request.content)
    return rebuilt.headers.raw


def _sent(**options: object) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            return httpx.Response(200, json={"object": "list", "data": []})
        return httpx.Response(200, json=completion_body())

    http = httpx.Client(transport=httpx.MockTransport(handler), **options)  # type: ignore[arg-type]
    with LlamaClient(base_url=BASE_URL, model="m", api_key="k", http_client=http) as client:
        client.chat.completions.create(messages=MSGS)
        client.chat.completions.create(
            messages=MSGS, extra_query={"v": "2"}, extra_headers={"X-A": "1"}
        )
        client.chat.completions.create(messages=MSGS, extra_headers={"Host": None, "X-B": "2"})
        client.models.list()
    http.close()
    return seen


def test_the_hot_path_sends_the_headers_and_body_httpx_would() -> None:
    """The request is built from prepared parts and a ready body stream: the same header list
    (Host first, Content-Length last, values and order) and bytes as httpx's own building."""
    requests = _sent()
    assert len(requests) == 4
    for request in requests:
        assert request.headers.raw == _as_httpx_builds_it(request)
        assert request.headers.raw[0] == (b"Host", b"llama.test")
        assert [k.lower() for k, _ in request.headers.raw].count(b"host") == 1
    post, query, no_host, get = requests
    assert post.headers["content-length"] == str(len(post.content)) and post.content
    assert query.url.params["v"] == "2" and query.headers["x-a"] == "1"
    assert no_host.headers["x-b"] == "2"  # Host removed by extra_headers comes back, first
    assert get.method == "GET" and "content-length" not in get.headers and get.content == b""
    assert "[secure]" in repr(post.headers) and "Bearer k" not in repr(post.headers)


def test_a_callers_host_header_is_sent_once_instead_of_httpxs() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=completion_body())

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with LlamaClient(base_url=BASE_URL, model="m", http_client=http) as client:
        client.chat.completions.create(messages=MSGS, extra_headers={"Host": "vhost.example"})
    http.close()
    (request,) = seen
    assert request.headers.get_list("host") == ["vhost.example"]
    assert request.headers.get_list("content-length") == [str(len(request.content))]
