"""Streams the caller abandons: no deadlock, no leaked connection, for every client kind.

A stream left by ``break`` (inside ``with`` or not), never iterated, or dropped with an error
still held for later must give its connection back where it was dropped, by reference
counting, and never from the cyclic garbage collector. httpx's sync pool holds a
non-reentrant lock while it hands out connections and the collector can run inside it: a
connection closed from there deadlocks the thread on itself (issue #14).

- the no-cycle tests disable the collector, abandon a stream in each way, and check that the
  stream objects are gone and the connection is free without any collection;
- the rule tests collect a stream the caller put in a cycle while this thread holds the pool
  lock (sync), or before the event loop runs (async), and check nothing was closed from there;
- the stress tests run 1,000 sync and 500 async streams of mixed kinds with the collector
  running often, under a watchdog that fails the test (with the stuck thread's stack) instead
  of hanging;
- and: an aiohttp body left mid-way frees its connection on its own, and a bad
  ``Content-Encoding`` on a stream is an ``APIError``, not a bare ``httpx.DecodingError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import sys
import threading
import traceback
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from llama_client import APIError, AsyncLlamaClient, LlamaClient
from llama_client.providers import Provider
from tests.faultserver import FaultServer, completion, raw, sse_stream
from tests.reliability.conftest import Harness
from tests.wire import delta_chunk, sse_events

MSGS = [{"role": "user", "content": "Hi"}]
WATCHDOG = 60.0  # seconds; only ever reached by a hang


def chunks_stream(n: int = 8, *, stall: bool = False) -> Any:
    """``n`` text chunks; ``stall``: the server pauses after three of them, so the response
    is still in flight when the caller leaves it (aiohttp frees a connection whose body has
    fully arrived on its own)."""
    events = [delta_chunk(f"w{i}") for i in range(n)] + [delta_chunk(finish="stop")]
    return sse_stream(sse_events(*events), stall=(3, 2.0) if stall else None)


def held_error_stream() -> Any:
    # A good chunk and a broken event in one read: the error is held until the chunk before
    # it was delivered. Its traceback must not tie the stream into a cycle meanwhile.
    piece = b"".join(sse_events(delta_chunk("a"), done=False)) + b"data: {not json\n\n"
    return sse_stream([piece, *sse_events(delta_chunk("b"), delta_chunk(finish="stop"))])


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def settle(h: Any) -> int:
    """Let an async client's event loop run the closings it has scheduled (a few turns of the
    loop, no waiting); the connections still busy after that."""
    if h.loop is not None:
        for _ in range(20):
            h._run(asyncio.sleep(0))
    return int(h.busy_connections())


# ----------------------------------------------------------------- abandoned, no collector
#
# Each scenario abandons one stream and returns weak references to the SDK objects it made.


def sync_break(c: Any) -> list[Any]:
    s = c.chat.completions.create(messages=MSGS, stream=True)
    refs = [weakref.ref(s)]
    for _ in s:
        break
    return refs


def sync_unread(c: Any) -> list[Any]:
    s = c.chat.completions.create(messages=MSGS, stream=True)
    return [weakref.ref(s)]


def sync_next(c: Any) -> list[Any]:
    s = c.chat.completions.create(messages=MSGS, stream=True)
    next(s)
    return [weakref.ref(s)]


def sync_manager(c: Any) -> list[Any]:
    manager = c.chat.completions.stream(messages=MSGS)
    s = manager.__enter__()  # entered and never left
    next(s)
    return [weakref.ref(manager), weakref.ref(s), weakref.ref(s._stream)]


def sync_text_stream(c: Any) -> list[Any]:
    s = c.chat.completions.stream(messages=MSGS).__enter__()
    for _ in s.text_stream:
        break
    return [weakref.ref(s), weakref.ref(s._stream)]


def sync_raw(c: Any) -> list[Any]:
    raw_response = c.chat.completions.with_raw_response.create(messages=MSGS, stream=True)
    s = raw_response.parse()
    next(s)
    return [weakref.ref(raw_response), weakref.ref(s)]


async def async_break(c: Any) -> list[Any]:
    s = await c.chat.completions.create(messages=MSGS, stream=True)
    refs = [weakref.ref(s)]
    async for _ in s:
        break
    return refs


async def async_unread(c: Any) -> list[Any]:
    s = await c.chat.completions.create(messages=MSGS, stream=True)
    return [weakref.ref(s)]


async def async_next(c: Any) -> list[Any]:
    s = await c.chat.completions.create(messages=MSGS, stream=True)
    await s.__anext__()
    return [weakref.ref(s)]


async def async_manager(c: Any) -> list[Any]:
    manager = c.chat.completions.stream(messages=MSGS)
    s = await manager.__aenter__()
    await s.__anext__()
    return [weakref.ref(manager), weakref.ref(s), weakref.ref(s._stream)]


async def async_text_stream(c: Any) -> list[Any]:
    s = await c.chat.completions.stream(messages=MSGS).__aenter__()
    texts = s.text_stream
    async for _ in texts:
        break
    await texts.aclose()  # type: ignore[attr-defined]  # an async generator: closed by its user
    return [weakref.ref(s), weakref.ref(s._stream)]


async def async_raw(c: Any) -> list[Any]:
    raw_response = await c.chat.completions.with_raw_response.create(messages=MSGS, stream=True)
    s = raw_response.parse()
    await s.__anext__()
    return [weakref.ref(raw_response), weakref.ref(s)]


SCENARIOS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "break": (sync_break, async_break),
    "unread": (sync_unread, async_unread),
    "next": (sync_next, async_next),
    "manager": (sync_manager, async_manager),
    "text_stream": (sync_text_stream, async_text_stream),
    "raw": (sync_raw, async_raw),
}


def abandon(h: Any, scenario: str) -> list[Any]:
    sync_fn, async_fn = SCENARIOS[scenario]
    if h.loop is None:
        return sync_fn(h.client)  # type: ignore[no-any-return]
    return h._run(async_fn(h.client))  # type: ignore[no-any-return]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_abandoned_stream_is_freed_without_the_collector(
    make: Any, server: FaultServer, no_gc: None, scenario: str
) -> None:
    server.script(chunks_stream(stall=True), completion("next"))
    h = make(max_retries=0)
    refs = abandon(h, scenario)
    assert [r() for r in refs] == [None] * len(refs), "a stream object is held by a cycle"
    assert settle(h) == 0, "the abandoned stream kept its connection"
    assert h.create().choices[0].message.content == "next"


def test_abandoned_with_an_error_held_back(make: Any, server: FaultServer, no_gc: None) -> None:
    server.script(held_error_stream())
    h = make(max_retries=0)
    refs = abandon(h, "next")
    assert refs[0]() is None, "the held error's traceback ties the stream into a cycle"
    assert settle(h) == 0


def test_held_error_is_still_raised_after_its_chunk(make: Any, server: FaultServer) -> None:
    server.script(held_error_stream())
    chunks, exc = make(max_retries=0).stream()
    assert [c.choices[0].delta.content for c in chunks] == ["a"]
    assert isinstance(exc, APIError) and "JSON" in str(exc)


def test_abandoned_primed_stream_of_a_provider_list(
    make: Any, server: FaultServer, no_gc: None
) -> None:
    # With a fallback list the stream is read up to its first chunk before it is returned.
    server.script(chunks_stream(stall=True))
    providers = [Provider(name="a", base_url=server.url), Provider(name="b", base_url=server.url)]
    h = make()
    kind = LlamaClient if h.loop is None else AsyncLlamaClient
    options: dict[str, Any] = (
        {} if h.loop is None else {"transport": "aiohttp" if h.mode == "aiohttp" else "httpx"}
    )
    first, h.client = h.client, kind(provider=providers, model="m", max_retries=0, **options)
    if h.loop is not None:
        h._run(first.close())
    refs = abandon(h, "break")
    assert refs[0]() is None
    assert settle(h) == 0
    assert server.attempts == 1


def test_exhausted_and_closed_streams_keep_working(make: Any, server: FaultServer) -> None:
    server.script(chunks_stream(3))
    h = make(max_retries=0)
    chunks, exc = h.stream()
    assert exc is None and len(chunks) == 4
    if h.loop is None:
        s = h.client.chat.completions.create(messages=MSGS, stream=True)
        s.close()
        assert list(s) == []
        s.close()  # twice is fine
    else:

        async def run() -> list[Any]:
            s = await h.client.chat.completions.create(messages=MSGS, stream=True)
            await s.close()
            out = [c async for c in s]
            await s.close()
            return out

        assert h._run(run()) == []
    assert h.busy_connections() == 0


# ----------------------------------------------------------- the collector never closes


def test_collecting_inside_the_sync_pool_lock_closes_nothing(server: FaultServer) -> None:
    """The deadlock itself, made deterministic: a stream the caller left in a reference cycle
    is collected while this thread holds httpcore's pool lock, as when the collector runs
    inside ``handle_request``. Its connection is released at the next request instead."""
    server.script(chunks_stream(stall=True), chunks_stream())
    # Not closed on failure: closing takes the pool lock, which a stuck thread would hold.
    client = LlamaClient(base_url=server.url, model="m", max_retries=0)
    s = client.chat.completions.create(messages=MSGS, stream=True)
    next(s)
    cycle: list[Any] = [s]
    cycle.append(cycle)
    ref = weakref.ref(s)
    del s, cycle
    pool = client._http._transport._pool  # type: ignore[attr-defined]

    def collect_inside_the_pool() -> None:
        with pool._optional_thread_lock:
            gc.collect()

    watchdog(collect_inside_the_pool, "gc.collect() inside the pool lock")
    assert ref() is None
    chunks = list(client.chat.completions.create(messages=MSGS, stream=True))
    assert len(chunks) == 9
    assert _busy(pool) == 0
    client.close()


@pytest.mark.parametrize("kind", ["async", "aiohttp"])
def test_async_stream_in_a_cycle_is_closed_by_its_loop(server: FaultServer, kind: str) -> None:
    """Async: a stream the collector finds is closed by a task on its event loop, never from
    inside the collection."""
    if kind == "aiohttp":
        pytest.importorskip("aiohttp")
    server.script(chunks_stream(stall=True))
    h = Harness(kind, server.url, max_retries=0)

    async def leave_in_a_cycle() -> None:
        s = await h.client.chat.completions.create(messages=MSGS, stream=True)
        await s.__anext__()
        cycle: list[Any] = [s]
        cycle.append(cycle)

    h._run(leave_in_a_cycle())
    busy = h.busy_connections()
    assert busy > 0
    gc.collect()
    assert h.busy_connections() == busy, "a connection was released from inside the collector"
    assert settle(h) == 0
    h.close()


def _busy(pool: Any) -> int:
    return len([c for c in pool.connections if not (c.is_idle() or c.is_closed())])


def test_aiohttp_body_left_mid_way_gives_its_connection_back(server: FaultServer) -> None:
    """The aiohttp transport on its own: a body iterator left mid-way (closed, never the
    response) closes its connection once the event loop has run, with no aclose()."""
    pytest.importorskip("aiohttp")
    from llama_client._aiohttp_transport import AiohttpClient

    server.script(chunks_stream(stall=True))

    async def run() -> int:
        http = AiohttpClient(timeout=httpx.Timeout(10.0), limits=httpx.Limits())
        request = http.build_request("POST", server.url + "/chat/completions", json={})
        response = await http.send(request, stream=True)
        body = response.aiter_raw()
        await body.__anext__()
        await body.aclose()  # type: ignore[attr-defined]
        for _ in range(20):
            await asyncio.sleep(0)
        acquired = len(http._aiohttp.session.connector._acquired)  # type: ignore[union-attr]
        await response.aclose()
        await http.aclose()
        return acquired

    assert asyncio.run(run()) == 0


# ----------------------------------------------------------------------------- decoding


def test_bad_content_encoding_on_a_stream_is_an_api_error(make: Any, server: FaultServer) -> None:
    body = b"".join(sse_events(delta_chunk("a"), delta_chunk(finish="stop")))
    head = (
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-encoding: gzip\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    server.script(raw(head + body))
    h = make(max_retries=0)
    chunks, exc = h.stream()
    assert chunks == []
    assert isinstance(exc, APIError) and not isinstance(exc, httpx.HTTPError)
    assert isinstance(exc.__cause__, httpx.DecodingError)
    assert h.busy_connections() == 0


# ------------------------------------------------------------------------------- stress


def watchdog(target: Callable[[], object], what: str, timeout: float = WATCHDOG) -> None:
    """Run ``target`` in a thread; fail (with the stuck thread's stack) if it never returns."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)

    thread = threading.Thread(target=run, name=what, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        frame = sys._current_frames().get(thread.ident or 0)
        stack = "".join(traceback.format_stack(frame)) if frame is not None else "?"
        with contextlib.suppress(AttributeError, ValueError, OSError):  # stderr has no fd
            faulthandler.dump_traceback(all_threads=True)
        pytest.fail(f"{what} hung (the thread is stuck; its stack follows)\n{stack}")
    if errors:
        raise errors[0]


@pytest.fixture
def frequent_gc() -> Iterator[None]:
    """Collect every 50 net allocations, so a collection often lands inside the pool."""
    old = gc.get_threshold()
    gc.set_threshold(50, old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def test_stress_1000_abandoned_sync_streams(server: FaultServer, frequent_gc: None) -> None:
    server.script(chunks_stream())
    client = LlamaClient(base_url=server.url, model="m", max_retries=0, timeout=30)
    create = client.chat.completions.create

    def run() -> None:
        for i in range(1000):
            kind = i % 4
            if kind == 0:  # break inside with
                with create(messages=MSGS, stream=True) as s:
                    for _ in s:
                        break
            elif kind == 1:  # bare break: no with, no close()
                for _ in create(messages=MSGS, stream=True):
                    break
            elif kind == 2:  # never iterated
                create(messages=MSGS, stream=True)
            else:  # a stream() manager entered and never left
                next(iter(client.chat.completions.stream(messages=MSGS).__enter__()))

    watchdog(run, "1,000 abandoned sync streams")  # on failure the client is left unclosed:
    assert server.attempts == 1000  # closing it would wait for the stuck thread's lock
    assert _busy(client._http._transport._pool) == 0  # type: ignore[attr-defined]
    client.close()


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
def test_stress_500_abandoned_async_streams(
    server: FaultServer, frequent_gc: None, transport: str
) -> None:
    if transport == "aiohttp":
        pytest.importorskip("aiohttp")
    server.script(chunks_stream())
    reported: list[dict[str, Any]] = []
    busy: list[int] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        client = AsyncLlamaClient(
            base_url=server.url, model="m", max_retries=0, timeout=30, transport=transport
        )
        create = client.chat.completions.create
        for i in range(500):
            kind = i % 4
            if kind == 0:  # break inside async with
                async with await create(messages=MSGS, stream=True) as s:
                    async for _ in s:
                        break
            elif kind == 1:  # bare break
                async for _ in await create(messages=MSGS, stream=True):
                    break
            elif kind == 2:  # never iterated
                await create(messages=MSGS, stream=True)
            else:  # a stream() manager entered and never left
                s = await client.chat.completions.stream(messages=MSGS).__aenter__()
                await s.__anext__()
                del s
        for _ in range(50):  # let the loop run the closings the dropped streams scheduled
            await asyncio.sleep(0)
        if transport == "aiohttp":
            busy.append(len(client._http._transport._session.connector._acquired))  # type: ignore[attr-defined]
        else:
            busy.append(_busy(client._http._transport._pool))  # type: ignore[attr-defined]
        await client.close()

    # aiohttp reports a response left to its own finaliser only in debug mode
    debug = transport == "aiohttp"
    watchdog(lambda: asyncio.run(main(), debug=debug), f"500 abandoned {transport} streams")
    assert server.attempts == 500
    assert busy == [0]
    assert reported == [], [c.get("message") for c in reported]
