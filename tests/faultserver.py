"""A misbehaving HTTP/1.1 server on 127.0.0.1 for fault-injection tests.

It runs an asyncio loop in a daemon thread, speaks HTTP/1.1 with raw sockets (so it can break
the protocol at the byte level) and answers each request with the next *behaviour* of its
script; the last behaviour repeats once the script is used up::

    with FaultServer() as server:
        server.script(status(503), status(503), completion())
        ...  # point a client at server.url
        assert server.attempts == 3
        assert len(set(server.bodies)) == 1

A behaviour is an ``async`` function ``(request, writer) -> bool`` that writes whatever it
likes (or nothing) and returns whether the connection may be kept alive. The factories below
build the faults the tests need: error statuses with any body, ``Retry-After`` headers,
dropped connections, slow first bytes, event streams sent in pieces (optionally broken after
K pieces, without ``[DONE]``, with CRLF line ends, comments or multi-line ``data:`` fields)
and very large bodies. Every request is recorded (method, path, headers, body).

The reply bodies come from ``tests/wire.py`` (``completion_body(..., server=FAULT)``,
``delta_chunk``, ``sse_events``). Nothing here imports the SDK, so the benchmarks can reuse it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from tests.wire import FAULT

__all__ = [
    "Behaviour",
    "FaultServer",
    "RecordedRequest",
    "completion",
    "drop",
    "raw",
    "respond",
    "slow",
    "sse_stream",
    "status",
]


class RecordedRequest:
    __slots__ = ("body", "headers", "method", "path")

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers  # lower-case names
        self.body = body

    def __repr__(self) -> str:
        return f"RecordedRequest({self.method} {self.path}, {len(self.body)} bytes)"


Behaviour = Callable[[RecordedRequest, asyncio.StreamWriter], Awaitable[bool]]

_REASONS = {
    200: "OK",
    302: "Found",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _head(code: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {code} {_REASONS.get(code, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# ------------------------------------------------------------------------------ behaviours


def respond(
    code: int = 200,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    content_type: str | None = None,
) -> Behaviour:
    """A complete response with Content-Length; dicts and lists are sent as JSON."""
    if isinstance(body, (dict, list)):
        payload = json.dumps(body).encode()
        ctype = content_type or "application/json"
    elif isinstance(body, str):
        payload = body.encode()
        ctype = content_type or "text/plain; charset=utf-8"
    else:
        payload = body or b""
        ctype = content_type or "application/json"
    all_headers = {"content-type": ctype, "content-length": str(len(payload)), **(headers or {})}

    async def behaviour(request: RecordedRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(_head(code, all_headers) + payload)
        await writer.drain()
        return True

    return behaviour


def status(code: int, *, headers: dict[str, str] | None = None) -> Behaviour:
    """An error status with a vLLM-style JSON error body."""
    body = {"error": {"message": f"injected {code}", "type": "Injected", "code": code}}
    return respond(code, body, headers=headers)


def raw(data: bytes, *, keep_alive: bool = False) -> Behaviour:
    """Write exactly ``data`` (status line and all), then close unless ``keep_alive``."""

    async def behaviour(request: RecordedRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(data)
        await writer.drain()
        return keep_alive

    return behaviour


def drop() -> Behaviour:
    """Read the request, then close the connection without answering."""

    async def behaviour(request: RecordedRequest, writer: asyncio.StreamWriter) -> bool:
        return False

    return behaviour


def slow(delay: float, then: Behaviour) -> Behaviour:
    """Wait ``delay`` seconds before the first byte of ``then``."""

    async def behaviour(request: RecordedRequest, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(delay)
        return await then(request, writer)

    return behaviour


def sse_stream(
    pieces: Iterable[bytes],
    *,
    drop_after: int | None = None,
    delay: float = 0.0,
    stall: tuple[int, float] | None = None,
    chunked: bool = True,
    code: int = 200,
    content_type: str = "text/event-stream; charset=utf-8",
) -> Behaviour:
    """Send ``pieces`` one write each as an event stream.

    ``drop_after=K`` closes the socket abruptly after K pieces (an incomplete chunked body);
    ``delay`` waits before every piece, ``stall=(K, seconds)`` only before piece K;
    ``chunked=False`` sends no length at all and ends the body by closing the connection;
    ``content_type`` names another framing (``application/vnd.amazon.eventstream``).
    """
    parts = list(pieces)
    headers = {"content-type": content_type, "cache-control": "no-cache"}
    if chunked:
        headers["transfer-encoding"] = "chunked"
    else:
        headers["connection"] = "close"

    async def behaviour(request: RecordedRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(_head(code, headers))
        await writer.drain()
        for i, part in enumerate(parts):
            if drop_after is not None and i >= drop_after:
                return False
            if delay:
                await asyncio.sleep(delay)
            if stall is not None and stall[0] == i:
                await asyncio.sleep(stall[1])
            writer.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            await writer.drain()
        if drop_after is not None and drop_after <= len(parts):
            return False
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        return False

    return behaviour


# ------------------------------------------------------------------------------ bodies


def completion(content: str = "Hello!") -> Behaviour:
    """A 200 chat completion as the fault server sends it (``tests.wire.FAULT``)."""
    return respond(200, FAULT.completion(content))


# ------------------------------------------------------------------------------ the server


class FaultServer:
    """The server. ``start()``/``stop()`` or use it as a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self._script: list[Behaviour] = [completion()]
        self._next = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- control (called from the test thread) ---------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def script(self, *behaviours: Behaviour) -> None:
        """Answer the next requests with these behaviours, in order; the last one repeats."""
        if not behaviours:
            raise ValueError("script() needs at least one behaviour")
        with self._lock:
            self._script = list(behaviours)
            self._next = 0

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.connections = 0
            self._script = [completion()]
            self._next = 0

    @property
    def attempts(self) -> int:
        return len(self.requests)

    @property
    def bodies(self) -> list[bytes]:
        return [r.body for r in self.requests]

    def start(self) -> FaultServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve, self.host, 0, limit=2**24)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="fault-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fault server did not start")
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def shutdown() -> None:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving (runs in the server thread) ------------------------------------------------

    def _pick(self) -> Behaviour:
        with self._lock:
            behaviour = self._script[min(self._next, len(self._script) - 1)]
            self._next += 1
            return behaviour

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self.connections += 1
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                self.requests.append(request)
                keep = await self._pick()(request, writer)
                if not keep or request.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            # Closing here, possibly mid-body, is how the dropped-connection faults happen.
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return RecordedRequest(method, path, headers, body)
