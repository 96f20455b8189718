"""Observation under faults: with hooks and spans on, every stream still gives its connection
back and is told once how it ended (broken mid-way, abandoned in every way, collected in a
cycle), never from inside the garbage collector, for every client kind."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

import llama_client._streaming as streaming
from llama_client import APIError, Hooks, LlamaClient
from tests.faultserver import FaultServer, completion, sse_stream
from tests.reliability.test_abandoned_streams import (
    MSGS,
    SCENARIOS,
    abandon,
    chunks_stream,
    settle,
    watchdog,
)
from tests.wire import delta_chunk, sse_events

sdk = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode  # noqa: E402

from llama_client import OTel  # noqa: E402


class Seen:
    """The stream-end events a hook received, and whether any came from inside a collection."""

    def __init__(self) -> None:
        self.ends: list[Any] = []
        self.inside_gc = 0

    def __call__(self, event: Any) -> None:
        if streaming._collecting:
            self.inside_gc += 1
        if event.kind == "stream_end":
            self.ends.append(event)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _observed(exporter: InMemorySpanExporter, seen: Seen) -> dict[str, Any]:
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return {"hooks": seen, "otel": OTel(tracer_provider=provider), "max_retries": 0}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_an_abandoned_stream_is_freed_and_ends_once(
    make: Any,
    server: FaultServer,
    no_gc: None,
    scenario: str,
    exporter: InMemorySpanExporter,
) -> None:
    server.script(chunks_stream(stall=True), completion("next"))
    seen = Seen()
    h = make(**_observed(exporter, seen))
    refs = abandon(h, scenario)
    assert [r() for r in refs] == [None] * len(refs), "observation tied a stream into a cycle"
    assert settle(h) == 0, "the abandoned stream kept its connection"
    assert [e.outcome for e in seen.ends] == ["closed"]
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code != StatusCode.ERROR
    assert h.create().choices[0].message.content == "next"
    assert len(exporter.get_finished_spans()) == 2 and len(seen.ends) == 1
    assert seen.inside_gc == 0


def test_a_stream_broken_mid_way_ends_as_an_error(
    make: Any, server: FaultServer, exporter: InMemorySpanExporter
) -> None:
    events = [delta_chunk(f"w{i}") for i in range(6)] + [delta_chunk(finish="stop")]
    server.script(sse_stream(sse_events(*events), drop_after=3))
    seen = Seen()
    h = make(**_observed(exporter, seen))
    chunks, exc = h.stream()
    assert isinstance(exc, APIError) and len(chunks) == 3
    (end,) = seen.ends
    assert end.outcome == "error" and end.error == type(exc).__name__ and end.chunks == 3
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == type(exc).__name__  # type: ignore[index]
    assert settle(h) == 0


def test_a_stream_collected_inside_the_pool_lock_is_told_later(
    server: FaultServer, exporter: InMemorySpanExporter
) -> None:
    """A sync stream left in a cycle and collected while this thread holds httpcore's pool
    lock: neither its connection nor its hooks and span are touched from inside the
    collection; both happen at the next request."""
    server.script(chunks_stream(stall=True), chunks_stream())
    seen = Seen()
    client = LlamaClient(base_url=server.url, model="m", **_observed(exporter, seen))
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
    assert seen.ends == [] and exporter.get_finished_spans() == ()  # not from inside
    chunks = list(client.chat.completions.create(messages=MSGS, stream=True))
    assert len(chunks) == 9
    assert [e.outcome for e in seen.ends] == ["closed", "completed"]
    assert len(exporter.get_finished_spans()) == 2
    assert seen.inside_gc == 0
    client.close()


def test_a_raising_stream_end_hook_of_a_dropped_stream_escapes_nowhere(
    server: FaultServer,
) -> None:
    """Dropping a stream runs its stream-end hooks where it was dropped; a hook's HookError
    has no caller there and must not surface as an 'exception ignored' in a finaliser."""
    server.script(chunks_stream(stall=True))

    def broken(event: Any) -> None:
        raise RuntimeError("hook bug")

    client = LlamaClient(
        base_url=server.url,
        model="m",
        max_retries=0,
        hooks=Hooks(on_stream_end=broken, raise_errors=True),
    )
    s = client.chat.completions.create(messages=MSGS, stream=True)
    next(s)
    del s  # pytest turns an unraisable exception into an error (pyproject filterwarnings)
    client.close()
