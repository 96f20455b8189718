"""Fixtures for the reliability tier: a real loopback fault server and clients of each kind.

The same fault test runs against three clients: ``sync`` (LlamaClient over httpx), ``async``
(AsyncLlamaClient over httpx) and ``aiohttp`` (AsyncLlamaClient(transport="aiohttp"), skipped
when aiohttp is not installed). :class:`Harness` hides which one it is: the async clients run
on a private event loop that lives as long as the harness, so their connection pools can be
inspected between calls exactly like the sync one's.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest

from llama_client import AsyncLlamaClient, ChatCompletion, ChatCompletionChunk, LlamaClient
from tests.faultserver import FaultServer

KEY = "sk-fault-0123456789abcdef"
MSGS = [{"role": "user", "content": "Hi"}]
MODES = ["sync", "async", "aiohttp"]


@pytest.fixture(scope="session")
def _server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
def server(_server: FaultServer) -> FaultServer:
    _server.reset()
    return _server


class Harness:
    """One client of the chosen kind with a sync calling convention for the tests."""

    def __init__(self, mode: str, base_url: str, **options: Any) -> None:
        self.mode = mode
        kwargs: dict[str, Any] = {"base_url": base_url, "api_key": KEY, "model": "m", **options}
        self.loop: asyncio.AbstractEventLoop | None = None
        if mode == "sync":
            self.client: Any = LlamaClient(**kwargs)
        else:
            self.loop = asyncio.new_event_loop()
            transport = "aiohttp" if mode == "aiohttp" else "httpx"
            self.client = AsyncLlamaClient(transport=transport, **kwargs)

    def _run(self, coro: Any) -> Any:
        assert self.loop is not None
        return self.loop.run_until_complete(coro)

    def create(self, **kw: Any) -> ChatCompletion:
        kw.setdefault("messages", MSGS)
        if self.loop is None:
            return self.client.chat.completions.create(**kw)  # type: ignore[no-any-return]
        return self._run(self.client.chat.completions.create(**kw))  # type: ignore[no-any-return]

    def stream(self, **kw: Any) -> tuple[list[ChatCompletionChunk], BaseException | None]:
        """Consume a streamed call: the chunks that arrived, and the exception that ended it."""
        kw.setdefault("messages", MSGS)
        chunks: list[ChatCompletionChunk] = []
        if self.loop is None:
            try:
                for chunk in self.client.chat.completions.create(stream=True, **kw):
                    chunks.append(chunk)
            except Exception as exc:
                return chunks, exc
            return chunks, None

        async def consume() -> BaseException | None:
            try:
                stream = await self.client.chat.completions.create(stream=True, **kw)
                async for chunk in stream:
                    chunks.append(chunk)
            except Exception as exc:
                return exc
            return None

        return chunks, self._run(consume())

    def final_completion(self, **kw: Any) -> ChatCompletion:
        """The stream() manager's merged completion."""
        kw.setdefault("messages", MSGS)
        if self.loop is None:
            with self.client.chat.completions.stream(**kw) as s:
                return s.get_final_completion()  # type: ignore[no-any-return]

        async def run() -> ChatCompletion:
            async with self.client.chat.completions.stream(**kw) as s:
                return await s.get_final_completion()  # type: ignore[no-any-return]

        return self._run(run())  # type: ignore[no-any-return]

    def busy_connections(self) -> int:
        """Connections checked out of the pool (or requests waiting for one) right now."""
        if self.mode == "aiohttp":
            session = self.client._http._transport._session
            if session is None:
                return 0
            connector = session.connector
            return len(connector._acquired) + sum(len(w) for w in connector._waiters.values())
        pool = self.client._http._transport._pool
        busy = [c for c in pool.connections if not (c.is_idle() or c.is_closed())]
        return len(busy) + len(pool._requests)

    def close(self) -> None:
        if self.loop is None:
            self.client.close()
            return
        self._run(self.client.close())
        self.loop.run_until_complete(asyncio.sleep(0))  # let transports finish closing
        self.loop.close()


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    if request.param == "aiohttp" and importlib.util.find_spec("aiohttp") is None:
        pytest.skip("aiohttp is not installed (pip install 'llama-client[aiohttp]')")
    return str(request.param)


@pytest.fixture
def make(mode: str, server: FaultServer) -> Iterator[Any]:
    """``make(**client_options)`` builds a Harness of the current mode against the server."""
    made: list[Harness] = []

    def factory(**options: Any) -> Harness:
        h = Harness(mode, server.url, **options)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.close()
