"""Guarded streams (``client.with_guard``) against the real fault server, for every client kind:
a broken, an unsafe and a cut-short stream release no chunk that no check passed, raise a
documented error, and give their connection back."""

from __future__ import annotations

from typing import Any

from llama_client import StreamError, UnsafeContentError
from tests.faultserver import FaultServer, completion, sse_stream
from tests.wire import delta_chunk, sse_events

GUARD = "guard-model"
WORDS = ["Once ", "upon ", "a ", "time ", "there ", "was ", "a ", "llama."]


def _stream(n: int = 1, **kw: Any) -> Any:
    chunks = [delta_chunk(w) for w in WORDS * n] + [delta_chunk(finish="stop")]
    return sse_stream(sse_events(*chunks), **kw)


def guarded_stream(h: Any, **options: Any) -> tuple[list[Any], BaseException | None]:
    """Consume a guarded stream (input check first, no overlap: the script's order holds)."""
    guarded = h.client.with_guard(input=GUARD, output=GUARD, overlap=False, **options)
    chunks: list[Any] = []
    messages = [{"role": "user", "content": "Tell me a story."}]
    if h.loop is None:
        try:
            for chunk in guarded.chat.completions.create(messages=messages, stream=True):
                chunks.append(chunk)
        except Exception as exc:
            return chunks, exc
        return chunks, None

    async def consume() -> BaseException | None:
        try:
            stream = await guarded.chat.completions.create(messages=messages, stream=True)
            async for chunk in stream:
                chunks.append(chunk)
        except Exception as exc:
            return exc
        return None

    return chunks, h._run(consume())


def test_a_broken_guarded_stream_releases_nothing(make: Any, server: FaultServer) -> None:
    server.script(completion("safe"), _stream(drop_after=3))
    h = make(max_retries=0)
    chunks, exc = guarded_stream(h)
    assert isinstance(exc, StreamError)
    assert chunks == []  # the chunks that came were never checked
    assert h.busy_connections() == 0


def test_unsafe_at_the_end_raises_and_frees_the_connection(make: Any, server: FaultServer) -> None:
    server.script(completion("safe"), _stream(), completion("unsafe\nS1"))
    h = make(max_retries=0)
    chunks, exc = guarded_stream(h)
    assert isinstance(exc, UnsafeContentError) and exc.stage == "output"
    assert chunks == [] and server.attempts == 3
    assert h.busy_connections() == 0


def test_an_unsafe_stream_is_cut_short(make: Any, server: FaultServer) -> None:
    # 400 chunks, slowly: the check after the first ~10 characters stops it long before the end
    server.script(completion("safe"), _stream(50, delay=0.002), completion("unsafe\nS10"))
    h = make(max_retries=0)
    chunks, exc = guarded_stream(h, check_every=10)
    assert isinstance(exc, UnsafeContentError) and exc.verdict.codes == ["S10"]
    assert chunks == []
    assert h.busy_connections() == 0
    server.script(completion("fine"))  # the client is still usable
    assert h.create().choices[0].message.content == "fine"


def test_safe_pieces_are_released_in_order(make: Any, server: FaultServer) -> None:
    server.script(completion("safe"), _stream(), completion("safe"))
    h = make(max_retries=0)
    chunks, exc = guarded_stream(h, check_every=12)
    assert exc is None
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(WORDS)
    assert h.busy_connections() == 0
