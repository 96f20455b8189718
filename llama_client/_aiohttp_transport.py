"""An httpx transport that moves the bytes over aiohttp: ``AsyncLlamaClient(transport="aiohttp")``.

httpx stays the interface everything above speaks (``httpx.Request`` in, ``httpx.Response``
out, ``httpx`` exceptions), so retries, timeouts, error mapping and streams run the same code
whichever transport is chosen; only the connection pool differs. aiohttp's pool holds up far
better than httpcore's with many requests in flight. This module is imported only when the
transport is selected, and needs the ``llama-client[aiohttp]`` extra.

Semantics kept from the httpx transport: no redirect is followed (httpx decides), the body is
not decompressed here (httpx decodes ``Content-Encoding``), the per-request ``timeout`` applies
(connect, and read as the longest gap between bytes), every aiohttp failure becomes the
matching ``httpx.TransportError``, and a body that is closed before its end closes its
connection instead of returning it to the pool. A small body with a ``Content-Length``, no
``Content-Encoding`` and not an event stream (a JSON answer) is read with the headers and
handed over already read, as ``aread()`` would leave it, skipping httpx's byte iterators.

Why our own and not the ``httpx-aiohttp`` package (what openai-python uses), measured
2026-11-30 on a shared 2-CPU machine (load about 2.4), 1,000 chat calls with 64 in flight:
``python benchmarks/run.py --runs 7 --clients
httpx,aiohttp,llama_client[aiohttp],llama_client[httpx-aiohttp] --no-soak`` gave 4,840 req/s
here against 3,629 req/s with ``http_client=httpx_aiohttp.HttpxAiohttpClient`` given the same
timeout and limits (1.33x, medians of 7 interleaved runs; faster in 6 of 7 pairs), and 151
against 201 CPU us per request (1.34x; 1.24x in the closest pair). Twenty alternating pairs of
5,000 calls: 5,660 against 4,419 req/s (1.28x, faster in 20 of 20, 1.15x at the least). Most
of the gain is ``AiohttpClient.send`` skipping httpx's send machinery; the transports alone
differ by about 4%. The package would also change what callers see: a dropped connection
becomes ``ConnectTimeout`` (so ``APITimeoutError``, not ``APIConnectionError``), and aiohttp's
``ClientResponseError`` escapes on a reply that is not HTTP (``tests/reliability/test_faults.py``
fails with it on both).
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import httpx
from yarl import URL

__all__ = ["AiohttpClient", "AiohttpTransport"]

_CONNECT_TIMEOUTS: tuple[type[BaseException], ...] = (
    (aiohttp.ConnectionTimeoutError,) if hasattr(aiohttp, "ConnectionTimeoutError") else ()
)
_FAILURES = (aiohttp.ClientError, asyncio.TimeoutError, OSError)

#: A body at most this long, whose length is given and which is neither compressed nor an
#: event stream, is read with the headers and handed over already read (a JSON answer).
_READ_AT_ONCE = 1 << 20

# Request headers aiohttp must compute itself from the URL and body it sends.
_SKIP_HEADERS = frozenset({b"host", b"content-length", b"transfer-encoding"})


def _transport_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception matching an aiohttp/asyncio failure."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, _CONNECT_TIMEOUTS):
        return httpx.ConnectTimeout(detail, request=request)
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's read timeouts subclass it
        return httpx.ReadTimeout(detail, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(detail, request=request)
    if isinstance(exc, OSError):
        return httpx.ReadError(detail, request=request)
    # ServerDisconnectedError, ClientPayloadError and other protocol failures.
    return httpx.RemoteProtocolError(detail, request=request)


class _ResponseBody(httpx.AsyncByteStream):
    __slots__ = ("_request", "_response")

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for data in self._response.content.iter_any():
                yield data
        except _FAILURES as exc:
            raise _transport_error(exc, self._request) from exc
        except GeneratorExit:
            # Left by whoever read it (closed, or dropped and then closed by the event loop's
            # async-generator hook, never inside the garbage collector): give the connection
            # back now rather than leave it checked out until aclose() is called.
            self._finish()
            raise

    def _finish(self) -> None:
        response = self._response
        if response.content.at_eof():
            response.release()  # fully read: the connection goes back to the pool
        else:
            response.close()  # abandoned mid-body: the connection cannot be reused

    async def aclose(self) -> None:
        self._finish()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests with an ``aiohttp.ClientSession`` created on first use."""

    def __init__(self, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits()
        self._limit = limits.max_connections or 0
        self._keepalive = limits.keepalive_expiry or 5.0
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}
        # HTTP(S)_PROXY and NO_PROXY, read once as httpx does (aiohttp's own trust_env would
        # read the environment and netrc again on every request).
        env = urllib.request.getproxies_environment()
        self._proxies = {k: v for k, v in env.items() if k in ("http", "https")}

    @property
    def session(self) -> aiohttp.ClientSession:
        # Created lazily: aiohttp wants its session made inside the running event loop.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limit, limit_per_host=0, keepalive_timeout=self._keepalive
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
                trust_env=False,
            )
        return self._session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        t = request.extensions.get("timeout") or {}
        key = (t.get("connect"), t.get("read"), t.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect, read, pool = key
            timeout = aiohttp.ClientTimeout(
                total=None, connect=pool, sock_connect=connect, sock_read=read
            )
            self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # Decoded once with the headers' own encoding (what multi_items does per header).
        sent = request.headers
        encoding = sent.encoding
        headers = [
            (name.decode(encoding), value.decode(encoding))
            for name, value in sent.raw
            if name.lower() not in _SKIP_HEADERS
        ]
        body = await request.aread()
        proxy = None
        if self._proxies:
            proxy = self._proxies.get(request.url.scheme)
            if proxy and urllib.request.proxy_bypass(request.url.host):
                proxy = None
        try:
            response = await self.session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                proxy=proxy,
                timeout=self._timeout(request),
            )
        except _FAILURES as exc:
            raise _transport_error(exc, request) from exc
        extensions = {
            "http_version": b"HTTP/1.1",
            "reason_phrase": (response.reason or "").encode(),
        }
        length = response.content_length
        if (
            length is not None
            and length <= _READ_AT_ONCE
            and "Content-Encoding" not in response.headers
            and response.content_type != "text/event-stream"
        ):
            return await self._read_at_once(response, request, extensions)
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_ResponseBody(response, request),
            extensions=extensions,
        )

    @staticmethod
    async def _read_at_once(
        response: aiohttp.ClientResponse, request: httpx.Request, extensions: dict[str, Any]
    ) -> httpx.Response:
        """A small, plain body (a JSON answer) read at once, in one aiohttp read, and handed
        over as an httpx response already read and closed, as ``aread()`` leaves one: reading
        it through httpx's byte iterators (decoder, chunkers, request contexts) cost about
        8 us per call, a fifth of the transport's own work. httpx decodes nothing here (no
        ``Content-Encoding``), so the bytes are those ``aread()`` would give."""
        try:
            data = await response.read()
        except _FAILURES as exc:
            response.close()  # cut off mid-body: the connection cannot be reused
            raise _transport_error(exc, request) from exc
        except BaseException:  # cancelled mid-body
            response.close()
            raise
        response.release()
        read = httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=httpx.ByteStream(data),
            extensions=extensions,
        )
        # What Response.aread() sets once the body is in: its bytes, the stream used up, closed.
        read._content = data
        read._num_bytes_downloaded = len(data)
        read.is_stream_consumed = True
        read.is_closed = True
        return read

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class AiohttpClient(httpx.AsyncClient):
    """The ``httpx.AsyncClient`` of ``transport="aiohttp"``, with a lean ``send``.

    httpx's own ``send`` runs auth flows, redirect handling, cookie extraction and event hooks
    around the transport; this client is created by the SDK with none of those (no auth, no
    hooks, redirects never followed, no cookie jar), so ``send`` calls the transport directly
    and saves that per-request work. Everything else is httpx's.
    """

    def __init__(self, *, timeout: httpx.Timeout, limits: httpx.Limits) -> None:
        transport = AiohttpTransport(limits)
        # Proxies from the environment are honoured by the aiohttp session (trust_env) instead.
        super().__init__(timeout=timeout, transport=transport, trust_env=False)
        self._aiohttp = transport

    async def send(
        self, request: httpx.Request, *, stream: bool = False, **_: Any
    ) -> httpx.Response:
        start = time.perf_counter()
        response = await self._aiohttp.handle_async_request(request)
        response.request = request
        if stream:
            response.elapsed = timedelta(seconds=time.perf_counter() - start)
            return response
        try:
            await response.aread()  # closes the body, releasing the connection
        except BaseException:
            await response.aclose()
            raise
        response.elapsed = timedelta(seconds=time.perf_counter() - start)
        return response
