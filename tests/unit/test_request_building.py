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
