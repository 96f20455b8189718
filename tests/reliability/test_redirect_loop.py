"""A caller's own httpx client that follows redirects: a redirect loop ends in our error.

httpx raises ``TooManyRedirects`` (a ``RequestError`` that is not a ``TransportError``) when
it gives up; it must reach the caller as :class:`APIConnectionError`, never bare.
"""

from __future__ import annotations

import httpx

from llama_client import APIConnectionError, AsyncLlamaClient, LlamaClient
from tests.faultserver import FaultServer, respond
from tests.reliability.conftest import KEY, MSGS


def _loop(server: FaultServer) -> None:
    server.script(respond(307, b"", headers={"location": f"{server.url}/chat/completions"}))


def test_sync_redirect_loop_is_a_connection_error(server: FaultServer) -> None:
    _loop(server)
    with httpx.Client(follow_redirects=True, max_redirects=3) as http:
        client = LlamaClient(
            base_url=server.url, api_key=KEY, model="m", http_client=http, max_retries=0
        )
        try:
            client.chat.completions.create(messages=MSGS)
        except APIConnectionError as exc:
            error: APIConnectionError = exc
        else:  # pragma: no cover - the server never answers
            raise AssertionError("a redirect loop returned a completion")
    assert isinstance(error.__cause__, httpx.TooManyRedirects)
    assert KEY not in str(error)
    assert server.attempts == 4  # the first request and three redirects


async def test_async_redirect_loop_is_a_connection_error(server: FaultServer) -> None:
    _loop(server)
    async with httpx.AsyncClient(follow_redirects=True, max_redirects=2) as http:
        client = AsyncLlamaClient(
            base_url=server.url, api_key=KEY, model="m", http_client=http, max_retries=0
        )
        try:
            await client.chat.completions.create(messages=MSGS)
        except APIConnectionError as exc:
            error: APIConnectionError = exc
        else:  # pragma: no cover
            raise AssertionError("a redirect loop returned a completion")
    assert isinstance(error.__cause__, httpx.TooManyRedirects)
    assert server.attempts == 3
